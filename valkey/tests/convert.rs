//! `FromValkey` for std types, from hand-built replies in their RESP2 and RESP3 shapes: what
//! converts, what does not, and the exact error messages (path and value described).

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use valkey::{Error, FromValkey, ServerError, Value};

fn bulk(s: &str) -> Value {
    Value::BulkString(Bytes::copy_from_slice(s.as_bytes()))
}
fn simple(s: &str) -> Value {
    Value::SimpleString(Bytes::copy_from_slice(s.as_bytes()))
}
fn verbatim(s: &str) -> Value {
    Value::VerbatimString {
        format: *b"txt",
        text: Bytes::copy_from_slice(s.as_bytes()),
    }
}
fn server_error(s: &str) -> Value {
    Value::ServerError(ServerError::new(s.to_owned()))
}
fn attr(v: Value) -> Value {
    Value::Attribute {
        data: Box::new(v),
        attributes: vec![(bulk("key-popularity"), Value::Double(0.5))],
    }
}
fn arr(items: Vec<Value>) -> Value {
    Value::Array(items)
}

fn get<T: FromValkey>(v: Value) -> T {
    match T::from_valkey(v.clone()) {
        Ok(t) => t,
        Err(e) => panic!("{v:?} into {}: {e}", std::any::type_name::<T>()),
    }
}

/// The message of a conversion error (asserting it is one).
fn err<T: FromValkey>(v: Value) -> String {
    match T::from_valkey(v.clone()) {
        Ok(_) => panic!("{v:?} converted into {}", std::any::type_name::<T>()),
        Err(e) => {
            assert!(e.is_conversion(), "{e:?}");
            e.to_string()
        }
    }
}

// ------------------------------------------------------------------------------------------
// integers

#[test]
fn integers_from_int_text_boolean_and_integral_double() {
    assert_eq!(get::<i64>(Value::Int(-5)), -5);
    assert_eq!(get::<i64>(bulk("-5")), -5);
    assert_eq!(get::<i64>(simple("12")), 12);
    assert_eq!(get::<i64>(verbatim("12")), 12);
    assert_eq!(get::<i64>(Value::BigNumber("12".into())), 12);
    assert_eq!(get::<u8>(Value::Boolean(true)), 1);
    assert_eq!(get::<i32>(Value::Double(3.0)), 3);
    assert_eq!(get::<i32>(Value::Double(-0.0)), 0);
    assert_eq!(get::<u64>(bulk("18446744073709551615")), u64::MAX);
    assert_eq!(
        get::<i128>(Value::BigNumber(
            "170141183460469231731687303715884105727".into()
        )),
        i128::MAX
    );
}

#[test]
fn integer_overflow_is_an_error_not_a_wrap() {
    assert_eq!(
        err::<u8>(Value::Int(256)),
        "expected an integer in u8's range 0..=255, got integer 256"
    );
    assert_eq!(
        err::<u32>(Value::Int(-1)),
        "expected an integer in u32's range 0..=4294967295, got integer -1"
    );
    assert_eq!(
        err::<i8>(bulk("128")),
        "expected an integer in i8's range -128..=127, got bulk string \"128\""
    );
    assert_eq!(
        err::<u64>(bulk("-1")),
        "expected an integer in u64's range 0..=18446744073709551615, got bulk string \"-1\""
    );
    assert_eq!(
        err::<i64>(Value::Double(9223372036854775808.0)),
        "expected an integer in i64's range -9223372036854775808..=9223372036854775807, got double 9.223372036854776e18"
    );
    assert_eq!(get::<u128>(Value::Double(9223372036854775808.0)), 1 << 63);
}

#[test]
fn integers_at_the_ends_of_u128_and_i128() {
    assert_eq!(
        get::<u128>(bulk("340282366920938463463374607431768211455")),
        u128::MAX
    );
    assert_eq!(
        get::<i128>(bulk("-170141183460469231731687303715884105728")),
        i128::MIN
    );
    assert_eq!(
        err::<u128>(bulk("340282366920938463463374607431768211456")),
        "expected an integer in u128's range 0..=340282366920938463463374607431768211455, got bulk string \"340282366920938463463374607431768211456\""
    );
    assert_eq!(
        err::<i128>(bulk("170141183460469231731687303715884105728")),
        "expected an integer in i128's range -170141183460469231731687303715884105728..=170141183460469231731687303715884105727, got bulk string \"170141183460469231731687303715884105728\""
    );
    // Doubles saturate when cast: one beyond u128 must not read as u128::MAX.
    assert!(err::<u128>(Value::Double(1e39)).starts_with("expected an integer in u128's range"));
    assert!(err::<i128>(Value::Double(-1e39)).starts_with("expected an integer in i128's range"));
    assert_eq!(get::<u8>(Value::Boolean(true)), 1);
}

