//! A cluster-wide `SCAN` as data, shared by the sync and async cluster connections: with
//! `CLUSTERSCAN` (Valkey 9.1) the server walks the slots and the client only follows the cursor
//! to each slot's owner; elsewhere the client scans each primary in turn and counts a slot range
//! as done only when its owner held it, not moving, from before its `SCAN` to after it.

use super::exec::Directory;
use super::redirect::{Redirect, RetryPolicy};
use super::topology::NodeAddr;
use crate::cmd::Cmd;
use crate::error::{Error, ErrorKind, Result};
use crate::routing::slot;
use bytes::Bytes;
use std::time::{Duration, Instant};

const SLOTS: usize = 16384;

/// What a cluster scan looks for (`MATCH`, `COUNT`, `TYPE`); all keys by default.
#[derive(Clone, Debug, Default)]
pub struct ScanOptions {
    pattern: Option<Bytes>,
    count: Option<u64>,
    key_type: Option<String>,
}

impl ScanOptions {
    /// Every key, the server's default batch size.
    pub fn new() -> ScanOptions {
        ScanOptions::default()
    }

    /// Only keys matching the glob-style `pattern` (`MATCH`; applied by the server after it
    /// reads a batch, so batches may come back small or empty).
    pub fn matching(mut self, pattern: impl Into<Bytes>) -> ScanOptions {
        self.pattern = Some(pattern.into());
        self
    }

    /// About how many keys each call reads (`COUNT`, a hint to the server).
    pub fn count(mut self, count: u64) -> ScanOptions {
        self.count = Some(count);
        self
    }

    /// Only keys of this type (`TYPE string`, `list`, `hash`, `set`, `zset`, `stream`, ...).
    pub fn key_type(mut self, key_type: impl Into<String>) -> ScanOptions {
        self.key_type = Some(key_type.into());
        self
    }

    fn add_to(&self, mut cmd: Cmd) -> Cmd {
        if let Some(p) = &self.pattern {
            cmd = cmd.arg("MATCH").arg(p.as_ref());
        }
        if let Some(c) = self.count {
            cmd = cmd.arg("COUNT").arg(c);
        }
        if let Some(t) = &self.key_type {
            cmd = cmd.arg("TYPE").arg(t.as_str());
        }
        cmd
    }
}

/// What a driver does next for a scan.
#[derive(Debug)]
pub enum ScanRequest {
    /// Send this `CLUSTERSCAN` routed by its cursor's slot (with [`super::exec::Attempts::for_scan`]:
    /// `ASK` waits for the migration to end, a lost reply is asked again); hand the reply to
    /// [`ClusterScan::cluster_reply`].
    ClusterScan(Cmd),
    /// Send `CLUSTER NODES` to this node as it is; the reply goes to [`ClusterScan::probe_reply`].
    Probe(NodeAddr),
    /// Send this `SCAN` to this node as it is; the reply goes to [`ClusterScan::node_reply`].
    NodeScan(NodeAddr, Cmd),
    /// Nothing can go now (no owner known, or the slots left are moving): read the topology
    /// again, wait this long, ask again.
    Wait(Duration),
    /// Every slot was scanned.
    Done,
}

/// The state of one cluster-wide scan (see [`ScanRequest`] for the driver's side).
///
/// A key present from the scan's start to its end is returned at least once, across failovers
/// and slot moves; a key may be returned more than once (a slot range scanned again after its
/// owner changed), and keys written or deleted meanwhile may or may not be.
#[derive(Debug)]
pub struct ClusterScan {
    options: ScanOptions,
    policy: RetryPolicy,
    mode: Mode,
    /// Consecutive waits without progress, and when the first began: the scan gives up after
    /// the policy's `max_wait` without progress.
    waits: u32,
    stuck_since: Option<Instant>,
    wait_next: bool,
}

#[derive(Debug)]
enum Mode {
    /// `CLUSTERSCAN` with this cursor (`"0"` to start).
    Server {
        cursor: Bytes,
    },
    /// Per-node `SCAN`.
    Nodes {
        covered: Vec<bool>,
        phase: Phase,
    },
    Done,
}

