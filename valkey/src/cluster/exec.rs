//! The steps both cluster drivers (blocking and tokio) take, as data: what the connection knows
//! of the cluster ([`Directory`]: the slot map, its generation, where to ask for a refresh), the
//! attempts of one command ([`Attempts`]: where it goes next, what a failure means), the
//! `ASKING` + command pair, and a pipeline split per node ([`PipelineRun`]). The drivers only
//! move bytes and sleep.

use super::redirect::{Decision, Redirect, RetryPolicy};
use super::route::{route_args, Part, Route};
use super::topology::{NodeAddr, SlotMap, Topology};
use crate::cmd::{encode, Cmd, Command};
use crate::config::{Addr, ConnectionInfo};
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::{Commands, Pipeline, Reply};
use crate::proto::ServerInfo;
use crate::value::Value;
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where read-only commands go.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ReadFrom {
    /// The primary, like every other command (the default: reads see every acknowledged write).
    #[default]
    Primary,
    /// The slot's replicas in turn (the primary when it has none online); their connections
    /// send `READONLY`. Reads may lag behind writes (asynchronous replication).
    Replica,
    /// The slot's replicas in this availability zone in turn, else its other replicas, else
    /// the primary (a node's zone is its `availability-zone` setting, from `CLUSTER SHARDS`).
    AzAffinity(String),
}

/// How a cluster connection behaves (set through [`crate::ClusterClient`]).
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) retry: RetryPolicy,
    pub(crate) read_from: ReadFrom,
    /// Read the topology again this often even when nothing says it changed.
    pub(crate) refresh_every: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            retry: RetryPolicy::default(),
            read_from: ReadFrom::Primary,
            refresh_every: Some(Duration::from_secs(60)),
        }
    }
}

/// What a cluster connection knows about the cluster.
#[derive(Clone, Debug)]
pub struct Directory {
    map: Arc<SlotMap>,
    /// Raised by each installed topology (not by `MOVED` patches, which say nothing of the
    /// rest of the map): a caller that saw generation `g` and wants a refresh shares one that
    /// installed `g + 1` meanwhile.
    generation: u64,
    seeds: Vec<NodeAddr>,
    tls: bool,
}

impl Directory {
    /// Nothing known yet but the seeds; `tls` picks the nodes' TLS ports.
    pub fn new(seeds: Vec<NodeAddr>, tls: bool) -> Directory {
        Directory {
            map: Arc::new(SlotMap::new(Topology::default(), 0)),
            generation: 0,
            seeds,
            tls,
        }
    }

    /// The slot map.
    pub fn map(&self) -> &Arc<SlotMap> {
        &self.map
    }

    /// How many topologies were installed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The primary of `slot`, if known.
    pub fn primary(&self, slot: u16) -> Option<NodeAddr> {
        self.map.primary_addr(slot, self.tls)
    }

    /// Where a read-only command for `slot` goes under `read_from`; `n` turns the round robin.
    pub fn reader(&self, slot: u16, read_from: &ReadFrom, n: usize) -> Option<NodeAddr> {
        let zone = match read_from {
            ReadFrom::Primary => return self.primary(slot),
            ReadFrom::Replica => None,
            ReadFrom::AzAffinity(zone) => Some(zone.as_str()),
        };
        let shard = self.map.shard(slot)?;
        let online: Vec<&super::topology::Node> = shard
            .replicas
            .iter()
            .filter(|r| r.health == super::topology::Health::Online)
            .collect();
        let near: Vec<&&super::topology::Node> = online
            .iter()
            .filter(|r| zone.is_some() && r.availability_zone.as_deref() == zone)
            .collect();
        let pick = if !near.is_empty() {
            Some(*near[n % near.len()])
        } else if !online.is_empty() {
            Some(online[n % online.len()])
        } else {
            None
        };
        pick.and_then(|r| r.addr(self.tls))
            .or_else(|| self.primary(slot))
    }

    /// Every primary.
    pub fn primaries(&self) -> Vec<NodeAddr> {
        self.map.primaries(self.tls)
    }

    /// Every node.
    pub fn nodes(&self) -> Vec<NodeAddr> {
        self.map.nodes(self.tls)
    }

    /// Where a command for `slot` goes: the slot's primary, or a reader by `reads` (a
    /// read-only command when replicas serve reads); the `n`-th primary for a keyless one.
    pub fn target(
        &self,
        slot: Option<u16>,
        reads: Option<&ReadFrom>,
        n: usize,
    ) -> Option<NodeAddr> {
        match (slot, reads) {
            (Some(s), Some(read_from)) => self.reader(s, read_from, n),
            (Some(s), None) => self.primary(s),
            (None, _) => self.any_primary(n),
        }
    }

    /// The `n`-th primary, round robin (for keyless commands).
    pub fn any_primary(&self, n: usize) -> Option<NodeAddr> {
        let primaries = self.primaries();
        (!primaries.is_empty()).then(|| primaries[n % primaries.len()].clone())
    }

    /// Applies `MOVED slot addr`. When the target was not a primary of the last topology read
    /// (a failover or a new node), returns the generation to pass to the refresh that should
    /// follow: the current one, not the one the attempt started with. A refresh installed
    /// while the command was out may have come from a node whose view lagged behind the
    /// failover; the `MOVED` is newer evidence, so only a refresh installed after it counts.
    pub fn apply_moved(&mut self, slot: u16, addr: &NodeAddr) -> Option<u64> {
        let known = Arc::make_mut(&mut self.map).apply_moved(slot, addr, self.tls);
        (!known).then_some(self.generation)
    }

