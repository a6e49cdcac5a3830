//! The blocking connection: one socket (TCP or Unix), one write buffer, one read buffer. Plain
//! `std::net`, no hidden runtime, so that plain threads pay only for the syscalls they make.

use crate::cmd::{blocks_encoded, encode, split_encoded, Blocks, Command, CommandMeta, Session};
use crate::config::{Addr, ConnectionInfo};
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::session::{self, Expect, SessionState};
use crate::proto::{self, Handshake, ReadBuffer, ServerInfo};
use crate::value::Value;
use bytes::Bytes;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Push messages kept for the caller at most; older ones are dropped with a warning.
const MAX_BUFFERED_PUSHES: usize = 4096;
/// Reconnect attempts made by one command after the connection broke.
const RECONNECT_ATTEMPTS: u32 = 3;
/// Batches larger than this are written in chunks of it, reading replies in between.
const STREAM_CHUNK: usize = 256 * 1024;

pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    #[cfg(unix)]
    Unix(UnixStream),
}

impl Stream {
    pub(crate) fn connect(info: &ConnectionInfo) -> Result<Stream> {
        match &info.addr {
            #[cfg(not(feature = "tls"))]
            Addr::Tcp { tls: true, .. } => Err(Error::invalid_config(
                "TLS (valkeys://, rediss://) needs the `tls` feature of valkey-typed",
            )),
            Addr::Tcp { host, port, tls } => {
                let addrs = (host.as_str(), *port).to_socket_addrs().map_err(|e| {
                    Error::io(format!("could not resolve {}", info.addr.endpoint()), e)
                })?;
                let mut last = None;
                for a in addrs {
                    let r = match info.connect_timeout {
                        Some(t) => TcpStream::connect_timeout(&a, t),
                        None => TcpStream::connect(a),
                    };
                    match r {
                        Ok(s) => {
                            crate::keepalive::configure_tcp(&s, info)?;
                            s.set_nodelay(info.tcp_nodelay)
                                .map_err(|e| Error::io("could not set TCP_NODELAY", e))?;
                            if *tls {
                                return Stream::tls(s, host, info);
                            }
                            return Ok(Stream::Tcp(s));
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let e = last.unwrap_or_else(|| io::Error::other("no address"));
                Err(match (e.kind(), info.connect_timeout) {
                    (io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock, Some(t)) => {
                        Error::connect_timeout(&info.addr, t)
                    }
                    _ => Error::io(format!("could not connect to {}", info.addr.endpoint()), e),
                })
            }
            #[cfg(unix)]
            Addr::Unix(path) => UnixStream::connect(path).map(Stream::Unix).map_err(|e| {
                Error::io(format!("could not connect to {}", info.addr.endpoint()), e)
            }),
            #[cfg(not(unix))]
            Addr::Unix(_) => Err(Error::invalid_config("Unix sockets need a Unix platform")),
        }
    }

    #[cfg(feature = "tls")]
    fn tls(tcp: TcpStream, host: &str, info: &ConnectionInfo) -> Result<Stream> {
        let config = crate::tls::client_config(&info.tls)?;
        let name = crate::tls::server_name(host, &info.tls)?;
        let conn = rustls::ClientConnection::new(config, name)
            .map_err(|e| Error::invalid_config(format!("TLS: {e}")))?;
        let mut s = rustls::StreamOwned::new(conn, tcp);
        // Finish the TLS handshake now, within the connect timeout, so that a certificate
        // problem is reported as such rather than as a failed first command.
        s.sock.set_read_timeout(info.connect_timeout).ok();
        s.sock.set_write_timeout(info.connect_timeout).ok();
        while s.conn.is_handshaking() {
            s.conn.complete_io(&mut s.sock).map_err(|e| {
                crate::tls::handshake_error(&info.addr, e, |e| {
                    Error::io_within(
                        format_args!("TLS handshake with {}", info.addr.endpoint()),
                        e,
                        info.connect_timeout,
                        "connect_timeout",
                    )
                })
            })?;
        }
        Ok(Stream::Tls(Box::new(s)))
    }

    #[cfg(not(feature = "tls"))]
    fn tls(_: TcpStream, _: &str, _: &ConnectionInfo) -> Result<Stream> {
        unreachable!("refused above without the tls feature")
    }

    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(t),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_read_timeout(t),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_read_timeout(t),
        }
    }

    fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_nonblocking(on),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_nonblocking(on),
        }
    }

    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(t),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.sock.set_write_timeout(t),
            #[cfg(unix)]
            Stream::Unix(s) => s.set_write_timeout(t),
        }
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
            #[cfg(unix)]
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
            _ => Ok(()),
        }
    }
}

