use valkey::cmd;

fn main() {
    // The server refuses NX with GT or LT (they are in different groups of the spec).
    let _ = cmd::zadd("scores", [(1.0, "ann")]).nx().gt();
    let _ = cmd::zadd("scores", [(1.0, "ann")]).lt().nx();
}