#[test]
fn integer_rejects_fractions_text_and_nil() {
    assert_eq!(
        err::<i64>(bulk("abc")),
        "expected an integer, got bulk string \"abc\""
    );
    assert_eq!(
        err::<i64>(Value::Double(3.5)),
        "expected an integer, got double 3.5"
    );
    assert_eq!(
        err::<i64>(Value::Double(f64::INFINITY)),
        "expected an integer, got double inf"
    );
    assert_eq!(
        err::<i64>(bulk("3.0")),
        "expected an integer, got bulk string \"3.0\""
    );
    assert_eq!(
        err::<i64>(bulk(" 3")),
        "expected an integer, got bulk string \" 3\""
    );
    assert_eq!(err::<i64>(Value::Nil), "expected an integer, got nil");
    assert_eq!(
        err::<i64>(arr(vec![Value::Int(1)])),
        "expected an integer, got array of 1 element"
    );
    assert_eq!(
        err::<i64>(Value::BulkString(vec![b'1'; 100].into())),
        format!(
            "expected an integer in i64's range -9223372036854775808..=9223372036854775807, got bulk string \"{}\"... (100 bytes)",
            "1".repeat(64)
        )
    );
}

#[test]
fn every_integer_type_converts() {
    assert_eq!(get::<i8>(Value::Int(-128)), i8::MIN);
    assert_eq!(get::<i16>(Value::Int(-2)), -2);
    assert_eq!(get::<i32>(Value::Int(7)), 7);
    assert_eq!(get::<isize>(bulk("7")), 7);
    assert_eq!(get::<u8>(Value::Int(255)), 255);
    assert_eq!(get::<u16>(Value::Int(65535)), 65535);
    assert_eq!(get::<u32>(bulk("7")), 7);
    assert_eq!(get::<usize>(Value::Int(7)), 7);
    assert_eq!(
        get::<u128>(bulk("340282366920938463463374607431768211455")),
        u128::MAX
    );
    assert_eq!(get::<i128>(Value::Int(i64::MIN)), i64::MIN as i128);
}

// ------------------------------------------------------------------------------------------
// floats

#[test]
fn floats_from_double_text_and_int() {
    assert_eq!(get::<f64>(Value::Double(3.5)), 3.5);
    assert_eq!(get::<f64>(bulk("3.5")), 3.5);
    assert_eq!(get::<f64>(simple("-0.25")), -0.25);
    assert_eq!(get::<f64>(bulk("1e+300")), 1e300);
    assert_eq!(get::<f64>(Value::Int(4)), 4.0);
    assert_eq!(get::<f64>(bulk("inf")), f64::INFINITY);
    assert_eq!(get::<f64>(bulk("-inf")), f64::NEG_INFINITY);
    assert_eq!(
        get::<f64>(Value::Double(f64::NEG_INFINITY)),
        f64::NEG_INFINITY
    );
    assert!(get::<f64>(bulk("nan")).is_nan());
    assert!(get::<f64>(Value::Double(f64::NAN)).is_nan());
    assert_eq!(get::<f32>(bulk("0.1")), 0.1f32);
    assert_eq!(get::<f32>(Value::Double(0.5)), 0.5f32);
    assert_eq!(get::<f64>(attr(Value::Double(1.5))), 1.5);
    assert_eq!(get::<f64>(Value::BigNumber("12".into())), 12.0);
}

#[test]
fn floats_reject_non_numbers() {
    assert_eq!(
        err::<f64>(bulk("x1")),
        "expected a number, got bulk string \"x1\""
    );
    assert_eq!(err::<f64>(Value::Nil), "expected a number, got nil");
    assert_eq!(
        err::<f32>(Value::Boolean(true)),
        "expected a number, got boolean true"
    );
    assert_eq!(
        err::<f64>(Value::BulkString(Bytes::from_static(b"\xff"))),
        "expected a number, got bulk string \"\\xff\""
    );
}

