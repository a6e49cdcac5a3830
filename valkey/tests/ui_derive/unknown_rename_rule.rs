#[derive(valkey::FromValkey)]
#[valkey(rename_all = "Title Case")]
struct User {
    name: String,
}

fn main() {}
