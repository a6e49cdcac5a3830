//! The cluster: the harness's fault and migration helpers on a real 6-node cluster, and the
//! cluster client (routing, MOVED, ASK, failover) against it.

use std::time::Duration;
use valkey_tests::{Cluster, ClusterOptions, FailoverMode, Reply};

fn fast_cluster() -> Cluster {
    ClusterOptions::valkey()
        .node_timeout(Duration::from_millis(1000))
        .start()
        .unwrap()
}

#[test]
fn harness_moves_a_slot_with_its_keys() {
    let cluster = Cluster::start(3, 1).unwrap();
    // "foo" is slot 12182, on primary 2 at start.
    let slot = 12182;
    assert_eq!(cluster.primary_of(slot).unwrap(), 2);
    let owner = &cluster.nodes()[2];
    owner.command(&["SET", "foo", "1"]).unwrap();
    owner.command(&["SET", "{foo}2", "2"]).unwrap();

    cluster.begin_slot_migration(slot, 2, 0).unwrap();
    assert_eq!(cluster.migrate_slot_keys(slot, 2, 0, 1).unwrap(), 1);
    // One key moved, one left: the source answers for the one it has and ASKs for the other.
    let mut source = owner.raw().unwrap();
    let replies = [
        source.command(&["GET", "foo"]).unwrap(),
        source.command(&["GET", "{foo}2"]).unwrap(),
    ];
    let ask = format!("ASK {slot} 127.0.0.1:{}", cluster.nodes()[0].port());
    assert!(
        replies.contains(&Reply::Error(ask)),
        "one key should be asked for elsewhere: {replies:?}"
    );
    assert_eq!(cluster.migrate_slot_keys(slot, 2, 0, 10).unwrap(), 1);
    assert_eq!(cluster.migrate_slot_keys(slot, 2, 0, 10).unwrap(), 0);
    cluster.finish_slot_migration(slot, 2, 0).unwrap();

    let moved = source.command(&["GET", "foo"]).unwrap();
    assert_eq!(
        moved,
        Reply::Error(format!(
            "MOVED {slot} 127.0.0.1:{}",
            cluster.nodes()[0].port()
        ))
    );
    assert_eq!(
        cluster.nodes()[0].command(&["GET", "{foo}2"]).unwrap(),
        Reply::Bulk(b"2".to_vec())
    );
    // Moving it back in one call.
    assert_eq!(cluster.migrate_slot(slot, 0, 2).unwrap(), 2);
    assert_eq!(
        cluster.nodes()[2].command(&["GET", "foo"]).unwrap(),
        Reply::Bulk(b"1".to_vec())
    );
}

#[test]
fn harness_fails_over_by_command_and_by_kill() {
    let mut cluster = fast_cluster();
    let (slot, _) = cluster.initial_slots(0);
    // Node 3 replicates primary 0.
    cluster.failover(3, FailoverMode::Graceful).unwrap();
    assert_eq!(cluster.primary_of(slot).unwrap(), 3);

    // Kill the new primary: its replica (the old primary, node 0) takes over.
    cluster.wait_until_ok().unwrap();
    cluster.kill_node(3);
    assert_eq!(cluster.wait_for_new_primary(slot, 3).unwrap(), 0);
}

