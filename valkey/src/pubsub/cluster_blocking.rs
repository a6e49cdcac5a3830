//! The blocking cluster subscriber: the IO-free [`ClusterCore`] driven over one blocking
//! [`Connection`] per link (the broadcast link and one per shard-owning primary), with the
//! topology read through a blocking [`ClusterConnection`].

use super::blocking::{await_change, events, next_event_within, Pump};
use super::cluster_core::{ClusterCore, LinkId, View};
use super::message::{Confirmation, Family};
use super::{
    attempt_limit, is_fatal, names, Event, Handlers, PubSubThread, DEFAULT_HEALTH_CHECK_INTERVAL,
};
use crate::cluster::NodeAddr;
use crate::config::ConnectionInfo;
use crate::error::{Error, Result};
use crate::sync::connection::RawRead;
use crate::sync::{ClusterConnection, Connection};
use crate::ToValkeyArgs;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest a read waits on one link while others may have something (the blocking
/// driver reads its sockets in turn, so this bounds the extra delay of a message).
const TURN: Duration = Duration::from_millis(10);

/// The wait on a quiet link while messages are flowing on others (within [`BUSY`] of the last
/// frame): short, so that a quiet link costs the busy ones almost nothing.
const BUSY_TURN: Duration = Duration::from_millis(1);
const BUSY: Duration = Duration::from_millis(50);

/// How many frames in a row one link may deliver before the next link gets its turn.
const BURST: usize = 64;

impl Pump for ClusterPubSub {
    type Core = ClusterCore;
    fn core(&mut self) -> &mut ClusterCore {
        &mut self.core
    }
    fn step(&mut self, deadline: Instant) -> Result<()> {
        self.pump(deadline)
    }
}

/// One open socket of a link.
struct Socket {
    addr: NodeAddr,
    info: Arc<ConnectionInfo>,
    con: Connection,
}

/// A blocking subscriber to a whole cluster (from [`crate::ClusterClient::get_pubsub`]).
///
/// Channels and patterns ride one connection to any node (the cluster delivers every
/// `PUBLISH` on every node); each shard channel rides a connection to the primary of its slot,
/// one per primary. Slot moves and failovers are followed, with the loss reported in the
/// stream as [`Event::Disconnected`] and [`Event::Gap`]; see the
/// [module documentation](crate::pubsub#cluster).
pub struct ClusterPubSub {
    cluster: ClusterConnection,
    core: ClusterCore,
    sockets: BTreeMap<LinkId, Socket>,
    /// Whose turn it is to be read, and how many frames it gave in a row.
    turn: usize,
    burst: usize,
    last_frame: Instant,
    /// How long a (un)subscribe call waits for its confirmations.
    wait: Duration,
}

impl ClusterPubSub {
    pub(crate) fn open(cluster: ClusterConnection) -> ClusterPubSub {
        let wait = super::core::confirmation_wait(cluster.template());
        ClusterPubSub {
            cluster,
            core: ClusterCore::new(Some(DEFAULT_HEALTH_CHECK_INTERVAL)),
            sockets: BTreeMap::new(),
            turn: 0,
            burst: 0,
            last_frame: Instant::now(),
            wait,
        }
    }

    /// Sets how long each connection may read nothing before it PINGs its node (`None`:
    /// never). Default [`DEFAULT_HEALTH_CHECK_INTERVAL`].
    pub fn set_health_check_interval(&mut self, interval: Option<Duration>) {
        self.core.set_interval(interval);
    }

    /// Subscribes to channels (one name or a list); returns the server's confirmations.
    pub fn subscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, true, names(&channels))
    }

    /// Unsubscribes from channels; an empty list unsubscribes from all.
    pub fn unsubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, false, names(&channels))
    }

    /// Subscribes to patterns.
    pub fn psubscribe(&mut self, patterns: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, true, names(&patterns))
    }

    /// Unsubscribes from patterns; an empty list unsubscribes from all.
    pub fn punsubscribe(&mut self, patterns: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, false, names(&patterns))
    }

    /// Subscribes to shard channels, each on the primary of its slot (channels of different
    /// slots may be given together: they are split per slot).
    pub fn ssubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, true, names(&channels))
    }

    /// Unsubscribes from shard channels; an empty list unsubscribes from all.
    pub fn sunsubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, false, names(&channels))
    }

    /// The channels, patterns or shard channels subscribed to (as asked).
    pub fn subscriptions(&self, family: Family) -> Vec<Bytes> {
        self.core.wanted(family)
    }

    /// The cluster connection the subscriber reads the topology with.
    pub fn cluster(&mut self) -> &mut ClusterConnection {
        &mut self.cluster
    }

    /// Sends a (un)subscribe to the connections it concerns and reads until the server
    /// confirmed it, within the response timeout; an error names the command.
    fn change(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: Vec<Bytes>,
    ) -> Result<Vec<Confirmation>> {
        let r = self.change_unnamed(family, subscribe, &channels);
        r.map_err(|e| e.context(format!("{} on the cluster", family.command(subscribe))))
    }

    fn change_unnamed(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: &[Bytes],
    ) -> Result<Vec<Confirmation>> {
        let map = self.cluster.slot_map();
        let view = View {
            map: &map,
            tls: self.cluster.tls(),
        };
        self.core.begin_change(&view, family, subscribe, channels)?;
        let wait = self.wait;
        await_change(self, family, subscribe, channels, wait)
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` when nothing came. Reconnects,
    /// topology reads and resubscriptions happen inside.
    pub fn get_message(&mut self, timeout: Duration) -> Result<Option<Event>> {
        next_event_within(self, timeout)
    }

    /// A blocking iterator over the events, for ever (an item is `Err` only for what a
    /// reconnect cannot fix by itself, or a server error reply).
    pub fn listen(&mut self) -> impl Iterator<Item = Result<Event>> + '_ {
        events(self)
    }

    /// Subscribes to every channel, pattern and shard channel `handlers` has, then runs them on
    /// a thread of its own until [`PubSubThread::stop`] (as [`super::PubSub::run_in_thread`]).
    pub fn run_in_thread(mut self, handlers: Handlers) -> Result<PubSubThread> {
        for (family, channels) in handlers.subscriptions() {
            self.change(family, true, channels)?;
        }
        PubSubThread::spawn(move |wait| self.get_message(wait), handlers)
    }

    /// One step: read the topology if due, open the links that are due, write what is
    /// queued, then read one link (in turn) and act on its health check.
    fn pump(&mut self, deadline: Instant) -> Result<()> {
        let now = Instant::now();
        if let Some((first, suspect)) = self.core.topology_due(now) {
            match self
                .cluster
                .refresh_topology_asking(first.as_ref(), suspect.as_ref())
            {
                Ok(()) => {
                    let map = self.cluster.slot_map();
                    let view = View {
                        map: &map,
                        tls: self.cluster.tls(),
                    };
                    self.core.on_topology(&view, Instant::now())?;
                }
                Err(e) => {
                    tracing::debug!("cluster subscriber: reading the topology failed: {e}");
                    self.core.topology_failed(Instant::now());
                }
            }
            self.forget_closed();
        }
        for (id, addr) in self.core.connect_due(Instant::now()) {
            let info = Arc::new(self.cluster.node_settings(&addr));
            let limit = attempt_limit(&info);
            match Connection::with_info_within(Arc::clone(&info), Some(limit)) {
                Ok(con) => {
                    self.sockets.insert(id.clone(), Socket { addr, info, con });
                    self.core.on_connected(&id, Instant::now())?;
                }
                Err(e) => {
                    tracing::debug!("cluster subscriber: connecting to {addr} failed: {e}");
                    self.core.on_connect_failed(&id, Instant::now());
                    if is_fatal(&e) {
                        return Err(e);
                    }
                }
            }
        }
        self.flush();
        let ids: Vec<LinkId> = self.sockets.keys().cloned().collect();
        let now = Instant::now();
        let wait = self
            .core
            .wait_hint(now)
            .min(deadline.saturating_duration_since(now));
        if ids.is_empty() {
            std::thread::sleep(wait.max(Duration::from_millis(1)));
            return Ok(());
        }
        // A link that delivers keeps its turn (up to a burst): a busy link is drained at the
        // speed of the socket, and a quiet one costs at most one short wait per round.
        if self.burst == 0 || self.burst >= BURST {
            self.turn = self.turn.wrapping_add(1);
            self.burst = 0;
        }
        let id = ids[self.turn % ids.len()].clone();
        let wait = match ids.len() {
            1 => wait,
            _ if now.duration_since(self.last_frame) < BUSY => wait.min(BUSY_TURN),
            _ => wait.min(TURN),
        };
        let socket = self.sockets.get_mut(&id).expect("listed above");
        let read = socket.con.read_raw_within(wait);
        self.burst = match read {
            Ok(RawRead::Frame(_)) | Ok(RawRead::Partial) => {
                self.last_frame = Instant::now();
                self.burst + 1
            }
            _ => 0,
        };
        let r = match read {
            Ok(RawRead::Frame(frame)) => match self.core.on_frame(&id, &frame, Instant::now()) {
                Ok(()) => Ok(()),
                Err(e) if e.is_server_error() => Err(e),
                Err(e) => {
                    self.lost(&id, e);
                    Ok(())
                }
            },
            Ok(RawRead::Partial) => {
                if let Some(link) = self.core.link_mut(&id) {
                    link.core.on_bytes(Instant::now());
                }
                Ok(())
            }
            Ok(RawRead::Silent) => self.check_health(&id),
            Err(e) => {
                self.lost(&id, e);
                Ok(())
            }
        };
        self.forget_closed();
        self.flush();
        r
    }

    /// After a read on `id` found nothing: PING if it was quiet for an interval, give it up
    /// if it stayed silent for another.
    fn check_health(&mut self, id: &LinkId) -> Result<()> {
        if let Some(e) = self.core.quiet(id, Instant::now())? {
            self.lost(id, e);
        }
        Ok(())
    }

    /// Writes each connected link's queued commands; a failed write is a lost link.
    fn flush(&mut self) {
        let mut failed = Vec::new();
        for (id, socket) in &mut self.sockets {
            let Some(link) = self.core.link_mut(id) else {
                continue;
            };
            if link.out.is_empty() {
                continue;
            }
            let r = socket.con.write_raw(&link.out);
            link.out.clear();
            if let Err(e) = r {
                failed.push((id.clone(), e));
            }
        }
        for (id, e) in failed {
            self.lost(&id, e);
        }
    }

    /// Closes the sockets whose link is gone, moved to another node, or was given up.
    fn forget_closed(&mut self) {
        let core = &self.core;
        self.sockets.retain(|id, s| {
            core.links()
                .get(id)
                .is_some_and(|l| l.core.is_connected() && l.addr.as_ref() == Some(&s.addr))
        });
    }

    fn lost(&mut self, id: &LinkId, e: Error) {
        tracing::debug!("cluster subscriber: connection {id:?} lost: {e}");
        if let Some(socket) = self.sockets.remove(id) {
            let e = e.at_server(&socket.info.addr);
            self.core.on_link_lost(id, e, Instant::now());
        }
    }
}

impl std::fmt::Debug for ClusterPubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterPubSub")
            .field("connected", &self.sockets.keys().collect::<Vec<_>>())
            .finish()
    }
}
