//! The blocking cluster connection: one blocking [`Connection`] per node, driven by the same
//! IO-free steps as the async one ([`crate::cluster::exec`]): routing by keys, `MOVED`/`ASK`,
//! bounded retries with topology refreshes, never re-sending a command that may have run.

use super::Connection;
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
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A blocking connection to a whole cluster: the same routing, redirects and retries as
/// [`crate::aio::ClusterConnection`], one blocking [`Connection`] per node, for one thread
/// at a time. Fan-out and split commands visit their nodes one after the other.
#[derive(Debug)]
pub struct ClusterConnection {
    template: Arc<ConnectionInfo>,
    tls: bool,
    retry: RetryPolicy,
    read_from: ReadFrom,
    refresh_every: Option<Duration>,
    /// When the topology was last read.
    refreshed: Instant,
    dir: Directory,
    nodes: HashMap<NodeAddr, Connection>,
    next_any: usize,
}

impl ClusterConnection {
    /// Connects to the first reachable seed and reads the topology (see
    /// [`crate::ClusterClient::get_connection`]).
    pub(crate) fn connect(
        seeds: Vec<Arc<ConnectionInfo>>,
        settings: Settings,
    ) -> Result<ClusterConnection> {
        let Settings {
            retry,
            read_from,
            refresh_every,
        } = settings;
        let (template, tls, dir) = start(&seeds, &read_from)?;
        let mut con = ClusterConnection {
            template: Arc::new(template),
            tls,
            retry,
            read_from,
            refresh_every,
            refreshed: Instant::now(),
            dir,
            nodes: HashMap::new(),
            next_any: 0,
        };
        con.refresh(0, None)?;
        Ok(con)
    }

    /// The slot map as the connection knows it now.
    pub fn slot_map(&self) -> Arc<SlotMap> {
        Arc::clone(self.dir.map())
    }

    /// For the cluster subscriber: reads the topology again now, asking `first` first and
    /// `suspect` last.
    pub(crate) fn refresh_topology_asking(
        &mut self,
        first: Option<&NodeAddr>,
        suspect: Option<&NodeAddr>,
    ) -> Result<()> {
        let seen = self.dir.generation();
        self.refresh_asking(seen, first, suspect)
    }

    /// The settings every node's connection starts from (the first seed's).
    pub(crate) fn template(&self) -> &ConnectionInfo {
        &self.template
    }

    /// Whether the nodes are reached over TLS (their addresses in the slot map depend on it).
    pub(crate) fn tls(&self) -> bool {
        self.tls
    }

    /// The settings of a connection to the node at `addr` (the first seed's, at that address).
    pub(crate) fn node_settings(&self, addr: &NodeAddr) -> ConnectionInfo {
        node_info(&self.template, addr, self.tls)
    }

    /// Reads the topology again now.
    pub fn refresh_topology(&mut self) -> Result<()> {
        let seen = self.dir.generation();
        self.refresh(seen, None)
    }

    /// Sends a command to the node(s) its keys and policies say, and reads its reply into the
    /// command's `Output`.
    pub fn send<C: CommandKeys>(&mut self, cmd: C) -> Result<C::Output> {
        self.send_as(&cmd)
    }

    /// Sends a command and reads its reply into any `T`.
    pub fn send_as<C: CommandKeys + ?Sized, T: FromValkey>(&mut self, cmd: &C) -> Result<T> {
        self.refresh_if_due();
        match route(cmd)? {
            Route::Slot(slot) => self.send_routed(Some(slot), cmd),
            Route::AnyNode => self.send_routed(None, cmd),
            Route::AllPrimaries => {
                let nodes = self.dir.primaries();
                T::from_valkey(self.fan_out(cmd, nodes)?)
            }
            Route::AllNodes => {
                let nodes = self.dir.nodes();
                T::from_valkey(self.fan_out(cmd, nodes)?)
            }
            Route::Split(split) => T::from_valkey(self.send_split(cmd, &split)?),
        }
    }

    /// Sends `cmd` to the node at `addr` as it is, without routing, redirects or retries.
    pub fn send_to<C: Command + ?Sized, T: FromValkey>(
        &mut self,
        addr: &NodeAddr,
        cmd: &C,
    ) -> Result<T> {
        self.node(addr)?.send_as(cmd)
    }

