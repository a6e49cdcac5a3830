use valkey::cmd;

fn main() {
    // WEIGHTS are numbers.
    let _ = cmd::zunionstore("dest", ["a", "b"]).weights(["1", "2"]);
}
