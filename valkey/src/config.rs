//! Connection configuration: where the server is and how to greet it, from a URL
//! (`valkey://user:pass@host:6379/2?protocol=resp2`) or built in code. Passwords never appear in
//! `Debug` output or error messages.

use crate::error::{Error, Result};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Where the server listens.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Addr {
    /// TCP, optionally with TLS.
    Tcp {
        /// Host name or IP address.
        host: String,
        /// Port.
        port: u16,
        /// Whether to use TLS (`valkeys://`, `rediss://`).
        tls: bool,
    },
    /// A Unix domain socket.
    Unix(PathBuf),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp { host, port, tls } => {
                let scheme = if *tls { "valkeys" } else { "valkey" };
                if host.contains(':') {
                    write!(f, "{scheme}://[{host}]:{port}")
                } else {
                    write!(f, "{scheme}://{host}:{port}")
                }
            }
            Addr::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

impl Addr {
    /// The address as error messages show it: `127.0.0.1:6379`, `[::1]:6379`, or a Unix
    /// socket's path (no scheme; TLS is a setting, not part of where the server is).
    pub fn endpoint(&self) -> impl fmt::Display + '_ {
        struct Endpoint<'a>(&'a Addr);
        impl fmt::Display for Endpoint<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.0 {
                    Addr::Tcp { host, port, .. } if host.contains(':') => {
                        write!(f, "[{host}]:{port}")
                    }
                    Addr::Tcp { host, port, .. } => write!(f, "{host}:{port}"),
                    Addr::Unix(p) => write!(f, "{}", p.display()),
                }
            }
        }
        Endpoint(self)
    }
}

/// The RESP protocol version to speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Protocol {
    /// RESP2: what every server speaks.
    Resp2,
    /// RESP3 (the default): typed replies (maps, sets, doubles) and push messages. Falls back to
    /// RESP2 when the server has no `HELLO`.
    #[default]
    Resp3,
}

/// A password that never shows itself in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(p: impl Into<String>) -> Password {
        Password(p.into())
    }
    /// The password, for the handshake.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// TLS settings (used by `valkeys://` / `rediss://`; needs the crate's `tls` feature).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// PEM file of the CA certificates to trust (default: the platform's trust store, found
    /// by `rustls-native-certs`; `SSL_CERT_FILE` and `SSL_CERT_DIR` override it).
    pub ca_file: Option<PathBuf>,
    /// PEM file of the client certificate chain, for servers that ask for one.
    pub cert_file: Option<PathBuf>,
    /// PEM file of the client's private key.
    pub key_file: Option<PathBuf>,
    /// The name to verify the server's certificate against (default: the host).
    pub server_name: Option<String>,
    /// Skip verifying the server's certificate. Dangerous: for tests against self-signed servers
    /// only.
    pub insecure: bool,
}

