//! The shared async connection: many tasks, one socket. Callers encode their command straight into
//! one shared write buffer under a short lock and wait for their reply; a writer task sends
//! everything queued in one write, and a reader task hands replies back in order through
//! reusable slots kept under the same lock (see `slots`), not per-command channels.
//!
//! Each socket is a generation. When it fails, the generation ends at once: its reader hands no
//! further reply to anyone, the commands written on it fail as `Unclear`, and the commands not
//! yet written move to the next socket (or fail as `NotSent` if none comes). A watchdog per
//! socket fails it when the server stays silent while replies are due.

use super::slots::Slots;
use super::stream::{establish, BoxRead, BoxWrite};
use super::subscriber::{cannot_share, SharedSubscriber, SubState};
use crate::cmd::{encode, Blocks, Command, Session};
use crate::config::ConnectionInfo;
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{self, session, ReadBuffer, ServerInfo};
use crate::pubsub::Event;
use crate::value::Value;
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::AbortHandle;

/// Reconnect attempts after the connection broke, before queued commands fail.
const RECONNECT_ATTEMPTS: u32 = 4;
/// Idle dedicated connections kept for blocking commands.
const MAX_IDLE_DEDICATED: usize = 8;
/// Push messages kept for the caller at most.
const MAX_BUFFERED_PUSHES: usize = 4096;
/// Encoded bytes waiting for the writer beyond which callers wait for room.
const MAX_UNWRITTEN_BYTES: usize = 64 << 20;
/// Writes whose replies are not all in before the writer waits for one to be answered.
const MAX_UNANSWERED_WRITES: usize = 4;

/// What a caller waits for: one frame, or all frames of a pipeline.
pub(crate) enum Reply {
    One(Bytes),
    Many(Vec<Bytes>),
}

struct Pending {
    /// Frames this entry takes (1 for a command, N for a pipeline).
    frames: usize,
    collected: Vec<Bytes>,
    /// Where the reply goes (an index into `State::slots`).
    slot: usize,
    /// Answered by this many confirmation pushes of this kind instead of reply frames (a shared
    /// subscriber's (un)subscribe).
    confirms: Option<&'static str>,
    /// Completing it restores the shared subscriber after a reconnect.
    restores: bool,
}

impl Pending {
    fn new(frames: usize, slot: usize) -> Pending {
        Pending {
            frames,
            collected: if frames > 1 {
                Vec::with_capacity(frames)
            } else {
                Vec::new()
            },
            slot,
            confirms: None,
            restores: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Connected,
    Reconnecting,
    /// No socket; the next command reconnects (a dedicated connection stays broken).
    Broken,
}

/// How long the server may stay silent while replies are due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Silence {
    /// The configured liveness deadline.
    Default,
    /// A blocking command runs (on a dedicated connection): its own deadline, or none.
    Blocking(Option<Duration>),
}

struct State {
    /// Encoded commands not yet taken by the writer.
    wbuf: Vec<u8>,
    /// Everyone waiting, in wire order: first the `in_flight` entries whose bytes were written,
    /// then those whose bytes still sit in `wbuf`.
    pending: VecDeque<Pending>,
    in_flight: usize,
    /// The entries of each write whose replies are not all in, oldest first (sums to
    /// `in_flight`).
    batches: VecDeque<usize>,
    status: Status,
    /// The current (or next) socket's number: a reader, writer or watchdog of another one
    /// touches nothing.
    generation: u64,
    /// The IO tasks of the current socket, stopped when it fails.
    io: Vec<AbortHandle>,
    server: ServerInfo,
    closed: bool,
    pushes: VecDeque<Value>,
    /// The reply slots of everyone in `pending` (and of callers yet to take a delivered reply).
    slots: Slots<Result<Reply>>,
    /// Callers waiting for room (`max_in_flight`, or too many unwritten bytes).
    room: Vec<Waker>,
    silence: Silence,
    /// How often the server is PINGed here while a blocking command waits on a dedicated
    /// connection (`None`: every `response_timeout`).
    probe_every: Option<Duration>,
    /// The shared subscriber, if one exists (RESP3).
    sub: Option<SubState>,
}

impl State {
    fn has_room(&self, max_in_flight: usize) -> bool {
        self.pending.len() < max_in_flight
            && (self.wbuf.len() < MAX_UNWRITTEN_BYTES || self.wbuf.is_empty())
    }

    fn wake_room(&mut self, wake: &mut Vec<Waker>) {
        if !self.room.is_empty() {
            wake.append(&mut self.room);
        }
    }

    /// Queues a command of the connection's own (resubscribe, PING, unsubscribe on drop): its
    /// reply is read and discarded. `front`: before everything not yet written.
    fn queue_internal(&mut self, encoded: &[u8], mut p: Pending, front: bool) {
        p.slot = self.slots.alloc(None);
        self.slots.abandon(p.slot);
        if front {
            debug_assert_eq!(self.in_flight, 0, "nothing written on a new socket yet");
            self.wbuf.splice(0..0, encoded.iter().copied());
            self.pending.push_front(p);
        } else {
            self.wbuf.extend_from_slice(encoded);
            self.pending.push_back(p);
        }
    }