    /// Whether a caller that saw generation `seen` still needs a refresh (nobody installed a
    /// newer topology meanwhile).
    pub fn wants_refresh(&self, seen: u64) -> bool {
        self.generation <= seen
    }

    /// Where to ask for the topology, in order: `first` (the target of a `MOVED` that named a
    /// node the map did not have as a primary: it knows it owns the slot, while another node's
    /// gossip may lag), the known nodes, then the seeds not among them; `last` (a node that
    /// keeps a command waiting: it may be hung) at the end.
    pub fn refresh_candidates(
        &self,
        first: Option<&NodeAddr>,
        last: Option<&NodeAddr>,
    ) -> Vec<NodeAddr> {
        let mut out: Vec<NodeAddr> = first.into_iter().cloned().collect();
        for n in self.nodes().into_iter().chain(self.seeds.iter().cloned()) {
            if !out.contains(&n) && Some(&n) != last {
                out.push(n);
            }
        }
        out.extend(last.cloned());
        out
    }

    /// Installs a topology just read; returns the nodes it has (connections to others can go).
    pub fn install(&mut self, topology: Topology) -> Vec<NodeAddr> {
        self.map = Arc::new(SlotMap::new(topology, self.map.version() + 1));
        self.generation += 1;
        self.nodes()
    }
}

/// What both drivers start from: the settings of every node's connection (the first seed's,
/// with `READONLY` when replicas serve reads), whether the cluster uses TLS, and a directory
/// that knows the seeds.
pub fn start(
    seeds: &[Arc<ConnectionInfo>],
    read_from: &ReadFrom,
) -> Result<(ConnectionInfo, bool, Directory)> {
    let first = seeds
        .first()
        .ok_or_else(|| Error::invalid_config("a cluster client needs at least one seed"))?;
    let (_, tls) = seed_addr(first)?;
    let addrs = seeds
        .iter()
        .map(|s| seed_addr(s).map(|(a, _)| a))
        .collect::<Result<Vec<_>>>()?;
    let mut template = (**first).clone();
    // Replicas serve reads only on connections that said READONLY (harmless on primaries).
    template.readonly |= *read_from != ReadFrom::Primary;
    Ok((template, tls, Directory::new(addrs, tls)))
}

/// A seed's address and whether it uses TLS (a cluster is reached over TCP only).
pub fn seed_addr(info: &ConnectionInfo) -> Result<(NodeAddr, bool)> {
    match &info.addr {
        Addr::Tcp { host, port, tls } => Ok((NodeAddr::new(host.clone(), *port), *tls)),
        _ => Err(Error::invalid_config(
            "a cluster seed must be a TCP address (valkey://host:port)",
        )),
    }
}

/// The settings of a node's connection: the template's (the first seed's), at the node's address.
///
/// With TLS, a node's certificate is checked against the host the cluster announced for it
/// (its hostname with `cluster-preferred-endpoint-type hostname`): a `tls_server_name` given
/// with the seed names the seed, not the other nodes, so it is kept only for the seed's own
/// host and for nodes announced by IP address (which have no other name to check).
pub fn node_info(template: &ConnectionInfo, addr: &NodeAddr, tls: bool) -> ConnectionInfo {
    let mut info = template.clone();
    let seed_host = match &template.addr {
        Addr::Tcp { host, .. } => Some(host.as_str()),
        Addr::Unix(_) => None,
    };
    let announced_name =
        addr.host.parse::<std::net::IpAddr>().is_err() && Some(addr.host.as_str()) != seed_host;
    if announced_name {
        info.tls.server_name = None;
    }
    info.addr = Addr::Tcp {
        host: addr.host.clone(),
        port: addr.port,
        tls,
    };
    info
}

/// The error of a connection to `addr` that could not be opened: nothing was sent, so a
/// socket or timeout error becomes `NotSent` (others, such as a refused password, stay).
pub fn unreachable(addr: &NodeAddr, e: Error) -> Error {
    let e = e.context(format!("cluster node {addr}"));
    match e.kind() {
        ErrorKind::Io | ErrorKind::Timeout => e.not_sent(),
        _ => e,
    }
}

/// Checks a topology reply is usable (some shard has a primary).
pub fn usable(topology: Topology, from: &NodeAddr) -> Result<Topology> {
    if topology.shards.iter().all(|s| s.primary.is_none()) {
        return Err(Error::new(
            ErrorKind::Protocol,
            format!("cluster node {from} knows no primary"),
        ));
    }
    Ok(topology)
}

/// Where the next attempt of a command goes.
#[derive(Debug)]
pub enum Next {
    /// Send it to `addr` (after `ASKING` when `asking`).
    Send {
        /// The node.
        addr: NodeAddr,
        /// Whether `ASKING` goes first.
        asking: bool,
    },
    /// No node is known for it: refresh the topology, wait `delay`, ask again.
    Wait {
        /// How long.
        delay: Duration,
    },
    /// Out of attempts or time: fail with this error (nothing was sent).
    GiveUp(Error),
}

/// What a failed attempt means.
#[derive(Debug)]
pub enum Step {
    /// Give the error to the caller.
    Fail(Error),
    /// Apply `MOVED` to the directory (refreshing when it says so), wait `delay`, try again.
    Moved {
        /// The slot.
        slot: u16,
        /// Its new primary.
        addr: NodeAddr,
        /// Zero for the first `MOVED` of this command; a backoff for later ones, so that nodes
        /// that disagree mid-migration are not asked in a tight loop.
        delay: Duration,
    },
    /// Try again at once (an `ASK` is pending).
    Again,
    /// Wait, then try again.
    Wait {
        /// How long.
        delay: Duration,
        /// Read the topology again first.
        refresh: bool,
        /// Drop the connection to the node that failed (it could not reach the node; a fresh
        /// one is opened next time instead of waiting on the old one's reconnects).
        forget: bool,
    },
}

