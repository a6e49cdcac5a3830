use valkey::cmd;

fn main() {
    // HSET takes `(field, value)` pairs, not a flat list (whose last field has no value).
    let _ = cmd::hset("h", ["f1", "v1", "f2"]);
}
