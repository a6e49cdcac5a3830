//! The cluster client's scan, WATCH transactions and blocking commands, on a real 6-node
//! cluster: every key is found while slots move and a primary fails over, a concurrent write
//! aborts a watched transaction, a blocked caller never hangs on a frozen node and never loses
//! an element.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use valkey::cluster::ScanOptions;
use valkey::routing::slot;
use valkey::{cmd, ClusterClient};
use valkey_tests::{Cluster, ClusterOptions, FailoverMode};

fn fast(options: ClusterOptions) -> Cluster {
    options
        .node_timeout(Duration::from_millis(1000))
        .start()
        .unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// `n` string keys `k:<i>`, written through a cluster pipeline.
fn write_keys(client: &ClusterClient, n: usize) -> HashSet<Vec<u8>> {
    let mut con = client.get_connection().unwrap();
    let keys: Vec<String> = (0..n).map(|i| format!("k:{i}")).collect();
    for chunk in keys.chunks(1000) {
        let sets: Vec<_> = chunk.iter().map(|k| cmd::set(k.as_str(), "v")).collect();
        con.pipe(sets).unwrap();
    }
    keys.into_iter().map(String::into_bytes).collect()
}

fn missing(expected: &HashSet<Vec<u8>>, seen: &HashSet<Vec<u8>>) -> usize {
    expected.difference(seen).count()
}

// ---------------------------------------------------------------------------------------------
// Scan.

#[test]
fn scan_returns_every_key_and_filters_by_match_and_type() {
    let cluster = Cluster::start(3, 1).unwrap();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let expected = write_keys(&client, 5000);
    let mut con = client.get_connection().unwrap();
    for i in 0..100 {
        con.send(cmd::rpush(format!("list:{i}"), ["x"])).unwrap();
    }
    let mut all = HashSet::new();
    let mut returned = 0;
    for key in con.scan(ScanOptions::new().count(100)) {
        all.insert(key.unwrap().to_vec());
        returned += 1;
    }
    println!(
        "sync scan: {returned} keys returned, {} distinct",
        all.len()
    );
    assert_eq!(missing(&expected, &all), 0);
    assert_eq!(all.len(), 5100);

    // MATCH and TYPE, sync and async: exactly the lists.
    let lists: HashSet<Vec<u8>> = (0..100).map(|i| format!("list:{i}").into_bytes()).collect();
    let matched: HashSet<Vec<u8>> = con
        .scan(ScanOptions::new().matching("list:*"))
        .map(|k| k.unwrap().to_vec())
        .collect();
    assert_eq!(matched, lists);
    let rt = runtime();
    let acon = rt.block_on(client.get_async_connection()).unwrap();
    let typed: HashSet<Vec<u8>> = rt
        .block_on(acon.scan(ScanOptions::new().key_type("list")).collect_all())
        .unwrap()
        .into_iter()
        .map(|k| k.to_vec())
        .collect();
    assert_eq!(typed, lists);
    let strings = rt
        .block_on(
            acon.scan(ScanOptions::new().key_type("string").matching("k:1*"))
                .collect_all(),
        )
        .unwrap();
    let want = expected.iter().filter(|k| k.starts_with(b"k:1")).count();
    let got: HashSet<Vec<u8>> = strings.iter().map(|k| k.to_vec()).collect();
    assert!(got.iter().all(|k| k.starts_with(b"k:1")));
    assert_eq!(got.len(), want);
}

/// Scans 5,000 keys (1,500 of them in 30 slots that move mid-scan) while those slots move to
/// another primary and then primary 0 fails over to its replica; the scan waits for each fault
/// to begin before going on, so both happen while it runs. Every key is found.
fn scan_through_faults(options: ClusterOptions, use_async: bool) {
    let cluster = fast(options);
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let mut expected = write_keys(&client, 3500);
    // 30 hash tags, 50 keys each: the slots that move.
    let mut con = client.get_connection().unwrap();
    let mut moving = Vec::new();
    for t in 0..30 {
        let keys: Vec<String> = (0..50).map(|i| format!("{{t{t}}}:{i}")).collect();
        let sets: Vec<_> = keys.iter().map(|k| cmd::set(k.as_str(), "v")).collect();
        con.pipe(sets).unwrap();
        moving.push(slot(format!("t{t}").as_bytes()));
        expected.extend(keys.into_iter().map(String::into_bytes));
    }
    moving.sort_unstable();
    moving.dedup();
    let owners: Vec<usize> = moving
        .iter()
        .map(|s| cluster.primary_of(*s).unwrap())
        .collect();
    let returned = AtomicUsize::new(0);
    // 0: nothing yet, 1: migrations begun (half the keys moved), 2: moves done, 3: failed over.
    let stage = AtomicUsize::new(0);
    let wait_for = |n: usize| {
        while stage.load(Ordering::SeqCst) < n {
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let started = Instant::now();
    let seen = std::thread::scope(|s| {
        s.spawn(|| {
            while returned.load(Ordering::SeqCst) < 500 {
                std::thread::sleep(Duration::from_millis(1));
            }
            for (slot, from) in moving.iter().zip(&owners) {
                let to = (from + 1) % 3;
                cluster.begin_slot_migration(*slot, *from, to).unwrap();
                cluster.migrate_slot_keys(*slot, *from, to, 25).unwrap();
            }
            stage.store(1, Ordering::SeqCst);
            for (slot, from) in moving.iter().zip(&owners) {
                let to = (from + 1) % 3;
                while cluster.migrate_slot_keys(*slot, *from, to, 100).unwrap() > 0 {}
                cluster.finish_slot_migration(*slot, *from, to).unwrap();
            }
            stage.store(2, Ordering::SeqCst);
            // Node 3 replicates primary 0.
            cluster.failover(3, FailoverMode::Graceful).unwrap();
            stage.store(3, Ordering::SeqCst);
        });
        let mut seen = HashSet::new();
        let mut take = |keys: Vec<Vec<u8>>| {
            let before = returned.fetch_add(keys.len(), Ordering::SeqCst);
            seen.extend(keys);
            // The scan goes on only once each fault has begun, so that it runs through them.
            let at = before + 1;
            if at >= 1000 {
                wait_for(1);
            }
            if at >= 2500 {
                wait_for(2);
            }
            if at >= 4000 {
                wait_for(3);
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        let options = ScanOptions::new().count(20);
        if use_async {
            let rt = runtime();
            let acon = rt.block_on(client.get_async_connection()).unwrap();
            let mut batches = acon.scan(options);
            while let Some(keys) = rt.block_on(batches.next_batch()).unwrap() {
                take(keys.into_iter().map(|k| k.to_vec()).collect());
            }
        } else {
            let mut con = client.get_connection().unwrap();
            let mut it = con.scan(options);
            loop {
                let batch: Vec<Vec<u8>> =
                    it.by_ref().take(20).map(|k| k.unwrap().to_vec()).collect();
                if batch.is_empty() {
                    break;
                }
                take(batch);
            }
        }
        let done_at = stage.load(Ordering::SeqCst);
        (seen, done_at)
    });
    let (seen, stage_at_end) = seen;
    println!(
        "scan through {} slot moves and a failover ({}): {} keys returned, {} distinct, \
         {} missing, {:?}; the faults had reached stage {stage_at_end} of 3 when it ended",
        moving.len(),
        if use_async { "async" } else { "sync" },
        returned.load(Ordering::SeqCst),
        seen.len(),
        missing(&expected, &seen),
        started.elapsed()
    );
    assert_eq!(stage_at_end, 3, "the faults ran during the scan");
    let lost: Vec<(String, u16, bool)> = expected
        .difference(&seen)
        .map(|k| {
            (
                String::from_utf8_lossy(k).into_owned(),
                slot(k),
                moving.contains(&slot(k)),
            )
        })
        .take(20)
        .collect();
    println!("missing (key, slot, moved): {lost:?}");
    assert_eq!(missing(&expected, &seen), 0);
    // Nothing was lost by the faults themselves.
    let dbsize: i64 = con.send(cmd::dbsize()).unwrap();
    assert_eq!(dbsize, 5000);
}

#[test]
fn clusterscan_misses_no_key_while_slots_move_and_a_primary_fails_over() {
    scan_through_faults(ClusterOptions::valkey(), false);
}

#[test]
fn node_by_node_scan_misses_no_key_while_slots_move_and_a_primary_fails_over() {
    // Redis 7 has no CLUSTERSCAN: the scan goes primary by primary.
    scan_through_faults(ClusterOptions::redis(), true);
}

// ---------------------------------------------------------------------------------------------
// WATCH transactions.

#[test]
fn watched_transactions_abort_on_a_concurrent_write_and_follow_a_slot_move() {
    use valkey::pipeline::WatchOptions;
    let cluster = Cluster::start(3, 1).unwrap();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut other = client.get_connection().unwrap();
    let rt = runtime();
    let acon = rt.block_on(client.get_async_connection()).unwrap();
    let once = WatchOptions { max_attempts: 1 };
    con.send(cmd::set("{w}n", 10)).unwrap();

    // Read, then write what was read plus one.
    let ((),) = con
        .watch("{w}n", once, |node| {
            let n: i64 = node.send(cmd::get::<_, Option<i64>>("{w}n"))?.unwrap_or(0);
            Ok((cmd::set("{w}n", n + 1),))
        })
        .unwrap();
    assert_eq!(
        con.send(cmd::get::<_, Option<i64>>("{w}n")).unwrap(),
        Some(11)
    );

    // Another client writes the watched key between WATCH and EXEC: EXEC returns nil, which
    // is the WatchConflict error when no attempt is left; the transaction's SET did not run.
    let e = con
        .watch("{w}n", once, |_| {
            other.send(cmd::set("{w}n", 100)).unwrap();
            Ok((cmd::set("{w}n", -1),))
        })
        .unwrap_err();
    assert!(e.is_watch_conflict(), "{e}");
    assert_eq!(
        con.send(cmd::get::<_, Option<i64>>("{w}n")).unwrap(),
        Some(100)
    );
    // With attempts left the helper reads again and wins the second time.
    let mut calls = 0;
    con.watch("{w}n", WatchOptions::default(), |node| {
        calls += 1;
        if calls == 1 {
            other.send(cmd::incr("{w}n")).unwrap();
        }
        let n: i64 = node.send(cmd::get::<_, Option<i64>>("{w}n"))?.unwrap_or(0);
        Ok((cmd::set("{w}n", n * 2),))
    })
    .unwrap();
    assert_eq!(calls, 2);
    assert_eq!(
        con.send(cmd::get::<_, Option<i64>>("{w}n")).unwrap(),
        Some(202)
    );

    // The same on the async connection: the concurrent write aborts EXEC.
    let e = rt
        .block_on(acon.watch("{w}n", once, |_| {
            let writer = acon.clone();
            async move {
                writer.send(cmd::set("{w}n", 7)).await?;
                Ok((cmd::set("{w}n", -1),))
            }
        }))
        .unwrap_err();
    assert!(e.is_watch_conflict(), "{e}");
    let n = rt
        .block_on(acon.watch("{w}n", once, |node| async move {
            let n: i64 = node
                .send(cmd::get::<_, Option<i64>>("{w}n"))
                .await?
                .unwrap_or(0);
            Ok((cmd::incrby("{w}n", n),))
        }))
        .unwrap();
    assert_eq!(n, (14,));

    // Keys in two slots, or commands outside the watched slot: refused before sending.
    let e = con
        .watch(&["a", "b"][..], once, |_| Ok((cmd::incr("a"),)))
        .unwrap_err();
    assert_eq!(e.kind(), valkey::ErrorKind::InvalidInput, "{e}");
    let e = rt
        .block_on(acon.watch("{w}n", once, |_| async { Ok((cmd::set("elsewhere", 1),)) }))
        .unwrap_err();
    assert_eq!(e.kind(), valkey::ErrorKind::InvalidInput, "{e}");
    assert_eq!(con.send(cmd::exists(["elsewhere"])).unwrap(), 0);

    // The slot moves while watched (its key goes with it): the transaction starts again from
    // the WATCH on the new owner and runs there once.
    let s = slot(b"w");
    let owner = cluster.primary_of(s).unwrap();
    let target = (owner + 1) % 3;
    let mut moved = false;
    let mut calls = 0;
    con.watch("{w}n", WatchOptions::default(), |node| {
        calls += 1;
        let n: i64 = node.send(cmd::get::<_, Option<i64>>("{w}n"))?.unwrap_or(0);
        if !moved {
            moved = true;
            cluster.migrate_slot(s, owner, target).unwrap();
        }
        Ok((cmd::set("{w}n", n + 1),))
    })
    .unwrap();
    assert!(calls >= 2, "{calls}");
    assert_eq!(cluster.primary_of(s).unwrap(), target);
    let at_target = cluster.nodes()[target]
        .command(&["GET", "{w}n"])
        .unwrap()
        .as_text()
        .unwrap()
        .to_owned();
    assert_eq!(at_target, "15");
    // And back, on the async connection.
    let mut moved = false;
    let n = rt
        .block_on(acon.watch("{w}n", WatchOptions::default(), |node| {
            let back = !std::mem::replace(&mut moved, true);
            let cluster = &cluster;
            async move {
                let n: i64 = node
                    .send(cmd::get::<_, Option<i64>>("{w}n"))
                    .await?
                    .unwrap_or(0);
                if back {
                    cluster.migrate_slot(s, target, owner).unwrap();
                }
                Ok((cmd::incrby("{w}n", n),))
            }
        }))
        .unwrap();
    assert_eq!(n, (30,));
    assert_eq!(cluster.primary_of(s).unwrap(), owner);
    // A watched key that does not exist is not touched by the move: the queued command is
    // refused with MOVED, EXEC runs nothing, and it all starts again on the new owner.
    let mut calls = 0;
    con.watch("{w}absent", WatchOptions { max_attempts: 1 }, |_| {
        calls += 1;
        if calls == 1 {
            cluster.migrate_slot(s, owner, target).unwrap();
        }
        Ok((cmd::incr("{w}absent"),))
    })
    .unwrap();
    assert_eq!(calls, 2);
    assert_eq!(
        cluster.nodes()[target]
            .command(&["GET", "{w}absent"])
            .unwrap()
            .as_text()
            .unwrap(),
        "1"
    );
}

// ---------------------------------------------------------------------------------------------
// Blocking commands.

type Popped = Option<(String, String)>;

fn blocked_clients(cluster: &Cluster, node: usize) -> i64 {
    let info = cluster.nodes()[node]
        .command(&["INFO", "clients"])
        .unwrap()
        .as_text()
        .unwrap()
        .to_owned();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// Waits (up to 20 s, then fails) until node `node` has `n` blocked clients.
fn wait_blocked(cluster: &Cluster, node: usize, n: i64) {
    let start = Instant::now();
    while blocked_clients(cluster, node) != n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node {node} never had {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A key whose slot primary `i` serves at start.
fn key_on(cluster: &Cluster, i: usize, prefix: &str) -> String {
    let (lo, hi) = cluster.initial_slots(i);
    (0..)
        .map(|n| format!("{prefix}{n}"))
        .find(|k| (lo..=hi).contains(&slot(k.as_bytes())))
        .unwrap()
}

#[test]
fn blpop_forever_is_released_by_a_push_and_a_cancelled_one_stalls_nothing() {
    let cluster = Cluster::start(3, 1).unwrap();
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let rt = runtime();
    let acon = rt.block_on(client.get_async_connection()).unwrap();
    let owner = 1;
    let key = key_on(&cluster, owner, "bl:");

    // BLPOP k 0 waits until another client pushes.
    let waiter = {
        let acon = acon.clone();
        let key = key.clone();
        rt.spawn(async move {
            acon.send(cmd::blpop::<_, Popped>([key], Duration::ZERO))
                .await
        })
    };
    wait_blocked(&cluster, owner, 1);
    let mut other = client.get_connection().unwrap();
    other.send(cmd::rpush(key.as_str(), ["first"])).unwrap();
    let popped = rt.block_on(waiter).unwrap().unwrap();
    assert_eq!(popped, Some((key.clone(), "first".to_owned())));

    // A cancelled BLPOP: its dedicated connection is closed, the server stops blocking it,
    // other commands to that node go on, and the next push goes to a live waiter.
    let cancelled = {
        let acon = acon.clone();
        let key = key.clone();
        rt.spawn(async move {
            acon.send(cmd::blpop::<_, Popped>([key], Duration::ZERO))
                .await
        })
    };
    wait_blocked(&cluster, owner, 1);
    cancelled.abort();
    let ok = rt.block_on(async {
        let mut ok = 0;
        for i in 0..200 {
            acon.send(cmd::set(format!("{key}:{i}"), i)).await.unwrap();
            ok += 1;
        }
        ok
    });
    assert_eq!(ok, 200);
    wait_blocked(&cluster, owner, 0);
    let next = {
        let acon = acon.clone();
        let key = key.clone();
        rt.spawn(async move {
            acon.send(cmd::blpop::<_, Popped>([key], Duration::ZERO))
                .await
        })
    };
    wait_blocked(&cluster, owner, 1);
    other.send(cmd::rpush(key.as_str(), ["second"])).unwrap();
    assert_eq!(
        rt.block_on(next).unwrap().unwrap(),
        Some((key.clone(), "second".to_owned()))
    );
    assert_eq!(
        other.send(cmd::llen(key.as_str())).unwrap(),
        0,
        "no element lost"
    );

    // The blocking cluster connection: released by a push from another thread.
    let mut con = client.get_connection().unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            wait_blocked(&cluster, owner, 1);
            other.send(cmd::rpush(key.as_str(), ["third"])).unwrap();
        });
        let popped = con
            .send(cmd::blpop::<_, Popped>([key.as_str()], Duration::ZERO))
            .unwrap();
        assert_eq!(popped, Some((key.clone(), "third".to_owned())));
    });

    // The other blocking commands take the same path: BZPOPMIN, XREAD BLOCK, BLMOVE, each
    // released by another client's write.
    use valkey::{Cmd, Value};
    let z = format!("{{{key}}}:z");
    let x = format!("{{{key}}}:x");
    let (src, dst) = (format!("{{{key}}}:src"), format!("{{{key}}}:dst"));
    let cases = [
        (
            Cmd::new("BZPOPMIN").arg(&z).arg(0),
            Cmd::new("ZADD").arg(&z).arg(1).arg("m"),
        ),
        (
            Cmd::new("XREAD")
                .arg("BLOCK")
                .arg(0)
                .arg("STREAMS")
                .arg(&x)
                .arg("$"),
            Cmd::new("XADD").arg(&x).arg("*").arg("f").arg("v"),
        ),
        (
            Cmd::new("BLMOVE")
                .arg(&src)
                .arg(&dst)
                .arg("LEFT")
                .arg("RIGHT")
                .arg(0),
            Cmd::new("RPUSH").arg(&src).arg("e"),
        ),
    ];
    for (blocking, release) in cases {
        let name = format!("{blocking:?}");
        let waiter = {
            let acon = acon.clone();
            rt.spawn(async move { acon.send(blocking).await })
        };
        wait_blocked(&cluster, owner, 1);
        other.send(release).unwrap();
        let got = rt.block_on(waiter).unwrap().unwrap();
        assert!(!matches!(got, Value::Nil), "{name}: {got:?}");
    }
    assert_eq!(other.send(cmd::llen(dst.as_str())).unwrap(), 1);

    // While its slot migrates, BLPOP on a key the source does not have is ASKed to the target:
    // it blocks there on a dedicated connection, and the target's shared connection answers
    // other commands meanwhile.
    let s = slot(key.as_bytes());
    let target = (owner + 1) % 3;
    cluster.begin_slot_migration(s, owner, target).unwrap();
    let asked = {
        let acon = acon.clone();
        let key = key.clone();
        rt.spawn(async move {
            acon.send(cmd::blpop::<_, Popped>([key], Duration::ZERO))
                .await
        })
    };
    wait_blocked(&cluster, target, 1);
    let target_addr = valkey::cluster::NodeAddr::new("127.0.0.1", cluster.nodes()[target].port());
    let answered = rt.block_on(async {
        let mut answered = 0;
        let ping_cmd = cmd::ping();
        for _ in 0..50 {
            let ping = acon.send_to::<_, String>(&target_addr, &ping_cmd);
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(5), ping).await {
                answered += 1;
            }
        }
        answered
    });
    assert_eq!(
        answered, 50,
        "the target's shared connection is not held by BLPOP"
    );
    other.send(cmd::rpush(key.as_str(), ["fourth"])).unwrap();
    assert_eq!(
        rt.block_on(asked).unwrap().unwrap(),
        Some((key.clone(), "fourth".to_owned()))
    );
    while cluster.migrate_slot_keys(s, owner, target, 100).unwrap() > 0 {}
    cluster.finish_slot_migration(s, owner, target).unwrap();
    assert_eq!(
        other.send(cmd::llen(key.as_str())).unwrap(),
        0,
        "no element lost"
    );
}

#[test]
fn a_frozen_node_fails_blocked_callers_within_their_deadline() {
    // The default node timeout (5 s): the frozen primary is not failed over meanwhile.
    let mut cluster = Cluster::start(3, 1).unwrap();
    let urls: Vec<String> = cluster
        .urls()
        .into_iter()
        .map(|u| format!("{u}?response_timeout=1"))
        .collect();
    let client = ClusterClient::open(urls).unwrap();
    let rt = runtime();
    let acon = rt.block_on(client.get_async_connection()).unwrap();
    let mut con = client.get_connection().unwrap();
    let key = key_on(&cluster, 0, "fz:");
    let waiter = {
        let acon = acon.clone();
        let key = key.clone();
        rt.spawn(async move {
            let started = Instant::now();
            let r = acon
                .send(cmd::blpop::<_, Popped>([key], Duration::ZERO))
                .await;
            (r, started.elapsed())
        })
    };
    wait_blocked(&cluster, 0, 1);
    cluster.pause_node(0).unwrap();
    // The blocking connection, BLPOP k 0 too: the node is PINGed on another connection every
    // response_timeout (1 s), answered within it. On a thread, so that a hang fails the test.
    let (tx, rx) = std::sync::mpsc::channel();
    let sync_key = key.clone();
    std::thread::spawn(move || {
        let started = Instant::now();
        let r = con.send(cmd::blpop::<_, Popped>([sync_key.as_str()], Duration::ZERO));
        let _ = tx.send((r.map(drop), started.elapsed()));
    });
    let (sync_r, sync_elapsed) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("sync BLPOP k 0 on a frozen node must not hang");
    let sync_err = sync_r.unwrap_err();
    let (r, elapsed) = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(30), waiter).await })
        .expect("BLPOP k 0 on a frozen node must not hang")
        .unwrap();
    cluster.resume_node(0).unwrap();
    let e = r.unwrap_err();
    println!(
        "frozen node: async BLPOP k 0 failed after {elapsed:?} (documented: ping period 1 s + \
         response_timeout 1 s): {e}; sync BLPOP k 0 failed after {sync_elapsed:?} (PING period \
         1 s + response_timeout 1 s): {sync_err}"
    );
    assert!(e.is_unclear(), "{e}");
    assert!(sync_err.is_unclear() && sync_err.is_timeout(), "{sync_err}");
    // Deadline plus scheduling slack on a shared machine: a hang would be far beyond.
    assert!(elapsed < Duration::from_secs(2 + 10), "{elapsed:?}");
    assert!(
        sync_elapsed < Duration::from_secs(2 + 10),
        "{sync_elapsed:?}"
    );
}

