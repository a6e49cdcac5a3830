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
    /// Send `CLUSTER NODES` to this node as it is (no redirects); the reply goes to
    /// [`ClusterScan::probe_reply`].
    Probe(NodeAddr),
    /// Send this `CLUSTERSCAN` or `SCAN` to this node as it is (no redirects); the reply goes
    /// to [`ClusterScan::node_reply`].
    NodeScan(NodeAddr, Cmd),
    /// Nothing can go now (no owner known, the slots left are moving, or a node failed): read
    /// the topology again, wait this long, ask again.
    Wait(Duration),
    /// Every slot was scanned.
    Done,
}

/// The state of one cluster-wide scan (see [`ScanRequest`] for the driver's side).
///
/// The scan goes primary by primary, in slot order: it asks the owner of the first slot not
/// yet covered which slots it owns and is not migrating (`CLUSTER NODES`), scans them
/// (`CLUSTERSCAN` from that slot on Valkey 9.1, which walks the node's slots and stops at the
/// first it does not own; `SCAN` elsewhere), and asks again: only the slots it owned, stable,
/// before and after count as covered. A slot that moved or failed over meanwhile is scanned
/// again at its new owner, once its migration ends; a node that fails mid-scan has its slots
/// scanned again. So a key present from the scan's start to its end is returned at least once;
/// a key may be returned more than once, and keys written or deleted meanwhile may or may not
/// be. (`CLUSTERSCAN` followed blindly from node to node skips a slot that is migrating when
/// its owner's walk passes it: the tests saw whole slots missing.)
///
/// The scan needs `CLUSTER NODES` (and `CLUSTERSCAN` or `SCAN`) on every primary. Lost replies
/// and unreachable or frozen nodes (after their connection's liveness deadline) are waited
/// out; the scan gives up, with the last error, when no slot range could be finished for the
/// retry policy's `max_wait` (20 s by default: a slot migration that takes longer ends it).
#[derive(Debug)]
pub struct ClusterScan {
    options: ScanOptions,
    policy: RetryPolicy,
    done: bool,
    covered: Vec<bool>,
    phase: Phase,
    /// Whether the nodes have `CLUSTERSCAN` (until one says it does not).
    clusterscan: bool,
    /// Consecutive waits without progress, and when the first began: the scan gives up after
    /// the policy's `max_wait` without progress.
    waits: u32,
    stuck_since: Option<Instant>,
    wait_next: bool,
}

#[derive(Debug)]
enum Phase {
    /// Choose the node of the first slot not covered yet.
    Pick,
    /// `CLUSTER NODES` asked of `addr` before its scan.
    Before { addr: NodeAddr },
    /// Scanning `addr` from slot `first` for the slots `batch` (it owned them, stable, before
    /// the scan).
    Scan {
        addr: NodeAddr,
        batch: Vec<bool>,
        first: usize,
        cursor: Bytes,
    },
    /// `CLUSTER NODES` asked of `addr` after its scan: the slots of `batch` in `first..until`
    /// it still owns, stable, are covered.
    After {
        addr: NodeAddr,
        batch: Vec<bool>,
        first: usize,
        until: usize,
    },
}

impl ClusterScan {
    /// A scan of every slot, retrying and giving up as `policy` says.
    pub fn new(options: ScanOptions, policy: RetryPolicy) -> ClusterScan {
        ClusterScan {
            options,
            policy,
            done: false,
            covered: vec![false; SLOTS],
            phase: Phase::Pick,
            clusterscan: true,
            waits: 0,
            stuck_since: None,
            wait_next: false,
        }
    }

    /// Whether the scan is over (done, or failed).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Ends the scan (after an error was handed to the caller).
    pub fn finish(&mut self) {
        self.done = true;
    }

