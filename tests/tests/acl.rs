//! Least-privilege ACL rules from typed commands, on real servers: a user created with the rule
//! `AclRules` writes for an application's commands runs exactly those commands, and the server
//! refuses (`ErrorKind::NoPermission`, NOPERM) any other command, any key outside the patterns, and a write where only
//! reads were allowed. Sync and async, Valkey 9.1 and Redis 7.0.

use valkey::acl::AclRules;
use valkey::cmd;
use valkey::sync::Connection;
use valkey::{Client, Value};
use valkey_tests::Server;

/// The application's commands, as it sends them.
fn app_rules() -> AclRules {
    let mut rules = AclRules::with_key_prefixes(b':');
    rules
        .allow(&cmd::get::<_, Option<String>>("user:1"))
        .unwrap()
        .allow(&cmd::set("session:abc", "v"))
        .unwrap()
        .allow(&cmd::incr("stats:visits"))
        .unwrap()
        .allow(&cmd::lrange::<_, Vec<String>>("queue:jobs", 0, -1))
        .unwrap()
        .allow(&cmd::ping())
        .unwrap()
        .allow(&cmd::unlink(["trash:1"]))
        .unwrap();
    rules
}

fn refused(r: valkey::Result<impl std::fmt::Debug>, what: &str) {
    match r {
        Err(e) if e.is_no_permission() && e.code() == Some("NOPERM") && e.is_retry_safe() => {}
        other => panic!("{what}: expected NOPERM, got {other:?}"),
    }
}

fn check(server: &Server) {
    let rules = app_rules();
    let mut admin = Connection::open(server.url().as_str()).unwrap();
    let ok: Value = admin.send(rules.setuser("app", "app-secret")).unwrap();
    assert_eq!(ok, Value::SimpleString("OK".into()), "{rules}");
    // Data the application reads, written by the admin.
    admin.send(cmd::set("user:1", "ann")).unwrap();
    admin.send(cmd::rpush("queue:jobs", ["j1"])).unwrap();

    let url = server.url().replacen("://", "://app:app-secret@", 1);
    for protocol in ["resp2", "resp3"] {
        let url = format!("{url}?protocol={protocol}");
        let mut con = Connection::open(url.as_str()).unwrap();
        // Exactly the application's commands work.
        let name: Option<String> = con.send(cmd::get("user:2")).unwrap();
        assert_eq!(name, None);
        let name: Option<String> = con.send(cmd::get("user:1")).unwrap();
        assert_eq!(name.as_deref(), Some("ann"));
        con.send(cmd::set("session:xyz", "v")).unwrap();
        let n: i64 = con.send(cmd::incr("stats:visits")).unwrap();
        assert!(n >= 1);
        let jobs: Vec<String> = con.send(cmd::lrange("queue:jobs", 0, -1)).unwrap();
        assert_eq!(jobs, ["j1"]);
        con.send(cmd::ping()).unwrap();
        con.send(cmd::unlink(["trash:old"])).unwrap();

        // Anything else is refused by the server.
        refused(con.send(cmd::del(["user:1"])), "DEL: a command not used");
        refused(
            con.send(cmd::get::<_, Option<String>>("admin:1")),
            "GET outside the patterns",
        );
        refused(
            con.send(cmd::set("user:1", "x")),
            "SET on a read-only pattern",
        );
        refused(
            con.send(cmd::get::<_, Option<String>>("trash:1")),
            "GET on a pattern only written",
        );
        refused(con.send(cmd::flushall()), "FLUSHALL");

        // The async connection, the same.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let con = Client::open(url.as_str())
                .unwrap()
                .get_async_connection()
                .await
                .unwrap();
            let n: i64 = con.send(cmd::incr("stats:visits")).await.unwrap();
            assert!(n >= 2);
            refused(
                con.send(cmd::keys::<_, Vec<String>>("*")).await,
                "KEYS (async)",
            );
            refused(
                con.send(cmd::get::<_, Option<String>>("other")).await,
                "GET other (async)",
            );
        });
    }
    let v: i64 = admin.send(cmd::incr("stats:visits")).unwrap();
    assert_eq!(v, 5, "every INCR of the app ran once");
}

#[test]
fn acl_rules_from_typed_commands_valkey() {
    check(&Server::valkey().expect("server starts"));
}

#[test]
fn acl_rules_from_typed_commands_redis() {
    check(&Server::redis().expect("server starts"));
}
