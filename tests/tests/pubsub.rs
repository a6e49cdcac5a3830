//! Pub/sub against real servers, RESP2 and RESP3, blocking and async: 10,000 messages over
//! channels, patterns and shard channels in order; unsubscribing while receiving; handlers and
//! runners stopped cleanly; a killed-and-restarted server (the gap event, then everything flows);
//! a frozen server (noticed within twice the health-check interval); a slow consumer (bounded
//! memory, the server drops it, the gap is reported).

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use valkey::pubsub::{AsyncPubSub, Event, Family, Handlers, MessageKind, PubSub};
use valkey::sync::Connection;
use valkey::{Client, Cmd, ConnectionInfo, Protocol, Value};
use valkey_tests::{Proxy, Server, ServerOptions};

const PROTOCOLS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

fn info(server: &Server, protocol: Protocol) -> ConnectionInfo {
    ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_protocol(protocol)
}

fn info_url(url: &str, protocol: Protocol) -> ConnectionInfo {
    ConnectionInfo::from_url(url)
        .unwrap()
        .with_protocol(protocol)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// The blocking and the async subscriber behind one interface (the async one driven through
/// its own `get_message`, on a runtime of its own).
enum Sub {
    Sync(Box<PubSub>),
    Async(Box<AsyncPubSub>, tokio::runtime::Runtime),
}

impl Sub {
    fn open(client: &Client, is_async: bool) -> Sub {
        if is_async {
            let rt = rt();
            let s = rt.block_on(client.get_async_pubsub()).unwrap();
            Sub::Async(Box::new(s), rt)
        } else {
            Sub::Sync(Box::new(client.get_pubsub().unwrap()))
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Sub::Sync(_) => "sync",
            Sub::Async(..) => "async",
        }
    }

    fn interval(&mut self, d: Duration) {
        match self {
            Sub::Sync(s) => s.set_health_check_interval(Some(d)),
            Sub::Async(s, _) => s.set_health_check_interval(Some(d)),
        }
    }

    fn change(&mut self, family: Family, subscribe: bool, names: &[&str]) {
        let n = names.len();
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let r = match self {
            Sub::Sync(s) => match (family, subscribe) {
                (Family::Channel, true) => s.subscribe(names),
                (Family::Channel, false) => s.unsubscribe(names),
                (Family::Pattern, true) => s.psubscribe(names),
                (Family::Pattern, false) => s.punsubscribe(names),
                (Family::Shard, true) => s.ssubscribe(names),
                (Family::Shard, false) => s.sunsubscribe(names),
            },
            Sub::Async(s, rt) => rt.block_on(async {
                match (family, subscribe) {
                    (Family::Channel, true) => s.subscribe(names).await,
                    (Family::Channel, false) => s.unsubscribe(names).await,
                    (Family::Pattern, true) => s.psubscribe(names).await,
                    (Family::Pattern, false) => s.punsubscribe(names).await,
                    (Family::Shard, true) => s.ssubscribe(names).await,
                    (Family::Shard, false) => s.sunsubscribe(names).await,
                }
            }),
        };
        let confirmations = r.unwrap();
        if subscribe {
            assert_eq!(confirmations.len(), n, "{confirmations:?}");
            assert!(confirmations
                .iter()
                .all(|c| c.subscribed && c.family == family));
        }
    }

    fn try_change(
        &mut self,
        family: Family,
        subscribe: bool,
        names: &[&str],
    ) -> valkey::Result<Vec<valkey::pubsub::Confirmation>> {
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        assert!(subscribe && family != Family::Shard, "enough for the tests");
        match self {
            Sub::Sync(s) if family == Family::Channel => s.subscribe(names),
            Sub::Sync(s) => s.psubscribe(names),
            Sub::Async(s, rt) if family == Family::Channel => rt.block_on(s.subscribe(names)),
            Sub::Async(s, rt) => rt.block_on(s.psubscribe(names)),
        }
    }

    fn subscriptions(&self, family: Family) -> Vec<Bytes> {
        match self {
            Sub::Sync(s) => s.subscriptions(family),
            Sub::Async(s, _) => s.subscriptions(family),
        }
    }

    fn get(&mut self, timeout: Duration) -> Option<Event> {
        match self {
            Sub::Sync(s) => s.get_message(timeout).unwrap(),
            Sub::Async(s, rt) => rt.block_on(s.get_message(timeout)).unwrap(),
        }
    }
}

/// The 14 targets: 10 channels, 2 patterns (published to through a matching channel), 2 shard
/// channels. Returns (subscription family, name, the channel a publisher uses).
fn targets() -> Vec<(Family, String, String)> {
    let mut t: Vec<_> = (0..10)
        .map(|i| (Family::Channel, format!("ch{i}"), format!("ch{i}")))
        .collect();
    t.push((Family::Pattern, "pa.*".into(), "pa.x".into()));
    t.push((Family::Pattern, "pb.*".into(), "pb.y".into()));
    t.push((Family::Shard, "sh{0}".into(), "sh{0}".into()));
    t.push((Family::Shard, "sh{1}".into(), "sh{1}".into()));
    t
}

fn subscribe_all(sub: &mut Sub) {
    let t = targets();
    for family in [Family::Channel, Family::Pattern, Family::Shard] {
        let names: Vec<&str> = t
            .iter()
            .filter(|x| x.0 == family)
            .map(|x| x.1.as_str())
            .collect();
        sub.change(family, true, &names);
    }
}

/// A binary payload carrying a sequence number: `\0\r\n` around it, so nothing text-only
/// survives.
fn payload(seq: u32) -> Vec<u8> {
    let mut p = b"\x00\r\n".to_vec();
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(b"\xff");
    p
}

fn seq_of(payload: &[u8]) -> u32 {
    assert_eq!(&payload[..3], b"\x00\r\n", "binary prefix intact");
    assert_eq!(payload[7], 0xff, "binary suffix intact");
    u32::from_be_bytes(payload[3..7].try_into().unwrap())
}

fn publish_cmd(family: Family, channel: &str, p: Vec<u8>) -> Cmd {
    let name = if family == Family::Shard {
        "SPUBLISH"
    } else {
        "PUBLISH"
    };
    Cmd::new(name).arg(channel).arg(p)
}

/// Which target a message is for.
fn target_of(m: &valkey::pubsub::Message, t: &[(Family, String, String)]) -> usize {
    let key: &Bytes = match m.kind() {
        MessageKind::PMessage => m.pattern().unwrap(),
        _ => m.channel(),
    };
    t.iter()
        .position(|x| x.1.as_bytes() == key.as_ref())
        .unwrap_or_else(|| panic!("unexpected message {m:?}"))
}

#[test]
fn ten_thousand_messages_over_channels_patterns_and_shards_arrive_in_order() {
    let server = ServerOptions::valkey().start().unwrap();
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(info(&server, protocol)).unwrap();
            let mut sub = Sub::open(&client, is_async);
            subscribe_all(&mut sub);
            let t = targets();
            const N: usize = 10_000;
            let publisher = {
                let t = t.clone();
                let client = client.clone();
                std::thread::spawn(move || {
                    let mut con = client.get_connection().unwrap();
                    let cmds: Vec<Cmd> = (0..N)
                        .map(|i| {
                            let (family, _, ch) = &t[i % t.len()];
                            publish_cmd(*family, ch, payload((i / t.len()) as u32))
                        })
                        .collect();
                    for chunk in cmds.chunks(500) {
                        let replies: Vec<Value> = con.pipe(chunk.to_vec()).unwrap();
                        assert!(
                            replies.iter().all(|r| *r == Value::Int(1)),
                            "one subscriber each"
                        );
                    }
                })
            };
            let started = Instant::now();
            let mut next = vec![0u32; t.len()];
            let mut got = 0;
            while got < N {
                match sub.get(Duration::from_secs(5)) {
                    Some(Event::Message(m)) => {
                        let i = target_of(&m, &t);
                        assert_eq!(seq_of(m.payload()), next[i], "in order on {}", t[i].1);
                        if t[i].0 == Family::Pattern {
                            assert_eq!(m.channel().as_ref(), t[i].2.as_bytes());
                        }
                        next[i] += 1;
                        got += 1;
                    }
                    other => panic!("{other:?} after {got} messages"),
                }
            }
            let secs = started.elapsed().as_secs_f64();
            publisher.join().unwrap();
            assert!(
                sub.get(Duration::from_millis(50)).is_none(),
                "no duplicates"
            );
            println!(
                "{protocol:?} {}: {N} messages over 14 subscriptions in {:.0} ms ({:.0} msg/s), \
                 none lost, duplicated or out of order",
                sub.name(),
                secs * 1e3,
                N as f64 / secs
            );
        }
    }
}

