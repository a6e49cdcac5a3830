//! The connection core against real servers: Valkey 9.1 and Redis 7.0, RESP2 and RESP3, sync and
//! async — values, every RESP3 type, auth, databases, Unix sockets, errors, broken connections,
//! sharing one async connection, and the pool.

use bytes::Bytes;
use std::time::{Duration, Instant};
use valkey::sync::{Connection, PoolConfig};
use valkey::{Client, Cmd, ConnectionInfo, ErrorKind, Protocol, Value};
use valkey_tests::{Server, ServerKind, ServerOptions};

const KINDS: [ServerKind; 2] = [ServerKind::Valkey, ServerKind::Redis];
const PROTOCOLS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

fn start(kind: ServerKind) -> Server {
    ServerOptions::new(kind)
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
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn each_server(mut f: impl FnMut(&Server, Protocol)) {
    for kind in KINDS {
        let server = start(kind);
        for protocol in PROTOCOLS {
            f(&server, protocol);
        }
    }
}

#[test]
fn binary_values_round_trip_sync_and_async() {
    let big: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 256) as u8).collect();
    let values: Vec<Vec<u8>> = vec![Vec::new(), b"\0\r\n\xff binary".to_vec(), big];
    each_server(|server, protocol| {
        let mut con = Connection::open(info(server, protocol)).unwrap();
        for (i, v) in values.iter().enumerate() {
            let key = format!("bin:{i}:{protocol:?}");
            let _: Value = con.send(Cmd::new("SET").arg(&key).arg(v)).unwrap();
            let got: Vec<u8> = con.send(Cmd::new("GET").arg(&key).returning()).unwrap();
            assert_eq!(&got, v, "{:?} {protocol:?} value {i}", server.kind());
        }
        let missing: Option<Vec<u8>> = con.send(Cmd::new("GET").arg("nope").returning()).unwrap();
        assert_eq!(missing, None);

        rt().block_on(async {
            let con = valkey::aio::MultiplexedConnection::open(info(server, protocol))
                .await
                .unwrap();
            for (i, v) in values.iter().enumerate() {
                let key = format!("abin:{i}:{protocol:?}");
                let _: Value = con.send(Cmd::new("SET").arg(&key).arg(v)).await.unwrap();
                let got: Bytes = con
                    .send(Cmd::new("GET").arg(&key).returning())
                    .await
                    .unwrap();
                assert_eq!(&got[..], &v[..]);
            }
        });
    });
}

#[test]
fn every_resp3_type_decodes_from_real_replies() {
    for kind in KINDS {
        let server = start(kind);
        let mut con = Connection::open(info(&server, Protocol::Resp3)).unwrap();
        assert_eq!(con.server_info().protocol, Protocol::Resp3);
        let hello = con.send(Cmd::new("HELLO").arg(3)).unwrap();
        assert!(matches!(hello, Value::Map(_)), "HELLO: {hello:?}");
        let cfg = con
            .send(Cmd::new("CONFIG").arg("GET").arg("maxmemory"))
            .unwrap();
        assert!(matches!(cfg, Value::Map(_)), "CONFIG GET: {cfg:?}");
        con.send(Cmd::new("SADD").arg("s").arg("a").arg("b"))
            .unwrap();
        let set = con.send(Cmd::new("SMEMBERS").arg("s")).unwrap();
        assert!(
            matches!(&set, Value::Set(m) if m.len() == 2),
            "SMEMBERS: {set:?}"
        );
        con.send(Cmd::new("ZADD").arg("z").arg(1.5).arg("m"))
            .unwrap();
        assert_eq!(
            con.send(Cmd::new("ZSCORE").arg("z").arg("m")).unwrap(),
            Value::Double(1.5)
        );
        let proto = |con: &mut Connection, what: &str| {
            con.send(Cmd::new("DEBUG").arg("PROTOCOL").arg(what))
                .unwrap()
        };
        assert_eq!(proto(&mut con, "null"), Value::Nil);
        assert_eq!(proto(&mut con, "true"), Value::Boolean(true));
        assert_eq!(proto(&mut con, "false"), Value::Boolean(false));
        assert!(matches!(proto(&mut con, "double"), Value::Double(d) if d > 3.0 && d < 4.0));
        assert!(matches!(proto(&mut con, "bignum"), Value::BigNumber(b) if b.len() > 20));
        assert!(
            matches!(proto(&mut con, "verbatim"), Value::VerbatimString { format, .. } if &format == b"txt")
        );
        assert!(matches!(proto(&mut con, "map"), Value::Map(_)));
        assert!(matches!(proto(&mut con, "set"), Value::Set(_)));
        // An attribute travels with the reply it describes.
        assert!(matches!(proto(&mut con, "attrib"), Value::Attribute { .. }));
        // The same server in RESP2 gives the flat shapes.
        let mut con2 = Connection::open(info(&server, Protocol::Resp2)).unwrap();
        assert_eq!(con2.server_info().protocol, Protocol::Resp2);
        assert_eq!(
            con2.send(Cmd::new("ZSCORE").arg("z").arg("m")).unwrap(),
            Value::BulkString("1.5".into())
        );
        assert!(matches!(
            con2.send(Cmd::new("SMEMBERS").arg("s")).unwrap(),
            Value::Array(_)
        ));
    }
}

