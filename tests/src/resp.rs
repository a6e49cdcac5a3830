//! A tiny blocking RESP2 client for the harness's own use: readiness checks, cluster setup and
//! oracle queries (`COMMAND GETKEYS`, `CLUSTER KEYSLOT`). It is test tooling, deliberately
//! independent of the client under test, so a bug there cannot hide a server that is not ready.

use crate::error::{HarnessError, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

/// One RESP2 reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...` (the whole line after `-`).
    Error(String),
    /// `:42`
    Int(i64),
    /// `$3\r\nfoo`
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`
    Nil,
    /// `*2\r\n...`
    Array(Vec<Reply>),
}

impl Reply {
    /// The text of a status or bulk reply (bulk bytes read as UTF-8, lossily).
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }

    /// The bytes of a bulk or status reply.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Status(s) => Some(s.as_bytes()),
            Reply::Bulk(b) => Some(b),
            _ => None,
        }
    }

    /// The value of an integer reply.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The elements of an array reply.
    pub fn as_array(&self) -> Option<&[Reply]> {
        match self {
            Reply::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}

/// A blocking RESP2 connection (TCP or Unix socket) with read and write timeouts.
pub struct RespConn {
    stream: BufReader<Stream>,
    out: Vec<u8>,
}

/// How long one reply may take before the harness gives up on it.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

impl RespConn {
    /// Connects over TCP within `timeout`.
    pub fn connect(addr: SocketAddr, timeout: Duration) -> std::io::Result<RespConn> {
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_nodelay(true)?;
        tcp.set_read_timeout(Some(IO_TIMEOUT))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(RespConn::new(Stream::Tcp(tcp)))
    }

    /// Connects to a Unix socket.
    pub fn connect_unix(path: &Path) -> std::io::Result<RespConn> {
        let unix = UnixStream::connect(path)?;
        unix.set_read_timeout(Some(IO_TIMEOUT))?;
        unix.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(RespConn::new(Stream::Unix(unix)))
    }

    fn new(stream: Stream) -> RespConn {
        RespConn {
            stream: BufReader::new(stream),
            out: Vec::new(),
        }
    }

    /// Sets the read timeout (`None`: wait forever), e.g. short for probing a paused server.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        match self.stream.get_ref() {
            Stream::Tcp(s) => s.set_read_timeout(timeout),
            Stream::Unix(s) => s.set_read_timeout(timeout),
        }
    }

    /// Sends one command and reads its reply. An error reply is `Ok(Reply::Error)`; only I/O and
    /// protocol failures are `Err`.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<Reply> {
        self.send(args)?;
        self.read_reply()
    }

    /// Sends one command without reading its reply (for pipelining: read with [`Self::read_reply`]).
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> std::io::Result<()> {
        self.out.clear();
        write_command(&mut self.out, args);
        self.stream.get_mut().write_all(&self.out)
    }

    /// Sends several commands in one write and reads their replies in order.
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, commands: &[Vec<A>]) -> std::io::Result<Vec<Reply>> {
        self.out.clear();
        for args in commands {
            write_command(&mut self.out, args);
        }
        self.stream.get_mut().write_all(&self.out)?;
        commands.iter().map(|_| self.read_reply()).collect()
    }

    /// Like [`Self::command`], but an error reply becomes a [`HarnessError`] naming the command.
    pub fn command_ok<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Reply> {
        let name = describe(args);
        match self.command(args) {
            Ok(Reply::Error(e)) => Err(HarnessError::new(format!("{name}: server said {e}"))),
            Ok(reply) => Ok(reply),
            Err(e) => Err(HarnessError::io(name, e)),
        }
    }

    /// Reads one reply.
    pub fn read_reply(&mut self) -> std::io::Result<Reply> {
        let line = self.read_line()?;
        let (kind, rest) = line.split_at(1);
        let text = || String::from_utf8_lossy(rest).into_owned();
        match kind[0] {
            b'+' => Ok(Reply::Status(text())),
            b'-' => Ok(Reply::Error(text())),
            b':' => Ok(Reply::Int(parse_int(rest)?)),
            b'$' => {
                let len = parse_int(rest)?;
                if len < 0 {
                    return Ok(Reply::Nil);
                }
                let mut data = vec![0; len as usize + 2];
                self.stream.read_exact(&mut data)?;
                data.truncate(len as usize);
                Ok(Reply::Bulk(data))
            }
            b'*' => {
                let len = parse_int(rest)?;
                if len < 0 {
                    return Ok(Reply::Nil);
                }
                (0..len)
                    .map(|_| self.read_reply())
                    .collect::<std::io::Result<_>>()
                    .map(Reply::Array)
            }
            other => Err(protocol_error(format!(
                "unexpected RESP2 type byte {:?}",
                other as char
            ))),
        }
    }

    fn read_line(&mut self) -> std::io::Result<Vec<u8>> {
        let mut line = Vec::new();
        self.stream.read_until(b'\n', &mut line)?;
        if line.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        if line.len() < 3 || !line.ends_with(b"\r\n") {
            return Err(protocol_error(format!("malformed RESP line {line:?}")));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

fn write_command<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        let arg = arg.as_ref();
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn parse_int(digits: &[u8]) -> std::io::Result<i64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| protocol_error(format!("bad RESP integer {digits:?}")))
}

fn protocol_error(message: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message)
}

/// The first two arguments, for error messages (never a whole `AUTH` line).
fn describe<A: AsRef<[u8]>>(args: &[A]) -> String {
    let words: Vec<String> = args
        .iter()
        .take(2)
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .collect();
    if words
        .first()
        .is_some_and(|w| w.eq_ignore_ascii_case("AUTH"))
    {
        return "AUTH".to_owned();
    }
    words.join(" ")
}

/// Parses `INFO` output into `(field, value)` pairs (section headers and blank lines skipped).
pub fn parse_info(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// The value of `field` in `INFO`-style `field:value` text.
pub fn info_field<'a>(text: &'a str, field: &str) -> Option<&'a str> {
    parse_info(text)
        .into_iter()
        .find(|(k, _)| *k == field)
        .map(|(_, v)| v)
}
