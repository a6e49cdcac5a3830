//! The server under test: one the harness starts (and stops when dropped), or one given by URL.
//! Also the server-side view the benchmarks check against: `INFO commandstats` call counts through
//! the harness's own RESP connection (independent of the client under test), and CPU pinning.

use crate::Res;
use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::process::Command as Process;
use std::time::Duration;
use valkey::config::Addr;
use valkey::ConnectionInfo;
use valkey_tests::{RespConn, Server};

/// Where the benchmark's server is.
#[allow(clippy::large_enum_variant)] // one value per run
pub enum Target {
    /// Started by the harness on a free loopback port; stopped on drop.
    Local(Server),
    /// Given by `--url`.
    Remote {
        /// The URL as given.
        url: String,
        /// Its parsed form.
        info: Box<ConnectionInfo>,
    },
}

impl Target {
    /// Starts a `valkey-server` through the harness.
    pub fn start_local() -> Res<Target> {
        let server = Server::valkey().map_err(|e| format!("could not start valkey-server: {e}"))?;
        Ok(Target::Local(server))
    }

    /// A server given by URL (checked for syntax here, connected later).
    pub fn remote(url: &str) -> Res<Target> {
        let info = ConnectionInfo::from_url(url).map_err(|e| format!("--url {url}: {e}"))?;
        Ok(Target::Remote {
            url: url.to_owned(),
            info: Box::new(info),
        })
    }

    /// `--url` if given, else a server of our own.
    pub fn from_option(url: Option<&str>) -> Res<Target> {
        match url {
            Some(u) => Target::remote(u),
            None => Target::start_local(),
        }
    }

    /// The URL clients connect to.
    pub fn url(&self) -> String {
        match self {
            Target::Local(s) => s.url(),
            Target::Remote { url, .. } => url.clone(),
        }
    }

    /// The server's process id, when we started it.
    pub fn pid(&self) -> Option<u32> {
        match self {
            Target::Local(s) => s.pid(),
            Target::Remote { .. } => None,
        }
    }

    /// A short description for reports: `valkey-server 9.1.2 (started by the benchmark)`.
    pub fn describe(&self) -> String {
        match self {
            Target::Local(s) => format!(
                "{} {} (started by the benchmark)",
                s.kind().program(),
                s.version()
            ),
            Target::Remote { url, .. } => format!("{url} (given by --url)"),
        }
    }

    /// A connection of the harness's own (not the client under test), for setup and checks.
    pub fn raw(&self) -> Res<RespConn> {
        match self {
            Target::Local(s) => Ok(s.raw()?),
            Target::Remote { info, .. } => {
                let mut con = match &info.addr {
                    Addr::Tcp { tls: true, .. } => {
                        return Err("TLS URLs are not supported by the benchmarks".into())
                    }
                    Addr::Tcp { host, port, .. } => {
                        let addr = (host.as_str(), *port)
                            .to_socket_addrs()?
                            .next()
                            .ok_or_else(|| format!("{host} did not resolve"))?;
                        RespConn::connect(addr, Duration::from_secs(10))?
                    }
                    Addr::Unix(path) => RespConn::connect_unix(path)?,
                    _ => return Err("unsupported address".into()),
                };
                if let Some(password) = &info.password {
                    match &info.username {
                        Some(user) => con.command_ok(&["AUTH", user, password.expose()])?,
                        None => con.command_ok(&["AUTH", password.expose()])?,
                    };
                }
                if info.db != 0 {
                    con.command_ok(&["SELECT", &info.db.to_string()])?;
                }
                Ok(con)
            }
        }
    }
}

/// Calls per command from `INFO commandstats` (`set`, `get`, `client|setinfo`, ...).
pub fn command_calls(con: &mut RespConn) -> Res<BTreeMap<String, u64>> {
    let reply = con.command_ok(&["INFO", "commandstats"])?;
    let text = reply
        .as_text()
        .ok_or("INFO commandstats: not a text reply")?;
    Ok(parse_command_calls(&text))
}

/// Parses `cmdstat_<name>:calls=N,...` lines.
pub fn parse_command_calls(text: &str) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, stats)) = rest.split_once(':') else {
            continue;
        };
        let n = stats
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|v| v.parse().ok());
        if let Some(n) = n {
            calls.insert(name.to_owned(), n);
        }
    }
    calls
}

/// What ran between two snapshots, leaving out the `INFO` calls of the checks themselves.
pub fn calls_between(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(name, _)| name.as_str() != "info")
        .filter_map(|(name, &n)| {
            let d = n.saturating_sub(before.get(name).copied().unwrap_or(0));
            (d > 0).then(|| (name.clone(), d))
        })
        .collect()
}

/// Compares what the server ran with what was expected; `None` when they agree exactly, else a
/// description of the difference.
pub fn check_calls(expected: &[(&str, u64)], ran: &BTreeMap<String, u64>) -> Option<String> {
    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    for &(name, n) in expected {
        *want.entry(name).or_default() += n;
    }
    let mut diffs = Vec::new();
    for (name, &n) in &want {
        let got = ran.get(*name).copied().unwrap_or(0);
        if got != n {
            diffs.push(format!("{name}: expected {n}, server ran {got}"));
        }
    }
    for (name, &n) in ran {
        if !want.contains_key(name.as_str()) {
            diffs.push(format!("{name}: {n} unexpected"));
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

/// Whether `taskset` (util-linux) is installed.
pub fn taskset_available() -> bool {
    Process::new("taskset")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Pins every thread of process `pid` (and threads it starts later) to CPU `cpu`.
pub fn pin(pid: u32, cpu: usize) -> Res<()> {
    let out = Process::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .output()
        .map_err(|e| format!("running taskset: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "taskset -a -p -c {cpu} {pid} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Commandstats\r\n\
        cmdstat_set:calls=120,usec=50,usec_per_call=0.42,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_client|setinfo:calls=2,usec=1,usec_per_call=0.5,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_info:calls=7,usec=70,usec_per_call=10.0,rejected_calls=0,failed_calls=0\r\n";

    #[test]
    fn parses_calls_and_checks_deltas() {
        let before = parse_command_calls(INFO);
        assert_eq!(before.get("set"), Some(&120));
        assert_eq!(before.get("client|setinfo"), Some(&2));
        let after = parse_command_calls(
            "cmdstat_set:calls=220,usec=1\r\ncmdstat_get:calls=100,usec=1\r\n\
             cmdstat_client|setinfo:calls=2\r\ncmdstat_info:calls=9\r\n",
        );
        let ran = calls_between(&before, &after);
        assert_eq!(
            ran.into_iter().collect::<Vec<_>>(),
            [("get".to_owned(), 100), ("set".to_owned(), 100)]
        );
        let ran = calls_between(&before, &after);
        assert_eq!(check_calls(&[("set", 100), ("get", 100)], &ran), None);
        assert_eq!(
            check_calls(&[("set", 100), ("get", 99)], &ran).as_deref(),
            Some("get: expected 99, server ran 100")
        );
        assert_eq!(
            check_calls(&[("set", 100)], &ran).as_deref(),
            Some("get: 100 unexpected")
        );
    }
}
