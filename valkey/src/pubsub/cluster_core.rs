//! The cluster subscriber's rules, IO-free, shared by the blocking and the async cluster
//! subscriber: which connection each subscription rides (channels and patterns on one
//! connection to any node, each shard channel on its slot's primary), how subscriptions follow
//! slot moves and failovers, and one loss (one `Disconnected`, one `Gap`) across all of them.
//! Each connection is a standalone subscriber's [`Core`]; the drivers move bytes, time and the
//! topology in, and events out.

use super::core::{Core, Health, MAX_BACKOFF, MIN_BACKOFF};
use super::message::{Confirmation, Family, Message, MessageKind};
use super::{Disconnected, Event, Gap};
use crate::cluster::{NodeAddr, Redirect, SlotMap};
use crate::error::{Error, ErrorKind, Result};
use crate::routing::slot;
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

/// One connection of a cluster subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum LinkId {
    /// Channels and patterns: one connection to any node (the cluster broadcasts `PUBLISH` to
    /// every node).
    Broadcast,
    /// The shard channels of the slots this primary serves.
    Shard(NodeAddr),
}

/// A connection's state apart from its socket.
#[derive(Debug)]
pub(crate) struct Link {
    /// Where it connects: a shard link's primary; the broadcast link's node (`None`: to be
    /// chosen from the next topology).
    pub(crate) addr: Option<NodeAddr>,
    pub(crate) core: Core,
    /// Encoded commands for its socket not written yet, and how much of them was (async).
    pub(crate) out: Vec<u8>,
    pub(crate) written: usize,
}

/// The topology as placement needs it.
pub(crate) struct View<'a> {
    pub(crate) map: &'a SlotMap,
    pub(crate) tls: bool,
}

impl View<'_> {
    fn owner(&self, channel: &[u8]) -> Option<NodeAddr> {
        self.map.primary_addr(slot(channel), self.tls)
    }
}

/// An open loss: when it started, why, which subscriptions it cost, and the messages of those
/// subscriptions that came back before all of them did (delivered after the gap event).
#[derive(Debug)]
struct Loss {
    at: SystemTime,
    cause: String,
    affected: BTreeSet<(Family, Bytes)>,
    held: VecDeque<Message>,
}

/// When the topology must be read again, and whom to ask first and last.
#[derive(Debug)]
struct Refresh {
    stale: bool,
    /// A node a `MOVED` named: it knows it owns the slot while others' gossip may lag.
    first: Option<NodeAddr>,
    /// A node that failed or went silent: asked last (a frozen node would hold the read).
    suspect: Option<NodeAddr>,
    backoff: Duration,
    next_at: Instant,
}

/// The cluster subscriber's state, apart from its sockets and the topology.
#[derive(Debug)]
pub(crate) struct ClusterCore {
    links: BTreeMap<LinkId, Link>,
    /// Shard channels wanted whose owner is not known yet (or refused them): placed by the
    /// next topology.
    homeless: BTreeSet<Bytes>,
    loss: Option<Loss>,
    events: VecDeque<Event>,
    interval: Option<Duration>,
    collecting: bool,
    refresh: Refresh,
    next_node: usize,
}

impl ClusterCore {
    pub(crate) fn new(health_check_interval: Option<Duration>) -> ClusterCore {
        ClusterCore {
            links: BTreeMap::new(),
            homeless: BTreeSet::new(),
            loss: None,
            events: VecDeque::new(),
            interval: health_check_interval,
            collecting: false,
            refresh: Refresh {
                stale: false,
                first: None,
                suspect: None,
                backoff: MIN_BACKOFF,
                next_at: Instant::now(),
            },
            next_node: 0,
        }
    }

    /// Changes every connection's health check interval.
    pub(crate) fn set_interval(&mut self, interval: Option<Duration>) {
        self.interval = interval;
        for link in self.links.values_mut() {
            link.core.set_interval(interval);
        }
    }

    /// The next event for the user, if one is ready.
    pub(crate) fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The connections (to read, write, check).
    pub(crate) fn links(&self) -> &BTreeMap<LinkId, Link> {
        &self.links
    }

    /// One connection.
    pub(crate) fn link_mut(&mut self, id: &LinkId) -> Option<&mut Link> {
        self.links.get_mut(id)
    }

