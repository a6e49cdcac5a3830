//! A short tour: typed commands, replies into a derived struct, a typed pipeline, a transaction
//! with the WATCH helper, and the shared async connection.
//!
//! Run against a server of yours: `cargo run -p valkey-typed --example tour -- valkey://127.0.0.1:6379`
//! (the keys it touches start with `tour:`).

use valkey::pipeline::WatchOptions;
use valkey::{cmd, Client, FromValkey, ToValkeyArgs};

#[derive(Debug, PartialEq, FromValkey, ToValkeyArgs)]
struct Account {
    owner: String,
    balance: i64,
    #[valkey(default)]
    frozen: bool,
}

fn main() -> valkey::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "valkey://127.0.0.1:6379".into());
    let client = Client::open(url.as_str())?;
    let mut con = client.get_connection()?;
    println!("connected to {:?}", con.server_info());

    // Typed commands: the reply type comes from the command (or from you, for user data).
    con.send(cmd::set("tour:greeting", "hello").ex(60))?;
    let greeting: Option<String> = con.send(cmd::get("tour:greeting"))?;
    let was_set: Option<()> = con.send(cmd::set("tour:greeting", "again").nx())?;
    println!(
        "greeting = {greeting:?}, set again with NX: {}",
        was_set.is_some()
    );

    // A struct written as a hash and read back.
    let account = Account {
        owner: "ann".into(),
        balance: 100,
        frozen: false,
    };
    con.send(cmd::hset("tour:account", &account))?;
    let back: Account = con.send(cmd::hgetall("tour:account"))?;
    assert_eq!(back, account);

    // A typed pipeline: one write, one read, each output typed by its command.
    let (visits, _, recent): (i64, i64, Vec<String>) = con.pipe((
        cmd::incr("tour:visits"),
        cmd::lpush("tour:recent", ["ann"]),
        cmd::lrange("tour:recent", 0, 9),
    ))?;
    println!("visits = {visits}, recent = {recent:?}");

    // Optimistic locking: read the balance, write it back changed; retried if someone else
    // changed it in between.
    let (new_balance,): (i64,) = con.watch(&"tour:account", WatchOptions::default(), |con| {
        let balance: Option<i64> = con.send(cmd::hget("tour:account", "balance"))?;
        Ok((cmd::hincrby(
            "tour:account",
            "balance",
            10 - balance.unwrap_or(0) % 10,
        ),))
    })?;
    println!("balance after the transaction: {new_balance}");

    // The async connection: clone it into as many tasks as you like.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let shared = client.get_async_connection().await?;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let con = shared.clone();
                tokio::spawn(async move { con.send(cmd::incr("tour:async")).await })
            })
            .collect();
        for t in tasks {
            t.await.expect("task")?;
        }
        let n: Option<i64> = shared.send(cmd::get("tour:async")).await?;
        println!("async counter = {n:?}");
        Ok::<_, valkey::Error>(())
    })?;
    con.send(cmd::del([
        "tour:greeting",
        "tour:account",
        "tour:visits",
        "tour:recent",
        "tour:async",
    ]))?;
    Ok(())
}
