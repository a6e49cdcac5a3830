//! The cluster subscriber on a real 6-node cluster, blocking and async, RESP2 and RESP3:
//! channels, patterns and shard channels in several slots; a shard channel's slot moved to
//! another primary, a primary killed (-9), a primary frozen (SIGSTOP) and the broadcast
//! connections reset (CLIENT KILL) while a publisher runs. Each fault must show as one
//! `Disconnected` then one `Gap`, after which nothing published is lost and nothing arrives
//! twice (counted, expected zero).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use valkey::pubsub::{AsyncClusterPubSub, ClusterPubSub, Event, Family, Gap, MessageKind};
use valkey::routing::slot;
use valkey::{ClusterClient, Cmd};
use valkey_tests::{Cluster, ClusterOptions, Reply};

fn fast_cluster() -> Cluster {
    ClusterOptions::valkey()
        .node_timeout(Duration::from_millis(1000))
        .start()
        .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A client in `protocol`, with `extra` URL settings (`&connect_timeout=1`).
fn client_with(cluster: &Cluster, protocol: &str, extra: &str) -> ClusterClient {
    let urls: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| format!("{u}?protocol={protocol}{extra}"))
        .collect();
    ClusterClient::open(urls).unwrap()
}

fn client(cluster: &Cluster, protocol: &str) -> ClusterClient {
    client_with(cluster, protocol, "")
}

/// The blocking and the async cluster subscriber behind one interface (the async one on a
/// runtime of its own).
enum Sub {
    Sync(Box<ClusterPubSub>),
    Async(Box<AsyncClusterPubSub>, tokio::runtime::Runtime),
}

impl Sub {
    fn open(client: &ClusterClient, is_async: bool) -> Sub {
        if is_async {
            let rt = rt();
            let s = rt.block_on(client.get_async_pubsub()).unwrap();
            Sub::Async(Box::new(s), rt)
        } else {
            Sub::Sync(Box::new(client.get_pubsub().unwrap()))
        }
    }

    fn interval(&mut self, d: Duration) {
        match self {
            Sub::Sync(s) => s.set_health_check_interval(Some(d)),
            Sub::Async(s, _) => s.set_health_check_interval(Some(d)),
        }
    }

    fn subscribe(&mut self, family: Family, names: &[String]) {
        let names = names.to_vec();
        let n = names.len();
        let r = match self {
            Sub::Sync(s) => match family {
                Family::Channel => s.subscribe(names),
                Family::Pattern => s.psubscribe(names),
                _ => s.ssubscribe(names),
            },
            Sub::Async(s, rt) => rt.block_on(async {
                match family {
                    Family::Channel => s.subscribe(names).await,
                    Family::Pattern => s.psubscribe(names).await,
                    _ => s.ssubscribe(names).await,
                }
            }),
        };
        let confirmations = r.unwrap();
        assert_eq!(confirmations.len(), n, "{confirmations:?}");
        assert!(confirmations
            .iter()
            .all(|c| c.subscribed && c.family == family));
    }

    fn sunsubscribe(&mut self, names: &[String]) {
        let names = names.to_vec();
        match self {
            Sub::Sync(s) => s.sunsubscribe(names).unwrap(),
            Sub::Async(s, rt) => rt.block_on(s.sunsubscribe(names)).unwrap(),
        };
    }

    fn get(&mut self, timeout: Duration) -> Option<Event> {
        match self {
            Sub::Sync(s) => s.get_message(timeout).unwrap(),
            Sub::Async(s, rt) => rt.block_on(s.get_message(timeout)).unwrap(),
        }
    }
}

/// A channel in `slot`'s range of primary `i` (named `prefix{tag}` with a tag that hashes
/// there).
fn channel_on(cluster: &Cluster, primary: usize, prefix: &str, n: usize) -> Vec<String> {
    let (first, last) = cluster.initial_slots(primary);
    let mut out = Vec::new();
    let mut seen_slots = Vec::new();
    for i in 0.. {
        let tag = format!("t{i}");
        let s = slot(tag.as_bytes());
        if s >= first && s <= last && !seen_slots.contains(&s) {
            seen_slots.push(s);
            out.push(format!("{prefix}{{{tag}}}"));
            if out.len() == n {
                break;
            }
        }
    }
    out
}

