//! Where a command goes in a cluster, decided before anything is sent: one slot, any node, every
//! primary or every node (the generated `request_policy` tips), or, for the `multi_shard`
//! commands (MGET, MSET, DEL, ...), split into one command per slot; and how the replies of a
//! fan-out or a split are put back together (the generated `response_policy` tips).

use super::topology::NodeAddr;
use crate::cmd::{CommandKeys, CommandMeta, FindKeys};
use crate::error::{Error, ErrorKind, Result};
use crate::routing::{self, slot};
use crate::value::Value;
use std::collections::HashMap;

/// A command's `request_policy` tip: where a command without a single slot goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestPolicy {
    /// To every node, primaries and replicas (`CONFIG SET`, `SCRIPT LOAD`).
    AllNodes,
    /// To every primary (`DBSIZE`, `FLUSHALL`, `KEYS`).
    AllShards,
    /// Split by slot, each part to its primary (`MGET`, `MSET`, `DEL`).
    MultiShard,
    /// The client needs a rule of its own (`SCAN`).
    Special,
}

impl RequestPolicy {
    /// The policy the command's spec gives, if any.
    pub fn of(meta: &CommandMeta) -> Option<RequestPolicy> {
        Some(match meta.request_policy()? {
            "all_nodes" => RequestPolicy::AllNodes,
            "all_shards" => RequestPolicy::AllShards,
            "multi_shard" => RequestPolicy::MultiShard,
            _ => RequestPolicy::Special,
        })
    }
}

/// A command's `response_policy` tip: how the replies of several nodes make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResponsePolicy {
    /// The first success; an error only when every node failed (`SCRIPT KILL`).
    OneSucceeded,
    /// Every node must succeed; then their (equal) reply (`CONFIG SET`).
    AllSucceeded,
    /// Logical AND of integer replies, element-wise for arrays (`SCRIPT EXISTS`).
    AggLogicalAnd,
    /// Logical OR of integer replies, element-wise for arrays.
    AggLogicalOr,
    /// The smallest integer reply (`WAIT`).
    AggMin,
    /// The largest integer reply.
    AggMax,
    /// The sum of the integer replies (`DBSIZE`, `DEL`).
    AggSum,
    /// No general rule (`INFO`): each node's reply, by node.
    Special,
}

impl ResponsePolicy {
    /// The policy the command's spec gives, if any.
    pub fn of(meta: &CommandMeta) -> Option<ResponsePolicy> {
        Some(match meta.response_policy()? {
            "one_succeeded" => ResponsePolicy::OneSucceeded,
            "all_succeeded" => ResponsePolicy::AllSucceeded,
            "agg_logical_and" => ResponsePolicy::AggLogicalAnd,
            "agg_logical_or" => ResponsePolicy::AggLogicalOr,
            "agg_min" => ResponsePolicy::AggMin,
            "agg_max" => ResponsePolicy::AggMax,
            "agg_sum" => ResponsePolicy::AggSum,
            _ => ResponsePolicy::Special,
        })
    }
}

/// Where one command goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// To the primary of this slot.
    Slot(u16),
    /// To any node (a keyless command without a request policy: `ECHO`, `CLUSTER SHARDS`).
    AnyNode,
    /// To every primary; the replies are combined by the response policy.
    AllPrimaries,
    /// To every node; the replies are combined by the response policy.
    AllNodes,
    /// A `multi_shard` command whose keys span slots, split into one command per slot.
    Split(Split),
}

/// A `multi_shard` command split by slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// One command per slot, in the order their first key appears.
    pub parts: Vec<Part>,
    /// How many key groups the whole command has (its reply's length, for MGET).
    pub keys: usize,
}

/// One slot's share of a split command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The slot all its keys hash to.
    pub slot: u16,
    /// The command: the original's name (and arguments before the keys), then its key groups.
    pub args: Vec<Vec<u8>>,
    /// For each of its key groups, the group's index in the original command.
    pub key_indices: Vec<usize>,
}

