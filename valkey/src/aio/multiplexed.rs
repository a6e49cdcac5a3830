//! The shared async connection: many tasks, one socket. Callers encode their command straight into
//! one shared write buffer under a short lock and wait for their reply; a writer task sends
//! everything queued in one write, and a reader task hands replies back in order. Dropping a
//! caller's future never desynchronises the stream: its reply is read and discarded.

use super::stream::{connect, handshake, BoxRead, BoxWrite};
use crate::cmd::{encode, Command};
use crate::config::ConnectionInfo;
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{self, ReadBuffer, ServerInfo};
use crate::value::Value;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Notify};

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

type ReplyTx = oneshot::Sender<Result<Reply>>;

struct Pending {
    /// Frames this entry takes (1 for a command, N for a pipeline).
    frames: usize,
    collected: Vec<Bytes>,
    tx: ReplyTx,
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
        let rx = self.enqueue(1, |buf, server| {
            proto::check_supported(cmd, server)?;
            encode(cmd, buf);
            Ok(())
        })?;
        match self.wait(rx, true).await? {
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
        let rx = self.enqueue(frames, encode)?;
        match self.wait(rx, false).await? {
            Reply::Many(f) => Ok(f),
            Reply::One(f) => Ok(vec![f]),
        }
    }

    fn enqueue(
        &self,
        frames: usize,
        encode: impl FnOnce(&mut Vec<u8>, &ServerInfo) -> Result<()>,
    ) -> Result<oneshot::Receiver<Result<Reply>>> {
        let shared = self.shared();
        let (tx, rx) = oneshot::channel();
        let mut st = shared.lock();
        let was_empty = st.wbuf.is_empty();
        let before = st.wbuf.len();
        let st_ref = &mut *st;
        if let Err(e) = encode(&mut st_ref.wbuf, &st_ref.server) {
            st_ref.wbuf.truncate(before);
            return Err(e);
        }
        st.pending.push_back(Pending {
            frames,
            collected: if frames > 1 {
                Vec::with_capacity(frames)
            } else {
                Vec::new()
            },
            tx,
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
        Ok(rx)
    }

    async fn wait(&self, rx: oneshot::Receiver<Result<Reply>>, timed: bool) -> Result<Reply> {
        let closed = || Error::new(ErrorKind::Closed, "the connection was closed");
        match (timed, self.shared().info.response_timeout) {
            (true, Some(t)) => match tokio::time::timeout(t, rx).await {
                Ok(r) => r.map_err(|_| closed())?,
                Err(_) => Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "no reply within the response timeout ({t:?}); the command may still run"
                    ),
                )),
            },
            _ => rx.await.map_err(|_| closed())?,
        }
    }

    /// Runs a blocking command on a dedicated connection, so the shared one is never held up.
    async fn send_blocking<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        let con = self.take_dedicated().await?;
        let rx = con.enqueue(1, |buf, server| {
            proto::check_supported(cmd, server)?;
            encode(cmd, buf);
            Ok(())
        })?;
        let reply = con.wait(rx, false).await;
        if reply.is_ok() {
            self.put_dedicated(con);
        }
        match reply? {
            Reply::One(frame) => proto::decode_reply(&frame),
            Reply::Many(_) => Err(Error::protocol("internal: one reply expected")),
        }
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
            .finish()
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
        if closed {
            st.pending.clear();
            st.wbuf.clear();
        }
        drop(st);
        for p in failed {
            let e = Error::new(
                err.kind(),
                format!("{err}; the command was sent and may or may not have run"),
            );
            let _ = p.tx.send(Err(e));
        }
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
    drop(st);
    for p in queued {
        let e = Error::new(
            err.kind(),
            format!("could not reconnect: {err}; the command was not sent"),
        );
        let _ = p.tx.send(Err(e));
    }
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
    let mut ready: Vec<(ReplyTx, Reply)> = Vec::new();
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
            let mut st = shared.lock();
            if st.generation != generation {
                return;
            }
            for frame in frames.drain(..) {
                if proto::is_push(&frame) {
                    keep_push(&mut st, &frame);
                    continue;
                }
                let Some(front) = st.pending.front_mut() else {
                    drop(st);
                    let e = Error::protocol("the server sent a reply nobody asked for");
                    return shared.fail(generation, e);
                };
                if front.frames == 1 {
                    let p = st.pending.pop_front().expect("front exists");
                    st.in_flight = st.in_flight.saturating_sub(1);
                    ready.push((p.tx, Reply::One(frame)));
                } else {
                    front.collected.push(frame);
                    if front.collected.len() == front.frames {
                        let p = st.pending.pop_front().expect("front exists");
                        st.in_flight = st.in_flight.saturating_sub(1);
                        ready.push((p.tx, Reply::Many(p.collected)));
                    }
                }
            }
        }
        for (tx, reply) in ready.drain(..) {
            let _ = tx.send(Ok(reply));
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