/// What a subscriber saw: the sequence numbers per channel, the events in order.
#[derive(Default, Debug)]
struct Seen {
    by_channel: BTreeMap<String, Vec<u64>>,
    disconnects: Vec<(SystemTime, String)>,
    gaps: Vec<Gap>,
    /// Messages per channel since the last gap (or the start).
    since_gap: BTreeMap<String, usize>,
}

impl Seen {
    fn take(&mut self, event: Event) {
        match event {
            Event::Message(m) => {
                let key = match m.kind() {
                    MessageKind::PMessage => {
                        String::from_utf8_lossy(m.pattern().unwrap()).into_owned()
                    }
                    _ => String::from_utf8_lossy(m.channel()).into_owned(),
                };
                let n: u64 = m.payload_as().unwrap();
                *self.since_gap.entry(key.clone()).or_default() += 1;
                self.by_channel.entry(key).or_default().push(n);
            }
            Event::Disconnected(d) => self.disconnects.push((d.at, d.error.to_string())),
            Event::Gap(g) => {
                self.since_gap.clear();
                self.gaps.push(g)
            }
            _ => {}
        }
    }

    /// Reads until `done` says so or `limit` passes.
    fn read_until(&mut self, sub: &mut Sub, limit: Duration, done: impl Fn(&Seen) -> bool) {
        let end = Instant::now() + limit;
        while !done(self) && Instant::now() < end {
            if let Some(e) = sub.get(Duration::from_millis(50)) {
                self.take(e);
            }
        }
    }

    /// Takes whatever `sub` has now (each subscriber is read in turn: none falls behind).
    fn drain(&mut self, sub: &mut Sub) {
        for _ in 0..10_000 {
            match sub.get(Duration::from_millis(1)) {
                Some(e) => self.take(e),
                None => return,
            }
        }
    }

    fn duplicates(&self) -> usize {
        self.by_channel
            .values()
            .map(|v| {
                let mut s = v.clone();
                s.sort_unstable();
                s.dedup();
                v.len() - s.len()
            })
            .sum()
    }
}

