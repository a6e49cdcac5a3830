//! The blocking subscriber: the IO-free core driven over a blocking [`Connection`]'s socket
//! (opened, greeted and re-opened by it), plus the background runner on its own thread.

use super::core::{encode_ping, Confirms, Core, Health};
use super::message::{Confirmation, Family};
use super::{attempt_limit, is_fatal, names, Event, Handlers, DEFAULT_HEALTH_CHECK_INTERVAL};
use crate::config::ConnectionInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::sync::connection::RawRead;
use crate::sync::Connection;
use crate::ToValkeyArgs;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a runner thread looks at its stop flag.
const RUNNER_POLL: Duration = Duration::from_millis(50);

/// A blocking subscriber on a dedicated connection (from [`crate::Client::get_pubsub`]).
///
/// Subscribe with [`PubSub::subscribe`], [`PubSub::psubscribe`] and [`PubSub::ssubscribe`]
/// (each returns once the server confirmed), then read [`Event`]s with
/// [`PubSub::get_message`] or [`PubSub::listen`], or hand it to [`PubSub::run_in_thread`] with
/// [`Handlers`]. Reconnects, the gap event, the health check and the backpressure policy are
/// described in the [module documentation](crate::pubsub).
pub struct PubSub {
    info: Arc<ConnectionInfo>,
    con: Option<Connection>,
    core: Core,
    out: Vec<u8>,
}

impl PubSub {
    pub(crate) fn open(info: Arc<ConnectionInfo>) -> Result<PubSub> {
        let con = Connection::with_info(Arc::clone(&info))?;
        let mut core = Core::new(Some(DEFAULT_HEALTH_CHECK_INTERVAL));
        let mut out = Vec::new();
        core.on_connected(Instant::now(), &mut out)?;
        Ok(PubSub {
            info,
            con: Some(con),
            core,
            out,
        })
    }

    /// Sets how long the subscriber may read nothing before it PINGs the server (`None`: never;
    /// a silent server is then not noticed). Default [`DEFAULT_HEALTH_CHECK_INTERVAL`].
    pub fn set_health_check_interval(&mut self, interval: Option<Duration>) {
        self.core.set_interval(interval);
    }