    /// A push frame for the shared subscriber: a message for its queue, or a confirmation that
    /// answers the first written command. Whether it was taken.
    fn route_push(&mut self, frame: &Bytes, wake: &mut Vec<Waker>, write_more: &mut bool) -> bool {
        let Some(kind) = session::pubsub_frame_kind(frame) else {
            return false;
        };
        if session::is_message_kind(kind) {
            if let Some(sub) = self.sub.as_mut() {
                sub.message(frame, wake);
                return true;
            }
            return false;
        }
        if self.in_flight == 0 {
            return false;
        }
        let Some(front) = self.pending.front_mut() else {
            return false;
        };
        if front.confirms != Some(kind) {
            return false;
        }
        front.collected.push(frame.clone());
        if front.collected.len() < front.frames {
            return true;
        }
        let p = self.pending.pop_front().expect("front exists");
        *write_more |= self.answered();
        if p.restores {
            if let Some(sub) = self.sub.as_mut() {
                sub.resubscribed(wake);
            }
        }
        self.slots
            .complete(p.slot, Ok(Reply::Many(p.collected)), wake);
        true
    }

    /// The first written entry was answered. Whether that completed a write's replies (the
    /// writer may then send another batch).
    fn answered(&mut self) -> bool {
        self.in_flight -= 1;
        match self.batches.front_mut() {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.batches.pop_front();
                true
            }
            None => false,
        }
    }

    /// Fails every queued entry whose bytes were not written, with `err` made by `make`.
    fn fail_unsent(&mut self, make: impl Fn() -> Error, wake: &mut Vec<Waker>) {
        self.wbuf.clear();
        let queued: Vec<Pending> = self.pending.drain(self.in_flight..).collect();
        for p in queued {
            self.slots.complete(p.slot, Err(make()), wake);
        }
        self.wake_room(wake);
    }
}

struct Shared {
    info: Arc<ConnectionInfo>,
    state: Mutex<State>,
    wake_writer: Notify,
    /// A dedicated connection (blocking commands, WATCH): runs one thing at a time, never moves
    /// queued commands to a new socket.
    dedicated: bool,
    /// Idle dedicated connections, and the permits that cap how many exist.
    idle: Mutex<Vec<MultiplexedConnection>>,
    permits: Arc<Semaphore>,
    /// Socket reads so far, for the watchdog to tell silence from a slow stream.
    reads: AtomicU64,
}

/// Closes the connection when the last handle is dropped (the IO tasks hold `Shared`, not this).
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        let io = std::mem::take(&mut st.io);
        drop(st);
        // Nobody can be waiting (every caller holds a handle): stop the IO tasks, which closes
        // the socket now rather than when the server notices.
        io.iter().for_each(AbortHandle::abort);
        self.shared.wake_writer.notify_one();
    }
}

/// An async connection shared by many tasks (clone it freely), with automatic pipelining.
///
/// Commands from concurrent tasks are written together and their replies matched back in order.
/// A pipeline or transaction is written contiguously, never interleaved with other tasks'
/// commands. Blocking commands (`BLPOP`, `XREAD BLOCK`, ...) run on dedicated connections so they
/// never hold up the others. Commands that would change the connection for everyone sharing it
/// (`SELECT`, `MULTI`, `WATCH`, `SUBSCRIBE`, `CLIENT REPLY`, `WAIT`, ...) are refused before
/// sending, naming what to use instead.
///
/// If the socket breaks, or the server is silent beyond the liveness deadline while replies are
/// due, the commands already written fail with [`ErrorKind::Unclear`] (never re-sent: they may
/// have run); those not yet written go out on a new socket, or fail with
/// [`ErrorKind::NotSent`] if none can be opened.
#[derive(Clone)]
pub struct MultiplexedConnection {
    owner: Arc<Owner>,
}

/// A dedicated connection taken from a shared one, holding one of its permits; dropped without
/// [`Dedicated::give_back`] (a cancelled caller, a broken socket), it is closed.
pub(crate) struct Dedicated {
    pub(crate) con: MultiplexedConnection,
    home: Arc<Shared>,
    _permit: OwnedSemaphorePermit,
}

impl Dedicated {
    /// Returns the connection for reuse if it is still in step.
    pub(crate) fn give_back(self) {
        if !self.con.is_usable() {
            return;
        }
        let mut idle = self.home.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_DEDICATED {
            idle.push(self.con.clone());
        }
    }
}

impl MultiplexedConnection {
    /// Connects, runs the handshake and starts the IO tasks (on the current tokio runtime).
    pub async fn open(info: impl crate::config::IntoConnectionInfo) -> Result<Self> {
        Self::connect(Arc::new(info.into_connection_info()?)).await
    }

    pub(crate) async fn connect(info: Arc<ConnectionInfo>) -> Result<Self> {
        Self::connect_as(info, false).await
    }

