//! Builder paths that the one-invocation-per-command conformance test does not take, sent to real
//! servers: choices nested in a required argument (GEOSEARCH ... BYPOLYGON), replies that are nil
//! for a missing key, and the version check of choices nested inside other choices.

use valkey::cmd::{self, ClientKillFilter, ClientKillFilters, GeoUnit};
use valkey::sync::Connection;
use valkey::{Command, ConnectionInfo, ErrorKind, Protocol};
use valkey_tests::Server;

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

fn square(lon: f64, lat: f64, d: f64) -> Vec<cmd::LonLat> {
    [
        (lon - d, lat - d),
        (lon + d, lat - d),
        (lon + d, lat + d),
        (lon - d, lat + d),
    ]
    .into_iter()
    .map(|(longitude, latitude)| cmd::LonLat {
        longitude,
        latitude,
    })
    .collect()
}

#[test]
fn geosearch_bypolygon_writes_its_token() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        let _: i64 = con
            .send(cmd::geoadd(
                "places",
                [
                    (13.361389, 38.115556, "Palermo"),
                    (15.087269, 37.502669, "Catania"),
                ],
            ))
            .unwrap();
        let polygon = cmd::geosearch::<_, Vec<String>>("places").bypolygon(cmd::GeoPolygon {
            vertices: square(13.36, 38.11, 0.5),
        });
        assert_eq!(
            cmd::args(&polygon)[2..4],
            [b"BYPOLYGON".to_vec(), b"4".to_vec()]
        );
        let found: Vec<String> = con.send(polygon).unwrap();
        assert_eq!(found, ["Palermo"]);
        let stored: i64 = con
            .send(
                cmd::geosearchstore("near", "places").bypolygon(cmd::GeoPolygon {
                    vertices: square(14.2, 37.8, 1.5),
                }),
            )
            .unwrap();
        assert_eq!(stored, 2);
        // The other shapes need FROM (before them), and work with it.
        let near: Vec<String> = con
            .send(
                cmd::geosearch("places")
                    .fromlonlat(15.0, 37.0)
                    .byradius(100.0, GeoUnit::Km),
            )
            .unwrap();
        assert_eq!(near, ["Catania"]);
        let boxed: Vec<String> = con
            .send(
                cmd::geosearch("places")
                    .frommember("Palermo")
                    .bybox(400.0, 400.0, GeoUnit::Km)
                    .asc()
                    .count(2),
            )
            .unwrap();
        assert_eq!(boxed, ["Palermo", "Catania"]);
        let stored: i64 = con
            .send(
                cmd::geosearchstore("near", "places")
                    .frommember("Catania")
                    .byradius(1.0, GeoUnit::Km)
                    .storedist(),
            )
            .unwrap();
        assert_eq!(stored, 1);
    }
}

#[test]
fn expire_conditions_combine_as_the_server_allows() {
    // XX with GT or LT is accepted by the server (the spec lists the four as one choice).
    for server in [Server::valkey().unwrap(), Server::redis().unwrap()] {
        for mut con in connections(&server) {
            let () = con.send(cmd::set("k", "v")).unwrap();
            // No TTL yet: XX refuses.
            let set: bool = con.send(cmd::expire("k", 100).xx().gt()).unwrap();
            assert!(!set);
            let set: bool = con.send(cmd::expire("k", 100).nx()).unwrap();
            assert!(set);
            let set: bool = con.send(cmd::expire("k", 200).gt().xx()).unwrap();
            assert!(set);
            let set: bool = con.send(cmd::pexpire("k", 50_000).xx().lt()).unwrap();
            assert!(set);
            let set: bool = con
                .send(cmd::expireat("k", 4_102_444_800).xx().gt())
                .unwrap();
            assert!(set);
            let set: bool = con
                .send(cmd::pexpireat("k", 4_102_444_800_000).lt().xx())
                .unwrap();
            assert!(!set);
            let set: bool = con.send(cmd::expire("k", 100).xx_if(true).lt()).unwrap();
            assert!(set);
        }
    }
    // The hash field expirations (Valkey 9) the same way.
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        let _: i64 = con.send(cmd::hset("h", [("f", "v")])).unwrap();
        let set: Vec<i64> = con.send(cmd::hexpire("h", 100, ["f"]).nx()).unwrap();
        assert_eq!(set, [1]);
        let set: Vec<i64> = con
            .send(cmd::hpexpire("h", 200_000, ["f"]).xx().gt())
            .unwrap();
        assert_eq!(set, [1]);
    }
}

