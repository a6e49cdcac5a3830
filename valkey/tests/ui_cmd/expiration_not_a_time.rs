use valkey::cmd;

fn main() {
    // EX takes seconds: an i64 or a Duration, not text.
    let _ = cmd::set("k", "v").ex("10");
}