/// Everything needed to open a connection.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConnectionInfo {
    /// Where the server is.
    pub addr: Addr,
    /// ACL user name (`None`: the `default` user).
    pub username: Option<String>,
    /// Password, for `AUTH`/`HELLO AUTH`.
    pub password: Option<Password>,
    /// Database number selected after connecting.
    pub db: i64,
    /// Protocol version.
    pub protocol: Protocol,
    /// `CLIENT SETNAME` value.
    pub client_name: Option<String>,
    /// How long opening a connection may take, TCP, TLS and the handshake (HELLO, AUTH,
    /// SELECT, ...) together (default 10 s).
    pub connect_timeout: Option<Duration>,
    /// The liveness deadline (default 10 s; `None` turns it off): a connection that waits for
    /// replies and hears nothing from the server for this long is considered dead. Its
    /// commands in flight fail with [`ErrorKind::Unclear`](crate::ErrorKind::Unclear) (they may
    /// have run; [`Error::is_timeout`](crate::Error::is_timeout) is true) and the next command
    /// reconnects. A blocking command gets its own server-side timeout plus this margin
    /// (`BLPOP key 0` is never cut off); pipelines and transactions are timed alike.
    pub response_timeout: Option<Duration>,
    /// Set `TCP_NODELAY` (default true).
    pub tcp_nodelay: bool,
    /// TCP keepalive interval (default 60 s; `None` disables it).
    pub keepalive: Option<Duration>,
    /// Send `CLIENT SETINFO LIB-NAME/LIB-VER` (default true; ignored by servers without it).
    pub set_lib_info: bool,
    /// TLS settings, used when the address says TLS.
    pub tls: TlsOptions,
    /// Send `READONLY` after connecting (cluster replicas: serve reads).
    pub readonly: bool,
    /// Send `CLIENT CAPA redirect` after connecting (default false; Valkey 8.0+, skipped on
    /// servers without it such as Redis): a standalone replica then answers a write, or a read
    /// from a connection not in `READONLY` mode, with `-REDIRECT host:port` (the primary's
    /// address, an [`ErrorKind::Redirect`](crate::ErrorKind::Redirect) error) instead of
    /// `-READONLY`, so the caller can go to the primary after a failover. Cluster nodes answer
    /// with `MOVED` anyway.
    pub capa_redirect: bool,
    /// The shared async connection: most commands waiting for their reply at once (default
    /// 100 000); more callers wait for room, nothing is dropped.
    pub max_in_flight: usize,
    /// The shared async connection: most dedicated connections open at once for blocking
    /// commands, `watch` and `pipe_durable` (default 64); more callers wait for one.
    pub max_dedicated: usize,
    /// Limits on what a reply may be (longest bulk string, nesting, elements); a reply over them
    /// fails with a protocol error and the connection is re-opened for the next command.
    pub limits: crate::resp::Limits,
}

impl ConnectionInfo {
    /// Default settings for a TCP server at `host:port`.
    pub fn tcp(host: impl Into<String>, port: u16) -> ConnectionInfo {
        ConnectionInfo::new(Addr::Tcp {
            host: host.into(),
            port,
            tls: false,
        })
    }

    /// Default settings for a Unix socket at `path`.
    pub fn unix(path: impl Into<PathBuf>) -> ConnectionInfo {
        ConnectionInfo::new(Addr::Unix(path.into()))
    }

    fn new(addr: Addr) -> ConnectionInfo {
        ConnectionInfo {
            addr,
            username: None,
            password: None,
            db: 0,
            protocol: Protocol::Resp3,
            client_name: None,
            connect_timeout: Some(Duration::from_secs(10)),
            response_timeout: Some(Duration::from_secs(10)),
            tcp_nodelay: true,
            keepalive: Some(Duration::from_secs(60)),
            set_lib_info: true,
            tls: TlsOptions::default(),
            limits: crate::resp::Limits::default(),
            readonly: false,
            capa_redirect: false,
            max_in_flight: 100_000,
            max_dedicated: 64,
        }
    }

