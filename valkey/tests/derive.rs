//! `#[derive(FromValkey)]` and `#[derive(ToValkeyArgs)]`: replies built by hand in their RESP2
//! and RESP3 shapes, read into derived types; derived arguments compared as exact RESP bytes.

use std::collections::HashMap;
use valkey::convert::ArgWriter;
use valkey::{FromValkey, ToValkeyArgs, Value};

fn bulk(s: &str) -> Value {
    Value::BulkString(s.to_owned().into())
}

fn simple(s: &str) -> Value {
    Value::SimpleString(s.to_owned().into())
}

/// RESP2 flat `[k1, v1, k2, v2]` form of string pairs.
fn flat(pairs: &[(&str, Value)]) -> Value {
    Value::Array(
        pairs
            .iter()
            .flat_map(|(k, v)| [bulk(k), v.clone()])
            .collect(),
    )
}

/// RESP3 map form of string pairs.
fn map(pairs: &[(&str, Value)]) -> Value {
    Value::Map(pairs.iter().map(|(k, v)| (bulk(k), v.clone())).collect())
}

/// Both shapes of the same pairs.
fn both(pairs: &[(&str, Value)]) -> [Value; 2] {
    [flat(pairs), map(pairs)]
}

fn encode(args: &impl ToValkeyArgs) -> String {
    let mut buf = Vec::new();
    let mut w = ArgWriter::new(&mut buf);
    args.write_args(&mut w);
    assert_eq!(
        w.written(),
        args.num_args(),
        "num_args disagrees with write_args"
    );
    String::from_utf8(buf).unwrap()
}

fn err<T: FromValkey + std::fmt::Debug>(v: Value) -> String {
    let e = T::from_valkey(v).unwrap_err();
    assert!(e.is_conversion(), "{e:?}");
    e.to_string()
}

#[derive(FromValkey, ToValkeyArgs, Debug, PartialEq)]
struct User {
    name: String,
    age: u32,
    email: Option<String>,
}

#[test]
fn named_struct_reads_map_and_flat_array() {
    for v in both(&[
        ("name", bulk("ann")),
        ("age", bulk("37")),
        ("email", bulk("a@x")),
    ]) {
        assert_eq!(
            User::from_valkey(v).unwrap(),
            User {
                name: "ann".into(),
                age: 37,
                email: Some("a@x".into())
            }
        );
    }
}

#[test]
fn option_field_may_be_missing_or_nil() {
    for v in both(&[("age", Value::Int(3)), ("name", simple("bo"))]) {
        let u = User::from_valkey(v).unwrap();
        assert_eq!(u.email, None);
        assert_eq!(u.name, "bo");
    }
    for v in both(&[
        ("age", Value::Int(3)),
        ("name", bulk("bo")),
        ("email", Value::Nil),
    ]) {
        assert_eq!(User::from_valkey(v).unwrap().email, None);
    }
}

#[test]
fn unknown_fields_are_ignored_by_default() {
    for v in both(&[
        ("name", bulk("x")),
        ("extra", Value::Array(vec![])),
        ("age", Value::Int(1)),
    ]) {
        assert_eq!(User::from_valkey(v).unwrap().age, 1);
    }
}

#[test]
fn missing_field_names_field_and_struct() {
    for v in both(&[("name", bulk("x"))]) {
        assert_eq!(err::<User>(v), "missing field \"age\" in User");
    }
}

#[test]
fn field_error_names_struct_and_field() {
    for v in both(&[("name", bulk("x")), ("age", bulk("abc"))]) {
        assert_eq!(
            err::<User>(v),
            "User.age: expected an integer, got bulk string \"abc\""
        );
    }
    assert_eq!(
        err::<User>(bulk("x")),
        "expected a map (User), got bulk string \"x\""
    );
    assert_eq!(
        err::<User>(Value::Array(vec![bulk("name")])),
        "expected a map (User) (an even number of elements: key, value, ...), got array of 1 element"
    );
}

#[test]
fn server_error_inside_a_field_keeps_its_code() {
    let v = map(&[
        (
            "name",
            Value::ServerError(valkey::ServerError::new("WRONGTYPE bad")),
        ),
        ("age", Value::Int(1)),
    ]);
    let e = User::from_valkey(v).unwrap_err();
    assert_eq!(e.code(), Some("WRONGTYPE"));
    assert!(e.to_string().starts_with("User.name"), "{e}");
}