#[derive(Debug)]
enum Phase {
    /// Choose the node of the first slot not covered yet.
    Pick,
    /// `CLUSTER NODES` asked of `addr` before its scan.
    Before { addr: NodeAddr },
    /// Scanning `addr` for the slots `batch` (it owned them, stable, before the scan).
    Scan {
        addr: NodeAddr,
        batch: Vec<bool>,
        cursor: Bytes,
    },
    /// `CLUSTER NODES` asked of `addr` after its scan: the slots of `batch` it still owns,
    /// stable, are covered.
    After { addr: NodeAddr, batch: Vec<bool> },
}

impl ClusterScan {
    /// A scan that tries `CLUSTERSCAN` first, retrying and giving up as `policy` says.
    pub fn new(options: ScanOptions, policy: RetryPolicy) -> ClusterScan {
        ClusterScan {
            options,
            policy,
            mode: Mode::Server {
                cursor: Bytes::from_static(b"0"),
            },
            waits: 0,
            stuck_since: None,
            wait_next: false,
        }
    }

    /// A scan that goes node by node from the start (servers without `CLUSTERSCAN`).
    pub fn per_node(options: ScanOptions, policy: RetryPolicy) -> ClusterScan {
        let mut s = ClusterScan::new(options, policy);
        s.mode = nodes_mode();
        s
    }

    /// Whether the scan is over (done, or failed).
    pub fn is_done(&self) -> bool {
        matches!(self.mode, Mode::Done)
    }

    /// Ends the scan (after an error was handed to the caller).
    pub fn finish(&mut self) {
        self.mode = Mode::Done;
    }

    /// What to send next, given what the connection knows of the cluster; an error when the
    /// scan could not move on for the policy's `max_wait`.
    pub fn next(&mut self, dir: &Directory) -> Result<ScanRequest> {
        if std::mem::take(&mut self.wait_next) {
            return Ok(ScanRequest::Wait(self.policy.delay(self.waits)));
        }
        Ok(match &mut self.mode {
            Mode::Done => ScanRequest::Done,
            Mode::Server { cursor } => ScanRequest::ClusterScan(
                self.options
                    .add_to(Cmd::new("CLUSTERSCAN").arg(cursor.as_ref())),
            ),
            Mode::Nodes { covered, phase } => match phase {
                Phase::Pick => {
                    let Some(first) = covered.iter().position(|c| !c) else {
                        self.mode = Mode::Done;
                        return Ok(ScanRequest::Done);
                    };
                    match dir.primary(first as u16) {
                        Some(addr) => {
                            *phase = Phase::Before { addr: addr.clone() };
                            ScanRequest::Probe(addr)
                        }
                        None => {
                            self.wait(|| {
                                Error::new(
                                    ErrorKind::NotSent,
                                    format!("no primary is known for slot {first}"),
                                )
                            })?;
                            self.wait_next = false;
                            ScanRequest::Wait(self.policy.delay(self.waits))
                        }
                    }
                }
                Phase::Before { addr } | Phase::After { addr, .. } => {
                    ScanRequest::Probe(addr.clone())
                }
                Phase::Scan { addr, cursor, .. } => {
                    let cmd = self.options.add_to(Cmd::new("SCAN").arg(cursor.as_ref()));
                    ScanRequest::NodeScan(addr.clone(), cmd)
                }
            },
        })
    }

    /// The reply to [`ScanRequest::ClusterScan`] (`[cursor, [keys]]`): the keys it found. A
    /// server without `CLUSTERSCAN` (unknown command, or too old for it) turns the scan into a
    /// per-node one; other errors end it.
    pub fn cluster_reply(&mut self, reply: Result<(Bytes, Vec<Bytes>)>) -> Result<Vec<Bytes>> {
        match reply {
            Ok((cursor, keys)) => {
                self.mode = if cursor.as_ref() == b"0" {
                    Mode::Done
                } else {
                    Mode::Server { cursor }
                };
                Ok(keys)
            }
            Err(e) if e.kind() == ErrorKind::Unsupported || e.is_unknown_command() => {
                tracing::debug!("no CLUSTERSCAN ({e}); scanning node by node");
                self.mode = nodes_mode();
                Ok(Vec::new())
            }
            Err(e) => Err(self.failed(e)),
        }
    }

