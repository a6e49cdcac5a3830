#[derive(valkey::FromValkey)]
struct User {
    #[valkey(flatten)]
    name: String,
}

fn main() {}
