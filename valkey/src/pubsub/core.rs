//! The subscriber's rules, IO-free, shared by the blocking and the async subscriber: what is
//! wanted and what the server confirmed, the resubscription after a reconnect and the gap event
//! it ends with, the health check's timing, and the reconnect backoff. The drivers only move
//! bytes and time into it and events out of it.

use super::message::{classify, Confirmation, Family, Frame, Message};
use super::{Disconnected, Event, Gap};
use crate::cmd::encode;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::decode_value;
use crate::Cmd;
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

/// The first pause before reconnecting; doubled per failed attempt up to [`MAX_BACKOFF`].
pub(crate) const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// The longest pause between reconnect attempts (a restarted server is back within it).
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// What the health check asks the driver to do now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// Nothing due for this long.
    Wait(Duration),
    /// Send a PING (then wait again).
    Ping,
    /// Nothing was read for a whole interval after a PING: the connection is dead.
    Dead,
}

/// An open gap: when the connection was lost, and why.
#[derive(Debug)]
struct Open {
    at: SystemTime,
    cause: String,
}

/// The subscriber's state, apart from its socket.
#[derive(Debug)]
pub(crate) struct Core {
    /// What the user asked for, per family: resubscribed after every reconnect.
    wanted: [BTreeSet<Bytes>; 3],
    /// What the server confirmed on the current socket.
    active: [BTreeSet<Bytes>; 3],
    /// Connected, i.e. commands may be written now.
    connected: bool,
    /// A gap is open: messages received until everything is confirmed again wait in `held`.
    gap: Option<Open>,
    held: VecDeque<Message>,
    /// Events ready for the user, in order.
    ready: VecDeque<Event>,
    /// The user's unsubscribes the server has not confirmed yet: an unsubscribe confirmation
    /// for anything else that is still wanted was the server's own idea (a cluster node whose
    /// slot moved away ends its shard channels' subscriptions unasked).
    unsubscribing: [BTreeSet<Bytes>; 3],
    /// Whether such unasked unsubscribes are kept in `dropped` (the cluster subscriber's links).
    keeps_dropped: bool,
    dropped: Vec<(Family, Bytes)>,
    /// Confirmations seen while a (un)subscribe call waits for them.
    collecting: bool,
    confirmations: Vec<Confirmation>,
    interval: Option<Duration>,
    last_read: Instant,
    ping_sent: Option<Instant>,
    backoff: Duration,
    next_attempt: Instant,
}

impl Core {
    pub(crate) fn new(health_check_interval: Option<Duration>) -> Core {
        let now = Instant::now();
        Core {
            wanted: Default::default(),
            active: Default::default(),
            connected: false,
            gap: None,
            held: VecDeque::new(),
            ready: VecDeque::new(),
            unsubscribing: Default::default(),
            keeps_dropped: false,
            dropped: Vec::new(),
            collecting: false,
            confirmations: Vec::new(),
            interval: health_check_interval.filter(|d| !d.is_zero()),
            last_read: now,
            ping_sent: None,
            backoff: MIN_BACKOFF,
            next_attempt: now,
        }
    }

    /// The core of one connection of a cluster subscriber: it keeps no gap of its own (the
    /// cluster subscriber keeps one across its connections) and keeps the subscriptions the
    /// server ended unasked for [`Core::take_dropped`].
    #[cfg(feature = "cluster")]
    pub(crate) fn for_cluster_link(health_check_interval: Option<Duration>) -> Core {
        let mut core = Core::new(health_check_interval);
        core.keeps_dropped = true;
        core
    }

    /// Changes the health check's interval (`None` or zero: no health check).
    pub(crate) fn set_interval(&mut self, interval: Option<Duration>) {
        self.interval = interval.filter(|d| !d.is_zero());
        self.ping_sent = None;
    }

    /// The next event for the user, if one is ready.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    /// The channels (or patterns, shard channels) subscribed to, as asked.
    pub(crate) fn wanted(&self, family: Family) -> &BTreeSet<Bytes> {
        &self.wanted[family.index()]
    }

    /// Starts a (un)subscribe the user asked for, as both drivers do before waiting for its
    /// confirmations: the request checked, confirmations collected from here on, the command
    /// encoded into `out` ([`Self::request`]).
    pub(crate) fn begin_change(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: &[Bytes],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        check_request(subscribe, channels)?;
        self.collect_confirmations(true);
        self.request(family, subscribe, channels, out)
    }