    /// The health check of a connection a read found quiet: queues a `PING` on it if it was
    /// quiet for an interval; the error to give it up with if it stayed silent for another.
    pub(crate) fn quiet(&mut self, id: &LinkId, now: Instant) -> Result<Option<Error>> {
        let Some(link) = self.links.get_mut(id) else {
            return Ok(None);
        };
        match link.core.health(now) {
            Health::Wait(_) => Ok(None),
            Health::Ping => {
                super::core::encode_ping(&mut link.out)?;
                link.core.ping_sent(now);
                Ok(None)
            }
            Health::Dead => Ok(Some(link.core.dead_error())),
        }
    }

    /// The channels (patterns, shard channels) subscribed to, as asked.
    pub(crate) fn wanted(&self, family: Family) -> Vec<Bytes> {
        let mut all: BTreeSet<Bytes> = self
            .links
            .values()
            .flat_map(|l| l.core.wanted(family).iter().cloned())
            .collect();
        if family == Family::Shard {
            all.extend(self.homeless.iter().cloned());
        }
        all.into_iter().collect()
    }

    fn link(&mut self, id: LinkId, addr: Option<NodeAddr>) -> &mut Link {
        let (interval, collecting) = (self.interval, self.collecting);
        self.links.entry(id).or_insert_with(|| {
            let mut core = Core::for_cluster_link(interval);
            core.collect_confirmations(collecting);
            Link {
                addr,
                core,
                out: Vec::new(),
                written: 0,
            }
        })
    }

    /// A node for the broadcast link: the next one round robin, not the suspect if another
    /// is known.
    fn pick_node(&mut self, view: &View) -> Option<NodeAddr> {
        let nodes: Vec<NodeAddr> = view.map.nodes(view.tls);
        let fine: Vec<&NodeAddr> = nodes
            .iter()
            .filter(|n| Some(*n) != self.refresh.suspect.as_ref())
            .collect();
        self.next_node = self.next_node.wrapping_add(1);
        if fine.is_empty() {
            (!nodes.is_empty()).then(|| nodes[self.next_node % nodes.len()].clone())
        } else {
            Some(fine[self.next_node % fine.len()].clone())
        }
    }

    /// Starts a (un)subscribe the user asked for, as both drivers do before waiting for its
    /// confirmations: the request checked, confirmations collected from here on, its commands
    /// encoded ([`Self::request`]).
    pub(crate) fn begin_change(
        &mut self,
        view: &View,
        family: Family,
        subscribe: bool,
        channels: &[Bytes],
    ) -> Result<()> {
        super::core::check_request(subscribe, channels)?;
        self.collect_confirmations(true);
        self.request(view, family, subscribe, channels)
    }

    /// Records a (un)subscribe the user asked for and encodes its commands for the connections
    /// it concerns (shard channels split per slot: a node refuses cross-slot `SSUBSCRIBE`).
    pub(crate) fn request(
        &mut self,
        view: &View,
        family: Family,
        subscribe: bool,
        channels: &[Bytes],
    ) -> Result<()> {
        match (family, subscribe) {
            (Family::Shard, true) => {
                let mut by_slot: BTreeMap<u16, Vec<Bytes>> = BTreeMap::new();
                for c in channels {
                    by_slot.entry(slot(c)).or_default().push(c.clone());
                }
                for group in by_slot.into_values() {
                    match view.owner(&group[0]) {
                        Some(addr) => {
                            let link = self.link(LinkId::Shard(addr.clone()), Some(addr));
                            link.core.request(family, true, &group, &mut link.out)?;
                        }
                        None => {
                            self.homeless.extend(group);
                            self.refresh.stale = true;
                        }
                    }
                }
            }
            (Family::Shard, false) => {
                for (id, link) in &mut self.links {
                    if *id == LinkId::Broadcast {
                        continue;
                    }
                    if channels.is_empty() {
                        link.core.request(family, false, &[], &mut link.out)?;
                        continue;
                    }
                    let mine: Vec<Bytes> = channels
                        .iter()
                        .filter(|c| {
                            link.core.wanted(family).contains(*c) || link.core.is_active(family, c)
                        })
                        .cloned()
                        .collect();
                    for c in mine {
                        link.core.request(
                            family,
                            false,
                            std::slice::from_ref(&c),
                            &mut link.out,
                        )?;
                    }
                }
                if channels.is_empty() {
                    self.homeless.clear();
                } else {
                    for c in channels {
                        self.homeless.remove(c);
                    }
                }
            }
            (_, true) => {
                let addr = match self.links.get(&LinkId::Broadcast) {
                    Some(_) => None,
                    None => self.pick_node(view),
                };
                let link = self.link(LinkId::Broadcast, addr);
                link.core.request(family, true, channels, &mut link.out)?;
            }
            (_, false) => {
                if let Some(link) = self.links.get_mut(&LinkId::Broadcast) {
                    link.core.request(family, false, channels, &mut link.out)?;
                }
            }
        }
        self.check_loss();
        Ok(())
    }

