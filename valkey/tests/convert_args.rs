//! `ToValkeyArg`/`ToValkeyArgs` for std types: the exact RESP bytes each writes, and that
//! `num_args` always agrees with what `write_args` wrote.

// References are passed on purpose: they exercise the `&T` impls.
#![allow(clippy::needless_borrows_for_generic_args)]

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use valkey::convert::{write_array_header, ArgWriter};
use valkey::{Cmd, ToValkeyArg, ToValkeyArgs};

/// The RESP bytes `args` writes.
fn encode(args: impl ToValkeyArgs) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = ArgWriter::new(&mut buf);
    args.write_args(&mut w);
    assert_eq!(
        w.written(),
        args.num_args(),
        "num_args disagrees with write_args"
    );
    buf
}

/// The payloads of `args`, as text.
fn words(args: impl ToValkeyArgs) -> Vec<String> {
    let buf = encode(args);
    let mut out = Vec::new();
    let mut rest = &buf[..];
    while !rest.is_empty() {
        assert_eq!(rest[0], b'$');
        let nl = rest.iter().position(|&b| b == b'\n').unwrap();
        let len: usize = std::str::from_utf8(&rest[1..nl - 1])
            .unwrap()
            .parse()
            .unwrap();
        out.push(String::from_utf8_lossy(&rest[nl + 1..nl + 1 + len]).into_owned());
        assert_eq!(&rest[nl + 1 + len..nl + 3 + len], b"\r\n");
        rest = &rest[nl + 3 + len..];
    }
    out
}

fn one(arg: impl ToValkeyArg) -> String {
    arg.with_bytes(|b| String::from_utf8(b.to_vec()).unwrap())
}

#[test]
fn strings_and_bytes_are_one_binary_argument() {
    assert_eq!(encode("ab"), b"$2\r\nab\r\n");
    assert_eq!(encode(String::from("ab")), b"$2\r\nab\r\n");
    assert_eq!(encode(&b"\x00\r\n"[..]), b"$3\r\n\x00\r\n\r\n");
    assert_eq!(encode(vec![0u8, 1]), b"$2\r\n\x00\x01\r\n");
    assert_eq!(encode(&vec![0u8, 1]), b"$2\r\n\x00\x01\r\n");
    assert_eq!(encode([7u8; 3]), b"$3\r\n\x07\x07\x07\r\n");
    assert_eq!(encode(Bytes::from_static(b"")), b"$0\r\n\r\n");
}

#[test]
fn integers_are_decimal() {
    assert_eq!(encode(0i64), b"$1\r\n0\r\n");
    assert_eq!(encode(-42i32), b"$3\r\n-42\r\n");
    assert_eq!(one(i64::MIN), "-9223372036854775808");
    assert_eq!(one(u64::MAX), "18446744073709551615");
    assert_eq!(one(i8::MIN), "-128");
    assert_eq!(one(i128::MIN), "-170141183460469231731687303715884105728");
    assert_eq!(one(u128::MAX), "340282366920938463463374607431768211455");
    assert_eq!(one(7usize), "7");
}

#[test]
fn floats_are_the_shortest_round_trip_text() {
    assert_eq!(encode(3.5f64), b"$3\r\n3.5\r\n");
    assert_eq!(one(0.1f64), "0.1");
    assert_eq!(one(1.0f64), "1");
    assert_eq!(one(-2.0f64), "-2");
    assert_eq!(one(0.0f64), "0");
    assert_eq!(one(-0.0f64), "-0");
    assert_eq!(one(1e300f64), "1e300");
    assert_eq!(one(1.5e-7f64), "1.5e-7");
    assert_eq!(one(123456789012345.67f64), "123456789012345.67");
    assert_eq!(one(1e16f64), "1e16");
    assert_eq!(one(f64::MAX), "1.7976931348623157e308");
    assert_eq!(one(f64::MIN_POSITIVE), "2.2250738585072014e-308");
    assert_eq!(one(5e-324f64), "5e-324");
    assert_eq!(one(f64::INFINITY), "inf");
    assert_eq!(one(f64::NEG_INFINITY), "-inf");
    // NaN is written as the server would spell it; every command rejects it with an error reply.
    assert_eq!(one(f64::NAN), "nan");
    assert_eq!(one(0.1f32), "0.1");
    assert_eq!(one(f32::INFINITY), "inf");
    assert_eq!(one(16777216f32), "16777216");
}

#[test]
fn floats_parse_back_to_the_same_value() {
    let samples = [
        0.1,
        1.0 / 3.0,
        -2.5e-300,
        6.02214076e23,
        9007199254740993.0,
        1e15 + 0.3,
        f64::EPSILON,
    ];
    for x in samples {
        assert_eq!(one(x).parse::<f64>().unwrap(), x, "{x}");
    }
}