#[test]
fn auth_with_password_and_acl_user() {
    for kind in KINDS {
        let server = ServerOptions::new(kind)
            .password("s3cret")
            .acl_user("alice on >wonder ~* &* +@all")
            .start()
            .unwrap();
        for protocol in PROTOCOLS {
            let base = ConnectionInfo::tcp("127.0.0.1", server.port()).with_protocol(protocol);
            let mut con = Connection::open(base.clone().with_auth(None, "s3cret")).unwrap();
            assert_eq!(
                con.send(Cmd::new("PING")).unwrap(),
                Value::SimpleString("PONG".into())
            );
            let mut alice =
                Connection::open(base.clone().with_auth(Some("alice"), "wonder")).unwrap();
            let who = alice.send(Cmd::new("ACL").arg("WHOAMI")).unwrap();
            assert_eq!(who.as_bytes(), Some(&b"alice"[..]));

            let e = Connection::open(base.clone().with_auth(None, "wrong")).unwrap_err();
            assert!(e.is_auth(), "{kind:?} {protocol:?}: {e}");
            assert!(!e.to_string().contains("wrong"), "password leaked: {e}");
            let e = Connection::open(base.clone().with_auth(Some("alice"), "nope")).unwrap_err();
            assert!(e.is_auth(), "{e}");
            rt().block_on(async {
                let open = |i: ConnectionInfo| valkey::aio::MultiplexedConnection::open(i);
                let alice = open(base.clone().with_auth(Some("alice"), "wonder"))
                    .await
                    .unwrap();
                let who = alice.send(Cmd::new("ACL").arg("WHOAMI")).await.unwrap();
                assert_eq!(who.as_bytes(), Some(&b"alice"[..]));
                let e = open(base.clone().with_auth(None, "wrong"))
                    .await
                    .unwrap_err();
                assert!(e.is_auth(), "{e}");
            });
            // No password at all: the first command is refused with NOAUTH.
            let e =
                Connection::open(base.clone()).and_then(|mut c| c.send(Cmd::new("GET").arg("k")));
            let e = e.unwrap_err();
            assert!(e.is_auth() || e.code() == Some("NOAUTH"), "{e}");
        }
    }
}

#[test]
fn select_db_and_unix_socket() {
    for kind in KINDS {
        let server = start(kind);
        let mut db3 = Connection::open(format!("{}/3", server.url())).unwrap();
        db3.send(Cmd::new("SET").arg("where").arg("three")).unwrap();
        let mut db0 = Connection::open(server.url()).unwrap();
        assert_eq!(
            db0.send(Cmd::new("EXISTS").arg("where")).unwrap(),
            Value::Int(0)
        );
        let mut unix =
            Connection::open(ConnectionInfo::unix(server.unix_socket()).with_db(3)).unwrap();
        assert_eq!(
            unix.send(Cmd::new("GET").arg("where")).unwrap(),
            Value::BulkString("three".into())
        );
        let url = format!("unix://{}?db=3", server.unix_socket().display());
        let got = rt().block_on(async {
            let con = valkey::aio::MultiplexedConnection::open(url.as_str())
                .await
                .unwrap();
            con.send(Cmd::new("GET").arg("where")).await.unwrap()
        });
        assert_eq!(got, Value::BulkString("three".into()));
    }
}