    /// Whether the server confirmed a request: every channel subscribed on its connection, or
    /// none of them (all of the family, for an empty list) subscribed on any.
    pub(crate) fn is_settled(&self, family: Family, subscribe: bool, channels: &[Bytes]) -> bool {
        if subscribe {
            channels.iter().all(|c| {
                self.links.values().any(|l| {
                    l.core.wanted(family).contains(c)
                        && l.core.is_settled(family, true, std::slice::from_ref(c))
                })
            })
        } else {
            self.links
                .values()
                .all(|l| l.core.is_settled(family, false, channels))
        }
    }

    /// Forgets a request the server refused.
    pub(crate) fn revert(&mut self, family: Family, subscribe: bool, channels: &[Bytes]) {
        for link in self.links.values_mut() {
            link.core.revert(family, subscribe, channels);
        }
    }

    /// Starts (or stops) keeping confirmations for a waiting (un)subscribe call.
    pub(crate) fn collect_confirmations(&mut self, on: bool) -> Vec<Confirmation> {
        self.collecting = on;
        self.links
            .values_mut()
            .flat_map(|l| l.core.collect_confirmations(on))
            .collect()
    }

    /// The connections to open now: not connected, placed, and past their backoff.
    pub(crate) fn connect_due(&self, now: Instant) -> Vec<(LinkId, NodeAddr)> {
        self.links
            .iter()
            .filter(|(_, l)| !l.core.is_connected() && l.core.reconnect_wait(now).is_zero())
            .filter_map(|(id, l)| Some((id.clone(), l.addr.clone()?)))
            .collect()
    }

    /// A connection's socket is up: every subscription it holds is encoded into its `out`.
    pub(crate) fn on_connected(&mut self, id: &LinkId, now: Instant) -> Result<()> {
        if let Some(link) = self.links.get_mut(id) {
            link.out.clear();
            link.written = 0;
            link.core.on_connected(now, &mut link.out)?;
        }
        Ok(())
    }

    /// Opening a connection failed: it waits longer before the next attempt, and the topology
    /// is read again (the node may have failed over); the broadcast link moves to another node.
    pub(crate) fn on_connect_failed(&mut self, id: &LinkId, now: Instant) {
        if let Some(link) = self.links.get_mut(id) {
            link.core.on_connect_failed(now);
            let addr = if *id == LinkId::Broadcast {
                link.addr.take()
            } else {
                link.addr.clone()
            };
            self.mark_stale(addr, now);
        }
    }