    /// The reply to [`ScanRequest::Probe`] (`CLUSTER NODES` of that node).
    pub fn probe_reply(&mut self, from: &NodeAddr, reply: Result<String>) -> Result<()> {
        let text = match reply {
            Ok(t) => t,
            Err(e) => return self.set_back(e, from),
        };
        let Mode::Nodes { covered, phase } = &mut self.mode else {
            return Ok(());
        };
        let stable = stable_slots(&text);
        match std::mem::replace(phase, Phase::Pick) {
            Phase::Before { addr } => {
                let batch: Vec<bool> = (0..SLOTS).map(|s| stable[s] && !covered[s]).collect();
                if batch.iter().any(|b| *b) {
                    *phase = Phase::Scan {
                        addr,
                        batch,
                        cursor: Bytes::from_static(b"0"),
                    };
                } else {
                    // It does not own the first slot left (yet), or that slot is moving.
                    self.wait(|| {
                        Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "cluster node {from} never owned the next slots to scan, stable"
                            ),
                        )
                    })?;
                }
            }
            Phase::After { batch, .. } => {
                let mut progress = false;
                for s in 0..SLOTS {
                    if batch[s] && stable[s] && !covered[s] {
                        covered[s] = true;
                        progress = true;
                    }
                }
                if progress {
                    self.progress();
                } else {
                    self.wait(|| {
                        Error::new(
                            ErrorKind::Timeout,
                            format!("the slots cluster node {from} was scanning kept moving"),
                        )
                    })?;
                }
            }
            other => *phase = other,
        }
        Ok(())
    }

    /// The reply to [`ScanRequest::NodeScan`] (`[cursor, [keys]]`): the keys it found in the
    /// slots being scanned (keys of other slots the node holds, such as ones it is importing,
    /// are left to their owner's scan).
    pub fn node_reply(
        &mut self,
        from: &NodeAddr,
        reply: Result<(Bytes, Vec<Bytes>)>,
    ) -> Result<Vec<Bytes>> {
        let (next, mut keys) = match reply {
            Ok(r) => r,
            Err(e) => return self.set_back(e, from).map(|()| Vec::new()),
        };
        let Mode::Nodes { phase, .. } = &mut self.mode else {
            return Ok(Vec::new());
        };
        if let Phase::Scan { batch, cursor, .. } = phase {
            keys.retain(|k| batch[usize::from(slot(k))]);
            if next.as_ref() == b"0" {
                let Phase::Scan { addr, batch, .. } = std::mem::replace(phase, Phase::Pick) else {
                    unreachable!("matched above")
                };
                *phase = Phase::After { addr, batch };
            } else {
                *cursor = next;
            }
        }
        Ok(keys)
    }

    /// A node scan failed at `from`: its slots are scanned again later (from their owner then),
    /// after a wait, while errors are the kind a retry can cure and time remains.
    fn set_back(&mut self, e: Error, from: &NodeAddr) -> Result<()> {
        let curable = matches!(
            e.kind(),
            ErrorKind::NotSent
                | ErrorKind::Unclear
                | ErrorKind::Closed
                | ErrorKind::Io
                | ErrorKind::Timeout
        ) || Redirect::from_error(&e, from).is_some();
        if !curable {
            return Err(self.failed(e));
        }
        if let Mode::Nodes { phase, .. } = &mut self.mode {
            *phase = Phase::Pick;
        }
        self.wait(|| e)
    }

    /// The next request is a wait; `Err(why())` when nothing moved on for `max_wait`.
    fn wait(&mut self, why: impl FnOnce() -> Error) -> Result<()> {
        self.waits = self.waits.saturating_add(1);
        let since = *self.stuck_since.get_or_insert_with(Instant::now);
        self.wait_next = true;
        if since.elapsed() >= self.policy.max_wait {
            let max = self.policy.max_wait;
            return Err(
                self.failed(why().context(format!("no slot range could be finished for {max:?}")))
            );
        }
        Ok(())
    }

    fn progress(&mut self) {
        self.waits = 0;
        self.stuck_since = None;
    }

    fn failed(&mut self, e: Error) -> Error {
        self.mode = Mode::Done;
        e.context("cluster scan")
    }
}

fn nodes_mode() -> Mode {
    Mode::Nodes {
        covered: vec![false; SLOTS],
        phase: Phase::Pick,
    }
}

