//! `Error`: one opaque error type for the whole crate, with a `#[non_exhaustive]` kind and `is_*()`
//! predicates. A server error keeps its code and message; no error ever carries a password.
//!
//! How an error reads: `[COMMAND on ADDRESS: ]what happened[: server error: CODE message]` (a
//! subscriber's lost connection: `ADDRESS: what happened`). The command and address are
//! attached by the executors, on the error path only. An underlying
//! cause (an `io::Error`, a JSON error) is returned by `source()` and is not repeated in
//! `Display`, so that a report walking the chain (`anyhow`'s `{:#}`) shows it once; the message
//! says in words what happened without it (`connection refused`, `no reply within 500ms`).

use crate::config::Addr;
use crate::value::ServerError;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The crate's `Result`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of failure an [`Error`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The socket failed (connect refused, reset, broken pipe, closed by the server).
    Io,
    /// A connect or response timeout elapsed.
    Timeout,
    /// The server sent bytes that are not valid RESP, or a frame over the configured limits.
    Protocol,
    /// The server answered with an error reply (see [`Error::server_error`]).
    Server,
    /// Authentication failed (wrong password or user, or the server asks for AUTH).
    Auth,
    /// A URL or configuration value is invalid.
    InvalidConfig,
    /// A reply could not be converted into the requested type.
    TypeConversion,
    /// A pool had no free connection before its wait timeout.
    PoolTimeout,
    /// The connected server is too old for (or does not have) the command or argument.
    Unsupported,
    /// The command may or may not have been executed: the connection broke (or the server fell
    /// silent) after it was sent. It was not re-sent; sending it again may apply it twice.
    Unclear,
    /// The command was never sent (the connection broke before it was written and could not be
    /// re-opened, or a session it depended on was lost): it did not run, and sending it again
    /// is safe.
    NotSent,
    /// The connection's session state could not be restored after a reconnect (an open MULTI,
    /// subscriptions, client tracking): the command was not sent.
    SessionLost,
    /// The client or connection was closed.
    Closed,
    /// A transaction was aborted because a watched key changed (EXEC returned nil).
    WatchConflict,
    /// The server rejected a transaction at EXEC because a queued command was invalid.
    ExecAbort,
    /// An argument given to the client is invalid (e.g. NaN as a score).
    InvalidInput,
    /// The server refused the command, a key or a channel for the connection's ACL user
    /// (`NOPERM`); the command did not run. [`Error::server_error`] has the server's words.
    NoPermission,
    /// The client refused the server's TLS certificate: not signed by a trusted CA, expired,
    /// or not valid for the host connected to (the message names the host and the names the
    /// certificate has). Nothing was sent; trying again will not help until the certificate or
    /// the settings change.
    Tls,
    /// A replica refused the command and named its primary (`-REDIRECT host:port`, Valkey 8+,
    /// to a connection that announced [`ConnectionInfo::capa_redirect`](crate::ConnectionInfo::capa_redirect)):
    /// a write, or a read from a connection not in `READONLY` mode. The command did not run;
    /// [`Error::redirect_addr`] is where to send it.
    Redirect,
}

/// An error from the client or the server.
///
/// Ask what it is with [`Error::kind`] or the `is_*()` predicates; a server error keeps the
/// server's code ([`Error::code`]) and message.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    message: String,
    server: Option<ServerError>,
    /// A deadline elapsed (also set on `Unclear` errors caused by a silent server).
    timed_out: bool,
    /// The cause, shared with the errors derived from this one (every caller of a failed
    /// connection gets the same `io::Error` as its source).
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
    /// The command (or batch) and the server it was sent to.
    op: Option<Op>,
}

/// What an error is about: a command (or a batch, `pipeline of 3 (INCR …)`) and the server,
/// or only the server (a subscriber's lost connection).
#[derive(Clone)]
struct Op {
    command: Option<Cow<'static, str>>,
    addr: String,
}

