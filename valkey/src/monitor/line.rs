//! The MONITOR line parser, IO-free: `1339518083.107412 [0 127.0.0.1:60866] "set" "k" "\x00"`
//! becomes a [`MonitorEvent`] whose arguments are the exact bytes the client sent, undoing the
//! server's escaping (`sdscatrepr`: `\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`).

use crate::error::{Error, Result};
use bytes::Bytes;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Who ran a command seen by MONITOR.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MonitorClient {
    /// A TCP client (IPv4 or IPv6).
    Tcp(SocketAddr),
    /// A client on the server's Unix socket (the socket's path).
    Unix(String),
    /// A Lua script or function (`[0 lua]`).
    Lua,
    /// Something this parser does not know, as the server wrote it.
    Other(String),
}

/// One command seen by MONITOR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorEvent {
    /// Seconds since the Unix epoch, on the server's clock.
    pub secs: u64,
    /// Microseconds after `secs`.
    pub micros: u32,
    /// The database the command ran in.
    pub db: i64,
    /// Who sent it.
    pub client: MonitorClient,
    /// The command name and arguments, exactly as sent.
    pub args: Vec<Bytes>,
}

impl MonitorEvent {
    /// The command name, as sent (`set`, `SET`, ...).
    pub fn command(&self) -> &[u8] {
        self.args.first().map(|a| a.as_ref()).unwrap_or(b"")
    }

    /// When the server ran it.
    pub fn time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.secs) + Duration::from_micros(self.micros.into())
    }
}

fn malformed(line: &[u8], what: &str) -> Error {
    let shown: String = String::from_utf8_lossy(line).chars().take(200).collect();
    Error::protocol(format!("malformed MONITOR line ({what}): {shown:?}"))
}

/// Parses one MONITOR line (without the leading `+` and the trailing CRLF).
pub fn parse_monitor_line(line: &[u8]) -> Result<MonitorEvent> {
    let bad = |what: &str| malformed(line, what);
    let sp = line
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad("no timestamp"))?;
    let ts = std::str::from_utf8(&line[..sp]).map_err(|_| bad("timestamp"))?;
    let (s, us) = ts.split_once('.').ok_or_else(|| bad("timestamp"))?;
    let secs: u64 = s.parse().map_err(|_| bad("timestamp seconds"))?;
    if us.len() != 6 {
        return Err(bad("timestamp microseconds"));
    }
    let micros: u32 = us.parse().map_err(|_| bad("timestamp microseconds"))?;
    let rest = line[sp + 1..]
        .strip_prefix(b"[")
        .ok_or_else(|| bad("no [db client]"))?;
    let sp = rest
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad("db"))?;
    let db: i64 = std::str::from_utf8(&rest[..sp])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| bad("db"))?;
    let rest = &rest[sp + 1..];
    // The client ends at `] "` (an IPv6 address has `]:` inside it); a command without
    // arguments ends the line with `]`.
    let (client, args) = match rest.windows(3).position(|w| w == b"] \"") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => match rest.strip_suffix(b"]") {
            Some(c) => (c, &b""[..]),
            None => return Err(bad("client")),
        },
    };
    let client = std::str::from_utf8(client).map_err(|_| bad("client"))?;
    let client = if client == "lua" {
        MonitorClient::Lua
    } else if let Some(path) = client.strip_prefix("unix:") {
        MonitorClient::Unix(path.to_owned())
    } else if let Ok(addr) = client.parse::<SocketAddr>() {
        MonitorClient::Tcp(addr)
    } else {
        MonitorClient::Other(client.to_owned())
    };
    Ok(MonitorEvent {
        secs,
        micros,
        db,
        client,
        args: parse_args(args).map_err(bad)?,
    })
}

