//! A RESP3 subscriber sharing the async connection with ordinary commands, against a real
//! server: messages in order while other tasks run commands, confirmations never taken as
//! another caller's reply, the gap around a killed connection and a frozen server, overflow of a
//! consumer that falls behind, and RESP2 refused.

use std::time::{Duration, Instant};
use valkey::aio::MultiplexedConnection;
use valkey::cmd;
use valkey::pubsub::Event;
use valkey::{ConnectionInfo, ErrorKind, Protocol};
use valkey_tests::{Reply, Server, ServerOptions};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn publish(server: &Server, channel: &str, from: usize, n: usize) {
    let mut raw = server.raw().unwrap();
    let commands: Vec<Vec<String>> = (from..from + n)
        .map(|i| vec!["PUBLISH".into(), channel.into(), format!("{i}")])
        .collect();
    for chunk in commands.chunks(500) {
        for r in raw.pipeline(chunk).unwrap() {
            assert_eq!(r, Reply::Int(1), "one subscriber");
        }
    }
}

async fn next_message(sub: &mut valkey::aio::SharedSubscriber) -> (String, String) {
    match tokio::time::timeout(Duration::from_secs(10), sub.next()).await {
        Ok(Some(Event::Message(m))) => (
            String::from_utf8_lossy(m.channel()).into_owned(),
            m.payload_as::<String>().unwrap(),
        ),
        Ok(Some(other)) => panic!("expected a message, got {other:?}"),
        Ok(None) => panic!("the subscriber ended"),
        Err(_) => panic!("no message within 10 s"),
    }
}

#[test]
fn messages_flow_while_other_tasks_share_the_connection() {
    let server = ServerOptions::valkey().start().unwrap();
    rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        let mut sub = con.subscriber().unwrap();
        let e = con.subscriber().unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::InvalidInput,
            "one subscriber at a time"
        );
        let confirmed = sub.subscribe(["a", "b"]).await.unwrap();
        assert_eq!(confirmed.len(), 2);
        assert_eq!(sub.psubscribe(["p.*"]).await.unwrap().len(), 1);
        assert_eq!(sub.ssubscribe(["s"]).await.unwrap().len(), 1);
        // Other tasks keep running commands, each checking its own reply.
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let workers: Vec<_> = (0..16)
            .map(|t| {
                let con = con.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let tag = format!("{t}/{n}");
                        let v: String = con.send(cmd::echo(tag.as_str())).await.unwrap();
                        assert_eq!(v, tag);
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let s2 = &server;
        std::thread::scope(|scope| {
            scope.spawn(|| publish(s2, "a", 0, 2000));
        });
        for i in 0..2000 {
            assert_eq!(next_message(&mut sub).await, ("a".into(), i.to_string()));
        }
        server.command(&["PUBLISH", "p.x", "pat"]).unwrap();
        server.command(&["SPUBLISH", "s", "shard"]).unwrap();
        server.command(&["PUBLISH", "b", "last"]).unwrap();
        assert_eq!(next_message(&mut sub).await, ("p.x".into(), "pat".into()));
        assert_eq!(next_message(&mut sub).await, ("s".into(), "shard".into()));
        assert_eq!(next_message(&mut sub).await, ("b".into(), "last".into()));
        assert_eq!(sub.unsubscribe(["a"]).await.unwrap().len(), 1);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for w in workers {
            assert!(w.await.unwrap() > 0);
        }
        drop(sub);
        // Dropping it unsubscribed from everything; the connection goes on.
        let v: String = con.send(cmd::echo("after")).await.unwrap();
        assert_eq!(v, "after");
        let Reply::Array(n) = server.command(&["PUBSUB", "NUMSUB", "b"]).unwrap() else {
            panic!()
        };
        assert_eq!(n[1], Reply::Int(0));
    });
}

