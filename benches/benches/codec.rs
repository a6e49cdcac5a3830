//! Codec micro-benchmarks: encoding a command (`cmd::encode`), scanning and decoding reply frames
//! (`resp::Decoder` + `FrameReader`), and pulling frames out of the connections' `ReadBuffer`.

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use valkey::proto::ReadBuffer;
use valkey::resp::{encode_value, Decoder, FrameReader, Limits};
use valkey::Value;
use valkey_benches::ops;

fn bulk(n: usize) -> Value {
    Value::BulkString(Bytes::from(vec![b'x'; n]))
}

fn encoded(v: &Value) -> Bytes {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    out.into()
}

/// A RESP3 map of 10 entries, each value a map of 3 fields (string, integer, double) and an array.
fn nested_map() -> Value {
    Value::Map(
        (0..10)
            .map(|i| {
                let inner = Value::Map(vec![
                    (Value::SimpleString("name".into()), bulk(16)),
                    (Value::SimpleString("count".into()), Value::Int(i)),
                    (
                        Value::SimpleString("score".into()),
                        Value::Double(i as f64 * 1.5),
                    ),
                    (
                        Value::SimpleString("tags".into()),
                        Value::Array(vec![bulk(8), bulk(8), Value::Nil]),
                    ),
                ]);
                (Value::BulkString(format!("key:{i}").into()), inner)
            })
            .collect(),
    )
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode");
    let key = "key:000000000001";
    for (name, size) in [("set_16B", 16), ("set_1KiB", 1024)] {
        let value = vec![b'v'; size];
        let mut buf = Vec::with_capacity(4096);
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{name}/build+encode"), |b| {
            b.iter(|| {
                buf.clear();
                valkey::cmd::encode(&ops::set(black_box(key), black_box(&value)), &mut buf)
                    .unwrap();
                black_box(buf.len())
            })
        });
        let cmd = ops::set(key, &value);
        g.bench_function(format!("{name}/encode"), |b| {
            b.iter(|| {
                buf.clear();
                valkey::cmd::encode(black_box(&cmd), &mut buf).unwrap();
                black_box(buf.len())
            })
        });
        g.bench_function(format!("{name}/redis-rs build+pack"), |b| {
            b.iter(|| {
                let packed = redis::cmd("SET")
                    .arg(black_box(key))
                    .arg(black_box(&value[..]))
                    .get_packed_command();
                black_box(packed.len())
            })
        });
    }
    g.finish();
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    let cases = [
        ("bulk_16B", encoded(&bulk(16))),
        ("bulk_100KiB", encoded(&bulk(100 * 1024))),
        (
            "array_300x16B",
            encoded(&Value::Array((0..300).map(|_| bulk(16)).collect())),
        ),
        ("nested_map_resp3", encoded(&nested_map())),
    ];
    for (name, frame) in &cases {
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_function(format!("{name}/frame_len"), |b| {
            let mut d = Decoder::new(Limits::default());
            b.iter(|| black_box(d.frame_len(black_box(frame)).unwrap()))
        });
        g.bench_function(format!("{name}/frame_len+read_value"), |b| {
            let mut d = Decoder::new(Limits::default());
            b.iter(|| {
                let n = d.frame_len(black_box(frame)).unwrap().unwrap();
                let f = frame.slice(..n);
                black_box(FrameReader::new(&f).read_value().unwrap())
            })
        });
        g.bench_function(format!("{name}/redis-rs parse_redis_value"), |b| {
            b.iter(|| black_box(redis::parse_redis_value(black_box(frame)).unwrap()))
        });
    }
    g.finish();
}

fn read_buffer(c: &mut Criterion) {
    let mut g = c.benchmark_group("read_buffer");
    // 64 replies to pipelined GETs of 16-byte values arriving in one read.
    let one = encoded(&bulk(16));
    let input: Vec<u8> = one.iter().copied().cycle().take(one.len() * 64).collect();
    g.throughput(Throughput::Elements(64));
    // One buffer for all iterations, as on a connection: its spare room is reused once the
    // frames of the previous read are dropped (a fresh buffer would measure its first growth).
    let mut rb = ReadBuffer::new(Limits::default());
    g.bench_function("64_bulk_16B_frames_from_one_read", |b| {
        b.iter(|| {
            let spare = rb.spare();
            spare[..input.len()].copy_from_slice(&input);
            rb.advance(input.len());
            let mut n = 0;
            while let Some(f) = rb.next_frame().unwrap() {
                n += f.len();
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, encode, decode, read_buffer);
criterion_main!(benches);