/// A blocking connection to one server.
///
/// Commands are sent with [`Connection::send`]; the reply is read into the command's `Output`.
/// If the socket breaks, the command in flight fails with [`ErrorKind::Unclear`] (it is never
/// re-sent, as it may have run) and the next command reconnects. A server silent for longer
/// than the liveness deadline (`response_timeout`, 10 s by default; blocking commands get their
/// own timeout on top) is treated as a broken socket.
///
/// The connection tracks what session commands did: after `SELECT`, `CLIENT SETNAME`, `AUTH`
/// and `READONLY` a reconnect restores them; after `WATCH`, `MULTI`, a subscription or client
/// tracking, the first command after a reconnect fails (`WatchConflict` or `SessionLost`) instead
/// of running in a session that lost them.
pub struct Connection {
    session: SessionState,
    stream: Option<Stream>,
    rbuf: ReadBuffer,
    wbuf: Vec<u8>,
    server: ServerInfo,
    pushes: VecDeque<Value>,
    last_used: Instant,
    /// The socket's timeouts now, for the errors that say how long was waited.
    timeouts: Timeouts,
    /// A blocking command's wait that is probed (see [`BlockedWait`]), while it lasts.
    blocked: Option<Box<BlockedWait>>,
}

/// A blocking command's wait that may outlast the liveness deadline ([`Blocks::liveness_probe`]):
/// the socket's read timeout is one probe period, and each period that passes in silence the
/// server is PINGed on a connection of its own; the wait goes on while it answers, up to the
/// command's own deadline. A frozen server thus fails `BLPOP k 0` instead of leaving it waiting.
struct BlockedWait {
    every: Duration,
    within: Duration,
    /// When the command's own timeout plus the margin has passed (`None`: it blocks until
    /// released).
    until: Option<Instant>,
    /// The connection the PINGs go on, opened at the first and kept for the rest of the wait.
    probe: Option<Connection>,
}

/// The read and write timeouts set on the socket, and what they stand for.
#[derive(Clone, Copy, Default)]
struct Timeouts {
    read: Option<Duration>,
    /// The read timeout is a blocking command's own timeout plus the liveness margin.
    read_blocking: bool,
    write: Option<Duration>,
    /// The write timeout is the connect timeout (during the handshake), not `response_timeout`.
    write_connecting: bool,
}

impl BlockedWait {
    /// PINGs the server on the probe connection (opened the first time, within `within` as
    /// well as the connect timeout; each PING answered within `within`, by `PONG` or by any
    /// error reply).
    fn ping_elsewhere(&mut self, info: &ConnectionInfo) -> Result<()> {
        let within = self.within;
        let probe = &mut self.probe;
        let answer = (|| {
            let probe = match probe {
                Some(p) => p,
                None => {
                    let mut info = info.clone();
                    info.response_timeout = Some(within);
                    let p = Connection::with_info_within(Arc::new(info), Some(within))?;
                    probe.insert(p)
                }
            };
            probe.send_as::<_, Value>(&crate::cmd::ping()).map(drop)
        })();
        match answer {
            Ok(()) => Ok(()),
            // An error reply is an answer too: `NOPERM` for a user without PING, `LOADING`, or
            // the refusal of a server at `maxclients` to the probe connection.
            Err(e) if e.server_error().is_some() => Ok(()),
            Err(e) => {
                self.probe = None;
                Err(e)
            }
        }
    }
}

/// Marks a failure after the command was written: it may have run.
fn unclear(e: Error) -> Error {
    match e.kind() {
        ErrorKind::Io | ErrorKind::Timeout | ErrorKind::Closed => {
            e.unclear().note("it was sent and may or may not have run")
        }
        _ => e,
    }
}

impl Connection {
    /// Connects and runs the handshake.
    pub fn open(info: impl crate::config::IntoConnectionInfo) -> Result<Connection> {
        Connection::with_info(Arc::new(info.into_connection_info()?))
    }

    pub(crate) fn with_info(info: Arc<ConnectionInfo>) -> Result<Connection> {
        Connection::with_info_within(info, None)
    }

