//! The async subscriber: the IO-free core driven over a tokio socket opened and greeted by the
//! async connection's `establish`, plus the spawned runner with a stop handle.

use super::blocking::panic_text;
use super::core::{encode_ping, Confirms, Core, Health};
use super::message::{Confirmation, Family};
use super::{attempt_limit, is_fatal, names, Event, Handlers, DEFAULT_HEALTH_CHECK_INTERVAL};
use crate::aio::stream::{establish, BoxRead, BoxWrite};
use crate::config::ConnectionInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::ReadBuffer;
use crate::ToValkeyArgs;
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

struct Io {
    r: BoxRead,
    w: BoxWrite,
    rbuf: ReadBuffer,
}

/// An async subscriber on a dedicated connection (from
/// [`crate::Client::get_async_pubsub`]): the async twin of [`super::PubSub`], with the same
/// reconnects, gap events, health check and backpressure policy (see the
/// [module documentation](crate::pubsub)).
///
/// Read events with [`AsyncPubSub::next`] (`while let Ok(e) = sub.next().await`); the crate
/// does not depend on `futures`, so this is an inherent method rather than a `Stream` impl
/// (wrap it with `futures::stream::unfold` if you need one). `next` is cancel-safe: dropping
/// it (in a `select!`, a timeout) loses nothing.
pub struct AsyncPubSub {
    info: Arc<ConnectionInfo>,
    io: Option<Io>,
    core: Core,
    /// Encoded commands not yet fully written, and how much of them was.
    out: Vec<u8>,
    written: usize,
}

impl AsyncPubSub {
    pub(crate) async fn open(info: Arc<ConnectionInfo>) -> Result<AsyncPubSub> {
        let (r, w, rbuf, _) = establish(&info).await?;
        let mut core = Core::new(Some(DEFAULT_HEALTH_CHECK_INTERVAL));
        let mut out = Vec::new();
        core.on_connected(std::time::Instant::now(), &mut out)?;
        Ok(AsyncPubSub {
            info,
            io: Some(Io { r, w, rbuf }),
            core,
            out,
            written: 0,
        })
    }

    /// Sets how long the subscriber may read nothing before it PINGs the server (`None`: never).
    /// Default [`DEFAULT_HEALTH_CHECK_INTERVAL`].
    pub fn set_health_check_interval(&mut self, interval: Option<Duration>) {
        self.core.set_interval(interval);
    }

