//! Errors that read well in a report, against real servers: each names the server and the
//! command (or batch) it is about, states how long was waited when a deadline elapsed, and shows
//! its cause once when the chain is walked as `anyhow`'s `{:#}` does (`source()` after
//! `source()`), sync and async, RESP2 and RESP3.

use std::error::Error as _;
use std::time::{Duration, Instant};
use valkey::aio::MultiplexedConnection;
use valkey::cmd;
use valkey::pipeline::Pipeline;
use valkey::sync::{Connection, PoolConfig};
use valkey::{Client, Cmd, ConnectionInfo, Error, ErrorKind, Protocol, Value};
use valkey_tests::{free_port, Server, ServerOptions};

const PROTOCOLS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

/// Counts the allocations of the current thread, so that a test can show that naming the
/// command and server costs nothing when a command succeeds.
struct Counting;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: every call is passed on to the system allocator unchanged; the counter is a
// thread-local `Cell` without a destructor, which allocates nothing.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(|n| n.get())
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn info(server: &Server, protocol: Protocol) -> ConnectionInfo {
    ConnectionInfo::from_url(&server.url())
        .unwrap()
        .with_protocol(protocol)
}

fn addr(server: &Server) -> String {
    format!("{}:{}", server.host(), server.port())
}

/// The error and its causes, joined as `anyhow`'s `{:#}` prints them.
fn report(e: &Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// The report, after checking that every cause's text appears in it exactly once (the top-level
/// message does not repeat it).
fn reported(e: &Error) -> String {
    let r = report(e);
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        assert_eq!(r.matches(&text).count(), 1, "{text:?} not once in: {r}");
        assert!(
            !e.to_string().contains(&text),
            "the message repeats its cause: {r}"
        );
        cause = c.source();
    }
    eprintln!("{{:#}}: {r}");
    r
}

/// Asserts that the error is about `command` on `addr`, and that the message starts so.
fn about(e: &Error, command: &str, addr: &str) {
    assert_eq!(e.command(), Some(command), "{e}");
    assert_eq!(e.server_addr(), Some(addr), "{e}");
    let prefix = format!("{command} on {addr}: ");
    assert!(e.to_string().starts_with(&prefix), "{e}");
}

/// An address where nothing listens.
fn closed_port() -> (String, String) {
    let port = free_port().unwrap();
    (
        format!("valkey://127.0.0.1:{port}?connect_timeout=2"),
        format!("127.0.0.1:{port}"),
    )
}

/// Connects and accepts, and never answers: a server that hangs in the handshake.
fn mute_listener() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

#[test]
fn a_refused_connection_says_so_with_the_address_and_its_cause_once() {
    let (url, addr) = closed_port();
    let e = Connection::open(url.as_str()).unwrap_err();
    let r = reported(&e);
    assert!(e.is_io(), "{r}");
    assert_eq!(
        e.to_string(),
        format!("could not connect to {addr}: connection refused")
    );
    let io = e
        .source()
        .unwrap()
        .downcast_ref::<std::io::Error>()
        .unwrap();
    assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
    let pool = Client::open(url.as_str())
        .unwrap()
        .pool(PoolConfig::default())
        .unwrap();
    let e = pool.get().unwrap_err();
    reported(&e);
    assert!(e.to_string().contains(&addr), "{e}");
    rt().block_on(async {
        let e = MultiplexedConnection::open(url.as_str()).await.unwrap_err();
        reported(&e);
        assert_eq!(
            e.to_string(),
            format!("could not connect to {addr}: connection refused")
        );
        assert!(e.source().unwrap().is::<std::io::Error>());
    });
}