/// Where a command value goes: by the keys its builder names (or, for raw commands and
/// builders whose keys sit inside groups, by its encoded arguments), then by its request
/// policy. Keys in several slots are refused (`InvalidInput`, nothing sent) unless the
/// command is `multi_shard` and its keys form a simple run (`key [key ...]`,
/// `key value [key value ...]`), which is split by slot. Commands that change their
/// connection's session (`SELECT`, `MULTI`, `WATCH`, `SUBSCRIBE`, `WAIT`, ...) are refused as on
/// any shared connection: on a cluster they would reach one node's connection only.
pub fn route<C: CommandKeys + ?Sized>(cmd: &C) -> Result<Route> {
    let meta = cmd.meta().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            "the command is not known to this client, so its keys are not either: a cluster \
             cannot route it (send it to a chosen node instead); nothing was sent",
        )
    })?;
    crate::proto::session::refuse_shared(meta)?;
    let keys = routing::command_keys(cmd)?;
    let mut slots = keys.iter().map(|k| slot(k));
    if let Some(first) = slots.next() {
        if slots.all(|s| s == first) {
            return Ok(Route::Slot(first));
        }
        if RequestPolicy::of(meta) == Some(RequestPolicy::MultiShard) {
            let args = crate::cmd::args(cmd);
            let positions = routing::key_positions_for(meta, &args)?;
            if let Some(split) = split(meta, &args, &positions) {
                return Ok(Route::Split(split));
            }
        }
        return Err(cross_slot(meta, &keys));
    }
    if meta.key_specs.iter().any(|s| s.flags.contains(&"NOT_KEY")) {
        // Routed by an argument that is not a key (a shard channel, a CLUSTERSCAN cursor).
        let args = crate::cmd::args(cmd);
        let positions = routing::routing_positions_for(meta, &args)?;
        if let routing::SlotRoute::Slot(s) = routing::slot_route(&args, &positions) {
            return Ok(Route::Slot(s));
        }
    }
    keyless(meta)
}

/// [`route`] for a raw argument vector (`args[0]` is the command name).
pub fn route_args<A: AsRef<[u8]>>(args: &[A]) -> Result<Route> {
    let meta = routing::command_meta(args).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            "unknown command: a cluster cannot route it; nothing was sent",
        )
    })?;
    crate::proto::session::refuse_shared(meta)?;
    let positions = routing::routing_positions_for(meta, args)?;
    match routing::slot_route(args, &positions) {
        routing::SlotRoute::Slot(s) => Ok(Route::Slot(s)),
        routing::SlotRoute::Keyless => keyless(meta),
        routing::SlotRoute::CrossSlot { .. } => {
            let owned: Vec<Vec<u8>> = args.iter().map(|a| a.as_ref().to_vec()).collect();
            if RequestPolicy::of(meta) == Some(RequestPolicy::MultiShard) {
                if let Some(split) = split(meta, &owned, &positions) {
                    return Ok(Route::Split(split));
                }
            }
            let keys: Vec<Vec<u8>> = positions.iter().map(|&p| owned[p].clone()).collect();
            Err(cross_slot(meta, &keys))
        }
    }
}

fn keyless(meta: &CommandMeta) -> Result<Route> {
    match RequestPolicy::of(meta) {
        Some(RequestPolicy::AllShards) => Ok(Route::AllPrimaries),
        Some(RequestPolicy::AllNodes) => Ok(Route::AllNodes),
        Some(RequestPolicy::Special) => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{} needs a cluster rule of its own (request_policy:special) that this client \
                 does not have yet: send it to a chosen node; nothing was sent",
                meta.name
            ),
        )),
        Some(RequestPolicy::MultiShard) | None => Ok(Route::AnyNode),
    }
}

fn cross_slot(meta: &CommandMeta, keys: &[Vec<u8>]) -> Error {
    let first = &keys[0];
    let other = keys
        .iter()
        .find(|k| slot(k) != slot(first))
        .unwrap_or(first);
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "the keys of {} hash to different slots ('{}' to {}, '{}' to {}): a cluster runs it \
             only when they share one (use a hash tag: {{user1}}.a, {{user1}}.b); nothing was sent",
            meta.name,
            String::from_utf8_lossy(first),
            slot(first),
            String::from_utf8_lossy(other),
            slot(other)
        ),
    )
}