/// The attempts of one command: counted and timed against the [`RetryPolicy`].
#[derive(Debug)]
pub struct Attempts {
    policy: RetryPolicy,
    /// The command reads only (see [`RetryPolicy::resend_unclear_reads`]).
    read_only: bool,
    attempt: u32,
    moved: u32,
    started: Instant,
    ask: Option<NodeAddr>,
}

impl Attempts {
    /// The first attempt is about to be made.
    pub fn new(policy: RetryPolicy) -> Attempts {
        Attempts {
            policy,
            read_only: false,
            attempt: 0,
            moved: 0,
            started: Instant::now(),
            ask: None,
        }
    }

    /// For a command that only reads and does not block: its lost reply may be asked again
    /// where the policy opts in ([`RetryPolicy::resend_unclear_reads`]).
    pub fn reading(mut self, read_only: bool) -> Attempts {
        self.read_only = read_only;
        self
    }

    /// Where the next attempt goes: a pending `ASK` target, else `owner` (the slot's primary
    /// from the directory, or any node for a keyless command).
    pub fn next(&mut self, owner: Option<NodeAddr>) -> Next {
        self.attempt += 1;
        if let Some(addr) = self.ask.take() {
            return Next::Send { addr, asking: true };
        }
        match owner {
            Some(addr) => Next::Send {
                addr,
                asking: false,
            },
            None if self.attempt >= self.policy.max_attempts
                || self.started.elapsed() >= self.policy.max_wait =>
            {
                Next::GiveUp(Error::new(
                    ErrorKind::NotSent,
                    "no cluster node serves the command's slot; it was not sent",
                ))
            }
            None => Next::Wait {
                delay: self.policy.delay(self.attempt),
            },
        }
    }

    /// The attempt at `addr` failed with `err`: what now.
    pub fn failed(&mut self, err: Error, addr: &NodeAddr) -> Step {
        let elapsed = self.started.elapsed();
        match (self.policy).decide_for(&err, addr, self.attempt, elapsed, self.read_only) {
            Decision::Fail => Step::Fail(err),
            Decision::Moved { slot, addr } => {
                self.moved += 1;
                let delay = match self.moved {
                    1 => Duration::ZERO,
                    n => self.policy.delay(n - 1),
                };
                Step::Moved { slot, addr, delay }
            }
            Decision::Ask { addr } => {
                self.ask = Some(addr);
                Step::Again
            }
            Decision::Retry { delay, refresh } => Step::Wait {
                delay,
                refresh,
                forget: matches!(err.kind(), ErrorKind::NotSent | ErrorKind::Closed),
            },
        }
    }
}

/// Encodes `ASKING` and `cmd` back to back into `buf` (left as it was on an error).
pub fn encode_asking<C: Command + ?Sized>(
    cmd: &C,
    server: &ServerInfo,
    buf: &mut Vec<u8>,
) -> Result<()> {
    crate::proto::check_supported(cmd, server)?;
    let start = buf.len();
    encode(&Cmd::new("ASKING"), buf)?;
    encode(cmd, buf).inspect_err(|_| buf.truncate(start))
}

/// Reads the two replies of [`encode_asking`]: `ASKING`'s `OK`, then the command's.
pub fn decode_asking<T: FromValkey>(frames: &[Bytes]) -> Result<T> {
    let [asking, reply] = frames else {
        return Err(Error::protocol("two replies expected after ASKING"));
    };
    crate::proto::decode_reply::<Value>(asking)?;
    crate::proto::decode_reply(reply)
}

/// A run-time [`Pipeline`] on a cluster, as data: each command's slot, the per-node groups
/// to send, the replies gathered, and the commands to send again on their own (those a node
/// redirected or did not run: `MOVED`, `ASK`, `TRYAGAIN`, ..., or a group that was never
/// sent).
pub struct PipelineRun {
    /// Each command, encoded.
    commands: Vec<Vec<u8>>,
    slots: Vec<Option<u16>>,
    replies: Vec<Option<Reply>>,
    resend: Vec<usize>,
}

impl PipelineRun {
    /// Routes every command of `pipeline`. Refused before sending (`InvalidInput`): a command
    /// the pipeline refused, a blocking command, and commands that go to several nodes (a
    /// fan-out such as `DBSIZE`, or keys in several slots: send those on their own).
    pub fn new(pipeline: &Pipeline) -> Result<PipelineRun> {
        let (_, info) = pipeline.encoded()?;
        let commands = (0..pipeline.len())
            .map(|i| pipeline.command_bytes(i).to_vec())
            .collect();
        PipelineRun::routed(commands, info.blocks.is_some())
    }

    /// Routes a typed batch (a tuple or `Vec` of commands) like [`PipelineRun::new`].
    pub fn of<P: Commands>(cmds: &P) -> Result<PipelineRun> {
        let info = cmds.check(&ServerInfo::default())?;
        let mut buf = Vec::new();
        cmds.encode_all(&mut buf)?;
        PipelineRun::routed(split_commands(&buf), info.blocks.is_some())
    }

