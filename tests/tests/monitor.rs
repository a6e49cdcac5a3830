//! MONITOR against real servers, RESP2 and RESP3, blocking and async: another connection's
//! commands with binary arguments decoded to the exact bytes (a property test with random
//! argument vectors), the database, TCP, Unix-socket and Lua clients, and a malformed line
//! (injected by the fault proxy) as an error item that does not stop the monitor.

use proptest::prelude::*;
use std::time::Duration;
use valkey::monitor::{MonitorClient, MonitorEvent};
use valkey::sync::Connection;
use valkey::{Client, Cmd, ConnectionInfo, Protocol, Value};
use valkey_tests::{AfterInjection, Proxy, Server, ServerOptions};

const PROTOCOLS: [Protocol; 2] = [Protocol::Resp2, Protocol::Resp3];

fn info(url: &str, protocol: Protocol) -> ConnectionInfo {
    ConnectionInfo::from_url(url)
        .unwrap()
        .with_protocol(protocol)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The blocking and the async monitor behind one interface.
enum Mon {
    Sync(valkey::monitor::Monitor),
    Async(valkey::monitor::AsyncMonitor, tokio::runtime::Runtime),
}

impl Mon {
    fn open(client: &Client, is_async: bool) -> Mon {
        if is_async {
            let rt = rt();
            let m = rt.block_on(client.get_async_monitor()).unwrap();
            Mon::Async(m, rt)
        } else {
            Mon::Sync(client.get_monitor().unwrap())
        }
    }

    fn next(&mut self) -> valkey::Result<MonitorEvent> {
        match self {
            Mon::Sync(m) => m
                .next_event(Duration::from_secs(5))
                .map(|e| e.expect("an event within 5 s")),
            Mon::Async(m, rt) => rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), m.next())
                    .await
                    .expect("an event within 5 s")
            }),
        }
    }

    /// The next event for a command named `name` (skipping others, e.g. a handshake's).
    fn next_named(&mut self, name: &[u8]) -> MonitorEvent {
        loop {
            let e = self.next().unwrap();
            if e.command().eq_ignore_ascii_case(name) {
                return e;
            }
        }
    }
}

fn bytes(e: &MonitorEvent) -> Vec<Vec<u8>> {
    e.args.iter().map(|a| a.to_vec()).collect()
}

#[test]
fn monitor_decodes_binary_arguments_databases_and_clients() {
    let server = ServerOptions::valkey().start().unwrap();
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            let client = Client::open(info(&server.url(), protocol)).unwrap();
            let mut sender = Connection::open(info(&server.url(), protocol).with_db(3)).unwrap();
            let mut mon = Mon::open(&client, is_async);
            let key: &[u8] = b"k \"q\" \\ \x00\xff\r\n\t\x07\x08 ]";
            let value: &[u8] = b"";
            let _: Value = sender.send(Cmd::new("SET").arg(key).arg(value)).unwrap();
            let e = mon.next_named(b"SET");
            assert_eq!(bytes(&e), [&b"SET"[..], key, value]);
            assert_eq!(e.db, 3);
            match e.client {
                MonitorClient::Tcp(a) => assert!(a.ip().is_loopback(), "{a}"),
                other => panic!("{other:?}"),
            }
            assert!(e.secs > 1_600_000_000 && e.micros < 1_000_000);
            // A script's own calls come from `lua`.
            let _: Value = sender
                .send(
                    Cmd::new("EVAL")
                        .arg("return redis.call('GET', KEYS[1])")
                        .arg(1)
                        .arg(key),
                )
                .unwrap();
            let e = mon.next_named(b"GET");
            assert_eq!(e.client, MonitorClient::Lua);
            assert_eq!(bytes(&e), [&b"GET"[..], key]);
            // The harness talks over the Unix socket.
            server.command(&["ECHO", "from unix"]).unwrap();
            let e = mon.next_named(b"ECHO");
            assert_eq!(
                e.client,
                MonitorClient::Unix(server.unix_socket().to_string_lossy().into_owned())
            );
            println!(
                "{protocol:?} {}: SET with a binary key decoded exactly; db 3, TCP, lua and \
                 unix clients told apart",
                if is_async { "async" } else { "sync" }
            );
        }
    }
}

#[test]
fn a_malformed_line_is_an_error_item_and_the_monitor_goes_on() {
    let server = ServerOptions::valkey().start().unwrap();
    let proxy = Proxy::start(server.addr()).unwrap();
    for protocol in PROTOCOLS {
        for is_async in [false, true] {
            // MONITOR's `+OK` is replaced by `+OK` and a line no parser can read.
            proxy.inject_on(
                b"MONITOR",
                b"+OK\r\n+this is not a monitor line\r\n".to_vec(),
                AfterInjection::Forward,
            );
            let client = Client::open(info(&proxy.url(), protocol)).unwrap();
            let mut mon = Mon::open(&client, is_async);
            proxy.stop_injecting();
            let e = mon.next().unwrap_err();
            assert!(e.is_protocol(), "{e}");
            assert!(e.to_string().contains("not a monitor line"), "{e}");
            server.command(&["ECHO", "after"]).unwrap();
            let e = mon.next_named(b"ECHO");
            assert_eq!(e.args[1].as_ref(), b"after");
        }
    }
}

#[test]
fn a_lost_monitor_connection_ends_the_iterator() {
    let mut server = ServerOptions::valkey().start().unwrap();
    let client = Client::open(server.url()).unwrap();
    let mut mon = client.get_monitor().unwrap();
    server.kill();
    let items: Vec<_> = mon.iter().collect();
    assert_eq!(items.len(), 1, "one error, then the end");
    assert!(items[0].as_ref().unwrap_err().is_io());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// Random argument vectors, binary included, sent by another connection: MONITOR's
    /// arguments are the bytes sent.
    #[test]
    fn monitor_arguments_equal_the_bytes_sent(
        keys in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..32), 1..6),
        resp3 in any::<bool>(),
    ) {
        thread_local! {
            static SERVER: Server = ServerOptions::valkey().start().unwrap();
        }
        SERVER.with(|server| {
            let protocol = if resp3 { Protocol::Resp3 } else { Protocol::Resp2 };
            let client = Client::open(info(&server.url(), protocol)).unwrap();
            let mut sender = client.get_connection().unwrap();
            let mut mon = client.get_monitor().unwrap();
            let mut cmd = Cmd::new("EXISTS");
            for k in &keys {
                cmd.push_arg(k.as_slice());
            }
            let _: Value = sender.send(cmd).unwrap();
            let e = loop {
                let e = mon.next_event(Duration::from_secs(5)).unwrap().unwrap();
                if e.command() == b"EXISTS" {
                    break e;
                }
            };
            let mut sent = vec![b"EXISTS".to_vec()];
            sent.extend(keys.iter().cloned());
            prop_assert_eq!(bytes(&e), sent);
            Ok(())
        })?;
    }
}
