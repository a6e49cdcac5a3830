//! Property tests of the RESP codec: encode/decode round trips for arbitrary nested values,
//! resumable decoding at every split point, frames back to back, agreement between the scanner
//! and the reader, and no panics on arbitrary or corrupted bytes.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use valkey::resp::{encode_value, parse_i64, Decoder, FrameReader};
use valkey::{ServerError, Value};

/// Binary payloads, often with CR and LF inside.
fn payload() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        prop_oneof![4 => any::<u8>(), 1 => Just(b'\r'), 1 => Just(b'\n')],
        0..24,
    )
    .prop_map(Bytes::from)
}

/// Text for simple strings: anything but CR and LF.
fn line() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..16,
    )
    .prop_map(Bytes::from)
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => (-1000i32..1000).prop_map(f64::from),
        1 => prop::sample::select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            f64::MIN_POSITIVE,
            5e-324,
            f64::MAX,
            f64::MIN,
            1e300,
            1e-300,
            0.1,
        ]),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Nil),
        any::<i64>().prop_map(Value::Int),
        payload().prop_map(Value::BulkString),
        line().prop_map(Value::SimpleString),
        payload().prop_map(|message| Value::ServerError(ServerError::new(message))),
        double().prop_map(Value::Double),
        any::<bool>().prop_map(Value::Boolean),
        "-?[0-9]{1,40}".prop_map(|digits| Value::BigNumber(Bytes::from(digits))),
        (any::<[u8; 3]>(), payload())
            .prop_map(|(format, text)| Value::VerbatimString { format, text }),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(4, 48, 6, |inner| {
        let pairs = prop::collection::vec((inner.clone(), inner.clone()), 0..4);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Set),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Push),
            pairs.clone().prop_map(Value::Map),
            (pairs, inner).prop_map(|(attributes, data)| Value::Attribute {
                data: Box::new(data),
                attributes,
            }),
        ]
    })
}

fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(value, &mut out);
    out
}

/// Equality where NaN equals NaN (and -0.0 differs from 0.0): the codec must keep doubles exactly.
fn same(a: &Value, b: &Value) -> bool {
    let all_same =
        |a: &[Value], b: &[Value]| a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b));
    let pairs_same = |a: &[(Value, Value)], b: &[(Value, Value)]| {
        a.len() == b.len()
            && a.iter()
                .zip(b)
                .all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
    };
    match (a, b) {
        (Value::Double(a), Value::Double(b)) => {
            (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
        }
        (Value::Array(a), Value::Array(b))
        | (Value::Set(a), Value::Set(b))
        | (Value::Push(a), Value::Push(b)) => all_same(a, b),
        (Value::Map(a), Value::Map(b)) => pairs_same(a, b),
        (
            Value::Attribute {
                data: da,
                attributes: aa,
            },
            Value::Attribute {
                data: db,
                attributes: ab,
            },
        ) => same(da, db) && pairs_same(aa, ab),
        _ => a == b,
    }
}

/// Reads a value using only the typed primitives (no `read_value`), the way `FromValkey`
/// overrides do. Attributes are skipped by the primitives, and verbatim strings lose their format.
fn read_typed(r: &mut FrameReader<'_>) -> Value {
    match r.peek_type().unwrap() {
        b'$' | b'+' | b'(' | b'=' | b'_' | b'*' | b'~' | b'>' | b'%' if r.read_nil().unwrap() => {
            Value::Nil
        }
        b'$' => Value::BulkString(r.read_bulk_bytes().unwrap().unwrap()),
        b'+' => Value::SimpleString(r.read_bulk_bytes().unwrap().unwrap()),
        b'(' => Value::BigNumber(r.read_bulk_bytes().unwrap().unwrap()),
        b'=' => Value::BulkString(Bytes::copy_from_slice(
            r.read_bulk_slice().unwrap().unwrap(),
        )),
        b':' => Value::Int(r.read_int().unwrap()),
        b',' => Value::Double(r.read_double().unwrap()),
        b'#' => Value::Boolean(r.read_bool().unwrap()),
        b'-' | b'!' => Value::ServerError(r.read_error().unwrap()),
        _ => {
            let (type_byte, count) = r.read_aggregate_header().unwrap();
            let count = count.expect("nil was handled above");
            if type_byte == b'%' {
                return Value::Map((0..count).map(|_| (read_typed(r), read_typed(r))).collect());
            }
            let values = (0..count).map(|_| read_typed(r)).collect();
            match type_byte {
                b'*' => Value::Array(values),
                b'~' => Value::Set(values),
                b'>' => Value::Push(values),
                other => panic!("unexpected type byte {other}"),
            }
        }
    }
}

/// What `read_typed` should produce: attributes dropped, verbatim strings as bulk text.
fn as_typed(value: &Value) -> Value {
    let pairs = |p: &[(Value, Value)]| p.iter().map(|(k, v)| (as_typed(k), as_typed(v))).collect();
    match value {
        Value::Attribute { data, .. } => as_typed(data),
        Value::VerbatimString { text, .. } => Value::BulkString(text.clone()),
        Value::Array(v) => Value::Array(v.iter().map(as_typed).collect()),
        Value::Set(v) => Value::Set(v.iter().map(as_typed).collect()),
        Value::Push(v) => Value::Push(v.iter().map(as_typed).collect()),
        Value::Map(p) => Value::Map(pairs(p)),
        other => other.clone(),
    }
}

