//! Reply conversion micro-benchmarks, side by side with redis-rs: an LRANGE reply of 300 16-byte
//! elements, decoded from bytes and converted into `Vec<String>` and `Vec<Bytes>` (redis-rs:
//! `parse_redis_value` then `FromRedisValue`).

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use redis::FromRedisValue;
use valkey::resp::{encode_value, Decoder, Limits};
use valkey::Value;

fn lrange_reply() -> Bytes {
    let v = Value::Array(
        (0..300)
            .map(|i| Value::BulkString(format!("element:{i:08}").into_bytes().into()))
            .collect(),
    );
    let mut out = Vec::new();
    encode_value(&v, &mut out);
    assert!(
        out.len() > 300 * 16,
        "each element is 16 bytes: {}",
        out.len()
    );
    out.into()
}

/// What our connections do with a buffered reply: check it is a complete frame, then read it
/// straight into the caller's type.
fn ours<T: valkey::FromValkey>(d: &mut Decoder, buf: &Bytes) -> T {
    let n = d.frame_len(buf).unwrap().unwrap();
    valkey::proto::decode_reply::<T>(&buf.slice(..n)).unwrap()
}

fn lrange_300(c: &mut Criterion) {
    let reply = lrange_reply();
    let mut g = c.benchmark_group("lrange_300x16B");
    g.throughput(Throughput::Elements(300));
    let mut d = Decoder::new(Limits::default());
    g.bench_function("valkey/Vec<String>", |b| {
        b.iter(|| black_box(ours::<Vec<String>>(&mut d, black_box(&reply))))
    });
    g.bench_function("redis-rs/Vec<String>", |b| {
        b.iter(|| {
            let v = redis::parse_redis_value(black_box(&reply)).unwrap();
            black_box(Vec::<String>::from_redis_value(v).unwrap())
        })
    });
    g.bench_function("valkey/Vec<Bytes>", |b| {
        b.iter(|| black_box(ours::<Vec<Bytes>>(&mut d, black_box(&reply))))
    });
    g.bench_function("redis-rs/Vec<Bytes>", |b| {
        b.iter(|| {
            let v = redis::parse_redis_value(black_box(&reply)).unwrap();
            black_box(Vec::<Bytes>::from_redis_value(v).unwrap())
        })
    });
    g.bench_function("valkey/Vec<Vec<u8>>", |b| {
        b.iter(|| black_box(ours::<Vec<Vec<u8>>>(&mut d, black_box(&reply))))
    });
    g.bench_function("redis-rs/Vec<Vec<u8>>", |b| {
        b.iter(|| {
            let v = redis::parse_redis_value(black_box(&reply)).unwrap();
            black_box(Vec::<Vec<u8>>::from_redis_value(v).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, lrange_300);
criterion_main!(benches);