#[test]
fn redis_7_serves_the_same_subscribers() {
    let server = ServerOptions::redis().start().unwrap();
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(info(&server, protocol)).unwrap();
            let mut sub = Sub::open(&client, is_async);
            subscribe_all(&mut sub);
            let t = targets();
            let cmds: Vec<Cmd> = (0..t.len() * 10)
                .map(|i| {
                    let (family, _, ch) = &t[i % t.len()];
                    publish_cmd(*family, ch, payload((i / t.len()) as u32))
                })
                .collect();
            let _: Vec<Value> = client.get_connection().unwrap().pipe(cmds).unwrap();
            let mut next = vec![0u32; t.len()];
            for _ in 0..t.len() * 10 {
                let Some(Event::Message(m)) = sub.get(Duration::from_secs(5)) else {
                    panic!("a message")
                };
                let i = target_of(&m, &t);
                assert_eq!(seq_of(m.payload()), next[i]);
                next[i] += 1;
            }
            sub.interval(Duration::from_millis(100));
            assert!(
                sub.get(Duration::from_millis(350)).is_none(),
                "pings answered"
            );
        }
    }
}

#[test]
fn unsubscribing_from_some_while_receiving_others() {
    let server = ServerOptions::valkey().start().unwrap();
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(info(&server, protocol)).unwrap();
            let mut publisher = client.get_connection().unwrap();
            let mut sub = Sub::open(&client, is_async);
            sub.change(Family::Channel, true, &["a", "b", "c"]);
            sub.change(Family::Pattern, true, &["p.*"]);
            sub.change(Family::Shard, true, &["s"]);
            let publish_all = |con: &mut Connection, tag: &str| {
                let cmds = vec![
                    Cmd::new("PUBLISH").arg("a").arg(tag),
                    Cmd::new("PUBLISH").arg("b").arg(tag),
                    Cmd::new("PUBLISH").arg("c").arg(tag),
                    Cmd::new("PUBLISH").arg("p.1").arg(tag),
                    Cmd::new("SPUBLISH").arg("s").arg(tag),
                ];
                let _: Vec<Value> = con.pipe(cmds).unwrap();
            };
            publish_all(&mut publisher, "before");
            // Unsubscribed while the "before" messages wait unread: they still arrive.
            sub.change(Family::Channel, false, &["b"]);
            sub.change(Family::Pattern, false, &[]);
            sub.change(Family::Shard, false, &["s"]);
            publish_all(&mut publisher, "after");
            let mut seen = Vec::new();
            while let Some(e) = sub.get(Duration::from_millis(300)) {
                let Event::Message(m) = e else {
                    panic!("{e:?}")
                };
                seen.push(format!(
                    "{}:{}",
                    String::from_utf8_lossy(m.channel()),
                    m.payload_as::<String>().unwrap()
                ));
            }
            assert_eq!(
                seen,
                [
                    "a:before",
                    "b:before",
                    "c:before",
                    "p.1:before",
                    "s:before",
                    "a:after",
                    "c:after"
                ],
                "{protocol:?} {}",
                sub.name()
            );
        }
    }
}

