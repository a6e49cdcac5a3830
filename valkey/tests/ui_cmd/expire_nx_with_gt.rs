use valkey::cmd;

fn main() {
    // The server takes XX with GT or LT, but not NX with either.
    let _ = cmd::expire("k", 100).nx().gt();
    let _ = cmd::pexpire("k", 100).lt().nx();
}
