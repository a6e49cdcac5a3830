// KILL is a subcommand of CLIENT: the builder is `cmd::client_kill`.
use valkey::cmd;

fn main() {
    let _ = cmd::kill(cmd::ClientKillFilter::IpPort("127.0.0.1:6379".into()));
}
