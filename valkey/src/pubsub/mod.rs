//! Pub/sub (channels, patterns and shard channels), blocking ([`PubSub`]) and async
//! ([`AsyncPubSub`]), each on a dedicated connection, in RESP2 and RESP3 alike. Every loss of the
//! connection is reported in the event stream itself: [`Event::Disconnected`] when it is noticed,
//! [`Event::Gap`] once every subscription is confirmed again, before the first resumed message.
//!
//! ```no_run
//! # fn main() -> valkey::Result<()> {
//! use std::time::Duration;
//! use valkey::pubsub::Event;
//!
//! let client = valkey::Client::open("valkey://127.0.0.1:6379")?;
//! let mut sub = client.get_pubsub()?;
//! sub.subscribe("news")?;
//! sub.psubscribe("sport.*")?;
//! sub.ssubscribe("orders")?;
//! while let Some(event) = sub.get_message(Duration::from_secs(1))? {
//!     match event {
//!         Event::Message(m) => println!("{:?}: {}", m.channel(), m.payload_as::<String>()?),
//!         Event::Disconnected(d) => eprintln!("lost at {:?}: {}", d.at, d.error),
//!         Event::Gap(g) => eprintln!("messages between {:?} and {:?} may be missing", g.lost_at, g.resubscribed_at),
//!         _ => {}
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # Health
//!
//! A subscriber that has read nothing for `health_check_interval` (default
//! [`DEFAULT_HEALTH_CHECK_INTERVAL`], 1 s) sends a `PING`; if nothing at all comes back within
//! another interval the connection is taken as dead (a frozen server, a half-open TCP
//! connection): so a silent server is noticed within 2× the interval, and handled like a lost
//! connection. In RESP2 a subscribed connection answers `PING` with `["pong", ""]`; both shapes
//! are understood. The check runs while the subscriber is being read (`get_message`, `listen`,
//! `next`, a runner).
//!
//! # Reconnects and the gap
//!
//! When the connection breaks (or is found dead), [`Event::Disconnected`] is delivered at once.
//! The subscriber then reconnects with backoff (50 ms doubling to 500 ms, for ever; each attempt
//! bounded by the connect timeout and at most 2 s), resubscribes every channel, pattern and shard
//! channel, and once the server has confirmed all of them delivers [`Event::Gap`] — messages
//! published between `lost_at` and `resubscribed_at` may have been missed — followed by the
//! messages that arrived while the confirmations were coming in. Only an authentication or
//! configuration error on reconnect is returned as an error (and is retried on the next call).
//!
//! # Backpressure: a slow consumer never loses messages silently
//!
//! The subscriber reads from its socket only when it is asked for the next event, and buffers at
//! most what one read brought (its read buffer, 64 KiB, or one larger frame). It never drains the
//! socket into an unbounded queue of its own. What the consumer has not read waits in the kernel
//! and then in the server's output buffer for the client, where the server's
//! `client-output-buffer-limit` applies: when a consumer falls that far behind, the server
//! closes the connection, and the consumer then sees [`Event::Disconnected`] and [`Event::Gap`]
//! like for any other loss. Memory stays bounded and no loss goes unreported. Note that the
//! server puts RESP2 subscribers in its `pubsub` class (default 32 MiB hard, 8 MiB for 60 s)
//! but RESP3 subscribers in the `normal` class (no limit by default: a RESP3 consumer that falls
//! behind loses nothing, and the backlog grows in the server's memory instead; set a `normal`
//! limit on the server to bound it). (While a `subscribe` call waits for its confirmation, the messages
//! that arrive before it are kept, in order, for the next reads.)
//!
//! # Cluster
//!
//! With the `cluster` feature, `ClusterPubSub` (blocking, from
//! `ClusterClient::get_pubsub`) and `AsyncClusterPubSub` (from
//! `ClusterClient::get_async_pubsub`) subscribe to a whole cluster, with the same calls and
//! the same [`Event`]s as the standalone subscribers:
//!
//! - channels and patterns ride one connection to any node: the cluster delivers every
//!   `PUBLISH` on every node (over its bus, so `PUBLISH`es sent to different nodes may arrive
//!   in another order than sent; a shard channel, published on one primary, keeps its order);
//! - each shard channel rides a connection to the primary of its slot (`routing::slot` of the
//!   channel name), one connection per primary; an `ssubscribe` of channels in several slots
//!   is split into one `SSUBSCRIBE` per slot (a node refuses cross-slot ones);
//! - when a slot moves (resharding, failover), its old owner ends the subscriptions of its
//!   shard channels with an `sunsubscribe` nobody asked for: the subscriber tells
//!   [`Event::Disconnected`], reads the topology (asking first the node a `MOVED` named) and
//!   subscribes on the new owner. A lost node (closed, reset, or silent past the health check:
//!   each connection has its own) is handled the same way: `Disconnected` at once, then the
//!   topology is read again (asking the lost node last: a frozen one would hold the read) until
//!   it names the promoted replica, and the subscriptions move there. The subscriber tells an
//!   unasked `sunsubscribe` from the confirmation of the user's own by what it asked for.
//! - One outage is one `Disconnected` and one [`Event::Gap`], however many connections it
//!   took: the gap comes once every subscription it cost is confirmed again, and the messages
//!   of those subscriptions that arrived meanwhile follow it; the other connections' messages
//!   keep flowing. A shard message from a node that no longer holds the channel is dropped, so
//!   nothing arrives twice while a channel moves. A lost broadcast connection reconnects to its
//!   own node first (another node may get a `PUBLISH` from the cluster bus later and deliver
//!   it again) and moves only when that node cannot be reached; after such a move, a message
//!   around the gap may still arrive twice.
//!
//! Handlers work as for the standalone subscribers: `ClusterPubSub::run_in_thread` and
//! `AsyncClusterPubSub::run` return the same [`PubSubThread`] / `AsyncPubSubTask`.
//!
//! The blocking subscriber reads its connections in turn (a link that delivers keeps its turn
//! for up to 64 frames; a quiet one costs 1 ms while others deliver, 10 ms when all are
//! quiet), so a message may wait that long behind another connection; a reconnect attempt to
//! an unresponsive node holds it for up to the connect timeout (2 s at most). The async one
//! reads every connection at once. Backpressure is per connection, as above.
//!
//! ```no_run
//! # #[cfg(feature = "cluster")]
//! # fn main() -> valkey::Result<()> {
//! use std::time::Duration;
//! use valkey::pubsub::Event;
//!
//! let client = valkey::ClusterClient::open(["valkey://127.0.0.1:7000"])?;
//! let mut sub = client.get_pubsub()?;
//! sub.subscribe("news")?;
//! sub.ssubscribe(["orders:{eu}", "orders:{us}"])?; // two slots: two SSUBSCRIBEs, maybe two nodes
//! while let Some(event) = sub.get_message(Duration::from_secs(1))? {
//!     if let Event::Gap(g) = event {
//!         eprintln!("messages between {:?} and {:?} may be missing", g.lost_at, g.resubscribed_at);
//!     }
//! }
//! # Ok(()) }
//! # #[cfg(not(feature = "cluster"))]
//! # fn main() {}
//! ```