// ------------------------------------------------------------------------------------------
// bool, unit

#[test]
fn bool_from_boolean_and_zero_one() {
    assert!(get::<bool>(Value::Boolean(true)));
    assert!(!get::<bool>(Value::Boolean(false)));
    assert!(get::<bool>(Value::Int(1)));
    assert!(!get::<bool>(Value::Int(0)));
    assert!(get::<bool>(bulk("1")));
    assert!(!get::<bool>(simple("0")));
    assert_eq!(
        err::<bool>(Value::Int(2)),
        "expected a boolean (or 0/1), got integer 2"
    );
    assert_eq!(
        err::<bool>(simple("OK")),
        "expected a boolean (or 0/1), got simple string \"OK\""
    );
    assert_eq!(
        err::<bool>(Value::Nil),
        "expected a boolean (or 0/1), got nil"
    );
}

#[test]
fn unit_accepts_any_non_error() {
    for v in [
        simple("OK"),
        Value::Nil,
        Value::Int(3),
        arr(vec![]),
        attr(simple("OK")),
        Value::Map(vec![]),
    ] {
        get::<()>(v);
    }
    let e = <()>::from_valkey(server_error("ERR nope")).unwrap_err();
    assert_eq!(e.code(), Some("ERR"));
    assert!(e.is_server_error());
}

// ------------------------------------------------------------------------------------------
// strings and bytes

#[test]
fn string_from_string_replies_and_numbers() {
    assert_eq!(get::<String>(bulk("héllo")), "héllo");
    assert_eq!(get::<String>(simple("OK")), "OK");
    assert_eq!(get::<String>(verbatim("some text")), "some text");
    assert_eq!(get::<String>(Value::BigNumber("123".into())), "123");
    assert_eq!(get::<String>(Value::Int(-7)), "-7");
    // RESP2 sends a score as text; RESP3 as a double: both read the same.
    assert_eq!(get::<String>(Value::Double(3.5)), "3.5");
    assert_eq!(get::<String>(Value::Double(3.0)), "3");
    assert_eq!(get::<String>(Value::Double(f64::INFINITY)), "inf");
    assert_eq!(get::<String>(attr(bulk("x"))), "x");
    assert_eq!(get::<Box<str>>(bulk("b")), "b".into());
}

#[test]
fn string_rejects_invalid_utf8_clearly() {
    assert_eq!(
        err::<String>(Value::BulkString(Bytes::from_static(b"ab\xffc"))),
        "expected a UTF-8 string, got bulk string \"ab\\xffc\" (invalid UTF-8 at byte 2); \
         read it as Vec<u8> or Bytes"
    );
    assert_eq!(err::<String>(Value::Nil), "expected a string, got nil");
    assert_eq!(
        err::<String>(arr(vec![bulk("a")])),
        "expected a string, got array of 1 element"
    );
    assert_eq!(
        err::<String>(Value::Boolean(true)),
        "expected a string, got boolean true"
    );
}

#[test]
fn bytes_types_are_binary_safe() {
    let raw = Bytes::from_static(b"\x00\xff\r\n");
    assert_eq!(get::<Vec<u8>>(Value::BulkString(raw.clone())), raw.to_vec());
    assert_eq!(get::<Bytes>(Value::BulkString(raw.clone())), raw);
    assert_eq!(get::<Vec<u8>>(simple("OK")), b"OK");
    assert_eq!(get::<Bytes>(verbatim("t")), Bytes::from_static(b"t"));
    assert_eq!(get::<Bytes>(Value::Int(12)), Bytes::from_static(b"12"));
    // An array of small integers is a Vec<u8> too.
    assert_eq!(get::<Vec<u8>>(arr(vec![Value::Int(1), bulk("2")])), [1, 2]);
    assert_eq!(err::<Bytes>(Value::Nil), "expected a string, got nil");
    assert_eq!(err::<Vec<u8>>(Value::Nil), "expected an array, got nil");
}

#[test]
fn bytes_share_the_reply_buffer() {
    let frame = Bytes::from(b"0123456789".to_vec());
    let slice = frame.slice(2..6);
    let got = get::<Bytes>(Value::BulkString(slice.clone()));
    assert_eq!(got.as_ptr(), slice.as_ptr(), "Bytes must not copy");
}