#[test]
fn unknown_command_is_a_server_error_and_the_connection_goes_on() {
    each_server(|server, protocol| {
        let mut con = Connection::open(info(server, protocol)).unwrap();
        let e = con.send(Cmd::new("NO.SUCH.COMMAND").arg("x")).unwrap_err();
        assert!(e.is_server_error() && e.is_unknown_command(), "{e}");
        assert_eq!(e.code(), Some("ERR"));
        assert_eq!(
            con.send(Cmd::new("PING")).unwrap(),
            Value::SimpleString("PONG".into())
        );
        con.send(Cmd::new("SET").arg("str").arg("x")).unwrap();
        let e = con.send(Cmd::new("LPUSH").arg("str").arg("y")).unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
        rt().block_on(async {
            let con = valkey::aio::MultiplexedConnection::open(info(server, protocol))
                .await
                .unwrap();
            let e = con.send(Cmd::new("NO.SUCH.COMMAND")).await.unwrap_err();
            assert!(e.is_unknown_command(), "{e}");
            assert_eq!(
                con.send(Cmd::new("PING")).await.unwrap(),
                Value::SimpleString("PONG".into())
            );
        });
    });
}

#[test]
fn killed_server_gives_io_error_then_reconnects_sync() {
    for kind in KINDS {
        let mut server = start(kind);
        let mut con = Connection::open(server.url()).unwrap();
        con.send(Cmd::new("SET").arg("k").arg("v")).unwrap();
        // A command in flight when the server dies: BLPOP keeps it waiting until the kill.
        let url = server.url();
        let waiter = std::thread::spawn(move || {
            let mut c = Connection::open(url).unwrap();
            c.send(Cmd::new("BLPOP").arg("never").arg(0))
        });
        std::thread::sleep(Duration::from_millis(200));
        server.kill();
        let e = waiter.join().unwrap().unwrap_err();
        assert!(e.is_io(), "{e}");
        let e = con.send(Cmd::new("PING")).unwrap_err();
        assert!(e.is_io(), "{e}");
        server.restart().unwrap();
        assert_eq!(
            con.send(Cmd::new("PING")).unwrap(),
            Value::SimpleString("PONG".into())
        );
    }
}

#[test]
fn killed_server_gives_io_error_then_reconnects_async() {
    for kind in KINDS {
        let mut server = start(kind);
        rt().block_on(async {
            let con = valkey::aio::MultiplexedConnection::open(server.url())
                .await
                .unwrap();
            con.send(Cmd::new("SET").arg("k").arg("v")).await.unwrap();
            // DEBUG SLEEP keeps a command in flight on the shared connection while we kill.
            let c2 = con.clone();
            let in_flight =
                tokio::spawn(async move { c2.send(Cmd::new("DEBUG").arg("SLEEP").arg(5)).await });
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.kill();
            let e = in_flight.await.unwrap().unwrap_err();
            assert!(e.is_io(), "{e}");
            server.restart().unwrap();
            let t = Instant::now();
            assert_eq!(
                con.send(Cmd::new("PING")).await.unwrap(),
                Value::SimpleString("PONG".into())
            );
            assert!(t.elapsed() < Duration::from_secs(5));
            // Data from before the restart is gone (no persistence): this is a new server.
            assert_eq!(
                con.send(Cmd::new("GET").arg("k")).await.unwrap(),
                Value::Nil
            );
        });
    }
}

#[test]
fn sixty_four_tasks_share_one_async_connection() {
    each_server(|server, protocol| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let con = valkey::aio::MultiplexedConnection::open(info(server, protocol))
                .await
                .unwrap();
            let mut tasks = Vec::new();
            for t in 0..64 {
                let con = con.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..200 {
                        let key = format!("task:{t}:{protocol:?}");
                        let n: i64 = con
                            .send(Cmd::new("INCR").arg(&key).returning())
                            .await
                            .unwrap();
                        assert_eq!(n, i + 1, "task {t} got someone else's reply");
                        let v: String = con
                            .send(Cmd::new("ECHO").arg(format!("{t}/{i}")).returning())
                            .await
                            .unwrap();
                        assert_eq!(v, format!("{t}/{i}"));
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            // Dropped futures must not desynchronise the connection.
            for i in 0..50 {
                let c = con.clone();
                let fut = async move { c.send(Cmd::new("ECHO").arg(i)).await };
                let _ = tokio::time::timeout(Duration::from_micros(1), fut).await;
            }
            let v: String = con
                .send(Cmd::new("ECHO").arg("last").returning())
                .await
                .unwrap();
            assert_eq!(v, "last");
        });
    });
}