    /// Records a (un)subscribe the user asked for and, when connected, encodes the command into
    /// `out`. An empty `channels` unsubscribes from every one of the family.
    pub(crate) fn request(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: &[Bytes],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let i = family.index();
        let wanted = &mut self.wanted[i];
        // Confirmations come only from a socket that is up.
        let unsubscribing = &mut self.unsubscribing[i];
        if subscribe {
            wanted.extend(channels.iter().cloned());
        } else if channels.is_empty() {
            let gone = std::mem::take(wanted);
            if self.connected {
                unsubscribing.extend(gone);
                unsubscribing.extend(self.active[i].iter().cloned());
            }
        } else {
            for c in channels {
                wanted.remove(c);
                if self.connected {
                    unsubscribing.insert(c.clone());
                }
            }
        }
        if self.connected {
            encode_command(family, subscribe, channels, out)?;
        }
        Ok(())
    }

    /// Whether the server's confirmations match a request: every channel subscribed, or none
    /// of them (all of the family, for an empty list) subscribed any more.
    pub(crate) fn is_settled(&self, family: Family, subscribe: bool, channels: &[Bytes]) -> bool {
        let active = &self.active[family.index()];
        if subscribe {
            self.connected && channels.iter().all(|c| active.contains(c))
        } else if channels.is_empty() {
            active.is_empty()
        } else {
            channels.iter().all(|c| !active.contains(c))
        }
    }

    /// Forgets a request the server refused (so a reconnect does not ask again).
    pub(crate) fn revert(&mut self, family: Family, subscribe: bool, channels: &[Bytes]) {
        if subscribe {
            for c in channels {
                if !self.active[family.index()].contains(c) {
                    self.wanted[family.index()].remove(c);
                }
            }
        }
    }

    /// Starts (or stops) keeping confirmations for a waiting (un)subscribe call.
    pub(crate) fn collect_confirmations(&mut self, on: bool) -> Vec<Confirmation> {
        self.collecting = on;
        std::mem::take(&mut self.confirmations)
    }

    /// A new socket is up: encodes every wanted subscription into `out` (one command per
    /// shard channel, so that a cluster-enabled server never sees a cross-slot SSUBSCRIBE).
    pub(crate) fn on_connected(&mut self, now: Instant, out: &mut Vec<u8>) -> Result<()> {
        self.connected = true;
        self.backoff = MIN_BACKOFF;
        self.last_read = now;
        self.ping_sent = None;
        for a in &mut self.active {
            a.clear();
        }
        for family in Family::ALL {
            let wanted: Vec<Bytes> = self.wanted[family.index()].iter().cloned().collect();
            if wanted.is_empty() {
                continue;
            }
            if family == Family::Shard {
                for c in wanted {
                    encode_command(family, true, &[c], out)?;
                }
            } else {
                encode_command(family, true, &wanted, out)?;
            }
        }
        self.maybe_close_gap();
        Ok(())
    }

    /// The socket failed (or was found dead). Opens a gap (once: a failure while resubscribing
    /// keeps the first loss time) and tells the user at once with [`Event::Disconnected`].
    pub(crate) fn on_lost(&mut self, error: Error, now: Instant) {
        self.socket_closed(now);
        if self.gap.is_none() {
            let at = SystemTime::now();
            self.gap = Some(Open {
                at,
                cause: error.to_string(),
            });
            self.ready
                .push_back(Event::Disconnected(Disconnected { at, error }));
        }
    }

    /// The socket is gone: nothing is confirmed any more and commands wait for the next one
    /// (the gap is the caller's: [`Core::on_lost`] or the cluster subscriber).
    pub(crate) fn socket_closed(&mut self, now: Instant) {
        self.connected = false;
        self.ping_sent = None;
        for a in &mut self.active {
            a.clear();
        }
        for u in &mut self.unsubscribing {
            u.clear();
        }
        self.next_attempt = now;
    }

