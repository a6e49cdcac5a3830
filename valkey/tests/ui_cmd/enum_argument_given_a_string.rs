// LMOVE's directions are an enum, not strings.
use valkey::cmd::{self, Side};

fn main() {
    let _ = cmd::lmove("from", "to", "LEFT", Side::Right);
}