    /// What to send next, given what the connection knows of the cluster; an error when the
    /// scan could not move on for the policy's `max_wait`.
    pub fn next(&mut self, dir: &Directory) -> Result<ScanRequest> {
        if self.done {
            return Ok(ScanRequest::Done);
        }
        if std::mem::take(&mut self.wait_next) {
            return Ok(ScanRequest::Wait(self.policy.delay(self.waits)));
        }
        Ok(match &self.phase {
            Phase::Pick => {
                let Some(first) = self.covered.iter().position(|c| !c) else {
                    self.done = true;
                    return Ok(ScanRequest::Done);
                };
                match dir.primary(first as u16) {
                    Some(addr) => {
                        self.phase = Phase::Before { addr: addr.clone() };
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
            Phase::Before { addr } | Phase::After { addr, .. } => ScanRequest::Probe(addr.clone()),
            Phase::Scan {
                addr,
                first,
                cursor,
                ..
            } => {
                let cmd = if self.clusterscan {
                    // A cursor that starts at `first`: inner cursor 0, a hash tag of that slot.
                    let cursor = if cursor.as_ref() == b"0" {
                        Bytes::from(format!("0-{{{}}}-0", slot_tag(*first as u16)))
                    } else {
                        cursor.clone()
                    };
                    Cmd::new("CLUSTERSCAN").arg(cursor.as_ref())
                } else {
                    Cmd::new("SCAN").arg(cursor.as_ref())
                };
                ScanRequest::NodeScan(addr.clone(), self.options.add_to(cmd))
            }
        })
    }

    /// The reply to [`ScanRequest::Probe`] (`CLUSTER NODES` of that node).
    pub fn probe_reply(&mut self, from: &NodeAddr, reply: Result<String>) -> Result<()> {
        let text = match reply {
            Ok(t) => t,
            Err(e) => return self.set_back(e, from),
        };
        let stable = stable_slots(&text);
        match std::mem::replace(&mut self.phase, Phase::Pick) {
            Phase::Before { addr } => {
                let batch: Vec<bool> = (0..SLOTS).map(|s| stable[s] && !self.covered[s]).collect();
                match batch.iter().position(|b| *b) {
                    Some(first) => {
                        self.phase = Phase::Scan {
                            addr,
                            batch,
                            first,
                            cursor: Bytes::from_static(b"0"),
                        }
                    }
                    // It does not own the slots left (yet), or they are moving.
                    None => self.wait(|| {
                        Error::new(
                            ErrorKind::Timeout,
                            format!(
                                "cluster node {from} never owned the next slots to scan, stable"
                            ),
                        )
                    })?,
                }
            }
            Phase::After {
                batch,
                first,
                until,
                ..
            } => {
                let mut progress = false;
                for s in first..until.min(SLOTS) {
                    if batch[s] && stable[s] && !self.covered[s] {
                        self.covered[s] = true;
                        progress = true;
                    }
                }
                if progress {
                    self.waits = 0;
                    self.stuck_since = None;
                } else {
                    self.wait(|| {
                        Error::new(
                            ErrorKind::Timeout,
                            format!("the slots cluster node {from} was scanning kept moving"),
                        )
                    })?;
                }
            }
            other => self.phase = other,
        }
        Ok(())
    }

    /// The reply to [`ScanRequest::NodeScan`] (`[cursor, [keys]]`): the keys it found in the
    /// slots being scanned (keys of other slots the node holds, such as ones it is importing,
    /// are left to their owner's scan). A node without `CLUSTERSCAN` (unknown command, or too
    /// old for it) is scanned again with `SCAN`, and so are the others.
    pub fn node_reply(
        &mut self,
        from: &NodeAddr,
        reply: Result<(Bytes, Vec<Bytes>)>,
    ) -> Result<Vec<Bytes>> {
        let (next, mut keys) = match reply {
            Ok(r) => r,
            Err(e)
                if self.clusterscan
                    && (e.kind() == ErrorKind::Unsupported || e.is_unknown_command()) =>
            {
                tracing::debug!("no CLUSTERSCAN ({e}); scanning with SCAN");
                self.clusterscan = false;
                if let Phase::Scan { cursor, .. } = &mut self.phase {
                    *cursor = Bytes::from_static(b"0");
                }
                return Ok(Vec::new());
            }
            Err(e) => return self.set_back(e, from).map(|()| Vec::new()),
        };
        let clusterscan = self.clusterscan;
        let Phase::Scan {
            batch,
            cursor,
            first,
            ..
        } = &mut self.phase
        else {
            return Ok(Vec::new());
        };
        keys.retain(|k| batch[usize::from(slot(k))]);
        // Where the node's walk got to: `CLUSTERSCAN`'s cursor names the slot it is at (the
        // first one the node does not own once its own are done); `SCAN` goes over everything.
        let until = match (next.as_ref(), clusterscan) {
            (b"0", _) => Some(SLOTS),
            (_, true) => match cursor_slot(&next) {
                Some(at) if at > *first && !batch[at] => Some(at),
                Some(at) if at >= *first => None,
                // A cursor that went back or names no slot: nothing counts, scan it again.
                _ => Some(*first),
            },
            (_, false) => None,
        };
        match until {
            None => *cursor = next,
            Some(until) => {
                if let Phase::Scan {
                    addr, batch, first, ..
                } = std::mem::replace(&mut self.phase, Phase::Pick)
                {
                    self.phase = Phase::After {
                        addr,
                        batch,
                        first,
                        until,
                    };
                }
            }
        }
        Ok(keys)
    }

    /// A node failed at `from`: its slots are scanned again later (from their owner then),
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
        self.phase = Phase::Pick;
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

    fn failed(&mut self, e: Error) -> Error {
        self.done = true;
        e.context("cluster scan")
    }
}

/// The slot a `CLUSTERSCAN` cursor (`<inner>-{<tag>}-<inner>`) is at.
fn cursor_slot(cursor: &[u8]) -> Option<usize> {
    let open = cursor.iter().position(|b| *b == b'{')?;
    let close = open + 1 + cursor[open + 1..].iter().position(|b| *b == b'}')?;
    Some(usize::from(slot(&cursor[open..=close])))
}

/// A short hash tag whose slot is `target` (for a cursor that starts there): the first of
/// the three-character tags over `[0-9a-zA-Z]` in that slot (62^3 = 238,328 of them cover all
/// 16,384 slots; the table is built once).
fn slot_tag(target: u16) -> String {
    static TAGS: std::sync::OnceLock<Vec<[u8; 3]>> = std::sync::OnceLock::new();
    const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let tags = TAGS.get_or_init(|| {
        let mut tags = vec![[0u8; 3]; SLOTS];
        let mut found = vec![false; SLOTS];
        for n in 0..ALPHABET.len().pow(3) {
            let tag = [
                ALPHABET[n % 62],
                ALPHABET[n / 62 % 62],
                ALPHABET[n / 3844 % 62],
            ];
            let s = usize::from(slot(&tag));
            if !found[s] {
                found[s] = true;
                tags[s] = tag;
            }
        }
        tags
    });
    String::from_utf8_lossy(&tags[usize::from(target) % SLOTS]).into_owned()
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
    fn every_slot_has_a_tag_and_cursors_name_their_slot() {
        for target in 0..SLOTS as u16 {
            assert_eq!(slot(slot_tag(target).as_bytes()), target);
        }
        assert_eq!(
            cursor_slot(b"2S06UA-{k2}-449"),
            Some(usize::from(slot(b"k2")))
        );
        assert_eq!(cursor_slot(b"0"), None);
        assert_eq!(cursor_slot(b"x-{"), None);
    }

    #[test]
    fn clusterscan_walks_a_node_from_its_first_slot_and_falls_back_to_scan() {
        let d = dir(8192);
        let a = addr(1);
        let mut s = ClusterScan::new(
            ScanOptions::new().matching("k*").count(10),
            RetryPolicy::default(),
        );
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Probe(x) if x == a));
        s.probe_reply(&a, Ok(nodes_text("myself,master", "0-8191")))
            .unwrap();
        let ScanRequest::NodeScan(x, c) = s.next(&d).unwrap() else {
            panic!()
        };
        assert_eq!(x, a);
        let args = encoded(&c);
        assert_eq!(args[0], b"CLUSTERSCAN");
        assert_eq!(cursor_slot(&args[1]), Some(0));
        assert_eq!(
            args[2..],
            [&b"MATCH"[..], b"k*", b"COUNT", b"10"].map(<[u8]>::to_vec)
        );
        // The node's walk reaches slot 8192, which it does not own: its run is over.
        let at_8192 = format!("0-{{{}}}-0", slot_tag(8192));
        let keys = s
            .node_reply(
                &a,
                Ok((Bytes::from(at_8192), vec![Bytes::from_static(b"bar")])),
            )
            .unwrap();
        assert_eq!(keys, [Bytes::from_static(b"bar")]);
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Probe(x) if x == a));
        s.probe_reply(&a, Ok(nodes_text("myself,master", "0-8191")))
            .unwrap();
        // Node 2 has no CLUSTERSCAN: it is scanned again with SCAN.
        let b = addr(2);
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Probe(x) if x == b));
        s.probe_reply(&b, Ok(nodes_text("myself,master", "8192-16383")))
            .unwrap();
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::NodeScan(..)));
        let unknown = Error::from_server(crate::value::ServerError::new(
            "ERR unknown command 'CLUSTERSCAN', with args beginning with: '0'",
        ));
        assert!(s.node_reply(&b, Err(unknown)).unwrap().is_empty());
        let ScanRequest::NodeScan(_, c) = s.next(&d).unwrap() else {
            panic!()
        };
        assert_eq!(encoded(&c)[..2], [b"SCAN".to_vec(), b"0".to_vec()]);
        s.node_reply(&b, Ok((Bytes::from_static(b"0"), vec![])))
            .unwrap();
        s.next(&d).unwrap();
        s.probe_reply(&b, Ok(nodes_text("myself,master", "8192-16383")))
            .unwrap();
        assert!(matches!(s.next(&d).unwrap(), ScanRequest::Done));
    }

    #[test]
    fn node_scans_cover_a_range_only_when_owned_before_and_after() {
        let d = dir(8192);
        let mut s = ClusterScan::new(ScanOptions::new(), RetryPolicy::default());
        s.clusterscan = false;
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
        let mut t = ClusterScan::new(ScanOptions::new(), RetryPolicy::default());
        t.next(&d).unwrap();
        let denied = Error::from_server(crate::value::ServerError::new("NOPERM no"));
        assert!(t.probe_reply(&a, Err(denied)).is_err());
        assert!(t.is_done());
    }
}