    async fn connect_as(info: Arc<ConnectionInfo>, dedicated: bool) -> Result<Self> {
        let (r, w, rbuf, server) = establish(&info).await?;
        let permits = Arc::new(Semaphore::new(info.max_dedicated.max(1)));
        let shared = Arc::new(Shared {
            info,
            state: Mutex::new(State {
                wbuf: Vec::with_capacity(16 * 1024),
                pending: VecDeque::new(),
                in_flight: 0,
                batches: VecDeque::new(),
                status: Status::Connected,
                generation: 0,
                io: Vec::new(),
                server,
                closed: false,
                pushes: VecDeque::new(),
                slots: Slots::new(),
                room: Vec::new(),
                silence: Silence::Default,
                probe_every: None,
                sub: None,
            }),
            wake_writer: Notify::new(),
            dedicated,
            idle: Mutex::new(Vec::new()),
            permits,
            reads: AtomicU64::new(0),
        });
        let io = spawn_io(&shared, 0, r, w, rbuf);
        shared.lock().io = io;
        Ok(MultiplexedConnection {
            owner: Arc::new(Owner { shared }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// The settings, shared (for what outlives a call, such as a pipeline's replies).
    pub(crate) fn arc_info(&self) -> &Arc<ConnectionInfo> {
        &self.shared().info
    }

    /// Sends a command and reads its reply into the command's `Output`.
    pub async fn send<C: Command>(&self, cmd: C) -> Result<C::Output> {
        self.send_as(&cmd).await
    }

    /// Sends a command and reads its reply into any `T`.
    ///
    /// An error names the command and the server (`GET on 127.0.0.1:6379: ...`).
    pub async fn send_as<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        let reply = match cmd.meta() {
            Some(m) if m.session != Session::None => match session::refuse_shared(m) {
                Ok(()) => self.send_routed(cmd).await,
                Err(e) => Err(e),
            },
            _ => self.send_routed(cmd).await,
        };
        match reply {
            Ok(v) => Ok(v),
            Err(e) => Err(self.command_failed(e, || crate::cmd::name_of(cmd))),
        }
    }

    /// A blocking command to a dedicated connection, any other here.
    async fn send_routed<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        if let Some(m) = cmd.meta() {
            if m.blocking.is_some() {
                if let Some(blocks) = cmd.blocks() {
                    return self.send_blocking(cmd, blocks).await;
                }
            }
        }
        self.call_unnamed(cmd).await
    }

    /// Names the command (or batch) and the server in an error (the error path only).
    #[cold]
    #[inline(never)]
    pub(crate) fn command_failed(
        &self,
        e: Error,
        name: impl FnOnce() -> std::borrow::Cow<'static, str>,
    ) -> Error {
        e.in_command(name(), &self.shared().info.addr)
    }

    /// Sends one command on this connection and decodes its reply (no session check: for the
    /// helpers that own a dedicated connection). An error names the command and the server.
    pub(crate) async fn call_one<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        match self.call_unnamed(cmd).await {
            Ok(v) => Ok(v),
            Err(e) => Err(self.command_failed(e, || crate::cmd::name_of(cmd))),
        }
    }

    async fn call_unnamed<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        let reply = self.call(1, |buf, server| {
            proto::check_supported(cmd, server)?;
            encode(cmd, buf)
        });
        match reply.await? {
            Reply::One(frame) => proto::decode_reply(&frame),
            Reply::Many(_) => Err(Error::protocol("internal: one reply expected")),
        }
    }

    /// Writes what `encode` puts in the buffer as one contiguous block and returns the `frames`
    /// reply frames (pipelines and transactions).
    pub(crate) async fn round_trip(
        &self,
        frames: usize,
        encode: impl FnOnce(&mut Vec<u8>, &ServerInfo) -> Result<()>,
    ) -> Result<Vec<Bytes>> {
        if frames == 0 {
            return Ok(Vec::new());
        }
        match self.call(frames, encode).await? {
            Reply::Many(f) => Ok(f),
            Reply::One(f) => Ok(vec![f]),
        }
    }

    /// Queues a command (or pipeline) and waits for its `frames` reply frames.
    async fn call(
        &self,
        frames: usize,
        encode: impl FnOnce(&mut Vec<u8>, &ServerInfo) -> Result<()>,
    ) -> Result<Reply> {
        // Enqueued inside a poll, so the caller's waker is stored under the enqueue's lock; the
        // reply future's first poll (in this same poll of `call`) then needs no lock of its own.
        let mut encode = Some(encode);
        let reply =
            std::future::poll_fn(|cx| self.enqueue(frames, &mut encode, cx.waker())).await?;
        reply.await
    }

    fn enqueue<E>(
        &self,
        frames: usize,
        encode: &mut Option<E>,
        waker: &Waker,
    ) -> Poll<Result<ReplyFuture<'_>>>
    where
        E: FnOnce(&mut Vec<u8>, &ServerInfo) -> Result<()>,
    {
        let shared = self.shared();
        let mut st = shared.lock();
        if st.closed {
            return Poll::Ready(Err(closed_error()));
        }
        if st.status == Status::Broken && shared.dedicated {
            return Poll::Ready(Err(Error::new(
                ErrorKind::NotSent,
                "the connection was lost (a dedicated connection is not re-opened); it was not \
                 sent",
            )));
        }
        if !st.has_room(shared.info.max_in_flight) {
            st.room.push(waker.clone());
            return Poll::Pending;
        }
        let Some(encode) = encode.take() else {
            return Poll::Ready(Err(Error::protocol("internal: command enqueued twice")));
        };
        let was_empty = st.wbuf.is_empty();
        let st_ref = &mut *st;
        // `encode` leaves the buffer as it was when it fails or panics.
        if let Err(e) = encode(&mut st_ref.wbuf, &st_ref.server) {
            return Poll::Ready(Err(e));
        }
        let slot = st.slots.alloc(Some(waker.clone()));
        st.pending.push_back(Pending::new(frames, slot));
        Poll::Ready(Ok(self.queued(st, slot, was_empty)))
    }