// ------------------------------------------------------------------------------------------
// Option, Result, server errors

#[test]
fn option_nil_is_none_and_empty_array_is_not() {
    assert_eq!(get::<Option<String>>(Value::Nil), None);
    assert_eq!(get::<Option<String>>(attr(Value::Nil)), None);
    assert_eq!(get::<Option<String>>(bulk("a")), Some("a".into()));
    assert_eq!(get::<Option<Vec<i64>>>(arr(vec![])), Some(vec![]));
    assert_eq!(
        err::<Option<i64>>(arr(vec![])),
        "expected an integer, got array of 0 elements"
    );
    assert_eq!(get::<Option<()>>(simple("OK")), Some(()));
    assert_eq!(get::<Option<()>>(Value::Nil), None);
    assert_eq!(
        get::<Vec<Option<String>>>(arr(vec![bulk("a"), Value::Nil])),
        [Some("a".to_string()), None]
    );
}

#[test]
fn server_error_where_a_value_is_expected_is_that_error() {
    let e = i64::from_valkey(server_error("WRONGTYPE Operation against a key")).unwrap_err();
    assert!(e.is_server_error());
    assert_eq!(e.code(), Some("WRONGTYPE"));
    let e =
        Vec::<i64>::from_valkey(arr(vec![Value::Int(1), server_error("ERR boom")])).unwrap_err();
    assert_eq!(e.code(), Some("ERR"));
    assert_eq!(e.to_string(), "[1]: server error: ERR boom");
}

#[test]
fn result_elements_keep_per_item_errors() {
    // EXEC: [OK, -WRONGTYPE ..., 3]
    let exec = arr(vec![
        simple("OK"),
        server_error("WRONGTYPE Operation against a key holding the wrong kind of value"),
        Value::Int(3),
    ]);
    let items: Vec<Result<Value, Error>> = get(exec.clone());
    assert_eq!(items.len(), 3);
    assert_eq!(items[1].as_ref().unwrap_err().code(), Some("WRONGTYPE"));
    assert_eq!(*items[2].as_ref().unwrap(), Value::Int(3));

    let (a, b, c): (
        Result<String, Error>,
        Result<i64, Error>,
        Result<i64, Error>,
    ) = get(exec);
    assert_eq!(a.unwrap(), "OK");
    assert!(b.unwrap_err().is_server_error());
    assert_eq!(c.unwrap(), 3);

    // A value of the wrong shape is that item's conversion error; the rest stay usable.
    let items: Vec<Result<i64, Error>> = get(arr(vec![bulk("x"), Value::Int(1)]));
    assert!(items[0].as_ref().unwrap_err().is_conversion());
    assert_eq!(*items[1].as_ref().unwrap(), 1);
}

// ------------------------------------------------------------------------------------------
// sequences

#[test]
fn sequences_from_array_set_and_push() {
    let items = vec![bulk("a"), bulk("b"), bulk("a")];
    for v in [
        arr(items.clone()),
        Value::Set(items.clone()),
        Value::Push(items.clone()),
        attr(arr(items.clone())),
    ] {
        assert_eq!(get::<Vec<String>>(v.clone()), ["a", "b", "a"]);
        assert_eq!(get::<VecDeque<String>>(v.clone()), ["a", "b", "a"]);
        assert_eq!(get::<Box<[String]>>(v.clone()).len(), 3);
        assert_eq!(
            get::<HashSet<String>>(v.clone()),
            HashSet::from(["a".to_string(), "b".to_string()])
        );
        assert_eq!(
            get::<BTreeSet<String>>(v.clone()),
            BTreeSet::from(["a".to_string(), "b".to_string()])
        );
    }
    assert_eq!(get::<Vec<i64>>(arr(vec![])), Vec::<i64>::new());
}

#[test]
fn sequence_errors_name_the_index() {
    assert_eq!(
        err::<Vec<i64>>(arr(vec![
            Value::Int(1),
            Value::Int(2),
            Value::Int(3),
            bulk("abc")
        ])),
        "[3]: expected an integer, got bulk string \"abc\""
    );
    assert_eq!(
        err::<Vec<Vec<i64>>>(arr(vec![arr(vec![]), arr(vec![bulk("x")])])),
        "[1]: [0]: expected an integer, got bulk string \"x\""
    );
    assert_eq!(err::<Vec<i64>>(Value::Nil), "expected an array, got nil");
    assert_eq!(
        err::<HashSet<i64>>(Value::Int(1)),
        "expected a set, got integer 1"
    );
}