#[test]
fn a_command_whose_server_is_gone_names_itself_the_server_and_the_cause_once() {
    let mut server = ServerOptions::valkey().start().unwrap();
    let addr = addr(&server);
    let mut sync = Connection::open(server.url()).unwrap();
    let rt = rt();
    let con = rt
        .block_on(MultiplexedConnection::open(server.url()))
        .unwrap();
    server.kill();
    // The socket is gone, then the reconnect is refused: not sent, naming the command.
    for attempt in 0..2 {
        let e = sync.send(cmd::get::<_, String>("k")).unwrap_err();
        let r = reported(&e);
        about(&e, "GET", &addr);
        assert!(e.is_io(), "#{attempt}: {r}");
        if e.is_not_sent() {
            assert!(r.contains("connection refused"), "{r}");
            assert!(r.contains("it was not sent"), "{r}");
        }
    }
    rt.block_on(async {
        for _ in 0..2 {
            let e = con.send(cmd::incr("n")).await.unwrap_err();
            let r = reported(&e);
            about(&e, "INCR", &addr);
            assert!(e.is_io(), "{r}");
        }
        let e = con.send(cmd::incr("n")).await.unwrap_err();
        assert!(e.is_not_sent(), "{e}");
        let r = reported(&e);
        assert!(r.contains("connection refused"), "{r}");
        // A blocking command goes to a dedicated connection, which cannot be opened.
        let e = con
            .send(cmd::blpop::<_, Value>(["q"], 0.0))
            .await
            .unwrap_err();
        let r = reported(&e);
        about(&e, "BLPOP", &addr);
        assert!(r.contains("connection refused"), "{r}");
    });
}

#[test]
fn a_wrong_password_names_the_server_and_never_the_password() {
    let server = ServerOptions::valkey().password("right").start().unwrap();
    let addr = addr(&server);
    for protocol in PROTOCOLS {
        let info = ConnectionInfo::from_url(&format!("valkey://127.0.0.1:{}", server.port()))
            .unwrap()
            .with_protocol(protocol)
            .with_auth(None, "wrong-secret");
        let check = |e: Error| {
            let r = reported(&e);
            assert!(e.is_auth(), "{r}");
            assert_eq!(e.code(), Some("WRONGPASS"), "{r}");
            assert!(r.contains(&addr), "{r}");
            assert_eq!(r.matches("WRONGPASS").count(), 1, "{r}");
            assert!(!r.contains("wrong-secret"), "password leaked: {r}");
        };
        check(Connection::open(info.clone()).unwrap_err());
        check(
            rt().block_on(MultiplexedConnection::open(info))
                .unwrap_err(),
        );
    }
}

#[test]
fn a_server_error_reply_names_the_command_and_keeps_its_code() {
    let server = ServerOptions::valkey().start().unwrap();
    let addr = addr(&server);
    server.command(&["RPUSH", "list", "a"]).unwrap();
    for protocol in PROTOCOLS {
        let check = |e: &Error, command: &str| {
            let r = reported(e);
            about(e, command, &addr);
            assert_eq!(e.code(), Some("WRONGTYPE"), "{r}");
            let s = e.server_error().unwrap();
            assert!(s.detail().starts_with("Operation against a key"), "{r}");
            assert!(s.message().starts_with("WRONGTYPE Operation"), "{r}");
            assert_eq!(r.matches("WRONGTYPE").count(), 1, "{r}");
        };
        let mut sync = Connection::open(info(&server, protocol)).unwrap();
        let e = sync.send(cmd::incr("list")).unwrap_err();
        check(&e, "INCR");
        assert_eq!(
            e.to_string(),
            format!(
                "INCR on {addr}: server error: WRONGTYPE Operation against a key holding the \
                 wrong kind of value"
            )
        );
        // A raw command is named from its encoding, never its arguments.
        let e = sync
            .send(Cmd::new("incrby").arg("list").arg(12345))
            .unwrap_err();
        check(&e, "INCRBY");
        assert!(!e.to_string().contains("12345"), "{e}");
        let e = sync
            .pipe((
                cmd::set("k", "v"),
                cmd::incr("list"),
                cmd::get::<_, String>("k"),
            ))
            .unwrap_err();
        check(&e, "pipeline of 3 (SET …)");
        assert!(e.to_string().contains("command #1 (INCR)"), "{e}");
        let e = sync.transaction((cmd::incr("list"),)).unwrap_err();
        check(&e, "transaction of 1 (INCR)");
        // Each command's own error of a batch names the batch and the server too.
        let (set, incr) = sync
            .pipe_results((cmd::set("k", "v"), cmd::incr("list")))
            .unwrap();
        set.unwrap();
        check(&incr.unwrap_err(), "pipeline of 2 (SET …)");
        let (incr,) = sync.transaction_results((cmd::incr("list"),)).unwrap();
        check(&incr.unwrap_err(), "transaction of 1 (INCR)");
        let mut p = Pipeline::new();
        p.push(cmd::lpush("list", ["b"]));
        p.push(cmd::incr("list"));
        let e = sync.run(&p).unwrap().check().err().unwrap();
        check(&e, "pipeline of 2 (LPUSH …)");
        assert!(e.to_string().contains("command #1 (INCR)"), "{e}");
        rt().block_on(async {
            let con = MultiplexedConnection::open(info(&server, protocol))
                .await
                .unwrap();
            let e = con.send(cmd::incr("list")).await.unwrap_err();
            check(&e, "INCR");
            let e = con
                .pipe((
                    cmd::set("k", "v"),
                    cmd::incr("list"),
                    cmd::get::<_, String>("k"),
                ))
                .await
                .unwrap_err();
            check(&e, "pipeline of 3 (SET …)");
            let e = con
                .transaction((cmd::get::<_, Value>("k"), cmd::incr("list")))
                .await
                .unwrap_err();
            check(&e, "transaction of 2 (GET …)");
            let (_, incr) = con
                .pipe_results((cmd::set("k", "v"), cmd::incr("list")))
                .await
                .unwrap();
            check(&incr.unwrap_err(), "pipeline of 2 (SET …)");
            let mut p = Pipeline::new();
            let incr = p.push(cmd::incr("list"));
            let replies = con.run_transaction(&p).await.unwrap();
            check(&replies.get(incr).unwrap_err(), "transaction of 1 (INCR)");
            // A blocking command on a dedicated connection ("k" holds a string).
            let e = con
                .send(cmd::blpop::<_, Value>(["k"], 0.1))
                .await
                .unwrap_err();
            check(&e, "BLPOP");
        });
    }
}

