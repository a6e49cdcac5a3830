// GET takes one key.
use valkey::cmd;

fn main() {
    let _ = cmd::get::<_, Option<String>>(vec!["a", "b"]);
}