/// Publishes a sequence-numbered message to every target every 20 ms until `stop`,
/// reconnecting as needed (the server may be down).
fn keep_publishing(client: Client, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let t = targets();
        let mut con: Option<Connection> = None;
        let mut seq = 0u32;
        while !stop.load(Ordering::Relaxed) {
            if con.is_none() {
                con = client.get_connection().ok();
            }
            if let Some(c) = con.as_mut() {
                let cmds: Vec<Cmd> = t
                    .iter()
                    .map(|(f, _, ch)| publish_cmd(*f, ch, payload(seq)))
                    .collect();
                if c.pipe::<Vec<Cmd>>(cmds).is_err() {
                    con = None;
                }
                seq += 1;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
}

#[test]
fn a_killed_and_restarted_server_gives_a_gap_then_everything_flows_again() {
    let mut server = ServerOptions::valkey().start().unwrap();
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(info(&server, protocol)).unwrap();
            let mut sub = Sub::open(&client, is_async);
            subscribe_all(&mut sub);
            let stop = Arc::new(AtomicBool::new(false));
            let publisher = keep_publishing(client.clone(), Arc::clone(&stop));
            // Messages flow.
            assert!(matches!(
                sub.get(Duration::from_secs(2)),
                Some(Event::Message(_))
            ));
            server.kill();
            let killed = Instant::now();
            // What was buffered before the kill, then the loss.
            let lost = loop {
                match sub.get(Duration::from_secs(3)) {
                    Some(Event::Message(_)) => {}
                    Some(Event::Disconnected(d)) => break d,
                    other => panic!("{other:?}"),
                }
            };
            let noticed = killed.elapsed();
            std::thread::sleep(Duration::from_millis(300));
            server.restart().unwrap();
            let answering = Instant::now();
            let gap = match sub.get(Duration::from_secs(3)) {
                Some(Event::Gap(g)) => g,
                other => panic!("expected the gap first, got {other:?}"),
            };
            let resubscribed = answering.elapsed();
            assert!(gap.lost_at <= gap.resubscribed_at);
            assert_eq!(gap.lost_at, lost.at);
            let t = targets();
            let mut flowing = vec![false; t.len()];
            while flowing.iter().any(|f| !f) {
                match sub.get(Duration::from_secs(2)) {
                    Some(Event::Message(m)) => flowing[target_of(&m, &t)] = true,
                    other => panic!("{other:?} (flowing: {flowing:?})"),
                }
            }
            let all_flowing = answering.elapsed();
            stop.store(true, Ordering::Relaxed);
            publisher.join().unwrap();
            assert!(
                all_flowing < Duration::from_secs(2),
                "everything flows within 2 s of the server answering: {all_flowing:?}"
            );
            println!(
                "{protocol:?} {}: loss noticed {noticed:?} after the kill; gap event \
                 {resubscribed:?} and all 14 subscriptions flowing {all_flowing:?} after the \
                 restarted server answered",
                sub.name()
            );
        }
    }
}

