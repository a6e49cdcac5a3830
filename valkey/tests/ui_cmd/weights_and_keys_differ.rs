use valkey::cmd;

fn main() {
    // One weight per key: three weights for two keys do not compile.
    let _ = cmd::zunionstore("dest", ["a", "b"]).weights([1.0, 2.0, 3.0]);
    let _ = cmd::zinter::<_, valkey::Value>(["a", "b", "c"]).weights(&[1.0]);
}
