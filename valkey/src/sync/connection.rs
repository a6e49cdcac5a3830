//! The blocking connection: one socket (TCP or Unix), one write buffer, one read buffer. Plain
//! `std::net`, no hidden runtime, so that plain threads pay only for the syscalls they make.

use crate::cmd::{encode, Command};
use crate::config::{Addr, ConnectionInfo};
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
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
                let addrs = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| Error::io(format!("could not resolve {}", info.addr), e))?;
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
                Err(Error::io(format!("could not connect to {}", info.addr), e))
            }
            #[cfg(unix)]
            Addr::Unix(path) => UnixStream::connect(path)
                .map(Stream::Unix)
                .map_err(|e| Error::io(format!("could not connect to {}", info.addr), e)),
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
            s.conn
                .complete_io(&mut s.sock)
                .map_err(|e| Error::io(format!("TLS handshake with {} failed", info.addr), e))?;
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
/// If the socket breaks, the command in flight fails with an I/O error (it is never re-sent, as it
/// may have run) and the next command reconnects.
pub struct Connection {
    info: Arc<ConnectionInfo>,
    stream: Option<Stream>,
    rbuf: ReadBuffer,
    wbuf: Vec<u8>,
    server: ServerInfo,
    pushes: VecDeque<Value>,
    last_used: Instant,
}

impl Connection {
    /// Connects and runs the handshake.
    pub fn open(info: impl crate::config::IntoConnectionInfo) -> Result<Connection> {
        Connection::with_info(Arc::new(info.into_connection_info()?))
    }

    pub(crate) fn with_info(info: Arc<ConnectionInfo>) -> Result<Connection> {
        let mut con = Connection {
            stream: None,
            rbuf: ReadBuffer::new(info.limits),
            info,
            wbuf: Vec::with_capacity(4096),
            server: ServerInfo::default(),
            pushes: VecDeque::new(),
            last_used: Instant::now(),
        };
        con.connect()?;
        Ok(con)
    }

    fn connect(&mut self) -> Result<()> {
        self.stream = None;
        self.rbuf.clear();
        let stream = Stream::connect(&self.info)?;
        let io_err = |e| Error::io("could not configure the socket", e);
        stream
            .set_read_timeout(self.info.response_timeout)
            .map_err(io_err)?;
        stream
            .set_write_timeout(self.info.response_timeout)
            .map_err(io_err)?;
        self.stream = Some(stream);
        let info = Arc::clone(&self.info);
        let mut hs = Handshake::new(&info);
        let result = (|| {
            loop {
                self.wbuf.clear();
                let n = hs.next_batch(&mut self.wbuf);
                if n == 0 {
                    break;
                }
                self.flush()?;
                let mut replies = Vec::with_capacity(n);
                for _ in 0..n {
                    let frame = self.read_frame()?;
                    replies.push(proto::decode_value(&frame)?);
                }
                hs.on_replies(replies)?;
            }
            Ok(())
        })();
        self.wbuf.clear();
        match result {
            Ok(()) => {
                self.server = hs.server_info().clone();
                self.last_used = Instant::now();
                Ok(())
            }
            Err(e) => {
                self.stream = None;
                Err(e)
            }
        }
    }