mod blocking;
#[cfg(feature = "cluster")]
mod cluster_blocking;
#[cfg(feature = "cluster")]
mod cluster_core;
#[cfg(all(feature = "cluster", feature = "tokio"))]
mod cluster_tokio;
mod core;
pub(crate) mod message;
#[cfg(feature = "tokio")]
mod tokio;

pub use blocking::{PubSub, PubSubThread};
#[cfg(feature = "cluster")]
pub use cluster_blocking::ClusterPubSub;
#[cfg(all(feature = "cluster", feature = "tokio"))]
pub use cluster_tokio::AsyncClusterPubSub;
pub use message::{Confirmation, Family, Message, MessageKind};
#[cfg(feature = "tokio")]
pub use tokio::{AsyncPubSub, AsyncPubSubTask};

use crate::error::Error;
use bytes::Bytes;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// How long a subscriber reads nothing before it sends a `PING` (a silent server is noticed
/// within twice this).
pub const DEFAULT_HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// One thing a subscriber delivers, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event {
    /// A published message.
    Message(Message),
    /// The connection was lost (closed, failed, or silent past the health check): messages
    /// published from now until the next [`Event::Gap`] may be missed. The subscriber is
    /// reconnecting.
    Disconnected(Disconnected),
    /// The connection is back and every subscription confirmed again; messages published
    /// between `lost_at` and `resubscribed_at` may have been missed. Comes before the first
    /// resumed message.
    Gap(Gap),
}

/// When and why a subscriber's connection was lost.
#[derive(Debug)]
pub struct Disconnected {
    /// When the loss was noticed.
    pub at: SystemTime,
    /// What happened (an I/O error, the server closing the connection, the health check).
    pub error: Error,
}

/// A stretch of time in which messages may have been missed.
#[derive(Debug, Clone)]
pub struct Gap {
    /// When the connection was lost (as noticed).
    pub lost_at: SystemTime,
    /// When the last subscription was confirmed again.
    pub resubscribed_at: SystemTime,
    /// Why the connection was lost.
    pub cause: String,
}

/// A handler for the messages of one channel, pattern or shard channel.
pub type Handler = Box<dyn FnMut(&Message) + Send>;

/// A handler for the events that are not messages ([`Event::Disconnected`], [`Event::Gap`]).
pub type EventHandler = Box<dyn FnMut(&Event) + Send>;