#[test]
fn object_counters_of_a_missing_key_are_none() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        let _: i64 = con.send(cmd::del("nothing")).unwrap();
        assert_eq!(con.send(cmd::object_idletime("nothing")).unwrap(), None);
        assert_eq!(con.send(cmd::object_refcount("nothing")).unwrap(), None);
        assert_eq!(con.send(cmd::object_freq("nothing")).unwrap(), None);
        con.send(cmd::set("present", "1")).unwrap();
        assert!(con.send(cmd::object_idletime("present")).unwrap().is_some());
        assert!(con.send(cmd::object_refcount("present")).unwrap().is_some());
        // FREQ needs an LFU policy.
        con.send(cmd::config_set([("maxmemory-policy", "allkeys-lfu")]))
            .unwrap();
        assert!(con.send(cmd::object_freq("present")).unwrap().is_some());
        con.send(cmd::config_set([("maxmemory-policy", "noeviction")]))
            .unwrap();
    }
}

#[test]
fn a_nested_choice_newer_than_the_server_is_refused_and_named() {
    let redis = Server::redis().unwrap();
    let mut con = Connection::open(redis.url()).unwrap();
    let kill = || {
        cmd::client_kill(ClientKillFilter::Filters(vec![
            ClientKillFilters::Laddr("127.0.0.1:1".into()),
            ClientKillFilters::Maxage(1000),
        ]))
    };
    // MAXAGE is Valkey 8.0: refused by Redis 7.0 before sending.
    let e = con.send(kill()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("CLIENT KILL"), "{e}");
    let named = cmd::name_argument_needing(&kill(), e).to_string();
    assert!(named.starts_with("CLIENT KILL on "), "{named}");
    assert!(named.contains(": CLIENT KILL MAXAGE: "), "{named}");
    // The same filter without MAXAGE is sent (and kills nobody).
    let n: i64 = con
        .send(cmd::client_kill(ClientKillFilter::Filters(vec![
            ClientKillFilters::Laddr("127.0.0.1:1".into()),
        ])))
        .unwrap();
    assert_eq!(n, 0);
    // SET ... IFEQ names its argument too.
    let ifeq = cmd::set("k", "v").ifeq("old");
    let e = con.send(&ifeq).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let named = cmd::name_argument_needing(&ifeq, e).to_string();
    assert!(
        named.starts_with("SET on ")
            && named.contains(": SET IFEQ: ")
            && named.contains("Redis 7.0"),
        "{named}"
    );

    // Valkey 9.1 takes MAXAGE.
    let valkey = Server::valkey().unwrap();
    let mut con = Connection::open(valkey.url()).unwrap();
    let n: i64 = con.send(kill()).unwrap();
    assert_eq!(n, 0);
}

#[derive(valkey::ToValkeyArgs)]
struct Profile {
    name: String,
    age: u32,
}

