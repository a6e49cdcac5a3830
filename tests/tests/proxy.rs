//! Self-tests of the fault-injecting proxy in front of a real valkey-server, through the harness's
//! own RESP client and raw sockets (never the client under test): each mode does what it says,
//! on live connections as well as new ones.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use valkey_tests::{AfterInjection, Proxy, Reply, RespConn, Server};

fn setup() -> (Server, Proxy) {
    let server = Server::valkey().expect("server starts");
    let proxy = Proxy::start(server.addr()).expect("proxy starts");
    (server, proxy)
}

fn connect(proxy: &Proxy) -> RespConn {
    RespConn::connect(proxy.addr(), Duration::from_secs(5)).expect("connects to the proxy")
}

fn status(s: &str) -> Reply {
    Reply::Status(s.to_owned())
}

/// Whether nothing arrives on `con` within `wait` (and the socket is still open).
fn stays_silent(con: &mut RespConn, wait: Duration) -> bool {
    con.set_read_timeout(Some(wait)).unwrap();
    let silent = matches!(
        con.read_reply(),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
    );
    con.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    silent
}

/// Everything that arrives on `tcp` within `wait`.
fn read_for(tcp: &mut TcpStream, wait: Duration) -> Vec<u8> {
    let deadline = Instant::now() + wait;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        tcp.set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// Polls the server (directly, not through the proxy) until `key` holds `want`.
fn wait_for_value(server: &Server, key: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let got = server.command(&["GET", key]).unwrap().as_text();
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(Instant::now() < deadline, "{key} is {got:?}, not {want}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn forwards_commands_pipelines_and_large_replies() {
    let (_server, proxy) = setup();
    let mut con = connect(&proxy);
    let big: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    assert_eq!(
        con.command(&[&b"SET"[..], b"big", &big]).unwrap(),
        status("OK")
    );
    assert_eq!(con.command(&["GET", "big"]).unwrap(), Reply::Bulk(big));
    let pings: Vec<Vec<&str>> = (0..100).map(|_| vec!["PING"]).collect();
    let replies = con.pipeline(&pings).unwrap();
    assert!(replies.iter().all(|r| *r == status("PONG")));
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.open, stats.resets), (1, 1, 0));
}

#[test]
fn split_replies_delivers_one_byte_per_write() {
    let (server, proxy) = setup();
    server.command(&["SET", "v", &"x".repeat(10_000)]).unwrap();
    let mut con = connect(&proxy);
    proxy.split_replies(true);
    let before = proxy.stats();
    assert_eq!(
        con.command(&["GET", "v"])
            .unwrap()
            .as_bytes()
            .unwrap()
            .len(),
        10_000
    );
    let after = proxy.stats();
    let bytes = after.client_bytes - before.client_bytes;
    assert_eq!(bytes, "$10000\r\n".len() as u64 + 10_000 + 2);
    assert_eq!(after.client_writes - before.client_writes, bytes);
    proxy.split_replies(false);
    let before = proxy.stats();
    con.command(&["GET", "v"]).unwrap();
    assert!(proxy.stats().client_writes - before.client_writes < 10);
}

#[test]
fn freeze_holds_both_directions_until_thaw() {
    let (server, proxy) = setup();
    let mut con = connect(&proxy);
    assert_eq!(con.command(&["PING"]).unwrap(), status("PONG"));
    proxy.freeze();
    con.send(&["SET", "frozen", "1"]).unwrap();
    assert!(stays_silent(&mut con, Duration::from_millis(300)));
    // The command has not reached the server either.
    assert_eq!(server.command(&["GET", "frozen"]).unwrap(), Reply::Nil);
    proxy.thaw();
    assert_eq!(con.read_reply().unwrap(), status("OK"));
    assert_eq!(
        server
            .command(&["GET", "frozen"])
            .unwrap()
            .as_text()
            .unwrap(),
        "1"
    );
    assert_eq!(proxy.stats().open, 1);
}

#[test]
fn reset_all_closes_every_connection_with_an_rst() {
    let (_server, proxy) = setup();
    let mut a = TcpStream::connect(proxy.addr()).unwrap();
    let mut b = connect(&proxy);
    a.write_all(b"PING\r\n").unwrap();
    let mut buf = [0u8; 64];
    a.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(a.read(&mut buf).unwrap(), 7);
    assert_eq!(b.command(&["PING"]).unwrap(), status("PONG"));
    assert_eq!(proxy.reset_all(), 2);
    let read = a.read(&mut buf);
    assert!(
        matches!(&read, Err(e) if e.kind() == ErrorKind::ConnectionReset),
        "expected an RST, got {read:?}"
    );
    assert!(b.command(&["PING"]).is_err());
    let stats = proxy.stats();
    assert_eq!((stats.resets, stats.open), (2, 0));
    // New connections are forwarded as before.
    assert_eq!(connect(&proxy).command(&["PING"]).unwrap(), status("PONG"));
}