// ---------------------------------------------------------------------------------------------
// The async cluster connection.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use valkey::cluster::NodeAddr;
use valkey::routing::slot;
use valkey::{cmd, ClusterClient, ErrorKind, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn node_addr(cluster: &Cluster, i: usize) -> NodeAddr {
    NodeAddr::new("127.0.0.1", cluster.nodes()[i].port())
}

fn dbsize(cluster: &Cluster, i: usize) -> i64 {
    cluster.nodes()[i]
        .command(&["DBSIZE"])
        .unwrap()
        .as_int()
        .unwrap()
}

#[test]
fn typed_commands_reach_every_slot() {
    let cluster = Cluster::start(3, 1).unwrap();
    runtime().block_on(async {
        // One seed is enough: the rest is discovered.
        let client = ClusterClient::open([cluster.urls()[4].as_str()]).unwrap();
        let con = client.get_async_connection().await.unwrap();
        let map = con.slot_map();
        assert_eq!(map.served_slots(), 16384);
        assert_eq!(map.primaries(false).len(), 3);
        assert_eq!(map.nodes(false).len(), 6);
        assert_eq!(map.primary_addr(12182, false), Some(node_addr(&cluster, 2)));

        const N: usize = 3000;
        let keys: Vec<String> = (0..N).map(|i| format!("key:{i}")).collect();
        let mut slots: Vec<u16> = keys.iter().map(|k| slot(k.as_bytes())).collect();
        slots.sort_unstable();
        slots.dedup();
        assert!(slots.len() > 2500, "the keys cover many slots");
        for (i, k) in keys.iter().enumerate() {
            con.send(cmd::set(k.as_str(), i)).await.unwrap();
        }
        for (i, k) in keys.iter().enumerate().step_by(7) {
            let v: Option<usize> = con.send(cmd::get(k.as_str())).await.unwrap();
            assert_eq!(v, Some(i));
            assert_eq!(con.send(cmd::incr(k.as_str())).await.unwrap(), i as i64 + 1);
        }
        // Every primary got its share; the cluster-wide DBSIZE (agg_sum over primaries) agrees.
        let per_primary: Vec<i64> = (0..3).map(|i| dbsize(&cluster, i)).collect();
        assert!(per_primary.iter().all(|&n| n > 800), "{per_primary:?}");
        assert_eq!(per_primary.iter().sum::<i64>(), N as i64);
        assert_eq!(con.send(cmd::dbsize()).await.unwrap(), N as i64);
        // PING goes to every primary (all_shards); equal replies make one.
        let pong: String = con.send_as(&cmd::ping()).await.unwrap();
        assert_eq!(pong, "PONG");

        // MGET over many slots: split per slot, reassembled in the caller's order.
        let some: Vec<&str> = keys.iter().take(50).map(String::as_str).collect();
        let values: Vec<Option<i64>> = con.send(cmd::mget(&some)).await.unwrap();
        let expected: Vec<Option<i64>> = (0..50)
            .map(|i| Some(i as i64 + i64::from(i % 7 == 0)))
            .collect();
        assert_eq!(values, expected);
        // MSET split, then EXISTS and DEL summed over their parts.
        con.send(cmd::mset([("a", "1"), ("b", "2"), ("c", "3")]))
            .await
            .unwrap();
        let abc: Vec<Option<String>> = con.send(cmd::mget(["c", "a", "b"])).await.unwrap();
        assert_eq!(
            abc,
            [
                Some("3".to_owned()),
                Some("1".to_owned()),
                Some("2".to_owned())
            ]
        );
        assert_eq!(
            con.send(cmd::exists(["a", "b", "c", "nope"]))
                .await
                .unwrap(),
            3
        );
        assert_eq!(
            con.send(cmd::del(["a", "b", "c", "nope"])).await.unwrap(),
            3
        );

        // Cross-slot is refused before sending: the source key is still there.
        let e = con.send(cmd::rename("key:1", "key:2")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("different slots"), "{e}");
        let v: Option<i64> = con.send(cmd::get("key:1")).await.unwrap();
        assert_eq!(v, Some(1));
        // Same slot by hash tag: runs.
        con.send(cmd::set("{t}a", "x")).await.unwrap();
        con.send(cmd::rename("{t}a", "{t}b")).await.unwrap();
        let v: Option<String> = con.send(cmd::get("{t}b")).await.unwrap();
        assert_eq!(v.as_deref(), Some("x"));

        // Raw commands are routed by their arguments too.
        let raw: Value = con
            .send(valkey::Cmd::new("GET").arg("key:2"))
            .await
            .unwrap();
        assert_eq!(raw, Value::BulkString("2".into()));
    });
}

#[test]
fn ask_during_a_migration_and_moved_after_it() {
    let cluster = Cluster::start(3, 1).unwrap();
    let slot = 12182; // "foo", on primary 2
    runtime().block_on(async {
        let client = ClusterClient::open(cluster.urls()).unwrap();
        let con = client.get_async_connection().await.unwrap();
        con.send(cmd::set("foo", "1")).await.unwrap();
        con.send(cmd::set("{foo}stay", "s")).await.unwrap();

        cluster.begin_slot_migration(slot, 2, 0).unwrap();
        // The source answers for a key it still has, and ASKs for one it has not.
        let on_source = |k: &str| {
            matches!(
                cluster.nodes()[2].command(&["EXISTS", k]),
                Ok(Reply::Int(1))
            )
        };
        // Move keys one at a time until "foo" is on the target.
        let mut moved = 0;
        while on_source("foo") {
            moved += cluster.migrate_slot_keys(slot, 2, 0, 1).unwrap();
        }
        assert!(moved >= 1);
        if cluster.nodes()[2]
            .command(&["EXISTS", "{foo}stay"])
            .unwrap()
            == Reply::Int(0)
        {
            // Both moved: put one back so that the source answers for a key of the slot.
            cluster.nodes()[2]
                .command(&["SET", "{foo}stay", "s"])
                .unwrap();
        }

        // "foo" is asked for on the target; the key still on the source is served there;
        // a new key goes to the target (the source does not have it). The map is unchanged.
        let v: Option<String> = con.send(cmd::get("foo")).await.unwrap();
        assert_eq!(v.as_deref(), Some("1"));
        let v: Option<String> = con.send(cmd::get("{foo}stay")).await.unwrap();
        assert_eq!(v.as_deref(), Some("s"));
        con.send(cmd::set("{foo}new", "n")).await.unwrap();
        assert_eq!(
            con.slot_map().primary_addr(slot, false),
            Some(node_addr(&cluster, 2))
        );
        let version = con.slot_map().version();

        // The rest moves and the slot is handed over: the source answers MOVED, the client
        // updates its map and finds every key on the target.
        while cluster.migrate_slot_keys(slot, 2, 0, 10).unwrap() > 0 {}
        cluster.finish_slot_migration(slot, 2, 0).unwrap();
        for (k, want) in [("foo", "1"), ("{foo}stay", "s"), ("{foo}new", "n")] {
            let v: Option<String> = con.send(cmd::get(k)).await.unwrap();
            assert_eq!(v.as_deref(), Some(want), "{k}");
        }
        let map = con.slot_map();
        assert_eq!(map.primary_addr(slot, false), Some(node_addr(&cluster, 0)));
        assert!(map.version() > version);
        // Only that slot moved.
        assert_eq!(
            map.primary_addr(slot + 1, false),
            Some(node_addr(&cluster, 2))
        );
        assert_eq!(dbsize(&cluster, 0), 3);
    });
}

/// Per key: INCRs acknowledged, and INCRs whose outcome was unclear.
#[derive(Default)]
struct Tally {
    ok: HashMap<String, u64>,
    unclear: HashMap<String, u64>,
    other: Vec<String>,
    /// The last acknowledged write on an affected slot, and the longest time between two.
    last_affected_ok: Option<Instant>,
    longest_gap: Duration,
}

/// Writers INCR their own counters while `fault` runs; then the server-side counters are
/// compared with what the writers were told. Returns the longest time without an acknowledged
/// write on the affected slots, and the counts.
fn incr_through_a_fault(
    cluster: &mut Cluster,
    affected_primary: usize,
    fault: impl FnOnce(&mut Cluster, &[String]) -> usize,
) -> Outcome {
    incr_through_a_fault_with(cluster, affected_primary, "", fault)
}

/// [`incr_through_a_fault`] with `url_options` (`?response_timeout=off`) on the seed URLs.
fn incr_through_a_fault_with(
    cluster: &mut Cluster,
    affected_primary: usize,
    url_options: &str,
    fault: impl FnOnce(&mut Cluster, &[String]) -> usize,
) -> Outcome {
    let rt = runtime();
    let (lo, hi) = cluster.initial_slots(affected_primary);
    // 8 counters on the affected primary, 8 elsewhere; new ones for each run on a cluster.
    static RUN: AtomicU64 = AtomicU64::new(0);
    let run = RUN.fetch_add(1, Ordering::Relaxed);
    let mut affected = Vec::new();
    let mut healthy = Vec::new();
    for i in 0.. {
        let k = format!("ctr{run}:{i}");
        let s = slot(k.as_bytes());
        if (lo..=hi).contains(&s) {
            if affected.len() < 8 {
                affected.push(k);
            }
        } else if healthy.len() < 8 {
            healthy.push(k);
        }
        if affected.len() == 8 && healthy.len() == 8 {
            break;
        }
    }
    let urls = cluster.urls().into_iter().map(|u| u + url_options);
    let client = ClusterClient::open(urls).unwrap();
    let con = rt.block_on(client.get_async_connection()).unwrap();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let fault_at = Arc::new(Mutex::new(None::<Instant>));
    let first_ok_after = Arc::new(AtomicU64::new(u64::MAX));
    let mut writers = Vec::new();
    for (i, key) in affected.iter().chain(&healthy).enumerate() {
        let (con, tally, stop, key) = (con.clone(), tally.clone(), stop.clone(), key.clone());
        let (fault_at, first_ok_after) = (fault_at.clone(), first_ok_after.clone());
        let is_affected = i < affected.len();
        writers.push(rt.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = con.send(cmd::incr(key.as_str())).await;
                {
                    let mut t = tally.lock().unwrap();
                    match r {
                        Ok(_) => {
                            *t.ok.entry(key.clone()).or_default() += 1;
                            if is_affected {
                                let now = Instant::now();
                                if let Some(last) = t.last_affected_ok.replace(now) {
                                    t.longest_gap = t.longest_gap.max(now - last);
                                }
                                if let Some(at) = *fault_at.lock().unwrap() {
                                    let ms = at.elapsed().as_millis() as u64;
                                    first_ok_after.fetch_min(ms, Ordering::Relaxed);
                                }
                            }
                        }
                        Err(e) if e.is_unclear() => *t.unclear.entry(key.clone()).or_default() += 1,
                        Err(e) => t.other.push(format!("{key}: {e}")),
                    }
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    std::thread::sleep(Duration::from_millis(500));
    *fault_at.lock().unwrap() = Some(Instant::now());
    let new_primary = fault(cluster, &affected);
    let healed_after = fault_at
        .lock()
        .unwrap()
        .map(|t| t.elapsed())
        .unwrap_or_default();
    // Keep writing a while after the cluster healed.
    let healed = Instant::now();
    while first_ok_after.load(Ordering::Relaxed) == u64::MAX
        && healed.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        rt.block_on(w).unwrap();
    }
    let t = tally.lock().unwrap();
    let recovery = first_ok_after.load(Ordering::Relaxed);
    assert_ne!(
        recovery,
        u64::MAX,
        "no write on the affected slots succeeded after the fault"
    );
    assert!(
        t.other.is_empty(),
        "errors other than Unclear: {:?}",
        t.other
    );
    let (mut duplicates, mut lost, mut unclear_total) = (0, 0, 0);
    for key in affected.iter().chain(&healthy) {
        let v: Option<u64> = rt.block_on(con.send(cmd::get(key.as_str()))).unwrap();
        let server = v.unwrap_or(0);
        let ok = t.ok.get(key).copied().unwrap_or(0);
        let unclear = t.unclear.get(key).copied().unwrap_or(0);
        unclear_total += unclear;
        duplicates += server.saturating_sub(ok + unclear);
        lost += ok.saturating_sub(server);
        assert!(ok > 0, "{key}: no INCR succeeded");
    }
    // The affected slots are served by the new primary now, and the client knows it.
    let map = con.slot_map();
    for key in &affected {
        assert_eq!(
            map.primary_addr(slot(key.as_bytes()), false),
            Some(node_addr(cluster, new_primary)),
            "{key}"
        );
    }
    Outcome {
        map,
        healed_after,
        first_ok_after_fault: Duration::from_millis(recovery),
        longest_gap: t.longest_gap,
        acknowledged: t.ok.values().sum(),
        duplicates,
        lost,
        unclear: unclear_total,
    }
}

impl Outcome {
    fn counts(&self) -> String {
        format!(
            "fault healed (harness) after {:?}, first write on an affected slot after {:?}; \
             {} acknowledged, {} unclear, {} duplicated, {} acknowledged lost",
            self.healed_after,
            self.first_ok_after_fault,
            self.acknowledged,
            self.unclear,
            self.duplicates,
            self.lost
        )
    }
}

/// What the writers saw through a fault.
struct Outcome {
    /// The client's slot map at the end (printed as its version and shards).
    map: Arc<valkey::cluster::SlotMap>,
    /// From the fault until the harness saw every node agree on the new primary.
    healed_after: Duration,
    /// From the fault to the first acknowledged write on an affected slot.
    first_ok_after_fault: Duration,
    /// The longest time without an acknowledged write on the affected slots.
    longest_gap: Duration,
    acknowledged: u64,
    /// INCRs applied more often than acknowledged + unclear.
    duplicates: u64,
    /// Acknowledged INCRs the server does not have.
    lost: u64,
    unclear: u64,
}

#[test]
fn failover_by_command_applies_every_incr_once() {
    let mut cluster = fast_cluster();
    // Node 3 replicates primary 0.
    let out = incr_through_a_fault(&mut cluster, 0, |c, _| {
        c.failover(3, FailoverMode::Graceful).unwrap();
        3
    });
    // Slots no writer touched follow too: the MOVED to the promoted replica made the client
    // read the topology again.
    let (lo, _) = cluster.initial_slots(0);
    assert_eq!(
        out.map.primary_addr(lo, false),
        Some(node_addr(&cluster, 3))
    );
    println!(
        "CLUSTER FAILOVER (graceful): affected slots without a write for at most {:?}; {}",
        out.longest_gap,
        out.counts()
    );
    assert_eq!(out.duplicates, 0);
    // A graceful failover waits for the replica to catch up: nothing acknowledged is lost.
    assert_eq!(out.lost, 0);
}

#[test]
fn killed_primary_is_followed_to_its_replica_without_duplicates() {
    let mut cluster = fast_cluster();
    let (slot, _) = cluster.initial_slots(0);
    let out = incr_through_a_fault(&mut cluster, 0, |c, _| {
        c.kill_node(0);
        c.wait_for_new_primary(slot, 0).unwrap()
    });
    assert_eq!(
        out.map.primary_addr(slot, false),
        Some(node_addr(&cluster, 3))
    );
    // Acknowledged writes may be lost by the server itself (asynchronous replication, no
    // WAIT); duplicates would be the client's doing.
    println!(
        "kill -9 of a primary (node timeout 1 s, the node stays dead): affected slots without \
         a write for at most {:?}; {}",
        out.longest_gap,
        out.counts()
    );
    assert_eq!(out.duplicates, 0);
}

// ---------------------------------------------------------------------------------------------
// The blocking cluster connection: the same IO-free steps, driven by plain threads.

#[test]
fn blocking_cluster_connection_routes_follows_moves_and_failover() {
    let mut cluster = fast_cluster();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let mut con = client.get_connection().unwrap();
    assert_eq!(con.slot_map().served_slots(), 16384);

    for i in 0..600 {
        con.send(cmd::set(format!("s:{i}"), i)).unwrap();
    }
    let keys: Vec<String> = (0..600).map(|i| format!("s:{i}")).collect();
    let values: Vec<Option<i64>> = con.send(cmd::mget(&keys)).unwrap();
    assert_eq!(values, (0..600).map(Some).collect::<Vec<_>>());
    assert_eq!(con.send(cmd::dbsize()).unwrap(), 600);
    let e = con.send(cmd::rename("s:1", "s:2")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);

    // A durable write: on the key's primary, acknowledged by its replica.
    let durability = valkey::pipeline::Durability::Replicas {
        count: 1,
        timeout: Duration::from_secs(5),
    };
    let ((len,), acks) = con
        .pipe_durable((cmd::rpush("d:list", ["a"]),), durability)
        .unwrap();
    assert_eq!((len, acks.replicas), (1, 1));

    // ASK while the slot of "foo" moves, MOVED after.
    let slot = 12182;
    con.send(cmd::set("foo", "1")).unwrap();
    cluster.begin_slot_migration(slot, 2, 0).unwrap();
    while cluster.migrate_slot_keys(slot, 2, 0, 10).unwrap() > 0 {}
    let v: Option<String> = con.send(cmd::get("foo")).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    assert_eq!(
        con.slot_map().primary_addr(slot, false),
        Some(node_addr(&cluster, 2))
    );
    cluster.finish_slot_migration(slot, 2, 0).unwrap();
    let v: Option<String> = con.send(cmd::get("foo")).unwrap();
    assert_eq!(v.as_deref(), Some("1"));
    assert_eq!(
        con.slot_map().primary_addr(slot, false),
        Some(node_addr(&cluster, 0))
    );

    // Kill primary 1 while a thread INCRs a counter it serves.
    let (lo, hi) = cluster.initial_slots(1);
    let key = (0..)
        .map(|i| format!("b:{i}"))
        .find(|k| (lo..=hi).contains(&slot_of(k)))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let writer = {
        let (stop, key, killed_at) = (stop.clone(), key.clone(), killed_at.clone());
        std::thread::spawn(move || {
            let (mut ok, mut unclear, mut other) = (0u64, 0u64, Vec::new());
            let mut first_ok_after_kill = None;
            while !stop.load(Ordering::Relaxed) {
                let killed = *killed_at.lock().unwrap();
                match con.send(cmd::incr(key.as_str())) {
                    Ok(_) => {
                        ok += 1;
                        if let (Some(at), None) = (killed, first_ok_after_kill) {
                            first_ok_after_kill = Some(at.elapsed());
                        }
                    }
                    Err(e) if e.is_unclear() => unclear += 1,
                    Err(e) => other.push(e.to_string()),
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (con, ok, unclear, other, first_ok_after_kill)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    *killed_at.lock().unwrap() = Some(started);
    cluster.kill_node(1);
    let new_primary = cluster.wait_for_new_primary(lo, 1).unwrap();
    let healed_after = started.elapsed();
    std::thread::sleep(Duration::from_millis(700));
    stop.store(true, Ordering::Relaxed);
    let (mut con, ok, unclear, other, first_ok) = writer.join().unwrap();
    assert!(other.is_empty(), "errors other than Unclear: {other:?}");
    let server: Option<u64> = con.send(cmd::get(key.as_str())).unwrap();
    let server = server.unwrap_or(0);
    println!(
        "blocking, kill -9 of a primary: healed after {healed_after:?}, first write after the \
         kill {first_ok:?}; {ok} acknowledged, {unclear} unclear, server has {server}"
    );
    assert!(first_ok.is_some(), "no write succeeded after the kill");
    assert!(server <= ok + unclear, "an INCR was applied twice");
    assert_eq!(
        con.slot_map().primary_addr(lo, false),
        Some(node_addr(&cluster, new_primary))
    );
}

fn slot_of(k: &str) -> u16 {
    slot(k.as_bytes())
}

// ---------------------------------------------------------------------------------------------
// Cluster pipelines.

#[test]
fn pipelines_are_grouped_per_node_and_follow_moves() {
    use valkey::pipeline::Pipeline;
    let cluster = Cluster::start(3, 1).unwrap();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let rt = runtime();
    let con = rt.block_on(client.get_async_connection()).unwrap();
    // The slot of "foo" moves after the client read the map: its commands come back MOVED.
    let slot = 12182;
    assert_eq!(cluster.migrate_slot(slot, 2, 0).unwrap(), 0);

    let mut p = Pipeline::new();
    let sets: Vec<_> = (0..300)
        .map(|i| p.push(cmd::set(format!("p:{i}"), i)))
        .collect();
    let set_foo = p.push(cmd::set("foo", "x"));
    let get_foo = p.push(cmd::get::<_, Option<String>>("foo"));
    let wrong = p.push(cmd::lpush("p:1", ["no"]));
    let incr = p.push(cmd::incr("{foo}n"));
    let echo = p.push(cmd::echo::<_, String>("hi"));
    let replies = rt.block_on(con.run(&p)).unwrap();
    for h in sets {
        replies.get(h).unwrap();
    }
    replies.get(set_foo).unwrap();
    assert_eq!(replies.get(get_foo).unwrap(), Some("x".to_owned()));
    let e = replies.get(wrong).unwrap_err();
    assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
    assert_eq!(replies.get(incr).unwrap(), 1);
    assert_eq!(replies.get(echo).unwrap(), "hi");
    // Every key is where the cluster says, and the client learnt the move.
    assert_eq!(
        con.slot_map().primary_addr(slot, false),
        Some(node_addr(&cluster, 0))
    );
    assert_eq!(
        (0..3).map(|i| dbsize(&cluster, i)).sum::<i64>(),
        302,
        "300 p:*, foo, {{foo}}n"
    );
    assert_eq!(
        cluster.nodes()[0].command(&["GET", "foo"]).unwrap(),
        Reply::Bulk(b"x".to_vec())
    );

    // The same pipeline shape on the blocking connection, reading back what was written.
    let mut sync = client.get_connection().unwrap();
    let mut p = Pipeline::new();
    let gets: Vec<_> = (0..300)
        .map(|i| p.push(cmd::get::<_, Option<i64>>(format!("p:{i}"))))
        .collect();
    let n = p.push(cmd::incr("{foo}n"));
    let replies = sync.run(&p).unwrap();
    for (i, h) in gets.into_iter().enumerate() {
        assert_eq!(replies.get(h).unwrap(), Some(i as i64));
    }
    assert_eq!(replies.get(n).unwrap(), 2);

    // Typed tuples, on both connections: keys on three nodes, outputs in the caller's order.
    let (a, b, c, d): ((), i64, Option<String>, Option<i64>) = rt
        .block_on(con.pipe((
            cmd::set("t:a", "x"),
            cmd::incr("t:b"),
            cmd::get("t:a"),
            cmd::get("p:7"),
        )))
        .unwrap();
    assert_eq!((a, b, c.as_deref(), d), ((), 1, Some("x"), Some(7)));
    let (n, v) = sync
        .pipe((cmd::incr("t:b"), cmd::get::<_, String>("t:a")))
        .unwrap();
    assert_eq!((n, v.as_str()), (2, "x"));
    let results = sync
        .pipe_results((cmd::lpush("t:a", ["no"]), cmd::incr("t:b")))
        .unwrap();
    assert_eq!(results.0.unwrap_err().code(), Some("WRONGTYPE"));
    assert_eq!(results.1.unwrap(), 3);

    // Refused before sending: a command for several nodes.
    let mut p = Pipeline::new();
    p.push(cmd::dbsize());
    let Err(e) = sync.run(&p) else {
        panic!("a fan-out command in a cluster pipeline must be refused")
    };
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

#[test]
fn resharding_under_load_applies_every_incr_once() {
    let mut cluster = Cluster::start(3, 1).unwrap();
    // 1000 slots move, holding 3000 keys besides the counters being written.
    let (lo, _) = cluster.initial_slots(0);
    let range = lo..lo + 1000;
    let fill: Vec<Vec<String>> = (0..)
        .map(|i| format!("fill:{i}"))
        .filter(|k| range.contains(&slot(k.as_bytes())))
        .take(3000)
        .map(|k| vec!["SET".to_owned(), k, "v".to_owned()])
        .collect();
    let mut raw = cluster.nodes()[0].raw().unwrap();
    for chunk in fill.chunks(500) {
        let replies = raw.pipeline(chunk).unwrap();
        assert!(replies.iter().all(|r| !r.is_error()));
    }
    assert_eq!(dbsize(&cluster, 0), 3000);
    let out = incr_through_a_fault(&mut cluster, 0, |c, affected| {
        let mut slots: Vec<u16> = range.clone().collect();
        slots.extend(affected.iter().map(|k| slot(k.as_bytes())));
        slots.sort_unstable();
        slots.dedup();
        let mut moved = 0;
        for s in &slots {
            moved += c.migrate_slot(*s, 0, 1).unwrap();
        }
        println!("resharding: {} slots, {moved} keys moved", slots.len());
        assert!(moved >= 3000);
        1
    });
    assert_eq!(dbsize(&cluster, 0), 0);
    println!(
        "resharding 1000+ slots (3000+ keys) from primary 0 to primary 1 under INCR load: affected slots \
         without a write for at most {:?}; {}",
        out.longest_gap,
        out.counts()
    );
    assert_eq!(out.duplicates, 0);
    assert_eq!(out.lost, 0, "a migration loses no acknowledged write");
    assert_eq!(out.unclear, 0, "nothing broke: no write may be unclear");
}

#[test]
fn hung_primary_is_replaced_without_any_liveness_deadline() {
    let mut cluster = fast_cluster();
    let (slot, _) = cluster.initial_slots(0);
    // No liveness deadline: a command sent to the hung primary would wait forever, unless
    // the topology refresh made while it waits finds the promoted replica and closes the hung
    // node's connection (its commands then end as `Unclear`).
    let out = incr_through_a_fault_with(&mut cluster, 0, "?response_timeout=off", |c, _| {
        c.pause_node(0).unwrap();
        c.wait_for_new_primary(slot, 0).unwrap()
    });
    println!(
        "SIGSTOP of a primary (node timeout 1 s, no liveness deadline): affected slots \
         without a write for at most {:?}; {}",
        out.longest_gap,
        out.counts()
    );
    assert_eq!(out.duplicates, 0);
    assert!(
        out.unclear > 0,
        "the writes in flight on the hung node end as Unclear"
    );
}

#[test]
fn forced_and_takeover_failovers_apply_every_incr_once() {
    let mut cluster = fast_cluster();
    // FORCE on node 3 (replica of primary 0), then TAKEOVER on node 0 (now its replica).
    for (mode, replica, old) in [(FailoverMode::Force, 3, 0), (FailoverMode::Takeover, 0, 3)] {
        cluster.wait_until_ok().unwrap();
        let out = incr_through_a_fault(&mut cluster, 0, |c, _| {
            c.failover(replica, mode).unwrap();
            replica
        });
        println!(
            "CLUSTER FAILOVER {mode:?} (node {old} -> node {replica}): affected slots without a \
             write for at most {:?}; {}",
            out.longest_gap,
            out.counts()
        );
        assert_eq!(out.duplicates, 0, "{mode:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Reads from replicas.

/// `GET` calls node `i` served since its stats were reset.
fn gets_served(cluster: &Cluster, i: usize) -> i64 {
    let stats = cluster.nodes()[i]
        .command(&["INFO", "commandstats"])
        .unwrap()
        .as_text()
        .unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[test]
fn reads_go_to_replicas_when_asked() {
    use valkey::cluster::ReadFrom;
    let cluster = Cluster::start(3, 1).unwrap();
    let client = ClusterClient::open(cluster.urls())
        .unwrap()
        .with_read_from(ReadFrom::Replica);
    let rt = runtime();
    let con = rt.block_on(client.get_async_connection()).unwrap();
    for i in 0..100 {
        rt.block_on(con.send(cmd::set(format!("r:{i}"), i)))
            .unwrap();
    }
    // Wait until the replicas have every key (asynchronous replication).
    let deadline = Instant::now() + Duration::from_secs(20);
    while (3..6).map(|i| dbsize(&cluster, i)).sum::<i64>() < 100 {
        assert!(Instant::now() < deadline, "the replicas did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A replica the cluster reports as loading (`CLUSTER SHARDS` says so until gossip carries
    // a replication offset) is passed over until the topology is read again.
    let online = |map: &valkey::cluster::SlotMap| {
        map.shards().iter().all(|s| {
            s.replicas
                .iter()
                .all(|r| r.health == valkey::cluster::Health::Online)
        })
    };
    while !online(&con.slot_map()) {
        assert!(Instant::now() < deadline, "the replicas stay loading");
        std::thread::sleep(Duration::from_millis(50));
        rt.block_on(con.refresh_topology()).unwrap();
    }
    for node in cluster.nodes() {
        node.command(&["CONFIG", "RESETSTAT"]).unwrap();
    }
    for i in 0..100 {
        let v: Option<i64> = rt.block_on(con.send(cmd::get(format!("r:{i}")))).unwrap();
        assert_eq!(v, Some(i));
    }
    // MGET over slots is split, and its parts are reads too.
    let keys: Vec<String> = (0..10).map(|i| format!("r:{i}")).collect();
    let v: Vec<Option<i64>> = rt.block_on(con.send(cmd::mget(&keys))).unwrap();
    assert_eq!(v, (0..10).map(Some).collect::<Vec<_>>());
    let primaries: i64 = (0..3).map(|i| gets_served(&cluster, i)).sum();
    let replicas: Vec<i64> = (3..6).map(|i| gets_served(&cluster, i)).collect();
    assert_eq!(primaries, 0, "no read reached a primary");
    assert_eq!(replicas.iter().sum::<i64>(), 100, "{replicas:?}");
    assert!(replicas.iter().all(|&n| n > 0), "{replicas:?}");
    // Writes still go to the primaries.
    rt.block_on(con.send(cmd::set("r:new", 1))).unwrap();

    // The blocking connection reads from the replicas too (once the node it asked reports
    // them online: each node has its own view).
    let mut sync = client.get_connection().unwrap();
    while !online(&sync.slot_map()) {
        assert!(Instant::now() < deadline, "the replicas stay loading");
        std::thread::sleep(Duration::from_millis(50));
        sync.refresh_topology().unwrap();
    }
    for i in 0..30 {
        let v: Option<i64> = sync.send(cmd::get(format!("r:{i}"))).unwrap();
        assert_eq!(v, Some(i));
    }
    assert_eq!((0..3).map(|i| gets_served(&cluster, i)).sum::<i64>(), 0);
    assert_eq!((3..6).map(|i| gets_served(&cluster, i)).sum::<i64>(), 130);
}

#[test]
fn an_idle_client_learns_a_failover_from_the_periodic_refresh() {
    let cluster = fast_cluster();
    let client = ClusterClient::open(cluster.urls())
        .unwrap()
        .with_topology_refresh(Some(Duration::from_millis(200)));
    let rt = runtime();
    let con = rt.block_on(client.get_async_connection()).unwrap();
    let mut sync = client.get_connection().unwrap();
    let (slot, _) = cluster.initial_slots(0);
    assert_eq!(
        con.slot_map().primary_addr(slot, false),
        Some(node_addr(&cluster, 0))
    );

    cluster.failover(3, FailoverMode::Graceful).unwrap();
    // The async connection sends nothing; its timer reads the topology again.
    let deadline = Instant::now() + Duration::from_secs(20);
    while con.slot_map().primary_addr(slot, false) != Some(node_addr(&cluster, 3)) {
        assert!(Instant::now() < deadline, "the periodic refresh never came");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The blocking connection reads it before its next command once the period has passed.
    std::thread::sleep(Duration::from_millis(250));
    let echo: String = sync.send(cmd::echo("x")).unwrap();
    assert_eq!(echo, "x");
    assert_eq!(
        sync.slot_map().primary_addr(slot, false),
        Some(node_addr(&cluster, 3))
    );
}

#[test]
fn transactions_run_on_one_slot_and_follow_a_move_whole() {
    let cluster = Cluster::start(3, 1).unwrap();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let rt = runtime();
    let con = rt.block_on(client.get_async_connection()).unwrap();
    let mut sync = client.get_connection().unwrap();
    let s = slot(b"u");
    let owner = cluster.primary_of(s).unwrap();
    let other = (owner + 1) % 3;

    let (a, n, v): ((), i64, Option<String>) = rt
        .block_on(con.transaction((cmd::set("{u}a", "1"), cmd::incr("{u}n"), cmd::get("{u}a"))))
        .unwrap();
    assert_eq!((a, n, v.as_deref()), ((), 1, Some("1")));

    // Keys in two slots: refused, nothing sent.
    let e = rt
        .block_on(con.transaction((cmd::set("a", "1"), cmd::incr("b"))))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert_eq!(rt.block_on(con.send(cmd::exists(["a", "b"]))).unwrap(), 0);

    // The slot moves behind both connections' backs: the queued commands come back MOVED,
    // EXEC aborts, and the whole transaction runs again on the new owner, once.
    cluster.migrate_slot(s, owner, other).unwrap();
    let (n, v): (i64, Option<String>) = rt
        .block_on(con.transaction((cmd::incr("{u}n"), cmd::get("{u}a"))))
        .unwrap();
    assert_eq!((n, v.as_deref()), (2, Some("1")));
    let (n,): (i64,) = sync.transaction((cmd::incr("{u}n"),)).unwrap();
    assert_eq!(n, 3);
    assert_eq!(
        con.slot_map().primary_addr(s, false),
        Some(node_addr(&cluster, other))
    );
    // A failing command inside keeps its own error; the others ran.
    let (set, wrong) = sync
        .transaction_results((cmd::set("{u}l", "x"), cmd::lpush("{u}l", ["y"])))
        .unwrap();
    set.unwrap();
    assert_eq!(wrong.unwrap_err().code(), Some("WRONGTYPE"));
}

#[test]
fn arguments_routed_as_keys_reach_their_slot_clusterscan_and_spublish() {
    let cluster = Cluster::start(3, 1).unwrap();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let rt = runtime();
    let con = rt.block_on(client.get_async_connection()).unwrap();
    for i in 0..500 {
        rt.block_on(con.send(cmd::set(format!("cs:{i}"), i)))
            .unwrap();
    }
    // CLUSTERSCAN's cursor carries a hash tag naming the slot it is at: each call goes to that
    // slot's owner, and the scan visits every primary.
    let mut cursor = "0".to_owned();
    let mut seen = std::collections::HashSet::new();
    let mut calls = 0;
    loop {
        let (next, keys): (String, Vec<String>) = rt
            .block_on(con.send(cmd::clusterscan(cursor.as_str()).count(1000)))
            .unwrap();
        calls += 1;
        seen.extend(keys);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 500, "after {calls} calls");
    // SPUBLISH goes to the owner of the shard channel's slot.
    for node in cluster.nodes() {
        node.command(&["CONFIG", "RESETSTAT"]).unwrap();
    }
    let receivers = rt.block_on(con.send(cmd::spublish("news", "hi"))).unwrap();
    assert_eq!(receivers, 0);
    let owner = cluster.primary_of(slot(b"news")).unwrap();
    let stats = cluster.nodes()[owner]
        .command(&["INFO", "commandstats"])
        .unwrap()
        .as_text()
        .unwrap();
    assert!(stats.contains("cmdstat_spublish:calls=1,"), "{stats}");
}

// ---------------------------------------------------------------------------------------------
// Durable writes: acknowledged by a replica (`WAIT 1`) before the caller counts them.

#[test]
fn replicated_writes_survive_a_killed_primary_once_each() {
    use valkey::pipeline::Durability;
    let mut cluster = fast_cluster();
    let (lo, hi) = cluster.initial_slots(0);
    let mut lists = Vec::new();
    let (mut on_victim, mut elsewhere) = (0, 0);
    for i in 0.. {
        let k = format!("l:{i}");
        if (lo..=hi).contains(&slot(k.as_bytes())) {
            if on_victim < 8 {
                on_victim += 1;
                lists.push((k, true));
            }
        } else if elsewhere < 8 {
            elsewhere += 1;
            lists.push((k, false));
        }
        if on_victim == 8 && elsewhere == 8 {
            break;
        }
    }
    let rt = runtime();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let con = rt.block_on(client.get_async_connection()).unwrap();
    #[derive(Default)]
    struct Seen {
        acked: Vec<String>,
        unacked: Vec<String>,
        unclear: Vec<String>,
        other: Vec<String>,
        first_ack_after_kill: Option<Duration>,
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let writers: Vec<_> = lists
        .iter()
        .enumerate()
        .map(|(task, (list, on_victim))| {
            let (con, seen, stop, killed_at) =
                (con.clone(), seen.clone(), stop.clone(), killed_at.clone());
            let (list, on_victim) = (list.clone(), *on_victim);
            rt.spawn(async move {
                let durability = Durability::Replicas {
                    count: 1,
                    timeout: Duration::from_millis(500),
                };
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let element = format!("{task}:{n}");
                    let started = Instant::now();
                    let r = con
                        .pipe_durable((cmd::rpush(list.as_str(), [element.as_str()]),), durability)
                        .await;
                    let mut s = seen.lock().unwrap();
                    if r.is_ok() {
                        // The first write begun after the kill that the killed primary's slots
                        // took (after the failover its shard has no replica left to WAIT for).
                        let at = *killed_at.lock().unwrap();
                        if let Some(at) = at.filter(|&at| on_victim && started > at) {
                            if s.first_ack_after_kill.is_none() {
                                s.first_ack_after_kill = Some(at.elapsed());
                            }
                        }
                    }
                    match r {
                        Ok((_, acks)) if acks.replicas >= 1 => s.acked.push(element),
                        Ok(_) => s.unacked.push(element),
                        Err(e) if e.is_unclear() => s.unclear.push(element),
                        // Not written: the same element goes again.
                        Err(e) if e.is_retry_safe() => continue,
                        Err(e) => s.other.push(format!("{element}: {e}")),
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    *killed_at.lock().unwrap() = Some(Instant::now());
    cluster.kill_node(0);
    let new_primary = cluster.wait_for_new_primary(lo, 0).unwrap();
    let healed = Instant::now();
    while seen.lock().unwrap().first_ack_after_kill.is_none()
        && healed.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        rt.block_on(w).unwrap();
    }
    let s = seen.lock().unwrap();
    assert!(s.other.is_empty(), "{:?}", s.other);
    let mut stored: HashMap<String, usize> = HashMap::new();
    for (list, _) in &lists {
        let items: Vec<String> = rt
            .block_on(con.send(cmd::lrange(list.as_str(), 0, -1)))
            .unwrap();
        for item in items {
            *stored.entry(item).or_default() += 1;
        }
    }
    let duplicated = stored.values().filter(|&&n| n > 1).count();
    let lost = s.acked.iter().filter(|e| !stored.contains_key(*e)).count();
    println!(
        "kill -9 of a primary, RPUSH + WAIT 1 from 16 tasks: {} acknowledged by a replica, {} \
         written without the acknowledgement, {} unclear; first write begun after the kill \
         and taken on the killed primary's slots: {:?} after the kill; {lost} acknowledged lost, {duplicated} \
         duplicated",
        s.acked.len(),
        s.unacked.len(),
        s.unclear.len(),
        s.first_ack_after_kill
    );
    assert!(
        s.first_ack_after_kill.is_some(),
        "the killed primary's slots never recovered"
    );
    assert_eq!(lost, 0, "a write a replica acknowledged was lost");
    assert_eq!(duplicated, 0, "an element was written twice");
    assert_eq!(
        con.slot_map().primary_addr(lo, false),
        Some(node_addr(&cluster, new_primary))
    );
}