#[test]
fn blpop_waiting_through_a_failover_gets_its_element_or_a_clear_error_never_loses_one() {
    let cluster = fast(ClusterOptions::valkey());
    let client = ClusterClient::open(cluster.urls()).unwrap();
    let rt = runtime();
    let acon = rt.block_on(client.get_async_connection()).unwrap();
    let key = key_on(&cluster, 0, "fo:");
    const WAITERS: usize = 10;
    let waiters: Vec<_> = (0..WAITERS)
        .map(|_| {
            let acon = acon.clone();
            let key = key.clone();
            rt.spawn(async move {
                acon.send(cmd::blpop::<_, Popped>([key], Duration::ZERO))
                    .await
            })
        })
        .collect();
    wait_blocked(&cluster, 0, WAITERS as i64);
    // Node 3 replicates primary 0 and takes over while they wait.
    cluster.failover(3, FailoverMode::Graceful).unwrap();
    let mut pusher = client.get_connection().unwrap();
    for i in 0..WAITERS {
        pusher
            .send(cmd::rpush(key.as_str(), [format!("e{i}")]))
            .unwrap();
    }
    let (mut popped, mut errors) = (Vec::new(), Vec::new());
    for w in waiters {
        let r = rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(30), w).await })
            .expect("a waiter must end: it has its element or an error")
            .unwrap();
        match r {
            Ok(Some((_, e))) => popped.push(e),
            Ok(None) => panic!("BLPOP k 0 never times out"),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let left: i64 = pusher.send(cmd::llen(key.as_str())).unwrap();
    let lost = WAITERS as i64 - popped.len() as i64 - left;
    println!(
        "BLPOP through a failover: {} popped, {} errors {:?}, {left} left in the list, {lost} lost",
        popped.len(),
        errors.len(),
        errors.first()
    );
    assert_eq!(lost, 0);
    let distinct: HashSet<&String> = popped.iter().collect();
    assert_eq!(distinct.len(), popped.len(), "no element twice");
}