    /// After an entry was queued under `st`: starts a reconnect or wakes the writer, and
    /// returns the caller's wait for `slot`.
    fn queued<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        slot: usize,
        was_empty: bool,
    ) -> ReplyFuture<'a> {
        let shared = self.shared();
        let reconnect = st.status == Status::Broken;
        if reconnect {
            st.status = Status::Reconnecting;
        }
        drop(st);
        if reconnect {
            tokio::spawn(reconnect_loop(Arc::clone(shared)));
        } else if was_empty {
            shared.wake_writer.notify_one();
        }
        ReplyFuture {
            shared,
            slot,
            fresh: true,
            taken: false,
        }
    }

    /// A subscriber sharing this connection (RESP3 only; one at a time): its messages are
    /// routed to it by kind, replies to their callers. See [`SharedSubscriber`].
    pub fn subscriber(&self) -> Result<SharedSubscriber> {
        let mut st = self.shared().lock();
        if self.shared().dedicated {
            return Err(cannot_share("it is a dedicated connection"));
        }
        if st.server.protocol != crate::config::Protocol::Resp3 {
            return Err(cannot_share(
                "it speaks RESP2, where a subscribed connection can run nothing else",
            ));
        }
        if st.sub.is_some() {
            return Err(cannot_share("it has a subscriber already"));
        }
        st.sub = Some(SubState::default());
        drop(st);
        Ok(SharedSubscriber::new(self.clone()))
    }

    /// Queues a shared subscriber's (un)subscribe, answered by `count(sub)` confirmations of
    /// `kind`, and returns them.
    pub(crate) async fn confirmed(
        &self,
        kind: &'static str,
        cmd: &crate::Cmd,
        count: impl FnOnce(&mut SubState) -> usize,
    ) -> Result<Vec<Bytes>> {
        let mut encoded = Vec::new();
        encode(cmd, &mut encoded)?;
        let mut count = Some(count);
        let reply = std::future::poll_fn(|cx| {
            let shared = self.shared();
            let mut st = shared.lock();
            if st.closed {
                return Poll::Ready(Err(closed_error()));
            }
            if !st.has_room(shared.info.max_in_flight) {
                st.room.push(cx.waker().clone());
                return Poll::Pending;
            }
            let (Some(sub), Some(count)) = (st.sub.as_mut(), count.take()) else {
                return Poll::Ready(Err(Error::protocol("internal: no shared subscriber")));
            };
            let frames = count(sub);
            let was_empty = st.wbuf.is_empty();
            st.wbuf.extend_from_slice(&encoded);
            let slot = st.slots.alloc(Some(cx.waker().clone()));
            let mut p = Pending::new(frames, slot);
            p.confirms = Some(kind);
            st.pending.push_back(p);
            Poll::Ready(Ok(self.queued(st, slot, was_empty)))
        })
        .await?;
        match reply.await? {
            Reply::Many(f) => Ok(f),
            Reply::One(f) => Ok(vec![f]),
        }
    }

    /// The shared subscriber's next event, or `None` once the connection is closed.
    pub(crate) fn poll_event(&self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut st = self.shared().lock();
        let closed = st.closed;
        let Some(sub) = st.sub.as_mut() else {
            return Poll::Ready(None);
        };
        match sub.pop(cx.waker()) {
            Some(e) => Poll::Ready(Some(e)),
            None if closed => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// The shared subscriber's next event, if one is there.
    pub(crate) fn take_event(&self) -> Option<Event> {
        self.shared().lock().sub.as_mut()?.take()
    }

    /// The shared subscriber is gone: unsubscribe from everything it had.
    pub(crate) fn drop_subscriber(&self) {
        let shared = self.shared();
        let mut st = shared.lock();
        let Some(sub) = st.sub.take() else { return };
        if st.closed || st.status == Status::Broken {
            return;
        }
        let was_empty = st.wbuf.is_empty();
        for (kind, count, encoded) in sub.commands(false) {
            let mut p = Pending::new(count, 0);
            p.confirms = Some(kind);
            st.queue_internal(&encoded, p, false);
        }
        drop(st);
        if was_empty {
            shared.wake_writer.notify_one();
        }
    }

    /// Runs a blocking command on a dedicated connection (in place, on one that is dedicated
    /// already), so the shared one is never held up; the liveness deadline there is the
    /// command's own timeout plus the margin.
    async fn send_blocking<C: Command + ?Sized, T: FromValkey>(
        &self,
        cmd: &C,
        blocks: Blocks,
    ) -> Result<T> {
        if self.is_dedicated() {
            return self.with_silence(blocks, self.call_unnamed(cmd)).await;
        }
        let d = self.take_dedicated_probed(blocks).await?;
        let blocked = d.con.with_silence(blocks, d.con.call_unnamed(cmd));
        let reply = self.probed(blocks, true, blocked).await;
        // A server or conversion error leaves the connection in step; a broken one, or one
        // still blocked after a failed probe, is closed.
        d.give_back();
        reply
    }

    /// Sets how often the server is PINGed here while a blocking command waits on one of this
    /// connection's dedicated connections (a cluster node's connection takes the cluster's
    /// `refresh_when_slow`); `response_timeout` by default.
    #[cfg(feature = "cluster")]
    pub(crate) fn set_probe_every(&self, every: Duration) {
        self.shared().lock().probe_every = Some(every);
    }

    /// Runs `blocked` (a command waiting on a dedicated connection for as long as `blocks`
    /// says, `sent` already, or the opening of that connection) while the server is PINGed on
    /// this connection ([`Blocks::liveness_probe`]): a frozen or unreachable server fails a
    /// long wait (`BLPOP k 0` included) as a timeout instead of leaving it waiting forever,
    /// `Unclear` once the command was sent, `NotSent` before.
    pub(crate) async fn probed<T>(
        &self,
        blocks: Blocks,
        sent: bool,
        blocked: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let shared = self.shared();
        let every = shared.lock().probe_every;
        let Some((every, within)) = blocks.liveness_probe(every, shared.info.response_timeout)
        else {
            return blocked.await;
        };
        let probe = async {
            let ping = crate::cmd::ping();
            loop {
                tokio::time::sleep(every).await;
                let reads = shared.reads.load(Ordering::Relaxed);
                let pong = self.call_unnamed::<_, Value>(&ping);
                match tokio::time::timeout(within, pong).await {
                    Ok(Ok(_)) => {}
                    // An error reply (`NOPERM` for a user without PING) is an answer too.
                    Ok(Err(e)) if e.server_error().is_some() => {}
                    // Late behind a long stream of other replies: the server is answering.
                    Err(_) if shared.reads.load(Ordering::Relaxed) != reads => {}
                    _ => return Error::blocked_server_silent(within, sent),
                }
            }
        };
        first_of(blocked, probe).await
    }

    /// Runs `fut` with the liveness deadline of a command that may block for `blocks` (on a
    /// dedicated connection, which runs one thing at a time).
    pub(crate) async fn with_silence<F: Future>(&self, blocks: Blocks, fut: F) -> F::Output {
        /// Puts the default back however the future ends (a cancelled caller included).
        struct Restore<'a>(&'a Shared);
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.lock().silence = Silence::Default;
            }
        }
        let shared = self.shared();
        shared.lock().silence = Silence::Blocking(blocks.deadline(shared.info.response_timeout));
        let _restore = Restore(shared);
        fut.await
    }

    /// [`Self::take_dedicated`] within the deadline of a command that blocks for `blocks`: a
    /// server that accepts but never greets (frozen) fails it as late as it would fail the
    /// command itself, not after the longer connect timeout. Nothing was sent: `NotSent`.
    pub(crate) async fn take_dedicated_within(&self, blocks: Blocks) -> Result<Dedicated> {
        let info = &self.shared().info;
        let Some(deadline) = blocks.deadline(info.response_timeout) else {
            return self.take_dedicated().await;
        };
        match tokio::time::timeout(deadline, self.take_dedicated()).await {
            Ok(taken) => taken,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "no connection of its own within {deadline:?} (the blocking command's own \
                     timeout plus response_timeout); it was not sent"
                ),
            )
            .not_sent()),
        }
    }

    /// [`Self::take_dedicated_within`], while the server is PINGed here ([`Self::probed`]): a
    /// server that froze before a `BLPOP k 0` got its connection fails it, not sent, as soon as
    /// the wait for the command itself would.
    pub(crate) async fn take_dedicated_probed(&self, blocks: Blocks) -> Result<Dedicated> {
        self.probed(blocks, false, self.take_dedicated_within(blocks))
            .await
    }

    /// A connection of its own (an idle one reused, or a new one), for blocking commands, WATCH
    /// and durable writes; waits while `max_dedicated` are in use.
    pub(crate) async fn take_dedicated(&self) -> Result<Dedicated> {
        let home = Arc::clone(self.shared());
        let permit = Arc::clone(&home.permits)
            .acquire_owned()
            .await
            .map_err(|_| closed_error())?;
        let idle = home.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let con = match idle {
            Some(c) if c.is_usable() => c,
            _ => MultiplexedConnection::connect_as(Arc::clone(&home.info), true).await?,
        };
        Ok(Dedicated {
            con,
            home,
            _permit: permit,
        })
    }

    /// Whether the socket is up with nothing outstanding (a dedicated connection that can be
    /// reused).
    fn is_usable(&self) -> bool {
        let st = self.shared().lock();
        st.status == Status::Connected && st.pending.is_empty() && !st.closed
    }

    /// Whether this is a dedicated connection (it runs blocking commands in place).
    pub(crate) fn is_dedicated(&self) -> bool {
        self.shared().dedicated
    }

    /// Whether the current socket is up.
    pub(crate) fn is_connected(&self) -> bool {
        self.shared().lock().status == Status::Connected
    }

    /// How far the connection has got: socket reads so far, and whether replies are due now.
    /// Two calls a period apart with replies due at both and the same count: the server has
    /// sent nothing for that period (a cluster then looks for a replacement of the node).
    #[cfg(feature = "cluster")]
    pub(crate) fn progress(&self) -> (u64, bool) {
        let shared = self.shared();
        let due = {
            let st = shared.lock();
            st.status == Status::Connected && (st.in_flight > 0 || !st.wbuf.is_empty())
        };
        (shared.reads.load(Ordering::Relaxed), due)
    }

    /// Ends this connection for good (a cluster no longer routes to its node): the commands
    /// written on it fail now as `Unclear` (they may have run), those not yet written as
    /// `NotSent`, later ones as `Closed` (not sent either), and it is not re-opened.
    #[cfg(feature = "cluster")]
    pub(crate) fn abandon(&self, why: &str) {
        let shared = self.shared();
        let mut wake = Vec::new();
        let generation = {
            let mut st = shared.lock();
            st.fail_unsent(
                || {
                    Error::new(
                        ErrorKind::NotSent,
                        format!("{why}; the command was not sent"),
                    )
                },
                &mut wake,
            );
            st.closed = true;
            st.generation
        };
        wake.into_iter().for_each(Waker::wake);
        shared.fail(generation, Error::new(ErrorKind::Io, why.to_owned()));
    }

    /// What the handshake learned about the server.
    pub fn server_info(&self) -> ServerInfo {
        self.shared().lock().server.clone()
    }

    /// Takes the out-of-band push messages (RESP3 `>`) received so far.
    pub fn take_pushes(&self) -> Vec<Value> {
        self.shared().lock().pushes.drain(..).collect()
    }

    /// The settings this connection was opened with.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.shared().info
    }

    /// A snapshot of the connection's queues, for monitoring: how much waits, how often the
    /// socket failed. Takes the connection's lock once.
    pub fn stats(&self) -> ConnectionStats {
        let shared = self.shared();
        let idle_dedicated = shared.idle.lock().map_or(0, |idle| idle.len());
        let st = shared.lock();
        ConnectionStats {
            pending: st.pending.len(),
            in_flight: st.in_flight,
            unwritten_bytes: st.wbuf.len(),
            reply_slots: st.slots.in_use(),
            failed_sockets: st.generation,
            connected: st.status == Status::Connected,
            idle_dedicated,
        }
    }
}