#[test]
fn blocking_commands_do_not_hold_up_the_shared_connection() {
    let server = start(ServerKind::Valkey);
    rt().block_on(async {
        let con = valkey::aio::MultiplexedConnection::open(server.url())
            .await
            .unwrap();
        let c2 = con.clone();
        let blpop = tokio::spawn(async move { c2.send(Cmd::new("BLPOP").arg("q").arg(0)).await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The shared connection still answers while BLPOP waits.
        assert_eq!(
            con.send(Cmd::new("PING")).await.unwrap(),
            Value::SimpleString("PONG".into())
        );
        con.send(Cmd::new("RPUSH").arg("q").arg("job"))
            .await
            .unwrap();
        let got = blpop.await.unwrap().unwrap();
        assert_eq!(
            got,
            Value::Array(vec![
                Value::BulkString("q".into()),
                Value::BulkString("job".into())
            ])
        );
    });
}

#[test]
fn response_timeout_does_not_cut_blocking_commands() {
    let server = start(ServerKind::Valkey);
    let info = ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_response_timeout(Some(Duration::from_millis(200)));
    let mut con = Connection::open(info.clone()).unwrap();
    // BLPOP with a 1 s server timeout outlives the 200 ms response timeout and still answers.
    assert_eq!(
        con.send(Cmd::new("BLPOP").arg("empty").arg(1)).unwrap(),
        Value::Nil
    );
    // A plain command that takes longer than the response timeout times out.
    let e = con
        .send(Cmd::new("DEBUG").arg("SLEEP").arg(0.5))
        .unwrap_err();
    assert!(e.is_timeout(), "{e}");
    // DEBUG SLEEP holds the whole server; once it is done, the next command reconnects.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        con.send(Cmd::new("PING")).unwrap(),
        Value::SimpleString("PONG".into())
    );
}

#[test]
fn pool_exhaustion_waits_then_times_out() {
    let server = start(ServerKind::Valkey);
    let client = Client::open(server.url()).unwrap();
    let pool = client
        .pool(
            PoolConfig::default()
                .max_size(2)
                .wait_timeout(Some(Duration::from_millis(300))),
        )
        .unwrap();
    let a = pool.get().unwrap();
    let mut b = pool.get().unwrap();
    let t = Instant::now();
    let e = pool.get().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PoolTimeout);
    assert!(t.elapsed() >= Duration::from_millis(250), "did not wait");
    assert!(e.to_string().contains("max_size"), "{e}");
    // A connection returned while someone waits is handed over.
    let pool2 = pool.clone();
    let waiter = std::thread::spawn(move || pool2.get().map(|_| ()));
    std::thread::sleep(Duration::from_millis(50));
    drop(a);
    waiter.join().unwrap().unwrap();
    assert_eq!(
        b.send(Cmd::new("PING")).unwrap(),
        Value::SimpleString("PONG".into())
    );
    assert_eq!(pool.size(), 2);
}

#[test]
fn pool_health_check_replaces_dead_connections() {
    let mut server = start(ServerKind::Valkey);
    let pool = Client::open(server.url())
        .unwrap()
        .pool(
            PoolConfig::default()
                .max_size(1)
                .health_check_interval(Some(Duration::ZERO)),
        )
        .unwrap();
    drop(pool.get().unwrap());
    server.kill();
    server.restart().unwrap();
    let mut con = pool.get().unwrap();
    assert_eq!(
        con.send(Cmd::new("PING")).unwrap(),
        Value::SimpleString("PONG".into())
    );
}

#[test]
fn server_info_tells_valkey_from_redis() {
    let v = start(ServerKind::Valkey);
    let con = Connection::open(v.url()).unwrap();
    assert_eq!(
        con.server_info().flavor,
        valkey::proto::ServerFlavor::Valkey
    );
    assert_eq!(con.server_info().version.map(|v| v.major), Some(9));
    let r = start(ServerKind::Redis);
    let con = Connection::open(r.url()).unwrap();
    assert_eq!(con.server_info().flavor, valkey::proto::ServerFlavor::Redis);
    assert_eq!(con.server_info().version.map(|v| v.major), Some(7));
}

