// EX, PX, EXAT, PXAT and KEEPTTL are one oneof: only one expiration.
use valkey::cmd;

fn main() {
    let _ = cmd::set("key", "value").ex(10).px(10_000);
}
