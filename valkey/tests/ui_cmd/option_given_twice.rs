// An option cannot be given twice.
use valkey::cmd;

fn main() {
    let _ = cmd::zadd("z", [(1.0, "a")]).ch().ch();
}
