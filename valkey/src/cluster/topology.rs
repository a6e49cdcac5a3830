//! The cluster's shape as data: shards (slot ranges, a primary, replicas) read from a
//! `CLUSTER SHARDS` reply (or the older `CLUSTER SLOTS`), and the slot map built from them, which
//! says which shard serves each of the 16384 slots and is patched in place by `MOVED`.

use crate::error::{Error, ErrorKind, Result};
use crate::routing::SLOT_COUNT;
use crate::value::Value;
use std::fmt;

/// A node's address as clients reach it: host (an IP or a hostname) and port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeAddr {
    /// The IP address or hostname.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl NodeAddr {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> NodeAddr {
        NodeAddr {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port` (the last `:` splits, so `::1:6379` is IPv6 `::1`). An empty host
    /// (`:6380`, a node that does not know its own endpoint) stays empty: the caller puts the
    /// host of the node that answered in its place.
    pub fn parse(s: &str) -> Option<NodeAddr> {
        let (host, port) = s.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        Some(NodeAddr::new(host, port.parse().ok()?))
    }
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A node's role in its shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Serves the shard's slots.
    Primary,
    /// Copies the primary.
    Replica,
}

/// A node's health as the node that answered sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Health {
    /// Reachable and serving.
    Online,
    /// Marked failed.
    Failed,
    /// Loading its data (a replica after a full sync).
    Loading,
    /// Not said (`CLUSTER SLOTS` has no health).
    Unknown,
}

/// One node of a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The cluster node id (empty when the reply did not give it).
    pub id: String,
    /// The node's IP address, when given.
    pub ip: Option<String>,
    /// The preferred endpoint clients should use (IP, hostname, or `?` when unknown).
    pub endpoint: Option<String>,
    /// The node's announced hostname, when set.
    pub hostname: Option<String>,
    /// The plaintext port (`None` when the node only listens with TLS).
    pub port: Option<u16>,
    /// The TLS port, when the node has one.
    pub tls_port: Option<u16>,
    /// Primary or replica.
    pub role: Role,
    /// Online, failed, loading.
    pub health: Health,
    /// The replication offset, when given.
    pub replication_offset: Option<i64>,
    /// The node's availability zone (Valkey 8.1+ `availability-zone`), when set.
    pub availability_zone: Option<String>,
}

impl Node {
    /// The address to connect to: the preferred endpoint (else the IP, else the hostname) and
    /// the TLS or plain port. `None` when the node has no usable endpoint or port.
    pub fn addr(&self, tls: bool) -> Option<NodeAddr> {
        let host = [&self.endpoint, &self.ip, &self.hostname]
            .into_iter()
            .flatten()
            .find(|h| !h.is_empty() && h.as_str() != "?")?;
        let port = if tls { self.tls_port } else { self.port }.or(self.port)?;
        Some(NodeAddr::new(host.clone(), port))
    }
}

/// A shard: the slot ranges it serves, its primary and its replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shard {
    /// Inclusive slot ranges.
    pub slots: Vec<(u16, u16)>,
    /// The primary (`None` while a shard reports none, e.g. during a failover).
    pub primary: Option<Node>,
    /// The replicas.
    pub replicas: Vec<Node>,
}

/// The whole cluster as one node described it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    /// The shards, in the order the node listed them.
    pub shards: Vec<Shard>,
}

fn bad(what: &str, value: &Value) -> Error {
    Error::new(
        ErrorKind::Protocol,
        format!("unexpected cluster topology reply ({what}): {value:?}"),
    )
}

/// The key/value entries of a RESP3 map or a RESP2 flat `[k, v, k, v]` array.
fn entries(value: &Value) -> Option<Vec<(&Value, &Value)>> {
    match value {
        Value::Map(m) => Some(m.iter().map(|(k, v)| (k, v)).collect()),
        Value::Array(a) if a.len() % 2 == 0 => Some(a.chunks(2).map(|p| (&p[0], &p[1])).collect()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    value
        .as_bytes()
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

fn items(value: &Value) -> Option<&[Value]> {
    match value {
        Value::Array(a) | Value::Set(a) => Some(a),
        _ => None,
    }
}

fn slot_number(value: &Value) -> Option<u16> {
    int(value)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&s| s < SLOT_COUNT)
}

impl Topology {
    /// Reads a `CLUSTER SHARDS` reply (RESP2 or RESP3).
    pub fn from_shards(reply: &Value) -> Result<Topology> {
        Topology::from_shards_seen_by(reply, None)
    }

    /// Reads a `CLUSTER SHARDS` reply given by the node at `answered_by`. Just after a
    /// failover a node may still list the old primary beside the new one; a node is sure of
    /// its own role, so when it lists itself as a primary it is the one taken, else the first
    /// primary not marked failed.
    pub fn from_shards_seen_by(reply: &Value, answered_by: Option<&NodeAddr>) -> Result<Topology> {
        let list = items(reply).ok_or_else(|| bad("not an array", reply))?;
        let mut shards = Vec::with_capacity(list.len());
        for shard in list {
            let fields = entries(shard).ok_or_else(|| bad("a shard is not a map", shard))?;
            let mut slots = Vec::new();
            let mut nodes = Vec::new();
            for (k, v) in fields {
                match k.as_bytes() {
                    Some(b"slots") => {
                        let bounds = items(v).ok_or_else(|| bad("slots", v))?;
                        for pair in bounds.chunks(2) {
                            match pair {
                                [a, b] => slots.push((
                                    slot_number(a).ok_or_else(|| bad("slot", a))?,
                                    slot_number(b).ok_or_else(|| bad("slot", b))?,
                                )),
                                _ => return Err(bad("odd slot bounds", v)),
                            }
                        }
                    }
                    Some(b"nodes") => {
                        for node in items(v).ok_or_else(|| bad("nodes", v))? {
                            nodes.push(node_from_shards(node)?);
                        }
                    }
                    _ => {}
                }
            }
            let (primaries, replicas): (Vec<Node>, Vec<Node>) =
                nodes.into_iter().partition(|n| n.role == Role::Primary);
            // A failed (or not yet demoted) old primary may still be listed beside the
            // promoted one.
            let itself = |n: &&Node| {
                answered_by.is_some_and(|a| {
                    n.addr(false).as_ref() == Some(a) || n.addr(true).as_ref() == Some(a)
                })
            };
            let primary = primaries
                .iter()
                .find(itself)
                .or_else(|| primaries.iter().find(|n| n.health != Health::Failed))
                .or(primaries.first())
                .cloned();
            shards.push(Shard {
                slots,
                primary,
                replicas,
            });
        }
        Ok(Topology { shards })
    }

    /// Reads a `CLUSTER SLOTS` reply: `[[start, end, [ip, port, id, {meta}], replica...], ...]`.
    /// Ranges served by the same primary are grouped into one shard.
    pub fn from_slots(reply: &Value) -> Result<Topology> {
        let list = items(reply).ok_or_else(|| bad("not an array", reply))?;
        let mut shards: Vec<Shard> = Vec::new();
        for range in list {
            let parts = items(range).ok_or_else(|| bad("a range is not an array", range))?;
            let [start, end, nodes @ ..] = parts else {
                return Err(bad("a range is too short", range));
            };
            let start = slot_number(start).ok_or_else(|| bad("slot", start))?;
            let end = slot_number(end).ok_or_else(|| bad("slot", end))?;
            let mut nodes = nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    node_from_slots(n, if i == 0 { Role::Primary } else { Role::Replica })
                })
                .collect::<Result<Vec<_>>>()?;
            if nodes.is_empty() {
                return Err(bad("a range without nodes", range));
            }
            let primary = nodes.remove(0);
            let same = |s: &&mut Shard| {
                s.primary
                    .as_ref()
                    .is_some_and(|p| p.addr(false) == primary.addr(false) && p.id == primary.id)
            };
            match shards.iter_mut().find(|s| same(s)) {
                Some(shard) => shard.slots.push((start, end)),
                None => shards.push(Shard {
                    slots: vec![(start, end)],
                    primary: Some(primary),
                    replicas: nodes,
                }),
            }
        }
        Ok(Topology { shards })
    }
}

fn node_from_shards(value: &Value) -> Result<Node> {
    let fields = entries(value).ok_or_else(|| bad("a node is not a map", value))?;
    let mut node = Node {
        id: String::new(),
        ip: None,
        endpoint: None,
        hostname: None,
        port: None,
        tls_port: None,
        role: Role::Replica,
        health: Health::Unknown,
        replication_offset: None,
        availability_zone: None,
    };
    let port = |v: &Value| {
        int(v)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p > 0)
    };
    for (k, v) in fields {
        match k.as_bytes().unwrap_or_default() {
            b"id" => node.id = text(v).unwrap_or_default(),
            b"ip" => node.ip = text(v),
            b"endpoint" => node.endpoint = text(v),
            b"hostname" => node.hostname = text(v).filter(|h| !h.is_empty()),
            b"port" => node.port = port(v),
            b"tls-port" => node.tls_port = port(v),
            b"role" => {
                node.role = if text(v).as_deref() == Some("master") {
                    Role::Primary
                } else {
                    Role::Replica
                }
            }
            b"health" => {
                node.health = match text(v).as_deref() {
                    Some("online") => Health::Online,
                    Some("fail" | "failed") => Health::Failed,
                    Some("loading") => Health::Loading,
                    _ => Health::Unknown,
                }
            }
            b"replication-offset" => node.replication_offset = int(v),
            b"availability-zone" => node.availability_zone = text(v).filter(|z| !z.is_empty()),
            _ => {}
        }
    }
    Ok(node)
}

fn node_from_slots(value: &Value, role: Role) -> Result<Node> {
    let parts = items(value).ok_or_else(|| bad("a node is not an array", value))?;
    let [host, port, rest @ ..] = parts else {
        return Err(bad("a node is too short", value));
    };
    let mut node = Node {
        id: rest.first().and_then(text).unwrap_or_default(),
        ip: None,
        endpoint: text(host),
        hostname: None,
        port: int(port).and_then(|p| u16::try_from(p).ok()),
        tls_port: None,
        role,
        health: Health::Unknown,
        replication_offset: None,
        availability_zone: None,
    };
    if let Some(meta) = rest.get(1).and_then(entries) {
        for (k, v) in meta {
            match k.as_bytes().unwrap_or_default() {
                b"ip" => node.ip = text(v),
                b"hostname" => node.hostname = text(v),
                _ => {}
            }
        }
    }
    Ok(node)
}

/// No shard serves the slot.
const UNSERVED: u16 = u16::MAX;

/// Which shard serves each slot, built from a [`Topology`] and patched by `MOVED`.
#[derive(Clone)]
pub struct SlotMap {
    shards: Vec<Shard>,
    owner: Box<[u16]>,
    version: u64,
}

/// The shards and the version; the 16384 owners are summed up as a count.
impl fmt::Debug for SlotMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotMap")
            .field("version", &self.version)
            .field("served_slots", &self.served_slots())
            .field("shards", &self.shards)
            .finish()
    }
}

impl SlotMap {
    /// The map of `topology`; `version` tells maps apart (the owner raises it on each change).
    pub fn new(topology: Topology, version: u64) -> SlotMap {
        let mut owner = vec![UNSERVED; usize::from(SLOT_COUNT)].into_boxed_slice();
        for (i, shard) in topology.shards.iter().enumerate() {
            for &(a, b) in &shard.slots {
                for s in a..=b.min(SLOT_COUNT - 1) {
                    owner[usize::from(s)] = i as u16;
                }
            }
        }
        SlotMap {
            shards: topology.shards,
            owner,
            version,
        }
    }

    /// The version given at construction, raised by each [`SlotMap::apply_moved`].
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The shards.
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The shard serving `slot`, if any.
    pub fn shard(&self, slot: u16) -> Option<&Shard> {
        let i = *self.owner.get(usize::from(slot))?;
        self.shards.get(usize::from(i))
    }

    /// The address of the primary serving `slot`.
    pub fn primary_addr(&self, slot: u16, tls: bool) -> Option<NodeAddr> {
        self.shard(slot)?.primary.as_ref()?.addr(tls)
    }

    /// How many slots have a shard with a primary.
    pub fn served_slots(&self) -> usize {
        self.owner
            .iter()
            .filter(|&&i| {
                self.shards
                    .get(usize::from(i))
                    .is_some_and(|s| s.primary.is_some())
            })
            .count()
    }

    /// Every primary's address, once each.
    pub fn primaries(&self, tls: bool) -> Vec<NodeAddr> {
        let mut out: Vec<NodeAddr> = self
            .shards
            .iter()
            .filter(|s| !s.slots.is_empty())
            .filter_map(|s| s.primary.as_ref()?.addr(tls))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Every node's address (primaries and replicas), once each.
    pub fn nodes(&self, tls: bool) -> Vec<NodeAddr> {
        let mut out: Vec<NodeAddr> = self
            .shards
            .iter()
            .flat_map(|s| s.primary.iter().chain(&s.replicas))
            .filter_map(|n| n.addr(tls))
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Applies `MOVED slot addr`: the slot now belongs to the shard whose primary is `addr`
    /// (a shard with only that primary is added when none is known). Raises the version.
    /// Returns whether `addr` was a primary in the topology the map was built from; when it was
    /// not, the caller should refresh the whole topology (a failover or a new node it has not
    /// seen). A primary known only from an earlier `MOVED` does not count: a refresh read from
    /// a node whose view lagged behind the failover would otherwise leave every slot of the
    /// shard to be learnt one `MOVED` at a time.
    pub fn apply_moved(&mut self, slot: u16, addr: &NodeAddr, tls: bool) -> bool {
        self.version += 1;
        let known = self.shards.iter().position(|s| {
            s.primary
                .as_ref()
                .and_then(|p| p.addr(tls))
                .is_some_and(|a| &a == addr)
        });
        // Shards added by a `MOVED` have a primary without an id.
        let confirmed = known.is_some_and(|i| {
            self.shards[i]
                .primary
                .as_ref()
                .is_some_and(|p| !p.id.is_empty())
        });
        let index = match known {
            Some(i) => i,
            None => {
                self.shards.push(Shard {
                    slots: Vec::new(),
                    primary: Some(Node {
                        id: String::new(),
                        ip: None,
                        endpoint: Some(addr.host.clone()),
                        hostname: None,
                        port: Some(addr.port),
                        tls_port: tls.then_some(addr.port),
                        role: Role::Primary,
                        health: Health::Unknown,
                        replication_offset: None,
                        availability_zone: None,
                    }),
                    replicas: Vec::new(),
                });
                self.shards.len() - 1
            }
        };
        if let Some(o) = self.owner.get_mut(usize::from(slot)) {
            *o = index as u16;
        }
        confirmed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn s(x: &str) -> Value {
        Value::BulkString(Bytes::copy_from_slice(x.as_bytes()))
    }

    fn node3(id: &str, port: i64, role: &str, health: &str, az: Option<&str>) -> Value {
        let mut m = vec![
            (s("id"), s(id)),
            (s("port"), Value::Int(port)),
            (s("ip"), s("127.0.0.1")),
            (s("endpoint"), s("127.0.0.1")),
            (s("hostname"), s("node-host")),
            (s("role"), s(role)),
            (s("replication-offset"), Value::Int(42)),
            (s("health"), s(health)),
        ];
        if let Some(az) = az {
            m.push((s("availability-zone"), s(az)));
        }
        Value::Map(m)
    }

    fn flat(v: Value) -> Value {
        match v {
            Value::Map(m) => Value::Array(m.into_iter().flat_map(|(k, v)| [k, v]).collect()),
            other => other,
        }
    }

    fn shards_reply(resp3: bool) -> Value {
        let shard = |ranges: &[i64], nodes: Vec<Value>| {
            let m = Value::Map(vec![
                (
                    s("slots"),
                    Value::Array(ranges.iter().map(|&r| Value::Int(r)).collect()),
                ),
                (
                    s("nodes"),
                    Value::Array(if resp3 {
                        nodes
                    } else {
                        nodes.into_iter().map(flat).collect()
                    }),
                ),
            ]);
            if resp3 {
                m
            } else {
                flat(m)
            }
        };
        Value::Array(vec![
            shard(
                &[0, 8000],
                vec![
                    node3("a", 7000, "master", "online", Some("az1")),
                    node3("b", 7001, "replica", "online", Some("az2")),
                ],
            ),
            shard(
                &[8001, 16000, 16001, 16383],
                vec![
                    node3("c", 7002, "master", "failed", None),
                    node3("d", 7003, "master", "online", None),
                ],
            ),
        ])
    }

    #[test]
    fn cluster_shards_reads_in_both_protocols() {
        for resp3 in [false, true] {
            let topo = Topology::from_shards(&shards_reply(resp3)).unwrap();
            assert_eq!(topo.shards.len(), 2);
            let first = &topo.shards[0];
            assert_eq!(first.slots, [(0, 8000)]);
            let p = first.primary.as_ref().unwrap();
            assert_eq!(p.id, "a");
            assert_eq!(p.health, Health::Online);
            assert_eq!(p.availability_zone.as_deref(), Some("az1"));
            assert_eq!(p.hostname.as_deref(), Some("node-host"));
            assert_eq!(p.replication_offset, Some(42));
            assert_eq!(p.addr(false), Some(NodeAddr::new("127.0.0.1", 7000)));
            assert_eq!(first.replicas[0].role, Role::Replica);
            assert_eq!(first.replicas[0].availability_zone.as_deref(), Some("az2"));
            // The failed old primary is passed over for the promoted one.
            assert_eq!(topo.shards[1].primary.as_ref().unwrap().id, "d");
            // A node that lists itself as a primary is sure of it.
            let seen_by_c = Topology::from_shards_seen_by(
                &shards_reply(resp3),
                Some(&NodeAddr::new("127.0.0.1", 7002)),
            )
            .unwrap();
            assert_eq!(seen_by_c.shards[1].primary.as_ref().unwrap().id, "c");
            assert_eq!(seen_by_c.shards[0].primary.as_ref().unwrap().id, "a");
            assert_eq!(topo.shards[1].slots, [(8001, 16000), (16001, 16383)]);
        }
    }

    #[test]
    fn cluster_slots_groups_ranges_by_primary() {
        let node = |port: i64, id: &str| {
            Value::Array(vec![
                s("127.0.0.1"),
                Value::Int(port),
                s(id),
                Value::Map(vec![(s("hostname"), s("h"))]),
            ])
        };
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(99),
                node(7000, "a"),
                node(7001, "b"),
            ]),
            Value::Array(vec![Value::Int(100), Value::Int(199), node(7002, "c")]),
            Value::Array(vec![
                Value::Int(200),
                Value::Int(300),
                node(7000, "a"),
                node(7001, "b"),
            ]),
        ]);
        let topo = Topology::from_slots(&reply).unwrap();
        assert_eq!(topo.shards.len(), 2);
        assert_eq!(topo.shards[0].slots, [(0, 99), (200, 300)]);
        assert_eq!(topo.shards[0].replicas[0].id, "b");
        assert_eq!(
            topo.shards[0].primary.as_ref().unwrap().hostname.as_deref(),
            Some("h")
        );
        let map = SlotMap::new(topo, 1);
        assert_eq!(map.primary_addr(250, false).unwrap().port, 7000);
        assert_eq!(map.primary_addr(100, false).unwrap().port, 7002);
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        for reply in [
            Value::Int(3),
            Value::Array(vec![Value::Int(1)]),
            Value::Array(vec![Value::Array(vec![
                s("slots"),
                Value::Array(vec![Value::Int(1)]),
            ])]),
            Value::Array(vec![Value::Array(vec![
                s("slots"),
                Value::Array(vec![Value::Int(0), Value::Int(99999)]),
            ])]),
        ] {
            let e = Topology::from_shards(&reply).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{reply:?}");
        }
        assert!(
            Topology::from_slots(&Value::Array(vec![Value::Array(vec![Value::Int(0)])])).is_err()
        );
    }

    #[test]
    fn slot_map_serves_and_follows_moved() {
        let topo = Topology::from_shards(&shards_reply(true)).unwrap();
        let mut map = SlotMap::new(topo, 7);
        assert_eq!(map.served_slots(), 16384);
        assert_eq!(map.primary_addr(0, false).unwrap().port, 7000);
        assert_eq!(map.primary_addr(16383, false).unwrap().port, 7003);
        assert_eq!(map.primaries(false).len(), 2);
        assert_eq!(map.nodes(false).len(), 3); // a, b, d (c is a failed primary, not listed)
                                               // MOVED to a known primary: just the slot changes.
        assert!(map.apply_moved(5, &NodeAddr::new("127.0.0.1", 7003), false));
        assert_eq!(map.primary_addr(5, false).unwrap().port, 7003);
        assert_eq!(map.primary_addr(6, false).unwrap().port, 7000);
        assert_eq!(map.version(), 8);
        // MOVED to a node never seen: served there now, and a refresh is advised.
        assert!(!map.apply_moved(6, &NodeAddr::new("10.0.0.9", 7100), false));
        assert_eq!(
            map.primary_addr(6, false),
            Some(NodeAddr::new("10.0.0.9", 7100))
        );
        assert_eq!(map.version(), 9);
        // Again to that node: still not in any topology read, so still a refresh.
        let shards = map.shards().len();
        assert!(!map.apply_moved(7, &NodeAddr::new("10.0.0.9", 7100), false));
        assert_eq!(
            map.primary_addr(7, false),
            Some(NodeAddr::new("10.0.0.9", 7100))
        );
        assert_eq!(map.shards().len(), shards, "one shard added, not two");
    }

    #[test]
    fn addresses_parse_and_print() {
        assert_eq!(
            NodeAddr::parse("127.0.0.1:6379"),
            Some(NodeAddr::new("127.0.0.1", 6379))
        );
        assert_eq!(
            NodeAddr::parse("::1:6379"),
            Some(NodeAddr::new("::1", 6379))
        );
        assert_eq!(NodeAddr::parse(":6380"), Some(NodeAddr::new("", 6380)));
        assert_eq!(NodeAddr::parse("nope"), None);
        assert_eq!(NodeAddr::new("::1", 1).to_string(), "[::1]:1");
        assert_eq!(NodeAddr::parse("[::1]:1"), Some(NodeAddr::new("::1", 1)));
    }
}