    fn routed(commands: Vec<Vec<u8>>, blocks: bool) -> Result<PipelineRun> {
        if blocks {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a cluster pipeline cannot hold a blocking command (send it on its own); \
                 nothing was sent",
            ));
        }
        let mut slots = Vec::with_capacity(commands.len());
        for (i, c) in commands.iter().enumerate() {
            let args = crate::cmd::split_encoded(c);
            let slot = match route_args(&args) {
                Ok(Route::Slot(s)) => Some(s),
                Ok(Route::AnyNode) => None,
                Ok(_) => {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "command {i} ({}) of the pipeline goes to several cluster nodes \
                             (keys in several slots, or an all-shards command): send it on \
                             its own; nothing was sent",
                            String::from_utf8_lossy(args.first().copied().unwrap_or_default())
                                .to_ascii_uppercase()
                        ),
                    ))
                }
                Err(e) => return Err(e.context(format!("command {i} of the pipeline"))),
            };
            slots.push(slot);
        }
        Ok(PipelineRun {
            replies: slots.iter().map(|_| None).collect(),
            slots,
            commands,
            resend: Vec::new(),
        })
    }

    /// How many commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// The one slot a transaction of these commands runs on (`None`: keyless, any primary).
    /// Keys in several slots are refused (`InvalidInput`): `MULTI` runs on one node.
    pub fn single_slot(&self) -> Result<Option<u16>> {
        let mut slots = self.slots.iter().flatten();
        let first = slots.next().copied();
        match (first, slots.find(|&&s| Some(s) != first)) {
            (Some(a), Some(b)) => Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "a cluster transaction runs on one node, but its keys hash to slots {a} and \
                     {b} (use a hash tag: {{user1}}.a, {{user1}}.b); nothing was sent"
                ),
            )),
            _ => Ok(first),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The commands still to send, grouped by node (keyless ones go to the `any`-th primary).
    /// `NotSent` when a slot has no known primary.
    pub fn groups(&self, dir: &Directory, any: usize) -> Result<Vec<(NodeAddr, Vec<usize>)>> {
        let mut groups: Vec<(NodeAddr, Vec<usize>)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if self.replies[i].is_some() {
                continue;
            }
            let addr = dir.target(*slot, None, any).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotSent,
                    "no cluster node serves a slot of the pipeline; nothing was sent",
                )
            })?;
            match groups.iter_mut().find(|(a, _)| *a == addr) {
                Some((_, idx)) => idx.push(i),
                None => groups.push((addr, vec![i])),
            }
        }
        Ok(groups)
    }

    /// Appends the encodings of the commands `indices` to `buf`.
    pub fn encode_group(&self, indices: &[usize], buf: &mut Vec<u8>) {
        for &i in indices {
            buf.extend_from_slice(&self.commands[i]);
        }
    }

    /// A node answered the group `indices`: keeps the replies, and marks for sending again
    /// the commands it redirected or did not run.
    pub fn answered(&mut self, indices: &[usize], frames: Vec<Bytes>, from: &NodeAddr) {
        for (&i, frame) in indices.iter().zip(frames) {
            let redirected = matches!(frame.first(), Some(b'-' | b'!'))
                && match crate::proto::decode_value(&frame) {
                    Ok(Value::ServerError(e)) => Redirect::parse(&e.message(), from).is_some(),
                    _ => false,
                };
            if redirected {
                self.resend.push(i);
            } else {
                self.replies[i] = Some(Reply::Frame(frame));
            }
        }
    }

    /// The group `indices` was never sent (its node was unreachable): send them again.
    pub fn not_sent(&mut self, indices: &[usize]) {
        self.resend.extend_from_slice(indices);
    }

    /// The commands to send again on their own (routed, redirected and retried like any
    /// command), with their slots; the list is emptied.
    pub fn take_resends(&mut self) -> Vec<(usize, Option<u16>, Cmd)> {
        let mut resend = std::mem::take(&mut self.resend);
        resend.sort_unstable();
        resend.dedup();
        resend
            .into_iter()
            .map(|i| {
                let mut c = Cmd::default();
                for a in crate::cmd::split_encoded(&self.commands[i]) {
                    c.push_arg(a);
                }
                (i, self.slots[i], c)
            })
            .collect()
    }

    /// Command `i`, sent on its own, answered `r`. A server error is kept as that command's
    /// reply; any other error (the command may have run: `Unclear`) fails the whole run.
    pub fn resent(&mut self, i: usize, r: Result<Value>) -> Result<()> {
        let reply = match r {
            Ok(v) => Reply::Value(v),
            Err(e) => match e.server_error() {
                Some(s) => Reply::Value(Value::ServerError(s.clone())),
                None => return Err(e.context(format!("command {i} of the pipeline"))),
            },
        };
        self.replies[i] = Some(reply);
        Ok(())
    }

    /// Every reply, in the pipeline's order.
    pub fn finish(self) -> Result<Vec<Reply>> {
        self.replies
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::protocol("internal: a pipeline reply is missing")))
            .collect()
    }
}

/// A transaction's replies (`MULTI`, one per queued command, `EXEC`) as the node that ran it
/// at `from` sent them: when a command was refused at queue time with a redirect (`MOVED`,
/// `TRYAGAIN`, ...), nothing ran (`EXECABORT`) and the whole transaction may go again: that
/// error, for [`Attempts::failed`]. An `ASK` becomes a `TRYAGAIN` (the transaction waits for
/// the migration to end rather than split across nodes).
pub fn transaction_redirect(frames: &[Bytes], from: &NodeAddr) -> Option<Error> {
    let queued = frames.get(1..frames.len().saturating_sub(1))?;
    queued.iter().find_map(|frame| {
        if !matches!(frame.first(), Some(b'-' | b'!')) {
            return None;
        }
        let Ok(Value::ServerError(e)) = crate::proto::decode_value(frame) else {
            return None;
        };
        match Redirect::parse(&e.message(), from)? {
            Redirect::Ask { slot, .. } => Some(Error::from_server(crate::value::ServerError::new(
                format!("TRYAGAIN slot {slot} is migrating; the transaction waits"),
            ))),
            _ => Some(Error::from_server(e)),
        }
    })
}