    /// A reconnect attempt failed: the next one waits longer (up to [`MAX_BACKOFF`]).
    pub(crate) fn on_connect_failed(&mut self, now: Instant) {
        self.next_attempt = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    /// How long until the next reconnect attempt may start.
    pub(crate) fn reconnect_wait(&self, now: Instant) -> Duration {
        self.next_attempt.saturating_duration_since(now)
    }

    /// Bytes arrived (perhaps not a whole frame yet): the server is alive.
    pub(crate) fn on_bytes(&mut self, now: Instant) {
        self.last_read = now;
        self.ping_sent = None;
    }

    /// Takes one frame read from the socket. An error reply is returned (the connection stays
    /// in step); a malformed pub/sub frame is a protocol error (the socket must be dropped).
    pub(crate) fn on_frame(&mut self, frame: &Bytes, now: Instant) -> Result<()> {
        self.last_read = now;
        self.ping_sent = None;
        match classify(decode_value(frame)?)? {
            Frame::Message(m) => {
                if self.gap.is_some() {
                    self.held.push_back(m);
                } else {
                    self.ready.push_back(Event::Message(m));
                }
            }
            Frame::Confirmation(c) => {
                if let Some(ch) = &c.channel {
                    let i = c.family.index();
                    if c.subscribed {
                        self.active[i].insert(ch.clone());
                    } else {
                        self.active[i].remove(ch);
                        let asked = self.unsubscribing[i].remove(ch);
                        if !asked && self.keeps_dropped && self.wanted[i].contains(ch) {
                            self.dropped.push((c.family, ch.clone()));
                        }
                    }
                }
                if self.collecting {
                    self.confirmations.push(c);
                }
                self.maybe_close_gap();
            }
            Frame::Pong | Frame::Other => {}
            Frame::Error(e) => return Err(Error::from_server(e)),
        }
        Ok(())
    }

    /// The subscriptions the server ended without being asked since the last call (cluster
    /// links only); they are still wanted.
    #[cfg(feature = "cluster")]
    pub(crate) fn take_dropped(&mut self) -> Vec<(Family, Bytes)> {
        std::mem::take(&mut self.dropped)
    }

    /// Stops wanting `channels` of `family` without the user asking (they now belong on another
    /// connection): nothing is resubscribed for them, and the ones the server has confirmed are
    /// unsubscribed (one command each: a cluster node refuses cross-slot shard commands).
    #[cfg(feature = "cluster")]
    pub(crate) fn release(
        &mut self,
        family: Family,
        channels: &[Bytes],
        out: &mut Vec<u8>,
    ) -> Result<()> {
        let i = family.index();
        for c in channels {
            self.wanted[i].remove(c);
            if self.connected && self.active[i].contains(c) {
                self.unsubscribing[i].insert(c.clone());
                encode_command(family, false, std::slice::from_ref(c), out)?;
            }
        }
        Ok(())
    }

    /// Whether the socket is up.
    #[cfg(feature = "cluster")]
    pub(crate) fn is_connected(&self) -> bool {
        self.connected
    }

    /// Whether the server confirmed `channel` of `family` on the current socket.
    #[cfg(feature = "cluster")]
    pub(crate) fn is_active(&self, family: Family, channel: &Bytes) -> bool {
        self.active[family.index()].contains(channel)
    }

    /// Whether nothing is wanted of any family.
    #[cfg(feature = "cluster")]
    pub(crate) fn wants_nothing(&self) -> bool {
        self.wanted.iter().all(BTreeSet::is_empty)
    }

    /// Closes an open gap once connected with every wanted subscription confirmed: the
    /// [`Event::Gap`] goes out, then the messages held meanwhile.
    fn maybe_close_gap(&mut self) {
        if !self.connected || self.gap.is_none() {
            return;
        }
        let all = Family::ALL
            .iter()
            .all(|f| self.wanted[f.index()].is_subset(&self.active[f.index()]));
        if !all {
            return;
        }
        let open = self.gap.take().expect("checked above");
        self.ready.push_back(Event::Gap(Gap {
            lost_at: open.at,
            resubscribed_at: SystemTime::now(),
            cause: open.cause,
        }));
        self.ready.extend(self.held.drain(..).map(Event::Message));
    }

    /// What the health check wants now. A driver acts on `Ping`/`Dead` only after a read
    /// attempt that found nothing, so time the consumer spent away is never taken for silence.
    pub(crate) fn health(&mut self, now: Instant) -> Health {
        let Some(interval) = self.interval else {
            return Health::Wait(Duration::from_secs(3600));
        };
        match self.ping_sent {
            Some(sent) => {
                let due = sent + interval;
                if now >= due {
                    Health::Dead
                } else {
                    Health::Wait(due - now)
                }
            }
            None => {
                let due = self.last_read + interval;
                if now >= due {
                    Health::Ping
                } else {
                    Health::Wait(due - now)
                }
            }
        }
    }

    /// A PING was written.
    pub(crate) fn ping_sent(&mut self, now: Instant) {
        self.ping_sent = Some(now);
    }

    /// The health check's error for a connection found dead.
    pub(crate) fn dead_error(&self) -> Error {
        let i = self.interval.unwrap_or_default();
        Error::new(
            crate::ErrorKind::Timeout,
            format!(
                "the server sent nothing for {i:?} after a PING (health check every {i:?}); \
                 the connection was closed"
            ),
        )
    }
}

/// Encodes a PING into `out`.
/// A (un)subscribe request must name something to subscribe to.
pub(crate) fn check_request(subscribe: bool, channels: &[Bytes]) -> Result<()> {
    if subscribe && channels.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "subscribe to what? no channel or pattern was given",
        ));
    }
    Ok(())
}