    /// A connection's socket failed or was found dead: its subscriptions are lost until
    /// confirmed again (on this node or, after a refresh, on the new owner), and the user is
    /// told at once with [`Event::Disconnected`] (once per loss).
    pub(crate) fn on_link_lost(&mut self, id: &LinkId, error: Error, now: Instant) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        link.core.socket_closed(now);
        link.out.clear();
        link.written = 0;
        let affected: Vec<(Family, Bytes)> = Family::ALL
            .iter()
            .flat_map(|&f| link.core.wanted(f).iter().map(move |c| (f, c.clone())))
            .collect();
        // The broadcast link tries its node again first: another node may get a PUBLISH from
        // the cluster bus later than this one did, and would deliver it a second time. Only if
        // the node cannot be reached does the link move (`on_connect_failed`).
        let addr = link.addr.clone();
        self.open_loss(affected, error);
        self.mark_stale(addr, now);
        self.prune();
    }

    fn mark_stale(&mut self, suspect: Option<NodeAddr>, now: Instant) {
        if !self.refresh.stale {
            self.refresh.next_at = self.refresh.next_at.max(now);
        }
        self.refresh.stale = true;
        if suspect.is_some() {
            self.refresh.suspect = suspect;
        }
    }

    /// Opens a loss for `affected` (or adds them to the open one, which keeps its start: one
    /// `Disconnected` and one `Gap` per outage, however many connections it took).
    fn open_loss(&mut self, affected: Vec<(Family, Bytes)>, error: Error) {
        if affected.is_empty() {
            return;
        }
        match &mut self.loss {
            Some(loss) => loss.affected.extend(affected),
            None => {
                let at = SystemTime::now();
                self.loss = Some(Loss {
                    at,
                    cause: error.to_string(),
                    affected: affected.into_iter().collect(),
                    held: VecDeque::new(),
                });
                self.events
                    .push_back(Event::Disconnected(Disconnected { at, error }));
            }
        }
    }

    /// Takes one frame read on connection `id`. A server error reply that is not about a
    /// moved slot is returned; a malformed frame is a protocol error (drop the socket).
    pub(crate) fn on_frame(&mut self, id: &LinkId, frame: &Bytes, now: Instant) -> Result<()> {
        let Some(link) = self.links.get_mut(id) else {
            return Ok(());
        };
        let read = link.core.on_frame(frame, now);
        self.drain(id);
        let read = match read {
            Err(e) if e.is_server_error() => self.on_refused(id, e, now),
            other => other,
        };
        self.on_dropped(id, now)?;
        self.check_loss();
        read
    }

    /// Moves what a link's core delivered into the stream: messages of a subscription the
    /// open loss covers wait for its gap event; a shard message for a channel this link no
    /// longer holds (it moved elsewhere, or the user left it) is dropped, so that two nodes
    /// never deliver the same channel.
    fn drain(&mut self, id: &LinkId) {
        let Some(link) = self.links.get_mut(id) else {
            return;
        };
        while let Some(event) = link.core.next_event() {
            let Event::Message(m) = event else {
                self.events.push_back(event);
                continue;
            };
            let (family, key) = match m.kind() {
                MessageKind::Message => (Family::Channel, m.channel()),
                MessageKind::PMessage => (Family::Pattern, m.pattern().unwrap_or(m.channel())),
                MessageKind::SMessage => (Family::Shard, m.channel()),
            };
            if family == Family::Shard && !link.core.wanted(family).contains(key) {
                continue;
            }
            match &mut self.loss {
                Some(loss) if loss.affected.contains(&(family, key.clone())) => {
                    loss.held.push_back(m)
                }
                _ => self.events.push_back(Event::Message(m)),
            }
        }
    }

    /// A server error on a connection: a `MOVED`/`ASK` (the slot is not there), `CLUSTERDOWN`,
    /// `TRYAGAIN` or `LOADING` answer to a (re)subscription makes the unconfirmed shard channels
    /// homeless until the next topology (asked first of the node a `MOVED` named); one that
    /// concerns none of them answered an unsubscribe and is dropped. Any other error is the
    /// caller's.
    fn on_refused(&mut self, id: &LinkId, e: Error, now: Instant) -> Result<()> {
        let Some(link) = self.links.get_mut(id) else {
            return Err(e);
        };
        let from = link.addr.clone().unwrap_or_else(|| NodeAddr::new("", 0));
        let (only_slot, first) = match Redirect::from_error(&e, &from) {
            Some(Redirect::Moved { slot, addr }) | Some(Redirect::Ask { slot, addr }) => {
                (Some(slot), Some(addr))
            }
            Some(Redirect::ClusterDown | Redirect::TryAgain | Redirect::NotReady) => (None, None),
            None => return Err(e),
        };
        let unconfirmed: Vec<Bytes> = link
            .core
            .wanted(Family::Shard)
            .iter()
            .filter(|c| !link.core.is_active(Family::Shard, c))
            .filter(|c| only_slot.is_none_or(|s| slot(c) == s))
            .cloned()
            .collect();
        if unconfirmed.is_empty() {
            // About one of our own SUNSUBSCRIBEs of a channel whose slot left the node (the
            // server had ended it already): nothing to do, and nothing for the user.
            return Ok(());
        }
        link.core
            .release(Family::Shard, &unconfirmed, &mut link.out)?;
        self.homeless.extend(unconfirmed);
        self.mark_stale(None, now);
        if first.is_some() {
            self.refresh.first = first;
            self.refresh.next_at = now;
        }
        Ok(())
    }

    /// Shard channels the server ended unasked (their slot moved away from the node): lost
    /// from now until confirmed on the new owner, found by reading the topology at once.
    fn on_dropped(&mut self, id: &LinkId, now: Instant) -> Result<()> {
        let Some(link) = self.links.get_mut(id) else {
            return Ok(());
        };
        let dropped = link.core.take_dropped();
        if dropped.is_empty() {
            return Ok(());
        }
        let names: Vec<Bytes> = dropped.iter().map(|(_, c)| c.clone()).collect();
        for (family, c) in &dropped {
            link.core
                .release(*family, std::slice::from_ref(c), &mut link.out)?;
        }
        let node = link
            .addr
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let first = &names[0];
        let error = Error::new(
            ErrorKind::SessionLost,
            format!(
                "{node} ended the subscription to shard channel {} (slot {}){}: its slot \
                 moved to another node",
                crate::value::ShowBytes(first),
                slot(first),
                match names.len() {
                    1 => String::new(),
                    n => format!(" and {} more", n - 1),
                }
            ),
        );
        for (family, c) in dropped {
            if family == Family::Shard {
                self.homeless.insert(c);
            }
        }
        let affected = names.into_iter().map(|c| (Family::Shard, c)).collect();
        self.open_loss(affected, error);
        self.mark_stale(None, now);
        self.refresh.next_at = now;
        Ok(())
    }

    /// Whether `channel` of `family` is wanted.
    fn is_wanted(&self, family: Family, channel: &Bytes) -> bool {
        (family == Family::Shard && self.homeless.contains(channel))
            || self
                .links
                .values()
                .any(|l| l.core.wanted(family).contains(channel))
    }

    /// Closes the open loss once every subscription it covers that is still wanted is
    /// confirmed again: the [`Event::Gap`] goes out, then the messages held meanwhile.
    fn check_loss(&mut self) {
        let Some(loss) = &self.loss else {
            return;
        };
        let back = loss.affected.iter().all(|(f, c)| {
            !self.is_wanted(*f, c)
                || self
                    .links
                    .values()
                    .any(|l| l.core.wanted(*f).contains(c) && l.core.is_active(*f, c))
        });
        if !back {
            return;
        }
        let loss = self.loss.take().expect("checked above");
        self.events.push_back(Event::Gap(Gap {
            lost_at: loss.at,
            resubscribed_at: SystemTime::now(),
            cause: loss.cause,
        }));
        self.events
            .extend(loss.held.into_iter().map(Event::Message));
        if self.homeless.is_empty() {
            self.refresh.backoff = MIN_BACKOFF;
        }
    }

    /// The topology should be read now: `Some((first, last))` names whom to ask first (a node
    /// a `MOVED` named) and last (a node that failed).
    pub(crate) fn topology_due(
        &self,
        now: Instant,
    ) -> Option<(Option<NodeAddr>, Option<NodeAddr>)> {
        (self.refresh.stale && now >= self.refresh.next_at)
            .then(|| (self.refresh.first.clone(), self.refresh.suspect.clone()))
    }

    /// Reading the topology failed: try again after a longer pause.
    pub(crate) fn topology_failed(&mut self, now: Instant) {
        self.refresh.next_at = now + self.refresh.backoff;
        self.refresh.backoff = (self.refresh.backoff * 2).min(MAX_BACKOFF);
    }

    /// A topology was read: every shard channel goes to its slot's primary now (released where
    /// it was, subscribed where it belongs; a confirmed one that moves counts as lost until
    /// the new owner confirms it), the broadcast link gets a node if it needs one, and
    /// connections that hold nothing and are down are dropped.
    pub(crate) fn on_topology(&mut self, view: &View, now: Instant) -> Result<()> {
        self.refresh.stale = false;
        self.refresh.first = None;
        let mut moved_active = Vec::new();
        for (id, link) in &mut self.links {
            let LinkId::Shard(addr) = id else {
                continue;
            };
            let moving: Vec<Bytes> = link
                .core
                .wanted(Family::Shard)
                .iter()
                .filter(|c| view.owner(c).as_ref() != Some(addr))
                .cloned()
                .collect();
            for c in &moving {
                if link.core.is_active(Family::Shard, c) {
                    moved_active.push((Family::Shard, c.clone()));
                }
            }
            link.core.release(Family::Shard, &moving, &mut link.out)?;
            self.homeless.extend(moving);
        }
        if !moved_active.is_empty() {
            let e = Error::new(
                ErrorKind::SessionLost,
                "the cluster's topology moved subscribed shard channels to another node",
            );
            self.open_loss(moved_active, e);
        }
        let mut by_slot: BTreeMap<u16, Vec<Bytes>> = BTreeMap::new();
        for c in std::mem::take(&mut self.homeless) {
            by_slot.entry(slot(&c)).or_default().push(c);
        }
        for group in by_slot.into_values() {
            match view.owner(&group[0]) {
                Some(addr) => {
                    let link = self.link(LinkId::Shard(addr.clone()), Some(addr));
                    link.core
                        .request(Family::Shard, true, &group, &mut link.out)?;
                }
                None => self.homeless.extend(group),
            }
        }
        let needs_node = self
            .links
            .get(&LinkId::Broadcast)
            .is_some_and(|l| l.addr.is_none());
        if needs_node {
            let addr = self.pick_node(view);
            if let Some(link) = self.links.get_mut(&LinkId::Broadcast) {
                link.addr = addr;
            }
        }
        if self.homeless.is_empty() {
            self.refresh.suspect = None;
        } else {
            // Some slot has no owner yet (a failover under way): ask again after a pause.
            self.refresh.stale = true;
            self.topology_failed(now);
        }
        self.prune();
        self.check_loss();
        Ok(())
    }

    /// Drops the connections that hold nothing and are down (a node that failed, or a shard
    /// link whose slots all moved away).
    fn prune(&mut self) {
        self.links
            .retain(|_, l| l.core.is_connected() || !l.core.wants_nothing());
    }

    /// How long the driver may wait before something is due (a health check, a reconnect
    /// attempt, a topology read).
    pub(crate) fn wait_hint(&mut self, now: Instant) -> Duration {
        let mut wait = Duration::from_secs(3600);
        if self.refresh.stale {
            wait = wait.min(self.refresh.next_at.saturating_duration_since(now));
        }
        for link in self.links.values_mut() {
            let w = if link.core.is_connected() {
                match link.core.health(now) {
                    Health::Wait(d) => d,
                    Health::Ping | Health::Dead => Duration::ZERO,
                }
            } else if link.addr.is_some() {
                link.core.reconnect_wait(now)
            } else {
                continue;
            };
            wait = wait.min(w);
        }
        wait
    }
}