/// What [`MultiplexedConnection::stats`] reports. When no caller is waiting, `pending`,
/// `in_flight`, `unwritten_bytes` and `reply_slots` are all 0: anything else is a leak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionStats {
    /// Commands, pipelines and transactions queued or sent and not yet answered.
    pub pending: usize,
    /// Of `pending`, those written to the socket.
    pub in_flight: usize,
    /// Encoded bytes waiting for the writer.
    pub unwritten_bytes: usize,
    /// Reply slots in use: one per pending entry, plus replies delivered to callers that have
    /// not taken them yet.
    pub reply_slots: usize,
    /// Sockets that failed (broken, or silent past the liveness deadline) since it opened.
    pub failed_sockets: u64,
    /// Whether a socket is up now.
    pub connected: bool,
    /// Idle dedicated connections kept for blocking commands.
    pub idle_dedicated: usize,
}

impl std::fmt::Debug for MultiplexedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared().lock();
        f.debug_struct("MultiplexedConnection")
            .field("addr", &self.shared().info.addr)
            .field("status", &st.status)
            .field("generation", &st.generation)
            .field("pending", &st.pending.len())
            .field("reply_slots", &st.slots.in_use())
            .finish()
    }
}

/// A caller's wait for its reply slot. Dropping it before the reply was taken gives the slot up:
/// the reply is then read and discarded, so the connection stays in step.
struct ReplyFuture<'a> {
    shared: &'a Shared,
    slot: usize,
    /// Not polled yet. Its first poll comes in the same poll of `call` that enqueued it, with the
    /// waker the slot already holds, and the reply cannot have been taken yet: nothing to do.
    fresh: bool,
    /// The reply was taken (and the slot freed).
    taken: bool,
}

