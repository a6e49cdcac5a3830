// SET needs a key and a value.
use valkey::cmd;

fn main() {
    let _ = cmd::set("key");
}
