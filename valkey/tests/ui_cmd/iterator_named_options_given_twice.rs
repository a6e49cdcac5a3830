use valkey::cmd;

fn main() {
    // `gt` and `count` are also `Iterator` methods: the message must still be about the option.
    let _ = cmd::zadd("z", [(1.0, "a")]).lt().gt();
    let _ = cmd::lpos("l", "x").count(1).count(2);
    // `get` is also a field of the builder: the message must not be "private field".
    let _ = cmd::set::<_, _>("k", "v").get::<String>().get::<String>();
}
