//! The connection handshake as data: which commands to send (HELLO with AUTH and SETNAME, or
//! AUTH/SETNAME on servers without HELLO, then SELECT, READONLY, CLIENT CAPA and CLIENT SETINFO)
//! and what their replies mean. The sync and async connections only move the bytes.

use super::auth_error;
use crate::cmd::{encode, Cmd, Version};
use crate::config::{ConnectionInfo, Protocol};
use crate::error::{Error, Result};
use crate::value::Value;
use std::fmt;

/// Which server product answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ServerFlavor {
    /// Valkey.
    Valkey,
    /// Redis (or Valkey 7.2, which reports itself as Redis).
    Redis,
    /// Something else, or not known (no HELLO). Never blocks a command.
    #[default]
    Unknown,
}

impl fmt::Display for ServerFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ServerFlavor::Valkey => "Valkey",
            ServerFlavor::Redis => "Redis",
            ServerFlavor::Unknown => "an unknown server",
        })
    }
}

/// What the handshake learned about the server.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ServerInfo {
    /// Valkey, Redis or unknown.
    pub flavor: ServerFlavor,
    /// The server's version, when it said.
    pub version: Option<Version>,
    /// The protocol in use after the handshake.
    pub protocol: Protocol,
    /// The connection's client id, when the server said.
    pub client_id: Option<i64>,
    /// `standalone`, `cluster` or `sentinel`, when the server said.
    pub mode: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Hello,
    Legacy,
    Setup,
    Done,
}

/// The handshake state machine: `next_batch` encodes the commands to send now, `on_replies`
/// takes their replies (as decoded `Value`s, errors kept as `Value::ServerError`), until `done`.
#[derive(Debug)]
pub struct Handshake<'a> {
    info: &'a ConnectionInfo,
    step: Step,
    server: ServerInfo,
    /// What each command of the batch in flight was, for error messages.
    in_flight: Vec<&'static str>,
}

