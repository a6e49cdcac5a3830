//! The server under test: one the harness starts (and stops when dropped), or one given by URL.
//! Also the server-side view the benchmarks check against and report: `INFO commandstats` call
//! counts, the server's CPU time and its read and write counts, all read through the harness's own
//! RESP connection (independent of the client under test); and CPU pinning.

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

/// One reading of the server's counters, from a single `INFO cpu stats commandstats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// `used_cpu_sys` + `used_cpu_user` (the whole server process, all threads) in µs; `None`
    /// when the server does not report them.
    pub cpu_us: Option<u64>,
    /// `total_reads_processed`: reads from client sockets (Redis ≥ 6, Valkey).
    pub reads: Option<u64>,
    /// `total_writes_processed`: writes to client sockets.
    pub writes: Option<u64>,
    /// Calls per command, from `cmdstat_<name>:calls=N`.
    pub calls: BTreeMap<String, u64>,
}

/// What the server did between two [`ServerStats`], less the harness's own `INFO`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerDelta {
    /// Server CPU time in µs, less the calibrated cost of one pair of readings.
    pub cpu_us: Option<u64>,
    /// Commands run, per command, without `INFO` (see [`calls_between`]).
    pub calls: BTreeMap<String, u64>,
    /// Reads from client sockets, less the harness's own.
    pub reads: Option<u64>,
    /// Writes to client sockets, less the harness's own.
    pub writes: Option<u64>,
}

