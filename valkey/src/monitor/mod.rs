//! MONITOR: every command the server runs, as typed [`MonitorEvent`]s (time, db, client, exact
//! argument bytes), blocking ([`Monitor`]) or async ([`AsyncMonitor`]), always on a connection of
//! its own. The line parser ([`parse_monitor_line`]) is IO-free.
//!
//! ```no_run
//! # fn main() -> valkey::Result<()> {
//! let client = valkey::Client::open("valkey://127.0.0.1:6379")?;
//! let mut monitor = client.get_monitor()?;
//! for event in monitor.iter().take(10) {
//!     match event {
//!         Ok(e) => println!("{} db{} {:?} {:?}", e.secs, e.db, e.client, e.args),
//!         Err(e) if e.is_protocol() => eprintln!("skipped a line: {e}"),
//!         Err(e) => return Err(e),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! A line the parser cannot read is an `Err` item of kind `Protocol`, and the monitor goes on
//! with the next line. A lost connection is an `Err` of another kind and ends the monitor (it
//! does not reconnect: commands run meanwhile could not be shown anyway). MONITOR lines are
//! simple strings in RESP3 too. An idle monitor is silent by nature, so it has no liveness
//! deadline.

mod line;

pub use line::{parse_monitor_line, MonitorClient, MonitorEvent};

use crate::config::ConnectionInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{decode_value, is_push};
use crate::sync::connection::RawRead;
use crate::sync::Connection;
use crate::value::Value;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one frame read by a monitor is: an event, an error item, or nothing for the user.
fn on_frame(frame: &Bytes) -> Option<Result<MonitorEvent>> {
    if is_push(frame) {
        return None;
    }
    Some(match decode_value(frame) {
        Ok(Value::SimpleString(line)) => parse_monitor_line(&line),
        Ok(Value::ServerError(e)) => Err(Error::from_server(e)),
        Ok(other) => Err(Error::protocol(format!(
            "MONITOR sent a {}, not a line",
            other.kind_name()
        ))),
        Err(e) => Err(e),
    })
}

/// Checks MONITOR's answer (`+OK`).
fn check_ok(frame: &Bytes) -> Result<()> {
    match decode_value(frame)? {
        Value::SimpleString(s) if s.as_ref() == b"OK" => Ok(()),
        Value::ServerError(e) => Err(Error::from_server(e)),
        other => Err(Error::protocol(format!(
            "MONITOR answered a {}, not OK",
            other.kind_name()
        ))),
    }
}

/// MONITOR not answered within `wait` (sync and async alike).
fn unanswered(wait: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("no reply within {wait:?} (response_timeout)"),
    )
}

/// Names MONITOR and the server in an error of opening a monitor (the error path only).
#[cold]
fn open_failed(e: Error, info: &ConnectionInfo) -> Error {
    e.in_command("MONITOR".into(), &info.addr)
}

fn encoded_monitor() -> Vec<u8> {
    let mut out = Vec::new();
    crate::cmd::encode(&crate::Cmd::new("MONITOR"), &mut out).expect("a fixed command encodes");
    out
}

/// A blocking MONITOR on a dedicated connection (from [`crate::Client::get_monitor`]).
pub struct Monitor {
    con: Connection,
}

impl Monitor {
    pub(crate) fn open(info: Arc<ConnectionInfo>) -> Result<Monitor> {
        Monitor::open_unnamed(Arc::clone(&info)).map_err(|e| open_failed(e, &info))
    }

