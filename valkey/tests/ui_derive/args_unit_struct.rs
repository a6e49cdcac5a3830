#[derive(valkey::ToValkeyArgs)]
struct Nothing;

fn main() {}
