//! A MONITOR tail: every command the server runs, one line each, with the arguments shown as
//! exact bytes (escaped back for the terminal) and the client that sent it.
//!
//! Run against a server of yours (MONITOR slows a busy server down; not for production):
//! `cargo run -p valkey-typed --example monitor_tail -- valkey://127.0.0.1:6379 [count]`

use valkey::monitor::MonitorClient;
use valkey::Client;

fn main() -> valkey::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "valkey://127.0.0.1:6379".into());
    let count: usize = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let mut monitor = Client::open(url.as_str())?.get_monitor()?;
    for event in monitor.iter().take(count) {
        let e = match event {
            Ok(e) => e,
            // One line the parser could not read: say so and go on.
            Err(e) if e.is_protocol() => {
                eprintln!("(skipped: {e})");
                continue;
            }
            Err(e) => return Err(e),
        };
        let who = match &e.client {
            MonitorClient::Tcp(addr) => addr.to_string(),
            MonitorClient::Unix(path) => format!("unix:{path}"),
            MonitorClient::Lua => "lua".to_owned(),
            other => format!("{other:?}"),
        };
        let args: Vec<String> = e
            .args
            .iter()
            .map(|a| format!("{:?}", a.escape_ascii().to_string()))
            .collect();
        println!(
            "{}.{:06} db{} {who}: {}",
            e.secs,
            e.micros,
            e.db,
            args.join(" ")
        );
    }
    Ok(())
}