    /// Opens a connection within `limit` as well as the connect timeout (a pool's checkout).
    pub(crate) fn with_info_within(
        info: Arc<ConnectionInfo>,
        limit: Option<Duration>,
    ) -> Result<Connection> {
        let mut con = Connection {
            stream: None,
            rbuf: ReadBuffer::new(info.limits),
            session: SessionState::new(info),
            wbuf: Vec::with_capacity(4096),
            server: ServerInfo::default(),
            pushes: VecDeque::new(),
            last_used: Instant::now(),
            timeouts: Timeouts::default(),
            blocked: None,
        };
        con.connect_within(limit)?;
        Ok(con)
    }

    fn info(&self) -> &ConnectionInfo {
        &self.session.info
    }

    /// The settings, shared (for what outlives a call, such as a pipeline's replies).
    pub(crate) fn arc_info(&self) -> &Arc<ConnectionInfo> {
        &self.session.info
    }

    fn connect(&mut self) -> Result<()> {
        self.connect_within(None)
    }

    /// Opens the socket and runs the handshake, all within the connect timeout (and `limit`).
    fn connect_within(&mut self, limit: Option<Duration>) -> Result<()> {
        self.stream = None;
        self.rbuf.clear();
        let mut info = Arc::clone(&self.session.info);
        if let Some(l) = limit {
            if info.connect_timeout.is_none_or(|t| t > l) {
                Arc::make_mut(&mut info).connect_timeout = Some(l);
            }
        }
        let deadline = info.connect_timeout.map(|t| (Instant::now() + t, t));
        let stream = Stream::connect(&info)?;
        stream
            .set_write_timeout(info.connect_timeout)
            .map_err(|e| Error::io("could not configure the socket", e))?;
        self.stream = Some(stream);
        self.timeouts = Timeouts {
            write: info.connect_timeout,
            write_connecting: true,
            ..Timeouts::default()
        };
        let result = self.run_handshake(&info, deadline).and_then(|()| {
            self.set_read_timeout(info.response_timeout)?;
            self.set_write_timeout(info.response_timeout)
        });
        self.wbuf.clear();
        match result {
            Ok(()) => {
                self.last_used = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.stream = None;
                // Said as the async connection says it: the whole connect took too long.
                Err(match (e.kind(), info.connect_timeout) {
                    (ErrorKind::Timeout, Some(t)) => Error::connect_timeout(&info.addr, t),
                    _ => e,
                })
            }
        }
    }

    fn run_handshake(
        &mut self,
        info: &ConnectionInfo,
        deadline: Option<(Instant, Duration)>,
    ) -> Result<()> {
        let mut hs = Handshake::new(info);
        loop {
            self.wbuf.clear();
            let n = hs.next_batch(&mut self.wbuf);
            if n == 0 {
                break;
            }
            let mut replies = Vec::with_capacity(n);
            let exchanged = self.flush().and_then(|()| {
                for _ in 0..n {
                    let frame = self.read_frame_by(deadline, "the handshake")?;
                    replies.push(proto::decode_value(&frame)?);
                }
                Ok(())
            });
            if let Err(e) = exchanged {
                return Err(match e.kind() {
                    ErrorKind::Io => e.context(format_args!(
                        "the handshake with {} failed",
                        info.addr.endpoint()
                    )),
                    _ => e,
                });
            }
            hs.on_replies(replies)?;
        }
        self.server = hs.server_info().clone();
        Ok(())
    }