#[test]
fn a_silent_server_gives_a_timeout_that_states_the_deadline() {
    let mut server = ServerOptions::valkey().start().unwrap();
    let addr = addr(&server);
    let info =
        info(&server, Protocol::Resp3).with_response_timeout(Some(Duration::from_millis(400)));
    let mut sync = Connection::open(info.clone()).unwrap();
    let rt = rt();
    let con = rt.block_on(async {
        let con = MultiplexedConnection::open(info.clone()).await.unwrap();
        // Opens the dedicated connection for blocking commands while the server answers.
        let none = con.send(cmd::blpop::<_, Value>(["q"], 0.01)).await.unwrap();
        assert_eq!(none, Value::Nil);
        con
    });
    server.pause().unwrap();
    let check = |e: &Error, command: &str, within: &str| {
        let r = reported(e);
        about(e, command, &addr);
        assert!(e.is_timeout() && e.is_unclear(), "{r}");
        assert!(r.contains(&format!("no reply within {within}")), "{r}");
        assert!(r.contains("may or may not have run"), "{r}");
        assert!(!r.contains("temporarily unavailable"), "{r}");
        assert!(!r.contains("os error"), "{r}");
    };
    let e = sync.send(cmd::get::<_, String>("k")).unwrap_err();
    check(&e, "GET", "400ms");
    assert!(e.to_string().contains("response_timeout"), "{e}");
    rt.block_on(async {
        let e = con.send(cmd::get::<_, String>("k")).await.unwrap_err();
        check(&e, "GET", "400ms");
        // A blocking command that may wait beyond a liveness period: the server is PINGed on
        // another connection meanwhile, and the error says that PING went unanswered.
        let e = con
            .send(cmd::blpop::<_, Value>(["q"], 1.0))
            .await
            .unwrap_err();
        let r = reported(&e);
        about(&e, "BLPOP", &addr);
        assert!(e.is_timeout() && e.is_unclear(), "{r}");
        assert!(r.contains("answered no PING within 400ms"), "{r}");
        assert!(r.contains("blocking command waited"), "{r}");
        assert!(r.contains("may or may not have run"), "{r}");
    });
    // The blocking connection reconnects (while the server answers) before each next try.
    server.resume().unwrap();
    let _: Value = sync.send(Cmd::new("PING")).unwrap();
    server.pause().unwrap();
    let e = sync.pipe((cmd::incr("a"), cmd::incr("b"))).unwrap_err();
    check(&e, "pipeline of 2 (INCR …)", "400ms");
    server.resume().unwrap();
    let _: Value = sync.send(Cmd::new("PING")).unwrap();
    server.pause().unwrap();
    // Too short a wait to be probed (0.3 s + 0.4 s ends before a PING could fail): the
    // command's own deadline.
    let e = sync.send(cmd::blpop::<_, Value>(["q"], 0.3)).unwrap_err();
    check(&e, "BLPOP", "700ms");
    assert!(
        e.to_string().contains("blocking command's own timeout"),
        "{e}"
    );
    server.resume().unwrap();
    // A subscription that is never confirmed.
    let mut ps = Client::open(info.clone()).unwrap().get_pubsub().unwrap();
    server.pause().unwrap();
    let e = ps.subscribe("news").unwrap_err();
    let r = reported(&e);
    about(&e, "SUBSCRIBE", &addr);
    assert!(e.is_timeout() && r.contains("within 400ms"), "{r}");
    server.resume().unwrap();
}

