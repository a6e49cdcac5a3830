//! The async cluster connection: one shared [`MultiplexedConnection`] per node, every command
//! routed by its keys through the IO-free [`crate::cluster`] core, `MOVED`/`ASK` followed, waits
//! and topology refreshes on `TRYAGAIN`/`CLUSTERDOWN`/unreachable nodes; a command that may have
//! run (`Unclear`) is never sent again.

use super::MultiplexedConnection;
use crate::cluster::{
    combine, merge_split, route, Decision, NodeAddr, ResponsePolicy, RetryPolicy, Route, SlotMap,
    Split, Topology,
};
use crate::cmd::{self, Cmd, CommandKeys};
use crate::config::{Addr, ConnectionInfo};
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;
use crate::Command;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

/// A connection to a whole cluster, shared by many tasks (cheap to clone).
///
/// Each command goes to the primary of its keys' slot, over one shared
/// [`MultiplexedConnection`] per node (opened on first use). Keys in different slots are refused
/// before sending, except for the `multi_shard` commands (`MGET`, `MSET`, `DEL`, `EXISTS`,
/// `TOUCH`, `UNLINK`), which are split per slot and put back together in the caller's order.
/// Keyless commands with an `all_shards`/`all_nodes` policy (`DBSIZE`, `FLUSHALL`, `CONFIG SET`)
/// go to every primary/node and their replies are combined by the command's response policy.
///
/// `MOVED` updates the slot map and retries at the new owner; `ASK` sends `ASKING` and the
/// command to the node named, leaving the map as it is; `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`
/// and unreachable nodes are retried with backoff (bounded by the [`RetryPolicy`]), refreshing
/// the topology from `CLUSTER SHARDS` (concurrent refreshes share one). A command that was sent
/// and whose reply was lost fails with [`ErrorKind::Unclear`] and is never re-sent: it may have
/// run.
#[derive(Clone)]
pub struct ClusterConnection {
    inner: Arc<Inner>,
}

struct Inner {
    seeds: Vec<Arc<ConnectionInfo>>,
    /// Settings for every node's connection (the first seed's, with the node's address).
    template: Arc<ConnectionInfo>,
    tls: bool,
    retry: RetryPolicy,
    state: Mutex<State>,
    /// Held while a refresh runs: callers that find one running wait for it instead.
    refreshing: tokio::sync::Mutex<()>,
    next_any: AtomicUsize,
}