/// Handlers by channel, pattern and shard channel (valkey-py's `subscribe(**{"ch": handler})`),
/// for [`PubSub::run_in_thread`] and [`AsyncPubSub::run`], which subscribe to each of them.
///
/// A `pmessage` goes to its pattern's handler, an `smessage` to its shard channel's, a
/// `message` to its channel's; a message without one goes to the fallback (if any).
/// [`Event::Disconnected`] and [`Event::Gap`] go to [`Handlers::on_event`].
#[derive(Default)]
pub struct Handlers {
    by: [HashMap<Bytes, Handler>; 3],
    fallback: Option<Handler>,
    on_event: Option<EventHandler>,
}

impl Handlers {
    /// No handlers yet.
    pub fn new() -> Handlers {
        Handlers::default()
    }

    fn add(
        mut self,
        family: Family,
        name: impl AsRef<[u8]>,
        f: impl FnMut(&Message) + Send + 'static,
    ) -> Handlers {
        self.by[family.index()].insert(Bytes::copy_from_slice(name.as_ref()), Box::new(f));
        self
    }

    /// Handles the messages of `channel` (subscribed with `SUBSCRIBE`).
    pub fn channel(
        self,
        channel: impl AsRef<[u8]>,
        f: impl FnMut(&Message) + Send + 'static,
    ) -> Handlers {
        self.add(Family::Channel, channel, f)
    }

    /// Handles the messages matched by `pattern` (subscribed with `PSUBSCRIBE`).
    pub fn pattern(
        self,
        pattern: impl AsRef<[u8]>,
        f: impl FnMut(&Message) + Send + 'static,
    ) -> Handlers {
        self.add(Family::Pattern, pattern, f)
    }

    /// Handles the messages of shard channel `channel` (subscribed with `SSUBSCRIBE`).
    pub fn shard_channel(
        self,
        channel: impl AsRef<[u8]>,
        f: impl FnMut(&Message) + Send + 'static,
    ) -> Handlers {
        self.add(Family::Shard, channel, f)
    }

    /// Handles messages that have no handler of their own (subscribed some other way).
    pub fn fallback(mut self, f: impl FnMut(&Message) + Send + 'static) -> Handlers {
        self.fallback = Some(Box::new(f));
        self
    }

    /// Sees every event that is not a message: [`Event::Disconnected`] and [`Event::Gap`].
    pub fn on_event(mut self, f: impl FnMut(&Event) + Send + 'static) -> Handlers {
        self.on_event = Some(Box::new(f));
        self
    }

    /// Calls the handler `event` belongs to (none, if it has none).
    pub fn handle(&mut self, event: &Event) {
        let Event::Message(m) = event else {
            if let Some(f) = &mut self.on_event {
                f(event);
            }
            return;
        };
        let (family, key) = match m.kind() {
            MessageKind::Message => (Family::Channel, m.channel()),
            MessageKind::PMessage => (Family::Pattern, m.pattern().unwrap_or(m.channel())),
            MessageKind::SMessage => (Family::Shard, m.channel()),
        };
        match self.by[family.index()].get_mut(key) {
            Some(f) => f(m),
            None => {
                if let Some(f) = &mut self.fallback {
                    f(m)
                }
            }
        }
    }

    /// What the handlers need subscribed, per family.
    pub(crate) fn subscriptions(&self) -> Vec<(Family, Vec<Bytes>)> {
        Family::ALL
            .iter()
            .map(|&f| (f, self.by[f.index()].keys().cloned().collect::<Vec<_>>()))
            .filter(|(_, v)| !v.is_empty())
            .collect()
    }
}

impl std::fmt::Debug for Handlers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handlers")
            .field("channels", &self.by[0].len())
            .field("patterns", &self.by[1].len())
            .field("shard_channels", &self.by[2].len())
            .finish()
    }
}

/// The channel names in a `ToValkeyArgs` value (a name, a list, ...), as bytes.
pub(crate) fn names(channels: &impl crate::ToValkeyArgs) -> Vec<Bytes> {
    let mut cmd = crate::Cmd::new("X");
    cmd.push_arg(channels);
    cmd.args().skip(1).map(Bytes::copy_from_slice).collect()
}

/// The limit on one reconnect attempt: the connect timeout, at most 2 s (so a frozen server
/// does not hold a subscriber's reads for long).
pub(crate) fn attempt_limit(info: &crate::ConnectionInfo) -> Duration {
    info.connect_timeout
        .unwrap_or(Duration::from_secs(2))
        .min(Duration::from_secs(2))
}

/// Whether a reconnect error is the user's to see (retrying cannot fix it by itself).
pub(crate) fn is_fatal(e: &Error) -> bool {
    matches!(
        e.kind(),
        crate::ErrorKind::Auth | crate::ErrorKind::InvalidConfig
    )
}