#[test]
fn vec_from_a_map_is_its_flat_form() {
    let m = Value::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))]);
    assert_eq!(get::<Vec<String>>(m.clone()), ["a", "1", "b", "2"]);
    assert_eq!(
        get::<Vec<(String, i64)>>(m),
        [("a".to_string(), 1), ("b".to_string(), 2)]
    );
}

#[test]
fn vec_of_pairs_from_flat_nested_and_map_shapes() {
    // ZRANGE .. WITHSCORES: RESP2 flat [m, s, m, s]; RESP3 [[m, s], [m, s]].
    let resp2 = arr(vec![bulk("a"), bulk("1.5"), bulk("b"), bulk("2")]);
    let resp3 = arr(vec![
        arr(vec![bulk("a"), Value::Double(1.5)]),
        arr(vec![bulk("b"), Value::Double(2.0)]),
    ]);
    let expected = vec![("a".to_string(), 1.5), ("b".to_string(), 2.0)];
    assert_eq!(get::<Vec<(String, f64)>>(resp2), expected);
    assert_eq!(get::<Vec<(String, f64)>>(resp3), expected);
    assert_eq!(
        err::<Vec<(String, f64)>>(arr(vec![bulk("a"), bulk("x")])),
        "[0]: [\"a\"]: expected a number, got bulk string \"x\""
    );
    assert_eq!(
        err::<Vec<(String, f64)>>(arr(vec![bulk("a")])),
        "expected an array (an even number of elements: key, value, ...), got array of 1 element"
    );
}

// ------------------------------------------------------------------------------------------
// maps

fn hgetall_resp2() -> Value {
    arr(vec![bulk("name"), bulk("ann"), bulk("age"), bulk("37")])
}
fn hgetall_resp3() -> Value {
    Value::Map(vec![(bulk("name"), bulk("ann")), (bulk("age"), bulk("37"))])
}

#[test]
fn maps_from_resp3_map_and_resp2_flat_array() {
    for v in [hgetall_resp2(), hgetall_resp3(), attr(hgetall_resp3())] {
        let m: HashMap<String, String> = get(v.clone());
        assert_eq!(m["name"], "ann");
        assert_eq!(m["age"], "37");
        let m: BTreeMap<String, Bytes> = get(v.clone());
        assert_eq!(m.keys().collect::<Vec<_>>(), ["age", "name"]);
        let m: HashMap<String, String, std::hash::BuildHasherDefault<std::hash::DefaultHasher>> =
            get(v);
        assert_eq!(m.len(), 2);
    }
    // An array of [k, v] pairs too (RESP3 ZRANGE WITHSCORES into a map).
    let m: HashMap<String, f64> = get(arr(vec![arr(vec![bulk("a"), Value::Double(1.0)])]));
    assert_eq!(m["a"], 1.0);
    let m: HashMap<String, i64> = get(arr(vec![]));
    assert!(m.is_empty());
    let m: HashMap<String, i64> = get(Value::Map(vec![]));
    assert!(m.is_empty());
}

#[test]
fn map_errors_name_the_key() {
    assert_eq!(
        err::<HashMap<String, i64>>(hgetall_resp3()),
        "[\"name\"]: expected an integer, got bulk string \"ann\""
    );
    assert_eq!(
        err::<HashMap<String, i64>>(hgetall_resp2()),
        "[\"name\"]: expected an integer, got bulk string \"ann\""
    );
    assert_eq!(
        err::<HashMap<i64, String>>(hgetall_resp2()),
        "key of entry 0: expected an integer, got bulk string \"name\""
    );
    assert_eq!(
        err::<HashMap<String, String>>(arr(vec![bulk("a")])),
        "expected a map (an even number of elements: key, value, ...), got array of 1 element"
    );
    assert_eq!(
        err::<BTreeMap<String, String>>(Value::Int(3)),
        "expected a map, got integer 3"
    );
    assert_eq!(
        err::<HashMap<String, String>>(arr(vec![arr(vec![bulk("a")])])),
        "[0]: expected a [key, value] pair, got array of 1 element"
    );
}