#[test]
fn connection_refused_is_a_clear_io_error() {
    let port = valkey_tests::free_port().unwrap();
    let e = Connection::open(format!("valkey://127.0.0.1:{port}")).unwrap_err();
    assert!(e.is_io(), "{e}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
    let e = Client::open("valkey://127.0.0.1:1/notadb").unwrap_err();
    assert!(e.is_invalid_config());
}

#[test]
fn oversized_reply_is_a_clear_error_and_the_next_command_works() {
    let server = start(ServerKind::Valkey);
    let limits = valkey::resp::Limits {
        max_bulk_len: 1024,
        ..Default::default()
    };
    let info = ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_limits(limits);
    let mut con = Connection::open(info.clone()).unwrap();
    con.send(Cmd::new("SET").arg("small").arg("x")).unwrap();
    con.send(Cmd::new("SET").arg("big").arg(vec![b'x'; 4096]))
        .unwrap();
    let e = con.send(Cmd::new("GET").arg("big")).unwrap_err();
    assert!(e.is_protocol(), "{e}");
    assert!(e.to_string().contains("1024"), "{e}");
    assert_eq!(
        con.send(Cmd::new("GET").arg("small")).unwrap(),
        Value::BulkString("x".into())
    );
    rt().block_on(async {
        let con = valkey::aio::MultiplexedConnection::open(info)
            .await
            .unwrap();
        let e = con.send(Cmd::new("GET").arg("big")).await.unwrap_err();
        assert!(e.is_protocol(), "{e}");
        let v = con.send(Cmd::new("GET").arg("small")).await.unwrap();
        assert_eq!(v, Value::BulkString("x".into()));
    });
}

/// The keepalive timer of our socket to `server_port` from local port `local_port`, as
/// `/proc/net/tcp` shows it: (timer kind, jiffies until it fires). Kind 2 is keepalive.
#[cfg(target_os = "linux")]
fn tcp_timer(local_port: u16, server_port: u16) -> Option<(u32, u64)> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let local = format!("0100007F:{local_port:04X}");
    let remote = format!("0100007F:{server_port:04X}");
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.get(1) != Some(&local.as_str()) || f.get(2) != Some(&remote.as_str()) {
            return None;
        }
        let (kind, when) = f.get(5)?.split_once(':')?;
        Some((kind.parse().ok()?, u64::from_str_radix(when, 16).ok()?))
    })
}

#[cfg(target_os = "linux")]
#[test]
fn keepalive_is_set_on_the_socket_when_asked() {
    let server = start(ServerKind::Valkey);
    let local_port = |con: &mut Connection| -> u16 {
        let info: String = con
            .send(Cmd::new("CLIENT").arg("INFO").returning())
            .unwrap();
        let addr = info
            .split(' ')
            .find_map(|f| f.strip_prefix("addr="))
            .unwrap();
        addr.rsplit(':').next().unwrap().parse().unwrap()
    };
    let on = ConnectionInfo::from_url(&format!("{}?keepalive=30", server.url())).unwrap();
    let mut con = Connection::open(on).unwrap();
    let port = local_port(&mut con);
    let (kind, _) = tcp_timer(port, server.port()).expect("our socket in /proc/net/tcp");
    assert_eq!(kind, 2, "keepalive timer expected on an idle socket");
    let off = ConnectionInfo::from_url(&format!("{}?keepalive=off", server.url())).unwrap();
    let mut con = Connection::open(off).unwrap();
    let port = local_port(&mut con);
    let (kind, _) = tcp_timer(port, server.port()).expect("our socket in /proc/net/tcp");
    assert_eq!(kind, 0, "no timer without keepalive");
}

#[test]
fn a_connection_dropped_during_a_panic_is_not_reused() {
    let server = start(ServerKind::Valkey);
    let pool = Client::open(server.url())
        .unwrap()
        .pool(PoolConfig::default().max_size(1))
        .unwrap();
    let p = pool.clone();
    let r = std::thread::spawn(move || {
        let mut con = p.get().unwrap();
        con.send(Cmd::new("WATCH").arg("k")).unwrap();
        panic!("user code failed mid-transaction");
    })
    .join();
    assert!(r.is_err());
    assert_eq!(
        pool.size(),
        0,
        "the WATCHing connection was closed, not pooled"
    );
    let mut con = pool.get().unwrap();
    // A fresh connection: no watch left over, so another client's write does not abort EXEC.
    Connection::open(server.url())
        .unwrap()
        .send(Cmd::new("SET").arg("k").arg("x"))
        .unwrap();
    let (v,): (Value,) = con.transaction((Cmd::new("GET").arg("k"),)).unwrap();
    assert_eq!(v, Value::BulkString("x".into()));
}
