use valkey::cmd;

fn main() {
    // GT and LT are one choice, and so are NX and XX.
    let _ = cmd::expire("k", 100).gt().lt();
    let _ = cmd::expireat("k", 100).xx().nx();
}
