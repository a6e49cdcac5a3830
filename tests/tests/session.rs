//! Commands that change their own connection, against real servers: what the shared async
//! connection refuses (and that it stays in step), what the blocking connection tracks and
//! restores after a reconnect, what the pool resets, WAIT on the connection that wrote, the
//! WATCH helper across a killed connection, argument-aware blocking, and encoder integrity.

use std::time::{Duration, Instant};
use valkey::aio::MultiplexedConnection;
use valkey::cmd::{self, ClientReplyAction};
use valkey::pipeline::Durability;
use valkey::sync::{Connection, PoolConfig};
use valkey::{Client, Cmd, ConnectionInfo, ErrorKind, Protocol, ToValkeyArgs, Value};
use valkey_tests::{Reply, Server, ServerOptions};

const PROTOCOLS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

fn start() -> Server {
    ServerOptions::valkey()
        .config("enable-debug-command yes")
        .start()
        .expect("server starts")
}

fn info(server: &Server, protocol: Protocol) -> ConnectionInfo {
    ConnectionInfo::from_url(&server.url())
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

/// Kills the server-side client with id `id` from a harness connection.
fn kill_client(server: &Server, id: i64) {
    let r = server
        .command(&["CLIENT", "KILL", "ID", &id.to_string()])
        .unwrap();
    assert_eq!(r, Reply::Int(1), "CLIENT KILL ID {id}");
}

/// Every caller on one shared connection gets its own value back.
async fn in_step(con: &MultiplexedConnection, tag: &str) {
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let con = con.clone();
            let key = format!("{tag}:{i}");
            tokio::spawn(async move {
                con.send(cmd::set(key.as_str(), key.as_str()))
                    .await
                    .unwrap();
                let v: Option<String> = con.send(cmd::get(key.as_str())).await.unwrap();
                assert_eq!(v.as_deref(), Some(key.as_str()));
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

#[test]
fn the_shared_connection_refuses_session_commands_and_stays_in_step() {
    let server = start();
    for protocol in PROTOCOLS {
        rt().block_on(async {
            let con = MultiplexedConnection::open(info(&server, protocol))
                .await
                .unwrap();
            let refusals = [
                con.send(cmd::subscribe(["news"])).await.err(),
                con.send(cmd::client_reply(ClientReplyAction::Skip))
                    .await
                    .err(),
                con.send(cmd::client_reply(ClientReplyAction::Off))
                    .await
                    .err(),
                con.send(cmd::multi()).await.err(),
                con.send(cmd::select(3)).await.err(),
                con.send(cmd::watch(["k"])).await.err(),
                con.send(cmd::wait(1, 100)).await.err(),
                con.send(Cmd::new("SUBSCRIBE").arg("raw")).await.err(),
                con.send(Cmd::new("monitor")).await.err(),
                con.pipe((cmd::multi(), cmd::incr("x"))).await.err(),
                con.pipe((cmd::get::<_, String>("k"), cmd::select(2)))
                    .await
                    .err(),
            ];
            for (i, e) in refusals.into_iter().enumerate() {
                let e = e.unwrap_or_else(|| panic!("refusal #{i} was accepted ({protocol:?})"));
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "#{i}: {e}");
                assert!(e.to_string().contains("nothing was sent"), "#{i}: {e}");
            }
            let e = con.send(cmd::select(3)).await.unwrap_err();
            assert!(e.to_string().contains("with_db"), "{e}");
            in_step(&con, &format!("refused:{protocol:?}")).await;
            let e = con.send(cmd::wait(1, 100)).await.unwrap_err();
            assert!(e.to_string().contains("pipe_durable"), "{e}");
            // Nothing of the refused commands reached the server.
            assert_eq!(server.command(&["PUBSUB", "NUMSUB", "news"]).unwrap(), {
                Reply::Array(vec![Reply::Bulk(b"news".to_vec()), Reply::Int(0)])
            });
        });
    }
}

#[test]
fn a_blocking_connection_subscribes_and_keeps_messages_apart_from_replies() {
    let server = start();
    for protocol in PROTOCOLS {
        let mut con = Connection::open(info(&server, protocol)).unwrap();
        let started = Instant::now();
        let confirmed: Value = con.send(cmd::subscribe(["news", "sport"])).unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        let Value::Array(c) = confirmed else {
            panic!("{confirmed:?}")
        };
        assert_eq!(c.len(), 2, "one confirmation per channel ({protocol:?})");
        server.command(&["PUBLISH", "news", "hello"]).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        // RESP2 answers PING with ["pong", ""] while subscribed; either way, not the message.
        let pong: Value = con.send_as(&cmd::ping()).unwrap();
        assert!(
            !format!("{pong:?}").contains("hello"),
            "PING got the message: {pong:?}"
        );
        let pushes = con.take_pushes();
        assert!(
            format!("{pushes:?}").contains("hello"),
            "the message is kept for take_pushes ({protocol:?}): {pushes:?}"
        );
        let _: Value = con.send(cmd::unsubscribe()).unwrap();
        let v: Option<String> = con.send(cmd::get("nothing")).unwrap();
        assert_eq!(v, None, "{protocol:?}");
        let e = con
            .send(cmd::client_reply(ClientReplyAction::Off))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let v: Option<String> = con.send(cmd::get("nothing")).unwrap();
        assert_eq!(v, None);
    }
}

#[test]
fn select_name_and_readonly_survive_a_reconnect_of_the_blocking_connection() {
    let server = start();
    for protocol in PROTOCOLS {
        let mut con = Connection::open(info(&server, protocol)).unwrap();
        con.send(cmd::select(3)).unwrap();
        con.send(cmd::client_setname("tracked")).unwrap();
        con.send(cmd::set("db3key", "three")).unwrap();
        let id: i64 = con.send(cmd::client_id()).unwrap();
        kill_client(&server, id);
        // The command in flight when the socket died may or may not have run.
        let e = con.send(cmd::get::<_, String>("db3key")).unwrap_err();
        assert!(e.is_unclear() || e.is_not_sent(), "{e:?}");
        let v: Option<String> = con.send(cmd::get("db3key")).unwrap();
        assert_eq!(
            v.as_deref(),
            Some("three"),
            "reconnected to db 3 ({protocol:?})"
        );
        let name: Option<String> = con.send(cmd::client_getname()).unwrap();
        assert_eq!(name.as_deref(), Some("tracked"));
        assert_eq!(con.connection_info().db, 3);
    }
}

#[test]
fn reset_and_hello_on_a_blocking_connection_keep_it_usable() {
    let server = start();
    for protocol in PROTOCOLS {
        let mut con = Connection::open(info(&server, protocol).with_client_name("me")).unwrap();
        con.send(cmd::select(4)).unwrap();
        con.send(cmd::watch(["w"])).unwrap();
        let reset: String = con.send(cmd::reset()).unwrap();
        assert_eq!(reset, "RESET");
        assert_eq!(
            con.connection_info().db,
            0,
            "back to the configured session"
        );
        let name: Option<String> = con.send(cmd::client_getname()).unwrap();
        assert_eq!(name.as_deref(), Some("me"), "greeted again after RESET");
        assert_eq!(con.server_info().protocol, protocol);
        let hello: Value = con.send(cmd::hello().protover(2)).unwrap();
        assert!(format!("{hello:?}").contains("proto"), "{hello:?}");
        assert_eq!(con.server_info().protocol, Protocol::Resp2);
        let id: i64 = con.send(cmd::client_id()).unwrap();
        kill_client(&server, id);
        let _ = con.send(cmd::ping());
        let _: Value = con.send_as(&cmd::ping()).unwrap();
        assert_eq!(
            con.connection_info().protocol,
            Protocol::Resp2,
            "HELLO 2 is kept"
        );
    }
}

#[test]
fn the_pool_resets_what_a_user_left_behind() {
    let server = start();
    for protocol in PROTOCOLS {
        let pool = Client::open(info(&server, protocol))
            .unwrap()
            .pool(PoolConfig::default().max_size(1))
            .unwrap();
        server.command(&["SET", "k0", "zero"]).unwrap();
        {
            let mut con = pool.get().unwrap();
            con.send(cmd::select(3)).unwrap();
        }
        {
            let mut con = pool.get().unwrap();
            let v: Option<String> = con.send(cmd::get("k0")).unwrap();
            assert_eq!(v.as_deref(), Some("zero"), "back on db 0 ({protocol:?})");
            con.send(cmd::multi()).unwrap();
        }
        {
            let mut con = pool.get().unwrap();
            let v: Option<String> = con.send(cmd::get("k0")).unwrap();
            assert_eq!(v.as_deref(), Some("zero"), "not QUEUED in a leftover MULTI");
            con.send(cmd::watch(["k0"])).unwrap();
        }
        server.command(&["SET", "k0", "changed"]).unwrap();
        {
            let mut con = pool.get().unwrap();
            let (v,): (i64,) = con.transaction((cmd::incr("n"),)).unwrap();
            assert!(
                v >= 1,
                "a leftover WATCH does not abort the next user's EXEC"
            );
            let _: Value = con.send(cmd::subscribe(["ch"])).unwrap();
        }
        {
            let mut con = pool.get().unwrap();
            let v: Option<String> = con.send(cmd::get("k0")).unwrap();
            assert_eq!(v.as_deref(), Some("changed"), "not a subscriber any more");
        }
        assert_eq!(pool.size(), 1, "reset, not replaced");
    }
}

#[test]
fn pooled_connections_the_server_closed_while_idle_are_not_handed_out() {
    let server = start();
    let pool = Client::open(server.url())
        .unwrap()
        .pool(PoolConfig::default().max_size(2))
        .unwrap();
    let id: i64 = pool.get().unwrap().send(cmd::client_id()).unwrap();
    kill_client(&server, id);
    std::thread::sleep(Duration::from_millis(50));
    let mut con = pool.get().unwrap();
    let v: Option<String> = con.send(cmd::get("nothing")).unwrap();
    assert_eq!(
        v, None,
        "the first command on a checked-out connection works"
    );
}

/// A primary with one replica, linked.
fn primary_and_replica() -> (Server, Server) {
    let primary = start();
    let replica = ServerOptions::valkey()
        .config(format!("replicaof 127.0.0.1 {}", primary.port()))
        .start()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let Reply::Bulk(info) = primary.command(&["INFO", "replication"]).unwrap() else {
            panic!("INFO")
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        if info.contains("state=online") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica never came online: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (primary, replica)
}

#[test]
fn wait_counts_the_writes_of_its_own_connection_and_sees_a_frozen_replica() {
    let (primary, mut replica) = primary_and_replica();
    let one = Durability::Replicas {
        count: 1,
        timeout: Duration::from_millis(2000),
    };
    rt().block_on(async {
        let con = MultiplexedConnection::open(primary.url()).await.unwrap();
        let ((), acks) = con
            .pipe_durable((cmd::set("d", "1"),), one)
            .await
            .map(|((s,), a)| (s, a))
            .unwrap();
        assert_eq!(acks.replicas, 1, "a live replica acknowledges");
    });
    replica.pause().unwrap();
    let short = Durability::Replicas {
        count: 1,
        timeout: Duration::from_millis(500),
    };
    rt().block_on(async {
        let con = MultiplexedConnection::open(primary.url()).await.unwrap();
        let started = Instant::now();
        let (_, acks) = con
            .pipe_durable((cmd::set("d", "2"),), short)
            .await
            .unwrap();
        assert_eq!(acks.replicas, 0, "a frozen replica acknowledges nothing");
        assert!(started.elapsed() >= Duration::from_millis(450));
    });
    let mut sync = Connection::open(primary.url()).unwrap();
    sync.send(cmd::set("d", "3")).unwrap();
    let n: i64 = sync.send(cmd::wait(1, 500)).unwrap();
    assert_eq!(n, 0, "WAIT runs on the connection that wrote");
    let (_, acks) = sync.pipe_durable((cmd::set("d", "4"),), short).unwrap();
    assert_eq!(acks.replicas, 0);
    replica.resume().unwrap();
}

#[test]
fn the_async_watch_helper_never_commits_unwatched_after_a_killed_connection() {
    let server = start();
    rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        con.send(cmd::set("balance", "0")).await.unwrap();
        let mut attempt = 0;
        let result = con
            .watch(&"balance", Default::default(), |c| {
                attempt += 1;
                let first = attempt == 1;
                let server = &server;
                async move {
                    let v: Option<i64> = c.send(cmd::get("balance")).await?;
                    if first {
                        // Another client writes, and the watching connection dies.
                        server.command(&["SET", "balance", "100"]).unwrap();
                        let id: i64 = c.send(cmd::client_id()).await?;
                        kill_client(server, id);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Ok((cmd::set("balance", v.unwrap_or(0) + 1),))
                }
            })
            .await;
        let end: Option<i64> = con.send(cmd::get("balance")).await.unwrap();
        assert_ne!(end, Some(1), "the other client's write was overwritten");
        match result {
            Ok(_) => assert_eq!(end, Some(101), "retried on a fresh connection"),
            Err(e) => {
                assert!(e.is_unclear(), "{e:?}");
                assert_eq!(end, Some(100));
            }
        }
    });
}

#[test]
fn the_sync_watch_helper_starts_over_after_a_killed_connection() {
    let server = start();
    let mut con = Connection::open(server.url()).unwrap();
    con.send(cmd::set("balance", "0")).unwrap();
    let mut attempt = 0;
    let result = con.watch(&"balance", Default::default(), |c| {
        attempt += 1;
        let v: Option<i64> = c.send(cmd::get("balance"))?;
        if attempt == 1 {
            server.command(&["SET", "balance", "100"]).unwrap();
            let id: i64 = c.send(cmd::client_id())?;
            kill_client(&server, id);
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok((cmd::set("balance", v.unwrap_or(0) + 1),))
    });
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(attempt, 2);
    let end: Option<i64> = con.send(cmd::get("balance")).unwrap();
    assert_eq!(end, Some(101));
}

#[test]
fn blocking_follows_the_arguments_and_never_stalls_the_shared_connection() {
    let server = start();
    let clients = || -> i64 {
        let Reply::Bulk(info) = server.command(&["INFO", "clients"]).unwrap() else {
            panic!()
        };
        let info = String::from_utf8_lossy(&info).into_owned();
        info.lines()
            .find_map(|l| l.strip_prefix("connected_clients:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        con.send(cmd::xadd("s", cmd::XaddIdSelector::AutoId, [("f", "v")]))
            .await
            .ok();
        let before = clients();
        for _ in 0..5 {
            let _: Value = con.send(cmd::xread([("s", "0")])).await.unwrap();
        }
        assert_eq!(
            clients(),
            before,
            "XREAD without BLOCK runs on the shared connection"
        );
        let _: Value = con.send(cmd::xread([("s", "$")]).block(10)).await.unwrap();
        assert_eq!(
            clients(),
            before + 1,
            "XREAD BLOCK takes a dedicated connection"
        );

        // A BLPOP inside a pipeline moves the whole batch; PING is not held up.
        let slow = {
            let con = con.clone();
            tokio::spawn(async move {
                let started = Instant::now();
                let (v,): (Option<(String, String)>,) =
                    con.pipe((cmd::blpop(["empty"], 1.5),)).await.unwrap();
                (v, started.elapsed())
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        let _: Value = con.send_as(&cmd::ping()).await.unwrap();
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "PING waited {:?} behind a pipelined BLPOP",
            started.elapsed()
        );
        let (v, took) = slow.await.unwrap();
        assert_eq!(v, None);
        assert!(
            took >= Duration::from_millis(1400),
            "BLPOP was cut at {took:?}"
        );

        // A cancelled BLPOP leaves nothing behind on the shared connection.
        let cancelled = tokio::time::timeout(
            Duration::from_millis(100),
            con.send(cmd::blpop::<_, Value>(["empty"], 0.0)),
        )
        .await;
        assert!(cancelled.is_err());
        in_step(&con, "after-cancel").await;
    });
}

#[test]
fn blocking_commands_get_their_own_timeout_on_top_of_the_liveness_deadline() {
    let server = start();
    let info = ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_response_timeout(Some(Duration::from_millis(300)));
    let mut con = Connection::open(info.clone()).unwrap();
    let started = Instant::now();
    let v: Option<(String, String)> = con.send(cmd::blpop(["empty"], 1.0)).unwrap();
    assert_eq!(v, None);
    assert!(started.elapsed() >= Duration::from_millis(950));
    rt().block_on(async {
        let con = MultiplexedConnection::open(info).await.unwrap();
        let started = Instant::now();
        let v: Option<(String, String)> = con.send(cmd::blpop(["empty"], 1.0)).await.unwrap();
        assert_eq!(v, None);
        assert!(started.elapsed() >= Duration::from_millis(950));
    });
}

/// An argument type whose count lies about what it writes.
struct Liar;
impl ToValkeyArgs for Liar {
    fn num_args(&self) -> usize {
        1
    }
    fn write_args(&self, out: &mut valkey::convert::ArgWriter<'_>) {
        out.write_bytes(b"a");
        out.write_bytes(b"b");
    }
}

/// An argument type that panics while writing.
struct Panics;
impl ToValkeyArgs for Panics {
    fn num_args(&self) -> usize {
        2
    }
    fn write_args(&self, out: &mut valkey::convert::ArgWriter<'_>) {
        out.write_bytes(b"half");
        panic!("user code panicked while writing arguments");
    }
}

#[test]
fn a_lying_or_panicking_argument_never_corrupts_the_connection() {
    let server = start();
    let mut con = Connection::open(server.url()).unwrap();
    let e = con.send(cmd::del(Liar)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = con.send(Cmd::new("ECHO").arg("x").arg(Panics));
    }));
    // Cmd encodes eagerly: the panic comes from building it, not from the connection.
    assert!(p.is_err());
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = con.send(cmd::exists(Panics));
    }));
    assert!(p.is_err());
    let v: String = con.send(cmd::echo("fine")).unwrap();
    assert_eq!(v, "fine");
    rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        let e = con.send(cmd::del(Liar)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let e = con
            .pipe((cmd::echo::<_, String>("a"), cmd::del(Liar)))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let c2 = con.clone();
        let panicked = tokio::spawn(async move { c2.send(cmd::exists(Panics)).await }).await;
        assert!(panicked.is_err(), "the task panicked");
        in_step(&con, "after-panic").await;
    });
}

#[test]
fn error_kinds_say_whether_a_command_may_have_run() {
    let mut server = start();
    let url = format!("{}?response_timeout=1", server.url());
    rt().block_on(async {
        let con = MultiplexedConnection::open(url.as_str()).await.unwrap();
        // Silence beyond the liveness deadline: Unclear and a timeout.
        server.pause().unwrap();
        let started = Instant::now();
        let e = con.send(cmd::get::<_, String>("k")).await.unwrap_err();
        assert!(e.is_unclear() && e.is_timeout(), "{e:?}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        server.resume().unwrap();
        let v: Option<String> = con.send(cmd::get("k")).await.unwrap();
        assert_eq!(v, None);
        // In flight when the server dies: Unclear, not retry-safe.
        server.pause().unwrap();
        let in_flight = {
            let con = con.clone();
            tokio::spawn(async move { con.send(cmd::incr("counter")).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.kill();
        let e = in_flight.await.unwrap().unwrap_err();
        assert!(e.is_unclear() && !e.is_timeout(), "{e:?}");
        assert!(!e.is_retry_safe());
        // Not sent at all (the server is gone and stays gone): NotSent, safe to retry.
        let e = con.send(cmd::get::<_, String>("k")).await.unwrap_err();
        assert!(e.is_not_sent(), "{e:?}");
        assert!(e.is_retry_safe());
    });
    server.restart().unwrap();
    let mut sync = Connection::open(url.as_str()).unwrap();
    server.pause().unwrap();
    let e = sync.send(cmd::get::<_, String>("k")).unwrap_err();
    assert!(e.is_unclear() && e.is_timeout(), "{e:?}");
    server.resume().unwrap();
    let v: Option<String> = sync.send(cmd::get("k")).unwrap();
    assert_eq!(v, None);
    server.kill();
    let e = sync.send(cmd::get::<_, String>("k")).unwrap_err();
    assert!(e.is_unclear() || e.is_not_sent(), "{e:?}");
    let e = sync.send(cmd::get::<_, String>("k")).unwrap_err();
    assert!(e.is_not_sent() && e.is_retry_safe(), "{e:?}");
}

#[test]
fn callers_beyond_the_in_flight_cap_wait_and_nothing_is_dropped() {
    let server = start();
    let info = ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_max_in_flight(4);
    rt().block_on(async {
        let con = MultiplexedConnection::open(info).await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let con = con.clone();
                tokio::spawn(async move {
                    for j in 0..50 {
                        let tag = format!("{i}/{j}");
                        let v: String = con.send(cmd::echo(tag.as_str())).await.unwrap();
                        assert_eq!(v, tag);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

#[test]
fn dedicated_connections_are_capped_and_callers_wait_for_one() {
    let server = start();
    let info = ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_max_dedicated(2);
    rt().block_on(async {
        let con = MultiplexedConnection::open(info).await.unwrap();
        let started = Instant::now();
        let tasks: Vec<_> = (0..6)
            .map(|_| {
                let con = con.clone();
                tokio::spawn(async move {
                    let v: Option<(String, String)> =
                        con.send(cmd::blpop(["nothing"], 0.3)).await.unwrap();
                    v
                })
            })
            .collect();
        let mut most = 0;
        while tasks.iter().any(|t| !t.is_finished()) {
            let Reply::Bulk(info) = server.command(&["INFO", "clients"]).unwrap() else {
                panic!()
            };
            let blocked: i64 = String::from_utf8_lossy(&info)
                .lines()
                .find_map(|l| l.strip_prefix("blocked_clients:"))
                .unwrap()
                .trim()
                .parse()
                .unwrap();
            most = most.max(blocked);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), None);
        }
        assert!(most <= 2, "{most} blocked at once with a cap of 2");
        assert!(
            started.elapsed() >= Duration::from_millis(850),
            "three waves of two: {:?}",
            started.elapsed()
        );
    });
}

#[test]
fn the_handshake_is_inside_the_connect_timeout() {
    // A listener that accepts and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let url = format!("valkey://127.0.0.1:{port}?connect_timeout=1");
    let started = Instant::now();
    let e = Connection::open(url.as_str()).unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    rt().block_on(async {
        let started = Instant::now();
        let e = MultiplexedConnection::open(url.as_str()).await.unwrap_err();
        assert!(e.is_timeout(), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    });
}

#[test]
fn raw_commands_are_classified_like_typed_ones() {
    let server = start();
    rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        for raw in [
            Cmd::new("select").arg(1),
            Cmd::new("CLIENT").arg("reply").arg("off"),
            Cmd::new("Multi"),
            Cmd::new("WAITAOF").arg(1).arg(0).arg(10),
        ] {
            let e = con.send(raw).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        }
        let _: Value = con.send(Cmd::new("ECHO").arg("ok")).await.unwrap();
    });
}
