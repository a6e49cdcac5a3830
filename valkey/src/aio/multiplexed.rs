//! The shared async connection: many tasks, one socket. Callers encode their command straight into
//! one shared write buffer under a short lock and wait for their reply; a writer task sends
//! everything queued in one write, and a reader task hands replies back in order. Dropping a
//! caller's future never desynchronises the stream: its reply is read and discarded. Replies are
//! handed over through reusable slots kept under the same lock (see `slots`), not per-command
//! channels.

use super::slots::Slots;
use super::stream::{connect, handshake, BoxRead, BoxWrite};
use crate::cmd::{encode, Command};
use crate::config::ConnectionInfo;
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{self, ReadBuffer, ServerInfo};
use crate::value::Value;
use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

/// Reconnect attempts after the connection broke, before queued commands fail.
const RECONNECT_ATTEMPTS: u32 = 4;
/// Idle dedicated connections kept for blocking commands.
const MAX_IDLE_DEDICATED: usize = 8;
/// Push messages kept for the caller at most.
const MAX_BUFFERED_PUSHES: usize = 4096;

/// What a caller waits for: one frame, or all frames of a pipeline.
enum Reply {
    One(Bytes),
    Many(Vec<Bytes>),
}

struct Pending {
    /// Frames this entry takes (1 for a command, N for a pipeline).
    frames: usize,
    collected: Vec<Bytes>,
    /// Where the reply goes (an index into `State::slots`).
    slot: usize,
}

#[derive(Debug)]
enum Status {
    Connected,
    Reconnecting,
    Broken,
}

struct State {
    /// Encoded commands not yet taken by the writer.
    wbuf: Vec<u8>,
    /// Everyone waiting, in wire order: first the `in_flight` entries whose bytes were written,
    /// then those whose bytes still sit in `wbuf`.
    pending: VecDeque<Pending>,
    in_flight: usize,
    status: Status,
    /// Bumped on every reconnect, so a dying reader/writer cannot break its successor.
    generation: u64,
    server: ServerInfo,
    closed: bool,
    pushes: VecDeque<Value>,
    /// The reply slots of everyone in `pending` (and of callers yet to take a delivered reply).
    slots: Slots<Result<Reply>>,
}

impl State {
    /// Settles a queue entry: its reply (or error) goes to its slot, its caller's waker to `wake`.
    fn settle(&mut self, p: Pending, reply: Result<Reply>, wake: &mut Vec<Waker>) {
        self.slots.complete(p.slot, reply, wake);
    }
}

struct Shared {
    info: Arc<ConnectionInfo>,
    state: Mutex<State>,
    wake_writer: Notify,
    dedicated: Mutex<Vec<MultiplexedConnection>>,
}

/// Closes the connection when the last handle is dropped (the IO tasks hold `Shared`, not this).
struct Owner {
    shared: Arc<Shared>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        drop(st);
        self.shared.wake_writer.notify_one();
    }
}

/// An async connection shared by many tasks (clone it freely), with automatic pipelining.
///
/// Commands from concurrent tasks are written together and their replies matched back in order.
/// A pipeline or transaction is written contiguously, never interleaved with other tasks'
/// commands. Blocking commands (`BLPOP`, `XREAD BLOCK`, ...) run on dedicated connections so they
/// never hold up the others. If the socket breaks, commands already written fail with an I/O
/// error (never re-sent); the next command reconnects.
#[derive(Clone)]
pub struct MultiplexedConnection {
    owner: Arc<Owner>,
}

impl MultiplexedConnection {
    /// Connects, runs the handshake and starts the IO tasks (on the current tokio runtime).
    pub async fn open(info: impl crate::config::IntoConnectionInfo) -> Result<Self> {
        Self::connect(Arc::new(info.into_connection_info()?)).await
    }