impl Future for ReplyFuture<'_> {
    type Output = Result<Reply>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if std::mem::take(&mut self.fresh) {
            // If the reply lands before this returns, the stored waker wakes this task again.
            return Poll::Pending;
        }
        let polled = self.shared.lock().slots.poll_take(self.slot, cx);
        if polled.is_ready() {
            self.taken = true;
        }
        polled
    }
}

impl Drop for ReplyFuture<'_> {
    fn drop(&mut self) {
        if !self.taken {
            self.shared.lock().slots.abandon(self.slot);
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The socket of `generation` failed. It ends now: its IO tasks stop, nothing it reads
    /// reaches anyone, the commands written on it fail as `Unclear`; those not yet written wait
    /// for the next socket (a dedicated connection fails them as `NotSent`).
    fn fail(self: &Arc<Self>, generation: u64, err: Error) {
        let mut st = self.lock();
        if st.generation != generation || st.status != Status::Connected {
            return;
        }
        st.generation += 1;
        let io = std::mem::take(&mut st.io);
        let failed: Vec<Pending> = {
            let n = st.in_flight;
            st.pending.drain(..n).collect()
        };
        st.in_flight = 0;
        st.batches.clear();
        let mut wake = Vec::new();
        // A malformed or oversized reply is the first waiting command's: it gets that error.
        let mut failed = failed.into_iter();
        if err.is_protocol() {
            if let Some(p) = failed.next() {
                let e = Error::derived(ErrorKind::Protocol, err.to_string(), &err);
                st.settle(p, Err(e), &mut wake);
            }
        }
        for p in failed {
            let e = Error::derived(
                ErrorKind::Unclear,
                format!("{err}; it was sent and may or may not have run"),
                &err,
            );
            st.settle(p, Err(e), &mut wake);
        }
        if let Some(sub) = st.sub.as_mut() {
            let lost = err.duplicate().at_server(&self.info.addr);
            sub.disconnected(&lost, &mut wake);
        }
        let resubscribe = st.sub.as_ref().is_some_and(SubState::any);
        let reconnect = (resubscribe || !st.pending.is_empty()) && !st.closed && !self.dedicated;
        if st.closed {
            st.fail_unsent(closed_error, &mut wake);
        } else if self.dedicated {
            st.fail_unsent(
                || Error::derived(ErrorKind::NotSent, format!("{err}; it was not sent"), &err),
                &mut wake,
            );
        }
        st.status = if reconnect {
            Status::Reconnecting
        } else {
            Status::Broken
        };
        st.wake_room(&mut wake);
        drop(st);
        io.iter().for_each(AbortHandle::abort);
        wake.into_iter().for_each(Waker::wake);
        if reconnect {
            tokio::spawn(reconnect_loop(Arc::clone(self)));
        }
    }
}

impl State {
    /// Settles a queue entry: its reply (or error) goes to its slot, its caller's waker to `wake`.
    fn settle(&mut self, p: Pending, reply: Result<Reply>, wake: &mut Vec<Waker>) {
        self.slots.complete(p.slot, reply, wake);
    }
}

/// Connects with bounded backoff; on success installs the new socket as the current
/// generation, on failure fails everyone queued (their commands were never sent).
async fn reconnect_loop(shared: Arc<Shared>) {
    let mut delay = Duration::from_millis(50);
    let mut attempt = 0;
    loop {
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
        attempt += 1;
        if shared.lock().closed {
            return;
        }
        let err = match establish(&shared.info).await {
            Ok((r, w, rbuf, server)) => {
                let mut st = shared.lock();
                if st.closed {
                    return;
                }
                st.status = Status::Connected;
                st.server = server;
                st.in_flight = 0;
                st.batches.clear();
                restore_subscriber(&mut st);
                let generation = st.generation;
                st.io = spawn_io(&shared, generation, r, w, rbuf);
                drop(st);
                shared.wake_writer.notify_one();
                return;
            }
            Err(e) => e,
        };
        tracing::debug!("reconnect attempt {attempt} failed: {err}");
        if attempt < RECONNECT_ATTEMPTS {
            continue;
        }
        // Queued commands were never sent: they fail now rather than wait on.
        let mut st = shared.lock();
        let mut wake = Vec::new();
        st.fail_unsent(
            || {
                Error::derived(
                    ErrorKind::NotSent,
                    format!("{err}; the connection could not be re-opened and it was not sent"),
                    &err,
                )
            },
            &mut wake,
        );
        // A subscriber waits for its messages: keep trying for it (its consumer has the
        // `Disconnected` event); otherwise the next command tries again.
        let keep_trying = st.sub.as_ref().is_some_and(SubState::any);
        if !keep_trying {
            st.status = Status::Broken;
        }
        drop(st);
        wake.into_iter().for_each(Waker::wake);
        if !keep_trying {
            return;
        }
    }
}

/// Puts the shared subscriber's resubscribe commands before everything queued on a new socket;
/// the last one's confirmations end the gap.
fn restore_subscriber(st: &mut State) {
    let Some(sub) = st.sub.as_ref() else { return };
    let commands = sub.commands(true);
    let last = commands.len().saturating_sub(1);
    for (i, (kind, count, encoded)) in commands.into_iter().enumerate().rev() {
        let mut p = Pending::new(count, 0);
        p.confirms = Some(kind);
        p.restores = i == last;
        st.queue_internal(&encoded, p, true);
    }
}

fn closed_error() -> Error {
    Error::new(ErrorKind::Closed, "the connection was closed")
}

fn spawn_io(
    shared: &Arc<Shared>,
    generation: u64,
    r: BoxRead,
    w: BoxWrite,
    rbuf: ReadBuffer,
) -> Vec<AbortHandle> {
    let mut io = vec![
        tokio::spawn(writer(Arc::clone(shared), generation, w)).abort_handle(),
        tokio::spawn(reader(Arc::clone(shared), generation, r, rbuf)).abort_handle(),
    ];
    if let Some(base) = shared.info.response_timeout {
        io.push(tokio::spawn(watchdog(Arc::clone(shared), generation, base)).abort_handle());
    }
    io
}

/// `work`'s result, or `watch`'s error if that comes first (`work` is then dropped: cancelled).
async fn first_of<T>(
    work: impl Future<Output = Result<T>>,
    watch: impl Future<Output = Error>,
) -> Result<T> {
    let mut work = std::pin::pin!(work);
    let mut watch = std::pin::pin!(watch);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(out);
        }
        watch.as_mut().poll(cx).map(Err)
    })
    .await
}