#[test]
fn channels_patterns_and_shard_channels_in_several_slots_arrive() {
    let cluster = fast_cluster();
    let mut publisher = client(&cluster, "resp3").get_connection().unwrap();
    // Shard channels on every primary, two slots each, subscribed in one call (split per slot).
    let shard: Vec<String> = (0..3)
        .flat_map(|p| channel_on(&cluster, p, &format!("s{p}"), 2))
        .collect();
    let channels: Vec<String> = vec!["news".into(), "sport".into()];
    let patterns: Vec<String> = vec!["pa.*".into()];
    const N: u64 = 200;
    for protocol in ["resp2", "resp3"] {
        for is_async in [false, true] {
            let mut sub = Sub::open(&client(&cluster, protocol), is_async);
            sub.subscribe(Family::Shard, &shard);
            sub.subscribe(Family::Channel, &channels);
            sub.subscribe(Family::Pattern, &patterns);
            let started = Instant::now();
            for i in 0..N {
                for ch in &shard {
                    let r: i64 = publisher
                        .send_as(&Cmd::new("SPUBLISH").arg(ch).arg(i))
                        .unwrap();
                    assert_eq!(r, 1, "{ch}: one subscriber on its owner");
                }
                for ch in channels.iter().chain(["pa.x".to_string()].iter()) {
                    let _: i64 = publisher
                        .send_as(&Cmd::new("PUBLISH").arg(ch).arg(i))
                        .unwrap();
                }
            }
            let mut seen = Seen::default();
            let total = (shard.len() + channels.len() + patterns.len()) * N as usize;
            seen.read_until(&mut sub, Duration::from_secs(20), |s| {
                s.by_channel.values().map(Vec::len).sum::<usize>() >= total
            });
            let label = format!("{protocol} async={is_async}");
            for ch in shard.iter().chain(&channels).chain(&patterns) {
                let mut got = seen.by_channel.get(ch).cloned().unwrap_or_default();
                // PUBLISH goes to any node and reaches ours over the cluster bus: only a shard
                // channel (one primary) keeps the publisher's order.
                if !shard.contains(ch) {
                    got.sort_unstable();
                }
                assert_eq!(
                    got,
                    (0..N).collect::<Vec<_>>(),
                    "{label}: {ch} complete (in order for shard channels)"
                );
            }
            assert_eq!(seen.duplicates(), 0, "{label}");
            assert!(
                seen.gaps.is_empty() && seen.disconnects.is_empty(),
                "{label}: {seen:?}"
            );
            println!(
                "{label}: {total} messages over {} shard channels, {} channels, {} pattern in {:?}",
                shard.len(),
                channels.len(),
                patterns.len(),
                started.elapsed()
            );
            // The user's own sunsubscribe is not a loss: no Disconnected, no resubscription.
            sub.sunsubscribe(&shard[..1]);
            let r: i64 = publisher
                .send_as(&Cmd::new("SPUBLISH").arg(&shard[0]).arg(0))
                .unwrap();
            assert_eq!(r, 0, "{label}: unsubscribed");
            let mut after = Seen::default();
            after.read_until(&mut sub, Duration::from_millis(500), |_| false);
            assert!(
                after.disconnects.is_empty() && after.gaps.is_empty(),
                "{label}: {after:?}"
            );
        }
    }
}

/// One message the publisher sent: to which channel, its number, when it was sent, and
/// whether the server took it.
struct Sent {
    /// The subscription it is received under (the channel, or the pattern that matches it).
    key: String,
    n: u64,
    at: SystemTime,
    ok: bool,
}