#[test]
fn repeated_groups_take_tuples_in_the_commands_order() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        con.send(cmd::flushall()).unwrap();
        // ZADD: (score, member); any number type for the score.
        let added: i64 = con
            .send(cmd::zadd("z", [(1.5, "alice"), (2.0, "bob")]))
            .unwrap();
        assert_eq!(added, 2);
        let added: i64 = con
            .send(cmd::zadd("z", vec![(3, "carol".to_string())]))
            .unwrap();
        assert_eq!(added, 1);
        let one: i64 = con.send(cmd::zadd("z", (4u32, "dave"))).unwrap();
        assert_eq!(one, 1);
        let all: Vec<String> = con.send(cmd::zrange("z", "0", "-1")).unwrap();
        assert_eq!(all, ["alice", "bob", "carol", "dave"]);
        // HSET: (field, value) pairs, a map, or a derived struct.
        let n: i64 = con
            .send(cmd::hset("h", [("f1", "v1"), ("f2", "v2")]))
            .unwrap();
        assert_eq!(n, 2);
        let map: std::collections::BTreeMap<&str, i64> = [("f3", 3), ("f4", 4)].into();
        let n: i64 = con.send(cmd::hset("h", &map)).unwrap();
        assert_eq!(n, 2);
        let profile = Profile {
            name: "ann".into(),
            age: 33,
        };
        let n: i64 = con.send(cmd::hset("p", &profile)).unwrap();
        assert_eq!(n, 2);
        // GEOADD: (longitude, latitude, member).
        let n: i64 = con
            .send(cmd::geoadd("g", [(13.361389, 38.115556, "Palermo")]))
            .unwrap();
        assert_eq!(n, 1);
        // MSET: (key, value).
        con.send(cmd::mset([("a", 1), ("b", 2)])).unwrap();
        let v: Vec<Option<i64>> = con.send(cmd::mget(["a", "b"])).unwrap();
        assert_eq!(v, [Some(1), Some(2)]);
    }
}

#[test]
fn script_keys_are_counted_one_by_one() {
    let server = Server::valkey().unwrap();
    let mut con = Connection::open(server.url()).unwrap();
    let n: i64 = con
        .send(cmd::eval("return #KEYS").keys(["a", "b"]))
        .unwrap();
    assert_eq!(n, 2);
    let n: i64 = con.send(cmd::eval("return #KEYS").keys("a")).unwrap();
    assert_eq!(n, 1);
    let keys = vec!["a".to_string(), "b".into(), "c".into()];
    let n: i64 = con
        .send(cmd::eval("return #KEYS + #ARGV").keys(&keys).args(["x"]))
        .unwrap();
    assert_eq!(n, 4);
}

#[test]
fn zadd_options_the_server_accepts_together_compile_and_run() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        con.send(cmd::flushall()).unwrap();
        let n: i64 = con.send(cmd::zadd("z", [(1.0, "ann")]).nx()).unwrap();
        assert_eq!(n, 1);
        // XX with GT, CH: accepted together.
        let n: i64 = con
            .send(cmd::zadd("z", [(5.0, "ann")]).xx().gt().ch())
            .unwrap();
        assert_eq!(n, 1);
        // INCR with one pair (a tuple or a one-element array), with NX or with GT.
        let s: Option<f64> = con.send(cmd::zadd("z", (2.0, "ann")).incr()).unwrap();
        assert_eq!(s, Some(7.0));
        let s: Option<f64> = con
            .send(cmd::zadd("z", [(1.0, "bob")]).nx().incr())
            .unwrap();
        assert_eq!(s, Some(1.0));
        let s: Option<f64> = con
            .send(cmd::zadd("z", [(-1.0, "bob")]).gt().incr())
            .unwrap();
        assert_eq!(s, None);
    }
}