    pub(crate) async fn connect(info: Arc<ConnectionInfo>) -> Result<Self> {
        let (r, w, rbuf, server) = establish(&info).await?;
        let shared = Arc::new(Shared {
            info,
            state: Mutex::new(State {
                wbuf: Vec::with_capacity(16 * 1024),
                pending: VecDeque::new(),
                in_flight: 0,
                status: Status::Connected,
                generation: 0,
                server,
                closed: false,
                pushes: VecDeque::new(),
                slots: Slots::new(),
            }),
            wake_writer: Notify::new(),
            dedicated: Mutex::new(Vec::new()),
        });
        spawn_io(&shared, 0, r, w, rbuf);
        Ok(MultiplexedConnection {
            owner: Arc::new(Owner { shared }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.owner.shared
    }

    /// Sends a command and reads its reply into the command's `Output`.
    pub async fn send<C: Command>(&self, cmd: C) -> Result<C::Output> {
        self.send_as(&cmd).await
    }

    /// Sends a command and reads its reply into any `T`.
    pub async fn send_as<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        if cmd.meta().is_some_and(|m| m.is_blocking()) {
            return self.send_blocking(cmd).await;
        }
        self.call_one(cmd, true).await
    }

    /// Sends one command on this connection and decodes its reply; `timed` applies the
    /// response timeout (not to blocking commands).
    async fn call_one<C: Command + ?Sized, T: FromValkey>(
        &self,
        cmd: &C,
        timed: bool,
    ) -> Result<T> {
        let reply = self.call(1, timed, |buf, server| {
            proto::check_supported(cmd, server)?;
            encode(cmd, buf);
            Ok(())
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
        match self.call(frames, false, encode).await? {
            Reply::Many(f) => Ok(f),
            Reply::One(f) => Ok(vec![f]),
        }
    }

    /// Queues a command (or pipeline) and waits for its `frames` reply frames; `timed` applies
    /// the response timeout, if one is configured.
    async fn call(
        &self,
        frames: usize,
        timed: bool,
        encode: impl FnOnce(&mut Vec<u8>, &ServerInfo) -> Result<()>,
    ) -> Result<Reply> {
        // Enqueued inside a poll, so the caller's waker is stored under the enqueue's lock; the
        // reply future's first poll (in this same poll of `call`) then needs no lock of its own.
        let mut encode = Some(encode);
        let reply = std::future::poll_fn(|cx| {
            Poll::Ready(match encode.take() {
                Some(encode) => self.enqueue(frames, encode, cx.waker()),
                None => Err(Error::protocol("internal: command enqueued twice")),
            })
        })
        .await?;
        match (timed, self.shared().info.response_timeout) {
            (true, Some(t)) => match tokio::time::timeout(t, reply).await {
                Ok(r) => r,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no reply within the response timeout ({t:?}); the command may still run"
                    ),
                )),
            },
            _ => reply.await,
        }
    }

    fn enqueue(
        &self,
        frames: usize,
        encode: impl FnOnce(&mut Vec<u8>, &ServerInfo) -> Result<()>,
        waker: &Waker,
    ) -> Result<ReplyFuture<'_>> {
        let shared = self.shared();
        let mut st = shared.lock();
        let was_empty = st.wbuf.is_empty();
        let before = st.wbuf.len();
        let st_ref = &mut *st;
        if let Err(e) = encode(&mut st_ref.wbuf, &st_ref.server) {
            st_ref.wbuf.truncate(before);
            return Err(e);
        }
        let slot = st.slots.alloc(Some(waker.clone()));
        st.pending.push_back(Pending {
            frames,
            collected: if frames > 1 {
                Vec::with_capacity(frames)
            } else {
                Vec::new()
            },
            slot,
        });
        let reconnect = matches!(st.status, Status::Broken);
        if reconnect {
            st.status = Status::Reconnecting;
        }
        drop(st);
        if reconnect {
            tokio::spawn(reconnect_loop(Arc::clone(shared)));
        } else if was_empty {
            shared.wake_writer.notify_one();
        }
        Ok(ReplyFuture {
            shared,
            slot,
            fresh: true,
            taken: false,
        })
    }

    /// Runs a blocking command on a dedicated connection, so the shared one is never held up.
    async fn send_blocking<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        let con = self.take_dedicated().await?;
        let reply = con.call_one(cmd, false).await;
        // A server or conversion error leaves the connection in step; a broken one is not reused.
        let broken = |e: &Error| e.is_io() || e.is_timeout() || e.is_protocol();
        if reply.as_ref().err().is_none_or(|e| !broken(e)) {
            self.put_dedicated(con);
        }
        reply
    }

    /// A connection of its own (idle one reused, or a new one), for blocking commands and WATCH.
    pub(crate) async fn take_dedicated(&self) -> Result<MultiplexedConnection> {
        let idle = self
            .shared()
            .dedicated
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        match idle {
            Some(c) => Ok(c),
            None => MultiplexedConnection::connect(Arc::clone(&self.shared().info)).await,
        }
    }

    /// Gives a dedicated connection back for reuse.
    pub(crate) fn put_dedicated(&self, con: MultiplexedConnection) {
        let mut idle = self
            .shared()
            .dedicated
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if idle.len() < MAX_IDLE_DEDICATED {
            idle.push(con);
        }
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
}