    /// Reads one reply with a read timeout that ends at `deadline` (the handshake's: when it
    /// ends, and the whole time it allows).
    fn read_frame_by(
        &mut self,
        deadline: Option<(Instant, Duration)>,
        what: &str,
    ) -> Result<Bytes> {
        loop {
            if let Some(frame) = self.buffered_frame()? {
                return Ok(frame);
            }
            let Some((at, limit)) = deadline else {
                self.read_more()?;
                continue;
            };
            let left = at.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.stream = None;
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "{what} with {} did not finish within {limit:?}",
                        self.info().addr.endpoint()
                    ),
                ));
            }
            self.set_read_timeout(Some(left))?;
            // Silence until the deadline is seen at the top of the loop.
            self.read_once("the server closed the connection")?;
        }
    }

    /// Reconnects when the last command broke the connection, retrying a few times with a short,
    /// growing pause. The command that asked is not sent if this fails (`NotSent`), nor if the
    /// session lost something a reconnect cannot restore (`WatchConflict`, `SessionLost`).
    fn ensure_connected(&mut self) -> Result<()> {
        // A reply already buffered before anything was asked is one nobody asked for: the
        // stream is out of step, and the next command must not take it as its own.
        if self.stream.is_some() && self.rbuf.has_data() && self.stray_reply() {
            tracing::warn!("the server sent a reply nobody asked for; reconnecting");
            self.stream = None;
        }
        // Under WATCH or MULTI, a socket the server closed meanwhile must be noticed before
        // writing: the work would otherwise fail as Unclear instead of as the lost session.
        if self.stream.is_some() && (!self.session.is_bound() || self.is_alive()) {
            return Ok(());
        }
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.connect() {
                Ok(()) => break,
                Err(e) if e.is_io() && attempt < RECONNECT_ATTEMPTS => {
                    std::thread::sleep(delay);
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(match e.kind() {
                        ErrorKind::Io | ErrorKind::Timeout | ErrorKind::Protocol => e
                            .note("the connection could not be re-opened and it was not sent")
                            .not_sent(),
                        _ => e,
                    })
                }
            }
        }
        match self.session.lost_on_reconnect() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends a command and reads its reply into the command's `Output`.
    ///
    /// ```no_run
    /// # fn main() -> valkey::Result<()> {
    /// let mut con = valkey::sync::Connection::open("valkey://127.0.0.1:6379")?;
    /// let pong: valkey::Value = con.send(valkey::Cmd::new("PING"))?;
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn send<C: Command>(&mut self, cmd: C) -> Result<C::Output> {
        self.send_as(&cmd)
    }

    /// Sends a command and reads its reply into any `T` (the command's declared output is ignored).
    ///
    /// An error names the command and the server (`GET on 127.0.0.1:6379: ...`).
    #[inline]
    pub fn send_as<C: Command + ?Sized, T: FromValkey>(&mut self, cmd: &C) -> Result<T> {
        match self.send_unnamed(cmd) {
            Ok(v) => Ok(v),
            Err(e) => Err(self.command_failed(e, || crate::cmd::name_of(cmd))),
        }
    }

    /// Names the command (or batch) and the server in an error (the error path only).
    #[cold]
    #[inline(never)]
    pub(crate) fn command_failed(
        &self,
        e: Error,
        name: impl FnOnce() -> std::borrow::Cow<'static, str>,
    ) -> Error {
        e.in_command(name(), &self.info().addr)
    }

    fn send_unnamed<C: Command + ?Sized, T: FromValkey>(&mut self, cmd: &C) -> Result<T> {
        let meta = cmd.meta();
        if let Some(m) = meta.filter(|m| m.session != Session::None) {
            return self.send_session(cmd, m);
        }
        proto::check_supported(cmd, &self.server)?;
        self.ensure_connected()?;
        self.wbuf.clear();
        encode(cmd, &mut self.wbuf)?;
        let blocks = match meta {
            Some(m) if m.blocking.is_some() => blocks_encoded(m, &self.wbuf),
            _ => None,
        };
        let frame = self.exchange_one(blocks)?;
        self.last_used = Instant::now();
        proto::decode_reply(&frame)
    }

    /// Writes the encoded command and reads its reply; a blocking command gets its own timeout
    /// plus the liveness margin as the read timeout.
    fn exchange_one(&mut self, blocks: Option<Blocks>) -> Result<Bytes> {
        let Some(blocks) = blocks else {
            return self
                .flush()
                .and_then(|()| self.read_frame())
                .map_err(unclear);
        };
        self.begin_blocking(blocks)?;
        let frame = self
            .flush()
            .and_then(|()| self.read_frame())
            .map_err(unclear);
        self.end_blocking()?;
        frame
    }

    /// A command that changes the connection's session: run, tracked, and restored or reported
    /// after a reconnect.
    fn send_session<C: Command + ?Sized, T: FromValkey>(
        &mut self,
        cmd: &C,
        meta: &'static CommandMeta,
    ) -> Result<T> {
        session::refuse_anywhere(meta)?;
        proto::check_supported(cmd, &self.server)?;
        self.ensure_connected()?;
        self.wbuf.clear();
        encode(cmd, &mut self.wbuf)?;
        let encoded = self.wbuf.clone();
        let args = split_encoded(&encoded);
        let expect = self.session.expect(meta, &args);
        let blocks = blocks_encoded(meta, &encoded);
        let reply = match expect {
            Expect::Reply => self.exchange_one(blocks).and_then(|frame| {
                let decoded = proto::decode_reply::<T>(&frame);
                if decoded.is_err() && matches!(frame.first(), Some(b'-' | b'!')) {
                    self.session.after_error(meta);
                }
                decoded
            }),
            Expect::Confirmations { kind, count } => self
                .flush()
                .and_then(|()| self.read_confirmations(kind, count))
                .map_err(unclear)
                .and_then(|v| T::from_valkey(session::confirmations_value(v))),
        };
        self.last_used = Instant::now();
        let reply = reply?;
        match meta.name {
            "RESET" => {
                // The server is back to RESP2, unauthenticated, db 0: greet it again as
                // configured.
                self.session.reset();
                let info = Arc::clone(&self.session.info);
                let deadline = info.connect_timeout.map(|t| (Instant::now() + t, t));
                if let Err(e) = self.run_handshake(&info, deadline) {
                    self.stream = None;
                    return Err(e.context("RESET succeeded, but the handshake after it failed"));
                }
                self.set_read_timeout(info.response_timeout)?;
            }
            "QUIT" => {
                self.stream = None;
                self.session.reset();
            }
            "HELLO" => {
                self.session.after(meta, &args);
                self.server.protocol = self.session.info.protocol;
            }
            _ => self.session.after(meta, &args),
        }
        Ok(reply)
    }

    /// Reads `count` (un)subscribe confirmations of `kind`, keeping messages that arrive
    /// meanwhile for [`Connection::take_pushes`].
    fn read_confirmations(&mut self, kind: &str, count: usize) -> Result<Vec<Value>> {
        let mut got = Vec::with_capacity(count);
        while got.len() < count {
            let frame = self.next_raw_frame()?;
            match session::pubsub_frame_kind(&frame) {
                Some(k) if k == kind => got.push(proto::decode_value(&frame)?),
                Some(_) => self.keep_push(&frame)?,
                None if proto::is_push(&frame) => self.keep_push(&frame)?,
                None => {
                    // An error (a wrong argument, or a command not allowed here) ends it.
                    proto::decode_reply::<Value>(&frame)?;
                    return Err(Error::protocol(format!(
                        "expected a {kind} confirmation, got another reply"
                    )));
                }
            }
        }
        Ok(got)
    }

    /// Writes the encoded commands in `wbuf`, then reads `n` reply frames, calling `on_frame` for
    /// each (used by pipelines and transactions). Blocking commands in the batch extend the
    /// read timeout by their own timeouts.
    pub(crate) fn round_trip(
        &mut self,
        n: usize,
        blocks: Option<Blocks>,
        on_frame: impl FnMut(Bytes),
    ) -> Result<()> {
        self.ensure_connected()?;
        if let Some(b) = blocks {
            self.begin_blocking(b)?;
        }
        let r = self.round_trip_inner(n, on_frame).map_err(unclear);
        if blocks.is_some() {
            self.end_blocking()?;
        }
        self.last_used = Instant::now();
        r
    }

    fn round_trip_inner(&mut self, n: usize, mut on_frame: impl FnMut(Bytes)) -> Result<()> {
        let mut got = 0;
        if self.wbuf.len() <= STREAM_CHUNK {
            self.flush()?;
        } else {
            // A large batch goes out in chunks; between them, the replies that have arrived are
            // taken, so that writing and reading overlap and the server's output never piles up.
            let wbuf = std::mem::take(&mut self.wbuf);
            let mut result = Ok(());
            for chunk in wbuf.chunks(STREAM_CHUNK) {
                result = self.write_chunk(chunk).and_then(|()| self.read_available());
                while result.is_ok() && got < n {
                    match self.buffered_frame() {
                        Ok(Some(f)) => {
                            got += 1;
                            on_frame(f);
                        }
                        Ok(None) => break,
                        Err(e) => result = Err(e),
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            self.wbuf = wbuf;
            self.wbuf.clear();
            result?;
        }
        for _ in got..n {
            let f = self.read_frame()?;
            on_frame(f);
        }
        Ok(())
    }

    fn write_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        };
        if let Err(e) = stream.write_all(chunk).and_then(|()| stream.flush()) {
            self.stream = None;
            return Err(self.write_error(e));
        }
        Ok(())
    }

    /// The server's info and the write buffer together, for batches to check and encode.
    pub(crate) fn server_and_wbuf(&mut self) -> (&ServerInfo, &mut Vec<u8>) {
        (&self.server, &mut self.wbuf)
    }

    /// Makes sure a socket is there (reconnecting when the last command broke it).
    pub(crate) fn connected(&mut self) -> Result<()> {
        self.ensure_connected()
    }

    fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<()> {
        self.timeouts.read = t;
        self.timeouts.read_blocking = false;
        self.set_timeout(t, Stream::set_read_timeout)
    }

    /// The read timeout of a blocking command: its own timeout plus the liveness margin.
    fn set_blocking_read_timeout(&mut self, t: Option<Duration>) -> Result<()> {
        self.set_read_timeout(t)?;
        self.timeouts.read_blocking = true;
        Ok(())
    }

    /// Sets up the reads of a command that may block for `blocks`: its own timeout plus the
    /// liveness margin as the read timeout, or, for a wait that may outlast a probe, one probe
    /// period at a time ([`BlockedWait`]). [`Self::end_blocking`] undoes it.
    fn begin_blocking(&mut self, blocks: Blocks) -> Result<()> {
        let base = self.info().response_timeout;
        let deadline = blocks.deadline(base);
        let Some((every, within)) = blocks.liveness_probe(None, base) else {
            return self.set_blocking_read_timeout(deadline);
        };
        self.set_blocking_read_timeout(Some(every))?;
        // What an error says was waited: the whole deadline, not one period.
        self.timeouts.read = deadline;
        self.blocked = Some(Box::new(BlockedWait {
            every,
            within,
            until: deadline.map(|d| Instant::now() + d),
            probe: None,
        }));
        Ok(())
    }

    /// Back to the liveness deadline after a blocking command (or its failure).
    fn end_blocking(&mut self) -> Result<()> {
        self.blocked = None;
        if self.stream.is_some() {
            self.set_read_timeout(self.info().response_timeout)?;
        }
        Ok(())
    }

    /// After a probe period passed in silence: whether the blocked wait goes on. The server is
    /// PINGed on a connection of its own; one that does not answer fails the wait (`Unclear`:
    /// the command was sent). `false` when no wait is probed or its deadline has passed.
    fn still_blocked(&mut self) -> Result<bool> {
        let Some(wait) = self.blocked.as_deref_mut() else {
            return Ok(false);
        };
        let left = |wait: &BlockedWait| match wait.until {
            Some(until) => until.saturating_duration_since(Instant::now()),
            None => wait.every,
        };
        // At the command's own deadline there is nothing left to probe for.
        if left(wait).is_zero() {
            return Ok(false);
        }
        if let Err(e) = wait.ping_elsewhere(&self.session.info) {
            tracing::debug!("a blocked command's server did not answer a PING: {e}");
            let within = wait.within;
            self.blocked = None;
            self.stream = None;
            return Err(Error::blocked_server_silent(within, true));
        }
        let left = left(wait);
        if left.is_zero() {
            return Ok(false);
        }
        let next = left.min(wait.every);
        self.set_timeout(Some(next), Stream::set_read_timeout)?;
        Ok(true)
    }

    fn set_write_timeout(&mut self, t: Option<Duration>) -> Result<()> {
        self.timeouts.write = t;
        self.timeouts.write_connecting = false;
        self.set_timeout(t, Stream::set_write_timeout)
    }

    /// A failed write, saying how long it waited when its timeout elapsed.
    #[cold]
    fn write_error(&self, e: io::Error) -> Error {
        let t = self.timeouts;
        let setting = if t.write_connecting {
            "connect_timeout"
        } else {
            "response_timeout"
        };
        Error::io_within("writing to the server", e, t.write, setting)
    }

    fn set_timeout(
        &mut self,
        t: Option<Duration>,
        set: fn(&Stream, Option<Duration>) -> io::Result<()>,
    ) -> Result<()> {
        if let Some(s) = &self.stream {
            if let Err(e) = set(s, t) {
                self.stream = None;
                return Err(Error::io("could not set a socket timeout", e));
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        };
        if let Err(e) = stream.write_all(&self.wbuf).and_then(|()| stream.flush()) {
            self.stream = None;
            return Err(self.write_error(e));
        }
        self.wbuf.clear();
        Ok(())
    }

    /// The next frame already buffered, whatever it is.
    fn buffered_raw_frame(&mut self) -> Result<Option<Bytes>> {
        match self.rbuf.next_frame() {
            Ok(frame) => Ok(frame),
            Err(e) => {
                // The stream is out of step after malformed input: never read on from it.
                self.stream = None;
                Err(e)
            }
        }
    }

    /// The next reply already buffered, if any (push frames, and the messages a subscribed
    /// RESP2 connection receives, are set aside).
    fn buffered_frame(&mut self) -> Result<Option<Bytes>> {
        loop {
            match self.buffered_raw_frame()? {
                Some(frame) if proto::is_push(&frame) => self.keep_push(&frame)?,
                Some(frame)
                    if self.session.subscribed()
                        && session::pubsub_frame_kind(&frame)
                            .is_some_and(session::is_message_kind) =>
                {
                    self.keep_push(&frame)?
                }
                frame => return Ok(frame),
            }
        }
    }

    /// Reads whatever the socket has now, without waiting (used between chunks of a large
    /// pipeline, so that replies flow while the rest is written, and to see whether an idle
    /// connection is still open).
    fn read_available(&mut self) -> Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        };
        let io_err = |e| Error::io("reading from the server failed", e);
        stream.set_nonblocking(true).map_err(io_err)?;
        let result = loop {
            match stream.read(self.rbuf.spare()) {
                Ok(0) => {
                    break Err(Error::new(
                        ErrorKind::Io,
                        "the server closed the connection",
                    ))
                }
                Ok(n) => self.rbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(io_err(e)),
            }
        };
        let restored = stream.set_nonblocking(false).map_err(io_err);
        if result.is_err() || restored.is_err() {
            self.stream = None;
        }
        result.and(restored)
    }

    fn read_frame(&mut self) -> Result<Bytes> {
        loop {
            if let Some(frame) = self.buffered_frame()? {
                return Ok(frame);
            }
            self.read_more()?;
        }
    }

    /// The next frame of any kind (pushes included), reading as needed.
    fn next_raw_frame(&mut self) -> Result<Bytes> {
        loop {
            if let Some(frame) = self.buffered_raw_frame()? {
                return Ok(frame);
            }
            self.read_more()?;
        }
    }

    /// One read from the socket into the read buffer; a silent server beyond the read timeout
    /// (the liveness deadline) is an error, and the connection is closed.
    fn read_more(&mut self) -> Result<()> {
        while !self.read_once("the server closed the connection before replying")? {
            if !self.still_blocked()? {
                return self.silent();
            }
        }
        Ok(())
    }

    /// The read timeout (the liveness deadline) passed: the connection is closed.
    #[cold]
    fn silent(&mut self) -> Result<()> {
        self.stream = None;
        let t = self.timeouts;
        Err(Error::silent(t.read.unwrap_or_default(), t.read_blocking))
    }

    /// One read from the socket into the read buffer: `false` when the read timeout elapsed
    /// with nothing read. End of stream (`eof` says what it means) and other failures close the
    /// connection.
    fn read_once(&mut self, eof: &str) -> Result<bool> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        };
        loop {
            match stream.read(self.rbuf.spare()) {
                Ok(0) => {
                    self.stream = None;
                    return Err(Error::new(ErrorKind::Io, eof));
                }
                Ok(n) => {
                    self.rbuf.advance(n);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(false)
                }
                Err(e) => {
                    self.stream = None;
                    return Err(Error::io("reading the reply failed", e));
                }
            }
        }
    }

    fn keep_push(&mut self, frame: &Bytes) -> Result<()> {
        let v = proto::decode_value(frame)?;
        if self.pushes.len() == MAX_BUFFERED_PUSHES {
            tracing::warn!("dropping the oldest unread push message");
            self.pushes.pop_front();
        }
        self.pushes.push_back(v);
        Ok(())
    }

    /// Takes the out-of-band messages received so far: RESP3 pushes, and the pub/sub messages
    /// of a subscribed connection in either protocol.
    pub fn take_pushes(&mut self) -> Vec<Value> {
        self.pushes.drain(..).collect()
    }

    /// What the handshake learned about the server (flavor, version, protocol).
    pub fn server_info(&self) -> &ServerInfo {
        &self.server
    }

    /// The settings a reconnect would use: those the connection was opened with, updated by
    /// the session commands it ran (`SELECT`, `CLIENT SETNAME`, `AUTH`, `READONLY`).
    pub fn connection_info(&self) -> &ConnectionInfo {
        self.info()
    }

    /// Whether the socket is open (false after a failure, until the next command reconnects).
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// How long since a command last completed on this connection.
    pub fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }

    /// A transaction ended (EXEC answered): its watches are gone.
    pub(crate) fn exec_done(&mut self) {
        self.session.exec_done();
    }

    /// Whether session commands left state that the next user of a pooled connection must not
    /// inherit (another database or name, WATCH, MULTI, subscriptions, tracking).
    pub(crate) fn is_dirty(&self) -> bool {
        self.session.is_dirty()
    }

    /// Whether a reply (not a push) sits in the read buffer while nothing is outstanding.
    fn stray_reply(&mut self) -> bool {
        !matches!(self.buffered_frame(), Ok(None))
    }

    /// Whether an idle connection is still usable: open, and the server has not closed it or
    /// sent anything unexpected meanwhile (checked without waiting).
    pub(crate) fn is_alive(&mut self) -> bool {
        if self.stream.is_none() || self.read_available().is_err() {
            return false;
        }
        match self.buffered_frame() {
            Ok(None) => true,
            _ => {
                self.stream = None;
                false
            }
        }
    }

    /// Brings the session back to what the connection was opened with: `RESET` (which also
    /// ends MULTI, WATCH, subscriptions and tracking), then the handshake again, all within
    /// `limit`. On a server without `RESET`, or on any failure, the connection is closed.
    pub(crate) fn reset_session(&mut self, limit: Option<Duration>) -> Result<()> {
        let has_reset = self
            .server
            .version
            .is_some_and(|v| v >= crate::cmd::Version::new(6, 2, 0));
        if !has_reset {
            self.stream = None;
            return Err(Error::new(
                ErrorKind::Unsupported,
                "the server has no RESET; the connection was closed",
            ));
        }
        let deadline = limit.map(|t| (Instant::now() + t, t));
        let result = (|| {
            self.wbuf.clear();
            encode(&crate::Cmd::new("RESET"), &mut self.wbuf)?;
            self.flush()?;
            // Whatever a subscriber or tracking left unread comes before RESET's reply.
            loop {
                let frame = self.read_frame_by(deadline, "RESET")?;
                if frame.as_ref() == b"+RESET\r\n" {
                    break;
                }
            }
            self.session.reset();
            let info = Arc::clone(&self.session.info);
            self.run_handshake(&info, deadline)?;
            self.pushes.clear();
            self.set_read_timeout(info.response_timeout)
        })();
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    /// PING within `limit` (a pool's health check).
    pub(crate) fn ping_within(&mut self, limit: Option<Duration>) -> bool {
        let deadline = limit.map(|t| (Instant::now() + t, t));
        self.wbuf.clear();
        let ok = encode(&crate::Cmd::new("PING"), &mut self.wbuf).is_ok()
            && self.flush().is_ok()
            && self
                .read_frame_by(deadline, "the health check")
                .is_ok_and(|f| !matches!(f.first(), Some(b'-' | b'!')));
        let restored = self.set_read_timeout(self.info().response_timeout).is_ok();
        if ok && restored {
            self.last_used = Instant::now();
        } else {
            self.stream = None;
        }
        ok && restored
    }
}