    fn open_unnamed(info: Arc<ConnectionInfo>) -> Result<Monitor> {
        let wait = info.response_timeout.unwrap_or(Duration::from_secs(10));
        let mut con = Connection::with_info(info)?;
        con.write_raw(&encoded_monitor())?;
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(unanswered(wait));
            }
            match con.read_raw_within(left)? {
                RawRead::Frame(f) if is_push(&f) => {}
                RawRead::Frame(f) => {
                    check_ok(&f)?;
                    return Ok(Monitor { con });
                }
                RawRead::Partial | RawRead::Silent => {}
            }
        }
    }

    /// The next command seen, waiting at most `timeout`: `Ok(None)` when none came. An `Err`
    /// of kind `Protocol` is one unreadable line (the monitor goes on); any other `Err` means
    /// the connection is gone.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<MonitorEvent>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            // Malformed RESP breaks the stream itself, not one line: that ends the monitor.
            let read = self.con.read_raw_within(left).map_err(|e| {
                if e.is_protocol() {
                    e.with_kind(ErrorKind::Io)
                } else {
                    e
                }
            });
            match read? {
                RawRead::Frame(frame) => {
                    if let Some(item) = on_frame(&frame) {
                        return item.map(Some);
                    }
                }
                _ if Instant::now() >= deadline => return Ok(None),
                RawRead::Partial | RawRead::Silent => {}
            }
        }
    }

    /// A blocking iterator over the commands seen; it ends after the connection is lost (that
    /// error is its last item).
    pub fn iter(&mut self) -> impl Iterator<Item = Result<MonitorEvent>> + '_ {
        let mut done = false;
        std::iter::from_fn(move || loop {
            if done {
                return None;
            }
            match self.next_event(Duration::from_secs(3600)) {
                Ok(Some(e)) => return Some(Ok(e)),
                Ok(None) => {}
                Err(e) => {
                    done = !e.is_protocol();
                    return Some(Err(e));
                }
            }
        })
    }
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

/// An async MONITOR on a dedicated connection (from [`crate::Client::get_async_monitor`]).
#[cfg(feature = "tokio")]
pub struct AsyncMonitor {
    r: crate::aio::stream::BoxRead,
    _w: crate::aio::stream::BoxWrite,
    rbuf: crate::proto::ReadBuffer,
    closed: bool,
}

#[cfg(feature = "tokio")]
impl AsyncMonitor {
    pub(crate) async fn open(info: Arc<ConnectionInfo>) -> Result<AsyncMonitor> {
        let r = AsyncMonitor::open_unnamed(&info).await;
        r.map_err(|e| open_failed(e, &info))
    }

    async fn open_unnamed(info: &ConnectionInfo) -> Result<AsyncMonitor> {
        use tokio::io::AsyncWriteExt;
        let wait = info.response_timeout.unwrap_or(Duration::from_secs(10));
        let (r, mut w, rbuf, _) = crate::aio::stream::establish(info).await?;
        w.write_all(&encoded_monitor())
            .await
            .map_err(|e| Error::io("writing MONITOR failed", e))?;
        let mut m = AsyncMonitor {
            r,
            _w: w,
            rbuf,
            closed: false,
        };
        let ok = tokio::time::timeout(wait, async {
            loop {
                let f = m.frame().await?;
                if !is_push(&f) {
                    return check_ok(&f);
                }
            }
        })
        .await;
        match ok {
            Ok(r) => r.map(|()| m),
            Err(_) => Err(unanswered(wait)),
        }
    }

    async fn frame(&mut self) -> Result<Bytes> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some(f) = self.rbuf.next_frame()? {
                return Ok(f);
            }
            if self.closed {
                return Err(Error::new(
                    ErrorKind::Closed,
                    "the MONITOR connection is closed",
                ));
            }
            match self.r.read(self.rbuf.spare()).await {
                Ok(0) => {
                    self.closed = true;
                    return Err(Error::new(
                        ErrorKind::Io,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => self.rbuf.advance(n),
                Err(e) => {
                    self.closed = true;
                    return Err(Error::io("reading from the server failed", e));
                }
            }
        }
    }

    /// The next command seen. An `Err` of kind `Protocol` is one unreadable line (the monitor
    /// goes on); any other `Err` means the connection is gone. Cancel-safe.
    pub async fn next(&mut self) -> Result<MonitorEvent> {
        loop {
            let f = match self.frame().await {
                Ok(f) => f,
                Err(e) => {
                    if e.is_protocol() {
                        // The stream itself is broken, not one line: it cannot go on.
                        self.closed = true;
                        return Err(e.with_kind(ErrorKind::Io));
                    }
                    return Err(e);
                }
            };
            if let Some(item) = on_frame(&f) {
                return item;
            }
        }
    }
}

#[cfg(feature = "tokio")]
impl std::fmt::Debug for AsyncMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncMonitor")
            .field("closed", &self.closed)
            .finish()
    }
}