impl std::fmt::Debug for MultiplexedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.shared().lock();
        f.debug_struct("MultiplexedConnection")
            .field("addr", &self.shared().info.addr)
            .field("status", &st.status)
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

    /// The connection of `generation` failed: fail the commands already written (they may have
    /// run), keep those not yet written for the next connection.
    fn fail(self: &Arc<Self>, generation: u64, err: Error) {
        let mut st = self.lock();
        if st.generation != generation || !matches!(st.status, Status::Connected) {
            return;
        }
        let failed: Vec<Pending> = {
            let n = st.in_flight;
            st.pending.drain(..n).collect()
        };
        st.in_flight = 0;
        let closed = st.closed;
        let reconnect = !st.pending.is_empty() && !closed;
        st.status = if reconnect {
            Status::Reconnecting
        } else {
            Status::Broken
        };
        let mut wake = Vec::new();
        for p in failed {
            let e = Error::new(
                err.kind(),
                format!("{err}; the command was sent and may or may not have run"),
            );
            st.settle(p, Err(e), &mut wake);
        }
        if closed {
            let abandoned: Vec<Pending> = st.pending.drain(..).collect();
            for p in abandoned {
                st.settle(p, Err(closed_error()), &mut wake);
            }
            st.wbuf.clear();
        }
        drop(st);
        wake.into_iter().for_each(Waker::wake);
        if reconnect {
            tokio::spawn(reconnect_loop(Arc::clone(self)));
        }
    }
}

/// Connects with bounded backoff; on success installs the new socket, on failure fails everyone
/// queued (their commands were never sent).
async fn reconnect_loop(shared: Arc<Shared>) {
    let mut delay = Duration::from_millis(50);
    let mut last_err = None;
    for attempt in 0..RECONNECT_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
        if shared.lock().closed {
            return;
        }
        match establish(&shared.info).await {
            Ok((r, w, rbuf, server)) => {
                let generation = {
                    let mut st = shared.lock();
                    st.generation += 1;
                    st.status = Status::Connected;
                    st.server = server;
                    st.in_flight = 0;
                    st.generation
                };
                spawn_io(&shared, generation, r, w, rbuf);
                shared.wake_writer.notify_one();
                return;
            }
            Err(e) => {
                tracing::debug!("reconnect attempt {} failed: {e}", attempt + 1);
                last_err = Some(e);
            }
        }
    }
    let err = last_err.unwrap_or_else(|| Error::new(ErrorKind::Io, "reconnect failed"));
    let mut st = shared.lock();
    st.status = Status::Broken;
    st.wbuf.clear();
    let queued: Vec<Pending> = st.pending.drain(..).collect();
    let mut wake = Vec::new();
    for p in queued {
        let e = Error::new(
            err.kind(),
            format!("could not reconnect: {err}; the command was not sent"),
        );
        st.settle(p, Err(e), &mut wake);
    }
    drop(st);
    wake.into_iter().for_each(Waker::wake);
}

fn closed_error() -> Error {
    Error::new(ErrorKind::Closed, "the connection was closed")
}

async fn establish(info: &ConnectionInfo) -> Result<(BoxRead, BoxWrite, ReadBuffer, ServerInfo)> {
    let (mut r, mut w) = connect(info).await?;
    let mut rbuf = ReadBuffer::new(info.limits);
    let server = handshake(info, &mut r, &mut w, &mut rbuf).await?;
    Ok((r, w, rbuf, server))
}

fn spawn_io(shared: &Arc<Shared>, generation: u64, r: BoxRead, w: BoxWrite, rbuf: ReadBuffer) {
    tokio::spawn(writer(Arc::clone(shared), generation, w));
    tokio::spawn(reader(Arc::clone(shared), generation, r, rbuf));
}

async fn writer(shared: Arc<Shared>, generation: u64, mut w: BoxWrite) {
    let mut out: Vec<u8> = Vec::with_capacity(16 * 1024);
    loop {
        let closed = {
            let mut st = shared.lock();
            if st.generation != generation || !matches!(st.status, Status::Connected) {
                return;
            }
            if !st.closed && !st.wbuf.is_empty() {
                std::mem::swap(&mut st.wbuf, &mut out);
                st.in_flight = st.pending.len();
            }
            st.closed
        };
        if closed {
            let _ = w.shutdown().await;
            return;
        }
        if out.is_empty() {
            shared.wake_writer.notified().await;
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
    loop {
        match r.read(rbuf.spare()).await {
            Ok(0) => {
                let e = Error::new(ErrorKind::Io, "the server closed the connection");
                return shared.fail(generation, e);
            }
            Ok(n) => rbuf.advance(n),
            Err(e) => {
                return shared.fail(generation, Error::io("reading from the server failed", e))
            }
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
        {
            let mut guard = shared.lock();
            let st = &mut *guard;
            if st.generation != generation {
                return;
            }
            for frame in frames.drain(..) {
                if proto::is_push(&frame) {
                    keep_push(st, &frame);
                    continue;
                }
                let Some(front) = st.pending.front_mut() else {
                    drop(guard);
                    wake.drain(..).for_each(Waker::wake);
                    let e = Error::protocol("the server sent a reply nobody asked for");
                    return shared.fail(generation, e);
                };
                let reply = if front.frames == 1 {
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
                st.in_flight = st.in_flight.saturating_sub(1);
                st.slots.complete(slot, Ok(reply), &mut wake);
            }
        }
        // Woken after the lock is released, so the callers find it free.
        wake.drain(..).for_each(Waker::wake);
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