/// The slots the node that sent this `CLUSTER NODES` text owns as a primary and is not
/// migrating out (its `myself` line; a replica owns none). Bad input owns nothing.
pub fn stable_slots(cluster_nodes: &str) -> Vec<bool> {
    let mut owned = vec![false; SLOTS];
    let Some(line) = cluster_nodes.lines().find(|l| {
        l.split(' ')
            .nth(2)
            .is_some_and(|flags| flags.split(',').any(|f| f == "myself"))
    }) else {
        return owned;
    };
    let fields: Vec<&str> = line.split(' ').collect();
    if !fields[2].split(',').any(|f| f == "master") {
        return owned;
    }
    let mut moving = Vec::new();
    for entry in fields.iter().skip(8) {
        if let Some(inner) = entry.strip_prefix('[') {
            // `[slot->-id]` migrating out, `[slot-<-id]` importing (not owned yet).
            if let Some(s) = inner
                .split('-')
                .next()
                .and_then(|s| s.parse::<usize>().ok())
            {
                moving.push(s);
            }
            continue;
        }
        let (a, b) = entry.split_once('-').unwrap_or((entry, entry));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            if a <= b && b < SLOTS {
                owned[a..=b].iter_mut().for_each(|o| *o = true);
            }
        }
    }
    for s in moving {
        if s < SLOTS {
            owned[s] = false;
        }
    }
    owned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Health, Node, Role, Shard, Topology};

    fn addr(port: u16) -> NodeAddr {
        NodeAddr::new("h", port)
    }

    fn dir(split: u16) -> Directory {
        let node = |port| Node {
            id: String::new(),
            ip: None,
            endpoint: Some("h".into()),
            hostname: None,
            port: Some(port),
            tls_port: None,
            role: Role::Primary,
            health: Health::Online,
            replication_offset: None,
            availability_zone: None,
        };
        let mut d = Directory::new(vec![], false);
        d.install(Topology {
            shards: vec![
                Shard {
                    slots: vec![(0, split - 1)],
                    primary: Some(node(1)),
                    replicas: vec![],
                },
                Shard {
                    slots: vec![(split, 16383)],
                    primary: Some(node(2)),
                    replicas: vec![],
                },
            ],
        });
        d
    }

    fn encoded(c: &Cmd) -> Vec<Vec<u8>> {
        let mut buf = Vec::new();
        crate::cmd::encode(c, &mut buf).unwrap();
        crate::cmd::split_encoded(&buf)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn nodes_text(myself_flags: &str, slots: &str) -> String {
        format!(
            "aaa 127.0.0.1:1@2 {myself_flags} - 0 0 1 connected {slots}\n\
             bbb 127.0.0.1:3@4 master - 0 0 2 connected 9000-16383\n"
        )
    }

    #[test]
    fn cluster_nodes_myself_line_gives_stable_owned_slots() {
        let s = stable_slots(&nodes_text("myself,master", "0-5 7 [3->-bbb] [9000-<-bbb]"));
        let owned: Vec<usize> = (0..SLOTS).filter(|i| s[*i]).collect();
        assert_eq!(owned, [0, 1, 2, 4, 5, 7]);
        assert!(stable_slots(&nodes_text("myself,slave", ""))
            .iter()
            .all(|o| !o));
        assert!(stable_slots("garbage\n").iter().all(|o| !o));
        assert!(stable_slots("a b myself,master - 0 0 1 connected 9-99999")
            .iter()
            .all(|o| !o));
    }

    #[test]
    fn cluster_scan_follows_the_cursor_and_falls_back_when_unknown() {
        let d = dir(8192);
        let mut s = ClusterScan::new(
            ScanOptions::new().matching("k*").count(10),
            RetryPolicy::default(),
        );
        let ScanRequest::ClusterScan(c) = s.next(&d).unwrap() else {
            panic!()
        };
        assert_eq!(
            encoded(&c),
            [&b"CLUSTERSCAN"[..], b"0", b"MATCH", b"k*", b"COUNT", b"10"].map(<[u8]>::to_vec)
        );
        let keys = s
            .cluster_reply(Ok((
                Bytes::from_static(b"x-{a}-1"),
                vec![Bytes::from_static(b"k1")],
            )))
            .unwrap();
        assert_eq!(keys, [Bytes::from_static(b"k1")]);
        let ScanRequest::ClusterScan(c) = s.next(&d).unwrap() else {
            panic!()
        };
        assert_eq!(encoded(&c)[1], b"x-{a}-1");
        s.cluster_reply(Ok((Bytes::from_static(b"0"), vec![])))
            .unwrap();
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Done));

        let mut old = ClusterScan::new(ScanOptions::new(), RetryPolicy::default());
        let unknown = Error::from_server(crate::value::ServerError::new(
            "ERR unknown command 'CLUSTERSCAN', with args beginning with: '0'",
        ));
        assert!(old.cluster_reply(Err(unknown)).unwrap().is_empty());
        assert!(matches!(old.next(&d).unwrap(), ScanRequest::Probe(a) if a == addr(1)));
    }

    #[test]
    fn node_scans_cover_a_range_only_when_owned_before_and_after() {
        let d = dir(8192);
        let mut s = ClusterScan::per_node(ScanOptions::new(), RetryPolicy::default());
        let a = addr(1);
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Probe(x) if x == a));
        s.probe_reply(&a, Ok(nodes_text("myself,master", "0-8191")))
            .unwrap();
        let ScanRequest::NodeScan(x, _) = s.next(&d).unwrap() else {
            panic!()
        };
        assert_eq!(x, a);
        // A key of another slot (an importing one) is left to its owner's scan.
        let mine = Bytes::from_static(b"bar"); // slot 5061
        let other = Bytes::from_static(b"foo"); // slot 12182
        let keys = s
            .node_reply(
                &a,
                Ok((Bytes::from_static(b"0"), vec![mine.clone(), other])),
            )
            .unwrap();
        assert_eq!(keys, [mine]);
        // After the scan the node migrates slot 5 out: 5 is not covered and goes again.
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Probe(x) if x == a));
        s.probe_reply(&a, Ok(nodes_text("myself,master", "0-8191 [5->-bbb]")))
            .unwrap();
        assert!(
            matches!(s.next(&d).unwrap(), ScanRequest::Probe(x) if x == a),
            "slot 5 is next"
        );
        // Still moving: wait, then ask again.
        s.probe_reply(&a, Ok(nodes_text("myself,master", "0-8191 [5->-bbb]")))
            .unwrap();
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Wait(_)));
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Probe(_)));
        s.probe_reply(&a, Ok(nodes_text("myself,master", "0-4 6-8191")))
            .unwrap();
        assert!(
            matches!(s.next(&d).unwrap(), ScanRequest::Wait(_)),
            "node 1 no longer owns 5"
        );
        // A lost reply sets the node back: its slots are scanned again after a wait.
        let b = addr(2);
        let mut d2 = dir(5);
        d2.apply_moved(5, &b);
        assert!(matches!(s.next(&d2).unwrap(), ScanRequest::Probe(x) if x == b));
        s.probe_reply(&b, Ok(nodes_text("myself,master", "5-16383")))
            .unwrap();
        let lost = Error::new(ErrorKind::Unclear, "lost");
        assert!(s.node_reply(&b, Err(lost)).unwrap().is_empty());
        assert!(matches!(s.next(&d2).unwrap(), ScanRequest::Wait(_)));
        assert!(matches!(s.next(&d2).unwrap(), ScanRequest::Probe(x) if x == b));
        s.probe_reply(&b, Ok(nodes_text("myself,master", "5-16383")))
            .unwrap();
        assert!(matches!(s.next(&d2).unwrap(), ScanRequest::NodeScan(..)));
        s.node_reply(&b, Ok((Bytes::from_static(b"0"), vec![])))
            .unwrap();
        assert!(matches!(s.next(&d2).unwrap(), ScanRequest::Probe(_)));
        s.probe_reply(&b, Ok(nodes_text("myself,master", "5-16383")))
            .unwrap();
        assert!(matches!(s.next(&d2).unwrap(), ScanRequest::Done));
        // A refusal a retry cannot cure ends the scan.
        let mut t = ClusterScan::per_node(ScanOptions::new(), RetryPolicy::default());
        t.next(&d).unwrap();
        let denied = Error::from_server(crate::value::ServerError::new("NOPERM no"));
        assert!(t.probe_reply(&a, Err(denied)).is_err());
        assert!(t.is_done());
    }
}