impl super::core::Confirms for ClusterCore {
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
    use crate::cluster::Topology;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    fn push(parts: &[&str]) -> Bytes {
        let mut s = format!(">{}\r\n", parts.len());
        for (i, p) in parts.iter().enumerate() {
            if i == parts.len() - 1 && p.parse::<i64>().is_ok() {
                s.push_str(&format!(":{p}\r\n"));
            } else {
                s.push_str(&format!("${}\r\n{p}\r\n", p.len()));
            }
        }
        Bytes::from(s)
    }

    /// Three primaries on ports 1, 2, 3 with the slots split evenly; `moved` gives one slot to
    /// another port.
    fn map(moved: Option<(u16, u16)>) -> SlotMap {
        let mut ranges: Vec<(u16, u16, u16)> =
            vec![(0, 5460, 1), (5461, 10922, 2), (10923, 16383, 3)];
        if let Some((s, port)) = moved {
            let mut next = Vec::new();
            for (a, z, p) in ranges {
                if (a..=z).contains(&s) {
                    if a < s {
                        next.push((a, s - 1, p));
                    }
                    next.push((s, s, port));
                    if s < z {
                        next.push((s + 1, z, p));
                    }
                } else {
                    next.push((a, z, p));
                }
            }
            ranges = next;
        }
        let slots = crate::Value::Array(
            ranges
                .into_iter()
                .map(|(a, z, p)| {
                    crate::Value::Array(vec![
                        crate::Value::Int(a.into()),
                        crate::Value::Int(z.into()),
                        crate::Value::Array(vec![
                            crate::Value::BulkString(b("127.0.0.1")),
                            crate::Value::Int(p.into()),
                            crate::Value::BulkString(Bytes::from(format!("id{p}"))),
                        ]),
                    ])
                })
                .collect(),
        );
        SlotMap::new(Topology::from_slots(&slots).unwrap(), 1)
    }