#[test]
fn options_given_at_run_time_keep_one_type() {
    let server = Server::valkey().unwrap();
    let mut con = Connection::open(server.url()).unwrap();
    for ttl in [None, Some(100)] {
        // Both branches build one type.
        let set = if ttl.is_some() {
            cmd::set("k", "v").ex_opt(ttl)
        } else {
            cmd::set("k", "v").ex_opt(None)
        };
        con.send(set).unwrap();
        let left: i64 = con.send(cmd::ttl("k")).unwrap();
        assert_eq!(left, if ttl.is_some() { 100 } else { -1 });
    }
    for xx in [false, true] {
        // A condition chosen at run time, with an option excluded only by NX.
        let n: i64 = con
            .send(cmd::zadd("z", [(1.0, "m")]).xx_if(xx).gt().ch())
            .unwrap();
        assert_eq!(n, if xx { 0 } else { 1 });
    }
    // Only an option actually given raises the version the command needs.
    use valkey::Command;
    assert_eq!(cmd::expire("k", 10).nx_if(false).min_version(), None);
    assert_eq!(
        cmd::expire("k", 10).nx_if(true).min_version(),
        Some(valkey::cmd::Version::new(7, 0, 0))
    );
    con.send(cmd::set("fresh", "v")).unwrap();
    let n: bool = con.send(cmd::expire("fresh", 10).nx_if(true)).unwrap();
    assert!(n);
    // NX refuses a key that has a time to live already.
    let n: bool = con.send(cmd::expire("fresh", 10).nx_if(true)).unwrap();
    assert!(!n);
}

#[test]
fn expirations_and_timeouts_take_durations_and_system_times() {
    use std::time::{Duration, SystemTime};
    let server = Server::valkey().unwrap();
    let mut con = Connection::open(server.url()).unwrap();
    con.send(cmd::set("a", "1").ex(Duration::from_secs(100)))
        .unwrap();
    let left: i64 = con.send(cmd::ttl("a")).unwrap();
    assert!((99..=100).contains(&left), "{left}");
    con.send(cmd::set("b", "1").px(Duration::from_millis(50_000)))
        .unwrap();
    let left: i64 = con.send(cmd::pttl("b")).unwrap();
    assert!((49_000..=50_000).contains(&left), "{left}");
    let at = SystemTime::now() + Duration::from_secs(3600);
    con.send(cmd::set("c", "1").exat(at)).unwrap();
    let left: i64 = con.send(cmd::ttl("c")).unwrap();
    assert!((3598..=3600).contains(&left), "{left}");
    con.send(cmd::set("d", "1").pxat(at)).unwrap();
    let when: i64 = con.send(cmd::pexpiretime("d")).unwrap();
    let want = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert_eq!(when, want);
    let set: bool = con.send(cmd::expire("a", Duration::from_secs(10))).unwrap();
    assert!(set);
    // Plain integers (even large literals) still work.
    con.send(cmd::set("e", "1").pxat(4_102_444_800_000))
        .unwrap();
    let set: bool = con.send(cmd::expireat("e", 4_102_444_800)).unwrap();
    assert!(set);
    // A blocking timeout with a fraction of a second.
    let started = std::time::Instant::now();
    let got: Option<(String, String)> = con
        .send(cmd::blpop("empty", Duration::from_millis(200)))
        .unwrap();
    assert_eq!(got, None);
    assert!(started.elapsed() >= Duration::from_millis(150));
}

#[test]
fn xread_takes_stream_and_id_pairs() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        con.send(cmd::flushall()).unwrap();
        for s in ["s1", "s2"] {
            let id = cmd::XaddIdSelector::Id("1-1".into());
            let _: String = con.send(cmd::xadd(s, id, [("f", "v")])).unwrap();
        }
        let read = cmd::xread::<_, valkey::Value>([("s1", "0"), ("s2", "0")]).count(10);
        assert_eq!(
            cmd::args(&read),
            ["XREAD", "COUNT", "10", "STREAMS", "s1", "s2", "0", "0"]
                .map(|s| s.as_bytes().to_vec())
        );
        let v: valkey::Value = con.send(read).unwrap();
        let text = format!("{v:?}");
        assert!(text.contains("s1") && text.contains("s2"), "{text}");
        // A map works too, and a group read.
        let id = cmd::XgroupCreateIdSelector::Id("0".into());
        con.send(cmd::xgroup_create("s1", "g", id)).unwrap();
        let streams: std::collections::BTreeMap<&str, &str> = [("s1", ">")].into();
        let v: valkey::Value = con
            .send(cmd::xreadgroup("g", "c", &streams).count(1))
            .unwrap();
        assert!(format!("{v:?}").contains("s1"));
    }
}