    /// Parses a URL:
    /// `valkey://[user[:password]@]host[:port][/db][?options]` (also `valkeys://` for TLS,
    /// `redis://`, `rediss://`), or `unix:///path/to/sock[?db=N&options]` (also `valkey+unix://`,
    /// `redis+unix://`). Options: `protocol=resp2|resp3`, `client_name=NAME`, `db=N`,
    /// `connect_timeout=SECS`, `response_timeout=SECS|off`, `tcp_nodelay=true|false`,
    /// `keepalive=SECS|off`, `username=`, `password=` (percent-encode special characters),
    /// `tls_ca=PATH`, `tls_cert=PATH`, `tls_key=PATH`, `tls_server_name=NAME`, `tls_insecure=true`,
    /// `capa_redirect=true`.
    pub fn from_url(url: &str) -> Result<ConnectionInfo> {
        let parsed = url::Url::parse(url).map_err(|e| {
            Error::invalid_config(format!(
                "invalid URL {}: {e}; expected e.g. valkey://host:6379/0",
                redact_url(url)
            ))
        })?;
        let mut info = match parsed.scheme() {
            "valkey" | "redis" | "valkeys" | "rediss" => {
                let tls = matches!(parsed.scheme(), "valkeys" | "rediss");
                let host = match parsed.host() {
                    Some(url::Host::Ipv6(a)) => a.to_string(),
                    Some(h) => h.to_string(),
                    None => {
                        return Err(Error::invalid_config(format!(
                            "URL {} has no host; expected e.g. valkey://127.0.0.1:6379",
                            redact_url(url)
                        )))
                    }
                };
                let port = parsed.port().unwrap_or(6379);
                let mut info = ConnectionInfo::new(Addr::Tcp { host, port, tls });
                let path = parsed.path().trim_matches('/');
                if !path.is_empty() {
                    info.db = path.parse().map_err(|_| {
                        Error::invalid_config(format!(
                            "the path of URL {} must be a database number, got {path:?}",
                            redact_url(url)
                        ))
                    })?;
                }
                info
            }
            "unix" | "valkey+unix" | "redis+unix" => {
                if parsed.path().is_empty() {
                    return Err(Error::invalid_config(format!(
                        "URL {} has no socket path; expected e.g. unix:///run/valkey.sock",
                        redact_url(url)
                    )));
                }
                ConnectionInfo::new(Addr::Unix(PathBuf::from(percent_decode(parsed.path())?)))
            }
            other => {
                return Err(Error::invalid_config(format!(
                    "unknown URL scheme {other:?} in {}; expected valkey://, valkeys://, redis://, \
                     rediss://, unix:// or valkey+unix://",
                    redact_url(url)
                )))
            }
        };
        if !parsed.username().is_empty() {
            info.username = Some(percent_decode(parsed.username())?);
        }
        if let Some(p) = parsed.password() {
            info.password = Some(Password(percent_decode(p)?));
        }
        for (k, v) in parsed.query_pairs() {
            info.apply_option(&k, &v)?;
        }
        Ok(info)
    }

    fn apply_option(&mut self, key: &str, value: &str) -> Result<()> {
        let bad = |what: &str| {
            let shown = if key == "password" { "***" } else { value };
            Error::invalid_config(format!("URL option {key}={shown:?}: expected {what}"))
        };
        let secs = |v: &str| -> Result<Duration> {
            let s: f64 = v.parse().map_err(|_| bad("a number of seconds"))?;
            if !(s.is_finite() && s >= 0.0) {
                return Err(bad("a non-negative number of seconds"));
            }
            Ok(Duration::from_secs_f64(s))
        };
        match key {
            "protocol" => {
                self.protocol = match value.to_ascii_lowercase().as_str() {
                    "resp2" | "2" => Protocol::Resp2,
                    "resp3" | "3" => Protocol::Resp3,
                    _ => return Err(bad("resp2 or resp3")),
                }
            }
            "db" => self.db = value.parse().map_err(|_| bad("a database number"))?,
            "client_name" | "clientname" => self.client_name = Some(value.to_string()),
            "username" | "user" => self.username = Some(value.to_string()),
            "password" => self.password = Some(Password(value.to_string())),
            "connect_timeout" => self.connect_timeout = Some(secs(value)?),
            "response_timeout" => {
                self.response_timeout = if value == "off" {
                    None
                } else {
                    Some(secs(value)?).filter(|d| !d.is_zero())
                }
            }
            "tcp_nodelay" => {
                self.tcp_nodelay = value.parse().map_err(|_| bad("true or false"))?;
            }
            "keepalive" => {
                self.keepalive = if value == "off" || value == "0" {
                    None
                } else {
                    Some(secs(value)?)
                }
            }
            "lib_info" => self.set_lib_info = value.parse().map_err(|_| bad("true or false"))?,
            "tls_ca" => self.tls.ca_file = Some(PathBuf::from(value)),
            "tls_cert" => self.tls.cert_file = Some(PathBuf::from(value)),
            "tls_key" => self.tls.key_file = Some(PathBuf::from(value)),
            "tls_server_name" => self.tls.server_name = Some(value.to_string()),
            "tls_insecure" => self.tls.insecure = value.parse().map_err(|_| bad("true or false"))?,
            "capa_redirect" => {
                self.capa_redirect = value.parse().map_err(|_| bad("true or false"))?;
            }
            _ => {
                return Err(Error::invalid_config(format!(
                    "unknown URL option {key:?}; known: protocol, db, client_name, username, \
                     password, connect_timeout, response_timeout, tcp_nodelay, keepalive, lib_info, \
                     tls_ca, tls_cert, tls_key, tls_server_name, tls_insecure, capa_redirect"
                )))
            }
        }
        Ok(())
    }

