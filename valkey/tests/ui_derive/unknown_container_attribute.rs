#[derive(valkey::FromValkey)]
#[valkey(rename_al = "lowercase")]
struct User {
    name: String,
}

fn main() {}