/// How long a (un)subscribe call waits for its confirmations.
pub(crate) fn confirmation_wait(info: &crate::ConnectionInfo) -> Duration {
    info.response_timeout.unwrap_or(Duration::from_secs(10))
}

/// The error of a (un)subscribe not confirmed in time (it stays requested).
pub(crate) fn unconfirmed(wait: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!(
            "no confirmation within {wait:?} (response_timeout); it stays requested and is sent \
             again after a reconnect"
        ),
    )
}

/// Names the (un)subscribe command and the server in an error of [`PubSub`]'s and
/// [`AsyncPubSub`]'s calls (the error path only).
///
/// [`PubSub`]: super::PubSub
/// [`AsyncPubSub`]: super::AsyncPubSub
#[cold]
pub(crate) fn change_failed(
    e: Error,
    family: Family,
    subscribe: bool,
    info: &crate::ConnectionInfo,
) -> Error {
    e.in_command(family.command(subscribe).into(), &info.addr)
}

pub(crate) fn encode_ping(out: &mut Vec<u8>) -> Result<()> {
    encode(&Cmd::new("PING"), out)
}

fn encode_command(
    family: Family,
    subscribe: bool,
    channels: &[Bytes],
    out: &mut Vec<u8>,
) -> Result<()> {
    let mut cmd = Cmd::new(family.command(subscribe));
    for c in channels {
        cmd.push_arg(c.as_ref());
    }
    encode(&cmd, out)
}

/// What the drivers' waiting loops ask of an IO-free subscriber core, standalone ([`Core`]) or
/// cluster (`ClusterCore`): the events ready for the user and the state of a (un)subscribe.
pub(crate) trait Confirms {
    /// The next event for the user, if one is ready.
    fn ready_event(&mut self) -> Option<Event>;
    /// Whether the server confirmed the request.
    fn settled(&self, family: Family, subscribe: bool, channels: &[Bytes]) -> bool;
    /// Forgets a request the server refused.
    fn refused(&mut self, family: Family, subscribe: bool, channels: &[Bytes]);
    /// Starts (or stops) keeping confirmations; what was kept so far.
    fn confirmations(&mut self, on: bool) -> Vec<Confirmation>;

    /// How a wait for a request's confirmations ended: its confirmations, or its error (after
    /// forgetting a request the server refused).
    fn finish_change(
        &mut self,
        waited: Result<()>,
        family: Family,
        subscribe: bool,
        channels: &[Bytes],
    ) -> Result<Vec<Confirmation>> {
        let confirmations = self.confirmations(false);
        match waited {
            Ok(()) => Ok(confirmations),
            Err(e) => {
                if e.is_server_error() {
                    self.refused(family, subscribe, channels);
                }
                Err(e)
            }
        }
    }
}