/// Splits a `multi_shard` command whose keys are one run of groups reaching the last argument
/// (`DEL k1 k2`, `MSET k1 v1 k2 v2`). `None` for any other shape (`MSETEX`'s counted keys are
/// all-or-nothing: they are not split).
fn split<A: AsRef<[u8]>>(meta: &CommandMeta, args: &[A], positions: &[usize]) -> Option<Split> {
    let [spec] = meta.key_specs else { return None };
    let FindKeys::Range { step, .. } = spec.find_keys else {
        return None;
    };
    let step = usize::try_from(step).ok().filter(|&s| s > 0)?;
    let first = *positions.first()?;
    let whole = positions
        .iter()
        .enumerate()
        .all(|(i, &p)| p == first + i * step)
        && first + positions.len() * step == args.len();
    if !whole {
        return None;
    }
    let mut parts: Vec<Part> = Vec::new();
    let mut by_slot: HashMap<u16, usize> = HashMap::new();
    for (i, &p) in positions.iter().enumerate() {
        let s = slot(args[p].as_ref());
        let at = *by_slot.entry(s).or_insert_with(|| {
            parts.push(Part {
                slot: s,
                args: args[..first].iter().map(|a| a.as_ref().to_vec()).collect(),
                key_indices: Vec::new(),
            });
            parts.len() - 1
        });
        let part = &mut parts[at];
        part.args
            .extend(args[p..p + step].iter().map(|a| a.as_ref().to_vec()));
        part.key_indices.push(i);
    }
    Some(Split {
        parts,
        keys: positions.len(),
    })
}

/// Puts the replies of a split command's parts (in [`Split::parts`] order) back together: by
/// the response policy when there is one (`DEL`'s `agg_sum`), else arrays back in the caller's
/// key order (`MGET`), else the parts' common reply (`MSET`'s `OK`). The first failed part's
/// error wins (the other parts ran).
pub fn merge_split(
    split: &Split,
    policy: Option<ResponsePolicy>,
    replies: Vec<Result<Value>>,
) -> Result<Value> {
    let replies = replies.into_iter().collect::<Result<Vec<Value>>>()?;
    if let Some(p) = policy {
        return combine(
            Some(p),
            replies.into_iter().map(|v| (None, Ok(v))).collect(),
        );
    }
    let arrays = replies
        .iter()
        .zip(&split.parts)
        .all(|(r, part)| matches!(r, Value::Array(a) if a.len() == part.key_indices.len()));
    if arrays {
        let mut out = vec![Value::Nil; split.keys];
        for (reply, part) in replies.into_iter().zip(&split.parts) {
            let Value::Array(items) = reply else {
                unreachable!()
            };
            for (v, &i) in items.into_iter().zip(&part.key_indices) {
                out[i] = v;
            }
        }
        return Ok(Value::Array(out));
    }
    combine(
        Some(ResponsePolicy::AllSucceeded),
        replies.into_iter().map(|v| (None, Ok(v))).collect(),
    )
}