#[test]
fn nested_maps_from_config_and_hello_shapes() {
    // HELLO 3: a map with nested array of maps.
    let hello = Value::Map(vec![
        (bulk("server"), bulk("valkey")),
        (bulk("proto"), Value::Int(3)),
        (bulk("modules"), arr(vec![])),
    ]);
    let m: HashMap<String, Value> = get(hello);
    assert_eq!(m["proto"], Value::Int(3));
}

// ------------------------------------------------------------------------------------------
// tuples

#[test]
fn tuples_from_arrays_of_exactly_their_length() {
    let t: (String, i64) = get(arr(vec![bulk("list"), bulk("3")]));
    assert_eq!(t, ("list".to_string(), 3));
    let t: (i64,) = get(arr(vec![Value::Int(1)]));
    assert_eq!(t, (1,));
    let t: (i64, i64, i64) = get(Value::Set(vec![
        Value::Int(1),
        Value::Int(2),
        Value::Int(3),
    ]));
    assert_eq!(t, (1, 2, 3));
    let twelve = arr((0..12).map(Value::Int).collect());
    let t: (u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, i64) = get(twelve);
    assert_eq!(t.11, 11);
    // BLPOP: nil on timeout, [key, value] otherwise.
    assert_eq!(get::<Option<(String, String)>>(Value::Nil), None);
    assert_eq!(
        err::<(i64, i64)>(arr(vec![Value::Int(1)])),
        "expected an array of 2 elements, got array of 1 element"
    );
    assert_eq!(
        err::<(i64, i64, i64)>(arr(vec![Value::Int(1)])),
        "expected an array of 3 elements, got array of 1 element"
    );
    assert_eq!(
        err::<(i64, String)>(arr(vec![Value::Int(1), Value::Nil])),
        "[1]: expected a string, got nil"
    );
}

#[test]
fn value_converts_unchanged() {
    for v in [
        Value::Nil,
        bulk("x"),
        attr(Value::Int(1)),
        server_error("ERR x"),
    ] {
        assert_eq!(get::<Value>(v.clone()), v);
    }
}

#[test]
fn box_reads_its_content() {
    assert_eq!(*get::<Box<i64>>(Value::Int(4)), 4);
}

#[cfg(feature = "json")]
#[test]
fn json_reads_json_text() {
    use valkey::Json;
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct P {
        x: i32,
    }
    let Json(p): Json<P> = get(bulk(r#"{"x":3}"#));
    assert_eq!(p, P { x: 3 });
    let e = Json::<P>::from_valkey(bulk("{")).unwrap_err();
    assert!(e.is_conversion());
    // The message says where; serde's own words are the error's source (said once in a report).
    assert!(e.to_string().contains("line 1, column 1"), "{e}");
    let source = std::error::Error::source(&e).map(ToString::to_string);
    assert!(
        source.as_deref().unwrap_or("").contains("EOF"),
        "{source:?}"
    );
    assert_eq!(
        err::<Json<P>>(Value::Int(3)),
        "expected a JSON string, got integer 3"
    );
    assert_eq!(get::<Option<Json<P>>>(Value::Nil), None);
}

#[test]
fn every_integer_type_and_bool_read_an_integer_reply_checked() {
    macro_rules! each {
        ($($t:ty),*) => {$(
            assert_eq!(get::<$t>(Value::Int(7)), 7 as $t);
            assert_eq!(get::<$t>(bulk("7")), 7 as $t);
            let e = err::<$t>(bulk("-170141183460469231731687303715884105728"));
            assert!(e.contains(concat!(stringify!($t), "'s range")) && e.contains("..="), "{e}");
        )*};
    }
    each!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize, u128);
    assert_eq!(get::<i128>(Value::Int(i64::MIN)), i64::MIN as i128);
    assert!(err::<u32>(Value::Int(i64::MIN)).contains("u32's range 0..=4294967295"));
    assert!(get::<bool>(Value::Int(1)));
    assert!(!get::<bool>(Value::Int(0)));
    assert!(get::<bool>(Value::Boolean(true)));
    assert_eq!(
        err::<bool>(Value::Int(2)),
        "expected a boolean (or 0/1), got integer 2"
    );
}