#[test]
fn a_frozen_server_is_noticed_within_twice_the_health_check_interval() {
    let mut server = ServerOptions::valkey().start().unwrap();
    let interval = Duration::from_millis(400);
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(info(&server, protocol)).unwrap();
            let mut sub = Sub::open(&client, is_async);
            sub.interval(interval);
            sub.change(Family::Channel, true, &["idle"]);
            sub.change(Family::Shard, true, &["idle-s"]);
            // Idle for a few intervals: pings answered, nothing reported.
            assert!(sub.get(interval * 3).is_none());
            server.pause().unwrap();
            let paused = Instant::now();
            let d = match sub.get(interval * 4) {
                Some(Event::Disconnected(d)) => d,
                other => panic!("{other:?}"),
            };
            let noticed = paused.elapsed();
            assert!(d.error.is_timeout(), "{}", d.error);
            // The loss names the server and says how long it was silent.
            let addr = format!("{}:{}", server.host(), server.port());
            assert_eq!(d.error.server_addr(), Some(addr.as_str()), "{}", d.error);
            assert!(
                d.error.to_string().contains(&format!("{interval:?}")),
                "{}",
                d.error
            );
            assert!(
                noticed <= interval * 2 + Duration::from_millis(300),
                "noticed after {noticed:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
            server.resume().unwrap();
            let resumed = Instant::now();
            let g = match sub.get(Duration::from_secs(5)) {
                Some(Event::Gap(g)) => g,
                other => panic!("{other:?}"),
            };
            let back = resumed.elapsed();
            let n: i64 = client
                .get_connection()
                .unwrap()
                .send(Cmd::new("PUBLISH").arg("idle").arg("hi").returning())
                .unwrap();
            assert_eq!(n, 1, "one subscriber again (the old socket was closed)");
            assert!(
                matches!(sub.get(Duration::from_secs(2)), Some(Event::Message(m)) if m.payload() == "hi")
            );
            println!(
                "{protocol:?} {}: frozen server noticed {noticed:?} after SIGSTOP (interval \
                 {interval:?}); gap closed {back:?} after SIGCONT ({})",
                sub.name(),
                g.cause
            );
        }
    }
}