impl<'a> Handshake<'a> {
    /// A handshake for `info`.
    pub fn new(info: &'a ConnectionInfo) -> Handshake<'a> {
        Handshake {
            info,
            step: Step::Hello,
            server: ServerInfo {
                protocol: Protocol::Resp2,
                ..ServerInfo::default()
            },
            in_flight: Vec::new(),
        }
    }

    /// Whether the handshake is complete.
    pub fn done(&self) -> bool {
        self.step == Step::Done
    }

    /// What was learned; call when `done()`.
    pub fn server_info(&self) -> &ServerInfo {
        &self.server
    }

    /// Encodes the next batch of commands into `buf` and returns how many replies to read.
    /// Zero when done.
    pub fn next_batch(&mut self, buf: &mut Vec<u8>) -> usize {
        self.in_flight.clear();
        let info = self.info;
        let mut push = |what: &'static str, cmd: Cmd, in_flight: &mut Vec<&'static str>| {
            encode(&cmd, buf).expect("a Cmd counts its own arguments");
            in_flight.push(what);
        };
        match self.step {
            Step::Hello => {
                let proto = match info.protocol {
                    Protocol::Resp2 => "2",
                    Protocol::Resp3 => "3",
                };
                let mut hello = Cmd::new("HELLO").arg(proto);
                if let Some(p) = &info.password {
                    hello = hello
                        .arg("AUTH")
                        .arg(info.username.as_deref().unwrap_or("default"))
                        .arg(p.expose());
                }
                if let Some(name) = &info.client_name {
                    hello = hello.arg("SETNAME").arg(name.as_str());
                }
                push("HELLO", hello, &mut self.in_flight);
            }
            Step::Legacy => {
                if let Some(p) = &info.password {
                    let auth = match &info.username {
                        Some(u) => Cmd::new("AUTH").arg(u.as_str()).arg(p.expose()),
                        None => Cmd::new("AUTH").arg(p.expose()),
                    };
                    push("AUTH", auth, &mut self.in_flight);
                }
                if let Some(name) = &info.client_name {
                    let setname = Cmd::new("CLIENT").arg("SETNAME").arg(name.as_str());
                    push("CLIENT SETNAME", setname, &mut self.in_flight);
                }
            }
            Step::Setup => {
                if info.db != 0 {
                    push(
                        "SELECT",
                        Cmd::new("SELECT").arg(info.db),
                        &mut self.in_flight,
                    );
                }
                if info.readonly {
                    push("READONLY", Cmd::new("READONLY"), &mut self.in_flight);
                }
                if info.capa_redirect {
                    let capa = Cmd::new("CLIENT").arg("CAPA").arg("redirect");
                    push("CLIENT CAPA", capa, &mut self.in_flight);
                }
                if info.set_lib_info {
                    let name = Cmd::new("CLIENT")
                        .arg("SETINFO")
                        .arg("LIB-NAME")
                        .arg("valkey-typed");
                    push("CLIENT SETINFO", name, &mut self.in_flight);
                    let ver = Cmd::new("CLIENT")
                        .arg("SETINFO")
                        .arg("LIB-VER")
                        .arg(env!("CARGO_PKG_VERSION"));
                    push("CLIENT SETINFO", ver, &mut self.in_flight);
                }
            }
            Step::Done => {}
        }
        let n = self.in_flight.len();
        if n == 0 && self.step != Step::Done {
            self.advance();
            return self.next_batch(buf);
        }
        n
    }

    fn advance(&mut self) {
        self.step = match self.step {
            Step::Hello | Step::Legacy => Step::Setup,
            Step::Setup | Step::Done => Step::Done,
        };
    }

    /// Takes the replies to the last batch, in order.
    pub fn on_replies(&mut self, replies: Vec<Value>) -> Result<()> {
        if replies.len() != self.in_flight.len() {
            return Err(Error::protocol(format!(
                "handshake expected {} replies, got {}",
                self.in_flight.len(),
                replies.len()
            )));
        }
        match self.step {
            Step::Hello => {
                let reply = replies.into_iter().next().expect("one reply");
                match reply {
                    Value::ServerError(e) => {
                        let unknown = e.as_bytes().starts_with(b"ERR unknown command")
                            || e.code() == "NOPROTO";
                        if unknown {
                            // A server without HELLO (or without RESP3): greet it the RESP2 way.
                            self.step = Step::Legacy;
                            return Ok(());
                        }
                        return Err(auth_error(e, "HELLO", &self.info.addr));
                    }
                    other => self.read_hello(other)?,
                }
                self.step = Step::Setup;
            }
            Step::Legacy | Step::Setup => {
                for (what, reply) in self.in_flight.iter().zip(replies) {
                    if let Value::ServerError(e) = reply {
                        match *what {
                            // Older servers lack CLIENT SETINFO: nothing is lost without it.
                            "CLIENT SETINFO" => {}
                            // Servers before Valkey 8 (and Redis) lack CLIENT CAPA; they never
                            // send -REDIRECT either. Any other refusal (an ACL) is reported.
                            "CLIENT CAPA" if is_unknown_subcommand(&e) => {}
                            "AUTH" => return Err(auth_error(e, "AUTH", &self.info.addr)),
                            other => {
                                return Err(Error::from_server(e).context(format!(
                                    "{other} during the connection setup with {} failed",
                                    self.info.addr.endpoint()
                                )))
                            }
                        }
                    }
                }
                self.advance();
            }
            Step::Done => {}
        }
        Ok(())
    }

    fn read_hello(&mut self, reply: Value) -> Result<()> {
        let pairs: Vec<(Value, Value)> = match reply {
            Value::Map(m) => m,
            Value::Array(a) => {
                let mut it = a.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                pairs
            }
            other => {
                return Err(Error::protocol(format!(
                    "HELLO replied with {}, expected a map",
                    other.kind_name()
                )))
            }
        };
        for (k, v) in pairs {
            let text = |v: &Value| {
                v.as_bytes()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            };
            match k.as_bytes() {
                Some(b"server") => {
                    self.server.flavor = match text(&v).as_deref() {
                        Some("valkey") => ServerFlavor::Valkey,
                        Some("redis") => ServerFlavor::Redis,
                        _ => ServerFlavor::Unknown,
                    }
                }
                Some(b"version") => self.server.version = text(&v).and_then(|s| Version::parse(&s)),
                Some(b"proto") => {
                    self.server.protocol = match v {
                        Value::Int(3) => Protocol::Resp3,
                        _ => Protocol::Resp2,
                    }
                }
                Some(b"id") => {
                    if let Value::Int(id) = v {
                        self.server.client_id = Some(id)
                    }
                }
                Some(b"mode") => self.server.mode = text(&v),
                _ => {}
            }
        }
        Ok(())
    }
}

/// `ERR unknown subcommand 'CAPA'...` (Redis 7, Valkey 7), or a server without `CLIENT` at all.
fn is_unknown_subcommand(e: &crate::value::ServerError) -> bool {
    let m = e.as_bytes();
    m.starts_with(b"ERR unknown subcommand") || m.starts_with(b"ERR unknown command")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ServerError;

    fn commands(buf: &[u8]) -> String {
        String::from_utf8_lossy(buf).replace("\r\n", " ")
    }

    #[test]
    fn hello_with_auth_then_setup() {
        let info = ConnectionInfo::tcp("h", 1)
            .with_auth(Some("alice"), "pw")
            .with_db(2)
            .with_client_name("me");
        let mut hs = Handshake::new(&info);
        let mut buf = Vec::new();
        assert_eq!(hs.next_batch(&mut buf), 1);
        assert_eq!(
            commands(&buf),
            "*7 $5 HELLO $1 3 $4 AUTH $5 alice $2 pw $7 SETNAME $2 me "
        );
        let reply = Value::Map(vec![
            (
                Value::BulkString("server".into()),
                Value::BulkString("valkey".into()),
            ),
            (
                Value::BulkString("version".into()),
                Value::BulkString("9.1.2".into()),
            ),
            (Value::BulkString("proto".into()), Value::Int(3)),
            (Value::BulkString("id".into()), Value::Int(7)),
        ]);
        hs.on_replies(vec![reply]).unwrap();
        buf.clear();
        assert_eq!(hs.next_batch(&mut buf), 3);
        assert!(commands(&buf).starts_with("*2 $6 SELECT $1 2 *4 $6 CLIENT $7 SETINFO"));
        let ok = || Value::SimpleString("OK".into());
        let err = || Value::ServerError(ServerError::new("ERR unknown subcommand"));
        hs.on_replies(vec![ok(), err(), err()]).unwrap();
        assert!(hs.done());
        let s = hs.server_info();
        assert_eq!(s.flavor, ServerFlavor::Valkey);
        assert_eq!(s.version, Some(Version::new(9, 1, 2)));
        assert_eq!(s.protocol, Protocol::Resp3);
        assert_eq!(s.client_id, Some(7));
    }

    #[test]
    fn capa_redirect_is_sent_when_asked_and_skipped_where_unknown() {
        let mut info = ConnectionInfo::tcp("h", 1).with_capa_redirect(true);
        info.set_lib_info = false;
        let hello = || {
            let mut hs = Handshake::new(&info);
            hs.next_batch(&mut Vec::new());
            hs.on_replies(vec![Value::Map(Vec::new())]).unwrap();
            hs
        };
        let mut hs = hello();
        let mut buf = Vec::new();
        assert_eq!(hs.next_batch(&mut buf), 1);
        assert_eq!(commands(&buf), "*3 $6 CLIENT $4 CAPA $8 redirect ");
        // Redis 7 and Valkey 7 have no CLIENT CAPA: the handshake goes on without it.
        let unknown = "ERR unknown subcommand 'CAPA'. Try CLIENT HELP.";
        hs.on_replies(vec![Value::ServerError(ServerError::new(unknown))])
            .unwrap();
        assert!(hs.done());
        // Any other refusal (an ACL without CLIENT) is reported.
        let mut hs = hello();
        hs.next_batch(&mut Vec::new());
        let e = hs
            .on_replies(vec![Value::ServerError(ServerError::new(
                "NOPERM User u has no permissions to run the 'client|capa' command",
            ))])
            .unwrap_err();
        assert!(e.to_string().contains("CLIENT CAPA"), "{e}");
    }

    #[test]
    fn falls_back_without_hello() {
        let info = ConnectionInfo::tcp("h", 1).with_auth(None, "pw");
        let mut hs = Handshake::new(&info);
        let mut buf = Vec::new();
        hs.next_batch(&mut buf);
        hs.on_replies(vec![Value::ServerError(ServerError::new(
            "ERR unknown command 'HELLO'",
        ))])
        .unwrap();
        buf.clear();
        assert_eq!(hs.next_batch(&mut buf), 1);
        assert_eq!(commands(&buf), "*2 $4 AUTH $2 pw ");
        let e = hs
            .on_replies(vec![Value::ServerError(ServerError::new(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))])
            .unwrap_err();
        assert!(e.is_auth(), "{e}");
        assert!(!e.to_string().contains("pw "), "{e}");
    }

    #[test]
    fn wrong_password_in_hello_is_an_auth_error() {
        let info = ConnectionInfo::tcp("h", 1).with_auth(None, "pw");
        let mut hs = Handshake::new(&info);
        hs.next_batch(&mut Vec::new());
        let e = hs
            .on_replies(vec![Value::ServerError(ServerError::new(
                "WRONGPASS invalid username-password pair or user is disabled.",
            ))])
            .unwrap_err();
        assert!(e.is_auth());
        assert_eq!(e.code(), Some("WRONGPASS"));
        assert_eq!(
            e.to_string(),
            "HELLO with h:1 failed; check the user name and password: server error: WRONGPASS \
             invalid username-password pair or user is disabled."
        );
    }
}