#[test]
fn weights_are_numbers() {
    let server = Server::valkey().unwrap();
    let mut con = Connection::open(server.url()).unwrap();
    let _: i64 = con.send(cmd::zadd("{z}a", [(1.0, "m")])).unwrap();
    let _: i64 = con.send(cmd::zadd("{z}b", [(2.0, "m")])).unwrap();
    let n: i64 = con
        .send(cmd::zunionstore("{z}d", ["{z}a", "{z}b"]).weights([2.0, 0.5]))
        .unwrap();
    assert_eq!(n, 1);
    let score: Option<f64> = con.send(cmd::zscore("{z}d", "m")).unwrap();
    assert_eq!(score, Some(3.0));
    // Integers are numbers too, and a Vec.
    let n: i64 = con
        .send(cmd::zunionstore("{z}d", ["{z}a", "{z}b"]).weights(vec![1, 1]))
        .unwrap();
    assert_eq!(n, 1);
}

#[test]
fn weights_go_one_per_key() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        let _: i64 = con.send(cmd::zadd("{z}a", [(1.0, "m")])).unwrap();
        let _: i64 = con.send(cmd::zadd("{z}b", [(2.0, "m")])).unwrap();
        // Arrays: their lengths agree, or it does not compile.
        let scores: Vec<(String, f64)> = con
            .send(
                cmd::zunion(["{z}a", "{z}b"])
                    .weights([3.0, 1.0])
                    .aggregate_max()
                    .withscores(),
            )
            .unwrap();
        assert_eq!(scores, [("m".to_string(), 3.0)]);
        let n: i64 = con
            .send(cmd::zinterstore("{z}d", ["{z}a", "{z}b"]).weights(&[1.0, 1.0]))
            .unwrap();
        assert_eq!(n, 1);
        // Collections known only at run time: compared before sending.
        let keys = vec!["{z}a", "{z}b"];
        let members: Vec<String> = con
            .send(cmd::zinter(&keys).weights(vec![2.0, 2.0]))
            .unwrap();
        assert_eq!(members, ["m"]);
        let err = con
            .send(cmd::zunionstore("{z}d", &keys).weights(vec![1.0]))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let msg = err.to_string();
        assert!(
            msg.contains("ZUNIONSTORE WEIGHTS: 1 value for 2 keys"),
            "{msg}"
        );
        assert!(msg.contains("nothing was sent"), "{msg}");
        let err = con
            .send(
                cmd::zunion::<_, Vec<String>>(["{z}a", "{z}b"])
                    .weights_opt(Some(vec![1.0, 2.0, 3.0])),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        // The connection is still in step.
        let n: i64 = con
            .send(cmd::zunionstore("{z}d", &keys).weights_opt(None::<Vec<f64>>))
            .unwrap();
        assert_eq!(n, 1);
    }
}

#[test]
fn sort_get_takes_one_pattern_or_several() {
    let server = Server::valkey().unwrap();
    let mut con = Connection::open(server.url()).unwrap();
    let _: i64 = con.send(cmd::rpush("ids", ["1", "2"])).unwrap();
    con.send(cmd::mset([("w_1", "one"), ("w_2", "two")]))
        .unwrap();
    let v: Vec<String> = con.send(cmd::sort("ids").get("w_*")).unwrap();
    assert_eq!(v, ["one", "two"]);
    let patterns = vec!["#", "w_*"];
    let v: Vec<String> = con.send(cmd::sort("ids").get(&patterns)).unwrap();
    assert_eq!(v, ["1", "one", "2", "two"]);
}