    fn shard(port: u16) -> LinkId {
        LinkId::Shard(NodeAddr::new("127.0.0.1", port))
    }

    /// Opens every link that is due (a new link's first attempt is due from its creation on).
    fn connect_all(c: &mut ClusterCore) {
        let now = Instant::now();
        for (id, _) in c.connect_due(now) {
            c.on_connected(&id, now).unwrap();
        }
    }

    fn confirm_all(c: &mut ClusterCore, now: Instant) {
        let ids: Vec<LinkId> = c.links().keys().cloned().collect();
        for id in ids {
            let out = String::from_utf8_lossy(&c.links()[&id].out).into_owned();
            c.link_mut(&id).unwrap().out.clear();
            // Each encoded command confirms its channels (RESP: *n $len NAME $len ch ...).
            let words: Vec<&str> = out
                .split("\r\n")
                .filter(|w| !w.starts_with(['*', '$']))
                .collect();
            let mut cmd = "";
            for w in words.into_iter().filter(|w| !w.is_empty()) {
                if w.chars().all(|ch| ch.is_ascii_uppercase()) {
                    cmd = w;
                    continue;
                }
                let kind = cmd.to_ascii_lowercase();
                c.on_frame(&id, &push(&[&kind, w, "1"]), now).unwrap();
            }
        }
    }

