//! The async cluster subscriber: the IO-free [`ClusterCore`] driven over one tokio socket per
//! link (opened and greeted by the async connection's `establish`), all of them read at once,
//! with the topology read through the async [`ClusterConnection`].

use super::cluster_core::{ClusterCore, LinkId, View};
use super::message::{Confirmation, Family};
use super::tokio::{await_change, next_event, next_event_within, AsyncPump, NextEvent};
use super::{
    attempt_limit, is_fatal, names, AsyncPubSubTask, Event, Handlers, DEFAULT_HEALTH_CHECK_INTERVAL,
};
use crate::aio::stream::{establish, BoxRead, BoxWrite};
use crate::aio::ClusterConnection;
use crate::cluster::NodeAddr;
use crate::config::ConnectionInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::ReadBuffer;
use crate::ToValkeyArgs;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// One open socket of a link.
struct Socket {
    addr: NodeAddr,
    info: ConnectionInfo,
    r: BoxRead,
    w: BoxWrite,
    rbuf: ReadBuffer,
}

/// What one poll of the sockets found: the links that read bytes (now in their buffers), the
/// ones whose socket closed or failed, and the ones that had nothing.
#[derive(Default)]
struct Polled {
    read: Vec<LinkId>,
    failed: Vec<(LinkId, Error)>,
    quiet: Vec<LinkId>,
}

/// An async subscriber to a whole cluster (from [`crate::ClusterClient::get_async_pubsub`]):
/// the async twin of [`super::ClusterPubSub`], every connection read at once. Read events with
/// [`AsyncClusterPubSub::next`] or [`AsyncClusterPubSub::get_message`]; both are cancel-safe.
/// See the [module documentation](crate::pubsub#cluster).
pub struct AsyncClusterPubSub {
    cluster: ClusterConnection,
    core: ClusterCore,
    sockets: BTreeMap<LinkId, Socket>,
    wait: Duration,
}

impl AsyncClusterPubSub {
    pub(crate) fn open(cluster: ClusterConnection) -> AsyncClusterPubSub {
        let wait = super::core::confirmation_wait(cluster.template());
        AsyncClusterPubSub {
            cluster,
            core: ClusterCore::new(Some(DEFAULT_HEALTH_CHECK_INTERVAL)),
            sockets: BTreeMap::new(),
            wait,
        }
    }

    /// Sets how long each connection may read nothing before it PINGs its node (`None`:
    /// never). Default [`DEFAULT_HEALTH_CHECK_INTERVAL`].
    pub fn set_health_check_interval(&mut self, interval: Option<Duration>) {
        self.core.set_interval(interval);
    }

