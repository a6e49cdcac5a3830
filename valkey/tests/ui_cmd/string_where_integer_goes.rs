// INCRBY's increment is an integer.
use valkey::cmd;

fn main() {
    let _ = cmd::incrby("counter", "5");
}