#[test]
fn connect_and_pool_timeouts_state_the_duration() {
    let port = mute_listener();
    let url = format!("valkey://127.0.0.1:{port}?connect_timeout=0.3");
    let mute = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let e = Connection::open(url.as_str()).unwrap_err();
    let r = reported(&e);
    assert!(e.is_timeout(), "{r}");
    assert!(r.contains(&mute) && r.contains("within 300ms"), "{r}");
    assert!(!r.contains("temporarily unavailable"), "{r}");
    assert!(started.elapsed() < Duration::from_secs(2));
    rt().block_on(async {
        let e = MultiplexedConnection::open(url.as_str()).await.unwrap_err();
        let r = reported(&e);
        assert!(e.is_timeout(), "{r}");
        assert!(r.contains(&mute) && r.contains("within 300ms"), "{r}");
    });
    let server = ServerOptions::valkey().start().unwrap();
    let pool = Client::open(server.url())
        .unwrap()
        .pool(
            PoolConfig::default()
                .max_size(1)
                .wait_timeout(Some(Duration::from_millis(250))),
        )
        .unwrap();
    let _held = pool.get().unwrap();
    let e = pool.get().unwrap_err();
    let r = reported(&e);
    assert_eq!(e.kind(), ErrorKind::PoolTimeout, "{r}");
    assert!(
        r.contains(&addr(&server)) && r.contains("within 250ms"),
        "{r}"
    );
}

#[test]
fn a_command_in_flight_when_the_server_dies_is_unclear_and_says_where_and_what() {
    for protocol in PROTOCOLS {
        let mut server = ServerOptions::valkey().start().unwrap();
        let addr = addr(&server);
        let check = |e: &Error| {
            let r = reported(e);
            about(e, "BLPOP", &addr);
            assert!(e.is_unclear() && !e.is_timeout(), "{r}");
            assert!(r.contains("may or may not have run"), "{r}");
        };
        let mut sync = Connection::open(info(&server, protocol)).unwrap();
        let rt = rt();
        let con = rt
            .block_on(MultiplexedConnection::open(info(&server, protocol)))
            .unwrap();
        let blocked =
            std::thread::spawn(move || sync.send(cmd::blpop::<_, Value>(["q"], 0.0)).unwrap_err());
        let e = rt.block_on(async {
            let task = {
                let con = con.clone();
                tokio::spawn(async move { con.send(cmd::blpop::<_, Value>(["q"], 0.0)).await })
            };
            tokio::time::sleep(Duration::from_millis(300)).await;
            server.kill();
            task.await.unwrap().unwrap_err()
        });
        check(&e);
        check(&blocked.join().unwrap());
    }
}

#[test]
fn naming_costs_nothing_when_commands_succeed() {
    const N: u64 = 2000;
    let server = ServerOptions::valkey().start().unwrap();
    let mut sync = Connection::open(server.url()).unwrap();
    for _ in 0..100 {
        let _: i64 = sync.send(cmd::incr("n")).unwrap();
    }
    let before = allocations();
    for _ in 0..N {
        let _: i64 = sync.send(cmd::incr("n")).unwrap();
    }
    let sync_allocs = allocations() - before;
    // The runtime, its IO tasks and the commands all run on this thread.
    let async_allocs = rt().block_on(async {
        let con = MultiplexedConnection::open(server.url()).await.unwrap();
        for _ in 0..100 {
            let _: i64 = con.send(cmd::incr("n")).await.unwrap();
        }
        let before = allocations();
        for _ in 0..N {
            let _: i64 = con.send(cmd::incr("n")).await.unwrap();
        }
        allocations() - before
    });
    eprintln!("allocations for {N} INCRs: sync {sync_allocs}, async {async_allocs}");
    assert!(
        sync_allocs < N / 100,
        "sync: {sync_allocs} allocations for {N} commands"
    );
    assert!(
        async_allocs < N / 100,
        "async: {async_allocs} allocations for {N} commands"
    );
}
