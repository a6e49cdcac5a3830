//! The generated builders on real servers: typed replies (sync and async, RESP2 and RESP3),
//! replies into derived user types, and the version check that refuses, before sending, what the
//! connected server is too old for.

use valkey::cmd::{self, CommandLogType};
use valkey::sync::Connection;
use valkey::{ConnectionInfo, ErrorKind, FromValkey, Protocol, ToValkeyArgs};
use valkey_tests::{Server, ServerKind};

#[derive(Debug, PartialEq, FromValkey, ToValkeyArgs)]
struct User {
    name: String,
    age: u32,
    email: Option<String>,
}

fn connections(server: &Server) -> Vec<Connection> {
    [Protocol::Resp2, Protocol::Resp3]
        .into_iter()
        .map(|p| {
            let info = ConnectionInfo::from_url(&server.url())
                .unwrap()
                .with_protocol(p);
            Connection::open(info).unwrap()
        })
        .collect()
}

#[test]
fn typed_replies_on_valkey_and_redis() {
    for server in [Server::valkey().unwrap(), Server::redis().unwrap()] {
        for mut con in connections(&server) {
            let proto = con.server_info().protocol;
            let k = |s: &str| format!("{s}:{proto:?}");
            let () = con.send(cmd::set(k("greeting"), "hello")).unwrap();
            let v: Option<String> = con.send(cmd::get(k("greeting"))).unwrap();
            assert_eq!(v.as_deref(), Some("hello"));
            // NX may refuse: the reply says whether it was set.
            let refused: Option<()> = con.send(cmd::set(k("greeting"), "x").nx()).unwrap();
            assert_eq!(refused, None);
            let set: Option<()> = con.send(cmd::set(k("fresh"), "x").nx().ex(100)).unwrap();
            assert_eq!(set, Some(()));
            // GET turns SET's reply into the old value.
            let old: Option<String> = con.send(cmd::set(k("greeting"), "bye").get()).unwrap();
            assert_eq!(old.as_deref(), Some("hello"));
            let n: i64 = con.send(cmd::incr(k("counter"))).unwrap();
            assert_eq!(n, 1);
            let exists: i64 = con.send(cmd::exists([k("counter"), k("nope")])).unwrap();
            assert_eq!(exists, 1);
            let _: i64 = con.send(cmd::rpush(k("list"), ["a", "b", "c"])).unwrap();
            let all: Vec<String> = con.send(cmd::lrange(k("list"), 0, -1)).unwrap();
            assert_eq!(all, ["a", "b", "c"]);

            // A derived struct written with HSET and read back with HGETALL.
            let alice = User {
                name: "alice".into(),
                age: 33,
                email: None,
            };
            let _: i64 = con.send(cmd::hset(k("user"), &alice)).unwrap();
            let back: User = con.send(cmd::hgetall(k("user"))).unwrap();
            assert_eq!(back, alice);

            // A typed pipeline of generated commands.
            let (a, b, c): (i64, i64, Option<String>) = con
                .pipe((
                    cmd::incr(k("counter")),
                    cmd::incr(k("counter")),
                    cmd::get(k("nope")),
                ))
                .unwrap();
            assert_eq!((a, b, c), (2, 3, None));
        }
    }
}

#[test]
fn typed_replies_async() {
    let server = Server::valkey().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = valkey::aio::MultiplexedConnection::open(server.url())
            .await
            .unwrap();
        con.send(cmd::set("a", "1")).await.unwrap();
        let n: i64 = con.send(cmd::incrby("a", 41)).await.unwrap();
        assert_eq!(n, 42);
        let v: Option<u64> = con.send(cmd::get("a")).await.unwrap();
        assert_eq!(v, Some(42));
        let (x, y): (i64, Vec<Option<String>>) = con
            .transaction((cmd::incr("a"), cmd::mget(["a", "missing"])))
            .await
            .unwrap();
        assert_eq!(x, 43);
        assert_eq!(y, [Some("43".to_string()), None]);
    });
}

#[test]
fn too_old_a_server_is_refused_before_sending() {
    let server = Server::redis().unwrap();
    let mut con = Connection::open(server.url()).unwrap();
    let calls = |con: &mut Connection| -> String {
        let info: String = con.send(cmd::info().section(["commandstats"])).unwrap();
        info.lines()
            .filter(|l| l.starts_with("cmdstat_set:") || l.starts_with("cmdstat_commandlog"))
            .collect::<Vec<_>>()
            .join(",")
    };
    con.send(cmd::set("k", "v")).unwrap();
    let before = calls(&mut con);

    // An argument newer than Redis 7.0: SET ... IFEQ (Valkey 8.1).
    let e = con.send(cmd::set("k", "w").ifeq("v")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("SET") && msg.contains("8.1") && msg.contains("Redis 7.0"),
        "{msg}"
    );
    // A command Redis does not have: COMMANDLOG (Valkey 8.1).
    let e = con
        .send(cmd::commandlog_get::<valkey::Value>(
            10,
            CommandLogType::Slow,
        ))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("COMMANDLOG GET"), "{e}");
    // Nothing reached the server, and the connection goes on.
    assert_eq!(calls(&mut con), before);
    let v: Option<String> = con.send(cmd::get("k")).unwrap();
    assert_eq!(v.as_deref(), Some("v"));
    // In a pipeline, the check names the command and nothing is sent.
    let e = con
        .pipe((cmd::incr("n"), cmd::set("k", "w").ifeq("v")))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("command #1 (SET)"), "{e}");
    let n: Option<i64> = con.send(cmd::get("n")).unwrap();
    assert_eq!(n, None);

    // The same on Valkey 9.1 is sent and works.
    let valkey = Server::valkey().unwrap();
    let mut con = Connection::open(valkey.url()).unwrap();
    con.send(cmd::set("k", "v")).unwrap();
    let r: Option<()> = con.send(cmd::set("k", "w").ifeq("v")).unwrap();
    assert_eq!(r, Some(()));
    assert_eq!(valkey.kind(), ServerKind::Valkey);
}
