//! Replies from real servers (Valkey 9.1 and Redis 7.0, RESP2 and RESP3) read into std types and
//! derived structs: the same Rust type reads both protocols' shapes of the same reply.

use std::collections::{BTreeMap, HashMap, HashSet};
use valkey::sync::Connection;
use valkey::{Cmd, ConnectionInfo, Error, FromValkey, Protocol, ToValkeyArgs, Value};
use valkey_tests::{Server, ServerKind, ServerOptions};

const KINDS: [ServerKind; 2] = [ServerKind::Valkey, ServerKind::Redis];
const PROTOCOLS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

/// Runs `f` with a fresh connection for each server kind and protocol.
fn each_connection(mut f: impl FnMut(&mut Connection, Protocol, ServerKind)) {
    for kind in KINDS {
        let server: Server = ServerOptions::new(kind).start().expect("server starts");
        for protocol in PROTOCOLS {
            let info = ConnectionInfo::from_url(&server.url())
                .unwrap()
                .with_protocol(protocol);
            let mut con = Connection::open(info).unwrap();
            assert_eq!(con.server_info().protocol, protocol);
            let _: Value = con.send(Cmd::new("FLUSHALL")).unwrap();
            f(&mut con, protocol, kind);
        }
    }
}

/// Sends a raw command and reads the reply into `T`.
fn query<T: FromValkey>(con: &mut Connection, cmd: Cmd) -> T {
    let shown = format!("{cmd:?}");
    match con.send(cmd.returning::<T>()) {
        Ok(v) => v,
        Err(e) => panic!("{shown} into {}: {e}", std::any::type_name::<T>()),
    }
}

#[derive(FromValkey, ToValkeyArgs, Debug, PartialEq, Clone)]
#[valkey(rename_all = "kebab-case")]
struct Profile {
    display_name: String,
    visits: u64,
    score: f64,
    nickname: Option<String>,
    active: bool,
    #[valkey(rename = "raw")]
    data: Vec<u8>,
}

#[test]
fn derived_struct_round_trips_through_hset_and_hgetall() {
    each_connection(|con, protocol, kind| {
        let profile = Profile {
            display_name: "Ann Å".into(),
            visits: 7,
            score: 0.1,
            nickname: None,
            active: true,
            data: b"\x00\xff\r\n".to_vec(),
        };
        let added: i64 = query(con, Cmd::new("HSET").arg("p:1").arg(&profile));
        assert_eq!(added, 5, "None is not written");
        let back: Profile = query(con, Cmd::new("HGETALL").arg("p:1"));
        assert_eq!(back, profile, "{kind:?} {protocol:?}");

        let raw: Value = query(con, Cmd::new("HGETALL").arg("p:1"));
        match protocol {
            Protocol::Resp3 => assert!(matches!(raw, Value::Map(_)), "{raw:?}"),
            _ => assert!(matches!(raw, Value::Array(_)), "{raw:?}"),
        }

        // A missing key is an empty hash: the required fields are reported missing.
        let e = con
            .send(Cmd::new("HGETALL").arg("p:none").returning::<Profile>())
            .unwrap_err();
        // The error names the command and the server, then what is wrong.
        assert_eq!(e.command(), Some("HGETALL"), "{e}");
        assert!(
            e.to_string()
                .ends_with(": missing field \"display-name\" in Profile"),
            "{e}"
        );
        // A field of the wrong shape names the struct and the field.
        let _: i64 = query(con, Cmd::new("HSET").arg("p:1").arg("visits").arg("many"));
        let e = con
            .send(Cmd::new("HGETALL").arg("p:1").returning::<Profile>())
            .unwrap_err();
        assert!(e.is_conversion());
        assert!(
            e.to_string()
                .ends_with(": Profile.visits: expected an integer, got bulk string \"many\""),
            "{e}"
        );
    });
}

#[derive(FromValkey, Debug)]
struct MemoryConfig {
    maxmemory: u64,
    #[valkey(rename = "maxmemory-policy")]
    policy: EvictionPolicy,
}

#[derive(FromValkey, Debug, PartialEq)]
#[valkey(rename_all = "kebab-case")]
enum EvictionPolicy {
    Noeviction,
    AllkeysLru,
    VolatileLru,
    AllkeysLfu,
    VolatileLfu,
    AllkeysRandom,
    VolatileRandom,
    VolatileTtl,
}

#[test]
fn config_get_reads_into_a_map_and_a_struct() {
    each_connection(|con, _, _| {
        let _: () = query(
            con,
            Cmd::new("CONFIG")
                .arg("SET")
                .arg("maxmemory-policy")
                .arg("allkeys-lru"),
        );
        let m: HashMap<String, String> =
            query(con, Cmd::new("CONFIG").arg("GET").arg("maxmemory*"));
        assert_eq!(m["maxmemory-policy"], "allkeys-lru");
        assert_eq!(m["maxmemory"], "0");
        let c: MemoryConfig = query(con, Cmd::new("CONFIG").arg("GET").arg("maxmemory*"));
        assert_eq!(c.maxmemory, 0);
        assert_eq!(c.policy, EvictionPolicy::AllkeysLru);
        let pairs: Vec<(String, String)> =
            query(con, Cmd::new("CONFIG").arg("GET").arg("maxmemory-policy"));
        assert_eq!(pairs, [("maxmemory-policy".into(), "allkeys-lru".into())]);
    });
}