/// The one slot of the keys a cluster `WATCH` names (`watch` is the `WATCH` command with
/// them): keys in several slots, or none, are refused before anything is sent.
pub fn watched_slot(watch: &Cmd) -> Result<u16> {
    let mut slots = watch.args().skip(1).map(crate::routing::slot);
    let Some(first) = slots.next() else {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "WATCH on a cluster needs at least one key; nothing was sent",
        ));
    };
    match slots.find(|s| *s != first) {
        None => Ok(first),
        Some(other) => Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "WATCH keys in slots {first} and {other}: a cluster transaction watches keys of \
                 one slot (use a hash tag such as {{user}}:a, {{user}}:b); nothing was sent"
            ),
        )),
    }
}

/// Checks that the commands a watched transaction is about to run stay in the watched slot
/// (so that `EXEC` runs on the node that saw the `WATCH`); keyless commands may come along.
pub fn check_watched_slot<P: Commands>(cmds: &P, watched: u16) -> Result<()> {
    match PipelineRun::of(cmds)?.single_slot()? {
        Some(slot) if slot != watched => Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "the transaction's keys are in slot {slot}, the watched keys in slot {watched}: \
                 both must be in one slot; nothing was sent"
            ),
        )),
        _ => Ok(()),
    }
}

/// The redirect behind a failed watched transaction at `from` (its `WATCH`, a read or a
/// queued command refused with `MOVED`, `ASK`, `TRYAGAIN`, ...: then `EXEC` ran nothing), as
/// the error for [`Attempts::failed`]: the whole thing goes again, from the `WATCH`, on the
/// slot's owner. `ASK` becomes `TRYAGAIN` (the keys are split between two nodes while the slot
/// migrates: the transaction waits for the move to end). A redirect for another slot
/// (a read in `f` of a key elsewhere: the caller's mistake, not a move) is not one: `None`.
pub fn watch_redirect(err: &Error, from: &NodeAddr, watched: u16) -> Option<Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cause {
        if let Some(server) = e.downcast_ref::<Error>().and_then(Error::server_error) {
            match Redirect::parse(&server.message(), from) {
                Some(Redirect::Moved { slot, .. } | Redirect::Ask { slot, .. })
                    if slot != watched =>
                {
                    return None
                }
                Some(Redirect::Ask { slot, .. }) => {
                    return Some(Error::from_server(crate::value::ServerError::new(format!(
                        "TRYAGAIN slot {slot} is migrating; the watched transaction waits"
                    ))))
                }
                Some(_) => return Some(Error::from_server(server.clone())),
                None => {}
            }
        }
        cause = e.source();
    }
    None
}

/// Whether `err`, the outcome of a durable batch (`commands` writes and a `WAIT`) sent to the
/// node at `from`, proves that nothing of it ran, so that the batch may go again where the
/// error points ([`Attempts::failed`]): it was never written (`NotSent`), or its one command
/// was refused with `MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN` or `LOADING` (`WAIT` has no key
/// and never answers those, so the refusal is the command's). With several commands one
/// refusal says nothing about the others (in a slot being migrated, a command whose key is
/// still on the source runs and the next is asked elsewhere): the error goes to the caller.
pub fn durable_not_run(err: &Error, commands: usize, from: &NodeAddr) -> bool {
    err.kind() == ErrorKind::NotSent
        || (commands == 1
            && err.kind() == ErrorKind::Server
            && Redirect::from_error(err, from).is_some())
}

/// `ASKING` before a durable batch, in its own round trip on the batch's connection (the
/// flag holds for the connection's next command, the batch's one write). Nothing of the
/// batch is written yet: a failure here is `NotSent`, and the batch may go again.
pub fn asking_failed(e: Error, addr: &NodeAddr) -> Error {
    e.context(format!("ASKING to {addr}")).not_sent()
}

/// The commands of a buffer of encoded commands (`*N` arrays of bulk strings, as `encode`
/// writes them), each as its own bytes.
fn split_commands(mut buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let len = encoded_len(buf).unwrap_or(buf.len());
        out.push(buf[..len].to_vec());
        buf = &buf[len..];
    }
    out
}

/// The length of the first encoded command in `buf`.
fn encoded_len(buf: &[u8]) -> Option<usize> {
    let line = |at: usize| -> Option<(i64, usize)> {
        let end = at + buf.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        Some((crate::resp::parse_i64(buf.get(at + 1..end)?)?, end + 2))
    };
    let (n, mut at) = line(0)?;
    for _ in 0..n {
        let (len, start) = line(at)?;
        at = start + usize::try_from(len).ok()? + 2;
    }
    (at <= buf.len()).then_some(at)
}