impl Confirms for Core {
    fn ready_event(&mut self) -> Option<Event> {
        self.next_event()
    }
    fn settled(&self, family: Family, subscribe: bool, channels: &[Bytes]) -> bool {
        self.is_settled(family, subscribe, channels)
    }
    fn refused(&mut self, family: Family, subscribe: bool, channels: &[Bytes]) {
        self.revert(family, subscribe, channels);
    }
    fn confirmations(&mut self, on: bool) -> Vec<Confirmation> {
        self.collect_confirmations(on)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    fn push(parts: &[&str], int_last: bool) -> Bytes {
        let mut s = format!(">{}\r\n", parts.len());
        for (i, p) in parts.iter().enumerate() {
            if int_last && i == parts.len() - 1 {
                s.push_str(&format!(":{p}\r\n"));
            } else {
                s.push_str(&format!("${}\r\n{p}\r\n", p.len()));
            }
        }
        Bytes::from(s)
    }

    #[test]
    fn a_gap_closes_when_everything_is_confirmed_and_comes_before_held_messages() {
        let now = Instant::now();
        let mut c = Core::new(None);
        let mut out = Vec::new();
        c.request(Family::Channel, true, &[b("a"), b("b")], &mut out)
            .unwrap();
        c.request(Family::Shard, true, &[b("s")], &mut out).unwrap();
        assert!(out.is_empty(), "nothing is written while disconnected");
        c.on_connected(now, &mut out).unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(
            text.contains("SUBSCRIBE") && text.contains("SSUBSCRIBE"),
            "{text}"
        );
        for f in [
            push(&["subscribe", "a", "1"], true),
            push(&["subscribe", "b", "2"], true),
            push(&["ssubscribe", "s", "1"], true),
        ] {
            c.on_frame(&f, now).unwrap();
        }
        assert!(c.next_event().is_none(), "no gap on the first connect");
        c.on_lost(Error::new(crate::ErrorKind::Io, "gone"), now);
        assert!(matches!(c.next_event(), Some(Event::Disconnected(_))));
        c.on_lost(Error::new(crate::ErrorKind::Io, "again"), now);
        assert!(c.next_event().is_none(), "one Disconnected per gap");
        out.clear();
        c.on_connected(now, &mut out).unwrap();
        c.on_frame(&push(&["subscribe", "a", "1"], true), now)
            .unwrap();
        c.on_frame(&push(&["message", "a", "early"], false), now)
            .unwrap();
        c.on_frame(&push(&["subscribe", "b", "2"], true), now)
            .unwrap();
        assert!(c.next_event().is_none(), "held until all are confirmed");
        c.on_frame(&push(&["ssubscribe", "s", "1"], true), now)
            .unwrap();
        let Some(Event::Gap(g)) = c.next_event() else {
            panic!("gap first")
        };
        assert!(g.cause.contains("gone"));
        assert!(g.resubscribed_at >= g.lost_at);
        assert!(matches!(c.next_event(), Some(Event::Message(m)) if m.payload() == "early"));
    }

    #[test]
    fn health_pings_after_an_idle_interval_and_declares_death_after_another() {
        let t0 = Instant::now();
        let i = Duration::from_secs(1);
        let mut c = Core::new(Some(i));
        c.on_connected(t0, &mut Vec::new()).unwrap();
        assert_eq!(c.health(t0), Health::Wait(i));
        assert_eq!(c.health(t0 + i), Health::Ping);
        c.ping_sent(t0 + i);
        assert_eq!(c.health(t0 + i + i / 2), Health::Wait(i / 2));
        // RESP2's subscribed-mode pong resets it.
        c.on_frame(
            &Bytes::from_static(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
            t0 + i + i / 2,
        )
        .unwrap();
        assert_eq!(c.health(t0 + 2 * i), Health::Wait(i / 2));
        c.ping_sent(t0 + 3 * i);
        assert_eq!(c.health(t0 + 4 * i), Health::Dead);
    }

    #[test]
    fn unsubscribing_settles_and_refused_subscriptions_are_forgotten() {
        let now = Instant::now();
        let mut c = Core::new(None);
        let mut out = Vec::new();
        c.on_connected(now, &mut out).unwrap();
        c.request(Family::Pattern, true, &[b("p*")], &mut out)
            .unwrap();
        assert!(!c.is_settled(Family::Pattern, true, &[b("p*")]));
        c.on_frame(&push(&["psubscribe", "p*", "1"], true), now)
            .unwrap();
        assert!(c.is_settled(Family::Pattern, true, &[b("p*")]));
        c.request(Family::Pattern, false, &[], &mut out).unwrap();
        assert!(!c.is_settled(Family::Pattern, false, &[]));
        c.on_frame(&push(&["punsubscribe", "p*", "0"], true), now)
            .unwrap();
        assert!(c.is_settled(Family::Pattern, false, &[]));
        c.request(Family::Channel, true, &[b("x")], &mut out)
            .unwrap();
        let e = c
            .on_frame(&Bytes::from_static(b"-NOPERM no\r\n"), now)
            .unwrap_err();
        assert_eq!(e.code(), Some("NOPERM"));
        c.revert(Family::Channel, true, &[b("x")]);
        assert!(c.wanted(Family::Channel).is_empty());
    }
}