/// `"a" "b\x00"` into the arguments' bytes.
fn parse_args(mut s: &[u8]) -> std::result::Result<Vec<Bytes>, &'static str> {
    let mut args = Vec::new();
    while !s.is_empty() {
        s = s
            .strip_prefix(b"\"")
            .ok_or("an argument without its opening quote")?;
        let mut arg = Vec::new();
        loop {
            match s {
                [b'"', tail @ ..] => {
                    s = tail;
                    break;
                }
                [b'\\', b'x', h, l, tail @ ..] => {
                    let hex = |c: u8| (c as char).to_digit(16).ok_or("a bad \\x escape");
                    arg.push((hex(*h)? * 16 + hex(*l)?) as u8);
                    s = tail;
                }
                [b'\\', c, tail @ ..] => {
                    arg.push(match c {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'a' => 0x07,
                        b'b' => 0x08,
                        _ => return Err("an unknown escape"),
                    });
                    s = tail;
                }
                [c, tail @ ..] => {
                    arg.push(*c);
                    s = tail;
                }
                [] => return Err("an argument without its closing quote"),
            }
        }
        args.push(Bytes::from(arg));
        if !s.is_empty() {
            s = s.strip_prefix(b" ").ok_or("no space between arguments")?;
            if s.is_empty() {
                return Err("a trailing space");
            }
        }
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The server's `sdscatrepr`.
    fn repr(arg: &[u8]) -> Vec<u8> {
        let mut s = b"\"".to_vec();
        for &c in arg {
            match c {
                b'\\' | b'"' => s.extend_from_slice(&[b'\\', c]),
                b'\n' => s.extend_from_slice(b"\\n"),
                b'\r' => s.extend_from_slice(b"\\r"),
                b'\t' => s.extend_from_slice(b"\\t"),
                0x07 => s.extend_from_slice(b"\\a"),
                0x08 => s.extend_from_slice(b"\\b"),
                0x20..=0x7e => s.push(c),
                _ => s.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
            }
        }
        s.push(b'"');
        s
    }

    fn args(line: &str) -> Vec<Vec<u8>> {
        parse_monitor_line(line.as_bytes())
            .unwrap()
            .args
            .into_iter()
            .map(|a| a.to_vec())
            .collect()
    }

    #[test]
    fn tricky_lines() {
        let e = parse_monitor_line(br#"1339518083.107412 [0 127.0.0.1:60866] "keys" "*""#).unwrap();
        assert_eq!((e.secs, e.micros, e.db), (1339518083, 107412, 0));
        assert_eq!(
            e.client,
            MonitorClient::Tcp("127.0.0.1:60866".parse().unwrap())
        );
        assert_eq!(e.command(), b"keys");
        assert_eq!(
            e.time(),
            UNIX_EPOCH + Duration::from_micros(1_339_518_083_107_412)
        );
        assert_eq!(
            args(r#"1.000001 [3 127.0.0.1:1] "set" "a \"quoted\" key" "x y" """#),
            [&b"set"[..], b"a \"quoted\" key", b"x y", b""]
        );
        assert_eq!(
            args(r#"1.000001 [0 127.0.0.1:1] "set" "\x00\xff\xAB" "\\\"\n\r\t\a\b""#),
            [&b"set"[..], b"\x00\xff\xab", b"\\\"\n\r\t\x07\x08"]
        );
        assert_eq!(
            args(r#"1.000001 [0 127.0.0.1:1] "a]" "] \"x""#),
            [&b"a]"[..], b"] \"x"]
        );
        let e = parse_monitor_line(br#"1.000001 [15 [::1]:6379] "ping""#).unwrap();
        assert_eq!(e.client, MonitorClient::Tcp("[::1]:6379".parse().unwrap()));
        assert_eq!(e.db, 15);
        let e = parse_monitor_line(br#"1.000001 [0 lua] "get" "k""#).unwrap();
        assert_eq!(e.client, MonitorClient::Lua);
        let e = parse_monitor_line(br#"1.000001 [0 unix:/tmp/v s.sock] "get" "k""#).unwrap();
        assert_eq!(e.client, MonitorClient::Unix("/tmp/v s.sock".into()));
        let e = parse_monitor_line(br#"1.000001 [0 somewhere] "x""#).unwrap();
        assert_eq!(e.client, MonitorClient::Other("somewhere".into()));
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"OK",
            b"1.5 [0 127.0.0.1:1] \"x\"",
            b"x.000001 [0 127.0.0.1:1] \"x\"",
            b"1.000001 0 127.0.0.1:1] \"x\"",
            b"1.000001 [z 127.0.0.1:1] \"x\"",
            b"1.000001 [0 127.0.0.1:1 \"x\"",
            b"1.000001 [0 127.0.0.1:1] \"x",
            b"1.000001 [0 127.0.0.1:1] \"x\\q\"",
            b"1.000001 [0 127.0.0.1:1] \"x\\x4\"",
            b"1.000001 [0 127.0.0.1:1] \"x\\xzz\"",
            b"1.000001 [0 127.0.0.1:1] \"x\"\"y\"",
            b"1.000001 [0 127.0.0.1:1] \"x\" ",
            b"1.000001 [0 127.0.0.1:1] x",
            b"1.000001 [0 127.0.0.1:1] \"\\",
        ] {
            let e = parse_monitor_line(bad).unwrap_err();
            assert!(e.is_protocol(), "{e}");
        }
    }

    proptest! {
        #[test]
        fn escaped_arguments_decode_to_the_same_bytes(
            argv in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..24), 1..8),
            db in 0i64..16,
        ) {
            let mut line = format!("1700000000.000042 [{db} 10.0.0.1:5000] ").into_bytes();
            let parts: Vec<Vec<u8>> = argv.iter().map(|a| repr(a)).collect();
            line.extend_from_slice(&parts.join(&b' '));
            let e = parse_monitor_line(&line).unwrap();
            prop_assert_eq!(e.db, db);
            let got: Vec<Vec<u8>> = e.args.iter().map(|a| a.to_vec()).collect();
            prop_assert_eq!(got, argv);
        }

        #[test]
        fn arbitrary_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_monitor_line(&line);
        }
    }
}