#[test]
fn a_half_open_connection_is_noticed_and_replaced() {
    let server = ServerOptions::valkey().start().unwrap();
    let proxy = Proxy::start(server.addr()).unwrap();
    let interval = Duration::from_millis(300);
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(
                ConnectionInfo::from_url(&proxy.url())
                    .unwrap()
                    .with_protocol(protocol),
            )
            .unwrap();
            let mut sub = Sub::open(&client, is_async);
            sub.interval(interval);
            sub.change(Family::Pattern, true, &["half.*"]);
            assert!(sub.get(interval * 2).is_none());
            // The network path drops everything, both ways; the sockets stay open.
            proxy.freeze();
            let frozen = Instant::now();
            let d = match sub.get(interval * 4) {
                Some(Event::Disconnected(d)) => d,
                other => panic!("{other:?}"),
            };
            let noticed = frozen.elapsed();
            assert!(d.error.is_timeout(), "{}", d.error);
            assert!(
                noticed <= interval * 2 + Duration::from_millis(300),
                "{noticed:?}"
            );
            proxy.thaw();
            let thawed = Instant::now();
            assert!(matches!(
                sub.get(Duration::from_secs(5)),
                Some(Event::Gap(_))
            ));
            let back = thawed.elapsed();
            let _: i64 = Connection::open(server.url())
                .unwrap()
                .send(Cmd::new("PUBLISH").arg("half.1").arg("x").returning())
                .unwrap();
            assert!(matches!(
                sub.get(Duration::from_secs(2)),
                Some(Event::Message(_))
            ));
            println!(
                "{protocol:?} {}: half-open path noticed {noticed:?} after the freeze \
                 (interval {interval:?}); resubscribed {back:?} after it healed",
                sub.name()
            );
        }
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn a_slow_consumer_stays_bounded_and_is_told_about_the_gap() {
    // Small output-buffer limits, so the server gives up on the consumer quickly. A RESP3
    // subscriber is a `normal` client to the server (only RESP2 ones are `pubsub`), so both.
    let server = ServerOptions::valkey()
        .config("client-output-buffer-limit normal 4mb 1mb 1 pubsub 4mb 1mb 1")
        .start()
        .unwrap();
    // 8 KiB payloads: large ones may be queued by reference (Valkey's reply copy avoidance) and
    // then count little against the output-buffer limit.
    const PAYLOAD: usize = 8 * 1024;
    const COUNT: u32 = 6144; // 48 MiB
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(info(&server, protocol)).unwrap();
            let mut sub = Sub::open(&client, is_async);
            sub.change(Family::Channel, true, &["firehose"]);
            let before = rss_bytes();
            let mut publisher = client.get_connection().unwrap();
            let started = Instant::now();
            for chunk in (0..COUNT).collect::<Vec<_>>().chunks(128) {
                let cmds: Vec<Cmd> = chunk
                    .iter()
                    .map(|&i| {
                        let mut p = payload(i);
                        p.resize(PAYLOAD, b'x');
                        Cmd::new("PUBLISH").arg("firehose").arg(p)
                    })
                    .collect();
                let _: Vec<Value> = publisher.pipe(cmds).unwrap();
            }
            // The consumer looks away for a while.
            std::thread::sleep(Duration::from_secs(2).saturating_sub(started.elapsed()));
            let mut received = 0u32;
            let mut events = Vec::new();
            let mut peak = 0;
            loop {
                match sub.get(Duration::from_secs(3)) {
                    Some(Event::Message(m)) => {
                        assert_eq!(seq_of(m.payload()), received, "in order before the gap");
                        assert_eq!(m.payload().len(), PAYLOAD);
                        received += 1;
                    }
                    Some(Event::Disconnected(_)) => events.push("disconnected"),
                    Some(Event::Gap(_)) => {
                        events.push("gap");
                        break;
                    }
                    other => panic!("{other:?} after {received} messages"),
                }
                peak = peak.max(rss_bytes().saturating_sub(before));
            }
            assert_eq!(events, ["disconnected", "gap"]);
            assert!(received < COUNT, "the server dropped the slow consumer");
            assert!(
                peak < 16 << 20,
                "memory grew by {} MiB while 48 MiB were published",
                peak >> 20
            );
            // And the subscriber works again.
            let n: i64 = publisher
                .send(
                    Cmd::new("PUBLISH")
                        .arg("firehose")
                        .arg(payload(0))
                        .returning(),
                )
                .unwrap();
            assert_eq!(n, 1);
            println!(
                "{protocol:?} {}: 48 MiB published to a consumer that slept 2 s: {received} of \
                 {COUNT} messages read in order, then Disconnected + Gap; client RSS grew by at \
                 most {:.1} MiB",
                sub.name(),
                peak as f64 / (1 << 20) as f64
            );
        }
    }
}