    #[test]
    fn shard_channels_go_to_their_owners_split_per_slot() {
        let now = Instant::now();
        let m = map(None);
        let view = View {
            map: &m,
            tls: false,
        };
        let mut c = ClusterCore::new(None);
        // "a" is slot 15495 (port 3), "b" 3300 (port 1), "{a}x" shares "a"'s slot.
        c.request(&view, Family::Shard, true, &[b("a"), b("b"), b("{a}x")])
            .unwrap();
        c.request(&view, Family::Channel, true, &[b("news")])
            .unwrap();
        let ids: Vec<LinkId> = c.links().keys().cloned().collect();
        assert_eq!(ids, vec![LinkId::Broadcast, shard(1), shard(3)]);
        connect_all(&mut c);
        confirm_all(&mut c, now);
        // Connected: one command per slot.
        c.request(&view, Family::Shard, true, &[b("{a}1"), b("{a}2")])
            .unwrap();
        let three = String::from_utf8_lossy(&c.links()[&shard(3)].out).into_owned();
        assert_eq!(
            three.matches("SSUBSCRIBE").count(),
            1,
            "one slot, one command: {three}"
        );
        confirm_all(&mut c, now);
        assert!(c.is_settled(Family::Shard, true, &[b("{a}1"), b("{a}2")]));
        assert!(c.is_settled(Family::Shard, true, &[b("a"), b("b"), b("{a}x")]));
        assert!(c.is_settled(Family::Channel, true, &[b("news")]));
        assert!(c.next_event().is_none());
    }

    #[test]
    fn an_unasked_sunsubscribe_opens_a_loss_closed_on_the_new_owner() {
        let now = Instant::now();
        let m = map(None);
        let mut c = ClusterCore::new(None);
        let view = View {
            map: &m,
            tls: false,
        };
        c.request(&view, Family::Shard, true, &[b("a"), b("b")])
            .unwrap();
        connect_all(&mut c);
        confirm_all(&mut c, now);
        // The user's own sunsubscribe of "b" is not a loss.
        c.request(&view, Family::Shard, false, &[b("b")]).unwrap();
        c.on_frame(&shard(1), &push(&["sunsubscribe", "b", "0"]), now)
            .unwrap();
        assert!(c.next_event().is_none());
        assert!(c.topology_due(Instant::now()).is_none());
        // Slot of "a" (15495) moves to port 2: the old owner says so unasked.
        c.on_frame(&shard(3), &push(&["sunsubscribe", "a", "0"]), now)
            .unwrap();
        let Some(Event::Disconnected(d)) = c.next_event() else {
            panic!("a loss is told at once")
        };
        assert!(d.error.to_string().contains("slot 15495"), "{}", d.error);
        assert!(c.topology_due(Instant::now()).is_some());
        let moved = map(Some((15495, 2)));
        c.on_topology(
            &View {
                map: &moved,
                tls: false,
            },
            now,
        )
        .unwrap();
        connect_all(&mut c);
        c.on_frame(&shard(2), &push(&["smessage", "a", "early?"]), now)
            .unwrap();
        assert!(c.next_event().is_none(), "held until confirmed");
        confirm_all(&mut c, now);
        assert!(matches!(c.next_event(), Some(Event::Gap(_))));
        assert!(matches!(c.next_event(), Some(Event::Message(m)) if m.payload() == "early?"));
        // The old owner's link holds nothing now; its late messages for "a" are not delivered twice.
        c.on_frame(&shard(3), &push(&["smessage", "a", "dup"]), now)
            .unwrap();
        assert!(c.next_event().is_none());
    }

