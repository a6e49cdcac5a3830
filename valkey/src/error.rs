//! `Error`: one opaque error type for the whole crate, with a `#[non_exhaustive]` kind and `is_*()`
//! predicates. A server error keeps its code and message; no error ever carries a password.

use crate::value::ServerError;
use std::fmt;

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
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
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
        e.inner.source = Some(Box::new(source));
        e
    }

    /// An error reply from the server. `NOAUTH`, `WRONGPASS` and `NOPERM` on AUTH/HELLO are
    /// classified as [`ErrorKind::Auth`] by the handshake, not here.
    pub fn from_server(err: ServerError) -> Error {
        let mut e = Error::new(ErrorKind::Server, String::new());
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

    /// An I/O error, with what the client was doing.
    pub fn io(context: impl Into<String>, err: std::io::Error) -> Error {
        let kind = match err.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => ErrorKind::Timeout,
            _ => ErrorKind::Io,
        };
        Error::with_source(kind, context, err)
    }

    /// Changes the kind, keeping the rest (e.g. a server error seen during AUTH becomes `Auth`).
    /// A timeout stays visible through [`Error::is_timeout`].
    pub fn with_kind(mut self, kind: ErrorKind) -> Error {
        self.inner.timed_out |= kind == ErrorKind::Timeout;
        self.inner.kind = kind;
        self
    }

    /// A new error of `kind` saying `message`, keeping whether `cause` was a timeout (for the
    /// errors each caller of a failed connection gets).
    pub(crate) fn derived(kind: ErrorKind, message: String, cause: &Error) -> Error {
        let mut e = Error::new(kind, message);
        e.inner.timed_out |= cause.inner.timed_out;
        e
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
    /// `TRYAGAIN`, `LOADING`, `CLUSTERDOWN`, `MASTERDOWN`, `BUSY`). `Unclear` is never retry-safe.
    pub fn is_retry_safe(&self) -> bool {
        match self.inner.kind {
            ErrorKind::NotSent
            | ErrorKind::PoolTimeout
            | ErrorKind::SessionLost
            | ErrorKind::WatchConflict => true,
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
    /// Whether authentication failed.
    pub fn is_auth(&self) -> bool {
        self.inner.kind == ErrorKind::Auth
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.inner.server, self.inner.message.is_empty()) {
            (Some(s), true) => write!(f, "server error: {s}"),
            (Some(s), false) => write!(f, "{}: server error: {s}", self.inner.message),
            (None, _) => f.write_str(&self.inner.message),
        }?;
        if let Some(src) = &self.inner.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.inner.kind)
            .field("message", &self.to_string())
            .finish()
    }
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