#[derive(FromValkey, Debug, PartialEq)]
#[valkey(deny_unknown_fields)]
struct Strict {
    a: i64,
}

#[test]
fn deny_unknown_fields_rejects_with_the_known_names() {
    assert_eq!(
        Strict::from_valkey(map(&[("a", Value::Int(1))])).unwrap(),
        Strict { a: 1 }
    );
    for v in both(&[("a", Value::Int(1)), ("b", Value::Int(2))]) {
        assert_eq!(
            err::<Strict>(v),
            "unknown field \"b\" in Strict, expected one of \"a\""
        );
    }
}

#[derive(FromValkey, ToValkeyArgs, Debug, PartialEq, Default)]
#[valkey(rename_all = "kebab-case")]
struct Config {
    max_memory: u64,
    #[valkey(rename = "maxmemory-policy")]
    policy: String,
    #[valkey(default)]
    append_only: bool,
}

#[derive(FromValkey, Debug, PartialEq)]
struct Config2 {
    #[valkey(default)]
    retries: u32,
}

#[test]
fn rename_rename_all_and_default() {
    for v in both(&[
        ("max-memory", bulk("100")),
        ("maxmemory-policy", bulk("noeviction")),
    ]) {
        assert_eq!(
            Config::from_valkey(v).unwrap(),
            Config {
                max_memory: 100,
                policy: "noeviction".into(),
                append_only: false
            }
        );
    }
    for v in both(&[
        ("max-memory", Value::Int(1)),
        ("maxmemory-policy", bulk("p")),
        ("append-only", Value::Boolean(true)),
    ]) {
        assert!(Config::from_valkey(v).unwrap().append_only);
    }
    assert_eq!(Config2::from_valkey(Value::Map(vec![])).unwrap().retries, 0);
    // the Rust name does not match once renamed
    assert_eq!(
        err::<Config>(map(&[("max_memory", Value::Int(1)), ("policy", bulk("p"))])),
        "missing field \"max-memory\" in Config"
    );
}

macro_rules! rename_all_case {
    ($name:ident, $rule:literal, $field:literal, $variant:literal) => {
        mod $name {
            use super::*;
            #[derive(FromValkey, ToValkeyArgs, Debug, PartialEq)]
            #[valkey(rename_all = $rule)]
            pub struct S {
                pub used_memory_peak: i64,
            }
            #[derive(FromValkey, ToValkeyArgs, Debug, PartialEq)]
            #[valkey(rename_all = $rule)]
            pub enum E {
                AllKeysLru,
            }
            #[test]
            fn renames_fields_and_variants() {
                assert_eq!(
                    S::from_valkey(map(&[($field, Value::Int(5))])).unwrap(),
                    S {
                        used_memory_peak: 5
                    }
                );
                assert_eq!(E::from_valkey(bulk($variant)).unwrap(), E::AllKeysLru);
                assert_eq!(
                    encode(&S {
                        used_memory_peak: 5
                    }),
                    format!("${}\r\n{}\r\n$1\r\n5\r\n", $field.len(), $field)
                );
                assert_eq!(
                    encode(&E::AllKeysLru),
                    format!("${}\r\n{}\r\n", $variant.len(), $variant)
                );
            }
        }
    };
}
rename_all_case!(lower, "lowercase", "used_memory_peak", "allkeyslru");
rename_all_case!(upper, "UPPERCASE", "USED_MEMORY_PEAK", "ALLKEYSLRU");
rename_all_case!(snake, "snake_case", "used_memory_peak", "all_keys_lru");
rename_all_case!(kebab, "kebab-case", "used-memory-peak", "all-keys-lru");
rename_all_case!(camel, "camelCase", "usedMemoryPeak", "allKeysLru");
rename_all_case!(pascal, "PascalCase", "UsedMemoryPeak", "AllKeysLru");
rename_all_case!(
    screaming,
    "SCREAMING_SNAKE_CASE",
    "USED_MEMORY_PEAK",
    "ALL_KEYS_LRU"
);