/// Combines the replies of a fan-out (each with the node that gave it, when known) by the
/// command's response policy. Without a policy: the first error if any; else arrays are
/// concatenated (`KEYS`), equal replies give that reply (`PING`'s `PONG` from every primary),
/// and different replies give a map from node (`host:port`) to its reply. `special` always
/// gives that map.
pub fn combine(
    policy: Option<ResponsePolicy>,
    replies: Vec<(Option<NodeAddr>, Result<Value>)>,
) -> Result<Value> {
    if policy == Some(ResponsePolicy::OneSucceeded) {
        let mut last = None;
        for (_, r) in replies {
            match r {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        return Err(last.unwrap_or_else(no_replies));
    }
    let mut values = Vec::with_capacity(replies.len());
    for (node, r) in replies {
        values.push((node, r?));
    }
    let ints = |values: &[(Option<NodeAddr>, Value)]| -> Result<Vec<i64>> {
        values
            .iter()
            .map(|(_, v)| match v {
                Value::Int(n) => Ok(*n),
                other => Err(Error::conversion(format!(
                    "a fan-out aggregate needs integer replies, got {}",
                    other.kind_name()
                ))),
            })
            .collect()
    };
    match policy {
        Some(ResponsePolicy::AggSum) => Ok(Value::Int(ints(&values)?.iter().sum())),
        Some(ResponsePolicy::AggMin) => Ok(Value::Int(
            ints(&values)?.into_iter().min().ok_or_else(no_replies)?,
        )),
        Some(ResponsePolicy::AggMax) => Ok(Value::Int(
            ints(&values)?.into_iter().max().ok_or_else(no_replies)?,
        )),
        Some(p @ (ResponsePolicy::AggLogicalAnd | ResponsePolicy::AggLogicalOr)) => {
            let and = p == ResponsePolicy::AggLogicalAnd;
            logical(values.into_iter().map(|(_, v)| v).collect(), and)
        }
        Some(ResponsePolicy::AllSucceeded) => values
            .into_iter()
            .next()
            .map(|(_, v)| v)
            .ok_or_else(no_replies),
        Some(ResponsePolicy::Special) => Ok(by_node(values)),
        Some(ResponsePolicy::OneSucceeded) => unreachable!(),
        None => {
            if !values.is_empty() && values.iter().all(|(_, v)| matches!(v, Value::Array(_))) {
                let mut out = Vec::new();
                for (_, v) in values {
                    if let Value::Array(items) = v {
                        out.extend(items);
                    }
                }
                return Ok(Value::Array(out));
            }
            let first = &values.first().ok_or_else(no_replies)?.1;
            if values.iter().all(|(_, v)| v == first) {
                return Ok(values.swap_remove(0).1);
            }
            Ok(by_node(values))
        }
    }
}

fn by_node(values: Vec<(Option<NodeAddr>, Value)>) -> Value {
    Value::Map(
        values
            .into_iter()
            .map(|(node, v)| {
                let name = node.map(|n| n.to_string()).unwrap_or_default();
                (Value::BulkString(name.into()), v)
            })
            .collect(),
    )
}

fn logical(values: Vec<Value>, and: bool) -> Result<Value> {
    let truth = |v: &Value| match v {
        Value::Int(n) => Ok(*n != 0),
        Value::Boolean(b) => Ok(*b),
        other => Err(Error::conversion(format!(
            "a logical aggregate needs integer replies, got {}",
            other.kind_name()
        ))),
    };
    let fold =
        |acc: Option<bool>, x: bool| Some(acc.map_or(x, |a| if and { a && x } else { a || x }));
    match values.first() {
        Some(Value::Array(first)) => {
            let n = first.len();
            let mut acc: Vec<Option<bool>> = vec![None; n];
            for v in &values {
                let Value::Array(items) = v else {
                    return Err(Error::conversion("mixed arrays and scalars in a fan-out"));
                };
                if items.len() != n {
                    return Err(Error::conversion("fan-out arrays of different lengths"));
                }
                for (a, item) in acc.iter_mut().zip(items) {
                    *a = fold(*a, truth(item)?);
                }
            }
            Ok(Value::Array(
                acc.into_iter()
                    .map(|a| Value::Int(i64::from(a.unwrap_or(false))))
                    .collect(),
            ))
        }
        Some(_) => {
            let mut acc = None;
            for v in &values {
                acc = fold(acc, truth(v)?);
            }
            Ok(Value::Int(i64::from(acc.unwrap_or(false))))
        }
        None => Err(no_replies()),
    }
}

fn no_replies() -> Error {
    Error::new(ErrorKind::NotSent, "no node to send the command to")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{self, Cmd};
    use crate::value::ServerError;

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    fn v(s: &str) -> Value {
        Value::BulkString(bytes::Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn policies_come_from_the_generated_tips() {
        let meta = |c: &dyn Fn() -> Option<&'static CommandMeta>| c().unwrap();
        use crate::Command;
        let dbsize = meta(&|| cmd::dbsize().meta());
        assert_eq!(RequestPolicy::of(dbsize), Some(RequestPolicy::AllShards));
        assert_eq!(ResponsePolicy::of(dbsize), Some(ResponsePolicy::AggSum));
        let mget = crate::cmd::lookup(b"MGET", None).unwrap();
        assert_eq!(RequestPolicy::of(mget), Some(RequestPolicy::MultiShard));
        assert_eq!(ResponsePolicy::of(mget), None);
        let exists = crate::cmd::lookup(b"SCRIPT", Some(b"EXISTS")).unwrap();
        assert_eq!(
            ResponsePolicy::of(exists),
            Some(ResponsePolicy::AggLogicalAnd)
        );
        let wait = crate::cmd::lookup(b"WAIT", None).unwrap();
        assert_eq!(ResponsePolicy::of(wait), Some(ResponsePolicy::AggMin));
        let kill = crate::cmd::lookup(b"SCRIPT", Some(b"KILL")).unwrap();
        assert_eq!(ResponsePolicy::of(kill), Some(ResponsePolicy::OneSucceeded));
        let config = crate::cmd::lookup(b"CONFIG", Some(b"SET")).unwrap();
        assert_eq!(RequestPolicy::of(config), Some(RequestPolicy::AllNodes));
        assert_eq!(
            ResponsePolicy::of(config),
            Some(ResponsePolicy::AllSucceeded)
        );
        let scan = crate::cmd::lookup(b"SCAN", None).unwrap();
        assert_eq!(RequestPolicy::of(scan), Some(RequestPolicy::Special));
        let get = crate::cmd::lookup(b"GET", None).unwrap();
        assert_eq!(RequestPolicy::of(get), None);
    }

    #[test]
    fn typed_commands_route_by_their_keys() {
        assert_eq!(
            route(&cmd::get::<_, String>("foo")).unwrap(),
            Route::Slot(12182)
        );
        assert_eq!(
            route(&cmd::mget::<_, Value>(["{u}a", "{u}b"])).unwrap(),
            Route::Slot(slot(b"u"))
        );
        // MSET's keys sit inside pairs: found from the encoding.
        assert_eq!(
            route(&cmd::mset([("{u}a", 1), ("{u}b", 2)])).unwrap(),
            Route::Slot(slot(b"u"))
        );
        assert_eq!(route(&cmd::dbsize()).unwrap(), Route::AllPrimaries);
        assert_eq!(route(&cmd::ping()).unwrap(), Route::AllPrimaries);
        assert_eq!(
            route(&cmd::config_set([("maxmemory", "0")])).unwrap(),
            Route::AllNodes
        );
        assert_eq!(
            route(&cmd::cluster_shards::<Value>()).unwrap(),
            Route::AnyNode
        );
        assert_eq!(
            route(&Cmd::new("GET").arg("foo")).unwrap(),
            Route::Slot(12182)
        );
        assert_eq!(route_args(&["get", "foo"]).unwrap(), Route::Slot(12182));
        assert_eq!(route_args(&["ECHO", "x"]).unwrap(), Route::AnyNode);
        // Not keys, but routed as keys: a shard channel, a CLUSTERSCAN cursor's hash tag.
        assert_eq!(
            route(&Cmd::new("SPUBLISH").arg("chan").arg("m")).unwrap(),
            Route::Slot(slot(b"chan"))
        );
        assert_eq!(
            route_args(&["SPUBLISH", "chan", "m"]).unwrap(),
            Route::Slot(slot(b"chan"))
        );
        assert_eq!(
            route(&Cmd::new("CLUSTERSCAN").arg("0-{06S}-0")).unwrap(),
            Route::Slot(slot(b"06S"))
        );
    }

    #[test]
    fn cross_slot_is_refused_before_sending() {
        let e = route(&cmd::rename("a", "b")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("RENAME"), "{e}");
        assert!(e.to_string().contains("different slots"), "{e}");
        let e = route_args(&["RENAME", "a", "b"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // MSETEX is multi_shard, but its counted keys are all-or-nothing: not split.
        let e = route(&Cmd::new("MSETEX").arg(2).arg(["a", "1", "b", "2"])).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let e = route(&cmd::scan::<Value>(0)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let e = route(&Cmd::new("NOSUCHCOMMAND").arg("k")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // Session commands would reach one node's connection only.
        let e = route(&cmd::select(1)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(route_args(&["MULTI"]).is_err());
    }

    #[test]
    fn multi_shard_commands_split_by_slot_and_merge_in_order() {
        let keys = ["a", "b", "{a}x", "c"];
        let Route::Split(split) = route(&cmd::mget::<_, Value>(keys)).unwrap() else {
            panic!("MGET over slots must split")
        };
        assert_eq!(split.keys, 4);
        let total: usize = split.parts.iter().map(|p| p.key_indices.len()).sum();
        assert_eq!(total, 4);
        for part in &split.parts {
            assert_eq!(part.args[0], b("MGET"));
            assert_eq!(part.args.len(), 1 + part.key_indices.len());
            for (arg, &i) in part.args[1..].iter().zip(&part.key_indices) {
                assert_eq!(arg, &b(keys[i]));
                assert_eq!(slot(arg), part.slot);
            }
        }
        // "a" and "{a}x" share a slot: one part with both, in order.
        let first = &split.parts[0];
        assert_eq!(first.key_indices, [0, 2]);

        // Each part answers for its keys; the merge puts them back in the caller's order.
        let replies = split
            .parts
            .iter()
            .map(|p| {
                Ok(Value::Array(
                    p.key_indices.iter().map(|&i| v(keys[i])).collect(),
                ))
            })
            .collect();
        let merged = merge_split(&split, None, replies).unwrap();
        assert_eq!(merged, Value::Array(keys.iter().map(|k| v(k)).collect()));

        // MSET: pairs move together; OK from every part is OK.
        let Route::Split(mset) = route(&cmd::mset([("a", "1"), ("b", "2")])).unwrap() else {
            panic!("MSET over slots must split")
        };
        assert_eq!(mset.parts.len(), 2);
        assert_eq!(mset.parts[0].args, [b("MSET"), b("a"), b("1")]);
        assert_eq!(mset.parts[1].args, [b("MSET"), b("b"), b("2")]);
        let ok = || Ok(Value::SimpleString("OK".into()));
        assert_eq!(
            merge_split(&mset, None, vec![ok(), ok()]).unwrap(),
            Value::SimpleString("OK".into())
        );

        // DEL: agg_sum.
        let Route::Split(del) = route(&cmd::del(["a", "b", "c"])).unwrap() else {
            panic!("DEL over slots must split")
        };
        let policy = ResponsePolicy::of(crate::cmd::lookup(b"DEL", None).unwrap());
        let replies = del.parts.iter().map(|_| Ok(Value::Int(1))).collect();
        assert_eq!(merge_split(&del, policy, replies).unwrap(), Value::Int(3));
        // A failed part fails the whole.
        let mut replies: Vec<Result<Value>> = del.parts.iter().map(|_| Ok(Value::Int(1))).collect();
        replies[1] = Err(Error::from_server(ServerError::new("ERR boom")));
        assert!(merge_split(&del, policy, replies).is_err());
    }

    #[test]
    fn fan_out_replies_combine_by_policy() {
        let n = |i: u16| Some(NodeAddr::new("h", i));
        let ints = |xs: &[i64]| {
            xs.iter()
                .enumerate()
                .map(|(i, &x)| (n(i as u16), Ok(Value::Int(x))))
                .collect::<Vec<_>>()
        };
        use ResponsePolicy::*;
        assert_eq!(
            combine(Some(AggSum), ints(&[1, 2, 3])).unwrap(),
            Value::Int(6)
        );
        assert_eq!(
            combine(Some(AggMin), ints(&[4, 2, 3])).unwrap(),
            Value::Int(2)
        );
        assert_eq!(
            combine(Some(AggMax), ints(&[4, 2, 3])).unwrap(),
            Value::Int(4)
        );
        assert_eq!(
            combine(Some(AggLogicalAnd), ints(&[1, 0, 1])).unwrap(),
            Value::Int(0)
        );
        assert_eq!(
            combine(Some(AggLogicalOr), ints(&[0, 0, 1])).unwrap(),
            Value::Int(1)
        );
        let arrays = || {
            vec![
                (n(1), Ok(Value::Array(vec![Value::Int(1), Value::Int(1)]))),
                (n(2), Ok(Value::Array(vec![Value::Int(1), Value::Int(0)]))),
            ]
        };
        assert_eq!(
            combine(Some(AggLogicalAnd), arrays()).unwrap(),
            Value::Array(vec![Value::Int(1), Value::Int(0)])
        );
        assert_eq!(
            combine(Some(AggLogicalOr), arrays()).unwrap(),
            Value::Array(vec![Value::Int(1), Value::Int(1)])
        );
        let err = || Err(Error::from_server(ServerError::new("NOTBUSY no script")));
        let ok = || Ok(Value::SimpleString("OK".into()));
        assert!(combine(Some(AllSucceeded), vec![(n(1), ok()), (n(2), err())]).is_err());
        assert_eq!(
            combine(Some(OneSucceeded), vec![(n(1), err()), (n(2), ok())]).unwrap(),
            Value::SimpleString("OK".into())
        );
        assert!(combine(Some(OneSucceeded), vec![(n(1), err()), (n(2), err())]).is_err());
        assert!(combine(Some(AggSum), vec![(n(1), ok())]).is_err());
        // No policy: arrays concatenate, equal replies are one, others are by node.
        assert_eq!(
            combine(
                None,
                vec![
                    (n(1), Ok(Value::Array(vec![v("a")]))),
                    (n(2), Ok(Value::Array(vec![v("b")])))
                ]
            )
            .unwrap(),
            Value::Array(vec![v("a"), v("b")])
        );
        assert_eq!(
            combine(None, vec![(n(1), ok()), (n(2), ok())]).unwrap(),
            ok().unwrap()
        );
        assert_eq!(
            combine(Some(Special), vec![(n(1), Ok(v("x")))]).unwrap(),
            Value::Map(vec![(v("h:1"), v("x"))])
        );
    }
}
