use valkey::cmd;

fn main() {
    // ZADD takes `(score, member)`: the member first does not compile.
    let _ = cmd::zadd("scores", [("alice", 1.5)]);
}
