// ANY belongs to COUNT: it exists only after `count(n)`.
use valkey::cmd::{self, GeoUnit};

fn main() {
    let _ = cmd::georadius::<_, valkey::Value>("geo", 15.0, 37.0, 100.0, GeoUnit::Km).any();
}
