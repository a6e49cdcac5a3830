#[derive(valkey::FromValkey)]
#[valkey(transparent)]
struct Id {
    a: u64,
    b: u64,
}

fn main() {}
