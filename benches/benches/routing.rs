//! Routing micro-benchmarks: `routing::slot` (CRC16 with hash tags) and
//! `routing::key_positions` (key specs from the generated metadata, plus the server's own rules
//! for movable keys) on commands of each kind: one key, several keys, `numkeys`, a keyword.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use valkey::routing;

fn slot(c: &mut Criterion) {
    let mut g = c.benchmark_group("slot");
    for key in [
        "key:000000000001",
        "{user1000}.following",
        "a-much-longer-key-name:with:several:parts:0123456789",
    ] {
        g.bench_function(key, |b| {
            b.iter(|| black_box(routing::slot(black_box(key.as_bytes()))))
        });
    }
    g.finish();
}

fn key_positions(c: &mut Criterion) {
    let mut g = c.benchmark_group("key_positions");
    let cases: [(&str, Vec<&str>); 5] = [
        ("get", vec!["GET", "key"]),
        ("set_ex", vec!["SET", "key", "value", "EX", "10"]),
        ("mset_3", vec!["MSET", "k1", "v1", "k2", "v2", "k3", "v3"]),
        (
            "eval_numkeys_2",
            vec!["EVAL", "return 1", "2", "k1", "k2", "a1"],
        ),
        (
            "xread_streams_2",
            vec!["XREAD", "COUNT", "10", "STREAMS", "s1", "s2", "0", "0"],
        ),
    ];
    for (name, args) in &cases {
        assert!(
            !routing::key_positions(args).unwrap().is_empty(),
            "{name} has keys"
        );
        g.bench_function(*name, |b| {
            b.iter(|| black_box(routing::key_positions(black_box(args)).unwrap()))
        });
    }
    g.finish();
}

criterion_group!(benches, slot, key_positions);
criterion_main!(benches);