/// One stream entry: `[id, [field, value, ...]]` in both protocols.
#[derive(FromValkey, Debug, PartialEq)]
struct StreamEntry(String, BTreeMap<String, String>);

#[derive(FromValkey, Debug)]
#[valkey(rename_all = "kebab-case")]
struct StreamInfo {
    length: u64,
    last_generated_id: String,
    first_entry: Option<StreamEntry>,
    last_entry: Option<StreamEntry>,
    groups: u64,
}

#[test]
fn streams_read_into_tuple_structs_and_nested_structs() {
    each_connection(|con, protocol, kind| {
        for i in 0..3 {
            let _: String = query(
                con,
                Cmd::new("XADD")
                    .arg("s")
                    .arg(format!("{}-0", i + 1))
                    .arg(BTreeMap::from([("n", i.to_string()), ("k", "v".into())])),
            );
        }
        let entries: Vec<StreamEntry> = query(con, Cmd::new("XRANGE").arg("s").arg("-").arg("+"));
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[2].0, "3-0");
        assert_eq!(entries[2].1["n"], "2");

        let info: StreamInfo = query(con, Cmd::new("XINFO").arg("STREAM").arg("s"));
        assert_eq!(info.length, 3, "{kind:?} {protocol:?}");
        assert_eq!(info.last_generated_id, "3-0");
        assert_eq!(info.first_entry.unwrap().0, "1-0");
        assert_eq!(info.last_entry.unwrap().1["k"], "v");
        assert_eq!(info.groups, 0);

        // An empty stream's first entry is nil.
        let _: i64 = query(con, Cmd::new("XTRIM").arg("s").arg("MAXLEN").arg(0));
        let info: StreamInfo = query(con, Cmd::new("XINFO").arg("STREAM").arg("s"));
        assert!(info.first_entry.is_none());

        // XREAD: RESP2 [[key, entries]], RESP3 {key: entries}: a map reads both.
        let _: String = query(con, Cmd::new("XADD").arg("s").arg("9-0").arg(("a", "b")));
        let read: HashMap<String, Vec<StreamEntry>> =
            query(con, Cmd::new("XREAD").arg("STREAMS").arg("s").arg("0"));
        assert_eq!(read["s"][0].0, "9-0");
        // Nothing new: nil in both protocols.
        let none: Option<HashMap<String, Vec<StreamEntry>>> =
            query(con, Cmd::new("XREAD").arg("STREAMS").arg("s").arg("$"));
        assert!(none.is_none());
    });
}

#[test]
fn client_info_reads_as_text_in_both_protocols() {
    each_connection(|con, protocol, _| {
        // RESP3 sends a verbatim string (`txt:` format), RESP2 a bulk string: both are text.
        let raw: Value = query(con, Cmd::new("CLIENT").arg("INFO"));
        if protocol == Protocol::Resp3 {
            assert!(matches!(raw, Value::VerbatimString { .. }), "{raw:?}");
        }
        let line: String = query(con, Cmd::new("CLIENT").arg("INFO"));
        assert!(line.starts_with("id="), "{line}");
        let fields: HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let id: i64 = query(con, Cmd::new("CLIENT").arg("ID"));
        assert_eq!(fields["id"], id.to_string());
        let expected_resp = if protocol == Protocol::Resp3 {
            "3"
        } else {
            "2"
        };
        assert_eq!(fields["resp"], expected_resp);
    });
}