#[test]
fn tuple_pipelines_and_transactions_take_more_than_16_commands() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        con.send(cmd::flushall()).unwrap();
        let i = || cmd::incr("n");
        let seventeen = (
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            cmd::get::<_, Option<String>>("n"),
        );
        let out = con.pipe(seventeen).unwrap();
        assert_eq!((out.0, out.15, out.16), (1, 16, Some("16".to_string())));
        let seventeen = (
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            i(),
            cmd::get::<_, Option<String>>("n"),
        );
        let out = con.transaction(seventeen).unwrap();
        assert_eq!((out.0, out.15, out.16), (17, 32, Some("32".to_string())));
        // 24 is the largest tuple.
        let out = con
            .pipe((
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
                i(),
            ))
            .unwrap();
        assert_eq!((out.0, out.23), (33, 56));
    }
}

#[test]
fn an_empty_collection_where_the_server_needs_one_is_refused_before_sending() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        let none: Vec<&str> = Vec::new();
        let e = con.send(cmd::watch(&none)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(
            e.command() == Some("WATCH")
                && e.to_string()
                    .contains(": WATCH takes at least 1 argument after its name, 0 given"),
            "{e}"
        );
        let e = con.send(cmd::del(&none)).unwrap_err();
        assert!(e.to_string().contains(": DEL takes at least 1"), "{e}");
        // In a batch, the command is named and nothing of the batch is sent.
        let e = con.pipe((cmd::incr("n"), cmd::exists(&none))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("EXISTS takes at least 1"), "{e}");
        let n: Option<i64> = con.send(cmd::get("n")).unwrap();
        assert_eq!(n, None);
        // The connection is still in step; one key is enough.
        con.send(cmd::watch(["k"])).unwrap();
        con.send(cmd::unwatch()).unwrap();
        // A raw command is the server's to judge.
        let e = con.send(valkey::Cmd::new("WATCH")).unwrap_err();
        assert!(e.to_string().contains("wrong number of arguments"), "{e}");
    }
}

#[test]
fn integer_replies_read_into_any_integer_type_or_bool() {
    use valkey::Command;
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        con.send(cmd::flushall()).unwrap();
        let _: i64 = con.send(cmd::rpush("l", ["a", "b", "c"])).unwrap();
        let len: usize = con.send(cmd::llen("l").returning()).unwrap();
        assert_eq!(len, 3);
        let len: u8 = con.send_as(&cmd::llen("l")).unwrap();
        assert_eq!(len, 3);
        let n = con.send(cmd::incr("n").returning::<u64>()).unwrap();
        assert_eq!(n, 1);
        let there: bool = con.send_as(&cmd::exists("l")).unwrap();
        assert!(there);
        let there: bool = con.send(cmd::exists("nope").returning()).unwrap();
        assert!(!there);
        // Out of range: an error naming the range, and the connection stays in step.
        let _: i64 = con.send(cmd::decrby("n", 3)).unwrap();
        let e = con.send(cmd::incr("n").returning::<u32>()).unwrap_err();
        assert!(e.is_conversion(), "{e}");
        assert!(e.to_string().contains("u32's range 0..=4294967295"), "{e}");
        let e = con
            .send_as::<_, bool>(&cmd::exists(["l", "l"]))
            .unwrap_err();
        assert!(e.to_string().contains("0/1"), "{e}");
        // Inference without an annotation still gives i64.
        let n = con.send(cmd::incr("n")).unwrap();
        assert_eq!(n, 0i64);
    }
}

#[derive(valkey::FromValkey, Debug, PartialEq)]
struct Scored(String, f64);

#[derive(valkey::FromValkey, Debug, PartialEq)]
struct Person {
    name: String,
    age: u32,
}

