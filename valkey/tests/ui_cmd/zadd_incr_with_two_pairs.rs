use valkey::cmd;

fn main() {
    // ZADD INCR takes exactly one `(score, member)` pair.
    let _ = cmd::zadd("scores", [(1.0, "ann"), (2.0, "bob")]).incr();
}
