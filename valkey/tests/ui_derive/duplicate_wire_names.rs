#[derive(valkey::FromValkey)]
struct User {
    name: String,
    #[valkey(rename = "name")]
    display_name: String,
}

fn main() {}