    /// Subscribes to channels (one name or a list); returns the server's confirmations.
    pub async fn subscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, true, names(&channels)).await
    }

    /// Unsubscribes from channels; an empty list (`None::<&str>`) unsubscribes from all.
    pub async fn unsubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, false, names(&channels)).await
    }

    /// Subscribes to patterns.
    pub async fn psubscribe(&mut self, patterns: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, true, names(&patterns)).await
    }

    /// Unsubscribes from patterns; an empty list unsubscribes from all.
    pub async fn punsubscribe(&mut self, patterns: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, false, names(&patterns)).await
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`; on a standalone server too).
    pub async fn ssubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, true, names(&channels)).await
    }

    /// Unsubscribes from shard channels; an empty list unsubscribes from all.
    pub async fn sunsubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, false, names(&channels)).await
    }

    /// The channels, patterns or shard channels subscribed to (as asked).
    pub fn subscriptions(&self, family: Family) -> Vec<Bytes> {
        self.core.wanted(family).iter().cloned().collect()
    }

    /// Sends a (un)subscribe and waits for its confirmations; an error names the command and
    /// the server.
    async fn change(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: Vec<Bytes>,
    ) -> Result<Vec<Confirmation>> {
        let r = self.change_unnamed(family, subscribe, channels).await;
        r.map_err(|e| super::core::change_failed(e, family, subscribe, &self.info))
    }

    async fn change_unnamed(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: Vec<Bytes>,
    ) -> Result<Vec<Confirmation>> {
        self.core
            .begin_change(family, subscribe, &channels, &mut self.out)?;
        let wait = super::core::confirmation_wait(&self.info);
        await_change(self, family, subscribe, &channels, wait).await
    }

    /// The next event, waiting as long as it takes (reconnecting inside). An error is what a
    /// reconnect cannot fix by itself (a rejected password) or a server error reply; the
    /// subscriber stays usable.
    pub async fn next(&mut self) -> Result<Event> {
        next_event(self).await
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` when nothing came.
    pub async fn get_message(&mut self, timeout: Duration) -> Result<Option<Event>> {
        next_event_within(self, timeout).await
    }

    /// Subscribes to everything `handlers` has, then runs them on a spawned task until
    /// [`AsyncPubSubTask::stop`].
    pub async fn run(mut self, handlers: Handlers) -> Result<AsyncPubSubTask> {
        for (family, channels) in handlers.subscriptions() {
            self.change(family, true, channels).await?;
        }
        Ok(AsyncPubSubTask::spawn(self, handlers))
    }

    /// One step: finish writing, reconnect if due, else read once (up to `deadline` or the
    /// health check's next action) and act on the health check. Cancel-safe.
    async fn pump(&mut self, deadline: Instant) -> Result<()> {
        let Some(io) = self.io.as_mut() else {
            return self.reconnect(deadline).await;
        };
        if self.written < self.out.len() {
            match io.w.write(&self.out[self.written..]).await {
                Ok(0) => self.lost(Error::new(ErrorKind::Io, "the socket accepts no more")),
                Ok(n) => {
                    self.written += n;
                    if self.written == self.out.len() {
                        self.out.clear();
                        self.written = 0;
                    }
                }
                Err(e) => self.lost(Error::io("writing to the server failed", e)),
            }
            return Ok(());
        }
        let now = Instant::now();
        let wait = match self.core.health(now.into_std()) {
            Health::Wait(d) => d,
            Health::Ping | Health::Dead => Duration::ZERO,
        };
        let wait = wait
            .min(deadline.saturating_duration_since(now))
            .max(Duration::from_millis(1));
        if let Some(r) = next_buffered(io, &mut self.core) {
            return r.or_else(|e| self.on_error(e));
        }
        match tokio::time::timeout(wait, io.r.read(io.rbuf.spare())).await {
            Ok(Ok(0)) => self.lost(Error::new(
                ErrorKind::Io,
                "the server closed the connection",
            )),
            Ok(Ok(n)) => {
                io.rbuf.advance(n);
                self.core.on_bytes(std::time::Instant::now());
                if let Some(r) = next_buffered(io, &mut self.core) {
                    return r.or_else(|e| self.on_error(e));
                }
            }
            Ok(Err(e)) => self.lost(Error::io("reading from the server failed", e)),
            Err(_) => {
                let now = std::time::Instant::now();
                match self.core.health(now) {
                    Health::Wait(_) => {}
                    Health::Ping => {
                        encode_ping(&mut self.out)?;
                        self.core.ping_sent(now);
                    }
                    Health::Dead => {
                        let e = self.core.dead_error();
                        self.lost(e);
                    }
                }
            }
        }
        Ok(())
    }

    /// A frame error: a server error reply is the caller's; anything else (malformed input)
    /// ends the socket.
    fn on_error(&mut self, e: Error) -> Result<()> {
        if e.is_server_error() {
            return Err(e);
        }
        self.lost(e);
        Ok(())
    }

    async fn reconnect(&mut self, deadline: Instant) -> Result<()> {
        let now = Instant::now();
        let wait = self.core.reconnect_wait(now.into_std());
        if !wait.is_zero() {
            tokio::time::sleep(wait.min(deadline.saturating_duration_since(now))).await;
            return Ok(());
        }
        let limit = attempt_limit(&self.info);
        let attempt = match tokio::time::timeout(limit, establish(&self.info)).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("reconnecting took longer than {limit:?}"),
            )),
        };
        match attempt {
            Ok((r, w, rbuf, _)) => {
                self.io = Some(Io { r, w, rbuf });
                self.out.clear();
                self.written = 0;
                self.core
                    .on_connected(std::time::Instant::now(), &mut self.out)?;
                Ok(())
            }
            Err(e) => {
                tracing::debug!("subscriber reconnect failed: {e}");
                self.core.on_connect_failed(std::time::Instant::now());
                if is_fatal(&e) {
                    Err(e)
                } else {
                    Ok(())
                }
            }
        }
    }

    fn lost(&mut self, e: Error) {
        tracing::debug!("subscriber connection lost: {e}");
        self.io = None;
        self.out.clear();
        self.written = 0;
        self.core
            .on_lost(e.at_server(&self.info.addr), std::time::Instant::now());
    }
}

/// Feeds every complete frame in the read buffer to the core: `None` when there was none.
fn next_buffered(io: &mut Io, core: &mut Core) -> Option<Result<()>> {
    let mut any = false;
    loop {
        match io.rbuf.next_frame() {
            Ok(Some(frame)) => {
                any = true;
                if let Err(e) = core.on_frame(&frame, std::time::Instant::now()) {
                    return Some(Err(e));
                }
            }
            Ok(None) => return any.then_some(Ok(())),
            Err(e) => return Some(Err(e)),
        }
    }
}