    /// Subscribes to channels (one name or a list); returns the server's confirmations.
    pub async fn subscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, true, names(&channels)).await
    }

    /// Unsubscribes from channels; an empty list unsubscribes from all.
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

    /// Subscribes to shard channels, each on the primary of its slot (split per slot).
    pub async fn ssubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, true, names(&channels)).await
    }

    /// Unsubscribes from shard channels; an empty list unsubscribes from all.
    pub async fn sunsubscribe(&mut self, channels: impl ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, false, names(&channels)).await
    }

    /// The channels, patterns or shard channels subscribed to (as asked).
    pub fn subscriptions(&self, family: Family) -> Vec<Bytes> {
        self.core.wanted(family)
    }

    /// The cluster connection the subscriber reads the topology with.
    pub fn cluster(&self) -> &ClusterConnection {
        &self.cluster
    }

    async fn change(
        &mut self,
        family: Family,
        subscribe: bool,
        channels: Vec<Bytes>,
    ) -> Result<Vec<Confirmation>> {
        let r = self.change_unnamed(family, subscribe, &channels).await;
        r.map_err(|e| e.context(format!("{} on the cluster", family.command(subscribe))))
    }

    async fn change_unnamed(
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
        await_change(self, family, subscribe, channels, wait).await
    }

    /// The next event, waiting as long as it takes (reconnecting and following the topology
    /// inside). Cancel-safe.
    pub async fn next(&mut self) -> Result<Event> {
        next_event(self).await
    }

    /// The next event, waiting at most `timeout`: `Ok(None)` when nothing came.
    pub async fn get_message(&mut self, timeout: Duration) -> Result<Option<Event>> {
        next_event_within(self, timeout).await
    }

    /// Subscribes to everything `handlers` has, then runs them on a spawned task until
    /// [`AsyncPubSubTask::stop`] (as [`super::AsyncPubSub::run`]).
    pub async fn run(mut self, handlers: Handlers) -> Result<AsyncPubSubTask> {
        for (family, channels) in handlers.subscriptions() {
            self.change(family, true, channels).await?;
        }
        Ok(AsyncPubSubTask::spawn(self, handlers))
    }

    /// One step: read the topology if due, open the links that are due, write what is queued
    /// (one write per link), else read whatever link has something and act on the health
    /// checks. Cancel-safe: each await either completes its step or changes nothing.
    async fn pump(&mut self, deadline: Instant) -> Result<()> {
        if let Some((first, suspect)) = self.core.topology_due(std::time::Instant::now()) {
            match self.cluster.refresh_topology_asking(first, suspect).await {
                Ok(()) => {
                    let map = self.cluster.slot_map();
                    let view = View {
                        map: &map,
                        tls: self.cluster.tls(),
                    };
                    self.core.on_topology(&view, std::time::Instant::now())?;
                }
                Err(e) => {
                    tracing::debug!("cluster subscriber: reading the topology failed: {e}");
                    self.core.topology_failed(std::time::Instant::now());
                }
            }
            self.forget_closed();
            return Ok(());
        }
        if let Some((id, addr)) = self
            .core
            .connect_due(std::time::Instant::now())
            .into_iter()
            .next()
        {
            return self.connect(id, addr).await;
        }
        if self.write_some().await {
            return Ok(());
        }
        let now = Instant::now();
        let wait = self
            .core
            .wait_hint(now.into_std())
            .min(deadline.saturating_duration_since(now))
            .max(Duration::from_millis(1));
        // Frames already buffered go first (a read may have brought several).
        let buffered: Vec<LinkId> = self.sockets.keys().cloned().collect();
        for id in buffered {
            if self.feed(&id)? {
                self.forget_closed();
                return Ok(());
            }
        }
        let polled = self.poll_sockets(wait).await;
        for id in polled.read {
            if let Some(link) = self.core.link_mut(&id) {
                link.core.on_bytes(std::time::Instant::now());
            }
            self.feed(&id)?;
        }
        for (id, e) in polled.failed {
            self.lost(&id, e);
        }
        self.check_health(&polled.quiet)?;
        self.forget_closed();
        Ok(())
    }

    /// Opens one link's socket (within the attempt limit).
    async fn connect(&mut self, id: LinkId, addr: NodeAddr) -> Result<()> {
        let info = self.cluster.node_settings(&addr);
        let limit = attempt_limit(&info);
        let attempt = match tokio::time::timeout(limit, establish(&info)).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("connecting to {addr} took longer than {limit:?}"),
            )),
        };
        match attempt {
            Ok((r, w, rbuf, _)) => {
                let socket = Socket {
                    addr,
                    info,
                    r,
                    w,
                    rbuf,
                };
                self.sockets.insert(id.clone(), socket);
                self.core.on_connected(&id, std::time::Instant::now())
            }
            Err(e) => {
                tracing::debug!("cluster subscriber: connecting to {addr} failed: {e}");
                self.core.on_connect_failed(&id, std::time::Instant::now());
                if is_fatal(&e) {
                    Err(e)
                } else {
                    Ok(())
                }
            }
        }
    }

    /// One write on the first link with queued commands; `false` when none had any.
    async fn write_some(&mut self) -> bool {
        let mut pending = None;
        for (id, link) in self.core.links() {
            if link.written < link.out.len() && self.sockets.contains_key(id) {
                pending = Some(id.clone());
                break;
            }
        }
        let Some(id) = pending else {
            return false;
        };
        let r = {
            let socket = self.sockets.get_mut(&id).expect("checked above");
            let link = self.core.link_mut(&id).expect("checked above");
            socket.w.write(&link.out[link.written..]).await
        };
        match r {
            Ok(0) => self.lost(&id, Error::new(ErrorKind::Io, "the socket accepts no more")),
            Ok(n) => {
                let link = self.core.link_mut(&id).expect("checked above");
                link.written += n;
                if link.written == link.out.len() {
                    link.out.clear();
                    link.written = 0;
                }
            }
            Err(e) => self.lost(&id, Error::io("writing to the server failed", e)),
        }
        true
    }

    /// Feeds the complete frames buffered on link `id` to the core; `Ok(true)` if there were.
    fn feed(&mut self, id: &LinkId) -> Result<bool> {
        let mut any = false;
        loop {
            let Some(socket) = self.sockets.get_mut(id) else {
                return Ok(any);
            };
            match socket.rbuf.next_frame() {
                Ok(Some(frame)) => {
                    any = true;
                    match self.core.on_frame(id, &frame, std::time::Instant::now()) {
                        Ok(()) => {}
                        Err(e) if e.is_server_error() => return Err(e),
                        Err(e) => {
                            self.lost(id, e);
                            return Ok(true);
                        }
                    }
                }
                Ok(None) => return Ok(any),
                Err(e) => {
                    self.lost(id, e);
                    return Ok(true);
                }
            }
        }
    }

    /// Waits until some socket has bytes (read into its buffer) or failed, or `wait` ended;
    /// every socket is polled each time, so the quiet ones are known too.
    async fn poll_sockets(&mut self, wait: Duration) -> Polled {
        let sleep = tokio::time::sleep(wait);
        let mut sleep = std::pin::pin!(sleep);
        let sockets = &mut self.sockets;
        std::future::poll_fn(|cx| {
            let mut polled = Polled::default();
            for (id, s) in sockets.iter_mut() {
                let mut buf = ReadBuf::new(s.rbuf.spare());
                match Pin::new(&mut s.r).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        let n = buf.filled().len();
                        if n == 0 {
                            let e = Error::new(ErrorKind::Io, "the server closed the connection");
                            polled.failed.push((id.clone(), e));
                        } else {
                            s.rbuf.advance(n);
                            polled.read.push(id.clone());
                        }
                    }
                    Poll::Ready(Err(e)) => {
                        let e = Error::io("reading from the server failed", e);
                        polled.failed.push((id.clone(), e));
                    }
                    Poll::Pending => polled.quiet.push(id.clone()),
                }
            }
            if !polled.read.is_empty() || !polled.failed.is_empty() {
                return Poll::Ready(polled);
            }
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(polled);
            }
            Poll::Pending
        })
        .await
    }

    /// For the links just found quiet: PING those quiet for an interval, give up those
    /// silent for another.
    fn check_health(&mut self, quiet: &[LinkId]) -> Result<()> {
        let now = std::time::Instant::now();
        for id in quiet {
            if let Some(e) = self.core.quiet(id, now)? {
                self.lost(id, e);
            }
        }
        Ok(())
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
            self.core.on_link_lost(id, e, std::time::Instant::now());
        }
    }
}

impl AsyncPump for AsyncClusterPubSub {
    type Core = ClusterCore;
    fn core(&mut self) -> &mut ClusterCore {
        &mut self.core
    }
    fn step(&mut self, deadline: Instant) -> impl Future<Output = Result<()>> + Send {
        self.pump(deadline)
    }
}

impl NextEvent for AsyncClusterPubSub {
    fn next_event(&mut self) -> impl Future<Output = Result<Event>> + Send {
        self.next()
    }
}

impl std::fmt::Debug for AsyncClusterPubSub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncClusterPubSub")
            .field("connected", &self.sockets.keys().collect::<Vec<_>>())
            .finish()
    }
}