/// A publisher on a thread of its own: SPUBLISH (and PUBLISH) of increasing numbers, each
/// with the time it was sent and whether the server took it.
struct Publisher {
    stop: Arc<AtomicBool>,
    sent: Arc<Mutex<Vec<Sent>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Publisher {
    /// Publishes to each target in turn: (command, channel, subscription received under).
    fn start(client: ClusterClient, targets: Vec<(&'static str, String, String)>) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let (stop2, sent2) = (Arc::clone(&stop), Arc::clone(&sent));
        let thread = std::thread::spawn(move || {
            let mut con = client.get_connection().unwrap();
            let mut i = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                for (verb, ch, key) in &targets {
                    let at = SystemTime::now();
                    let ok = con
                        .send_as::<_, i64>(&Cmd::new(*verb).arg(ch).arg(i))
                        .is_ok();
                    sent2.lock().unwrap().push(Sent {
                        key: key.clone(),
                        n: i,
                        at,
                        ok,
                    });
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        });
        Publisher {
            stop,
            sent,
            thread: Some(thread),
        }
    }

    fn stop(mut self) -> Vec<Sent> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        std::mem::take(&mut *self.sent.lock().unwrap())
    }
}

/// Counts, per subscriber, what went wrong around a fault: messages the server took after the
/// last gap closed that never arrived, and messages that arrived twice.
fn check_after_fault(label: &str, seen: &Seen, sent: &[Sent], fault_at: SystemTime) {
    assert!(
        !seen.disconnects.is_empty(),
        "{label}: the loss was reported: {seen:?}"
    );
    let last_gap = seen
        .gaps
        .last()
        .unwrap_or_else(|| panic!("{label}: no gap: {seen:?}"));
    assert!(
        seen.gaps.iter().all(|g| g.resubscribed_at >= g.lost_at),
        "{label}"
    );
    let received: HashMap<&str, Vec<u64>> = seen
        .by_channel
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    let mut lost_after_gap = 0;
    let mut after = 0;
    let mut lost: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for m in sent {
        if m.ok && m.at > last_gap.resubscribed_at {
            after += 1;
            if !received
                .get(m.key.as_str())
                .is_some_and(|v| v.contains(&m.n))
            {
                lost_after_gap += 1;
                lost.entry(m.key.as_str()).or_default().push(m.n);
            }
        }
    }
    if !lost.is_empty() {
        println!("{label}: lost {lost:?}");
    }
    let duplicates = seen.duplicates();
    if duplicates > 0 {
        for (k, v) in &seen.by_channel {
            let mut c: BTreeMap<u64, usize> = BTreeMap::new();
            for n in v {
                *c.entry(*n).or_default() += 1;
            }
            let twice: Vec<u64> = c.iter().filter(|(_, &k)| k > 1).map(|(n, _)| *n).collect();
            if !twice.is_empty() {
                println!("{label}: {k} twice: {twice:?}");
            }
        }
    }
    let gap = last_gap
        .resubscribed_at
        .duration_since(last_gap.lost_at)
        .unwrap_or_default();
    let noticed_after = seen.disconnects[0]
        .0
        .duration_since(fault_at)
        .unwrap_or_default();
    println!(
        "{label}: loss noticed {noticed_after:?} after the fault, {} disconnect(s), {} gap(s), last gap {gap:?} ({}), {after} published after it, \
         lost after gap {lost_after_gap}, duplicates {duplicates}",
        seen.disconnects.len(),
        seen.gaps.len(),
        last_gap.cause
    );
    assert!(after > 0, "{label}: the publisher went on after the gap");
    assert_eq!(lost_after_gap, 0, "{label}");
    assert_eq!(duplicates, 0, "{label}");
}

/// Two subscribers (blocking RESP2 and async RESP3) on the shard channels of primaries 0 and 1,
/// a channel and a pattern, a publisher running, `fault` applied; both must report it and lose
/// nothing published after their gap. `fault` returns when the cluster has healed.
fn through_a_fault(
    cluster: &mut Cluster,
    interval: Duration,
    fault: impl FnOnce(&mut Cluster, &[String]),
    check_error: impl Fn(&str) -> bool,
) {
    let shard = channel_on(cluster, 0, "f", 2);
    let others = channel_on(cluster, 1, "o", 1);
    let channels = vec!["bcast".to_string()];
    // A short connect timeout: a frozen node accepts connections and never greets.
    // The publisher also gives up on a frozen node's reply after 1 s.
    let quick = "&connect_timeout=1";
    let publisher_url = "&connect_timeout=1&response_timeout=1";
    let mut subs = [
        (
            "sync resp2",
            Sub::open(&client_with(cluster, "resp2", quick), false),
        ),
        (
            "async resp3",
            Sub::open(&client_with(cluster, "resp3", quick), true),
        ),
    ];
    for (_, sub) in &mut subs {
        sub.interval(interval);
        sub.subscribe(Family::Shard, &shard);
        sub.subscribe(Family::Shard, &others);
        sub.subscribe(Family::Channel, &channels);
        sub.subscribe(Family::Pattern, &["pat.*".to_string()]);
    }
    let mut targets: Vec<(&'static str, String, String)> = shard
        .iter()
        .chain(&others)
        .map(|c| ("SPUBLISH", c.clone(), c.clone()))
        .collect();
    targets.push(("PUBLISH", "bcast".into(), "bcast".into()));
    targets.push(("PUBLISH", "pat.x".into(), "pat.*".into()));
    // Every subscription must flow again after the gap.
    let watched: Vec<String> = targets.iter().map(|t| t.2.clone()).collect();
    let publisher = Publisher::start(client_with(cluster, "resp3", publisher_url), targets);
    // Each subscriber is read by a thread of its own (a reconnect attempt of one must not
    // hold the other's reads). A reader goes on until the fault is over and its subscriber
    // closed its gap and got messages after it on every subscription;
    // then, after 500 ms more, it says so, and it stops 500 ms after the publisher did.
    let fault_done = AtomicBool::new(false);
    let publisher_done = AtomicBool::new(false);
    let healed = std::sync::atomic::AtomicUsize::new(0);
    let (sent, seen, fault_at) = std::thread::scope(|scope| {
        let readers: Vec<_> = subs
            .iter_mut()
            .map(|(_, sub)| {
                let (fault_done, publisher_done, healed, watched) =
                    (&fault_done, &publisher_done, &healed, &watched);
                scope.spawn(move || {
                    let mut seen = Seen::default();
                    // Up to 40 s after the fault is over (the harness waits for the failover).
                    let mut give_up = Instant::now() + Duration::from_secs(3600);
                    let mut healed_at = None;
                    while Instant::now() < give_up {
                        if fault_done.load(Ordering::SeqCst)
                            && give_up > Instant::now() + Duration::from_secs(40)
                        {
                            give_up = Instant::now() + Duration::from_secs(40);
                        }
                        seen.drain(sub);
                        let back = fault_done.load(Ordering::SeqCst)
                            && !seen.gaps.is_empty()
                            && seen.disconnects.len() == seen.gaps.len()
                            && watched
                                .iter()
                                .all(|c| seen.since_gap.get(c).is_some_and(|&n| n > 20));
                        match healed_at {
                            None if back => healed_at = Some(Instant::now()),
                            Some(t) if t.elapsed() > Duration::from_millis(500) => {
                                healed.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            _ => {}
                        }
                    }
                    while !publisher_done.load(Ordering::SeqCst) && Instant::now() < give_up {
                        seen.drain(sub);
                    }
                    seen.read_until(sub, Duration::from_millis(500), |_| false);
                    seen
                })
            })
            .collect();
        // Some traffic first, then the fault, while the readers read.
        std::thread::sleep(Duration::from_millis(300));
        let fault_at = SystemTime::now();
        fault(cluster, &shard);
        fault_done.store(true, Ordering::SeqCst);
        let give_up = Instant::now() + Duration::from_secs(40);
        while healed.load(Ordering::SeqCst) < readers.len() && Instant::now() < give_up {
            std::thread::sleep(Duration::from_millis(20));
        }
        let sent = publisher.stop();
        publisher_done.store(true, Ordering::SeqCst);
        let seen: Vec<Seen> = readers.into_iter().map(|r| r.join().unwrap()).collect();
        (sent, seen, fault_at)
    });
    for ((label, _), seen) in subs.iter().zip(&seen) {
        assert!(
            seen.disconnects.iter().any(|(_, e)| check_error(e)),
            "{label}: the loss names its cause: {:?}",
            seen.disconnects
        );
        check_after_fault(label, seen, &sent, fault_at);
    }
}

#[test]
fn a_moved_slot_is_followed_to_its_new_owner() {
    let mut cluster = fast_cluster();
    through_a_fault(
        &mut cluster,
        Duration::from_secs(1),
        |cluster, shard| {
            let s = slot(shard[0].as_bytes());
            cluster.migrate_slot(s, 0, 1).unwrap();
        },
        |e| e.contains("moved"),
    );
}

#[test]
fn a_killed_primary_is_followed_to_its_promoted_replica() {
    let mut cluster = fast_cluster();
    through_a_fault(
        &mut cluster,
        Duration::from_secs(1),
        |cluster, shard| {
            let s = slot(shard[0].as_bytes());
            cluster.kill_node(0);
            // Node 3 replicates primary 0.
            assert_eq!(cluster.wait_for_new_primary(s, 0).unwrap(), 3);
        },
        |_| true,
    );
}

#[test]
fn a_frozen_primary_is_noticed_by_the_health_check() {
    let mut cluster = fast_cluster();
    through_a_fault(
        &mut cluster,
        Duration::from_millis(300),
        |cluster, shard| {
            let s = slot(shard[0].as_bytes());
            cluster.pause_node(0).unwrap();
            assert_eq!(cluster.wait_for_new_primary(s, 0).unwrap(), 3);
        },
        |e| e.contains("health check"),
    );
    cluster.resume_node(0).unwrap();
}

/// Kills, on every node, the clients with pattern subscriptions (the subscribers' broadcast
/// connections); returns how many.
fn kill_broadcast_connections(cluster: &Cluster) -> usize {
    let mut killed = 0;
    for node in cluster.nodes() {
        let Reply::Bulk(list) = node.command(&["CLIENT", "LIST"]).unwrap() else {
            panic!("CLIENT LIST")
        };
        for line in String::from_utf8(list).unwrap().lines() {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix(name))
                    .unwrap_or("")
                    .to_string()
            };
            if field("psub=") != "0" && !field("psub=").is_empty() {
                node.command(&["CLIENT", "KILL", "ID", &field("id=")])
                    .unwrap();
                killed += 1;
            }
        }
    }
    killed
}

#[test]
fn a_reset_broadcast_connection_is_resubscribed() {
    let mut cluster = fast_cluster();
    through_a_fault(
        &mut cluster,
        Duration::from_secs(1),
        |cluster, _| assert_eq!(kill_broadcast_connections(cluster), 2),
        |e| e.contains("closed"),
    );
}

#[test]
fn handlers_run_in_a_thread_and_in_a_task() {
    let cluster = fast_cluster();
    let mut publisher = client(&cluster, "resp3").get_connection().unwrap();
    let shard = channel_on(&cluster, 2, "h", 2);
    const N: u64 = 100;
    for is_async in [false, true] {
        let got: Arc<Mutex<BTreeMap<String, Vec<u64>>>> = Arc::default();
        let handler = |key: &str| {
            let (got, key) = (Arc::clone(&got), key.to_string());
            move |m: &valkey::pubsub::Message| {
                let n: u64 = m.payload_as().unwrap();
                got.lock().unwrap().entry(key.clone()).or_default().push(n);
            }
        };
        let handlers = valkey::pubsub::Handlers::new()
            .shard_channel(&shard[0], handler(&shard[0]))
            .shard_channel(&shard[1], handler(&shard[1]))
            .channel("news", handler("news"))
            .pattern("pa.*", handler("pa.*"));
        let c = client(&cluster, "resp3");
        let rt = rt();
        // Returns once every subscription is confirmed.
        let stop: Box<dyn FnOnce() -> valkey::Result<()>> = if is_async {
            let task = rt.block_on(async {
                let sub = c.get_async_pubsub().await.unwrap();
                sub.run(handlers).await.unwrap()
            });
            let handle = rt.handle().clone();
            Box::new(move || handle.block_on(task.stop()))
        } else {
            let thread = c.get_pubsub().unwrap().run_in_thread(handlers).unwrap();
            Box::new(move || thread.stop())
        };
        for i in 0..N {
            for ch in &shard {
                let _: i64 = publisher
                    .send_as(&Cmd::new("SPUBLISH").arg(ch).arg(i))
                    .unwrap();
            }
            for ch in ["news", "pa.x"] {
                let _: i64 = publisher
                    .send_as(&Cmd::new("PUBLISH").arg(ch).arg(i))
                    .unwrap();
            }
        }
        let end = Instant::now() + Duration::from_secs(20);
        while got.lock().unwrap().values().map(Vec::len).sum::<usize>() < 4 * N as usize
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        stop().unwrap();
        let got = got.lock().unwrap();
        for key in shard.iter().map(String::as_str).chain(["news", "pa.*"]) {
            let mut v = got.get(key).cloned().unwrap_or_default();
            // PUBLISH goes to any node and reaches ours over the cluster bus: only a shard
            // channel (one primary) keeps the publisher's order.
            if !shard.iter().any(|s| s == key) {
                v.sort_unstable();
            }
            assert_eq!(
                v,
                (0..N).collect::<Vec<_>>(),
                "async={is_async}: {key} through its handler, complete (in order for shard channels)"
            );
        }
    }
}