#[test]
fn handlers_run_in_a_thread_and_a_task_and_stop_cleanly() {
    let mut server = ServerOptions::valkey().start().unwrap();
    for protocol in PROTOCOLS {
        let client = Client::open(info(&server, protocol)).unwrap();
        let counts: Arc<Mutex<HashMap<&'static str, usize>>> = Arc::default();
        let gaps = Arc::new(AtomicUsize::new(0));
        let handlers = || {
            let c1 = Arc::clone(&counts);
            let c2 = Arc::clone(&counts);
            let c3 = Arc::clone(&counts);
            let g = Arc::clone(&gaps);
            Handlers::new()
                .channel("news", move |m| {
                    assert_eq!(m.kind(), MessageKind::Message);
                    *c1.lock().unwrap().entry("news").or_default() += 1;
                })
                .pattern("sport.*", move |m| {
                    assert_eq!(m.pattern().unwrap().as_ref(), b"sport.*");
                    *c2.lock().unwrap().entry("sport").or_default() += 1;
                })
                .shard_channel("orders", move |m| {
                    assert_eq!(m.kind(), MessageKind::SMessage);
                    *c3.lock().unwrap().entry("orders").or_default() += 1;
                })
                .on_event(move |e| {
                    if matches!(e, Event::Gap(_)) {
                        g.fetch_add(1, Ordering::Relaxed);
                    }
                })
        };
        let url = server.url();
        let publish = |n: i64| {
            let mut con = Connection::open(url.as_str()).unwrap();
            let r: Vec<Value> = con
                .pipe(vec![
                    Cmd::new("PUBLISH").arg("news").arg("x"),
                    Cmd::new("PUBLISH").arg("sport.tennis").arg("x"),
                    Cmd::new("SPUBLISH").arg("orders").arg("x"),
                ])
                .unwrap();
            assert_eq!(r, vec![Value::Int(n); 3]);
        };
        let wait_for = |want: usize| {
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                let c = counts.lock().unwrap();
                if ["news", "sport", "orders"]
                    .iter()
                    .all(|k| c.get(k).copied().unwrap_or(0) >= want)
                {
                    return;
                }
                drop(c);
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("handlers saw {:?}", counts.lock().unwrap());
        };

        let thread = client
            .get_pubsub()
            .unwrap()
            .run_in_thread(handlers())
            .unwrap();
        let rt = rt();
        let task = rt
            .block_on(async {
                client
                    .get_async_pubsub()
                    .await
                    .unwrap()
                    .run(handlers())
                    .await
            })
            .unwrap();
        publish(2);
        wait_for(2);
        // Both ride out a restart, and report it to their event handler.
        server.restart().unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while gaps.load(Ordering::Relaxed) < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(gaps.load(Ordering::Relaxed), 2, "one gap per runner");
        publish(2);
        wait_for(4);
        let started = Instant::now();
        thread.stop().unwrap();
        rt.block_on(task.stop()).unwrap();
        println!(
            "{protocol:?}: thread and task runners stopped in {:?}",
            started.elapsed()
        );
        // Their connections are closed (the server may take a moment to notice).
        let mut con = Connection::open(server.url()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let n: i64 = con
                .send(Cmd::new("PUBLISH").arg("news").arg("x").returning())
                .unwrap();
            if n == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "{n} subscribers left");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[test]
fn a_refused_subscription_is_an_error_and_is_not_asked_again() {
    // `bob` may use the `ok*` channels only.
    let server = ServerOptions::valkey()
        .acl_user("bob on >pw ~* resetchannels &ok* +@all")
        .start()
        .unwrap();
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let url = format!("valkey://bob:pw@127.0.0.1:{}", server.port());
            let client = Client::open(info_url(&url, protocol)).unwrap();
            let mut sub = Sub::open(&client, is_async);
            sub.change(Family::Channel, true, &["ok1"]);
            let e = sub
                .try_change(Family::Channel, true, &["secret"])
                .unwrap_err();
            assert_eq!(e.code(), Some("NOPERM"), "{e}");
            let e = sub.try_change(Family::Pattern, true, &["se*"]).unwrap_err();
            assert_eq!(e.code(), Some("NOPERM"), "{e}");
            // Still in step: the allowed channel flows, and only it is subscribed.
            server.command(&["PUBLISH", "ok1", "fine"]).unwrap();
            let Some(Event::Message(m)) = sub.get(Duration::from_secs(2)) else {
                panic!("a message")
            };
            assert_eq!(m.payload().as_ref(), b"fine");
            assert_eq!(sub.subscriptions(Family::Channel), ["ok1"]);
            assert!(sub.subscriptions(Family::Pattern).is_empty());
        }
    }
}

