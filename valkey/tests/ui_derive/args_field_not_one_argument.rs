#[derive(valkey::ToValkeyArgs)]
struct Profile {
    name: String,
    tags: Vec<String>,
}

fn main() {}
