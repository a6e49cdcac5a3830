//! The blocking-command matrix: every command the server flags as blocking, typed, on every
//! executor (blocking connection, shared async connection, their pipelines and transactions),
//! with a server timeout of 1 s and of 0 (released by another client's push). The connections
//! run with a 300 ms liveness deadline, so a blocking command cut by it instead of waiting for
//! the server's own timeout is caught. Also: a frozen server fails every blocking command within
//! its timeout plus that deadline, and one that waits for ever (`timeout 0`) within two such
//! deadlines (the server is PINGed on another connection meanwhile), and a cancelled `BLPOP key 0` never stalls the shared
//! connection. WAIT and WAITAOF (the connection's own writes) run on the blocking connection and
//! are refused, before sending, everywhere else.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use valkey::aio::MultiplexedConnection;
use valkey::cmd::{self, MinMax, Side};
use valkey::sync::Connection;
use valkey::{Command, ConnectionInfo, ErrorKind, Protocol, Value};
use valkey_tests::{Reply, Server, ServerOptions};

/// The liveness deadline of every connection here.
const LIVENESS: Duration = Duration::from_millis(300);
/// A blocking command's own timeout in the timed cases.
const TIMEOUT: Duration = Duration::from_secs(1);
/// When another client pushes to release a `timeout 0` command: after two liveness probes of
/// the healthy server, which must not cut the wait.
const RELEASE_AFTER: Duration = Duration::from_millis(800);
/// Slack for a slow, shared machine on "returned within" bounds.
const SLACK: Duration = Duration::from_secs(3);

/// Where a command runs.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Exec {
    Sync,
    Async,
    SyncPipe,
    AsyncPipe,
    SyncMulti,
    AsyncMulti,
}

const EXECS: [Exec; 6] = [
    Exec::Sync,
    Exec::Async,
    Exec::SyncPipe,
    Exec::AsyncPipe,
    Exec::SyncMulti,
    Exec::AsyncMulti,
];

impl Exec {
    /// Inside MULTI the server never blocks: the command answers at once.
    fn in_multi(self) -> bool {
        matches!(self, Exec::SyncMulti | Exec::AsyncMulti)
    }
}

/// The connections of one worker thread.
struct Env {
    sync: Connection,
    rt: tokio::runtime::Runtime,
    shared: MultiplexedConnection,
}

impl Env {
    fn new(info: &ConnectionInfo) -> Env {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let shared = rt
            .block_on(MultiplexedConnection::open(info.clone()))
            .unwrap();
        Env {
            sync: Connection::open(info.clone()).unwrap(),
            rt,
            shared,
        }
    }

    /// Runs `c` (its reply read as a `Value`) on `exec`; how long it took.
    fn run<C: Command + Clone>(&mut self, exec: Exec, c: C) -> (valkey::Result<Value>, Duration) {
        let c = c.returning::<Value>();
        let start = Instant::now();
        let r = match exec {
            Exec::Sync => self.sync.send(c),
            Exec::Async => self.rt.block_on(self.shared.send(c)),
            Exec::SyncPipe => self.sync.pipe((c,)).map(|(v,)| v),
            Exec::AsyncPipe => self.rt.block_on(self.shared.pipe((c,))).map(|(v,)| v),
            Exec::SyncMulti => self.sync.transaction((c,)).map(|(v,)| v),
            Exec::AsyncMulti => self
                .rt
                .block_on(self.shared.transaction((c,)))
                .map(|(v,)| v),
        };
        (r, start.elapsed())
    }
}

/// What releases a command blocked on its keys.
#[derive(Clone, Copy)]
enum Feed {
    List,
    Zset,
    Stream,
}

/// One row of the matrix.
#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    feed: Feed,
}