impl std::fmt::Debug for AsyncPubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncPubSub")
            .field("addr", &self.info.addr)
            .field("connected", &self.io.is_some())
            .finish()
    }
}

/// A subscriber running its handlers on a spawned task (from [`AsyncPubSub::run`], or the
/// cluster subscriber's). Dropping it stops the task.
#[derive(Debug)]
pub struct AsyncPubSubTask {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<()>>,
}

/// What the waiting loops shared by the async subscribers (standalone and cluster) need of
/// one: its IO-free core and one cancel-safe IO step.
pub(crate) trait AsyncPump: Send {
    type Core: Confirms + Send;
    fn core(&mut self) -> &mut Self::Core;
    /// One IO step (reconnect, write, read, health check), waiting until `deadline` at most.
    fn step(&mut self, deadline: Instant) -> impl Future<Output = Result<()>> + Send;
}

impl AsyncPump for AsyncPubSub {
    type Core = Core;
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }
    fn step(&mut self, deadline: Instant) -> impl Future<Output = Result<()>> + Send {
        self.pump(deadline)
    }
}

/// Waits, at most `wait`, until the server confirmed the (un)subscribe just requested; its
/// confirmations, or the error (a refused request forgotten).
pub(crate) async fn await_change<P: AsyncPump>(
    p: &mut P,
    family: Family,
    subscribe: bool,
    channels: &[Bytes],
    wait: Duration,
) -> Result<Vec<Confirmation>> {
    let deadline = Instant::now() + wait;
    let waited = loop {
        if p.core().settled(family, subscribe, channels) {
            break Ok(());
        }
        if Instant::now() >= deadline {
            break Err(super::core::unconfirmed(wait));
        }
        if let Err(e) = p.step(deadline).await {
            break Err(e);
        }
    };
    p.core().finish_change(waited, family, subscribe, channels)
}

/// The next event, waiting as long as it takes. Cancel-safe.
pub(crate) async fn next_event<P: AsyncPump>(p: &mut P) -> Result<Event> {
    loop {
        if let Some(e) = p.core().ready_event() {
            return Ok(e);
        }
        let far = Instant::now() + Duration::from_secs(3600);
        p.step(far).await?;
    }
}

/// The next event, waiting at most `timeout` (one IO step at least); `Ok(None)` when none came.
pub(crate) async fn next_event_within<P: AsyncPump>(
    p: &mut P,
    timeout: Duration,
) -> Result<Option<Event>> {
    let deadline = Instant::now() + timeout;
    let mut tried = false;
    loop {
        if let Some(e) = p.core().ready_event() {
            return Ok(Some(e));
        }
        if tried && Instant::now() >= deadline {
            return Ok(None);
        }
        p.step(deadline).await?;
        tried = true;
    }
}

/// A subscriber whose events a runner task reads (the standalone and the cluster one).
pub(crate) trait NextEvent: Send + 'static {
    /// The next event; cancel-safe.
    fn next_event(&mut self) -> impl Future<Output = Result<Event>> + Send;
}

impl NextEvent for AsyncPubSub {
    fn next_event(&mut self) -> impl Future<Output = Result<Event>> + Send {
        self.next()
    }
}

impl AsyncPubSubTask {
    /// Runs `handlers` on `subscriber`'s events on a spawned task until stopped or an error.
    pub(crate) fn spawn(mut subscriber: impl NextEvent, mut handlers: Handlers) -> AsyncPubSubTask {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                // The stop signal first, then the next event (`next_event` is cancel-safe).
                let next = subscriber.next_event();
                let mut next = std::pin::pin!(next);
                let event = std::future::poll_fn(|cx| {
                    if std::pin::Pin::new(&mut stopped).poll(cx).is_ready() {
                        return std::task::Poll::Ready(None);
                    }
                    next.as_mut().poll(cx).map(Some)
                })
                .await;
                match event {
                    None => return Ok(()),
                    Some(event) => handlers.handle(&event?),
                }
            }
        });
        AsyncPubSubTask {
            stop: Some(stop),
            task,
        }
    }

    /// Stops the task (at once, or once the handler running now returns) and closes the
    /// connection. Returns the error the task died of, if it died.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) if e.is_panic() => Err(Error::new(
                ErrorKind::Closed,
                format!(
                    "a pub/sub handler panicked: {}",
                    panic_text(&*e.into_panic())
                ),
            )),
            Err(_) => Err(Error::new(
                ErrorKind::Closed,
                "the subscriber task was cancelled",
            )),
        }
    }

    /// Whether the task ended (it died of an error, which [`AsyncPubSubTask::stop`] returns).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

impl Drop for AsyncPubSubTask {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
