struct Opaque;

#[derive(valkey::FromValkey)]
struct User {
    name: String,
    handle: Opaque,
}

fn main() {}
