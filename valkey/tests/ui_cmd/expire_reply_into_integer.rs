// EXPIRE's reply says whether the timeout was set: a bool.
use valkey::{cmd, Command};

fn send<C: Command>(_: C) -> C::Output {
    unimplemented!()
}

fn main() {
    let _: i64 = send(cmd::expire("key", 10));
}