    /// Sets the ACL user and password.
    pub fn with_auth(mut self, username: Option<&str>, password: &str) -> ConnectionInfo {
        self.username = username.map(str::to_string);
        self.password = Some(Password::new(password));
        self
    }

    /// Sets the database.
    pub fn with_db(mut self, db: i64) -> ConnectionInfo {
        self.db = db;
        self
    }

    /// Sets the protocol.
    pub fn with_protocol(mut self, protocol: Protocol) -> ConnectionInfo {
        self.protocol = protocol;
        self
    }

    /// Sets the client name.
    pub fn with_client_name(mut self, name: impl Into<String>) -> ConnectionInfo {
        self.client_name = Some(name.into());
        self
    }

    /// Sets the liveness deadline (`None`: wait for replies forever).
    pub fn with_response_timeout(mut self, t: Option<Duration>) -> ConnectionInfo {
        self.response_timeout = t;
        self
    }

    /// Sets the TLS options (and switches a TCP address to TLS).
    pub fn with_tls(mut self, tls: TlsOptions) -> ConnectionInfo {
        if let Addr::Tcp { tls: on, .. } = &mut self.addr {
            *on = true;
        }
        self.tls = tls;
        self
    }

    /// Sets the reply limits.
    pub fn with_limits(mut self, limits: crate::resp::Limits) -> ConnectionInfo {
        self.limits = limits;
        self
    }

    /// Sets the connect timeout (TCP, TLS and handshake together).
    pub fn with_connect_timeout(mut self, t: Option<Duration>) -> ConnectionInfo {
        self.connect_timeout = t;
        self
    }

    /// Sends `READONLY` after connecting (and after every reconnect).
    pub fn with_readonly(mut self, readonly: bool) -> ConnectionInfo {
        self.readonly = readonly;
        self
    }

    /// Announces that this client understands `-REDIRECT` (`CLIENT CAPA redirect`, see
    /// [`ConnectionInfo::capa_redirect`]), after connecting and after every reconnect.
    pub fn with_capa_redirect(mut self, on: bool) -> ConnectionInfo {
        self.capa_redirect = on;
        self
    }

    /// Sets the shared async connection's cap on commands waiting for replies.
    pub fn with_max_in_flight(mut self, n: usize) -> ConnectionInfo {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets the shared async connection's cap on dedicated connections.
    pub fn with_max_dedicated(mut self, n: usize) -> ConnectionInfo {
        self.max_dedicated = n.max(1);
        self
    }
}

/// Anything that can be turned into a [`ConnectionInfo`]: a URL string, or the info itself.
pub trait IntoConnectionInfo {
    /// Converts, or says what is wrong.
    fn into_connection_info(self) -> Result<ConnectionInfo>;
}

impl IntoConnectionInfo for ConnectionInfo {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        Ok(self)
    }
}
impl IntoConnectionInfo for &str {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        ConnectionInfo::from_url(self)
    }
}
impl IntoConnectionInfo for String {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        ConnectionInfo::from_url(&self)
    }
}
impl IntoConnectionInfo for &String {
    fn into_connection_info(self) -> Result<ConnectionInfo> {
        ConnectionInfo::from_url(self)
    }
}