#[test]
fn bool_is_one_or_zero() {
    assert_eq!(encode(true), b"$1\r\n1\r\n");
    assert_eq!(encode(false), b"$1\r\n0\r\n");
}

#[test]
fn option_writes_nothing_for_none() {
    assert_eq!(encode(None::<i64>), b"");
    assert_eq!(encode(Some("x")), b"$1\r\nx\r\n");
    assert_eq!(encode(&Some(vec!["a", "b"])), b"$1\r\na\r\n$1\r\nb\r\n");
    assert_eq!(None::<Vec<String>>.num_args(), 0);
}

#[test]
fn sequences_write_each_element() {
    let expected = ["a", "b", "c"];
    assert_eq!(words(vec!["a", "b", "c"]), expected);
    assert_eq!(words(&vec!["a", "b", "c"]), expected);
    assert_eq!(words(&["a", "b", "c"][..]), expected);
    assert_eq!(words(["a", "b", "c"]), expected);
    assert_eq!(words(&["a", "b", "c"]), expected);
    assert_eq!(words(VecDeque::from(["a", "b", "c"])), expected);
    assert_eq!(words(BTreeSet::from(["c", "b", "a"])), expected);
    assert_eq!(words(HashSet::from([1i64])), ["1"]);
    assert_eq!(words(Vec::<i64>::new()), Vec::<String>::new());
    // Byte strings inside a Vec stay one argument each.
    assert_eq!(words(vec![b"ab".to_vec(), b"c".to_vec()]), ["ab", "c"]);
    assert_eq!(words(vec![&b"ab"[..], b"c"]), ["ab", "c"]);
    // Nested collections flatten.
    assert_eq!(words(vec![vec![1, 2], vec![3]]), ["1", "2", "3"]);
    assert_eq!(words(vec![Some(1), None, Some(3)]), ["1", "3"]);
}

#[test]
fn maps_write_key_value_pairs() {
    assert_eq!(
        words(BTreeMap::from([("b", 2), ("a", 1)])),
        ["a", "1", "b", "2"]
    );
    assert_eq!(words(&BTreeMap::from([("a", 1.5)])), ["a", "1.5"]);
    let m = HashMap::from([("k", "v")]);
    assert_eq!(words(&m), ["k", "v"]);
    assert_eq!(words(m), ["k", "v"]);
    // A multi-argument value writes all of its arguments.
    assert_eq!(
        words(BTreeMap::from([("k", vec!["x", "y"])])),
        ["k", "x", "y"]
    );
}

#[test]
fn tuples_write_each_member() {
    assert_eq!(words(("a", 1)), ["a", "1"]);
    assert_eq!(words(&("a", 1)), ["a", "1"]);
    assert_eq!(words((1.5, "m")), ["1.5", "m"]);
    assert_eq!(words(vec![(1, "a"), (2, "b")]), ["1", "a", "2", "b"]);
    assert_eq!(words(("k", None::<i64>, vec![1, 2])), ["k", "1", "2"]);
    assert_eq!(words((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)).len(), 12);
    assert_eq!(words((true,)), ["1"]);
}

#[test]
fn references_write_what_they_point_to() {
    let s = String::from("x");
    assert_eq!(words(&s), ["x"]);
    assert_eq!(words(&&s), ["x"]);
    assert_eq!(words(&&&5i64), ["5"]);
    let v = vec![String::from("a")];
    assert_eq!(words(&v), ["a"]);
}

#[test]
fn cmd_encodes_composite_arguments() {
    let c = Cmd::new("HSET")
        .arg("h")
        .arg(BTreeMap::from([("f1", 1), ("f2", 2)]))
        .arg(None::<&str>)
        .arg(("f3", 0.5));
    let args: Vec<&[u8]> = c.args().collect();
    assert_eq!(
        args,
        [&b"HSET"[..], b"h", b"f1", b"1", b"f2", b"2", b"f3", b"0.5"]
    );
    let mut buf = Vec::new();
    write_array_header(&mut buf, 2);
    assert_eq!(buf, b"*2\r\n");
}

#[cfg(feature = "json")]
#[test]
fn json_writes_serde_json_text() {
    use valkey::Json;
    #[derive(serde::Serialize)]
    struct P {
        x: i32,
        s: &'static str,
    }
    let text = Json(P { x: 1, s: "a" }).to_json().unwrap();
    assert_eq!(words(text), [r#"{"x":1,"s":"a"}"#]);
    // A value with no JSON form is an error before anything is written.
    let bad = Json(HashMap::from([((1, 2), 3)]));
    let e = bad.to_json().unwrap_err();
    assert_eq!(e.kind(), valkey::ErrorKind::InvalidInput);
}