/// Checks that whatever the scanner accepts, the reader reads to exactly the same length.
fn check_scanner_and_reader_agree(bytes: &[u8]) {
    let mut decoder = Decoder::default();
    if let Ok(Some(len)) = decoder.frame_len(bytes) {
        let frame = Bytes::copy_from_slice(&bytes[..len]);
        let mut reader = FrameReader::new(&frame);
        reader
            .read_value()
            .expect("a frame the decoder accepts reads");
        assert!(reader.is_at_end());
        let mut skipper = FrameReader::new(&frame);
        skipper
            .skip_value()
            .expect("a frame the decoder accepts skips");
        assert!(skipper.is_at_end());
    }
    // The reader on raw, unvalidated bytes must not panic either.
    let raw = Bytes::copy_from_slice(bytes);
    let _ = FrameReader::new(&raw).read_value();
    let _ = FrameReader::new(&raw).skip_value();
    let mut r = FrameReader::new(&raw);
    let _ = r.read_aggregate_header();
    let _ = r.read_bulk_slice();
    let _ = r.read_int();
    let _ = r.peek_type();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip(value in value()) {
        let bytes = encode(&value);
        prop_assert_eq!(Decoder::default().frame_len(&bytes).unwrap(), Some(bytes.len()));
        let frame = Bytes::from(bytes);
        let mut reader = FrameReader::new(&frame);
        let decoded = reader.read_value().unwrap();
        prop_assert!(same(&decoded, &value), "{:?} decoded as {:?}", value, decoded);
        prop_assert!(reader.is_at_end());
        let mut skipper = FrameReader::new(&frame);
        skipper.skip_value().unwrap();
        prop_assert!(skipper.is_at_end());
    }

    #[test]
    fn typed_primitives_agree_with_read_value(value in value()) {
        let frame = Bytes::from(encode(&value));
        let mut reader = FrameReader::new(&frame);
        let typed = read_typed(&mut reader);
        prop_assert!(reader.is_at_end());
        prop_assert!(same(&typed, &as_typed(&value)), "{:?} read as {:?}", value, typed);
    }

    #[test]
    fn every_split_point_gives_the_same_frame(value in value()) {
        let bytes = encode(&value);
        // One decoder fed every growing prefix: it resumes each time.
        let mut decoder = Decoder::default();
        for end in 0..bytes.len() {
            prop_assert_eq!(decoder.frame_len(&bytes[..end]).unwrap(), None, "prefix of {}", end);
        }
        prop_assert_eq!(decoder.frame_len(&bytes).unwrap(), Some(bytes.len()));
        // A fresh decoder stopped at each split point, then given the rest at once.
        for end in 0..bytes.len() {
            let mut decoder = Decoder::default();
            prop_assert_eq!(decoder.frame_len(&bytes[..end]).unwrap(), None);
            prop_assert_eq!(decoder.frame_len(&bytes).unwrap(), Some(bytes.len()));
        }
    }

    #[test]
    fn frames_back_to_back_in_random_chunks(
        values in prop::collection::vec(value(), 1..6),
        chunk_sizes in prop::collection::vec(1usize..40, 1..20),
    ) {
        let mut stream = Vec::new();
        for value in &values {
            encode_value(value, &mut stream);
        }
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::new();
        let mut decoded = Vec::new();
        let mut rest = &stream[..];
        let mut sizes = chunk_sizes.iter().cycle();
        while !rest.is_empty() {
            let n = (*sizes.next().unwrap()).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(value) = decoder.decode(&mut buf).unwrap() {
                decoded.push(value);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decoded.len(), values.len());
        for (decoded, value) in decoded.iter().zip(&values) {
            prop_assert!(same(decoded, value), "{:?} decoded as {:?}", value, decoded);
        }
    }

    #[test]
    fn corrupted_frames_never_panic(
        value in value(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut bytes = encode(&value);
        for (at, byte, kind) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        check_scanner_and_reader_agree(&bytes);
    }

    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop::sample::select(vec![
        &b"*2\r\n"[..], b"*-1\r\n", b"$3\r\n", b"$-1\r\n", b"abc", b"\r\n", b"\r", b":1\r\n",
        b"%1\r\n", b"|1\r\n", b"~1\r\n", b">1\r\n", b"_\r\n", b",1.5\r\n", b"=5\r\ntxt:a\r\n",
        b"=5\r\n", b"!2\r\n", b"+x", b"-E\r\n", b"#t\r\n", b"(1\r\n", b"*9999999999\r\n", b"0", b"?",
    ]), 0..24)) {
        check_scanner_and_reader_agree(&tokens.concat());
    }

    #[test]
    fn parse_i64_matches_std(s in "[+-]?[0-9]{0,21}|.{0,4}") {
        prop_assert_eq!(parse_i64(s.as_bytes()), s.parse::<i64>().ok());
    }
}
