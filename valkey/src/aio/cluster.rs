//! The async cluster connection: one shared [`MultiplexedConnection`] per node, every command
//! routed by its keys through the IO-free [`crate::cluster`] core, `MOVED`/`ASK` followed, waits
//! and topology refreshes on `TRYAGAIN`/`CLUSTERDOWN`/unreachable nodes; a command that may have
//! run (`Unclear`) is never sent again.

use super::MultiplexedConnection;
use crate::cluster::exec::{
    asking_failed, check_watched_slot, decode_asking, durable_not_run, encode_asking, node_info,
    start, transaction_redirect, unreachable, usable, watch_redirect, watched_slot, Attempts,
    Directory, Next, PipelineRun, ReadFrom, Settings, Step,
};
use crate::cluster::{
    combine, merge_split, route, ClusterScan, NodeAddr, ResponsePolicy, RetryPolicy, Route,
    ScanOptions, ScanRequest, SlotMap, Split, Topology,
};
use crate::cmd::{self, Cmd, CommandKeys};
use crate::config::ConnectionInfo;
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::{encode_batch, transaction_replies, Commands, Pipeline, Replies, Reply};
use crate::value::Value;
use crate::Command;
use bytes::Bytes;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;
use std::time::Duration;

/// How long one node may take to answer `CLUSTER SHARDS` during a refresh before the next one
/// is asked (a paused node accepts connections and answers nothing).
const REFRESH_NODE_TIMEOUT: Duration = Duration::from_secs(1);

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
    /// Settings for every node's connection (the first seed's, with the node's address).
    template: Arc<ConnectionInfo>,
    tls: bool,
    retry: RetryPolicy,
    read_from: ReadFrom,
    state: Mutex<State>,
    /// Held while a refresh runs: callers that find one running wait for it instead.
    refreshing: tokio::sync::Mutex<()>,
    next_any: AtomicUsize,
}

struct State {
    dir: Directory,
    nodes: HashMap<NodeAddr, MultiplexedConnection>,
}

impl std::fmt::Debug for ClusterConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.inner.lock();
        f.debug_struct("ClusterConnection")
            .field("generation", &st.dir.generation())
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

impl ClusterConnection {
    /// Connects to the first reachable seed, reads the topology and returns the connection.
    /// Every seed must be a TCP address; the first one's settings (password, protocol,
    /// timeouts, TLS) apply to every node.
    pub(crate) async fn connect(
        seeds: Vec<Arc<ConnectionInfo>>,
        settings: Settings,
    ) -> Result<ClusterConnection> {
        let Settings {
            retry,
            read_from,
            refresh_every,
        } = settings;
        let (template, tls, dir) = start(&seeds, &read_from)?;
        let con = ClusterConnection {
            inner: Arc::new(Inner {
                template: Arc::new(template),
                tls,
                retry,
                read_from,
                state: Mutex::new(State {
                    dir,
                    nodes: HashMap::new(),
                }),
                refreshing: tokio::sync::Mutex::new(()),
                next_any: AtomicUsize::new(0),
            }),
        };
        con.refresh(0, None, None).await?;
        let stalls = Some(retry.refresh_when_slow).filter(|p| !p.is_zero());
        if stalls.is_some() || refresh_every.is_some() {
            tokio::spawn(watch(Arc::downgrade(&con.inner), stalls, refresh_every));
        }
        Ok(con)
    }

    /// The slot map as the connection knows it now.
    pub fn slot_map(&self) -> Arc<SlotMap> {
        Arc::clone(self.inner.lock().dir.map())
    }

    /// For the cluster subscriber: reads the topology again now, asking `first` first and
    /// `suspect` (a node that failed or went silent) last.
    pub(crate) async fn refresh_topology_asking(
        &self,
        first: Option<NodeAddr>,
        suspect: Option<NodeAddr>,
    ) -> Result<()> {
        let seen = self.inner.lock().dir.generation();
        self.refresh(seen, first, suspect).await
    }

    /// The settings every node's connection starts from (the first seed's).
    pub(crate) fn template(&self) -> &ConnectionInfo {
        &self.inner.template
    }