impl ServerDelta {
    /// Commands run (all of `calls`).
    pub fn commands(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Server CPU µs per command.
    pub fn cpu_us_per_cmd(&self) -> Option<f64> {
        ratio(self.cpu_us?, self.commands())
    }

    /// Commands per read from a client socket: how many commands arrived per read, the
    /// batching the server saw.
    pub fn cmds_per_read(&self) -> Option<f64> {
        ratio(self.commands(), self.reads?)
    }

    /// Commands per write to a client socket.
    pub fn cmds_per_write(&self) -> Option<f64> {
        ratio(self.commands(), self.writes?)
    }
}

fn ratio(n: u64, d: u64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// What one pair of readings (`INFO` before, `INFO` after, nothing between) adds to the server's
/// counters by itself; subtracted from every [`ServerDelta`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overhead {
    /// Server CPU µs.
    pub cpu_us: u64,
    /// Reads (Valkey 9.1: 1, the second `INFO`'s).
    pub reads: u64,
    /// Writes (Valkey 9.1: 1, the first `INFO`'s reply).
    pub writes: u64,
}

impl ServerStats {
    /// What happened between `self` (before) and `after`, less `overhead`.
    pub fn delta(&self, after: &ServerStats, overhead: &Overhead) -> ServerDelta {
        let diff = |a: Option<u64>, b: Option<u64>, less: u64| {
            Some(b?.saturating_sub(a?).saturating_sub(less))
        };
        ServerDelta {
            cpu_us: diff(self.cpu_us, after.cpu_us, overhead.cpu_us),
            calls: calls_between(&self.calls, &after.calls),
            reads: diff(self.reads, after.reads, overhead.reads),
            writes: diff(self.writes, after.writes, overhead.writes),
        }
    }
}

/// Reads the server's counters (one `INFO cpu stats commandstats`, Valkey 7+ / Redis 7+).
pub fn server_stats(con: &mut RespConn) -> Res<ServerStats> {
    let reply = con.command_ok(&["INFO", "cpu", "stats", "commandstats"])?;
    let text = reply.as_text().ok_or("INFO: not a text reply")?;
    Ok(parse_server_stats(&text))
}

/// Parses the `INFO` fields of [`ServerStats`]; absent fields are `None` (no calls: empty).
pub fn parse_server_stats(text: &str) -> ServerStats {
    let mut sys = None;
    let mut user = None;
    let mut stats = ServerStats {
        calls: parse_command_calls(text),
        ..ServerStats::default()
    };
    for line in text.lines() {
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        match k {
            "used_cpu_sys" => sys = parse_seconds_as_micros(v),
            "used_cpu_user" => user = parse_seconds_as_micros(v),
            "total_reads_processed" => stats.reads = v.parse().ok(),
            "total_writes_processed" => stats.writes = v.parse().ok(),
            _ => {}
        }
    }
    stats.cpu_us = sys.zip(user).map(|(s, u)| s + u);
    stats
}

/// `12.345678` (seconds, as `INFO cpu` prints them) to 12345678 µs, without going through a
/// float; digits past the sixth decimal are dropped.
pub fn parse_seconds_as_micros(v: &str) -> Option<u64> {
    let (whole, frac) = v.trim().split_once('.').unwrap_or((v.trim(), ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut micros = 0u64;
    for i in 0..6 {
        let d = frac.as_bytes().get(i).map_or(0, |b| u64::from(b - b'0'));
        micros = micros * 10 + d;
    }
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

/// The cost of the readings themselves: `pairs` back-to-back pairs of [`server_stats`] with
/// nothing between. Reads and writes take the smallest (they are fixed counts; another client's
/// stray traffic can only add), CPU the median.
pub fn calibrate(con: &mut RespConn, pairs: usize) -> Res<Overhead> {
    let mut deltas = Vec::with_capacity(pairs);
    for _ in 0..pairs.max(1) {
        let a = server_stats(con)?;
        let b = server_stats(con)?;
        deltas.push(a.delta(&b, &Overhead::default()));
    }
    Ok(overhead_of(&deltas))
}

/// The overhead [`calibrate`] derives from idle pairs.
pub fn overhead_of(deltas: &[ServerDelta]) -> Overhead {
    let min = |f: fn(&ServerDelta) -> Option<u64>| deltas.iter().filter_map(f).min().unwrap_or(0);
    let mut cpu: Vec<u64> = deltas.iter().filter_map(|d| d.cpu_us).collect();
    cpu.sort_unstable();
    Overhead {
        cpu_us: cpu.get(cpu.len() / 2).copied().unwrap_or(0),
        reads: min(|d| d.reads),
        writes: min(|d| d.writes),
    }
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

    /// Trimmed from Valkey 9.1.2's `INFO cpu stats commandstats`.
    const FULL: &str = "# Stats\r\n\
        total_connections_received:12\r\n\
        total_commands_processed:5120\r\n\
        total_reads_processed:40\r\n\
        total_writes_processed:38\r\n\
        io_threaded_reads_processed:0\r\n\
        \r\n\
        # CPU\r\n\
        used_cpu_sys:1.250000\r\n\
        used_cpu_user:0.004609\r\n\
        used_cpu_sys_children:0.000000\r\n\
        used_cpu_user_children:7.000000\r\n\
        used_cpu_sys_main_thread:1.000000\r\n\
        \r\n\
        # Commandstats\r\n\
        cmdstat_get:calls=2560,usec=900,usec_per_call=0.35,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_set:calls=2560,usec=1200,usec_per_call=0.47,rejected_calls=0,failed_calls=0\r\n\
        cmdstat_info:calls=3,usec=190,usec_per_call=63.33,rejected_calls=0,failed_calls=0\r\n";

    #[test]
    fn parses_cpu_reads_writes_and_calls() {
        let s = parse_server_stats(FULL);
        // Only the process's own sys + user, not the children's or the main thread's alone.
        assert_eq!(s.cpu_us, Some(1_254_609));
        assert_eq!(s.reads, Some(40));
        assert_eq!(s.writes, Some(38));
        assert_eq!(s.calls.get("get"), Some(&2560));
        assert_eq!(s.calls.get("info"), Some(&3));

        // An old server (Redis 5): no read or write counts; no CPU section at all.
        let old = parse_server_stats("# CPU\r\nused_cpu_sys:0.5\r\nused_cpu_user:0.25\r\n");
        assert_eq!(
            (old.cpu_us, old.reads, old.writes),
            (Some(750_000), None, None)
        );
        assert!(old.calls.is_empty());
        assert_eq!(parse_server_stats("# Stats\r\n").cpu_us, None);
    }

    #[test]
    fn seconds_to_micros() {
        assert_eq!(parse_seconds_as_micros("0.004609"), Some(4_609));
        assert_eq!(parse_seconds_as_micros("12.5"), Some(12_500_000));
        assert_eq!(parse_seconds_as_micros("3"), Some(3_000_000));
        assert_eq!(parse_seconds_as_micros("1.0000019"), Some(1_000_001));
        assert_eq!(parse_seconds_as_micros(" 2.000001\r"), Some(2_000_001));
        assert_eq!(parse_seconds_as_micros(""), None);
        assert_eq!(parse_seconds_as_micros("x.1"), None);
        assert_eq!(parse_seconds_as_micros("1.2e3"), None);
        assert_eq!(parse_seconds_as_micros("-1.0"), None);
    }

    fn stats(cpu: u64, reads: u64, writes: u64, set: u64, info: u64) -> ServerStats {
        ServerStats {
            cpu_us: Some(cpu),
            reads: Some(reads),
            writes: Some(writes),
            calls: [("set".to_owned(), set), ("info".to_owned(), info)]
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn deltas_leave_out_the_harness() {
        // Idle pairs: one read and one write each, CPU 60–90 µs.
        let idle = [
            stats(100, 10, 9, 0, 1).delta(&stats(160, 11, 10, 0, 2), &Overhead::default()),
            stats(200, 12, 11, 0, 3).delta(&stats(290, 14, 12, 0, 4), &Overhead::default()),
            stats(300, 15, 13, 0, 5).delta(&stats(370, 16, 14, 0, 6), &Overhead::default()),
        ];
        assert!(
            idle.iter().all(|d| d.commands() == 0),
            "INFO is not counted"
        );
        let o = overhead_of(&idle);
        assert_eq!(
            o,
            Overhead {
                cpu_us: 70,
                reads: 1,
                writes: 1
            }
        );

        // A run of 1,000 SETs in 11 reads (10 of the client's + 1 of the harness).
        let d = stats(1_000, 20, 20, 0, 7).delta(&stats(2_070, 31, 31, 1_000, 8), &o);
        assert_eq!(d.commands(), 1_000);
        assert_eq!(
            (d.cpu_us, d.reads, d.writes),
            (Some(1_000), Some(10), Some(10))
        );
        assert_eq!(d.cpu_us_per_cmd(), Some(1.0));
        assert_eq!(d.cmds_per_read(), Some(100.0));
        assert_eq!(d.cmds_per_write(), Some(100.0));

        // Nothing known, nothing claimed.
        let none = ServerStats::default().delta(&ServerStats::default(), &o);
        assert_eq!((none.cpu_us_per_cmd(), none.cmds_per_read()), (None, None));
        assert_eq!(overhead_of(&[]), Overhead::default());
    }
}
