#[derive(valkey::FromValkey)]
enum Reply {
    Ok,
    Count(i64),
}

fn main() {}
