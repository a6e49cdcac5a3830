//! The `from_frame` fast paths read exactly what `from_valkey` reads: for generated replies of
//! every shape (and the RESP2 nil forms), both paths give the same value or the same error.

use bytes::Bytes;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use valkey::resp::{encode_value, FrameReader};
use valkey::{FromValkey, ServerError, Value};

/// Both paths' results, as text (so that NaN compares equal to NaN and errors by message).
fn both_paths<T: FromValkey + Debug>(frame: &Bytes) -> (String, String) {
    let fast = T::from_frame(&mut FrameReader::new(frame));
    let slow = FrameReader::new(frame)
        .read_value()
        .and_then(T::from_valkey);
    let show = |r: valkey::Result<T>| match r {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, {e}, code {:?})", e.kind(), e.code()),
    };
    (show(fast), show(slow))
}

macro_rules! assert_same_for_types {
    ($frame:expr; $($t:ty),* $(,)?) => {$(
        let (fast, slow) = both_paths::<$t>($frame);
        prop_assert_eq!(&fast, &slow, "type {} frame {:?}", stringify!($t), $frame);
    )*};
}

fn check_frame(frame: &Bytes) -> Result<(), TestCaseError> {
    assert_same_for_types!(frame;
        String, Vec<u8>, Bytes, (), Value,
        i64, i8, u8, u16, u64, i128, usize,
        f64, f32,
        Option<String>, Option<i64>, Option<f64>, Option<()>, Option<Bytes>,
        Vec<String>, Vec<i64>, Vec<f64>, Vec<Bytes>, Vec<Option<String>>, Vec<Vec<String>>,
        Vec<Vec<u8>>, Vec<(String, String)>, Vec<Value>, Vec<()>,
        Option<Vec<String>>, Vec<Option<Vec<i64>>>, Vec<Result<String, valkey::Error>>,
        BTreeMap<String, String>, BTreeMap<String, i64>, BTreeMap<Bytes, Vec<String>>,
        BTreeMap<String, Value>, Option<BTreeMap<String, Option<f64>>>,
        Vec<BTreeMap<String, String>>,
    );
    Ok(())
}

fn text() -> impl Strategy<Value = Bytes> {
    prop_oneof![
        Just(&b""[..]),
        Just(&b"0"[..]),
        Just(&b"1"[..]),
        Just(&b"-1"[..]),
        Just(&b"255"[..]),
        Just(&b"300"[..]),
        Just(&b"-129"[..]),
        Just(&b"18446744073709551616"[..]),
        Just(&b"3.5"[..]),
        Just(&b"1e+300"[..]),
        Just(&b"inf"[..]),
        Just(&b"-inf"[..]),
        Just(&b"nan"[..]),
        Just(&b"abc"[..]),
        Just(&b"h\xc3\xa9"[..]),
        Just(&b"\xff\xfe"[..]),
        Just(&b"OK"[..]),
    ]
    .prop_map(Bytes::from_static)
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<i64>().prop_map(Value::Int),
        (-300i64..300).prop_map(Value::Int),
        text().prop_map(Value::BulkString),
        text().prop_map(Value::SimpleString),
        text().prop_map(|t| Value::VerbatimString {
            format: *b"txt",
            text: t
        }),
        Just(Value::BigNumber(Bytes::from_static(
            b"12345678901234567890123"
        ))),
        Just(Value::BigNumber(Bytes::from_static(b"42"))),
        prop_oneof![
            Just(0.0),
            Just(3.0),
            Just(-2.5),
            Just(f64::INFINITY),
            Just(f64::NAN),
            Just(1e300),
            any::<f64>()
        ]
        .prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        Just(Value::ServerError(ServerError::new("WRONGTYPE wrong kind"))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Set),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Push),
            prop::collection::vec((inner.clone(), inner.clone()), 0..3).prop_map(Value::Map),
            (
                inner.clone(),
                prop::collection::vec((inner.clone(), inner), 0..2)
            )
                .prop_map(|(data, attributes)| Value::Attribute {
                    data: Box::new(data),
                    attributes
                }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn from_frame_agrees_with_from_valkey(v in value()) {
        let mut buf = Vec::new();
        encode_value(&v, &mut buf);
        check_frame(&Bytes::from(buf))?;
    }
}

#[test]
fn resp2_nil_forms_agree() {
    for raw in [
        &b"*4\r\n$1\r\na\r\n$-1\r\n$1\r\nb\r\n*-1\r\n"[..],
        b"%1\r\n$1\r\na\r\n$-1\r\n",
        b"$-1\r\n",
        b"*-1\r\n",
        b"*2\r\n$-1\r\n*-1\r\n",
        b"*2\r\n$1\r\na\r\n$-1\r\n",
        b"*1\r\n*-1\r\n",
    ] {
        check_frame(&Bytes::from_static(raw)).unwrap();
    }
}

#[test]
fn fast_paths_read_the_common_shapes() {
    let frame = Bytes::from_static(b"*3\r\n$3\r\nfoo\r\n+bar\r\n$-1\r\n");
    let v: Vec<Option<String>> = FromValkey::from_frame(&mut FrameReader::new(&frame)).unwrap();
    assert_eq!(v, [Some("foo".into()), Some("bar".into()), None]);
    let frame = Bytes::from_static(b"*2\r\n:1\r\n$2\r\n-7\r\n");
    let v: Vec<i64> = FromValkey::from_frame(&mut FrameReader::new(&frame)).unwrap();
    assert_eq!(v, [1, -7]);
    let frame = Bytes::from_static(b"$5\r\nhello\r\n");
    let b: Bytes = FromValkey::from_frame(&mut FrameReader::new(&frame)).unwrap();
    assert_eq!(b.as_ptr(), frame[4..].as_ptr(), "Bytes shares the frame");
    let frame = Bytes::from_static(b"*2\r\n$1\r\na\r\n:5\r\n");
    let e = Vec::<i64>::from_frame(&mut FrameReader::new(&frame)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "[0]: expected an integer, got bulk string \"a\""
    );
}

#[test]
fn maps_read_map_and_flat_array_frames() {
    for raw in [
        &b"%2\r\n+a\r\n:1\r\n+b\r\n:2\r\n"[..],
        b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n",
        b"*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2\r\n",
    ] {
        let frame = Bytes::from_static(raw);
        let m: HashMap<String, i64> =
            FromValkey::from_frame(&mut FrameReader::new(&frame)).unwrap();
        assert_eq!(m, HashMap::from([("a".into(), 1), ("b".into(), 2)]));
    }
    let frame = Bytes::from_static(b"*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\nx\r\n");
    let e = HashMap::<String, i64>::from_frame(&mut FrameReader::new(&frame)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "[\"b\"]: expected an integer, got bulk string \"x\""
    );
}
