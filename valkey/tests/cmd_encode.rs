//! Generated builders encode exactly the RESP the server expects (no server needed): names,
//! tokens in spec order, counts the builder computes, and `num_args` agreeing with what is written.

use valkey::cmd::{self, Command, Side};
use valkey::{Cmd, FromValkey, Value};

/// Like `check`, for a builder whose reply type is the caller's choice (fixed here to `T`).
fn check_as<T: FromValkey, C: Command<Output = T>>(c: C, args: &[&str]) {
    check(c, args)
}

/// Encodes `c` and checks it against `args` (the expected arguments, name first).
fn check<C: Command>(c: C, args: &[&str]) {
    let mut buf = Vec::new();
    cmd::encode(&c, &mut buf).unwrap();
    let mut expected = format!("*{}\r\n", args.len());
    for a in args {
        expected.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    assert_eq!(String::from_utf8_lossy(&buf), expected);
    assert_eq!(c.num_args(), args.len());
}

#[test]
fn set_writes_options_in_spec_order_whatever_the_call_order() {
    check(cmd::set("k", "v"), &["SET", "k", "v"]);
    check(
        cmd::set("k", "v").ex(10).nx(),
        &["SET", "k", "v", "NX", "EX", "10"],
    );
    check(
        cmd::set("k", b"v".to_vec())
            .keepttl()
            .get::<Option<String>>()
            .xx(),
        &["SET", "k", "v", "XX", "GET", "KEEPTTL"],
    );
    check(
        cmd::set("k", 5).ifeq("old").pxat(1_700_000_000_000),
        &["SET", "k", "5", "IFEQ", "old", "PXAT", "1700000000000"],
    );
}

#[test]
fn zadd_pairs_and_flags() {
    check(
        cmd::zadd("z", [(1.5, "a"), (2.0, "b")]).gt().ch(),
        &["ZADD", "z", "GT", "CH", "1.5", "a", "2", "b"],
    );
    check(
        cmd::zadd("z", [(1.0, "a")]).xx().incr(),
        &["ZADD", "z", "XX", "INCR", "1", "a"],
    );
}

#[test]
fn numkeys_is_computed_from_the_keys() {
    check_as::<Value, _>(
        cmd::eval("return 1").keys(["a", "b"]).args(["x"]),
        &["EVAL", "return 1", "2", "a", "b", "x"],
    );
    check_as::<Value, _>(cmd::eval("return 1"), &["EVAL", "return 1", "0"]);
    check(
        cmd::zunionstore("dst", ["a", "b", "c"]).weights([1.0, 2.0, 3.0]),
        &[
            "ZUNIONSTORE",
            "dst",
            "3",
            "a",
            "b",
            "c",
            "WEIGHTS",
            "1",
            "2",
            "3",
        ],
    );
    check_as::<Value, _>(
        cmd::lmpop(["l1", "l2"], Side::Left).count(2),
        &["LMPOP", "2", "l1", "l2", "LEFT", "COUNT", "2"],
    );
}

#[test]
fn hexpire_fields_count_is_computed() {
    check(
        cmd::hexpire("h", 60, ["f1", "f2"]).nx(),
        &["HEXPIRE", "h", "60", "NX", "FIELDS", "2", "f1", "f2"],
    );
    check_as::<Value, _>(
        cmd::hgetex("h", ["f"]).px(100),
        &["HGETEX", "h", "PX", "100", "FIELDS", "1", "f"],
    );
}

#[test]
fn counts_of_pairs_count_pairs() {
    check(
        cmd::hsetex("h", [("f1", "v1"), ("f2", "v2")]).fnx().ex(5),
        &[
            "HSETEX", "h", "FNX", "EX", "5", "FIELDS", "2", "f1", "v1", "f2", "v2",
        ],
    );
    check(
        cmd::msetex([("k1", "v1"), ("k2", "v2")]).nx(),
        &["MSETEX", "2", "k1", "v1", "k2", "v2", "NX"],
    );
}

#[test]
fn subcommands_write_both_names() {
    use cmd::{ClientKillFilter, ClientKillFilters as F};
    check(
        cmd::client_kill(ClientKillFilter::Filters(vec![
            F::ClientId(vec![7, 8]),
            F::Skipme(cmd::YesNo::No),
        ])),
        &["CLIENT", "KILL", "ID", "7", "8", "SKIPME", "NO"],
    );
    check(
        cmd::client_kill(ClientKillFilter::IpPort("1.2.3.4:5".into())),
        &["CLIENT", "KILL", "1.2.3.4:5"],
    );
    check_as::<Value, _>(
        cmd::config_get(["maxmemory"]),
        &["CONFIG", "GET", "maxmemory"],
    );
}

#[test]
fn optional_blocks_and_repeated_tokens() {
    check_as::<Value, _>(
        cmd::zrange("z", 0, -1).limit(0, 10).withscores(),
        &["ZRANGE", "z", "0", "-1", "LIMIT", "0", "10", "WITHSCORES"],
    );
    check_as::<Value, _>(
        cmd::sort("l").get(["#", "w_*"]).alpha(),
        &["SORT", "l", "GET", "#", "GET", "w_*", "ALPHA"],
    );
    check_as::<Value, _>(
        cmd::georadius("g", 15.0, 37.0, 200.0, cmd::GeoUnit::Km)
            .count(5)
            .any()
            .asc(),
        &[
            "GEORADIUS",
            "g",
            "15",
            "37",
            "200",
            "KM",
            "COUNT",
            "5",
            "ANY",
            "ASC",
        ],
    );
}

#[test]
fn nested_options_follow_their_group_in_spec_order() {
    check(
        cmd::bitcount("b").range(1).end(5).bit(),
        &["BITCOUNT", "b", "1", "5", "BIT"],
    );
    // IDLE comes before the range in the spec, whatever the call order.
    check_as::<Value, _>(
        cmd::xpending("s", "g")
            .range("-", "+", 10)
            .consumer("c")
            .idle(1000),
        &["XPENDING", "s", "g", "IDLE", "1000", "-", "+", "10", "c"],
    );
    check(
        cmd::xadd("s", cmd::XaddIdSelector::AutoId, [("f", "v")])
            .trim(cmd::TrimStrategy::Maxlen, 1000)
            .approximately()
            .limit(10),
        &[
            "XADD", "s", "MAXLEN", "~", "1000", "LIMIT", "10", "*", "f", "v",
        ],
    );
    check(
        cmd::shutdown().options(cmd::ShutdownOptions {
            now: true,
            force: true,
            ..Default::default()
        }),
        &["SHUTDOWN", "NOW", "FORCE"],
    );
}

#[test]
fn metadata_is_attached_and_versions_follow_the_options() {
    let set = cmd::set("k", "v");
    let meta = set.meta().unwrap();
    assert_eq!(meta.name, "SET");
    assert_eq!(meta.key_specs.len(), 1);
    assert_eq!(set.min_version(), None);
    assert_eq!(
        cmd::set("k", "v").ifeq("x").min_version(),
        Some(cmd::Version::new(8, 1, 0))
    );
    assert_eq!(
        cmd::set("k", "v").keepttl().get::<Value>().min_version(),
        Some(cmd::Version::new(6, 2, 0))
    );
    assert!(cmd::blpop::<_, Value>(["a"], 1.0)
        .meta()
        .unwrap()
        .is_blocking());
}

#[test]
fn lookup_finds_every_command_case_insensitively() {
    assert_eq!(cmd::lookup(b"get", None).unwrap().name, "GET");
    assert_eq!(cmd::lookup(b"GeT", Some(b"mykey")).unwrap().name, "GET");
    assert_eq!(
        cmd::lookup(b"client", Some(b"kill")).unwrap().name,
        "CLIENT KILL"
    );
    assert_eq!(cmd::lookup(b"CLIENT", None).unwrap().name, "CLIENT");
    assert!(cmd::lookup(b"client", Some(b"nosuch")).is_none());
    assert!(cmd::lookup(b"nosuchcommand", None).is_none());
    assert_eq!(cmd::commands().len(), 399);
    for m in cmd::commands() {
        let mut parts = m.name.split(' ');
        let name = parts.next().unwrap().to_lowercase();
        let sub = parts.next().map(str::to_lowercase);
        let found = cmd::lookup(name.as_bytes(), sub.as_deref().map(str::as_bytes));
        assert_eq!(found.map(|f| f.name), Some(m.name));
    }
    // A raw command finds its metadata through the same table.
    assert_eq!(Cmd::new("xadd").arg("s").meta().unwrap().name, "XADD");
}