fn percent_decode(s: &str) -> Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| Error::invalid_config("invalid percent-encoding in URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| Error::invalid_config("URL credentials are not UTF-8"))
}

/// The URL with any password replaced by `***`, for error messages.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = url.find("://") {
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                let start = scheme_end + 3 + colon + 1;
                let end = scheme_end + 3 + at;
                out.replace_range(start..end, "***");
            }
        }
    }
    if let Some(q) = out.find("password=") {
        let end = out[q..].find('&').map(|e| q + e).unwrap_or(out.len());
        out.replace_range(q + "password=".len()..end, "***");
    }
    format!("{out:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_url() {
        let i = ConnectionInfo::from_url(
            "valkey://alice:s%40cret@example.com:6380/3?protocol=resp2&client_name=me&response_timeout=1.5",
        )
        .unwrap();
        assert_eq!(
            i.addr,
            Addr::Tcp {
                host: "example.com".into(),
                port: 6380,
                tls: false
            }
        );
        assert_eq!(i.username.as_deref(), Some("alice"));
        assert_eq!(i.password.as_ref().unwrap().expose(), "s@cret");
        assert_eq!(i.db, 3);
        assert_eq!(i.protocol, Protocol::Resp2);
        assert_eq!(i.client_name.as_deref(), Some("me"));
        assert_eq!(i.response_timeout, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn schemes() {
        let tls = ConnectionInfo::from_url("rediss://h").unwrap();
        assert_eq!(
            tls.addr,
            Addr::Tcp {
                host: "h".into(),
                port: 6379,
                tls: true
            }
        );
        let v6 = ConnectionInfo::from_url("valkey://[::1]:7000").unwrap();
        assert_eq!(
            v6.addr,
            Addr::Tcp {
                host: "::1".into(),
                port: 7000,
                tls: false
            }
        );
        for u in [
            "unix:///tmp/v.sock?db=2",
            "valkey+unix:///tmp/v.sock?db=2",
            "redis+unix:///tmp/v.sock?db=2",
        ] {
            let i = ConnectionInfo::from_url(u).unwrap();
            assert_eq!(i.addr, Addr::Unix("/tmp/v.sock".into()));
            assert_eq!(i.db, 2);
        }
        assert_eq!(
            ConnectionInfo::from_url("redis://h").unwrap().protocol,
            Protocol::Resp3
        );
    }

    #[test]
    fn errors_name_the_wrong_part_and_hide_the_password() {
        let e = ConnectionInfo::from_url("http://u:hunter2@h").unwrap_err();
        assert!(e.is_invalid_config());
        assert!(e.to_string().contains("scheme \"http\""), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = ConnectionInfo::from_url("valkey://u:hunter2@h/notadb").unwrap_err();
        assert!(e.to_string().contains("database number"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = ConnectionInfo::from_url("valkey://h?protocol=resp4&password=hunter2").unwrap_err();
        assert!(e.to_string().contains("resp2 or resp3"), "{e}");
        let e = ConnectionInfo::from_url("valkey://h?password=hunter2&bogus=1").unwrap_err();
        assert!(
            e.to_string().contains("unknown URL option \"bogus\""),
            "{e}"
        );
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = ConnectionInfo::from_url("valkey://h:99999").unwrap_err();
        assert!(e.to_string().contains("invalid URL"), "{e}");
        let e = ConnectionInfo::from_url("not a url with hunter2").unwrap_err();
        assert!(e.is_invalid_config());
    }

    #[test]
    fn debug_hides_the_password() {
        let i = ConnectionInfo::from_url("valkey://u:hunter2@h").unwrap();
        let d = format!("{i:?}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(d.contains("***"), "{d}");
    }
}