#[derive(FromValkey, Debug, PartialEq)]
struct Outer {
    user: User,
    entries: Vec<(String, HashMap<String, i64>)>,
}

#[test]
fn nested_types_read_through_their_own_impls() {
    let user = map(&[("name", bulk("a")), ("age", Value::Int(1))]);
    let outer = map(&[
        ("user", user.clone()),
        (
            "entries",
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                flat(&[("x", bulk("1")), ("y", Value::Int(2))]),
            ])]),
        ),
    ]);
    let o = Outer::from_valkey(outer).unwrap();
    assert_eq!(o.user.name, "a");
    assert_eq!(o.entries[0].1["y"], 2);

    let bad = map(&[
        ("user", map(&[("name", bulk("a")), ("age", bulk("old"))])),
        ("entries", Value::Array(vec![])),
    ]);
    assert_eq!(
        err::<Outer>(bad),
        "Outer.user: User.age: expected an integer, got bulk string \"old\""
    );
}

#[derive(FromValkey, Debug, PartialEq)]
struct StreamEntry(String, HashMap<String, String>);

#[test]
fn tuple_struct_reads_an_array_of_its_length() {
    // XRANGE: [[id, [f, v, ...]], ...] in RESP2; RESP3 uses the same arrays.
    let reply = Value::Array(vec![
        Value::Array(vec![bulk("1-0"), flat(&[("a", bulk("1"))])]),
        Value::Array(vec![bulk("2-0"), map(&[("b", bulk("2"))])]),
    ]);
    let entries: Vec<StreamEntry> = FromValkey::from_valkey(reply).unwrap();
    assert_eq!(entries[0].0, "1-0");
    assert_eq!(entries[1].1["b"], "2");
    assert_eq!(
        err::<StreamEntry>(Value::Array(vec![bulk("1-0")])),
        "expected an array of 2 elements (StreamEntry), got array of 1 element"
    );
    assert_eq!(
        err::<StreamEntry>(Value::Array(vec![Value::Int(1), Value::Int(2)])),
        "StreamEntry.1: expected a map, got integer 2"
    );
}

#[derive(FromValkey, ToValkeyArgs, Debug, PartialEq, Clone, Copy)]
struct UserId(u64);

#[derive(FromValkey, ToValkeyArgs, Debug, PartialEq)]
#[valkey(transparent)]
struct Name {
    inner: String,
}

#[test]
fn newtype_and_transparent_read_the_inner_value() {
    assert_eq!(UserId::from_valkey(bulk("42")).unwrap(), UserId(42));
    assert_eq!(UserId::from_valkey(Value::Int(42)).unwrap(), UserId(42));
    assert_eq!(
        Name::from_valkey(simple("ann")).unwrap(),
        Name {
            inner: "ann".into()
        }
    );
    assert_eq!(encode(&UserId(7)), "$1\r\n7\r\n");
    assert_eq!(
        encode(&Name {
            inner: "ann".into()
        }),
        "$3\r\nann\r\n"
    );
    let ids: Vec<UserId> = FromValkey::from_valkey(Value::Array(vec![Value::Int(1)])).unwrap();
    assert_eq!(ids, [UserId(1)]);
}

#[derive(FromValkey, Debug, PartialEq)]
struct Ok_;

#[test]
fn unit_struct_accepts_any_non_error_reply() {
    assert_eq!(Ok_::from_valkey(simple("OK")).unwrap(), Ok_);
    let e = Ok_::from_valkey(Value::ServerError(valkey::ServerError::new("ERR x"))).unwrap_err();
    assert_eq!(e.code(), Some("ERR"));
}

#[derive(FromValkey, ToValkeyArgs, Debug, PartialEq, Clone, Copy)]
#[valkey(rename_all = "lowercase")]
enum KeyType {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
    #[valkey(rename = "ReJSON-RL")]
    Json,
}

