#[derive(valkey::FromValkey)]
union Number {
    i: i64,
    f: f64,
}

fn main() {}
