//! Cluster faults under replicated list writes: 64 blocking writers (a thread and a
//! `ClusterConnection` each) and 64 async writers (tasks sharing one `ClusterConnection`) RPUSH
//! unique elements, each counted as acknowledged once `WAIT 1` says a replica has it, to lists on
//! all three shards, through one fault per test: kill -9 or SIGSTOP of a primary, `CLUSTER
//! FAILOVER` (graceful, FORCE, TAKEOVER), resharding 1,024 slots with their keys, and a new
//! primary taking 1,024 slots by atomic slot migration. Every list is read back and checked
//! against what the writers were told ([`LedgerReport`]).

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::{Duration, Instant};
use valkey::cluster::NodeAddr;
use valkey::pipeline::Durability;
use valkey::routing::slot;
use valkey::{cmd, ClusterClient};
use valkey_tests::{
    Cluster, ClusterOptions, FailoverMode, FaultWindow, LedgerReport, Role, Workload, WriteOutcome,
    WriterLog,
};

/// `cluster-node-timeout`: short, so a failover takes a second or two.
const NODE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Writers per client kind (blocking and async each).
const WRITERS: usize = 64;
/// `WAIT 1 <timeout>`: how long a write waits for a replica's acknowledgement.
const WAIT: Durability = Durability::Replicas {
    count: 1,
    timeout: Duration::from_millis(250),
};
/// The client's liveness deadline (`response_timeout`): a frozen primary's writes end as
/// `Unclear` after it, so the writers go on to the promoted replica.
const URL_OPTIONS: &str = "?response_timeout=1";
/// Slots moved by the resharding tests, all on primary 0 at start (1,024 of its 5,461).
const MOVED_SLOTS: RangeInclusive<u16> = 0..=1023;
/// Keys stored in [`MOVED_SLOTS`] before a resharding, besides the writers' lists.
const FILL_KEYS: usize = 2000;

fn cluster() -> Cluster {
    ClusterOptions::valkey()
        .node_timeout(NODE_TIMEOUT)
        .start()
        .unwrap()
}

/// The shard (initial primary) serving `slot`.
fn shard_of(cluster: &Cluster, s: u16) -> usize {
    (0..3)
        .find(|&p| {
            let (lo, hi) = cluster.initial_slots(p);
            (lo..=hi).contains(&s)
        })
        .unwrap()
}

/// One list per writer: writer `i` writes to shard `i % 3`, shard 0's lists in
/// [`MOVED_SLOTS`] (they are the affected ones in every test).
fn writer_keys(cluster: &Cluster, prefix: &str) -> Vec<(String, usize)> {
    (0..WRITERS)
        .map(|i| {
            let shard = i % 3;
            (0..)
                .map(|n| format!("{prefix}:{i}:{n}"))
                .find(|k| {
                    let s = slot(k.as_bytes());
                    shard_of(cluster, s) == shard && (shard != 0 || MOVED_SLOTS.contains(&s))
                })
                .map(|k| (k, shard))
                .unwrap()
        })
        .collect()
}

fn outcome<T>(r: valkey::Result<(T, valkey::pipeline::Acks)>) -> WriteOutcome {
    match r {
        Ok((_, acks)) if acks.replicas >= 1 => WriteOutcome::Replicated,
        Ok(_) => WriteOutcome::Unreplicated,
        Err(e) if e.is_unclear() => WriteOutcome::Unclear,
        Err(e) if e.is_retry_safe() => WriteOutcome::NotApplied(
            e.code()
                .map_or_else(|| format!("{:?}", e.kind()), str::to_owned),
        ),
        Err(e) => WriteOutcome::Failed(e.to_string()),
    }
}

/// What a fault does to the shards: which take part (besides shard 0, always affected).
struct Fault {
    name: &'static str,
    /// Shards whose writers are neither affected nor healthy (a resharding's target).
    involved: &'static [usize],
}