async fn writer(shared: Arc<Shared>, generation: u64, mut w: BoxWrite) {
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let mut wake = Vec::new();
        let closed = {
            let mut st = shared.lock();
            if st.generation != generation || st.status != Status::Connected {
                return;
            }
            // At most four writes wait for replies: what arrives meanwhile goes out in one
            // larger write when the oldest one is answered (the reader wakes the writer then).
            // Four, not two: on the multi-thread runtime the callers of one read are split over
            // the workers and come back as two or three writes, and a cap of two held the third
            // back for a whole round trip (conc64 there: 466-510k ops/s against 406-464k).
            if !st.closed && !st.wbuf.is_empty() && st.batches.len() < MAX_UNANSWERED_WRITES {
                std::mem::swap(&mut st.wbuf, &mut out);
                let new = st.pending.len() - st.in_flight;
                st.batches.push_back(new);
                st.in_flight = st.pending.len();
                st.wake_room(&mut wake);
            }
            st.closed
        };
        wake.into_iter().for_each(Waker::wake);
        if closed {
            let _ = w.shutdown().await;
            return;
        }
        if out.is_empty() {
            shared.wake_writer.notified().await;
            // Let the tasks that are ready to run now (woken by the same read, on this worker
            // or another) add their commands first, so that one write carries them all: on the
            // multi-thread runtime the writer would otherwise run at once, from the waking
            // task's LIFO slot, and send one command per write.
            tokio::task::yield_now().await;
            continue;
        }
        if let Err(e) = w.write_all(&out).await {
            shared.fail(generation, Error::io("writing to the server failed", e));
            return;
        }
        out.clear();
        if out.capacity() > 1 << 20 {
            out = Vec::with_capacity(16 * 1024);
        }
    }
}

