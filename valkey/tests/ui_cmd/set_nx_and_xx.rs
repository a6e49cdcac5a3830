// NX and XX are one oneof: only one of them can be given.
use valkey::cmd;

fn main() {
    let _ = cmd::set("key", "value").nx().xx();
}
