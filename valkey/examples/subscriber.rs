//! A subscriber with handlers (a channel, a pattern and a shard channel) running on its own
//! thread, plus the async subscriber, both reporting every gap in the stream: restart or pause
//! the server while it runs (`kill -STOP`/`-CONT`) and watch the `Disconnected` and `Gap` lines.
//!
//! Run against a server of yours:
//! `cargo run -p valkey-typed --example subscriber -- valkey://127.0.0.1:6379 [seconds]`
//! then, in another shell: `valkey-cli publish news hi`, `valkey-cli publish sport.tennis 6-4`,
//! `valkey-cli spublish orders 42`.

use std::time::Duration;
use valkey::pubsub::{Event, Handlers};
use valkey::Client;

fn main() -> valkey::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "valkey://127.0.0.1:6379".into());
    let secs: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
    let client = Client::open(url.as_str())?;

    // Blocking: handlers on a thread of their own.
    let handlers = Handlers::new()
        .channel("news", |m| {
            println!("[thread] news: {}", String::from_utf8_lossy(m.payload()))
        })
        .pattern("sport.*", |m| {
            let channel = String::from_utf8_lossy(m.channel());
            println!(
                "[thread] {channel}: {}",
                String::from_utf8_lossy(m.payload())
            );
        })
        .shard_channel("orders", |m| match m.payload_as::<i64>() {
            Ok(n) => println!("[thread] order #{n}"),
            Err(e) => println!("[thread] an order that is not a number: {e}"),
        })
        .on_event(|e| match e {
            Event::Disconnected(d) => println!("[thread] connection lost: {}", d.error),
            Event::Gap(g) => println!(
                "[thread] resubscribed after {:?}: messages published meanwhile may be missing",
                g.resubscribed_at
                    .duration_since(g.lost_at)
                    .unwrap_or_default()
            ),
            _ => {}
        });
    let mut sub = client.get_pubsub()?;
    sub.set_health_check_interval(Some(Duration::from_secs(1)));
    let thread = sub.run_in_thread(handlers)?;

    // Async: the same events, read in a loop.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let mut sub = client.get_async_pubsub().await?;
        sub.subscribe(["news"]).await?;
        sub.psubscribe("sport.*").await?;
        sub.ssubscribe("orders").await?;
        let until = tokio::time::Instant::now() + Duration::from_secs(secs);
        println!("listening for {secs} s on news, sport.*, orders (shard)");
        while let Ok(next) = tokio::time::timeout_at(until, sub.next()).await {
            match next? {
                Event::Message(m) => println!(
                    "[async]  {:?} {}: {}",
                    m.kind(),
                    String::from_utf8_lossy(m.channel()),
                    String::from_utf8_lossy(m.payload())
                ),
                Event::Disconnected(d) => println!("[async]  connection lost: {}", d.error),
                Event::Gap(g) => println!(
                    "[async]  gap from {:?} to {:?} ({})",
                    g.lost_at, g.resubscribed_at, g.cause
                ),
                _ => {}
            }
        }
        Ok::<_, valkey::Error>(())
    })?;
    thread.stop()
}