const CASES: [Case; 10] = [
    Case {
        name: "BLPOP",
        feed: Feed::List,
    },
    Case {
        name: "BRPOP",
        feed: Feed::List,
    },
    Case {
        name: "BLMOVE",
        feed: Feed::List,
    },
    Case {
        name: "BRPOPLPUSH",
        feed: Feed::List,
    },
    Case {
        name: "BLMPOP",
        feed: Feed::List,
    },
    Case {
        name: "BZPOPMIN",
        feed: Feed::Zset,
    },
    Case {
        name: "BZPOPMAX",
        feed: Feed::Zset,
    },
    Case {
        name: "BZMPOP",
        feed: Feed::Zset,
    },
    Case {
        name: "XREAD",
        feed: Feed::Stream,
    },
    Case {
        name: "XREADGROUP",
        feed: Feed::Stream,
    },
];

/// Commands flagged blocking that the matrix does not run on every executor, and why.
const ONLY_ON_THE_BLOCKING_CONNECTION: [&str; 2] = ["WAIT", "WAITAOF"];

impl Case {
    fn key(&self) -> String {
        format!("blocking:{}", self.name)
    }

    /// Runs the command on `exec` with server timeout `timeout` (0: wait for ever).
    fn run(
        &self,
        env: &mut Env,
        exec: Exec,
        timeout: Duration,
    ) -> (valkey::Result<Value>, Duration) {
        let key = self.key();
        let k = key.as_str();
        let dest = format!("{key}:dest");
        match self.name {
            "BLPOP" => env.run(exec, cmd::blpop::<_, Value>([k], timeout)),
            "BRPOP" => env.run(exec, cmd::brpop::<_, Value>([k], timeout)),
            "BLMOVE" => env.run(
                exec,
                cmd::blmove::<_, _, Value>(k, dest.as_str(), Side::Left, Side::Right, timeout),
            ),
            "BRPOPLPUSH" => env.run(
                exec,
                cmd::brpoplpush::<_, _, Value>(k, dest.as_str(), timeout),
            ),
            "BLMPOP" => env.run(exec, cmd::blmpop::<_, Value>(timeout, [k], Side::Left)),
            "BZPOPMIN" => env.run(exec, cmd::bzpopmin::<_, Value>([k], timeout)),
            "BZPOPMAX" => env.run(exec, cmd::bzpopmax::<_, Value>([k], timeout)),
            "BZMPOP" => env.run(exec, cmd::bzmpop::<_, Value>(timeout, [k], MinMax::Min)),
            "XREAD" => env.run(exec, cmd::xread::<_, Value>([(k, "$")]).block(timeout)),
            "XREADGROUP" => env.run(
                exec,
                cmd::xreadgroup::<_, _, _, Value>("group", "consumer", [(k, ">")]).block(timeout),
            ),
            other => unreachable!("no case for {other}"),
        }
    }

    /// Makes the keys exist as the command expects, empty of what it waits for.
    fn prepare(&self, server: &Server) {
        let key = self.key();
        server.command(&["DEL", &key]).unwrap();
        if self.name == "XREADGROUP" {
            let r = server
                .command(&["XGROUP", "CREATE", &key, "group", "$", "MKSTREAM"])
                .unwrap();
            assert_eq!(r, Reply::Status("OK".into()));
        }
    }

    /// Another client gives the command what it waits for.
    fn release(&self, server: &Server) {
        let key = self.key();
        let r = match self.feed {
            Feed::List => server.command(&["RPUSH", &key, "released"]),
            Feed::Zset => server.command(&["ZADD", &key, "1", "released"]),
            Feed::Stream => server.command(&["XADD", &key, "*", "f", "released"]),
        };
        assert!(r.is_ok(), "{}: release: {r:?}", self.name);
    }
}

fn start() -> Server {
    Server::valkey().expect("server starts")
}

fn info(server: &Server, protocol: Protocol) -> ConnectionInfo {
    let mut info = ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_protocol(protocol);
    info.response_timeout = Some(LIVENESS);
    info
}

/// A reply meaning "nothing came": nil, or an empty array/map.
fn is_empty_reply(v: &Value) -> bool {
    match v {
        Value::Nil => true,
        Value::Array(a) | Value::Set(a) => a.is_empty(),
        Value::Map(m) => m.is_empty(),
        _ => false,
    }
}