impl Error {
    /// A new error of `kind` with a message saying what went wrong (and, where useful, what to do).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                server: None,
                timed_out: kind == ErrorKind::Timeout,
                source: None,
                op: None,
            }),
        }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        let mut e = Error::new(kind, message);
        e.inner.source = Some(Arc::new(source));
        e
    }

    /// An error reply from the server. `NOAUTH`, `WRONGPASS` and `NOPERM` on AUTH/HELLO are
    /// classified as [`ErrorKind::Auth`] by the handshake, not here.
    pub fn from_server(err: ServerError) -> Error {
        let (kind, message) = match err.code() {
            "NOPERM" => (ErrorKind::NoPermission, String::new()),
            "REDIRECT" => (
                ErrorKind::Redirect,
                format!(
                    "the replica redirects the command to its primary at {}",
                    err.detail()
                ),
            ),
            _ => (ErrorKind::Server, String::new()),
        };
        let mut e = Error::new(kind, message);
        e.inner.server = Some(err);
        e
    }

    /// A conversion error: `expected` what, `got` a description of the value.
    pub fn conversion(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::TypeConversion, message)
    }

    /// A malformed-reply error.
    pub fn protocol(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Protocol, message)
    }

    /// An invalid URL or configuration error.
    pub fn invalid_config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidConfig, message)
    }

    /// An I/O error, with what the client was doing. The message says what happened in words
    /// taken from the error's kind (`could not connect to 127.0.0.1:6379: connection refused`);
    /// the `io::Error` itself is the [`source`](std::error::Error::source).
    pub fn io(context: impl Into<String>, err: std::io::Error) -> Error {
        let kind = match err.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        };
        let mut message = context.into();
        if let Some(what) = io_phrase(err.kind()) {
            message.push_str(": ");
            message.push_str(what);
        }
        Error::with_source(kind, message, err)
    }

    /// A socket operation that hit its timeout (`what` did not happen within `limit`, the
    /// value of `setting`), or failed otherwise ([`Error::io`]). A timeout keeps no source: the
    /// operating system's text (`Resource temporarily unavailable`) would only mislead.
    pub(crate) fn io_within(
        what: impl fmt::Display,
        err: std::io::Error,
        limit: Option<Duration>,
        setting: &str,
    ) -> Error {
        match (err.kind(), limit) {
            (std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock, Some(limit)) => {
                Error::new(
                    ErrorKind::Timeout,
                    format!("{what}: no progress within {limit:?} ({setting})"),
                )
            }
            _ => Error::io(format!("{what} failed"), err),
        }
    }

    /// The connect timeout elapsed before the socket was open and the handshake done (sync
    /// and async alike).
    pub(crate) fn connect_timeout(addr: &Addr, limit: Duration) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!(
                "could not connect to {} and finish the handshake within {limit:?} \
                 (connect_timeout)",
                addr.endpoint()
            ),
        )
    }

    /// A server silent beyond the liveness deadline while replies were due: `limit` is
    /// `response_timeout`, or for a blocking command its own timeout plus it (sync and async
    /// alike). The connection is closed.
    pub(crate) fn silent(limit: Duration, blocking: bool) -> Error {
        let why = if blocking {
            "the blocking command's own timeout plus response_timeout"
        } else {
            "response_timeout, the liveness deadline"
        };
        Error::new(
            ErrorKind::Timeout,
            format!("no reply within {limit:?} ({why}); the connection was closed"),
        )
    }

    /// A blocking command whose server answered no PING on another connection while it
    /// waited (`sent`), or while its own connection was being opened: frozen or unreachable.
    /// Once sent it may have run (an element popped just before the server froze sits in its
    /// send buffer): `Unclear`; before, `NotSent`.
    pub(crate) fn blocked_server_silent(within: Duration, sent: bool) -> Error {
        let e = Error::new(
            ErrorKind::Timeout,
            format!(
                "the server answered no PING within {within:?} (response_timeout) on another \
                 connection while the blocking command waited: frozen or unreachable"
            ),
        );
        if sent {
            e.with_kind(ErrorKind::Unclear)
                .note("the connection was closed; it was sent and may or may not have run")
        } else {
            e.with_kind(ErrorKind::NotSent).note("it was not sent")
        }
    }

    /// Names the command (or batch) and the server the error is about, unless an inner call
    /// named them already. Called on the error path only.
    #[cold]
    pub(crate) fn in_command(mut self, command: Cow<'static, str>, addr: &Addr) -> Error {
        match &mut self.inner.op {
            None => {
                self.inner.op = Some(Op {
                    command: Some(command),
                    addr: addr.endpoint().to_string(),
                })
            }
            Some(op) if op.command.is_none() => op.command = Some(command),
            Some(_) => {}
        }
        self
    }

    /// Names the server the error is about, for an error of no one command (a subscriber's
    /// lost connection): `127.0.0.1:6379: the server closed the connection`.
    #[cold]
    pub(crate) fn at_server(mut self, addr: &Addr) -> Error {
        if self.inner.op.is_none() {
            self.inner.op = Some(Op {
                command: None,
                addr: addr.endpoint().to_string(),
            });
        }
        self
    }

    /// Appends a note to the message (`...; the command may or may not have run`).
    pub(crate) fn note(mut self, note: &str) -> Error {
        self.inner.message.push_str("; ");
        self.inner.message.push_str(note);
        self
    }

    /// Changes the kind, keeping the rest (e.g. a server error seen during AUTH becomes `Auth`).
    /// A timeout stays visible through [`Error::is_timeout`].
    pub fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.inner.timed_out |= kind == ErrorKind::Timeout;
        self.inner.kind = kind;
        self
    }

    /// A new error of `kind` saying `message`, keeping whether `cause` was a timeout and its
    /// source (for the errors each caller of a failed connection gets).
    #[cfg(feature = "tokio")]
    pub(crate) fn derived(kind: ErrorKind, message: String, cause: &Error) -> Error {
        let mut e = Error::new(kind, message);
        e.inner.timed_out |= cause.inner.timed_out;
        e.inner.source = cause.inner.source.clone();
        e
    }

    /// A copy of this error (its cause shared), for the events that hand one error to a
    /// subscriber while the connection keeps its own.
    #[cfg(feature = "tokio")]
    pub(crate) fn duplicate(&self) -> Error {
        let i = &self.inner;
        Error {
            inner: Box::new(Inner {
                kind: i.kind,
                message: i.message.clone(),
                server: i.server.clone(),
                timed_out: i.timed_out,
                source: i.source.clone(),
                op: i.op.clone(),
            }),
        }
    }

    /// The same error, now saying the command was sent and may have run (`Unclear`).
    pub fn unclear(self) -> Error {
        self.with_kind(ErrorKind::Unclear)
    }

    /// The same error, now saying the command was never sent (`NotSent`).
    pub fn not_sent(self) -> Error {
        self.with_kind(ErrorKind::NotSent)
    }

    /// Prefixes the message with context (e.g. the command or field being read).
    pub fn context(mut self, context: impl fmt::Display) -> Error {
        self.inner.message = if self.inner.message.is_empty() {
            context.to_string()
        } else {
            format!("{context}: {}", self.inner.message)
        };
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The command the error is about (`GET`, `CLIENT KILL`, or a batch such as
    /// `pipeline of 3 (INCR …)`), when it came from sending one. Never its arguments.
    pub fn command(&self) -> Option<&str> {
        self.inner.op.as_ref()?.command.as_deref()
    }

    /// The address of the server the command was sent to (`127.0.0.1:6379`, or a Unix
    /// socket's path), when the error came from sending one (or from a subscriber's
    /// connection).
    pub fn server_addr(&self) -> Option<&str> {
        self.inner.op.as_ref().map(|op| op.addr.as_str())
    }

    /// The server's error reply, when the server sent one.
    pub fn server_error(&self) -> Option<&ServerError> {
        self.inner.server.as_ref()
    }

    /// The server's error code (`WRONGTYPE`, `MOVED`, `NOAUTH`, ...), when the server sent one.
    pub fn code(&self) -> Option<&str> {
        self.inner.server.as_ref().map(|s| s.code())
    }

    /// Whether the socket failed (including [`ErrorKind::Unclear`] and [`ErrorKind::NotSent`]).
    pub fn is_io(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::Io | ErrorKind::Unclear | ErrorKind::NotSent | ErrorKind::Closed
        )
    }
    /// Whether a timeout elapsed: a connect, checkout or liveness deadline. An `Unclear` error
    /// caused by a silent server is also a timeout.
    pub fn is_timeout(&self) -> bool {
        self.inner.timed_out
    }
    /// Whether the command certainly did not run, so that sending it again cannot apply it
    /// twice: it was never sent ([`ErrorKind::NotSent`], a pool checkout timeout, a refusal
    /// before sending), or the server refused it without running it (`MOVED`, `ASK`,
    /// `TRYAGAIN`, `LOADING`, `CLUSTERDOWN`, `MASTERDOWN`, `BUSY`, `NOPERM`, `REDIRECT`).
    /// `Unclear` is never
    /// retry-safe.
    pub fn is_retry_safe(&self) -> bool {
        match self.inner.kind {
            ErrorKind::NotSent
            | ErrorKind::PoolTimeout
            | ErrorKind::SessionLost
            | ErrorKind::WatchConflict
            | ErrorKind::NoPermission
            | ErrorKind::Tls
            | ErrorKind::Redirect => true,
            ErrorKind::Server => self.is_moved() || self.is_ask() || self.is_try_again(),
            _ => false,
        }
    }
    /// Whether the command was never sent (it did not run).
    pub fn is_not_sent(&self) -> bool {
        self.inner.kind == ErrorKind::NotSent
    }
    /// Whether the server sent a malformed or oversized reply.
    pub fn is_protocol(&self) -> bool {
        self.inner.kind == ErrorKind::Protocol
    }
    /// Whether this is an error reply from the server.
    pub fn is_server_error(&self) -> bool {
        self.inner.server.is_some()
    }
    /// Whether the server refused the command, a key or a channel for the ACL user
    /// ([`ErrorKind::NoPermission`], `NOPERM`).
    pub fn is_no_permission(&self) -> bool {
        self.inner.kind == ErrorKind::NoPermission
    }
    /// Whether authentication failed.
    pub fn is_auth(&self) -> bool {
        self.inner.kind == ErrorKind::Auth
    }
    /// Whether the client refused the server's TLS certificate ([`ErrorKind::Tls`]).
    pub fn is_tls(&self) -> bool {
        self.inner.kind == ErrorKind::Tls
    }
    /// Whether a URL or configuration value is invalid.
    pub fn is_invalid_config(&self) -> bool {
        self.inner.kind == ErrorKind::InvalidConfig
    }
    /// Whether a reply did not fit the requested type.
    pub fn is_conversion(&self) -> bool {
        self.inner.kind == ErrorKind::TypeConversion
    }
    /// Whether the command may have run although the caller got no reply.
    pub fn is_unclear(&self) -> bool {
        self.inner.kind == ErrorKind::Unclear
    }
    /// Whether the server is a cluster node redirecting to another node (`MOVED`).
    pub fn is_moved(&self) -> bool {
        self.code() == Some("MOVED")
    }
    /// Whether a replica sent the command to its primary (`-REDIRECT host:port`,
    /// [`ErrorKind::Redirect`]).
    pub fn is_redirect(&self) -> bool {
        self.inner.kind == ErrorKind::Redirect
    }
    /// The primary's address of a `-REDIRECT host:port` reply ([`ErrorKind::Redirect`]): host
    /// (an IP, a hostname, or an IPv6 address without brackets) and port.
    pub fn redirect_addr(&self) -> Option<(String, u16)> {
        if !self.is_redirect() {
            return None;
        }
        let detail = self.inner.server.as_ref()?.detail();
        let (host, port) = detail.trim().rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some((host.to_owned(), port.parse().ok()?))
    }
    /// Whether the server asks to retry on another node for this one command (`ASK`).
    pub fn is_ask(&self) -> bool {
        self.code() == Some("ASK")
    }
    /// Whether the server asks to retry later (`TRYAGAIN`, `LOADING`, `BUSY`, `MASTERDOWN`, `CLUSTERDOWN`).
    pub fn is_try_again(&self) -> bool {
        matches!(
            self.code(),
            Some("TRYAGAIN" | "LOADING" | "BUSY" | "MASTERDOWN" | "CLUSTERDOWN")
        )
    }
    /// Whether the server does not know the command.
    pub fn is_unknown_command(&self) -> bool {
        self.code() == Some("ERR")
            && self
                .server_error()
                .is_some_and(|e| e.as_bytes().starts_with(b"ERR unknown command"))
    }
    /// Whether a WATCHed key changed and the transaction was not executed.
    pub fn is_watch_conflict(&self) -> bool {
        self.inner.kind == ErrorKind::WatchConflict
    }
}