/// Runs the writers of both kinds through `inject` (which marks the fault's start on the
/// workload once the fault is in effect, and returns the node serving [`MOVED_SLOTS`]
/// afterwards), reads every list back and checks it; prints the figures.
fn writes_through(
    cluster: &mut Cluster,
    fault: Fault,
    inject: impl FnOnce(&mut Cluster, &Workload) -> usize,
) {
    let role = |shard: usize| match shard {
        0 => Role::Affected,
        s if fault.involved.contains(&s) => Role::Involved,
        _ => Role::Healthy,
    };
    let blocking_keys = writer_keys(cluster, "b");
    let async_keys = writer_keys(cluster, "a");
    let urls = cluster.urls().into_iter().map(|u| u + URL_OPTIONS);
    let client = ClusterClient::open(urls).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let shared = rt.block_on(client.get_async_connection()).unwrap();
    let workload = Arc::new(Workload::new());

    let tasks: Vec<_> = async_keys
        .iter()
        .enumerate()
        .map(|(i, (key, shard))| {
            let (con, workload) = (shared.clone(), workload.clone());
            let mut log = WriterLog::new(key.clone(), role(*shard));
            rt.spawn(async move {
                let mut n = 0u64;
                while workload.running() {
                    let element = format!("a{i}:{n}");
                    n += 1;
                    let started = Instant::now();
                    let rpush = cmd::rpush(log.key.as_str(), [element.as_str()]);
                    let r = con.pipe_durable((rpush,), WAIT).await;
                    workload.record(&mut log, element, started, outcome(r));
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                log
            })
        })
        .collect();
    let threads: Vec<_> = blocking_keys
        .iter()
        .enumerate()
        .map(|(i, (key, shard))| {
            let mut con = client.get_connection().unwrap();
            let workload = workload.clone();
            let mut log = WriterLog::new(key.clone(), role(*shard));
            std::thread::spawn(move || {
                let mut n = 0u64;
                while workload.running() {
                    let element = format!("b{i}:{n}");
                    n += 1;
                    let started = Instant::now();
                    let rpush = cmd::rpush(log.key.as_str(), [element.as_str()]);
                    let r = con.pipe_durable((rpush,), WAIT);
                    workload.record(&mut log, element, started, outcome(r));
                    std::thread::sleep(Duration::from_millis(2));
                }
                log
            })
        })
        .collect();

    // Warm up, measure the healthy shards for a second, then the fault.
    std::thread::sleep(Duration::from_millis(500));
    let measured_from = Instant::now();
    std::thread::sleep(Duration::from_millis(1000));
    let owner = inject(cluster, &workload);
    let at = workload.fault_at().expect("the fault marks its start");
    let healed = Instant::now();
    let affected = 2 * (0..WRITERS).filter(|i| i % 3 == 0).count();
    while workload.recovered() < affected && healed.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // A while longer: the first write that ran may have been one the demoted primary took
    // (and drops); the ledger counts recovery from the first one kept.
    std::thread::sleep(Duration::from_millis(500));
    workload.stop();
    let async_logs: Vec<WriterLog> = tasks.into_iter().map(|t| rt.block_on(t).unwrap()).collect();
    let blocking_logs: Vec<WriterLog> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    // Every list, as the server has it now.
    let mut reader = client.get_connection().unwrap();
    let mut stored = HashMap::new();
    for (key, _) in blocking_keys.iter().chain(&async_keys) {
        let items: Vec<Vec<u8>> = reader.send(cmd::lrange(key.as_str(), 0, -1)).unwrap();
        stored.insert(key.clone(), items);
    }
    let window = FaultWindow {
        at,
        healed,
        measured_from,
    };
    let target = NODE_TIMEOUT + Duration::from_secs(2);
    let mut problems = Vec::new();
    for (kind, logs) in [("blocking", &blocking_logs), ("async", &async_logs)] {
        let lists: HashMap<String, Vec<Vec<u8>>> = logs
            .iter()
            .map(|l| (l.key.clone(), stored[&l.key].clone()))
            .collect();
        let report = LedgerReport::check(logs, &lists, window);
        let p99 = report.recovery_percentile(99.0);
        println!(
            "{} ({kind}, {WRITERS} writers, node timeout {} ms, fault over after {} ms): {report}; \
             p99 recovery within node timeout + 2 s: {}, healthy throughput >= 80%: {}",
            fault.name,
            NODE_TIMEOUT.as_millis(),
            (healed - at).as_millis(),
            if p99.is_some_and(|p| p <= target) { "yes" } else { "NO" },
            if report.healthy_ratio() >= 0.8 { "yes" } else { "NO" },
        );
        problems.extend(
            report
                .problems()
                .into_iter()
                .map(|p| format!("{kind}: {p}")),
        );
        assert!(report.replicated > 0, "{kind}: no write was replicated");
    }
    assert!(problems.is_empty(), "{}: {problems:#?}", fault.name);
    // The shared connection follows the slots to their new owner.
    let owner_addr = NodeAddr::new("127.0.0.1", cluster.nodes()[owner].port());
    assert_eq!(
        shared.slot_map().primary_addr(*MOVED_SLOTS.start(), false),
        Some(owner_addr)
    );
}

/// How many times `node` ran `command` (`INFO commandstats`).
fn calls(node: &valkey_tests::Server, command: &str) -> u64 {
    let stats = node
        .command(&["INFO", "commandstats"])
        .unwrap()
        .as_text()
        .unwrap();
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Stores [`FILL_KEYS`] keys in [`MOVED_SLOTS`] on primary 0, so that the slots that move
/// hold keys.
fn fill_moved_slots(cluster: &Cluster) {
    let sets: Vec<Vec<String>> = (0..)
        .map(|i| format!("fill:{i}"))
        .filter(|k| MOVED_SLOTS.contains(&slot(k.as_bytes())))
        .take(FILL_KEYS)
        .map(|k| vec!["SET".to_owned(), k, "v".to_owned()])
        .collect();
    let mut raw = cluster.nodes()[0].raw().unwrap();
    for chunk in sets.chunks(500) {
        let replies = raw.pipeline(chunk).unwrap();
        assert!(replies.iter().all(|r| !r.is_error()), "{replies:?}");
    }
}

#[test]
fn kill_of_a_primary() {
    let mut cluster = cluster();
    let fault = Fault {
        name: "kill -9 of a primary",
        involved: &[],
    };
    writes_through(&mut cluster, fault, |c, w| {
        c.kill_node(0);
        w.fault_begins();
        c.wait_for_new_primary(*MOVED_SLOTS.start(), 0).unwrap()
    });
}

#[test]
fn sigstop_of_a_primary_beyond_the_node_timeout() {
    let mut cluster = cluster();
    let fault = Fault {
        name: "SIGSTOP of a primary until its replica took over",
        involved: &[],
    };
    writes_through(&mut cluster, fault, |c, w| {
        c.pause_node(0).unwrap();
        w.fault_begins();
        let new = c.wait_for_new_primary(*MOVED_SLOTS.start(), 0).unwrap();
        // Back as a replica of the new primary.
        c.resume_node(0).unwrap();
        new
    });
}

fn failover(mode: FailoverMode, name: &'static str) {
    let mut cluster = cluster();
    let fault = Fault {
        name,
        involved: &[],
    };
    // Node 3 replicates primary 0.
    writes_through(&mut cluster, fault, |c, w| {
        w.fault_begins();
        c.failover(3, mode).unwrap();
        3
    });
}

#[test]
fn failover_graceful() {
    failover(FailoverMode::Graceful, "CLUSTER FAILOVER");
}

#[test]
fn failover_force() {
    failover(FailoverMode::Force, "CLUSTER FAILOVER FORCE");
}

#[test]
fn failover_takeover() {
    failover(FailoverMode::Takeover, "CLUSTER FAILOVER TAKEOVER");
}

#[test]
fn resharding_1024_slots_with_their_keys() {
    let mut cluster = cluster();
    fill_moved_slots(&cluster);
    let fault = Fault {
        name: "resharding 1,024 slots (MIGRATING/IMPORTING, MIGRATE, SETSLOT) to primary 1",
        involved: &[1],
    };
    writes_through(&mut cluster, fault, |c, w| {
        w.fault_begins();
        let moved = c.migrate_slots(MOVED_SLOTS, 0, 1).unwrap();
        assert!(moved >= FILL_KEYS, "{moved} keys moved");
        // Writes that met their list already moved were asked to the target and followed
        // there (the harness sends no ASKING of its own).
        let asked = calls(&c.nodes()[1], "asking");
        println!("resharding: {moved} keys moved; the clients sent ASKING {asked} times");
        assert!(
            asked > 0,
            "no write was asked to the target during the migration"
        );
        1
    });
}

#[test]
fn new_primary_takes_1024_slots() {
    let mut cluster = cluster();
    fill_moved_slots(&cluster);
    let fault = Fault {
        name: "a new primary joins and takes 1,024 slots (atomic slot migration)",
        involved: &[],
    };
    writes_through(&mut cluster, fault, |c, w| {
        w.fault_begins();
        let new = c.add_primary().unwrap();
        c.migrate_slots_atomically(MOVED_SLOTS, 0, new).unwrap();
        assert_eq!(
            c.nodes()[new]
                .command(&["DBSIZE"])
                .unwrap()
                .as_int()
                .map(|n| n as usize >= FILL_KEYS),
            Some(true)
        );
        new
    });
}
