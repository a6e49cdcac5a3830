//! What the live command tests (`command_conformance`, `command_paths`) share: the commands they
//! do not send, with why, and the setup that gives the key `k` the type a command group works on.
// Each test uses its part.
#![allow(dead_code)]

use valkey::Cmd;

/// Commands not sent, with why: they change the connection or the server for everything after
/// them (the blocking commands' empty cases are avoided by the setup: their keys hold data).
pub const SKIP: &[(&str, &str)] = &[
    ("SHUTDOWN", "stops the server"),
    ("MONITOR", "turns the connection into a MONITOR stream"),
    ("SUBSCRIBE", "puts the connection in subscribed mode"),
    ("PSUBSCRIBE", "puts the connection in subscribed mode"),
    ("SSUBSCRIBE", "puts the connection in subscribed mode"),
    (
        "UNSUBSCRIBE",
        "answers with push confirmations, not a reply",
    ),
    (
        "PUNSUBSCRIBE",
        "answers with push confirmations, not a reply",
    ),
    (
        "SUNSUBSCRIBE",
        "answers with push confirmations, not a reply",
    ),
    ("SYNC", "turns the connection into a replication stream"),
    ("PSYNC", "turns the connection into a replication stream"),
    ("REPLICAOF", "makes the server a replica of an address"),
    ("SLAVEOF", "makes the server a replica of an address"),
    ("FAILOVER", "needs replicas, hands the primary role away"),
    ("QUIT", "closes the connection"),
    ("RESET", "resets the connection's protocol and state"),
    ("MULTI", "queues every later command"),
    (
        "CLIENT KILL",
        "may close the test's own or the other connection",
    ),
    ("CLIENT REPLY", "silences the replies of later commands"),
    ("CLIENT PAUSE", "stalls every later command"),
    (
        "CLIENT TRACKING",
        "sends invalidation pushes to the connection",
    ),
    (
        "SCRIPT DEBUG",
        "turns the connection into a Lua debugger session",
    ),
    ("DEBUG", "can crash, hang or corrupt the server"),
];

/// Whether `name` is in [`SKIP`].
pub fn skipped(name: &str) -> bool {
    SKIP.iter().any(|(n, _)| *n == name)
}

/// Empties the server and gives the key `k` the type the command's group works on.
pub fn setup(con: &mut valkey::sync::Connection, group: &str) -> valkey::Result<()> {
    let raw = |args: &[&str]| {
        let mut c = Cmd::new(args[0]);
        for a in &args[1..] {
            c = c.arg(*a);
        }
        c
    };
    con.send(raw(&["FLUSHALL"]))?;
    let cmds: &[&[&str]] = match group {
        "string" | "bitmap" | "generic" => &[&["SET", "k", "1"]],
        "list" => &[&["RPUSH", "k", "1", "2", "3"]],
        "hash" => &[&["HSET", "k", "1", "1", "2", "2"]],
        "set" => &[&["SADD", "k", "1", "2", "3"]],
        "sorted-set" => &[&["ZADD", "k", "1", "1", "2", "2"]],
        "stream" => &[
            &["XADD", "k", "1-1", "1", "1"],
            &["XGROUP", "CREATE", "k", "1", "0"],
        ],
        "geo" => &[&["GEOADD", "k", "0.5", "0.5", "1"]],
        "hyperloglog" => &[&["PFADD", "k", "1"]],
        // `redis.register_function`: Redis 7.0 does not know the `server` alias.
        "scripting" => &[
            &["SCRIPT", "LOAD", "return 1"],
            &["FUNCTION", "FLUSH"],
            &[
                "FUNCTION",
                "LOAD",
                "REPLACE",
                "#!lua name=conformance\nredis.register_function{function_name='conformance_f', \
                 callback=function() return 1 end, flags={'no-writes'}}",
            ],
        ],
        _ => &[],
    };
    for c in cmds {
        con.send(raw(c))?;
    }
    if group == "server" {
        // SAVE, BGSAVE and BGREWRITEAOF refuse to run while another one's child is at work.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let info: String = con.send(raw(&["INFO", "persistence"]).returning::<String>())?;
            let busy = ["rdb_bgsave_in_progress:1", "aof_rewrite_in_progress:1"]
                .iter()
                .any(|b| info.contains(b));
            if !busy || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    Ok(())
}

/// Brings a cluster-enabled node (started with `cluster-require-full-coverage no`) back to
/// serving every slot but 16383, so that a command can add slot 16383 and remove slot 0, and
/// waits until its cluster is up (a node that served no slot waits out its rejoin delay).
pub fn serve_slots(con: &mut valkey::sync::Connection) -> valkey::Result<()> {
    let cluster = |args: &[&str]| {
        let mut c = Cmd::new("CLUSTER");
        for a in args {
            c = c.arg(*a);
        }
        c
    };
    let info = |con: &mut valkey::sync::Connection| -> valkey::Result<String> {
        con.send(cluster(&["INFO"]).returning::<String>())
    };
    if info(con)?.contains("cluster_slots_assigned:0\r") {
        con.send(cluster(&["ADDSLOTSRANGE", "0", "16382"]))?;
    }
    // Already so, or not: either answer is fine.
    let _ = con.send(cluster(&["DELSLOTS", "16383"]));
    let _ = con.send(cluster(&["ADDSLOTS", "0"]));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !info(con)?.contains("cluster_state:ok") {
        assert!(
            std::time::Instant::now() < deadline,
            "the cluster stays down"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Ok(())
}