#[test]
fn derived_structs_read_both_protocols_and_missing_hashes() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        con.send(cmd::flushall()).unwrap();
        let _: i64 = con.send(cmd::zadd("z", [(1.5, "a"), (2.0, "b")])).unwrap();
        let scored: Vec<Scored> = con.send(cmd::zrange("z", "0", "-1").withscores()).unwrap();
        assert_eq!(scored, [Scored("a".into(), 1.5), Scored("b".into(), 2.0)]);
        let none: Option<Person> = con.send(cmd::hgetall("missing")).unwrap();
        assert_eq!(none, None);
        let _: i64 = con
            .send(cmd::hset("p", [("name", "ann"), ("age", "33")]))
            .unwrap();
        let some: Option<Person> = con.send(cmd::hgetall("p")).unwrap();
        assert_eq!(
            some,
            Some(Person {
                name: "ann".into(),
                age: 33
            })
        );
        let _: i64 = con.send(cmd::hset("p", [("age", "-1")])).unwrap();
        let e = con.send(cmd::hgetall::<_, Person>("p")).unwrap_err();
        assert!(
            e.to_string()
                .contains("Person.age: expected an integer in u32's range 0..=4294967295"),
            "{e}"
        );
    }
}

/// Arguments whose version the spec gives only in the command's history (the overlay's `since`)
/// are refused by an older server before sending, and named; a newer one takes them.
#[test]
fn arguments_dated_only_in_the_history_are_refused_by_an_older_server() {
    let redis = Server::redis().unwrap();
    let mut con = Connection::open(redis.url()).unwrap();
    let withscore = cmd::zrank("z", "m").withscore();
    let e = con.send(&withscore).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let named = cmd::name_argument_needing(&withscore, e).to_string();
    assert_eq!(named.matches("ZRANK WITHSCORE: ").count(), 1, "{named}");
    let e = con.send(cmd::zrevrank("z", "m").withscore()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = con
        .send(cmd::hscan::<_, valkey::Value>("h", 0).novalues())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    let e = con
        .send(cmd::zscan::<_, valkey::Value>("z", 0).noscores())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    // Without them, the same commands run.
    assert_eq!(con.send(cmd::zrank("z", "m")).unwrap(), None);

    let valkey = Server::valkey().unwrap();
    let mut con = Connection::open(valkey.url()).unwrap();
    assert_eq!(con.send(cmd::zrank("z", "m").withscore()).unwrap(), None);
    let _: valkey::Value = con.send(cmd::hscan("h", 0).novalues()).unwrap();
}

/// What the overlay's `reply_schema_exceptions` say where Valkey's reply schemas are wrong or
/// shallow, against the server in both protocols.
#[test]
fn replies_the_reply_schemas_get_wrong_read_as_the_overlay_says() {
    let server = Server::valkey().unwrap();
    for mut con in connections(&server) {
        con.send(cmd::flushall()).unwrap();
        // TYPE of a missing key: the status `none`, not nil.
        assert_eq!(con.send(cmd::type_("nothing")).unwrap(), "none");
        // GEOHASH: a nil element for a member not in the set.
        let _: i64 = con.send(cmd::geoadd("g", [(13.36, 38.11, "p")])).unwrap();
        let hashes = con
            .send(cmd::geohash("g").member(["p", "missing"]))
            .unwrap();
        assert!(hashes[0].is_some() && hashes[1].is_none(), "{hashes:?}");
        // CLIENT KILL ip:port answers OK, read as `()`.
        let mut victim = Connection::open(server.url()).unwrap();
        let info: String = victim.send(cmd::client_info()).unwrap();
        let addr = info
            .split(' ')
            .find_map(|f| f.strip_prefix("addr="))
            .unwrap()
            .to_string();
        let () = con
            .send(cmd::client_kill(ClientKillFilter::IpPort(addr.clone().into())).returning::<()>())
            .unwrap();
        let clients: String = con.send(cmd::client_list()).unwrap();
        assert!(!clients.contains(&format!("addr={addr} ")), "{clients}");
    }
}