    #[test]
    fn a_lost_primary_is_followed_to_its_replica_with_one_gap() {
        let now = Instant::now();
        let m = map(None);
        let mut c = ClusterCore::new(None);
        let view = View {
            map: &m,
            tls: false,
        };
        c.request(&view, Family::Shard, true, &[b("a")]).unwrap();
        c.request(&view, Family::Pattern, true, &[b("p*")]).unwrap();
        connect_all(&mut c);
        confirm_all(&mut c, now);
        c.on_link_lost(&shard(3), Error::new(ErrorKind::Io, "gone"), now);
        assert!(matches!(c.next_event(), Some(Event::Disconnected(_))));
        let (_, last) = c.topology_due(Instant::now()).unwrap();
        assert_eq!(last, Some(NodeAddr::new("127.0.0.1", 3)));
        // A refresh before the failover: still port 3, which refuses connections for a while.
        c.on_topology(&view, now).unwrap();
        c.on_connect_failed(&shard(3), now);
        assert!(c.next_event().is_none(), "one Disconnected per loss");
        // The replica on port 4 took the slots over.
        let failed_over = map(Some((15495, 4)));
        c.on_topology(
            &View {
                map: &failed_over,
                tls: false,
            },
            now,
        )
        .unwrap();
        assert!(
            !c.links().contains_key(&shard(3)),
            "the dead link is dropped"
        );
        connect_all(&mut c);
        confirm_all(&mut c, now);
        assert!(matches!(c.next_event(), Some(Event::Gap(g)) if g.cause.contains("gone")));
        assert!(c.next_event().is_none());
    }

    #[test]
    fn moved_answers_to_a_resubscription_wait_for_the_next_topology() {
        let now = Instant::now();
        let m = map(None);
        let mut c = ClusterCore::new(None);
        let view = View {
            map: &m,
            tls: false,
        };
        c.request(&view, Family::Shard, true, &[b("a")]).unwrap();
        connect_all(&mut c);
        c.link_mut(&shard(3)).unwrap().out.clear();
        let moved = Bytes::from_static(b"-MOVED 15495 127.0.0.1:2\r\n");
        c.on_frame(&shard(3), &moved, now).unwrap();
        let (first, _) = c.topology_due(Instant::now()).unwrap();
        assert_eq!(first, Some(NodeAddr::new("127.0.0.1", 2)));
        assert_eq!(c.wanted(Family::Shard), vec![b("a")], "still wanted");
        let other = Bytes::from_static(b"-NOPERM no\r\n");
        assert!(c.on_frame(&shard(3), &other, now).is_err());
    }

    #[test]
    fn a_lost_broadcast_link_tries_its_node_before_moving() {
        let m = map(None);
        let view = View {
            map: &m,
            tls: false,
        };
        let mut c = ClusterCore::new(None);
        c.request(&view, Family::Channel, true, &[b("news")])
            .unwrap();
        let first = c.links()[&LinkId::Broadcast].addr.clone();
        assert!(first.is_some());
        connect_all(&mut c);
        confirm_all(&mut c, Instant::now());
        c.on_link_lost(
            &LinkId::Broadcast,
            Error::new(ErrorKind::Io, "reset"),
            Instant::now(),
        );
        assert_eq!(
            c.links()[&LinkId::Broadcast].addr,
            first,
            "its own node first"
        );
        c.on_connect_failed(&LinkId::Broadcast, Instant::now());
        c.on_topology(&view, Instant::now()).unwrap();
        let next = c.links()[&LinkId::Broadcast].addr.clone();
        assert!(next.is_some() && next != first, "then another: {next:?}");
    }
}
