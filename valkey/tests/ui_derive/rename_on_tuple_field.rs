#[derive(valkey::FromValkey)]
struct Entry(#[valkey(rename = "id")] String, i64);

fn main() {}