#[test]
fn listen_and_next_yield_the_stream() {
    let server = ServerOptions::valkey().start().unwrap();
    let client = Client::open(server.url()).unwrap();
    let mut sub = client.get_pubsub().unwrap();
    sub.subscribe(["l1", "l2"]).unwrap();
    let rt = rt();
    let mut asub = rt.block_on(client.get_async_pubsub()).unwrap();
    rt.block_on(asub.psubscribe("l*")).unwrap();
    for i in 0..10 {
        server
            .command(&[
                "PUBLISH",
                if i % 2 == 0 { "l1" } else { "l2" },
                &i.to_string(),
            ])
            .unwrap();
    }
    let got: Vec<i64> = sub
        .listen()
        .take(10)
        .map(|e| match e.unwrap() {
            Event::Message(m) => m.payload_as().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(got, (0..10).collect::<Vec<_>>());
    let got: Vec<i64> = rt.block_on(async {
        let mut v = Vec::new();
        while v.len() < 10 {
            match asub.next().await.unwrap() {
                Event::Message(m) => v.push(m.payload_as().unwrap()),
                other => panic!("{other:?}"),
            }
        }
        v
    });
    assert_eq!(got, (0..10).collect::<Vec<_>>());
}

#[test]
fn a_runner_returns_the_error_it_died_of() {
    let server = ServerOptions::valkey().start().unwrap();
    let client = Client::open(server.url()).unwrap();
    let thread = client
        .get_pubsub()
        .unwrap()
        .run_in_thread(Handlers::new().channel("boom", |_| panic!("handler failed")))
        .unwrap();
    let _: i64 = Connection::open(server.url())
        .unwrap()
        .send(Cmd::new("PUBLISH").arg("boom").arg("x").returning())
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !thread.is_finished() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let e = thread.stop().unwrap_err();
    assert!(e.to_string().contains("handler failed"), "{e}");
}