#[test]
fn enum_reads_simple_and_bulk_strings() {
    assert_eq!(KeyType::from_valkey(simple("zset")).unwrap(), KeyType::ZSet);
    assert_eq!(KeyType::from_valkey(bulk("hash")).unwrap(), KeyType::Hash);
    assert_eq!(
        KeyType::from_valkey(bulk("ReJSON-RL")).unwrap(),
        KeyType::Json
    );
    assert_eq!(
        err::<KeyType>(simple("none")),
        "expected one of \"string\", \"list\", \"set\", \"zset\", \"hash\", \"stream\", \
         \"ReJSON-RL\" (KeyType), got simple string \"none\""
    );
    assert_eq!(Option::<KeyType>::from_valkey(Value::Nil).unwrap(), None);
    assert_eq!(encode(&KeyType::Stream), "$6\r\nstream\r\n");
    assert_eq!(
        encode(&(KeyType::List, KeyType::Set)),
        "$4\r\nlist\r\n$3\r\nset\r\n"
    );
}

#[derive(ToValkeyArgs, FromValkey, Debug, PartialEq, Clone)]
struct Profile {
    name: String,
    visits: i64,
    score: f64,
    nickname: Option<String>,
    kind: Option<KeyType>,
    #[valkey(rename = "raw")]
    data: Vec<u8>,
    active: bool,
}

#[test]
fn to_valkey_args_writes_field_value_pairs_skipping_none() {
    let p = Profile {
        name: "ann".into(),
        visits: -3,
        score: 2.5,
        nickname: None,
        kind: Some(KeyType::Hash),
        data: vec![0, 255],
        active: true,
    };
    assert_eq!(p.num_args(), 12);
    let mut buf = Vec::new();
    p.write_args(&mut ArgWriter::new(&mut buf));
    assert_eq!(
        buf,
        b"$4\r\nname\r\n$3\r\nann\r\n$6\r\nvisits\r\n$2\r\n-3\r\n$5\r\nscore\r\n$3\r\n2.5\r\n\
          $4\r\nkind\r\n$4\r\nhash\r\n$3\r\nraw\r\n$2\r\n\x00\xff\r\n$6\r\nactive\r\n$1\r\n1\r\n"
    );
}

#[test]
fn hset_arguments_round_trip_through_hgetall_shapes() {
    let p = Profile {
        name: "ann".into(),
        visits: 9,
        score: 0.1,
        nickname: Some("a".into()),
        kind: None,
        data: b"\x00\x01".to_vec(),
        active: false,
    };
    // What HSET writes is exactly what HGETALL returns (fields and values as bulk strings).
    let mut buf = Vec::new();
    let mut w = ArgWriter::new(&mut buf);
    p.write_args(&mut w);
    let args = split_bulks(&buf);
    let pairs: Vec<(String, Value)> = args
        .chunks(2)
        .map(|c| {
            (
                String::from_utf8(c[0].clone()).unwrap(),
                Value::BulkString(c[1].clone().into()),
            )
        })
        .collect();
    let resp2 = Value::Array(
        pairs
            .iter()
            .flat_map(|(k, v)| [bulk(k), v.clone()])
            .collect(),
    );
    let resp3 = Value::Map(pairs.iter().map(|(k, v)| (bulk(k), v.clone())).collect());
    assert_eq!(Profile::from_valkey(resp2).unwrap(), p);
    assert_eq!(Profile::from_valkey(resp3).unwrap(), p);
}

/// Splits `$len\r\npayload\r\n...` into payloads.
fn split_bulks(mut buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        assert_eq!(buf[0], b'$');
        let nl = buf.iter().position(|&b| b == b'\n').unwrap();
        let len: usize = std::str::from_utf8(&buf[1..nl - 1])
            .unwrap()
            .parse()
            .unwrap();
        out.push(buf[nl + 1..nl + 1 + len].to_vec());
        buf = &buf[nl + 1 + len + 2..];
    }
    out
}

#[derive(FromValkey, ToValkeyArgs, Debug, PartialEq)]
struct Wrapper<T> {
    value: T,
    label: Option<String>,
}

#[test]
fn generic_structs_bound_their_parameters() {
    let w: Wrapper<i64> = FromValkey::from_valkey(flat(&[("value", bulk("5"))])).unwrap();
    assert_eq!(
        w,
        Wrapper {
            value: 5,
            label: None
        }
    );
    assert_eq!(encode(&w), "$5\r\nvalue\r\n$1\r\n5\r\n");
}

