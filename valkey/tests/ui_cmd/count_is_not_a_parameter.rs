// numkeys is computed from the keys: it is not passed.
use valkey::cmd;

fn main() {
    let _ = cmd::zunionstore("dst", 2, ["a", "b"]);
}
