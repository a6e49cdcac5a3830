#[derive(valkey::FromValkey)]
#[valkey(deny_unknown_fields)]
enum Kind {
    A,
}

fn main() {}
