use std::collections::HashMap;
use valkey::cmd;

fn main() {
    // EVAL counts its keys into `numkeys`: a map's entries are two arguments each, so a map is
    // not a list of keys.
    let keys: HashMap<&str, &str> = HashMap::new();
    let _ = cmd::eval::<_, i64>("return #KEYS").keys(keys);
}