    /// Subscribes to channels (one name or a list); returns the server's confirmations.
    pub fn subscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, true, names(&channels))
    }

    /// Unsubscribes from channels; an empty list (`()`, `[""; 0]`) unsubscribes from all.
    pub fn unsubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, false, names(&channels))
    }

    /// Subscribes to patterns (`news.*`).
    pub fn psubscribe(&mut self, patterns: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, true, names(&patterns))
    }

    /// Unsubscribes from patterns; an empty list unsubscribes from all.
    pub fn punsubscribe(&mut self, patterns: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, false, names(&patterns))
    }

    /// Subscribes to shard channels (`SSUBSCRIBE`; on a standalone server too).
    pub fn ssubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, true, names(&channels))
    }

    /// Unsubscribes from shard channels; an empty list unsubscribes from all.
    pub fn sunsubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, false, names(&channels))
    }

    /// The channels, patterns or shard channels subscribed to (as asked; they are resubscribed
    /// after a reconnect).
    pub fn subscriptions(&self, family: Family) -> Vec<Bytes> {
        self.core.wanted(family).iter().cloned().collect()
    }

    /// Sends a (un)subscribe and reads until the server confirmed it (messages arriving
    /// meanwhile are kept for the next reads), within the response timeout. An error names
    /// the command and the server.
    fn change(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: Vec<Bytes>,
    ) -> Result<Vec<Confirmation>> {
        let r = self.change_unnamed(family, subscribe, channels);
        r.map_err(|e| super::core::change_failed(e, family, subscribe, &self.info))
    }

    fn change_unnamed(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: Vec<Bytes>,
    ) -> Result<Vec<Confirmation>> {
        self.out.clear();
        self.core
            .begin_change(family, subscribe, &channels, &mut self.out)?;
        self.flush_out();
        let wait = super::core::confirmation_wait(&self.info);
        await_change(self, family, subscribe, &channels, wait)
    }

    /// The next event, waiting at most `timeout` (zero: only what is already there or arrives
    /// at once). `Ok(None)` when nothing came. Reconnects happen inside.
    pub fn get_message(&mut self, timeout: Duration) -> Result<Option<Event>> {
        next_event_within(self, timeout)
    }

    /// A blocking iterator over the events, for ever (an item is `Err` only for what a
    /// reconnect cannot fix by itself, such as a rejected password, or a server error reply).
    pub fn listen(&mut self) -> impl Iterator<Item = Result<Event>> + '_ {
        events(self)
    }

    /// Subscribes to every channel, pattern and shard channel `handlers` has, then runs them on
    /// a thread of its own until [`PubSubThread::stop`] (valkey-py `run_in_thread`).
    pub fn run_in_thread(mut self, handlers: Handlers) -> Result<PubSubThread> {
        for (family, channels) in handlers.subscriptions() {
            self.change(family, true, channels)?;
        }
        PubSubThread::spawn(move |wait| self.get_message(wait), handlers)
    }

    /// One step: reconnect if due, else read once (up to `deadline`, or the health check's
    /// next action), and act on the health check.
    fn pump(&mut self, deadline: Instant) -> Result<()> {
        let now = Instant::now();
        if self.con.is_none() {
            return self.reconnect(now, deadline);
        }
        let wait = match self.core.health(now) {
            Health::Wait(d) => d,
            Health::Ping | Health::Dead => Duration::ZERO,
        };
        let wait = wait.min(deadline.saturating_duration_since(now));
        let con = self.con.as_mut().expect("checked above");
        match con.read_raw_within(wait) {
            Ok(RawRead::Frame(frame)) => match self.core.on_frame(&frame, Instant::now()) {
                Ok(()) => Ok(()),
                Err(e) if e.is_server_error() => Err(e),
                Err(e) => {
                    self.lost(e);
                    Ok(())
                }
            },
            Ok(RawRead::Partial) => {
                self.core.on_bytes(Instant::now());
                Ok(())
            }
            Ok(RawRead::Silent) => {
                let now = Instant::now();
                match self.core.health(now) {
                    Health::Wait(_) => {}
                    Health::Ping => {
                        self.out.clear();
                        encode_ping(&mut self.out)?;
                        self.core.ping_sent(now);
                        self.flush_out();
                    }
                    Health::Dead => {
                        let e = self.core.dead_error();
                        self.lost(e);
                    }
                }
                Ok(())
            }
            Err(e) => {
                self.lost(e);
                Ok(())
            }
        }
    }

    fn reconnect(&mut self, now: Instant, deadline: Instant) -> Result<()> {
        let wait = self.core.reconnect_wait(now);
        if !wait.is_zero() {
            std::thread::sleep(wait.min(deadline.saturating_duration_since(now)));
            return Ok(());
        }
        match Connection::with_info_within(Arc::clone(&self.info), Some(attempt_limit(&self.info)))
        {
            Ok(con) => {
                self.con = Some(con);
                self.out.clear();
                self.core.on_connected(Instant::now(), &mut self.out)?;
                self.flush_out();
                Ok(())
            }
            Err(e) => {
                tracing::debug!("subscriber reconnect failed: {e}");
                self.core.on_connect_failed(Instant::now());
                if is_fatal(&e) {
                    Err(e)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Writes what `out` holds; a failed write is a lost connection.
    fn flush_out(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if let Some(con) = self.con.as_mut() {
            if let Err(e) = con.write_raw(&self.out) {
                self.lost(e);
            }
        }
        self.out.clear();
    }

    fn lost(&mut self, e: Error) {
        tracing::debug!("subscriber connection lost: {e}");
        self.con = None;
        self.core
            .on_lost(e.at_server(&self.info.addr), Instant::now());
    }
}

impl std::fmt::Debug for PubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PubSub")
            .field("addr", &self.info.addr)
            .field("connected", &self.con.is_some())
            .finish()
    }
}

/// A subscriber running its handlers on a thread of its own (from [`PubSub::run_in_thread`],
/// or the cluster subscriber's).
/// Dropping it stops the thread without waiting.
#[derive(Debug)]
pub struct PubSubThread {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
}

impl PubSubThread {
    /// Runs `handlers` on the events `next_event` gives (waiting at most the given time for
    /// one) on a thread of its own, until stopped or an error (the standalone and the cluster
    /// subscriber's runner).
    pub(crate) fn spawn(
        mut next_event: impl FnMut(Duration) -> Result<Option<Event>> + Send + 'static,
        mut handlers: Handlers,
    ) -> Result<PubSubThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("valkey-pubsub".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    if let Some(event) = next_event(RUNNER_POLL)? {
                        handlers.handle(&event);
                    }
                }
                Ok(())
            })
            .map_err(|e| Error::io("could not start the subscriber thread", e))?;
        Ok(PubSubThread {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread (within about 50 ms, or once the handler running now returns, or a
    /// reconnect attempt under way ends: at most 2 s) and closes the connection. Returns the error the thread died of, if it died (an
    /// authentication error on reconnect, a server error reply, a handler that panicked).
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.take().expect("joined once");
        match thread.join() {
            Ok(r) => r,
            Err(panic) => Err(Error::new(
                ErrorKind::Closed,
                format!("a pub/sub handler panicked: {}", panic_text(&*panic)),
            )),
        }
    }

    /// Whether the thread ended (it died of an error, which [`PubSubThread::stop`] returns).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }
}

impl Drop for PubSubThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

pub(crate) fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// What the waiting loops shared by the blocking subscribers (standalone and cluster) need of
/// one: its IO-free core and one IO step.
pub(crate) trait Pump {
    type Core: Confirms;
    fn core(&mut self) -> &mut Self::Core;
    /// One IO step (reconnect, write, read once, health check), waiting until `deadline` at most.
    fn step(&mut self, deadline: Instant) -> Result<()>;
}

impl Pump for PubSub {
    type Core = Core;
    fn core(&mut self) -> &mut Core {
        &mut self.core
    }
    fn step(&mut self, deadline: Instant) -> Result<()> {
        self.pump(deadline)
    }
}

/// Waits, at most `wait`, until the server confirmed the (un)subscribe just requested; its
/// confirmations, or the error (a refused request forgotten).
pub(crate) fn await_change<P: Pump>(
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
        if let Err(e) = p.step(deadline) {
            break Err(e);
        }
    };
    p.core().finish_change(waited, family, subscribe, channels)
}

/// The next event, waiting at most `timeout` (one IO step at least); `Ok(None)` when none came.
pub(crate) fn next_event_within<P: Pump>(p: &mut P, timeout: Duration) -> Result<Option<Event>> {
    let deadline = Instant::now() + timeout;
    let mut tried = false;
    loop {
        if let Some(e) = p.core().ready_event() {
            return Ok(Some(e));
        }
        if tried && Instant::now() >= deadline {
            return Ok(None);
        }
        p.step(deadline)?;
        tried = true;
    }
}

/// The events for ever: an item is `Err` only for what a reconnect cannot fix by itself.
pub(crate) fn events<P: Pump>(p: &mut P) -> impl Iterator<Item = Result<Event>> + '_ {
    std::iter::from_fn(move || loop {
        match next_event_within(p, Duration::from_secs(3600)) {
            Ok(Some(e)) => return Some(Ok(e)),
            Ok(None) => {}
            Err(e) => return Some(Err(e)),
        }
    })
}