#[test]
fn scores_sets_and_booleans_read_alike_in_both_protocols() {
    each_connection(|con, protocol, kind| {
        let _: i64 = query(
            con,
            Cmd::new("ZADD")
                .arg("z")
                .arg((1.5, "a"))
                .arg((2, "b"))
                .arg((f64::INFINITY, "c")),
        );
        // RESP2: flat [m, "1.5", ...]; RESP3: [[m, 1.5], ...].
        let ranked: Vec<(String, f64)> = query(
            con,
            Cmd::new("ZRANGE").arg("z").arg(0).arg(-1).arg("WITHSCORES"),
        );
        assert_eq!(
            ranked,
            [
                ("a".into(), 1.5),
                ("b".into(), 2.0),
                ("c".into(), f64::INFINITY)
            ],
            "{kind:?} {protocol:?}"
        );
        let by_member: HashMap<String, f64> = query(
            con,
            Cmd::new("ZRANGE").arg("z").arg(0).arg(-1).arg("WITHSCORES"),
        );
        assert_eq!(by_member["b"], 2.0);
        let score: f64 = query(con, Cmd::new("ZSCORE").arg("z").arg("a"));
        assert_eq!(score, 1.5);
        // An integral score reads as an integer whether it came as "2" or as double 2.0.
        let score: i64 = query(con, Cmd::new("ZSCORE").arg("z").arg("b"));
        assert_eq!(score, 2);
        let e = con
            .send(Cmd::new("ZSCORE").arg("z").arg("a").returning::<i64>())
            .unwrap_err();
        assert!(e.is_conversion(), "{e}");
        let missing: Option<f64> = query(con, Cmd::new("ZSCORE").arg("z").arg("nope"));
        assert_eq!(missing, None);

        let _: i64 = query(con, Cmd::new("SADD").arg("set").arg(["x", "y", "x"]));
        let members: HashSet<String> = query(con, Cmd::new("SMEMBERS").arg("set"));
        assert_eq!(members, HashSet::from(["x".into(), "y".into()]));
        let members: Vec<String> = query(con, Cmd::new("SMEMBERS").arg("set"));
        assert_eq!(members.len(), 2);

        let is_member: bool = query(con, Cmd::new("SISMEMBER").arg("set").arg("x"));
        assert!(is_member);
        let exists: bool = query(con, Cmd::new("EXISTS").arg("nope"));
        assert!(!exists);
        // Lua booleans: 1 and nil by default; RESP3 true/false after `redis.setresp(3)`.
        let t: bool = query(con, Cmd::new("EVAL").arg("return true").arg(0));
        assert!(t);
        let f: Option<bool> = query(con, Cmd::new("EVAL").arg("return false").arg(0));
        assert_eq!(f, None);
        if protocol == Protocol::Resp3 {
            let script = |b: &str| format!("redis.setresp(3); return {b}");
            let raw: Value = query(con, Cmd::new("EVAL").arg(script("false")).arg(0));
            assert_eq!(raw, Value::Boolean(false));
            let f: bool = query(con, Cmd::new("EVAL").arg(script("false")).arg(0));
            assert!(!f);
            let t: bool = query(con, Cmd::new("EVAL").arg(script("true")).arg(0));
            assert!(t);
        }

        let ok: () = query(con, Cmd::new("SET").arg("k").arg(1.25));
        assert_eq!(ok, ());
        let back: f32 = query(con, Cmd::new("GET").arg("k"));
        assert_eq!(back, 1.25);
        let nx: Option<()> = query(con, Cmd::new("SET").arg("k").arg("v").arg("NX"));
        assert_eq!(nx, None);
    });
}

#[test]
fn exec_replies_keep_per_command_errors() {
    each_connection(|con, _, _| {
        let _: () = query(con, Cmd::new("SET").arg("text").arg("abc"));
        let _: () = query(con, Cmd::new("MULTI"));
        let _: () = query(con, Cmd::new("INCR").arg("counter"));
        let _: () = query(con, Cmd::new("INCR").arg("text"));
        let _: () = query(con, Cmd::new("GET").arg("text"));
        let (a, b, c): (
            Result<i64, Error>,
            Result<i64, Error>,
            Result<String, Error>,
        ) = query(con, Cmd::new("EXEC"));
        assert_eq!(a.unwrap(), 1);
        let e = b.unwrap_err();
        assert_eq!(e.code(), Some("ERR"));
        assert!(e.to_string().contains("not an integer"), "{e}");
        assert_eq!(c.unwrap(), "abc");

        // Without `Result`, the error element fails the whole conversion with the server's code.
        let _: () = query(con, Cmd::new("MULTI"));
        let _: () = query(con, Cmd::new("INCR").arg("text"));
        let e = con
            .send(Cmd::new("EXEC").returning::<Vec<i64>>())
            .unwrap_err();
        assert_eq!(e.code(), Some("ERR"));
        assert!(e.to_string().starts_with("EXEC on "), "{e}");
        assert!(e.to_string().contains(": [0]: server error: ERR"), "{e}");
    });
}

#[test]
fn lrange_of_300_elements_reads_into_strings_and_bytes() {
    each_connection(|con, _, _| {
        let items: Vec<String> = (0..300).map(|i| format!("element-{i:07}x")).collect();
        let n: i64 = query(con, Cmd::new("RPUSH").arg("l").arg(&items));
        assert_eq!(n, 300);
        let back: Vec<String> = query(con, Cmd::new("LRANGE").arg("l").arg(0).arg(-1));
        assert_eq!(back, items);
        let back: Vec<bytes::Bytes> = query(con, Cmd::new("LRANGE").arg("l").arg(0).arg(-1));
        assert_eq!(back[299], items[299].as_bytes());
        let popped: Option<(String, String)> = query(con, Cmd::new("BLPOP").arg("l").arg(0.01));
        assert_eq!(popped, Some(("l".into(), items[0].clone())));
        let popped: Option<(String, String)> = query(con, Cmd::new("BLPOP").arg("empty").arg(0.01));
        assert_eq!(popped, None);
    });
}