    /// Reconnects when the last command broke the connection, retrying a few times with a short,
    /// growing pause.
    fn ensure_connected(&mut self) -> Result<()> {
        if self.stream.is_some() {
            return Ok(());
        }
        let mut delay = Duration::from_millis(50);
        let mut attempt = 1;
        loop {
            match self.connect() {
                Ok(()) => return Ok(()),
                Err(e) if e.is_io() && attempt < RECONNECT_ATTEMPTS => {
                    std::thread::sleep(delay);
                    delay *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
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
    pub fn send_as<C: Command + ?Sized, T: FromValkey>(&mut self, cmd: &C) -> Result<T> {
        proto::check_supported(cmd, &self.server)?;
        self.ensure_connected()?;
        self.wbuf.clear();
        encode(cmd, &mut self.wbuf);
        let blocking = cmd.meta().is_some_and(|m| m.is_blocking());
        if blocking && self.info.response_timeout.is_some() {
            // A blocking command waits as long as its own timeout says; no client timeout cuts it.
            self.set_read_timeout(None)?;
        }
        let frame = self.flush().and_then(|()| self.read_frame());
        if blocking && self.info.response_timeout.is_some() && self.stream.is_some() {
            self.set_read_timeout(self.info.response_timeout)?;
        }
        self.last_used = Instant::now();
        proto::decode_reply(&frame?)
    }

    /// Writes the encoded commands in `wbuf`, then reads `n` reply frames, calling `on_frame` for
    /// each (used by pipelines and transactions).
    pub(crate) fn round_trip(&mut self, n: usize, mut on_frame: impl FnMut(Bytes)) -> Result<()> {
        self.ensure_connected()?;
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
        self.last_used = Instant::now();
        Ok(())
    }

    fn write_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
        };
        if let Err(e) = stream.write_all(chunk).and_then(|()| stream.flush()) {
            self.stream = None;
            return Err(Error::io(
                "writing to the server failed; the pipeline's commands may or may not have run",
                e,
            ));
        }
        Ok(())
    }

    /// The write buffer, for pipelines to encode into.
    pub(crate) fn wbuf(&mut self) -> &mut Vec<u8> {
        &mut self.wbuf
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
        if let Some(s) = &self.stream {
            if let Err(e) = s.set_read_timeout(t) {
                self.stream = None;
                return Err(Error::io("could not set the read timeout", e));
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
            return Err(Error::io(
                "writing to the server failed; the command may or may not have reached it",
                e,
            ));
        }
        self.wbuf.clear();
        Ok(())
    }

    /// The next reply already buffered, if any (push frames are set aside).
    fn buffered_frame(&mut self) -> Result<Option<Bytes>> {
        loop {
            match self.rbuf.next_frame() {
                Ok(Some(frame)) if proto::is_push(&frame) => self.keep_push(&frame)?,
                Ok(frame) => return Ok(frame),
                Err(e) => {
                    // The stream is out of step after malformed input: never read on from it.
                    self.stream = None;
                    return Err(e);
                }
            }
        }
    }

    /// Reads whatever the socket has now, without waiting (used between chunks of a large
    /// pipeline, so that replies flow while the rest is written).
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
                        "the server closed the connection during a pipeline; its commands may \
                         or may not have run",
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
            let Some(stream) = self.stream.as_mut() else {
                return Err(Error::new(ErrorKind::Closed, "the connection is closed"));
            };
            match stream.read(self.rbuf.spare()) {
                Ok(0) => {
                    self.stream = None;
                    return Err(Error::new(
                        ErrorKind::Io,
                        "the server closed the connection before replying; the command may \
                         or may not have run",
                    ));
                }
                Ok(n) => self.rbuf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.stream = None;
                    let timeout = matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    );
                    return Err(if timeout {
                        Error::with_source(
                            ErrorKind::Timeout,
                            "no reply within the response timeout; the connection was closed \
                             (the command may or may not have run)",
                            e,
                        )
                    } else {
                        Error::io(
                            "reading from the server failed; the command may or may not have run",
                            e,
                        )
                    });
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

    /// Takes the out-of-band push messages (RESP3 `>`) received so far.
    pub fn take_pushes(&mut self) -> Vec<Value> {
        self.pushes.drain(..).collect()
    }

    /// What the handshake learned about the server (flavor, version, protocol).
    pub fn server_info(&self) -> &ServerInfo {
        &self.server
    }

    /// The settings this connection was opened with.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Whether the socket is open (false after a failure, until the next command reconnects).
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// How long since a command last completed on this connection.
    pub fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("addr", &self.info.addr)
            .field("open", &self.stream.is_some())
            .field("server", &self.server)
            .finish()
    }
}
