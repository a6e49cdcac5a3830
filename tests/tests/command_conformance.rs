//! Conformance of the generated builders with a live server: one minimal invocation per command
//! (generated into `command_conformance/cases.rs`), sent in RESP2 and in RESP3, after a setup that
//! gives the key `k` the type its command group works on. A reply that does not read into the
//! builder's `Output` fails the test; a server error (the plain arguments were not valid for that
//! command) leaves the command unverified, and the coverage is printed.
//!
//! Not sent: the commands of `common::SKIP`, each with why.

use common::{setup, skipped};
use valkey::{cmd, Cmd, Value};

#[path = "common/commands.rs"]
mod common;

// Generated (and formatted) by `valkey-codegen`; rustfmt must not rewrite it.
#[rustfmt::skip]
#[path = "command_conformance/cases.rs"]
mod cases;

#[derive(Default)]
struct Tally {
    decoded: Vec<String>,
    server_errors: Vec<String>,
    failures: Vec<String>,
    /// The raw reply's type, per command sent.
    shapes: std::collections::BTreeMap<&'static str, &'static str>,
}

fn run(url: &str, protocol: &str) -> Tally {
    let client =
        valkey::Client::open(format!("{url}?protocol={protocol}&response_timeout=5")).unwrap();
    let mut con = client.get_connection().unwrap();
    let mut t = Tally::default();
    for (name, group, _, f, raw, _) in cases::CASES.iter() {
        if skipped(name) {
            continue;
        }
        if let Err(e) = setup(&mut con, group) {
            t.failures.push(format!("{name}: setup failed: {e}"));
            con = client.get_connection().unwrap();
            continue;
        }
        match f(&mut con) {
            Ok(()) => {
                t.decoded.push(name.to_string());
                // Again, raw, from the same state, to compare the protocols' shapes.
                if setup(&mut con, group).is_ok() {
                    if let Ok(v) = raw(&mut con) {
                        t.shapes.insert(name, v.kind_name());
                    }
                }
            }
            Err(e) if e.is_server_error() => t.server_errors.push(format!("{name}: {e}")),
            Err(e) => {
                t.failures.push(format!("{name}: {e}"));
                // The connection may be unusable after a broken exchange.
                con = client.get_connection().unwrap();
            }
        }
    }
    t
}

#[test]
fn every_reply_reads_into_its_builders_output_in_resp2_and_resp3() {
    let server = valkey_tests::Server::valkey().unwrap();
    let url = server.url();
    assert_eq!(cases::CASES.len(), cmd::commands().len());
    let mut failures = vec![];
    let mut shapes = vec![];
    for protocol in ["resp2", "resp3"] {
        let t = run(&url, protocol);
        shapes.push(t.shapes.clone());
        println!(
            "{protocol}: {} of {} commands sent decoded into their Output; {} got a server error \
             (arguments not valid for them, unverified): {}",
            t.decoded.len(),
            t.decoded.len() + t.server_errors.len() + t.failures.len(),
            t.server_errors.len(),
            t.server_errors.join(" | ")
        );
        failures.extend(t.failures.into_iter().map(|f| format!("{protocol}: {f}")));
        assert!(
            t.decoded.len() >= 250,
            "{protocol}: only {} commands verified",
            t.decoded.len()
        );
    }
    assert!(
        failures.is_empty(),
        "replies that do not read into Output:\n{}",
        failures.join("\n")
    );
    // Where the two protocols reply with different types, the overlay says so (resp2/resp3).
    let mut undocumented = vec![];
    for (name, _, documented, _, _, _) in cases::CASES.iter() {
        if let (Some(a), Some(b)) = (shapes[0].get(name), shapes[1].get(name)) {
            if a != b && !documented {
                undocumented.push(format!("{name}: RESP2 {a}, RESP3 {b}"));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "shapes that differ between RESP2 and RESP3 without a resp2/resp3 note in the overlay:\n{}",
        undocumented.join("\n")
    );
}

/// Options that change the reply type (the overlay's `reply_when`), against the live server in
/// both protocols: the typed reply is what the server sent.
#[test]
fn options_that_change_the_reply_read_into_their_types() {
    let server = valkey_tests::Server::valkey().unwrap();
    for protocol in ["resp2", "resp3"] {
        let url = format!("{}?protocol={protocol}&response_timeout=5", server.url());
        let mut con = valkey::Client::open(url).unwrap().get_connection().unwrap();
        con.send(Cmd::new("FLUSHALL")).unwrap();

        let () = con.send(cmd::set("s", "1")).unwrap();
        assert_eq!(con.send(cmd::set("s", "2").nx()).unwrap(), None);
        assert_eq!(
            con.send(cmd::set("s2", "2").nx().ex(100)).unwrap(),
            Some(())
        );
        let old: Option<String> = con.send(cmd::set("s", "3").get()).unwrap();
        assert_eq!(old.as_deref(), Some("1"));
        // GET wins over NX in either order: the reply is the old value.
        let old: Option<String> = con.send(cmd::set("s", "4").nx().get()).unwrap();
        assert_eq!(old.as_deref(), Some("3"));
        let old: Option<String> = con.send(cmd::set("s3", "4").get().nx()).unwrap();
        assert_eq!(old, None);

        assert_eq!(
            con.send(cmd::zadd("z", [(1.0, "a"), (2.0, "b")])).unwrap(),
            2
        );
        assert_eq!(
            con.send(cmd::zadd("z", [(1.5, "a")]).incr()).unwrap(),
            Some(2.5)
        );
        assert_eq!(
            con.send(cmd::zadd("z", [(1.0, "c")]).xx().incr()).unwrap(),
            None
        );
        assert_eq!(con.send(cmd::zrank("z", "a")).unwrap(), Some(1));
        assert_eq!(
            con.send(cmd::zrank("z", "a").withscore()).unwrap(),
            Some((1, 2.5))
        );
        assert_eq!(con.send(cmd::zrevrank("z", "x").withscore()).unwrap(), None);

        let id: String = con
            .send(cmd::xadd("st", cmd::XaddIdSelector::AutoId, [("f", "v")]))
            .unwrap();
        assert!(id.contains('-'));
        assert_eq!(
            con.send(cmd::xadd("nost", cmd::XaddIdSelector::AutoId, [("f", "v")]).nomkstream())
                .unwrap(),
            None
        );

        let _: i64 = con.send(cmd::rpush("l", ["x", "y", "x"])).unwrap();
        assert_eq!(con.send(cmd::lpos("l", "x")).unwrap(), Some(0));
        assert_eq!(con.send(cmd::lpos("l", "x").count(0)).unwrap(), vec![0, 2]);

        let sorted: Vec<String> = con.send(cmd::sort("l").alpha()).unwrap();
        assert_eq!(sorted, ["x", "x", "y"]);
        assert_eq!(con.send(cmd::sort("l").alpha().store("dst")).unwrap(), 3);

        let _: i64 = con.send(cmd::geoadd("g", [(13.36, 38.11, "p")])).unwrap();
        let near: Vec<String> = con
            .send(cmd::georadius("g", 13.0, 38.0, 100.0, cmd::GeoUnit::Km))
            .unwrap();
        assert_eq!(near, ["p"]);
        assert_eq!(
            con.send(cmd::georadius("g", 13.0, 38.0, 100.0, cmd::GeoUnit::Km).store("g2"))
                .unwrap(),
            1
        );

        let _: Value = con.send(cmd::acl_log()).unwrap();
        let () = con.send(cmd::acl_log().reset()).unwrap();
    }
}