struct State {
    map: Arc<SlotMap>,
    nodes: HashMap<NodeAddr, MultiplexedConnection>,
    /// Raised by each topology read (not by `MOVED` patches, which say nothing of the rest of
    /// the map): a caller that saw generation `g` and wants a refresh shares one that
    /// installed `g + 1` meanwhile.
    generation: u64,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("ClusterConnection")
            .field("version", &st.map.version())
            .field("generation", &st.generation)
            .field("nodes", &st.nodes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Polls every future until all are done; their outputs in order.
async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

fn tcp_addr(info: &ConnectionInfo) -> Result<(NodeAddr, bool)> {
    match &info.addr {
        Addr::Tcp { host, port, tls } => Ok((NodeAddr::new(host.clone(), *port), *tls)),
        _ => Err(Error::invalid_config(
            "a cluster seed must be a TCP address (valkey://host:port)",
        )),
    }
}

/// A connection that could not be opened: nothing was sent.
fn unreachable(addr: &NodeAddr, e: Error) -> Error {
    let e = e.context(format!("cluster node {addr}"));
    match e.kind() {
        ErrorKind::Io | ErrorKind::Timeout => e.not_sent(),
        _ => e,
    }
}

impl ClusterConnection {
    /// Connects to the first reachable seed, reads the topology and returns the connection.
    /// Every seed must be a TCP address; the first one's settings (password, protocol,
    /// timeouts, TLS) apply to every node.
    pub(crate) async fn connect(
        seeds: Vec<Arc<ConnectionInfo>>,
        retry: RetryPolicy,
    ) -> Result<ClusterConnection> {
        let first = seeds
            .first()
            .ok_or_else(|| Error::invalid_config("a cluster client needs at least one seed"))?;
        let (_, tls) = tcp_addr(first)?;
        for s in &seeds {
            tcp_addr(s)?;
        }
        let con = ClusterConnection {
            inner: Arc::new(Inner {
                template: Arc::clone(first),
                seeds,
                tls,
                retry,
                state: Mutex::new(State {
                    map: Arc::new(SlotMap::new(Topology::default(), 0)),
                    nodes: HashMap::new(),
                    generation: 0,
                }),
                refreshing: tokio::sync::Mutex::new(()),
                next_any: AtomicUsize::new(0),
            }),
        };
        con.refresh(0).await?;
        Ok(con)
    }

    /// The slot map as the connection knows it now.
    pub fn slot_map(&self) -> Arc<SlotMap> {
        Arc::clone(&self.inner.lock().map)
    }

    /// Reads the topology again now (waits for a refresh already running instead of starting
    /// another).
    pub async fn refresh_topology(&self) -> Result<()> {
        let seen = self.inner.lock().generation;
        self.refresh(seen).await
    }

    /// Sends a command to the node(s) its keys and policies say, and reads its reply into the
    /// command's `Output`.
    pub async fn send<C: CommandKeys>(&self, cmd: C) -> Result<C::Output> {
        self.send_as(&cmd).await
    }

    /// Sends a command and reads its reply into any `T`.
    pub async fn send_as<C: CommandKeys + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        match route(cmd)? {
            Route::Slot(slot) => self.send_slot(slot, cmd).await,
            Route::AnyNode => self.send_any(cmd).await,
            Route::AllPrimaries => {
                let nodes = self.inner.lock().map.primaries(self.inner.tls);
                T::from_valkey(self.fan_out(cmd, nodes).await?)
            }
            Route::AllNodes => {
                let nodes = self.inner.lock().map.nodes(self.inner.tls);
                T::from_valkey(self.fan_out(cmd, nodes).await?)
            }
            Route::Split(split) => T::from_valkey(self.send_split(cmd, &split).await?),
        }
    }

    /// Sends `cmd` to the node at `addr` as it is, without routing, redirects or retries
    /// (`INFO` of one node, `CLUSTER FAILOVER` on a chosen replica).
    pub async fn send_to<C: Command + ?Sized, T: FromValkey>(
        &self,
        addr: &NodeAddr,
        cmd: &C,
    ) -> Result<T> {
        self.node(addr).await?.send_as(cmd).await
    }

    /// The slot's primary, from the map (`None`: no shard serves it as far as the map knows),
    /// and the map's generation.
    fn primary(&self, slot: u16) -> (Option<NodeAddr>, u64) {
        let st = self.inner.lock();
        (st.map.primary_addr(slot, self.inner.tls), st.generation)
    }

    /// The shared connection to `addr`, opened on first use.
    async fn node(&self, addr: &NodeAddr) -> Result<MultiplexedConnection> {
        if let Some(con) = self.inner.lock().nodes.get(addr) {
            return Ok(con.clone());
        }
        let mut info = (*self.inner.template).clone();
        info.addr = Addr::Tcp {
            host: addr.host.clone(),
            port: addr.port,
            tls: self.inner.tls,
        };
        let con = MultiplexedConnection::connect(Arc::new(info))
            .await
            .map_err(|e| unreachable(addr, e))?;
        // Two callers may have connected at once: keep the first, drop the other.
        Ok(self
            .inner
            .lock()
            .nodes
            .entry(addr.clone())
            .or_insert(con)
            .clone())
    }

    /// Forgets a node's connection after it failed to reach the node (the next use opens a
    /// fresh one at once rather than waiting on the old one's reconnect attempts).
    fn forget(&self, addr: &NodeAddr) {
        self.inner.lock().nodes.remove(addr);
    }

    /// One command to the primary of `slot`, following redirects and retrying as the policy says.
    async fn send_slot<C: Command + ?Sized, T: FromValkey>(&self, slot: u16, cmd: &C) -> Result<T> {
        let retry = self.inner.retry;
        let mut ask: Option<NodeAddr> = None;
        let mut attempt = 0;
        let started = tokio::time::Instant::now();
        loop {
            attempt += 1;
            let asking = ask.take();
            let (owner, generation) = self.primary(slot);
            let Some(addr) = asking.clone().or(owner) else {
                // No primary known for the slot (a shard mid-failover): wait and read the map again.
                if attempt >= retry.max_attempts || started.elapsed() >= retry.max_wait {
                    return Err(Error::new(
                        ErrorKind::NotSent,
                        format!("no node serves slot {slot}; the command was not sent"),
                    ));
                }
                self.refresh(generation).await.ok();
                tokio::time::sleep(retry.delay(attempt)).await;
                continue;
            };
            let result = match self.node(&addr).await {
                Ok(con) if asking.is_some() => asking_then(&con, cmd).await,
                Ok(con) => con.send_as(cmd).await,
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            match retry.decide(&err, &addr, attempt, started.elapsed()) {
                Decision::Fail => return Err(err),
                Decision::Moved { slot, addr } => self.apply_moved(slot, &addr),
                Decision::Ask { addr } => ask = Some(addr),
                Decision::Retry { delay, refresh } => {
                    if err.kind() == ErrorKind::NotSent {
                        self.forget(&addr);
                    }
                    if refresh {
                        // A failed refresh is not the caller's error: the retry will tell.
                        let _ = self.refresh(generation).await;
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// A keyless command to any primary (round robin), moving to another when one is unreachable.
    async fn send_any<C: Command + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        let retry = self.inner.retry;
        let mut attempt = 0;
        let started = tokio::time::Instant::now();
        loop {
            attempt += 1;
            let (nodes, generation) = {
                let st = self.inner.lock();
                (st.map.primaries(self.inner.tls), st.generation)
            };
            let Some(addr) = (!nodes.is_empty()).then(|| {
                let i = self.inner.next_any.fetch_add(1, Ordering::Relaxed);
                nodes[i % nodes.len()].clone()
            }) else {
                return Err(Error::new(
                    ErrorKind::NotSent,
                    "no cluster node is known; the command was not sent",
                ));
            };
            let err = match self.node(&addr).await {
                Ok(con) => match con.send_as(cmd).await {
                    Ok(v) => return Ok(v),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            match retry.decide(&err, &addr, attempt, started.elapsed()) {
                Decision::Retry { delay, refresh } => {
                    if err.kind() == ErrorKind::NotSent {
                        self.forget(&addr);
                    }
                    if refresh {
                        let _ = self.refresh(generation).await;
                    }
                    tokio::time::sleep(delay).await;
                }
                _ => return Err(err),
            }
        }
    }

    /// The command to each of `nodes` at once; replies combined by its response policy.
    async fn fan_out<C: Command + ?Sized>(&self, cmd: &C, nodes: Vec<NodeAddr>) -> Result<Value> {
        let policy = cmd.meta().and_then(ResponsePolicy::of);
        let futures = nodes.into_iter().map(|addr| async move {
            let r = match self.node(&addr).await {
                Ok(con) => con.send_as::<C, Value>(cmd).await,
                Err(e) => Err(e),
            };
            (Some(addr), r)
        });
        combine(policy, join_all(futures).await)
    }

    /// A `multi_shard` command split per slot: the parts run at once, each routed and retried
    /// on its own; the replies are put back together in the caller's key order.
    async fn send_split<C: Command + ?Sized>(&self, cmd: &C, split: &Split) -> Result<Value> {
        let policy = cmd.meta().and_then(ResponsePolicy::of);
        let parts: Vec<Cmd> = split
            .parts
            .iter()
            .map(|p| {
                let mut c = Cmd::new(&p.args[0]);
                for a in &p.args[1..] {
                    c.push_arg(a);
                }
                c
            })
            .collect();
        let futures = split
            .parts
            .iter()
            .zip(&parts)
            .map(|(p, c)| self.send_slot::<Cmd, Value>(p.slot, c));
        merge_split(split, policy, join_all(futures).await)
    }

    /// Applies `MOVED`: the slot is served at `addr` now. A node never seen means the
    /// topology changed more than one slot can say: refresh it in the background.
    fn apply_moved(&self, slot: u16, addr: &NodeAddr) {
        let (known, generation) = {
            let mut st = self.inner.lock();
            let known = Arc::make_mut(&mut st.map).apply_moved(slot, addr, self.inner.tls);
            (known, st.generation)
        };
        if !known {
            let this = self.clone();
            tokio::spawn(async move {
                let _ = this.refresh(generation).await;
            });
        }
    }

    /// Reads the topology from the first node that answers (the known nodes, then the seeds)
    /// and installs it, unless one newer than generation `seen` was installed meanwhile
    /// (another caller's refresh: this one shares it).
    async fn refresh(&self, seen: u64) -> Result<()> {
        let _running = self.inner.refreshing.lock().await;
        let mut candidates = {
            let st = self.inner.lock();
            if st.generation > seen {
                return Ok(());
            }
            st.map.nodes(self.inner.tls)
        };
        for seed in &self.inner.seeds {
            let (addr, _) = tcp_addr(seed)?;
            if !candidates.contains(&addr) {
                candidates.push(addr);
            }
        }
        let mut last = None;
        for addr in candidates {
            match self.read_topology(&addr).await {
                Ok(topology) => {
                    let mut st = self.inner.lock();
                    let map = SlotMap::new(topology, st.map.version() + 1);
                    let keep = map.nodes(self.inner.tls);
                    st.nodes.retain(|a, _| keep.contains(a));
                    st.map = Arc::new(map);
                    st.generation += 1;
                    return Ok(());
                }
                Err(e) => {
                    if e.kind() == ErrorKind::NotSent {
                        self.forget(&addr);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| Error::new(ErrorKind::NotSent, "no cluster node to ask"))
            .context("reading the cluster topology"))
    }

    /// `CLUSTER SHARDS` from one node (`CLUSTER SLOTS` where the server is older than 7.0).
    async fn read_topology(&self, addr: &NodeAddr) -> Result<Topology> {
        let con = self.node(addr).await?;
        let topology = match con.send(cmd::cluster_shards::<Value>()).await {
            Ok(reply) => Topology::from_shards(&reply)?,
            Err(e) if e.is_unknown_command() => {
                Topology::from_slots(&con.send(cmd::cluster_slots::<Value>()).await?)?
            }
            Err(e) => return Err(e),
        };
        if topology.shards.iter().all(|s| s.primary.is_none()) {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("cluster node {addr} knows no primary"),
            ));
        }
        Ok(topology)
    }
}

/// `ASKING` and the command, contiguous on one connection (the server lets the one command
/// after `ASKING` into an importing slot).
async fn asking_then<C: Command + ?Sized, T: FromValkey>(
    con: &MultiplexedConnection,
    cmd: &C,
) -> Result<T> {
    let frames = con
        .round_trip(2, |buf, server| {
            crate::proto::check_supported(cmd, server)?;
            let start = buf.len();
            cmd::encode(&Cmd::new("ASKING"), buf)?;
            cmd::encode(cmd, buf).inspect_err(|_| buf.truncate(start))
        })
        .await?;
    let [asking, reply] = &frames[..] else {
        return Err(Error::protocol(
            "internal: two replies expected after ASKING",
        ));
    };
    crate::proto::decode_reply::<Value>(asking)?;
    crate::proto::decode_reply(reply)
}