#[derive(ToValkeyArgs)]
struct Pair(&'static str, Vec<i64>);

#[test]
fn tuple_struct_writes_fields_in_order() {
    // A reference to a derived type is arguments too (`cmd.arg(&value)`).
    assert_eq!(encode(&&Pair("k", vec![])), "$1\r\nk\r\n");
    assert_eq!(
        encode(&Pair("k", vec![1, 2])),
        "$1\r\nk\r\n$1\r\n1\r\n$1\r\n2\r\n"
    );
}

#[derive(FromValkey, Debug)]
struct RawIdent {
    r#type: String,
}

#[test]
fn raw_identifiers_use_the_plain_name() {
    let r = RawIdent::from_valkey(map(&[("type", bulk("list"))])).unwrap();
    assert_eq!(r.r#type, "list");
}

#[test]
fn attributes_around_a_struct_reply_are_ignored() {
    let v = Value::Attribute {
        data: Box::new(map(&[("name", bulk("a")), ("age", Value::Int(2))])),
        attributes: vec![(bulk("ttl"), Value::Int(3))],
    };
    assert_eq!(User::from_valkey(v).unwrap().age, 2);
}

mod renamed_crate {
    // A crate that names the library differently points the derive at it with `crate = "..."`.
    use valkey as vk;

    #[derive(vk::FromValkey, Debug, PartialEq)]
    #[valkey(crate = "vk")]
    struct S {
        a: i64,
    }

    #[test]
    fn crate_attribute_changes_the_path() {
        let v = vk::Value::Map(vec![(
            vk::Value::SimpleString("a".into()),
            vk::Value::Int(1),
        )]);
        assert_eq!(<S as vk::FromValkey>::from_valkey(v).unwrap(), S { a: 1 });
    }
}

#[derive(FromValkey, Debug, PartialEq)]
struct Scored(String, f64);

#[test]
fn two_field_tuple_structs_read_resp2_flat_pairs_and_resp3_pairs() {
    // ZRANGE ... WITHSCORES: RESP2 flat [m1, s1, m2, s2], RESP3 [[m1, s1], [m2, s2]].
    let resp2 = Value::Array(vec![bulk("a"), bulk("1.5"), bulk("b"), bulk("2")]);
    let resp3 = Value::Array(vec![
        Value::Array(vec![bulk("a"), Value::Double(1.5)]),
        Value::Array(vec![bulk("b"), Value::Double(2.0)]),
    ]);
    let want = vec![Scored("a".into(), 1.5), Scored("b".into(), 2.0)];
    for v in [resp2, resp3] {
        assert_eq!(Vec::<Scored>::from_valkey(v).unwrap(), want);
    }
    // A map's entries too (HGETALL into pairs).
    let m: Vec<Scored> = FromValkey::from_valkey(map(&[("a", bulk("3"))])).unwrap();
    assert_eq!(m, [Scored("a".into(), 3.0)]);
    // An element that does not convert names its position.
    let bad = Value::Array(vec![bulk("a"), bulk("x")]);
    assert_eq!(
        Vec::<Scored>::from_valkey(bad).unwrap_err().to_string(),
        "[0]: Scored.1: expected a number, got bulk string \"x\""
    );
    // An odd flat array is an error.
    assert!(Vec::<Scored>::from_valkey(Value::Array(vec![bulk("a")])).is_err());
}

#[test]
fn an_optional_struct_is_none_for_nil_or_an_empty_map() {
    // HGETALL of a missing key: an empty map (RESP3) or an empty array (RESP2).
    for v in [Value::Nil, Value::Map(vec![]), Value::Array(vec![])] {
        assert_eq!(Option::<User>::from_valkey(v).unwrap(), None);
    }
    for v in both(&[("name", bulk("ann")), ("age", Value::Int(3))]) {
        let u = Option::<User>::from_valkey(v).unwrap().unwrap();
        assert_eq!(u.name, "ann");
    }
    // Without the Option, an empty map is still a missing field.
    assert_eq!(
        err::<User>(Value::Map(vec![])),
        "missing field \"name\" in User"
    );
}

#[test]
fn range_errors_name_the_field_and_the_range() {
    for v in both(&[("name", bulk("x")), ("age", Value::Int(-1))]) {
        assert_eq!(
            err::<User>(v),
            "User.age: expected an integer in u32's range 0..=4294967295, got integer -1"
        );
    }
}
