// INCR's reply is an i64, not a String.
use valkey::{cmd, Command};

fn send<C: Command>(_: C) -> C::Output {
    unimplemented!()
}

fn main() {
    let _: String = send(cmd::incr("counter"));
}