impl Part {
    /// The part as a command to send.
    pub fn command(&self) -> Cmd {
        let mut c = Cmd::default();
        for a in &self.args {
            c.push_arg(a);
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ServerError;

    fn addr(port: u16) -> NodeAddr {
        NodeAddr::new("h", port)
    }

    #[test]
    fn a_durable_batch_goes_again_only_when_nothing_of_it_ran() {
        let server = |m: &str| Error::from_server(ServerError::new(m.to_owned()));
        let here = addr(1);
        for refusal in [
            "MOVED 5 h:2",
            "ASK 5 h:2",
            "TRYAGAIN multiple keys",
            "CLUSTERDOWN The cluster is down",
            "LOADING loading",
        ] {
            assert!(durable_not_run(&server(refusal), 1, &here), "{refusal}");
            // One of several refused: the others may have run.
            assert!(!durable_not_run(&server(refusal), 2, &here), "{refusal}");
        }
        assert!(!durable_not_run(&server("WRONGTYPE no"), 1, &here));
        let unsent = Error::new(ErrorKind::NotSent, "not written");
        assert!(durable_not_run(&unsent, 3, &here));
        let unclear = Error::new(ErrorKind::Unclear, "sent, no reply");
        assert!(!durable_not_run(&unclear, 1, &here));
        // ASKING that failed leaves the batch unsent.
        let asking = asking_failed(Error::new(ErrorKind::Io, "reset"), &here);
        assert!(asking.is_not_sent() && asking.is_retry_safe());
    }

    #[test]
    fn a_node_announced_by_hostname_is_checked_against_that_name() {
        let seed = ConnectionInfo::from_url("valkeys://10.0.0.1:7000?tls_server_name=seed.example")
            .unwrap();
        let name = |host: &str| {
            node_info(&seed, &NodeAddr::new(host, 7001), true)
                .tls
                .server_name
        };
        // Another node's hostname is its own name to check, not the seed's.
        assert_eq!(name("node2.example"), None);
        // Nodes announced by IP keep the name given for the seed, as does the seed itself.
        assert_eq!(name("10.0.0.2").as_deref(), Some("seed.example"));
        assert_eq!(name("10.0.0.1").as_deref(), Some("seed.example"));
        let by_name =
            ConnectionInfo::from_url("valkeys://lb.example:7000?tls_server_name=n1.example")
                .unwrap();
        let info = node_info(&by_name, &NodeAddr::new("lb.example", 7000), true);
        assert_eq!(info.tls.server_name.as_deref(), Some("n1.example"));
    }

    #[test]
    fn attempts_follow_ask_once_and_moved_then_give_up() {
        let mut a = Attempts::new(RetryPolicy::default());
        let sends = |n: Next, to: u16, with_asking: bool| matches!(n, Next::Send { addr: a, asking } if a == addr(to) && asking == with_asking);
        assert!(sends(a.next(Some(addr(1))), 1, false));
        let ask = Error::from_server(ServerError::new("ASK 5 h:2"));
        assert!(matches!(a.failed(ask, &addr(1)), Step::Again));
        // The ASK target once, with ASKING; then the owner again.
        assert!(sends(a.next(Some(addr(1))), 2, true));
        assert!(sends(a.next(Some(addr(1))), 1, false));
        let moved = Error::from_server(ServerError::new("MOVED 5 h:3"));
        assert!(matches!(
            a.failed(moved, &addr(1)),
            Step::Moved { slot: 5, addr: a, delay } if a == addr(3) && delay.is_zero()
        ));
        // A second MOVED for the same command waits a little: nodes may disagree for a while.
        let moved = Error::from_server(ServerError::new("MOVED 5 h:1"));
        assert!(matches!(
            a.failed(moved, &addr(3)),
            Step::Moved { delay, .. } if !delay.is_zero()
        ));
        let refused = Error::new(ErrorKind::NotSent, "refused");
        assert!(matches!(
            a.failed(refused, &addr(3)),
            Step::Wait {
                refresh: true,
                forget: true,
                ..
            }
        ));
        let unclear = Error::new(ErrorKind::Unclear, "lost");
        assert!(matches!(a.failed(unclear, &addr(3)), Step::Fail(e) if e.is_unclear()));

        let mut few = Attempts::new(RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        });
        assert!(matches!(few.next(None), Next::Wait { .. }));
        assert!(matches!(few.next(None), Next::GiveUp(e) if e.is_not_sent()));
    }

    #[test]
    fn directory_refreshes_once_per_generation() {
        let mut d = Directory::new(vec![addr(9)], false);
        assert_eq!(d.refresh_candidates(None, None), [addr(9)]);
        assert!(d.wants_refresh(0));
        let topo = Topology {
            shards: vec![crate::cluster::Shard {
                slots: vec![(0, 16383)],
                primary: Some(crate::cluster::Node {
                    id: "a".into(),
                    ip: None,
                    endpoint: Some("h".into()),
                    hostname: None,
                    port: Some(1),
                    tls_port: None,
                    role: crate::cluster::Role::Primary,
                    health: crate::cluster::Health::Online,
                    replication_offset: None,
                    availability_zone: None,
                }),
                replicas: vec![],
            }],
        };
        assert_eq!(d.install(topo), [addr(1)]);
        assert_eq!(d.generation(), 1);
        assert!(
            !d.wants_refresh(0),
            "a caller that saw 0 shares the refresh to 1"
        );
        assert_eq!(d.refresh_candidates(None, None), [addr(1), addr(9)]);
        assert_eq!(
            d.refresh_candidates(Some(&addr(9)), None),
            [addr(9), addr(1)],
            "a MOVED target is asked first"
        );
        assert_eq!(
            d.refresh_candidates(None, Some(&addr(1))),
            [addr(9), addr(1)],
            "a node that keeps a command waiting is asked last"
        );
        assert_eq!(d.primary(7), Some(addr(1)));
        assert_eq!(d.any_primary(5), Some(addr(1)));
        // MOVED to a known primary: no refresh; to an unknown node: refresh.
        assert_eq!(d.apply_moved(7, &addr(1)), None);
        assert_eq!(d.apply_moved(7, &addr(2)), Some(d.generation()));
        assert_eq!(d.primary(7), Some(addr(2)));
        assert_eq!(d.generation(), 1, "a MOVED patch is not a refresh");
    }

    #[test]
    fn a_pipeline_groups_by_node_and_resends_what_was_redirected() {
        let mut d = Directory::new(vec![], false);
        let node = |port: u16| crate::cluster::Node {
            id: String::new(),
            ip: None,
            endpoint: Some("h".into()),
            hostname: None,
            port: Some(port),
            tls_port: None,
            role: crate::cluster::Role::Primary,
            health: crate::cluster::Health::Online,
            replication_offset: None,
            availability_zone: None,
        };
        let shard = |a: u16, b: u16, port: u16| crate::cluster::Shard {
            slots: vec![(a, b)],
            primary: Some(node(port)),
            replicas: vec![],
        };
        d.install(Topology {
            shards: vec![shard(0, 8191, 1), shard(8192, 16383, 2)],
        });
        let mut p = Pipeline::new();
        p.add(Cmd::new("SET").arg("foo").arg("1")) // slot 12182: node 2
            .add(Cmd::new("GET").arg("bar")) // slot 5061: node 1
            .add(Cmd::new("INCR").arg("{foo}n")) // node 2
            .add(Cmd::new("ECHO").arg("x")); // any
        let mut run = PipelineRun::new(&p).unwrap();
        let groups = run.groups(&d, 0).unwrap();
        assert_eq!(
            groups,
            [(addr(2), vec![0, 2]), (addr(1), vec![1, 3])],
            "keyless ECHO goes to the first primary"
        );
        let mut buf = Vec::new();
        run.encode_group(&groups[0].1, &mut buf);
        assert!(buf.starts_with(b"*3\r\n$3\r\nSET"));
        run.answered(
            &[0, 2],
            vec![
                Bytes::from_static(b"+OK\r\n"),
                Bytes::from_static(b"-MOVED 12182 h:1\r\n"),
            ],
            &addr(2),
        );
        run.not_sent(&[1, 3]);
        let resends = run.take_resends();
        let idx: Vec<usize> = resends.iter().map(|r| r.0).collect();
        assert_eq!(idx, [1, 2, 3]);
        assert_eq!(resends[1].1, Some(crate::routing::slot(b"foo")));
        run.resent(1, Ok(Value::Nil)).unwrap();
        run.resent(2, Ok(Value::Int(1))).unwrap();
        run.resent(
            3,
            Err(Error::from_server(crate::value::ServerError::new("ERR x"))),
        )
        .unwrap();
        let replies = run.finish().unwrap();
        assert_eq!(replies.len(), 4);
        assert!(run_fails_on_unclear());

        // Refused before sending: fan-out, cross-slot, blocking, session commands.
        for (name, bad) in [
            ("DBSIZE", Cmd::new("DBSIZE")),
            ("MGET", Cmd::new("MGET").arg("a").arg("b")),
            ("BLPOP", Cmd::new("BLPOP").arg("k").arg(0)),
            ("ASKING", Cmd::new("ASKING")),
        ] {
            let mut p = Pipeline::new();
            p.add(bad);
            assert!(
                PipelineRun::new(&p).is_err_and(|e| e.kind() == ErrorKind::InvalidInput),
                "{name} must be refused"
            );
        }
    }

    #[test]
    fn typed_batches_split_into_their_commands() {
        let run = PipelineRun::of(&(
            crate::cmd::set("a", "1"),
            crate::cmd::get::<_, String>("b"),
            Cmd::new("ECHO").arg("x\r\n*3"),
        ))
        .unwrap();
        assert_eq!(run.len(), 3);
        assert_eq!(run.slots[0], Some(crate::routing::slot(b"a")));
        assert_eq!(run.slots[2], None);
        assert_eq!(crate::cmd::split_encoded(&run.commands[2])[1], b"x\r\n*3");
        let refused = PipelineRun::of(&(crate::cmd::get::<_, String>("a"), crate::cmd::dbsize()));
        assert!(refused.is_err_and(|e| e.kind() == ErrorKind::InvalidInput));
    }

    #[test]
    fn transactions_stay_on_one_slot_and_redirects_retry_them_whole() {
        let one = PipelineRun::of(&(
            crate::cmd::set("{u}a", "1"),
            crate::cmd::incr("{u}b"),
            crate::cmd::ping(),
        ));
        // PING is all_shards: refused like any fan-out in a batch.
        assert!(one.is_err());
        let one = PipelineRun::of(&(crate::cmd::set("{u}a", "1"), crate::cmd::incr("{u}b")));
        assert_eq!(
            one.unwrap().single_slot().unwrap(),
            Some(crate::routing::slot(b"u"))
        );
        let two = PipelineRun::of(&(crate::cmd::set("a", "1"), crate::cmd::incr("b"))).unwrap();
        assert_eq!(
            two.single_slot().unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        let frames = |queued: &'static [u8]| {
            vec![
                Bytes::from_static(b"+OK\r\n"),
                Bytes::from_static(b"+QUEUED\r\n"),
                Bytes::from_static(queued),
                Bytes::from_static(b"-EXECABORT Transaction discarded\r\n"),
            ]
        };
        let moved = transaction_redirect(&frames(b"-MOVED 5 h:2\r\n"), &addr(1)).unwrap();
        assert!(moved.is_moved());
        let ask = transaction_redirect(&frames(b"-ASK 5 h:2\r\n"), &addr(1)).unwrap();
        assert!(ask.is_try_again());
        assert!(transaction_redirect(&frames(b"-ERR wrong\r\n"), &addr(1)).is_none());
        assert!(transaction_redirect(&frames(b"+QUEUED\r\n"), &addr(1)).is_none());
    }

    #[test]
    fn watched_transactions_stay_in_one_slot_and_read_redirects_from_execabort() {
        let watch = Cmd::new("WATCH").arg("{u}a").arg("{u}b");
        let s = crate::routing::slot(b"u");
        assert_eq!(watched_slot(&watch).unwrap(), s);
        for bad in [Cmd::new("WATCH"), Cmd::new("WATCH").arg("a").arg("b")] {
            assert_eq!(
                watched_slot(&bad).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        }
        check_watched_slot(&(crate::cmd::incr("{u}a"), crate::cmd::ping()), s).unwrap_err();
        check_watched_slot(
            &(
                crate::cmd::incr("{u}a"),
                crate::cmd::get::<_, Value>("{u}c"),
            ),
            s,
        )
        .unwrap();
        let other = check_watched_slot(&(crate::cmd::incr("x"),), s).unwrap_err();
        assert_eq!(other.kind(), ErrorKind::InvalidInput);

        // A queued command's MOVED inside an EXECABORT; an ASK on the WATCH itself.
        let frames = vec![
            Bytes::from_static(b"+OK\r\n"),
            Bytes::from_static(b"-MOVED 5 h:2\r\n"),
            Bytes::from_static(b"-EXECABORT Transaction discarded\r\n"),
        ];
        let Err(abort) = crate::pipeline::transaction_replies(frames, 1, |_| "INCR".into()) else {
            panic!("EXEC with a refused command must fail")
        };
        assert_eq!(abort.kind(), ErrorKind::ExecAbort);
        assert!(watch_redirect(&abort, &addr(1), 5).unwrap().is_moved());
        let ask = Error::from_server(ServerError::new("ASK 5 h:2"));
        assert!(watch_redirect(&ask, &addr(1), 5).unwrap().is_try_again());
        let conflict = Error::new(ErrorKind::WatchConflict, "changed");
        assert!(watch_redirect(&conflict, &addr(1), 5).is_none());
        assert!(
            watch_redirect(&abort, &addr(1), 6).is_none(),
            "a MOVED for another slot is the caller's read elsewhere, not a move"
        );
    }

    fn run_fails_on_unclear() -> bool {
        let mut p = Pipeline::new();
        p.add(Cmd::new("INCR").arg("x"));
        let mut run = PipelineRun::new(&p).unwrap();
        run.resent(0, Err(Error::new(ErrorKind::Unclear, "lost")))
            .is_err_and(|e| e.is_unclear())
    }

    #[test]
    fn reads_go_to_replicas_by_zone_then_any_then_the_primary() {
        let node = |port: u16, role, health, az: Option<&str>| crate::cluster::Node {
            id: String::new(),
            ip: None,
            endpoint: Some("h".into()),
            hostname: None,
            port: Some(port),
            tls_port: None,
            role,
            health,
            replication_offset: None,
            availability_zone: az.map(str::to_owned),
        };
        use crate::cluster::{Health, Role};
        let mut d = Directory::new(vec![], false);
        d.install(Topology {
            shards: vec![
                crate::cluster::Shard {
                    slots: vec![(0, 8191)],
                    primary: Some(node(1, Role::Primary, Health::Online, Some("a"))),
                    replicas: vec![
                        node(2, Role::Replica, Health::Online, Some("a")),
                        node(3, Role::Replica, Health::Online, Some("b")),
                        node(4, Role::Replica, Health::Loading, Some("b")),
                    ],
                },
                crate::cluster::Shard {
                    slots: vec![(8192, 16383)],
                    primary: Some(node(5, Role::Primary, Health::Online, None)),
                    replicas: vec![],
                },
            ],
        });
        assert_eq!(d.reader(0, &ReadFrom::Primary, 0), Some(addr(1)));
        let replicas: Vec<_> = (0..4).map(|n| d.reader(0, &ReadFrom::Replica, n)).collect();
        assert_eq!(
            replicas,
            [Some(addr(2)), Some(addr(3)), Some(addr(2)), Some(addr(3))],
            "online replicas in turn; a loading one is passed over"
        );
        let b = ReadFrom::AzAffinity("b".into());
        assert_eq!(d.reader(0, &b, 0), Some(addr(3)));
        assert_eq!(d.reader(0, &b, 1), Some(addr(3)));
        let c = ReadFrom::AzAffinity("c".into());
        assert_eq!(
            d.reader(0, &c, 1),
            Some(addr(3)),
            "no replica in c: any replica"
        );
        assert_eq!(
            d.reader(9000, &ReadFrom::Replica, 0),
            Some(addr(5)),
            "none: the primary"
        );
    }

    #[test]
    fn asking_goes_first_and_its_reply_is_checked() {
        let mut buf = b"x".to_vec();
        encode_asking(&Cmd::new("GET").arg("k"), &ServerInfo::default(), &mut buf).unwrap();
        assert_eq!(
            buf,
            b"x*1\r\n$6\r\nASKING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n".to_vec()
        );
        let ok = Bytes::from_static(b"+OK\r\n");
        let v: String = decode_asking(&[ok.clone(), Bytes::from_static(b"$1\r\nv\r\n")]).unwrap();
        assert_eq!(v, "v");
        let moved = Bytes::from_static(b"-MOVED 1 h:1\r\n");
        assert!(decode_asking::<Value>(&[ok, moved]).unwrap_err().is_moved());
        assert!(decode_asking::<Value>(&[]).is_err());
    }
}