async fn reader(shared: Arc<Shared>, generation: u64, mut r: BoxRead, mut rbuf: ReadBuffer) {
    let mut frames: Vec<Bytes> = Vec::new();
    let mut wake: Vec<Waker> = Vec::new();
    let max_in_flight = shared.info.max_in_flight;
    loop {
        match r.read(rbuf.spare()).await {
            Ok(0) => {
                let e = Error::new(ErrorKind::Io, "the server closed the connection");
                return shared.fail(generation, e);
            }
            Ok(n) => {
                rbuf.advance(n);
                shared.reads.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => return shared.fail(generation, Error::io("reading the reply failed", e)),
        }
        loop {
            match rbuf.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(e) => return shared.fail(generation, e),
            }
        }
        if frames.is_empty() {
            continue;
        }
        let mut unasked = false;
        let mut write_more = false;
        {
            let mut guard = shared.lock();
            let st = &mut *guard;
            if st.generation != generation {
                return;
            }
            for frame in frames.drain(..) {
                if proto::is_push(&frame) {
                    if !st.route_push(&frame, &mut wake, &mut write_more) {
                        keep_push(st, &frame);
                    }
                    continue;
                }
                // Only a written command can be answered: anything else is a reply nobody
                // asked for, and the stream can no longer be trusted.
                if st.in_flight == 0 {
                    unasked = true;
                    break;
                }
                let front = st
                    .pending
                    .front_mut()
                    .expect("in_flight counts pending entries");
                // A reply where confirmations were due (an error to SUBSCRIBE) answers it whole.
                let reply = if front.frames == 1 || front.confirms.is_some() {
                    Reply::One(frame)
                } else {
                    front.collected.push(frame);
                    if front.collected.len() < front.frames {
                        continue;
                    }
                    Reply::Many(std::mem::take(&mut front.collected))
                };
                let slot = front.slot;
                st.pending.pop_front();
                write_more |= st.answered();
                st.slots.complete(slot, Ok(reply), &mut wake);
            }
            if !st.room.is_empty() && st.has_room(max_in_flight) {
                st.wake_room(&mut wake);
            }
            write_more &= !st.wbuf.is_empty();
        }
        if write_more {
            shared.wake_writer.notify_one();
        }
        // Woken after the lock is released, so the callers find it free.
        wake.drain(..).for_each(Waker::wake);
        if unasked {
            frames.clear();
            let e = Error::protocol("the server sent a reply nobody asked for");
            return shared.fail(generation, e);
        }
    }
}

/// Fails the socket of `generation` when replies are due and the server has sent nothing for
/// the liveness deadline (or a blocking command's own). Checks a few times per deadline, so a
/// dead server is noticed within 1.25 times it; costs nothing per command.
async fn watchdog(shared: Arc<Shared>, generation: u64, base: Duration) {
    let tick = (base / 4).max(Duration::from_millis(5));
    let mut last_reads = shared.reads.load(Ordering::Relaxed);
    let mut quiet = Duration::ZERO;
    loop {
        tokio::time::sleep(tick).await;
        let (busy, silence, subscribed) = {
            let st = shared.lock();
            if st.generation != generation || st.status != Status::Connected {
                return;
            }
            let subscribed = st.sub.as_ref().is_some_and(SubState::any);
            (
                st.in_flight > 0 || !st.wbuf.is_empty(),
                st.silence,
                subscribed,
            )
        };
        let reads = shared.reads.load(Ordering::Relaxed);
        if reads != last_reads || (!busy && !subscribed) {
            last_reads = reads;
            quiet = Duration::ZERO;
            continue;
        }
        quiet += tick;
        if !busy {
            // A subscriber waits for messages that may never come: after a quiet deadline, a
            // PING makes replies due, and a dead server is then noticed like any other.
            if quiet >= base {
                let mut st = shared.lock();
                if st.generation == generation && st.wbuf.is_empty() {
                    st.queue_internal(b"*1\r\n$4\r\nPING\r\n", Pending::new(1, 0), false);
                    drop(st);
                    shared.wake_writer.notify_one();
                }
                quiet = Duration::ZERO;
            }
            continue;
        }
        let limit = match silence {
            Silence::Default => base,
            Silence::Blocking(Some(limit)) => limit,
            Silence::Blocking(None) => continue,
        };
        if quiet >= limit {
            let blocking = matches!(silence, Silence::Blocking(_));
            return shared.fail(generation, Error::silent(limit, blocking));
        }
    }
}

fn keep_push(st: &mut State, frame: &Bytes) {
    match proto::decode_value(frame) {
        Ok(v) => {
            if st.pushes.len() == MAX_BUFFERED_PUSHES {
                tracing::warn!("dropping the oldest unread push message");
                st.pushes.pop_front();
            }
            st.pushes.push_back(v);
        }
        Err(e) => tracing::warn!("undecodable push message: {e}"),
    }
}