    /// Whether the nodes are reached over TLS (their addresses in the slot map depend on it).
    pub(crate) fn tls(&self) -> bool {
        self.inner.tls
    }

    /// The settings of a connection to the node at `addr` (the first seed's, at that address).
    pub(crate) fn node_settings(&self, addr: &NodeAddr) -> ConnectionInfo {
        node_info(&self.inner.template, addr, self.inner.tls)
    }

    /// Reads the topology again now (waits for a refresh already running instead of starting
    /// another).
    pub async fn refresh_topology(&self) -> Result<()> {
        let seen = self.inner.lock().dir.generation();
        self.refresh(seen, None, None).await
    }

    /// Sends a command to the node(s) its keys and policies say, and reads its reply into the
    /// command's `Output`.
    pub async fn send<C: CommandKeys>(&self, cmd: C) -> Result<C::Output> {
        self.send_as(&cmd).await
    }

    /// Sends a command and reads its reply into any `T`.
    pub async fn send_as<C: CommandKeys + ?Sized, T: FromValkey>(&self, cmd: &C) -> Result<T> {
        match route(cmd)? {
            Route::Slot(slot) => self.send_routed(Some(slot), cmd).await,
            Route::AnyNode => self.send_routed(None, cmd).await,
            Route::AllPrimaries => {
                let nodes = self.inner.lock().dir.primaries();
                T::from_valkey(self.fan_out(cmd, nodes).await?)
            }
            Route::AllNodes => {
                let nodes = self.inner.lock().dir.nodes();
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

    /// Runs a run-time [`Pipeline`] on the cluster: its commands grouped by node, each group
    /// sent as one pipeline, the groups at once; replies in the pipeline's order. A command a
    /// node redirected (`MOVED`, `ASK`, `TRYAGAIN`, ...) or a group that was never sent is sent
    /// again on its own, routed and retried like any command. Per-command server errors are
    /// kept (read them through the handles); a lost connection fails the whole run with its
    /// error (`Unclear`: the commands sent on it may have run; the other groups ran).
    /// Commands that go to several nodes (`DBSIZE`, `MGET` over slots) and blocking commands
    /// are refused before anything is sent.
    pub async fn run<'p>(&self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let replies = self.run_batch(PipelineRun::new(pipeline)?).await?;
        // Errors already name the node they came from; the first seed is the fallback.
        Ok(pipeline.replies(replies, &self.inner.template, false))
    }

    /// Runs typed commands (a tuple or `Vec`) as a cluster pipeline, as [`ClusterConnection::run`]
    /// does, and returns their outputs; the first command that failed makes it an `Err` naming
    /// that command (the others still ran).
    pub async fn pipe<P: Commands>(&self, cmds: P) -> Result<P::Output> {
        let replies = self.run_batch(PipelineRun::of(&cmds)?).await?;
        cmds.decode(&mut replies.into_iter())
    }

    /// Like [`ClusterConnection::pipe`], but every command's own `Result` is returned.
    pub async fn pipe_results<P: Commands>(&self, cmds: P) -> Result<P::Results> {
        let replies = self.run_batch(PipelineRun::of(&cmds)?).await?;
        cmds.decode_results(&mut replies.into_iter(), &|e| e)
    }

    async fn run_batch(&self, mut run: PipelineRun) -> Result<Vec<Reply>> {
        let groups = {
            let st = self.inner.lock();
            run.groups(&st.dir, self.inner.next_any.fetch_add(1, Ordering::Relaxed))?
        };
        let batch = &run;
        let sent = join_all(groups.iter().map(|(addr, indices)| async move {
            let con = self.node(addr).await?;
            con.round_trip(indices.len(), |buf, _| {
                batch.encode_group(indices, buf);
                Ok(())
            })
            .await
        }))
        .await;
        for ((addr, indices), result) in groups.iter().zip(sent) {
            match result {
                Ok(frames) => run.answered(indices, frames, addr),
                Err(e) if e.kind() == ErrorKind::NotSent => {
                    self.inner.lock().nodes.remove(addr);
                    run.not_sent(indices);
                }
                Err(e) => return Err(e.context(format!("cluster node {addr}"))),
            }
        }
        let resends = run.take_resends();
        let again = join_all(
            resends
                .iter()
                .map(|(_, slot, cmd)| self.send_routed::<Cmd, Value>(*slot, cmd)),
        )
        .await;
        for ((i, _, _), r) in resends.iter().zip(again) {
            run.resent(*i, r)?;
        }
        run.finish()
    }

    /// The shared connection to `addr`, opened on first use.
    async fn node(&self, addr: &NodeAddr) -> Result<MultiplexedConnection> {
        if let Some(con) = self.inner.lock().nodes.get(addr) {
            return Ok(con.clone());
        }
        let info = node_info(&self.inner.template, addr, self.inner.tls);
        let con = MultiplexedConnection::connect(Arc::new(info))
            .await
            .map_err(|e| unreachable(addr, e))?;
        // Blocked callers notice a frozen node as soon as a stall would refresh the topology.
        con.set_probe_every(self.inner.retry.refresh_when_slow);
        // Two callers may have connected at once: keep the first, drop the other.
        Ok(self
            .inner
            .lock()
            .nodes
            .entry(addr.clone())
            .or_insert(con)
            .clone())
    }

    /// One command to the primary of `slot` (any primary for `None`), following redirects
    /// and retrying as the shared [`Attempts`] say.
    async fn send_routed<C: Command + ?Sized, T: FromValkey>(
        &self,
        slot: Option<u16>,
        cmd: &C,
    ) -> Result<T> {
        let read_only = cmd.blocks().is_none() && cmd.meta().is_some_and(|m| m.is_readonly());
        let mut attempts = Attempts::new(self.inner.retry).reading(read_only);
        let reads = self.inner.read_from != ReadFrom::Primary
            && cmd.meta().is_some_and(|m| m.is_readonly());
        loop {
            let pick =
                |dir: &Directory, from: &ReadFrom, n| dir.target(slot, reads.then_some(from), n);
            let Some((addr, asking, generation)) = self.next_node(&mut attempts, pick).await?
            else {
                continue;
            };
            let result = match self.node(&addr).await {
                Ok(con) => match (cmd.blocks(), asking) {
                    (None, false) => con.send_as(cmd).await,
                    (None, true) => con
                        .round_trip(2, |buf, server| encode_asking(cmd, server, buf))
                        .await
                        .and_then(|frames| decode_asking(&frames)),
                    (Some(blocks), asking) => self.send_blocking(&con, cmd, blocks, asking).await,
                },
                Err(e) => Err(e),
            };
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.after(attempts.failed(err, &addr), &addr, generation)
                .await?;
        }
    }

    /// A blocking command (`BLPOP`, `XREAD BLOCK`, ...) on a dedicated connection to its node
    /// (after `ASKING` when `asking`), as the node's shared connection runs it: its own timeout
    /// plus the liveness margin as deadline, none for a timeout of 0. Meanwhile the node is
    /// `PING`ed on its shared connection every `refresh_when_slow`
    /// ([`MultiplexedConnection::probed`]): a frozen node fails the caller with `Unclear` within
    /// that period plus `response_timeout`, even for `BLPOP k 0`. A cancelled caller drops its
    /// dedicated connection (closed, never reused), so nothing else waits behind it.
    async fn send_blocking<C: Command + ?Sized, T: FromValkey>(
        &self,
        con: &MultiplexedConnection,
        cmd: &C,
        blocks: crate::cmd::Blocks,
        asking: bool,
    ) -> Result<T> {
        if !asking {
            return con.send_as::<C, T>(cmd).await;
        }
        // ASKING and the command together, on a connection of their own: the shared one
        // would wait behind the command.
        let d = con.take_dedicated_probed(blocks).await?;
        let blocked = d.con.with_silence(
            blocks,
            d.con
                .round_trip(2, |buf, server| encode_asking(cmd, server, buf)),
        );
        let frames = con.probed(blocks, true, blocked).await;
        d.give_back();
        frames
            .and_then(|f| decode_asking(&f))
            .map_err(|e| con.command_failed(e, || crate::cmd::name_of(cmd)))
    }

    /// Does what a failed attempt's step says (apply a `MOVED`, forget an unreachable node,
    /// refresh, wait); `Err` when the error goes to the caller.
    async fn after(&self, step: Step, addr: &NodeAddr, generation: u64) -> Result<()> {
        match step {
            Step::Fail(e) => return Err(e),
            Step::Again => {}
            Step::Moved {
                slot,
                addr: to,
                delay,
            } => {
                let refresh = self.inner.lock().dir.apply_moved(slot, &to);
                if let Some(seen) = refresh {
                    let this = self.clone();
                    tokio::spawn(async move {
                        let _ = this.refresh(seen, Some(to), None).await;
                    });
                }
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
            }
            Step::Wait {
                delay,
                refresh,
                forget,
            } => {
                if forget {
                    self.inner.lock().nodes.remove(addr);
                }
                if refresh {
                    // A failed refresh is not the caller's error: the next attempt will tell.
                    let _ = self.refresh(generation, None, None).await;
                }
                tokio::time::sleep(delay).await;
            }
        }
        Ok(())
    }

    /// Scans every key of the cluster (optionally only those matching a pattern or of a type),
    /// batch by batch ([`ScanBatches::next_batch`]), visiting every primary by slot ranges: a
    /// key present from the scan's start to its end is returned at least once even while
    /// slots move or a primary fails over mid-scan (a key may come twice; keys written or
    /// deleted meanwhile may or may not come). Primary by primary, with `CLUSTERSCAN`
    /// where the server has it (Valkey 9.1), else `SCAN` (see [`crate::cluster::ClusterScan`]).
    pub fn scan(&self, options: ScanOptions) -> ScanBatches {
        ScanBatches {
            scan: ClusterScan::new(options, self.inner.retry),
            con: self.clone(),
        }
    }

    /// One step of a scan: the keys it found (maybe none), `None` when it is over.
    async fn scan_step(&self, scan: &mut ClusterScan) -> Result<Option<Vec<Bytes>>> {
        let (request, generation) = {
            let st = self.inner.lock();
            (scan.next(&st.dir)?, st.dir.generation())
        };
        match request {
            ScanRequest::Done => Ok(None),
            ScanRequest::Wait(delay) => {
                // A failed refresh is not the caller's error: the next step will tell.
                let _ = self.refresh(generation, None, None).await;
                tokio::time::sleep(delay).await;
                Ok(Some(Vec::new()))
            }
            ScanRequest::Probe(addr) => {
                let reply = self.send_to(&addr, &cmd::cluster_nodes()).await;
                scan.probe_reply(&addr, reply).map(|()| Some(Vec::new()))
            }
            ScanRequest::NodeScan(addr, cmd) => {
                let reply = self.send_to(&addr, &cmd).await;
                scan.node_reply(&addr, reply).map(Some)
            }
        }
    }

    /// Writes the commands and waits until the server confirms them as `durability` asks
    /// (`WAIT` / `WAITAOF`), on a dedicated connection to the primary of their one slot (keys in
    /// several slots are refused before sending); returns their outputs and the
    /// acknowledgements, as [`MultiplexedConnection::pipe_durable`] does. Until the commands
    /// are written, an unreachable node or a missing primary is waited out and retried like any
    /// command. Once written they are sent again only when the reply proves that nothing ran:
    /// one command refused with `MOVED` (followed, the topology read again), `ASK` (`ASKING`
    /// and the batch to the node named), `TRYAGAIN`, `CLUSTERDOWN` or `LOADING` (waited out),
    /// within the retry policy. A batch of several commands of which one was refused is
    /// returned to the caller (the others may have run), with the slot map updated.
    pub async fn pipe_durable<P: Commands>(
        &self,
        cmds: P,
        durability: crate::pipeline::Durability,
    ) -> Result<(P::Output, crate::pipeline::Acks)> {
        let slot = PipelineRun::of(&cmds)?.single_slot()?;
        let mut attempts = Attempts::new(self.inner.retry);
        loop {
            let pick = |dir: &Directory, _: &ReadFrom, n| dir.target(slot, None, n);
            let Some((addr, asking, generation)) = self.next_node(&mut attempts, pick).await?
            else {
                continue;
            };
            // Opening the node's connection and its dedicated one, and `ASKING` where a
            // migration asked for it, send nothing of the batch.
            let dedicated = match self.node(&addr).await {
                Ok(con) => match con.take_dedicated().await {
                    Ok(d) if asking => match d.con.send_as::<Cmd, Value>(&Cmd::new("ASKING")).await
                    {
                        Ok(_) => Ok(d),
                        Err(e) => Err(asking_failed(e, &addr)),
                    },
                    Ok(d) => Ok(d),
                    Err(e) => Err(unreachable(&addr, e)),
                },
                Err(e) => Err(e),
            };
            let d = match dedicated {
                Ok(d) => d,
                Err(e) => {
                    self.after(attempts.failed(e, &addr), &addr, generation)
                        .await?;
                    continue;
                }
            };
            let r = d.con.pipe_durable_ref(&cmds, durability).await;
            d.give_back();
            match r {
                Err(e) if durable_not_run(&e, cmds.len(), &addr) => {
                    self.after(attempts.failed(e, &addr), &addr, generation)
                        .await?
                }
                Err(e) => {
                    if let Some(crate::cluster::Redirect::Moved { slot, addr: to }) =
                        crate::cluster::Redirect::from_error(&e, &addr)
                    {
                        let refresh = self.inner.lock().dir.apply_moved(slot, &to);
                        if let Some(seen) = refresh {
                            let _ = self.refresh(seen, Some(to), None).await;
                        }
                    }
                    return Err(e);
                }
                ok => return ok,
            }
        }
    }

    /// Runs typed commands as a transaction (`MULTI` ... `EXEC`, contiguous on the wire) on
    /// the primary of their one slot; keys in several slots are refused before sending. A
    /// command refused at queue time with `MOVED`, `ASK` or `TRYAGAIN` means nothing ran
    /// (`EXECABORT`): the whole transaction goes again, to the slot's owner, as the retry
    /// policy allows. Other outcomes as for [`MultiplexedConnection::transaction`].
    pub async fn transaction<P: Commands>(&self, cmds: P) -> Result<P::Output> {
        let replies = self.run_transaction(&cmds).await?;
        cmds.decode(&mut replies.into_iter())
    }

    /// Like [`ClusterConnection::transaction`], but every command's own `Result` is returned.
    pub async fn transaction_results<P: Commands>(&self, cmds: P) -> Result<P::Results> {
        let replies = self.run_transaction(&cmds).await?;
        cmds.decode_results(&mut replies.into_iter(), &|e| e)
    }

    async fn run_transaction<P: Commands>(&self, cmds: &P) -> Result<Vec<Reply>> {
        let slot = PipelineRun::of(cmds)?.single_slot()?;
        let n = cmds.len();
        let mut attempts = Attempts::new(self.inner.retry);
        loop {
            // `transaction_redirect` turns ASK into TRYAGAIN: no ASKING here.
            let pick = |dir: &Directory, _: &ReadFrom, n| dir.target(slot, None, n);
            let Some((addr, _, generation)) = self.next_node(&mut attempts, pick).await? else {
                continue;
            };
            let sent = match self.node(&addr).await {
                Ok(con) => {
                    con.round_trip(n + 2, |buf, server| {
                        encode_batch(cmds, true, server, buf).map(|_| ())
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            let err = match sent {
                Ok(frames) => match transaction_redirect(&frames, &addr) {
                    None => return transaction_replies(frames, n, |i| cmds.name_of(i)),
                    Some(e) => e,
                },
                Err(e) => e,
            };
            self.after(attempts.failed(err, &addr), &addr, generation)
                .await?;
        }
    }

    /// Optimistic locking on a cluster: `WATCH`es `keys` (all in one slot) on a connection of
    /// its own to the slot's primary (WATCH is connection state: the shared node connection
    /// never carries it), calls `f` with that connection to read and return the commands to
    /// run, and runs them in `MULTI`/`EXEC` there, as
    /// [`MultiplexedConnection::watch`] does: a watched key changed by someone else makes
    /// `EXEC` return nil, and the helper starts over, up to `options.max_attempts` times, then
    /// fails with [`ErrorKind::WatchConflict`] (`max_attempts: 1` reports the first abort).
    ///
    /// Keys in several slots, or commands outside the watched slot, are refused before they
    /// are sent ([`ErrorKind::InvalidInput`]). When the slot moves while watched (the `WATCH`,
    /// a read in `f` or a queued command answered `MOVED`/`ASK`/`TRYAGAIN`: `EXEC` then ran
    /// nothing), the whole transaction starts again from the `WATCH` on the slot's new owner,
    /// as the retry policy allows: an `EXEC` never runs on a node that did not see the `WATCH`.
    pub async fn watch<K, P, F, Fut>(
        &self,
        keys: &K,
        options: crate::pipeline::WatchOptions,
        mut f: F,
    ) -> Result<P::Output>
    where
        K: crate::convert::ToValkeyArgs + ?Sized,
        P: Commands,
        F: FnMut(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<P>>,
    {
        let mut watch = Cmd::new("WATCH");
        watch.push_arg(keys);
        let slot = watched_slot(&watch)?;
        let mut attempts = Attempts::new(self.inner.retry);
        loop {
            // `watch_redirect` turns ASK into TRYAGAIN: no ASKING here.
            let pick = |dir: &Directory, _: &ReadFrom, _| dir.primary(slot);
            let Some((addr, _, generation)) = self.next_node(&mut attempts, pick).await? else {
                continue;
            };
            let ran = match self.node(&addr).await {
                Ok(con) => {
                    let checked = |c| {
                        let cmds = f(c);
                        async move {
                            let cmds = cmds.await?;
                            check_watched_slot(&cmds, slot)?;
                            Ok(cmds)
                        }
                    };
                    con.watch(keys, options, checked).await
                }
                Err(e) => Err(e),
            };
            let err = match ran {
                Ok(out) => return Ok(out),
                Err(e) => match watch_redirect(&e, &addr, slot) {
                    Some(redirect) => redirect,
                    None if e.is_not_sent() => e,
                    None => return Err(e),
                },
            };
            self.after(attempts.failed(err, &addr), &addr, generation)
                .await?;
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
        let parts: Vec<Cmd> = split.parts.iter().map(|p| p.command()).collect();
        let futures = split
            .parts
            .iter()
            .zip(&parts)
            .map(|(p, c)| self.send_routed::<Cmd, Value>(Some(p.slot), c));
        merge_split(split, policy, join_all(futures).await)
    }

    /// Reads the topology from the first node that answers (`first`, the known nodes, the seeds)
    /// and installs it, unless one newer than generation `seen` was installed meanwhile
    /// (another caller's refresh: this one shares it).
    /// The node of the next attempt, chosen by `pick` from the directory (given where reads go
    /// and a rotating number for spreading), with whether it needs `ASKING` and the topology generation it was
    /// chosen from; `None` after waiting (and refreshing the topology) as `attempts` asked: try
    /// again. The error is the one to give up with.
    async fn next_node(
        &self,
        attempts: &mut Attempts,
        pick: impl FnOnce(&Directory, &ReadFrom, usize) -> Option<NodeAddr>,
    ) -> Result<Option<(NodeAddr, bool, u64)>> {
        let (next, generation) = {
            let st = self.inner.lock();
            let n = self.inner.next_any.fetch_add(1, Ordering::Relaxed);
            let owner = pick(&st.dir, &self.inner.read_from, n);
            (attempts.next(owner), st.dir.generation())
        };
        match next {
            Next::Send { addr, asking } => Ok(Some((addr, asking, generation))),
            Next::GiveUp(e) => Err(e),
            Next::Wait { delay } => {
                // A failed refresh is not the caller's error: the next attempt will tell.
                let _ = self.refresh(generation, None, None).await;
                tokio::time::sleep(delay).await;
                Ok(None)
            }
        }
    }

    async fn refresh(
        &self,
        seen: u64,
        first: Option<NodeAddr>,
        last: Option<NodeAddr>,
    ) -> Result<()> {
        let _running = self.inner.refreshing.lock().await;
        let candidates = {
            let st = self.inner.lock();
            if !st.dir.wants_refresh(seen) {
                return Ok(());
            }
            st.dir.refresh_candidates(first.as_ref(), last.as_ref())
        };
        let mut last = None;
        for addr in candidates {
            let read = tokio::time::timeout(REFRESH_NODE_TIMEOUT, self.read_topology(&addr));
            match read.await {
                Ok(Ok(topology)) => {
                    let gone: Vec<(NodeAddr, MultiplexedConnection)> = {
                        let mut st = self.inner.lock();
                        let keep = st.dir.install(topology);
                        let gone = st.nodes.keys().filter(|a| !keep.contains(a)).cloned();
                        let gone: Vec<NodeAddr> = gone.collect();
                        gone.into_iter()
                            .filter_map(|a| st.nodes.remove_entry(&a))
                            .collect()
                    };
                    // A node the cluster no longer lists (failed, removed): what waits on it
                    // ends now, as `Unclear`, instead of at the liveness deadline.
                    for (addr, con) in gone {
                        con.abandon(&format!(
                            "cluster node {addr} is no longer in the cluster's topology"
                        ));
                    }
                    return Ok(());
                }
                Ok(Err(e)) => {
                    if matches!(e.kind(), ErrorKind::NotSent | ErrorKind::Closed) {
                        self.inner.lock().nodes.remove(&addr);
                    }
                    last = Some(e);
                }
                Err(_) => {
                    last = Some(Error::new(
                        ErrorKind::Timeout,
                        format!("cluster node {addr} did not answer CLUSTER SHARDS in time"),
                    ))
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
            Ok(reply) => Topology::from_shards_seen_by(&reply, Some(addr))?,
            Err(e) if e.is_unknown_command() => {
                Topology::from_slots(&con.send(cmd::cluster_slots::<Value>()).await?)?
            }
            Err(e) => return Err(e),
        };
        usable(topology, addr)
    }
}

/// The keys of a cluster scan, batch by batch ([`ClusterConnection::scan`]).
#[derive(Debug)]
pub struct ScanBatches {
    con: ClusterConnection,
    scan: ClusterScan,
}

impl ScanBatches {
    /// The next keys found (never an empty batch), `None` when every slot was scanned. After
    /// an error the scan is over.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Bytes>>> {
        loop {
            match self.con.scan_step(&mut self.scan).await {
                Ok(Some(keys)) if keys.is_empty() => {}
                Ok(found) => return Ok(found),
                Err(e) => {
                    self.scan.finish();
                    return Err(e);
                }
            }
        }
    }

    /// Every key left, in one `Vec` (for scans known to be small).
    pub async fn collect_all(mut self) -> Result<Vec<Bytes>> {
        let mut all = Vec::new();
        while let Some(keys) = self.next_batch().await? {
            all.extend(keys);
        }
        Ok(all)
    }
}

/// The cluster connection's one timer. Every `stalls` period it looks at each node's shared
/// connection: one that had replies due at both ends of the period and read nothing in it is
/// stalled (a hung node), and the topology is read again, asking that node last; when the
/// cluster has failed the node over, the refresh closes its connection and its commands end as
/// `Unclear`. Every `refresh_every` it reads the topology again anyway. No timer per command;
/// ends when the cluster connection is dropped.
async fn watch(inner: Weak<Inner>, stalls: Option<Duration>, refresh_every: Option<Duration>) {
    let tick = match (stalls, refresh_every) {
        (Some(s), Some(r)) => s.min(r),
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => return,
    };
    let mut before: HashMap<NodeAddr, (u64, bool)> = HashMap::new();
    let mut last_refresh = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let Some(inner) = inner.upgrade() else { return };
        let mut stalled = None;
        if stalls.is_some() {
            let nodes: Vec<(NodeAddr, MultiplexedConnection)> = inner
                .lock()
                .nodes
                .iter()
                .map(|(a, c)| (a.clone(), c.clone()))
                .collect();
            let mut now = HashMap::with_capacity(nodes.len());
            for (addr, con) in nodes {
                let (reads, due) = con.progress();
                if due && before.get(&addr) == Some(&(reads, true)) {
                    stalled = Some(addr.clone());
                }
                now.insert(addr, (reads, due));
            }
            before = now;
        }
        let due = refresh_every.is_some_and(|every| last_refresh.elapsed() >= every);
        if stalled.is_some() || due {
            last_refresh = tokio::time::Instant::now();
            let this = ClusterConnection { inner };
            let generation = this.inner.lock().dir.generation();
            let _ = this.refresh(generation, None, stalled).await;
        }
    }
}