#[test]
fn the_matrix_covers_every_blocking_command() {
    let flagged: BTreeSet<&str> = valkey::cmd::commands()
        .iter()
        .filter(|m| m.is_blocking() || m.blocking.is_some())
        .map(|m| m.name)
        .collect();
    let covered: BTreeSet<&str> = CASES
        .iter()
        .map(|c| c.name)
        .chain(ONLY_ON_THE_BLOCKING_CONNECTION)
        .collect();
    assert_eq!(flagged, covered, "blocking commands and the matrix's rows");
}

/// Runs `check` for every case, each on its own thread with its own connections.
fn each_case(
    server: &Server,
    protocol: Protocol,
    check: fn(&Server, &mut Env, Case) -> Vec<String>,
) {
    let failures: Vec<String> = std::thread::scope(|s| {
        let threads: Vec<_> = CASES
            .iter()
            .map(|&case| {
                s.spawn(move || {
                    let mut env = Env::new(&info(server, protocol));
                    check(server, &mut env, case)
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().expect("case thread"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{protocol:?}:\n{}",
        failures.join("\n")
    );
}

/// Timeout 1 s, nothing arrives: the server's own timeout decides (never the 300 ms liveness
/// deadline), and the answer is "nothing". Inside MULTI it answers at once.
fn times_out_on_its_own(server: &Server, env: &mut Env, case: Case) -> Vec<String> {
    let mut failures = Vec::new();
    for exec in EXECS {
        case.prepare(server);
        let (r, took) = case.run(env, exec, TIMEOUT);
        let label = format!("{} on {exec:?}, timeout 1 s", case.name);
        match r {
            Ok(v) if is_empty_reply(&v) => {}
            other => failures.push(format!("{label}: {other:?}")),
        }
        let in_time = if exec.in_multi() {
            took < TIMEOUT / 2
        } else {
            took >= TIMEOUT - Duration::from_millis(50) && took < TIMEOUT + SLACK
        };
        if !in_time {
            failures.push(format!("{label}: answered after {took:?}"));
        }
    }
    failures
}

/// Timeout 0: blocks until another client pushes (after 300 ms, beyond the liveness deadline),
/// then answers with what was pushed. Inside MULTI it answers "nothing" at once.
fn released_by_a_push(server: &Server, env: &mut Env, case: Case) -> Vec<String> {
    let mut failures = Vec::new();
    for exec in EXECS {
        case.prepare(server);
        let label = format!("{} on {exec:?}, timeout 0", case.name);
        let (r, took) = std::thread::scope(|s| {
            if !exec.in_multi() {
                s.spawn(|| {
                    std::thread::sleep(RELEASE_AFTER);
                    case.release(server);
                });
            }
            case.run(env, exec, Duration::ZERO)
        });
        match (&r, exec.in_multi()) {
            (Ok(v), true) if is_empty_reply(v) => {}
            (Ok(v), false) if !is_empty_reply(v) && format!("{v:?}").contains("released") => {}
            _ => failures.push(format!("{label}: {r:?}")),
        }
        let in_time = if exec.in_multi() {
            took < RELEASE_AFTER
        } else {
            took >= RELEASE_AFTER - Duration::from_millis(50) && took < RELEASE_AFTER + SLACK
        };
        if !in_time {
            failures.push(format!("{label}: answered after {took:?}"));
        }
    }
    failures
}

#[test]
fn a_blocking_command_waits_for_its_own_timeout_resp2() {
    each_case(&start(), Protocol::Resp2, times_out_on_its_own);
}

#[test]
fn a_blocking_command_waits_for_its_own_timeout_resp3() {
    each_case(&start(), Protocol::Resp3, times_out_on_its_own);
}

#[test]
fn a_blocking_command_is_released_by_a_push_resp2() {
    each_case(&start(), Protocol::Resp2, released_by_a_push);
}

#[test]
fn a_blocking_command_is_released_by_a_push_resp3() {
    each_case(&start(), Protocol::Resp3, released_by_a_push);
}

/// One command of a frozen-server run: what it gave, how long it took, and its connections
/// (to be used again once the server resumes).
struct FrozenRun {
    label: String,
    result: valkey::Result<Value>,
    took: Duration,
    env: Env,
}

/// Runs every case on each of `execs` with server timeout `timeout`, each on its own thread and
/// connections; the commands start 300 ms after the threads, the server is stopped `pause_at`
/// after them, and resumed once every command has returned (and kept running for the caller).
fn run_while_frozen(
    execs: &[Exec],
    timeout: Duration,
    pause_at: Duration,
) -> (Server, Vec<FrozenRun>) {
    let mut server = start();
    for case in CASES {
        case.prepare(&server);
    }
    let info = info(&server, Protocol::Resp3);
    let runs = std::thread::scope(|s| {
        let threads: Vec<_> = CASES
            .iter()
            .flat_map(|&case| execs.iter().map(move |&exec| (case, exec)))
            .map(|(case, exec)| {
                let info = info.clone();
                s.spawn(move || {
                    let mut env = Env::new(&info);
                    std::thread::sleep(Duration::from_millis(300)); // all connected
                    let (result, took) = case.run(&mut env, exec, timeout);
                    let label = format!("{} on {exec:?}", case.name);
                    FrozenRun {
                        label,
                        result,
                        took,
                        env,
                    }
                })
            })
            .collect();
        std::thread::sleep(pause_at);
        server.pause().unwrap();
        let runs = threads.into_iter().map(|t| t.join().unwrap()).collect();
        server.resume().unwrap();
        runs
    });
    (server, runs)
}

#[test]
fn a_frozen_server_fails_blocking_commands_within_timeout_and_deadline() {
    // Every case waits with timeout 1 s (sync and async) while the server is stopped: each
    // fails as a timeout, noticed by the PINGs on another connection (about 600 ms) or at the
    // latest after 1 s + 300 ms; none hangs, none answers "nothing". The server stops before
    // the commands start, so the async ones, whose dedicated connection is opened then, fail
    // not sent.
    let (_server, runs) = run_while_frozen(
        &[Exec::Sync, Exec::Async],
        TIMEOUT,
        Duration::from_millis(200),
    );
    let mut failures = Vec::new();
    for FrozenRun {
        label,
        result,
        took,
        ..
    } in runs
    {
        match &result {
            Err(e) if e.is_timeout() => {}
            _ => failures.push(format!("{label}: {result:?}")),
        }
        if took < LIVENESS || took > TIMEOUT + LIVENESS + SLACK {
            failures.push(format!("{label}: failed after {took:?}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_frozen_server_fails_blocking_commands_that_wait_for_ever() {
    // Timeout 0 on every executor that blocks, the server stopped while they wait: the silence
    // is the command's own, so only the PINGs on another connection (every 300 ms, answered
    // within 300 ms) can tell a frozen server. Each fails as an Unclear timeout within about
    // 600 ms, none hangs; after the server resumes, every connection works again.
    let execs = [Exec::Sync, Exec::Async, Exec::SyncPipe, Exec::AsyncPipe];
    let (_server, runs) = run_while_frozen(&execs, Duration::ZERO, Duration::from_millis(500));
    let mut failures = Vec::new();
    for FrozenRun {
        label,
        result,
        took,
        mut env,
    } in runs
    {
        match &result {
            Err(e) if e.is_timeout() && e.is_unclear() => {}
            _ => failures.push(format!("{label}: {result:?}")),
        }
        // Waiting from about 200 ms before the pause; noticed a probe period or two after it.
        if took < LIVENESS || took > Duration::from_millis(200) + 2 * LIVENESS + SLACK {
            failures.push(format!("{label}: failed after {took:?}"));
        }
        let sync_ping: valkey::Result<String> = env.sync.send(cmd::ping());
        let async_ping: valkey::Result<String> = env.rt.block_on(env.shared.send(cmd::ping()));
        if !matches!((&sync_ping, &async_ping), (Ok(a), Ok(b)) if a == "PONG" && b == "PONG") {
            failures.push(format!(
                "{label}: after resume: {sync_ping:?} {async_ping:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn a_busy_shared_connection_never_fails_a_healthy_blocked_wait() {
    // BLPOP k 0 waits on its dedicated connection while its shared connection streams large
    // pipelines: the PINGs that check the server queue behind them and come back later than the
    // 300 ms margin, but replies keep flowing, so the server is alive and the wait goes on
    // until released. The PING latency seen meanwhile shows the PINGs were late.
    let server = start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = MultiplexedConnection::open(info(&server, Protocol::Resp3))
            .await
            .unwrap();
        let blpop = tokio::spawn({
            let con = con.clone();
            async move { con.send(cmd::blpop::<_, Value>(["busy:list"], 0)).await }
        });
        let value = "v".repeat(100);
        let floods: Vec<_> = (0..4)
            .map(|t| {
                let con = con.clone();
                let value = value.clone();
                tokio::spawn(async move {
                    for round in 0..3 {
                        let sets: Vec<_> = (0..100_000)
                            .map(|i| cmd::set(format!("busy:{t}:{round}:{i}"), value.as_str()))
                            .collect();
                        con.pipe(sets).await.unwrap();
                    }
                })
            })
            .collect();
        let mut slowest_ping = Duration::ZERO;
        while !floods.iter().all(|f| f.is_finished()) {
            let started = Instant::now();
            let _: String = con.send(cmd::ping()).await.unwrap();
            slowest_ping = slowest_ping.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for f in floods {
            f.await.unwrap();
        }
        assert!(
            !blpop.is_finished(),
            "BLPOP k 0 ended before it was released: {:?}",
            blpop.await
        );
        server.command(&["RPUSH", "busy:list", "released"]).unwrap();
        let popped = tokio::time::timeout(Duration::from_secs(10), blpop)
            .await
            .expect("BLPOP released")
            .unwrap()
            .unwrap();
        assert!(format!("{popped:?}").contains("released"), "{popped:?}");
        assert!(
            slowest_ping > LIVENESS,
            "the flood never delayed a PING beyond the margin ({slowest_ping:?}): nothing tested"
        );
        println!("slowest PING on the busy shared connection: {slowest_ping:?}");
    });
}

#[test]
fn probes_answered_with_an_error_reply_keep_the_wait() {
    // A least-privilege ACL user that may BLPOP but not PING: the probes' PINGs get NOPERM,
    // which is an answer from a live server, so BLPOP k 0 waits through them (sync and async)
    // until released.
    let server = ServerOptions::valkey()
        .acl_user("popper on >popper-pw ~probe:* +blpop +hello +client")
        .start()
        .unwrap();
    let url = format!("valkey://popper:popper-pw@127.0.0.1:{}", server.port());
    let mut info = ConnectionInfo::from_url(&url).unwrap();
    info.response_timeout = Some(LIVENESS);
    let mut env = Env::new(&info);
    let denied = env.sync.send(cmd::ping()).unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::NoPermission, "{denied}");
    for exec in [Exec::Sync, Exec::Async] {
        let (r, took) = std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(RELEASE_AFTER);
                server
                    .command(&["RPUSH", "probe:list", "released"])
                    .unwrap();
            });
            env.run(exec, cmd::blpop::<_, Value>(["probe:list"], 0))
        });
        assert!(
            matches!(&r, Ok(v) if format!("{v:?}").contains("released")),
            "{exec:?}: {r:?}"
        );
        assert!(
            took >= RELEASE_AFTER - Duration::from_millis(50),
            "{exec:?}: {took:?}"
        );
    }
}

#[test]
fn a_probe_refused_at_maxclients_keeps_the_wait() {
    // The server is full (maxclients 2: the blocked connection and an idle one): the probe
    // connection of the blocking connection is refused with an error reply, which is an answer
    // from a live server, so BLPOP k 0 waits on until released.
    let server = ServerOptions::valkey()
        .config("maxclients 2")
        .start()
        .unwrap();
    let info = info(&server, Protocol::Resp3);
    let mut blocked = Connection::open(info.clone()).unwrap();
    let idle = Connection::open(info.clone()).unwrap();
    let refused = Connection::open(info).unwrap_err();
    assert!(refused.server_error().is_some(), "{refused:?}");
    let (r, took) = std::thread::scope(|s| {
        s.spawn(move || {
            std::thread::sleep(RELEASE_AFTER);
            drop(idle);
            std::thread::sleep(Duration::from_millis(100));
            server.command(&["RPUSH", "full:list", "released"]).unwrap();
        });
        let started = Instant::now();
        let r = blocked.send(cmd::blpop::<_, Value>(["full:list"], 0));
        (r, started.elapsed())
    });
    assert!(
        matches!(&r, Ok(v) if format!("{v:?}").contains("released")),
        "{r:?}"
    );
    assert!(took >= RELEASE_AFTER, "{took:?}");
}

#[test]
fn a_cancelled_blpop_never_stalls_the_shared_connection() {
    let server = start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let clients = || match server.command(&["CLIENT", "LIST"]).unwrap() {
        Reply::Bulk(b) => String::from_utf8_lossy(&b).lines().count(),
        other => panic!("CLIENT LIST: {other:?}"),
    };
    rt.block_on(async {
        let con = MultiplexedConnection::open(info(&server, Protocol::Resp3))
            .await
            .unwrap();
        con.send(cmd::ping()).await.unwrap();
        let before = clients();
        for round in 0..20 {
            // Cancelled at once, while connecting its dedicated connection, or while blocked.
            let wait = Duration::from_millis([0, 1, 5, 50][round % 4]);
            let blpop = con.send(cmd::blpop::<_, Value>(["blocking:cancelled"], 0));
            assert!(
                tokio::time::timeout(wait, blpop).await.is_err(),
                "BLPOP 0 answered"
            );
            let ping = tokio::time::timeout(Duration::from_secs(2), con.send(cmd::ping()));
            let pong = ping
                .await
                .expect("PING right after a cancelled BLPOP")
                .unwrap();
            assert_eq!(pong, "PONG");
        }
        // The cancelled BLPOPs' connections are closed, not left blocking on the server.
        let deadline = Instant::now() + Duration::from_secs(5);
        while clients() > before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            clients(),
            before,
            "server clients after 20 cancelled BLPOPs"
        );
        // A push now reaches nobody's cancelled BLPOP: the list keeps it.
        server
            .command(&["RPUSH", "blocking:cancelled", "kept"])
            .unwrap();
        let len: i64 = con.send(cmd::llen("blocking:cancelled")).await.unwrap();
        assert_eq!(len, 1);
    });
}

#[test]
fn wait_and_waitaof_block_on_the_connection_that_wrote_and_are_refused_elsewhere() {
    let server = start();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let mut env = Env::new(&info(&server, protocol));
        // No replica: WAIT 1 waits its whole timeout and counts 0; never cut at 300 ms.
        let (r, took) = env.run(Exec::Sync, cmd::wait(1, TIMEOUT));
        assert_eq!(r.unwrap(), Value::Int(0), "WAIT {protocol:?}");
        assert!(
            took >= TIMEOUT - Duration::from_millis(50),
            "WAIT: {took:?}"
        );
        let (r, took) = env.run(Exec::Sync, cmd::waitaof(0, 1, TIMEOUT));
        assert!(
            matches!(r, Ok(Value::Array(ref a)) if a.len() == 2),
            "WAITAOF: {r:?}"
        );
        assert!(
            took >= TIMEOUT - Duration::from_millis(50),
            "WAITAOF: {took:?}"
        );
        for exec in EXECS.into_iter().filter(|e| *e != Exec::Sync) {
            let (r, _) = env.run(exec, cmd::wait(1, TIMEOUT));
            let e = r.expect_err("WAIT is refused on shared executors");
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "WAIT on {exec:?}: {e}");
            let (r, _) = env.run(exec, cmd::waitaof(0, 1, TIMEOUT));
            let e = r.expect_err("WAITAOF is refused on shared executors");
            assert_eq!(
                e.kind(),
                ErrorKind::InvalidInput,
                "WAITAOF on {exec:?}: {e}"
            );
        }
    }
}