/// The error's own text. The cause ([`std::error::Error::source`]) is not repeated: a report
/// that walks the chain (`anyhow`'s `{:#}`) shows it once, after this.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner.op {
            Some(Op {
                command: Some(command),
                addr,
            }) => write!(f, "{command} on {addr}: ")?,
            Some(Op {
                command: None,
                addr,
            }) => write!(f, "{addr}: ")?,
            None => {}
        }
        match (&self.inner.server, self.inner.message.is_empty()) {
            (Some(s), true) => write!(f, "server error: {s}"),
            (Some(s), false) => write!(f, "{}: server error: {s}", self.inner.message),
            (None, _) => f.write_str(&self.inner.message),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.inner.kind)
            .field("message", &self.to_string());
        if let Some(src) = &self.inner.source {
            d.field("source", src);
        }
        d.finish()
    }
}

/// What an I/O error's kind means, in the words of a report; `None` where the kind says
/// nothing more than the error's own text (which the chain shows).
fn io_phrase(kind: std::io::ErrorKind) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset by peer",
        K::ConnectionAborted => "connection aborted",
        K::BrokenPipe => "the connection was closed (broken pipe)",
        K::NotConnected => "not connected",
        K::UnexpectedEof => "the connection was closed",
        K::TimedOut | K::WouldBlock => "timed out",
        K::NotFound => "no such file or socket",
        K::PermissionDenied => "permission denied",
        K::AddrNotAvailable => "address not available",
        K::HostUnreachable => "host unreachable",
        K::NetworkUnreachable => "network unreachable",
        K::InvalidData => "invalid data",
        _ => return None,
    })
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|s| &**s as &(dyn std::error::Error + 'static))
    }
}

