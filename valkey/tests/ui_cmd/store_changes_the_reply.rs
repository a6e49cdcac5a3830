// With STORE, SORT replies with the number of elements stored, not the elements.
use valkey::{cmd, Command};

fn send<C: Command>(_: C) -> C::Output {
    unimplemented!()
}

fn main() {
    let _: Vec<String> = send(cmd::sort("list").store("destination"));
}