/// Bytes of a `GET big` reply (`full` bytes long) received through `proxy` before the
/// connection broke, per attempt.
fn bytes_before_reset(proxy: &Proxy, attempts: usize, full: usize) -> Vec<usize> {
    (0..attempts)
        .map(|_| {
            let mut tcp = TcpStream::connect(proxy.addr()).unwrap();
            tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            tcp.write_all(b"GET big\r\n").unwrap();
            let mut got = 0;
            let mut buf = [0u8; 4096];
            while got < full {
                match tcp.read(&mut buf) {
                    Ok(n @ 1..) => got += n,
                    _ => break,
                }
            }
            got
        })
        .collect()
}

#[test]
fn random_resets_cut_replies_midway_and_follow_the_seed() {
    let (server, proxy) = setup();
    server
        .command(&["SET", "big", &"y".repeat(100_000)])
        .unwrap();
    let full = "$100000\r\n".len() + 100_000 + 2;
    proxy.reset_at_random(4096, 42);
    let first = bytes_before_reset(&proxy, 5, full);
    assert!(first.iter().all(|&n| 0 < n && n < full), "{first:?}");
    assert_eq!(proxy.stats().resets, 5);

    let again = Proxy::start(server.addr()).unwrap();
    again.reset_at_random(4096, 42);
    assert_eq!(
        bytes_before_reset(&again, 5, full),
        first,
        "same seed, same cut points"
    );

    proxy.stop_random_resets();
    assert_eq!(bytes_before_reset(&proxy, 1, full), vec![full]);
}

#[test]
fn cut_after_forward_runs_the_commands_but_loses_the_replies() {
    let (server, proxy) = setup();
    let mut con = connect(&proxy);
    assert_eq!(con.command(&["PING"]).unwrap(), status("PONG"));
    proxy.cut_after_forward(1);
    assert!(
        con.command(&["INCR", "n"]).is_err(),
        "the reply must be lost"
    );
    wait_for_value(&server, "n", "1");

    // Three of a pipeline of four are forwarded; the fourth never reaches the server.
    let mut con = connect(&proxy);
    proxy.cut_after_forward(3);
    let incr = vec!["INCR", "n"];
    assert!(con
        .pipeline(&[incr.clone(), incr.clone(), incr.clone(), incr])
        .is_err());
    wait_for_value(&server, "n", "4");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        server.command(&["GET", "n"]).unwrap().as_text().unwrap(),
        "4"
    );
    assert_eq!(proxy.stats().cuts, 2);

    // The budget is spent: the next connection is forwarded as usual.
    assert_eq!(
        connect(&proxy).command(&["INCR", "n"]).unwrap(),
        Reply::Int(5)
    );
}

#[test]
fn silent_accept_accepts_and_never_answers() {
    let (_server, proxy) = setup();
    proxy.silent_accept(true);
    let mut silent = connect(&proxy);
    silent.send(&["PING"]).unwrap();
    assert!(stays_silent(&mut silent, Duration::from_millis(300)));
    assert_eq!(proxy.stats().accepted, 1);

    proxy.silent_accept(false);
    assert_eq!(connect(&proxy).command(&["PING"]).unwrap(), status("PONG"));
    // The link accepted in silence stays silent (and open).
    silent.send(&["PING"]).unwrap();
    assert!(stays_silent(&mut silent, Duration::from_millis(200)));
    assert_eq!(proxy.stats().open, 1);
}

#[test]
fn inject_replaces_exactly_the_triggering_reply() {
    let (server, proxy) = setup();
    let mut con = connect(&proxy);
    proxy.inject_on(b"__hostile__", b":42\r\n".to_vec(), AfterInjection::Forward);
    let replies = con
        .pipeline(&[vec!["PING"], vec!["SET", "__hostile__", "x"], vec!["PING"]])
        .unwrap();
    assert_eq!(
        replies,
        vec![status("PONG"), Reply::Int(42), status("PONG")]
    );
    // The triggering command itself ran on the server.
    assert_eq!(
        server
            .command(&["GET", "__hostile__"])
            .unwrap()
            .as_text()
            .unwrap(),
        "x"
    );

    // Two replies for one command: the stray one is next in line.
    proxy.inject_on(
        b"__hostile__",
        b"+OK\r\n+OK\r\n".to_vec(),
        AfterInjection::Forward,
    );
    assert_eq!(con.command(&["GET", "__hostile__"]).unwrap(), status("OK"));
    assert_eq!(con.command(&["PING"]).unwrap(), status("OK"));
    assert_eq!(con.read_reply().unwrap(), status("PONG"));

    // Then silence: exactly the injected bytes arrive, and nothing after them.
    proxy.inject_on(
        b"__hostile__",
        b"$10\r\nabc".to_vec(),
        AfterInjection::Silence,
    );
    let mut tcp = TcpStream::connect(proxy.addr()).unwrap();
    tcp.write_all(b"GET __hostile__\r\nPING\r\n").unwrap();
    assert_eq!(
        read_for(&mut tcp, Duration::from_millis(300)),
        b"$10\r\nabc"
    );
    assert_eq!(proxy.stats().injections, 3);

    proxy.stop_injecting();
    let mut fresh = connect(&proxy);
    assert_eq!(
        fresh.command(&["GET", "__hostile__"]).unwrap(),
        Reply::Bulk(b"x".to_vec())
    );
}
