//! Passwords stay secret: not in the `Debug`/`Display` of URLs, configs, clients, connections,
//! pools, commands (typed and raw: AUTH, HELLO AUTH, MIGRATE AUTH/AUTH2, ACL SETUSER,
//! CONFIG SET requirepass), errors, or the crate's `tracing` output while it reconnects with a
//! password the server no longer takes. Its own test binary: it installs a global subscriber.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use valkey::acl::AclRules;
use valkey::sync::{Connection, Pool, PoolConfig};
use valkey::{cmd, Client, Cmd, ConnectionInfo, Value};
use valkey_tests::{Server, ServerOptions};

const SECRET: &str = "s3cr3t-Pa55";
const USER_SECRET: &str = "us3r-Pa55";

/// Every event the crate logs, as text.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, "{}={value:?} ", field.name());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(format!("{} ", event.metadata().target()));
        event.record(&mut fields);
        self.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

fn assert_hidden(what: &str, shown: &str) {
    assert!(
        !shown.contains(SECRET) && !shown.contains(USER_SECRET),
        "{what} shows a password: {shown}"
    );
}

fn protected_server() -> Server {
    ServerOptions::valkey()
        .config(format!("requirepass {SECRET}"))
        .start()
        .expect("server starts")
}

#[test]
fn passwords_never_show() {
    let capture = Capture::default();
    tracing::subscriber::set_global_default(capture.clone()).unwrap();

    // Commands, typed and raw.
    let typed: Vec<(&str, String)> = vec![
        ("AUTH", format!("{:?}", cmd::auth(SECRET))),
        (
            "AUTH user",
            format!("{:?}", cmd::auth(SECRET).username("app")),
        ),
        (
            "HELLO AUTH",
            format!(
                "{:?}",
                cmd::hello::<Value>().protover(3).auth("app", SECRET)
            ),
        ),
        (
            "CONFIG SET requirepass",
            format!("{:?}", cmd::config_set([("requirepass", SECRET)])),
        ),
    ];
    for (what, shown) in &typed {
        assert_hidden(what, shown);
        assert!(shown.contains("<redacted>"), "{what}: {shown}");
    }
    let mut rules = AclRules::new();
    rules.allow(&cmd::ping()).unwrap();
    let raw: Vec<(&str, Cmd)> = vec![
        ("raw AUTH", Cmd::new("AUTH").arg(SECRET)),
        ("raw AUTH user", Cmd::new("auth").arg("app").arg(SECRET)),
        (
            "raw HELLO AUTH",
            Cmd::new("HELLO")
                .arg("3")
                .arg("AUTH")
                .arg("app")
                .arg(SECRET),
        ),
        (
            "raw MIGRATE AUTH",
            Cmd::new("MIGRATE")
                .arg("h")
                .arg("1")
                .arg("k")
                .arg("0")
                .arg("10")
                .arg("AUTH")
                .arg(SECRET),
        ),
        (
            "raw MIGRATE AUTH2",
            Cmd::new("MIGRATE")
                .arg("h")
                .arg("1")
                .arg("k")
                .arg("0")
                .arg("10")
                .arg("AUTH2")
                .arg("app")
                .arg(SECRET),
        ),
        (
            "raw CONFIG SET",
            Cmd::new("CONFIG").arg("SET").arg("masterauth").arg(SECRET),
        ),
        ("ACL SETUSER from AclRules", rules.setuser("app", SECRET)),
    ];
    for (what, c) in &raw {
        let shown = format!("{c:?}");
        assert_hidden(what, &shown);
        assert!(shown.contains("<redacted>"), "{what}: {shown}");
    }

    // URLs, configs, clients, connections, pools.
    let server = protected_server();
    let url = server
        .url()
        .replacen("://", &format!("://default:{SECRET}@"), 1);
    let info = ConnectionInfo::from_url(&url).unwrap();
    assert_hidden("ConnectionInfo", &format!("{info:?}"));
    let client = Client::open(url.as_str()).unwrap();
    assert_hidden("Client", &format!("{client:?}"));
    let mut con = client.get_connection().unwrap();
    con.send(cmd::ping()).unwrap();
    assert_hidden("Connection", &format!("{con:?}"));
    let pool = Pool::new(info.clone(), PoolConfig::default()).unwrap();
    assert_hidden("Pool", &format!("{pool:?}"));
    let pooled = pool.get().unwrap();
    assert_hidden("PooledConnection", &format!("{pooled:?}"));
    drop(pooled);

    // Errors: bad URLs that carry a password, a wrong password.
    for bad in [
        format!("valkey://default:{SECRET}@127.0.0.1:notaport"),
        format!("valkey://default:{SECRET}@127.0.0.1:6379?bogus=1"),
        format!("valkey://default:{SECRET}@127.0.0.1:6379/notadb"),
        format!("redis://127.0.0.1:6379?password={SECRET}&protocol=resp9"),
    ] {
        let e = ConnectionInfo::from_url(&bad).unwrap_err();
        assert_hidden("URL error", &format!("{e} {e:?}"));
    }
    let wrong = server
        .url()
        .replacen("://", &format!("://default:{USER_SECRET}@"), 1);
    let e = Connection::open(wrong.as_str()).unwrap_err();
    assert!(e.is_auth(), "{e}");
    assert_hidden("wrong password error", &format!("{e} {e:?}"));

    // tracing: the async connection and a subscriber reconnecting with a password the server
    // stopped taking log their failures, never the password.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let shared = client.get_async_connection().await.unwrap();
        shared.send(cmd::ping()).await.unwrap();
        let mut sub = client.get_async_pubsub().await.unwrap();
        sub.subscribe("news").await.unwrap();
        let mut admin = Connection::open(url.as_str()).unwrap();
        admin
            .send(
                Cmd::new("CONFIG")
                    .arg("SET")
                    .arg("requirepass")
                    .arg(USER_SECRET),
            )
            .unwrap();
        admin
            .send(
                Cmd::new("CLIENT")
                    .arg("KILL")
                    .arg("TYPE")
                    .arg("normal")
                    .arg("SKIPME")
                    .arg("yes"),
            )
            .unwrap();
        admin
            .send(Cmd::new("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"))
            .unwrap();
        let e = shared.send(cmd::ping()).await.unwrap_err();
        assert_hidden(
            "async error after the password changed",
            &format!("{e} {e:?}"),
        );
        // The subscriber retries in the background: its events say so.
        let event = tokio::time::timeout(Duration::from_secs(5), sub.next()).await;
        assert!(event.is_ok(), "the subscriber reports the lost connection");
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    let logged = capture.0.lock().unwrap().clone();
    assert!(
        logged.iter().any(|l| l.contains("reconnect")),
        "the reconnect failures were logged: {logged:?}"
    );
    for line in &logged {
        assert_hidden("a tracing event", line);
    }
}