#[test]
fn a_killed_connection_resubscribes_and_reports_the_gap_in_band() {
    let server = ServerOptions::valkey().start().unwrap();
    rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        let mut sub = con.subscriber().unwrap();
        sub.subscribe(["a"]).await.unwrap();
        sub.psubscribe(["p.*"]).await.unwrap();
        let id: i64 = con.send(cmd::client_id()).await.unwrap();
        server
            .command(&["CLIENT", "KILL", "ID", &id.to_string()])
            .unwrap();
        let killed = Instant::now();
        let ev = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap();
        let Event::Disconnected(lost) = ev else {
            panic!("{ev:?}")
        };
        // The loss names the server (no command: it is the subscriber's connection).
        let addr = format!("{}:{}", server.host(), server.port());
        assert_eq!(
            lost.error.server_addr(),
            Some(addr.as_str()),
            "{}",
            lost.error
        );
        assert_eq!(lost.error.command(), None, "{}", lost.error);
        assert!(lost.error.to_string().starts_with(&format!("{addr}: ")));
        let ev = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(ev, Event::Gap(_)), "{ev:?}");
        assert!(
            killed.elapsed() < Duration::from_secs(2),
            "{:?}",
            killed.elapsed()
        );
        server.command(&["PUBLISH", "a", "back"]).unwrap();
        server.command(&["PUBLISH", "p.1", "pattern back"]).unwrap();
        assert_eq!(next_message(&mut sub).await, ("a".into(), "back".into()));
        assert_eq!(
            next_message(&mut sub).await,
            ("p.1".into(), "pattern back".into())
        );
    });
}

#[test]
fn a_frozen_server_is_noticed_by_an_idle_subscriber() {
    let mut server = ServerOptions::valkey().start().unwrap();
    let info = ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_response_timeout(Some(Duration::from_millis(500)));
    rt().block_on(async {
        let con = MultiplexedConnection::open(info).await.unwrap();
        let mut sub = con.subscriber().unwrap();
        sub.subscribe(["a"]).await.unwrap();
        server.pause().unwrap();
        let frozen = Instant::now();
        let ev = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .expect("noticed")
            .unwrap();
        assert!(matches!(ev, Event::Disconnected(_)), "{ev:?}");
        let noticed = frozen.elapsed();
        assert!(noticed < Duration::from_millis(2000), "{noticed:?}");
        server.resume().unwrap();
        let ev = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(ev, Event::Gap(_)), "{ev:?}");
        server.command(&["PUBLISH", "a", "x"]).unwrap();
        assert_eq!(next_message(&mut sub).await, ("a".into(), "x".into()));
        eprintln!("frozen server noticed after {noticed:?}");
    });
}

#[test]
fn a_consumer_that_falls_behind_gets_a_gap_not_a_silent_loss() {
    let server = ServerOptions::valkey().start().unwrap();
    rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        let mut sub = con.subscriber().unwrap();
        sub.subscribe(["a"]).await.unwrap();
        let total = valkey::aio::SHARED_SUBSCRIBER_CAPACITY + 1000;
        let s = &server;
        std::thread::scope(|scope| {
            scope.spawn(|| publish(s, "a", 0, total));
        });
        // Make sure everything arrived (a round trip after the last PUBLISH).
        let _: String = con.send(cmd::echo("sync")).await.unwrap();
        let mut received = 0;
        let mut gaps = 0;
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(500), sub.next()).await
        {
            match ev {
                Event::Message(_) => received += 1,
                Event::Gap(g) => {
                    gaps += 1;
                    assert!(g.cause.contains("dropped"), "{}", g.cause);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(received, valkey::aio::SHARED_SUBSCRIBER_CAPACITY);
        assert_eq!(gaps, 1, "the drop is reported once");
    });
}

#[test]
fn resp2_connections_cannot_share_a_subscriber() {
    let server = ServerOptions::valkey().start().unwrap();
    rt().block_on(async {
        let info = ConnectionInfo::from_url(&server.url())
            .unwrap()
            .with_protocol(Protocol::Resp2);
        let con = MultiplexedConnection::open(info).await.unwrap();
        let e = con.subscriber().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("get_async_pubsub"), "{e}");
    });
}