impl From<ServerError> for Error {
    fn from(e: ServerError) -> Error {
        Error::from_server(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    /// The error and its causes as `anyhow`'s `{:#}` prints them.
    fn report(e: &Error) -> String {
        let mut out = e.to_string();
        let mut cause = e.source();
        while let Some(c) = cause {
            out.push_str(&format!(": {c}"));
            cause = c.source();
        }
        out
    }

    fn addr() -> Addr {
        Addr::Tcp {
            host: "127.0.0.1".into(),
            port: 6379,
            tls: false,
        }
    }

    #[test]
    fn a_redirect_reply_is_its_own_kind_with_the_primary_address() {
        let e = Error::from_server(ServerError::new("REDIRECT 10.0.0.7:6380"));
        assert!(e.is_redirect() && e.is_retry_safe() && e.is_server_error());
        assert_eq!(e.code(), Some("REDIRECT"));
        assert_eq!(e.redirect_addr(), Some(("10.0.0.7".to_owned(), 6380)));
        assert_eq!(
            e.to_string(),
            "the replica redirects the command to its primary at 10.0.0.7:6380: server error: \
             REDIRECT 10.0.0.7:6380"
        );
        let v6 = Error::from_server(ServerError::new("REDIRECT [::1]:7000"));
        assert_eq!(v6.redirect_addr(), Some(("::1".to_owned(), 7000)));
        // Nothing to read from a garbled one, and no address on other errors.
        let bad = Error::from_server(ServerError::new("REDIRECT nowhere"));
        assert!(bad.is_redirect() && bad.redirect_addr().is_none());
        let other = Error::from_server(ServerError::new("READONLY You can't write"));
        assert!(!other.is_redirect() && other.redirect_addr().is_none());
    }

    #[test]
    fn the_cause_is_the_source_and_not_repeated_in_the_message() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset (os error 104)");
        let e = Error::io("reading the reply failed", io)
            .unclear()
            .note("it was sent and may or may not have run")
            .in_command("BLPOP".into(), &addr());
        assert_eq!(
            e.to_string(),
            "BLPOP on 127.0.0.1:6379: reading the reply failed: connection reset by peer; it was \
             sent and may or may not have run"
        );
        assert_eq!(
            report(&e),
            format!("{e}: reset (os error 104)"),
            "the cause once, after the message"
        );
        let src = e
            .source()
            .unwrap()
            .downcast_ref::<std::io::Error>()
            .unwrap();
        assert_eq!(src.kind(), std::io::ErrorKind::ConnectionReset);
        assert_eq!(e.command(), Some("BLPOP"));
        assert_eq!(e.server_addr(), Some("127.0.0.1:6379"));
    }

    #[test]
    #[cfg(feature = "tokio")]
    fn derived_errors_keep_the_cause_and_the_timeout() {
        let io = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe gone");
        let cause = Error::io("writing to the server failed", io);
        let e = Error::derived(
            ErrorKind::Unclear,
            format!("{cause}; it may have run"),
            &cause,
        );
        assert_eq!(report(&e).matches("pipe gone").count(), 1, "{}", report(&e));
        let silent = Error::silent(Duration::from_millis(500), false);
        let e = Error::derived(ErrorKind::Unclear, silent.to_string(), &silent);
        assert!(e.is_timeout() && e.is_unclear());
        assert!(e.to_string().starts_with("no reply within 500ms"), "{e}");
    }

    #[test]
    fn the_innermost_command_wins_and_a_server_error_keeps_its_code() {
        let e = Error::from_server(ServerError::new("WRONGTYPE Operation against a key"))
            .in_command("INCR".into(), &addr())
            .in_command("pipeline of 2 (INCR …)".into(), &addr());
        assert_eq!(
            e.to_string(),
            "INCR on 127.0.0.1:6379: server error: WRONGTYPE Operation against a key"
        );
        assert_eq!(e.code(), Some("WRONGTYPE"));
        assert!(e.source().is_none());
    }

    #[test]
    fn a_timeout_on_a_socket_states_the_limit_and_drops_the_os_text() {
        let io = std::io::Error::from(std::io::ErrorKind::WouldBlock);
        let e = Error::io_within(
            "writing to the server",
            io,
            Some(Duration::from_millis(250)),
            "response_timeout",
        );
        assert!(e.is_timeout());
        assert_eq!(
            e.to_string(),
            "writing to the server: no progress within 250ms (response_timeout)"
        );
        assert!(e.source().is_none());
        let e = Error::connect_timeout(&addr(), Duration::from_secs(2));
        assert!(e.is_timeout());
        assert!(e.to_string().contains("127.0.0.1:6379") && e.to_string().contains("2s"));
    }
}