    /// Runs a run-time [`Pipeline`] on the cluster, one pipeline per node (the nodes one
    /// after the other); outcomes as for
    /// [`crate::aio::ClusterConnection::run`].
    pub fn run<'p>(&mut self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        self.refresh_if_due();
        let replies = self.run_batch(PipelineRun::new(pipeline)?)?;
        // Errors already name the node they came from; the first seed is the fallback.
        Ok(pipeline.replies(replies, &self.template, false))
    }

    /// Runs typed commands (a tuple or `Vec`) as a cluster pipeline and returns their outputs;
    /// outcomes as for [`crate::aio::ClusterConnection::pipe`].
    pub fn pipe<P: Commands>(&mut self, cmds: P) -> Result<P::Output> {
        self.refresh_if_due();
        let replies = self.run_batch(PipelineRun::of(&cmds)?)?;
        cmds.decode(&mut replies.into_iter())
    }

    /// Like [`ClusterConnection::pipe`], but every command's own `Result` is returned.
    pub fn pipe_results<P: Commands>(&mut self, cmds: P) -> Result<P::Results> {
        self.refresh_if_due();
        let replies = self.run_batch(PipelineRun::of(&cmds)?)?;
        cmds.decode_results(&mut replies.into_iter(), &|e| e)
    }

    fn run_batch(&mut self, mut run: PipelineRun) -> Result<Vec<Reply>> {
        self.next_any = self.next_any.wrapping_add(1);
        let groups = run.groups(&self.dir, self.next_any)?;
        for (addr, indices) in &groups {
            let result = self.node(addr).and_then(|con| {
                con.connected()?;
                let (_, buf) = con.server_and_wbuf();
                buf.clear();
                run.encode_group(indices, buf);
                let mut frames = Vec::with_capacity(indices.len());
                let r = con.round_trip(indices.len(), None, |f| frames.push(f));
                con.server_and_wbuf().1.clear();
                r.map(|()| frames)
            });
            match result {
                Ok(frames) => run.answered(indices, frames, addr),
                Err(e) if e.kind() == ErrorKind::NotSent => {
                    self.nodes.remove(addr);
                    run.not_sent(indices);
                }
                Err(e) => return Err(e.context(format!("cluster node {addr}"))),
            }
        }
        for (i, slot, cmd) in run.take_resends() {
            let r = self.send_routed::<Cmd, Value>(slot, &cmd);
            run.resent(i, r)?;
        }
        run.finish()
    }

    /// The connection to `addr`, opened on first use.
    fn node(&mut self, addr: &NodeAddr) -> Result<&mut Connection> {
        if !self.nodes.contains_key(addr) {
            let info = node_info(&self.template, addr, self.tls);
            let con = Connection::with_info(Arc::new(info)).map_err(|e| unreachable(addr, e))?;
            self.nodes.insert(addr.clone(), con);
        }
        Ok(self.nodes.get_mut(addr).expect("inserted above"))
    }

    /// One command to the primary of `slot` (any primary for `None`), following redirects
    /// and retrying as the shared [`Attempts`] say.
    fn send_routed<C: Command + ?Sized, T: FromValkey>(
        &mut self,
        slot: Option<u16>,
        cmd: &C,
    ) -> Result<T> {
        let read_only = cmd.blocks().is_none() && cmd.meta().is_some_and(|m| m.is_readonly());
        let mut attempts = Attempts::new(self.retry).reading(read_only);
        let reads =
            self.read_from != ReadFrom::Primary && cmd.meta().is_some_and(|m| m.is_readonly());
        loop {
            let pick =
                |dir: &Directory, from: &ReadFrom, n| dir.target(slot, reads.then_some(from), n);
            let Some((addr, asking, generation)) = self.next_node(&mut attempts, pick)? else {
                continue;
            };
            let result = self.node(&addr).and_then(|con| {
                if asking {
                    send_asking(con, cmd)
                } else {
                    con.send_as(cmd)
                }
            });
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.after(attempts.failed(err, &addr), &addr, generation)?;
        }
    }

    /// Does what a failed attempt's step says (apply a `MOVED`, forget an unreachable node,
    /// refresh, wait); `Err` when the error goes to the caller.
    fn after(&mut self, step: Step, addr: &NodeAddr, generation: u64) -> Result<()> {
        match step {
            Step::Fail(e) => return Err(e),
            Step::Again => {}
            Step::Moved {
                slot,
                addr: to,
                delay,
            } => {
                if let Some(seen) = self.dir.apply_moved(slot, &to) {
                    let _ = self.refresh(seen, Some(to));
                }
                std::thread::sleep(delay);
            }
            Step::Wait {
                delay,
                refresh,
                forget,
            } => {
                if forget {
                    self.nodes.remove(addr);
                }
                if refresh {
                    // A failed refresh is not the caller's error: the next attempt will tell.
                    let _ = self.refresh(generation, None);
                }
                std::thread::sleep(delay);
            }
        }
        Ok(())
    }

    /// Iterates over every key of the cluster (optionally only those matching a pattern or of
    /// a type), visiting every primary by slot ranges: a key present from the scan's start to
    /// its end is returned at least once even while slots move or a primary fails over
    /// mid-scan (a key may come twice; keys written or deleted meanwhile may or may not come).
    /// Primary by primary, with `CLUSTERSCAN` where the server has it (Valkey 9.1), else `SCAN`;
    /// an error ends the iteration (see [`crate::cluster::ClusterScan`]).
    pub fn scan(&mut self, options: ScanOptions) -> ScanIter<'_> {
        ScanIter {
            scan: ClusterScan::new(options, self.retry),
            con: self,
            keys: Vec::new().into_iter(),
        }
    }

    /// One step of a scan: the keys it found (maybe none), `None` when it is over.
    fn scan_step(&mut self, scan: &mut ClusterScan) -> Result<Option<Vec<Bytes>>> {
        self.refresh_if_due();
        match scan.next(&self.dir)? {
            ScanRequest::Done => Ok(None),
            ScanRequest::Wait(delay) => {
                // A failed refresh is not the caller's error: the next step will tell.
                let _ = self.refresh(self.dir.generation(), None);
                std::thread::sleep(delay);
                Ok(Some(Vec::new()))
            }
            ScanRequest::Probe(addr) => {
                let reply = self.send_to(&addr, &cmd::cluster_nodes());
                scan.probe_reply(&addr, reply).map(|()| Some(Vec::new()))
            }
            ScanRequest::NodeScan(addr, cmd) => {
                let reply = self.send_to(&addr, &cmd);
                scan.node_reply(&addr, reply).map(Some)
            }
        }
    }

    /// Writes the commands and waits for `durability` (`WAIT` / `WAITAOF`) on the connection
    /// to the primary of their one slot (this connection is not shared, so `WAIT` counts just
    /// these writes); outcomes as for [`crate::aio::ClusterConnection::pipe_durable`].
    pub fn pipe_durable<P: Commands>(
        &mut self,
        cmds: P,
        durability: crate::pipeline::Durability,
    ) -> Result<(P::Output, crate::pipeline::Acks)> {
        self.refresh_if_due();
        let slot = PipelineRun::of(&cmds)?.single_slot()?;
        let mut attempts = Attempts::new(self.retry);
        loop {
            let pick = |dir: &Directory, _: &ReadFrom, n| dir.target(slot, None, n);
            let Some((addr, asking, generation)) = self.next_node(&mut attempts, pick)? else {
                continue;
            };
            // A socket first (and `ASKING` where a migration asked for it): until the batch
            // is written nothing of ours ran, and retrying is safe.
            let ready = self.node(&addr).and_then(|con| {
                con.connected()?;
                if asking {
                    con.send_as::<Cmd, Value>(&Cmd::new("ASKING"))
                        .map_err(|e| asking_failed(e, &addr))?;
                }
                Ok(con)
            });
            let con = match ready {
                Ok(con) => con,
                Err(e) => {
                    self.after(attempts.failed(e, &addr), &addr, generation)?;
                    continue;
                }
            };
            match con.pipe_durable_ref(&cmds, durability) {
                Err(e) if durable_not_run(&e, cmds.len(), &addr) => {
                    self.after(attempts.failed(e, &addr), &addr, generation)?
                }
                Err(e) => {
                    if let Some(crate::cluster::Redirect::Moved { slot, addr: to }) =
                        crate::cluster::Redirect::from_error(&e, &addr)
                    {
                        if let Some(seen) = self.dir.apply_moved(slot, &to) {
                            let _ = self.refresh(seen, Some(to));
                        }
                    }
                    return Err(e);
                }
                ok => return ok,
            }
        }
    }

    /// Runs typed commands as a transaction on the primary of their one slot; outcomes as for
    /// [`crate::aio::ClusterConnection::transaction`].
    pub fn transaction<P: Commands>(&mut self, cmds: P) -> Result<P::Output> {
        let replies = self.run_transaction(&cmds)?;
        cmds.decode(&mut replies.into_iter())
    }

    /// Like [`ClusterConnection::transaction`], but every command's own `Result` is returned.
    pub fn transaction_results<P: Commands>(&mut self, cmds: P) -> Result<P::Results> {
        let replies = self.run_transaction(&cmds)?;
        cmds.decode_results(&mut replies.into_iter(), &|e| e)
    }

    fn run_transaction<P: Commands>(&mut self, cmds: &P) -> Result<Vec<Reply>> {
        self.refresh_if_due();
        let slot = PipelineRun::of(cmds)?.single_slot()?;
        let n = cmds.len();
        let mut attempts = Attempts::new(self.retry);
        loop {
            // `transaction_redirect` turns ASK into TRYAGAIN: no ASKING here.
            let pick = |dir: &Directory, _: &ReadFrom, n| dir.target(slot, None, n);
            let Some((addr, _, generation)) = self.next_node(&mut attempts, pick)? else {
                continue;
            };
            let sent = self.node(&addr).and_then(|con| {
                con.connected()?;
                let (server, buf) = con.server_and_wbuf();
                buf.clear();
                encode_batch(cmds, true, server, buf)?;
                let mut frames = Vec::with_capacity(n + 2);
                let r = con.round_trip(n + 2, None, |f| frames.push(f));
                con.server_and_wbuf().1.clear();
                r.map(|()| frames)
            });
            let err = match sent {
                Ok(frames) => match transaction_redirect(&frames, &addr) {
                    None => return transaction_replies(frames, n, |i| cmds.name_of(i)),
                    Some(e) => e,
                },
                Err(e) => e,
            };
            self.after(attempts.failed(err, &addr), &addr, generation)?;
        }
    }

    /// Optimistic locking on a cluster: `WATCH`es `keys` (all in one slot) on the connection
    /// to the slot's primary, calls `f` with that connection to read and return the commands
    /// to run, and runs them in `MULTI`/`EXEC` there, as [`Connection::watch`] does; outcomes
    /// as for [`crate::aio::ClusterConnection::watch`] (a concurrent write to a watched key
    /// aborts `EXEC`, which is retried up to `options.max_attempts` times, then
    /// [`ErrorKind::WatchConflict`]; a slot move starts again from the `WATCH` on the new
    /// owner; keys or commands outside the watched slot are refused before sending).
    pub fn watch<K, P, F>(
        &mut self,
        keys: &K,
        options: crate::pipeline::WatchOptions,
        mut f: F,
    ) -> Result<P::Output>
    where
        K: crate::convert::ToValkeyArgs + ?Sized,
        P: Commands,
        F: FnMut(&mut Connection) -> Result<P>,
    {
        self.refresh_if_due();
        let mut watch = Cmd::new("WATCH");
        watch.push_arg(keys);
        let slot = watched_slot(&watch)?;
        let mut attempts = Attempts::new(self.retry);
        loop {
            // `watch_redirect` turns ASK into TRYAGAIN: no ASKING here.
            let pick = |dir: &Directory, _: &ReadFrom, _| dir.primary(slot);
            let Some((addr, _, generation)) = self.next_node(&mut attempts, pick)? else {
                continue;
            };
            let ran = self.node(&addr).and_then(|con| {
                con.watch(keys, options, |c| {
                    let cmds = f(c)?;
                    check_watched_slot(&cmds, slot)?;
                    Ok(cmds)
                })
            });
            let err = match ran {
                Ok(out) => return Ok(out),
                Err(e) => match watch_redirect(&e, &addr, slot) {
                    Some(redirect) => redirect,
                    None if e.is_not_sent() => e,
                    None => return Err(e),
                },
            };
            self.after(attempts.failed(err, &addr), &addr, generation)?;
        }
    }

    /// The command to each of `nodes` in turn; replies combined by its response policy.
    fn fan_out<C: Command + ?Sized>(&mut self, cmd: &C, nodes: Vec<NodeAddr>) -> Result<Value> {
        let policy = cmd.meta().and_then(ResponsePolicy::of);
        let replies = nodes
            .into_iter()
            .map(|addr| {
                let r = self
                    .node(&addr)
                    .and_then(|con| con.send_as::<C, Value>(cmd));
                (Some(addr), r)
            })
            .collect();
        combine(policy, replies)
    }

    /// A `multi_shard` command split per slot, each part routed and retried on its own; the
    /// replies put back together in the caller's key order.
    fn send_split<C: Command + ?Sized>(&mut self, cmd: &C, split: &Split) -> Result<Value> {
        let policy = cmd.meta().and_then(ResponsePolicy::of);
        let replies = split
            .parts
            .iter()
            .map(|p| self.send_routed::<Cmd, Value>(Some(p.slot), &p.command()))
            .collect();
        merge_split(split, policy, replies)
    }

    /// Reads the topology again when the periodic refresh is due (a failure waits for the
    /// next period: the command that follows finds out for itself).
    fn refresh_if_due(&mut self) {
        if self
            .refresh_every
            .is_some_and(|every| self.refreshed.elapsed() >= every)
        {
            self.refreshed = Instant::now();
            let _ = self.refresh(self.dir.generation(), None);
        }
    }

    /// Reads the topology from the first node that answers (`first`, the known nodes, the seeds),
    /// unless one newer than generation `seen` is installed already.
    /// The node of the next attempt, chosen by `pick` from the directory (given where reads go
    /// and a rotating number for spreading), with whether it needs `ASKING` and the topology generation it was
    /// chosen from; `None` after waiting (and refreshing the topology) as `attempts` asked: try
    /// again. The error is the one to give up with.
    fn next_node(
        &mut self,
        attempts: &mut Attempts,
        pick: impl FnOnce(&Directory, &ReadFrom, usize) -> Option<NodeAddr>,
    ) -> Result<Option<(NodeAddr, bool, u64)>> {
        self.next_any = self.next_any.wrapping_add(1);
        let generation = self.dir.generation();
        match attempts.next(pick(&self.dir, &self.read_from, self.next_any)) {
            Next::Send { addr, asking } => Ok(Some((addr, asking, generation))),
            Next::GiveUp(e) => Err(e),
            Next::Wait { delay } => {
                // A failed refresh is not the caller's error: the next attempt will tell.
                let _ = self.refresh(generation, None);
                std::thread::sleep(delay);
                Ok(None)
            }
        }
    }

    fn refresh(&mut self, seen: u64, first: Option<NodeAddr>) -> Result<()> {
        self.refresh_asking(seen, first.as_ref(), None)
    }

    /// [`ClusterConnection::refresh`], asking `suspect` (a node that failed or went silent:
    /// a frozen one would hold the read until the response timeout) only if nobody else answers.
    fn refresh_asking(
        &mut self,
        seen: u64,
        first: Option<&NodeAddr>,
        suspect: Option<&NodeAddr>,
    ) -> Result<()> {
        if !self.dir.wants_refresh(seen) {
            return Ok(());
        }
        let mut last = None;
        for addr in self.dir.refresh_candidates(first, suspect) {
            match self.read_topology(&addr) {
                Ok(topology) => {
                    let keep = self.dir.install(topology);
                    self.refreshed = Instant::now();
                    self.nodes.retain(|a, _| keep.contains(a));
                    return Ok(());
                }
                Err(e) => {
                    if matches!(e.kind(), ErrorKind::NotSent | ErrorKind::Closed) {
                        self.nodes.remove(&addr);
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
    fn read_topology(&mut self, addr: &NodeAddr) -> Result<Topology> {
        let con = self.node(addr)?;
        let topology = match con.send(cmd::cluster_shards::<Value>()) {
            Ok(reply) => Topology::from_shards_seen_by(&reply, Some(addr))?,
            Err(e) if e.is_unknown_command() => {
                Topology::from_slots(&con.send(cmd::cluster_slots::<Value>())?)?
            }
            Err(e) => return Err(e),
        };
        usable(topology, addr)
    }
}

/// The keys of a cluster scan, one at a time ([`ClusterConnection::scan`]).
#[derive(Debug)]
pub struct ScanIter<'a> {
    con: &'a mut ClusterConnection,
    scan: ClusterScan,
    keys: std::vec::IntoIter<Bytes>,
}

impl Iterator for ScanIter<'_> {
    type Item = Result<Bytes>;

    fn next(&mut self) -> Option<Result<Bytes>> {
        loop {
            if let Some(k) = self.keys.next() {
                return Some(Ok(k));
            }
            match self.con.scan_step(&mut self.scan) {
                Ok(Some(keys)) => self.keys = keys.into_iter(),
                Ok(None) => return None,
                Err(e) => {
                    self.scan.finish();
                    return Some(Err(e));
                }
            }
        }
    }
}

impl std::iter::FusedIterator for ScanIter<'_> {}

/// `ASKING` and the command in one write on `con`.
fn send_asking<C: Command + ?Sized, T: FromValkey>(con: &mut Connection, cmd: &C) -> Result<T> {
    con.connected()?;
    let (server, buf) = con.server_and_wbuf();
    buf.clear();
    encode_asking(cmd, server, buf)?;
    let mut frames: Vec<Bytes> = Vec::with_capacity(2);
    let r = con.round_trip(2, None, |f| frames.push(f));
    con.server_and_wbuf().1.clear();
    r?;
    decode_asking(&frames)
}