/// What one raw read brought.
pub(crate) enum RawRead {
    /// A complete frame.
    Frame(Bytes),
    /// Bytes, but no complete frame yet (the server is alive).
    Partial,
    /// Nothing within the wait.
    Silent,
}

/// Raw frame access for the subscriber and MONITOR, which read frames as the server sends them
/// rather than replies to commands (kept apart so that the command path stays as it is).
impl Connection {
    /// Writes bytes already encoded (commands), as they are.
    pub(crate) fn write_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.wbuf.clear();
        self.wbuf.extend_from_slice(bytes);
        self.flush()
    }

    /// The next frame of any kind, waiting at most `wait` (at least 1 ms) for the socket.
    /// Silence is not an error here (the caller keeps its own health check); a closed or
    /// failed socket is, and the connection is then closed.
    pub(crate) fn read_raw_within(&mut self, wait: Duration) -> Result<RawRead> {
        if let Some(f) = self.buffered_raw_frame()? {
            return Ok(RawRead::Frame(f));
        }
        let wait = wait.max(Duration::from_millis(1));
        self.set_read_timeout(Some(wait))?;
        if !self.read_once("the server closed the connection")? {
            return Ok(RawRead::Silent);
        }
        Ok(match self.buffered_raw_frame()? {
            Some(f) => RawRead::Frame(f),
            None => RawRead::Partial,
        })
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.info().addr)
            .field("open", &self.stream.is_some())
            .field("server", &self.server)
            .finish()
    }
}
