// With NX, SET may refuse: its reply is Option<()>, not ().
use valkey::{cmd, Command};

fn send<C: Command>(_: C) -> C::Output {
    unimplemented!()
}

fn main() {
    let _: () = send(cmd::set("key", "value").nx());
}
