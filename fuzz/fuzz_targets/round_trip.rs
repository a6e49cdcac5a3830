//! Any value the client can build encodes to bytes that decode to the same value.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use valkey::resp::{encode_value, Decoder, Limits};
use valkey::Value;

fn value(u: &mut Unstructured, depth: u32) -> Result<Value> {
    let leaf = depth == 0 || u.is_empty();
    Ok(match u.int_in_range(0..=if leaf { 6 } else { 10 })? {
        0 => Value::Nil,
        1 => Value::Int(u.arbitrary()?),
        2 => Value::BulkString(u.arbitrary::<Vec<u8>>()?.into()),
        3 => {
            let s: String = u.arbitrary()?;
            Value::SimpleString(s.replace(['\r', '\n'], "").into())
        }
        4 => Value::Boolean(u.arbitrary()?),
        5 => {
            let d: f64 = u.arbitrary()?;
            Value::Double(if d.is_nan() { 0.0 } else { d })
        }
        6 => Value::BulkString(Default::default()),
        7 => Value::Array(list(u, depth)?),
        8 => Value::Set(list(u, depth)?),
        9 => Value::Push(list(u, depth)?),
        _ => {
            let n = u.int_in_range(0..=4)?;
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((value(u, depth - 1)?, value(u, depth - 1)?));
            }
            Value::Map(pairs)
        }
    })
}

fn list(u: &mut Unstructured, depth: u32) -> Result<Vec<Value>> {
    let n = u.int_in_range(0..=6)?;
    (0..n).map(|_| value(u, depth - 1)).collect()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(v) = value(&mut u, 5) else {
        return;
    };
    let mut out = Vec::new();
    encode_value(&v, &mut out);
    let mut buf = BytesMut::from(&out[..]);
    let back = Decoder::new(Limits::default())
        .decode(&mut buf)
        .expect("what we encode is valid")
        .expect("and complete");
    assert!(buf.is_empty(), "one frame, all of it");
    assert_eq!(format!("{back:?}"), format!("{v:?}"));
});
