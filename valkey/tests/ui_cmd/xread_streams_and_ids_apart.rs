use valkey::cmd;

fn main() {
    // XREAD takes `(key, id)` pairs, so that there is one id per stream: two lists do not fit.
    let _ = cmd::xread::<_, valkey::Value>(["s1", "s2"], ["0"]);
}
