//! Side-by-side comparison of our sync and async clients with redis-rs (sync and async) and fred,
//! against one server, interleaved over several rounds: ops/s and client CPU per operation, with
//! a check that the server ran exactly the commands sent.
//!
//! `cargo run --release -p valkey-benches --bin compare -- [--rounds N] [--quick] [--pin]
//! [--url URL] [--only w1,w2] [--clients c1,c2] [--protocol 2|3] [--out DIR]`

mod clients;
mod workloads;

use clients::{AsyncDriver, Fred, RedisAsync, RedisSync, SyncDriver, ValkeyAsync, ValkeySync};
use fred::prelude::ClientLike;
use std::path::PathBuf;
use std::process::ExitCode;
use valkey_benches::args::{ArgParser, UsageError};
use valkey_benches::cpu::{measure, Sample};
use valkey_benches::report::{self, Measurement, RunInfo};
use valkey_benches::target::{self, Target};
use valkey_benches::Res;
use workloads::{Data, Workload};

const USAGE: &str = "\
usage: compare [--rounds N] [--quick] [--pin] [--url URL] [--only W,..] [--clients C,..]
               [--protocol 2|3] [--out DIR]

  --rounds N      rounds per workload and client, interleaved (default 5)
  --quick         a tenth of the counts, for a smoke run
  --pin           pin this process to CPU 0 and the server to CPU 1 (taskset)
  --url URL       server to use (default: start a valkey-server of our own)
  --only W,..     only these workloads (seq, pipe, conc64, conc256, set_str, ..., get_100KiB)
  --clients C,..  only these clients (valkey-sync, valkey-async, redis-sync, redis-async, fred)
  --protocol 2|3  speak RESP2 or RESP3 with every client (default: each client's own default)
  --out DIR       where latest.md, latest.jsonl and latest.svg go (default benches/results)
  -h, --help      this text";

/// The clients, in report order.
const CLIENTS: [&str; 5] = [
    "valkey-sync",
    "valkey-async",
    "redis-sync",
    "redis-async",
    "fred",
];

struct Options {
    rounds: usize,
    quick: bool,
    pin: bool,
    url: Option<String>,
    only: Option<Vec<String>>,
    clients: Vec<&'static str>,
    protocol: Option<u8>,
    out: PathBuf,
}

fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_args() -> Result<Option<Options>, UsageError> {
    let mut o = Options {
        rounds: 5,
        quick: false,
        pin: false,
        url: None,
        only: None,
        clients: CLIENTS.to_vec(),
        protocol: None,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results"),
    };
    let mut p = ArgParser::from_env();
    while let Some(flag) = p.next_flag()? {
        match flag.as_str() {
            "--rounds" => o.rounds = p.positive()?,
            "--quick" => o.quick = true,
            "--pin" => o.pin = true,
            "--url" => o.url = Some(p.value()?),
            "--only" => o.only = Some(list(&p.value()?)),
            "--clients" => {
                let wanted = list(&p.value()?);
                for c in &wanted {
                    if !CLIENTS.contains(&c.as_str()) {
                        return Err(UsageError(format!(
                            "--clients: unknown client '{c}' (known: {})",
                            CLIENTS.join(", ")
                        )));
                    }
                }
                o.clients = CLIENTS
                    .into_iter()
                    .filter(|c| wanted.iter().any(|w| w == c))
                    .collect();
            }
            "--protocol" => {
                let v: u8 = p.parsed()?;
                if v != 2 && v != 3 {
                    return Err(UsageError("--protocol must be 2 or 3".into()));
                }
                o.protocol = Some(v);
            }
            "--out" => o.out = PathBuf::from(p.value()?),
            "-h" | "--help" => return Ok(None),
            other => return Err(p.unknown(other)),
        }
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("compare: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("compare: the server did not run exactly the commands sent (see the table)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("compare: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The URL for redis-rs and fred, which know `redis://` but not `valkey://`.
fn peer_url(url: &str) -> String {
    match url.strip_prefix("valkey://") {
        Some(rest) => format!("redis://{rest}"),
        None => url.to_owned(),
    }
}

/// Every client's connection, opened before anything is measured.
struct Clients {
    valkey_sync: Option<ValkeySync>,
    valkey_async: Option<ValkeyAsync>,
    redis_sync: Option<RedisSync>,
    redis_async: Option<RedisAsync>,
    fred: Option<Fred>,
}

impl Clients {
    fn open(opts: &Options, url: &str, rt: &tokio::runtime::Runtime) -> Res<Clients> {
        let on = |c: &str| opts.clients.contains(&c);
        let mut info = valkey::ConnectionInfo::from_url(url)?;
        if let Some(p) = opts.protocol {
            info = info.with_protocol(if p == 2 {
                valkey::Protocol::Resp2
            } else {
                valkey::Protocol::Resp3
            });
        }
        let ours = valkey::Client::open(info)?;
        let mut redis_url = peer_url(url);
        if opts.protocol == Some(3) {
            redis_url.push_str(if redis_url.contains('?') { "&" } else { "?" });
            redis_url.push_str("protocol=resp3");
        }
        let redis_client = redis::Client::open(redis_url.as_str())?;
        Ok(Clients {
            valkey_sync: if on("valkey-sync") {
                Some(ValkeySync::new(ours.get_connection()?))
            } else {
                None
            },
            valkey_async: if on("valkey-async") {
                Some(ValkeyAsync::new(rt.block_on(ours.get_async_connection())?))
            } else {
                None
            },
            redis_sync: if on("redis-sync") {
                Some(RedisSync(redis_client.get_connection()?))
            } else {
                None
            },
            redis_async: if on("redis-async") {
                Some(RedisAsync(
                    rt.block_on(redis_client.get_multiplexed_async_connection())?,
                ))
            } else {
                None
            },
            fred: if on("fred") {
                let mut config = fred::prelude::Config::from_url(&peer_url(url))?;
                if let Some(p) = opts.protocol {
                    config.version = if p == 2 {
                        fred::types::RespVersion::RESP2
                    } else {
                        fred::types::RespVersion::RESP3
                    };
                }
                let client = fred::prelude::Builder::from_config(config).build()?;
                rt.block_on(client.init())?;
                Some(Fred(client))
            } else {
                None
            },
        })
    }

    /// Runs `w` once on client `name`, measured; `None` when that client cannot run it.
    fn run(
        &mut self,
        name: &str,
        w: &Workload,
        data: &Data,
        rt: &tokio::runtime::Runtime,
        local: &tokio::task::LocalSet,
    ) -> Option<Res<Sample>> {
        fn sync<D: SyncDriver>(d: &mut D, w: &Workload, data: &Data) -> Res<Sample> {
            let (r, s) = measure(|| clients::run_sync(d, w, data));
            r.map(|()| s)
        }
        fn aio<D: AsyncDriver>(
            d: &mut D,
            w: &Workload,
            data: &Data,
            rt: &tokio::runtime::Runtime,
            local: &tokio::task::LocalSet,
        ) -> Res<Sample> {
            let (r, s) = measure(|| local.block_on(rt, clients::run_async(d, w, data)));
            r.map(|()| s)
        }
        if w.async_only() && name.ends_with("-sync") {
            return None;
        }
        Some(match name {
            "valkey-sync" => sync(self.valkey_sync.as_mut()?, w, data),
            "valkey-async" => aio(self.valkey_async.as_mut()?, w, data, rt, local),
            "redis-sync" => sync(self.redis_sync.as_mut()?, w, data),
            "redis-async" => aio(self.redis_async.as_mut()?, w, data, rt, local),
            "fred" => aio(self.fred.as_mut()?, w, data, rt, local),
            _ => return None,
        })
    }
}

fn run(opts: &Options) -> Res<bool> {
    let mut workloads = Workload::all(opts.quick);
    if let Some(only) = &opts.only {
        for name in only {
            if !workloads.iter().any(|w| &w.name == name) {
                return Err(format!(
                    "--only: unknown workload '{name}' (known: {})",
                    workloads
                        .iter()
                        .map(|w| w.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
                .into());
            }
        }
        workloads.retain(|w| only.contains(&w.name));
    }
    // Before pinning, which narrows what this reports to one CPU.
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    if opts.pin && !target::taskset_available() {
        return Err("--pin needs taskset (util-linux), which is not installed".into());
    }
    if opts.pin {
        // Before any thread is started, so every later thread inherits CPU 0.
        target::pin(std::process::id(), 0)?;
    }
    let target = Target::from_option(opts.url.as_deref())?;
    let mut pinned = opts.pin;
    if opts.pin {
        match target.pid() {
            Some(pid) => target::pin(pid, 1)?,
            None => {
                eprintln!(
                    "compare: --pin: the server was given by --url; only this process is pinned"
                );
                pinned = false;
            }
        }
    }
    let url = target.url();
    let mut raw = target.raw()?;
    let data = Data::new(&workloads);
    data.load(&mut raw)?;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let mut clients = Clients::open(opts, &url, &rt)?;

    let mut rows: Vec<Measurement> = Vec::new();
    for w in &workloads {
        for c in &opts.clients {
            if !(w.async_only() && c.ends_with("-sync")) {
                rows.push(Measurement {
                    workload: w.name.clone(),
                    client: (*c).to_owned(),
                    ops: w.commands(),
                    samples: Vec::new(),
                    check_failures: Vec::new(),
                });
            }
        }
    }
    println!(
        "server {}; {} rounds; workloads: {}",
        target.describe(),
        opts.rounds,
        workloads.len()
    );
    for round in 0..opts.rounds {
        for w in &workloads {
            // Rotate which client goes first, so no client always runs on a warm (or cold) server.
            let n = opts.clients.len();
            for k in 0..n {
                let c = opts.clients[(k + round) % n];
                if w.async_only() && c.ends_with("-sync") {
                    continue;
                }
                w.before_run(&mut raw)?;
                let before = target::command_calls(&mut raw)?;
                let sample = clients
                    .run(c, w, &data, &rt, &local)
                    .ok_or_else(|| format!("client {c} is not open"))?
                    .map_err(|e| format!("{} on {c}: {e}", w.name))?;
                let after = target::command_calls(&mut raw)?;
                let ran = target::calls_between(&before, &after);
                let check = target::check_calls(&w.expected_calls(), &ran);
                let row = rows
                    .iter_mut()
                    .find(|r| r.workload == w.name && r.client == c)
                    .expect("a row per workload and client");
                println!(
                    "round {}/{}  {:<11} {:<13} {:>7} ops  {:>8.3} s  {:>8} ops/s  {:>7} µs/op  {}",
                    round + 1,
                    opts.rounds,
                    w.name,
                    c,
                    row.ops,
                    sample.wall.as_secs_f64(),
                    report::human(sample.ops_per_sec(row.ops)),
                    report::micros(sample.cpu_us_per_op(row.ops)),
                    check.as_deref().unwrap_or("server check ok")
                );
                row.samples.push(sample);
                if let Some(c) = check {
                    row.check_failures.push(format!("round {}: {c}", round + 1));
                }
            }
        }
    }
    drop(clients);

    let info = RunInfo {
        date: report::utc_now(),
        server: target.describe(),
        pinned,
        rounds: opts.rounds,
        quick: opts.quick,
        notes: vec![
            format!(
                "clients: valkey-typed {} (sync Connection, async MultiplexedConnection), redis {} \
                 (sync Connection, async MultiplexedConnection), fred {}; async clients on a \
                 current-thread tokio runtime",
                env!("CARGO_PKG_VERSION"),
                REDIS_VERSION,
                FRED_VERSION
            ),
            match opts.protocol {
                Some(p) => format!("protocol: RESP{p} for every client"),
                None => "protocol: each client's default (valkey-typed RESP3, redis-rs and fred RESP2; \
                         the replies of these workloads are the same bytes in both)"
                    .to_owned(),
            },
            format!(
                "CPU: getrusage(RUSAGE_SELF) user+sys of the client process around each run; host has {} CPUs",
                cpus
            ),
        ],
    };
    let mut md = report::markdown(&info, &rows);
    md.push_str(&targets_section(&rows, pinned));
    print!("\n{md}");
    std::fs::create_dir_all(&opts.out)?;
    std::fs::write(opts.out.join("latest.md"), &md)?;
    std::fs::write(
        opts.out.join("latest.jsonl"),
        report::json_lines(&info, &rows),
    )?;
    std::fs::write(opts.out.join("latest.svg"), report::svg(&info, &rows))?;
    println!("\nwrote {}/latest.{{md,jsonl,svg}}", opts.out.display());
    Ok(rows.iter().all(|r| r.check_failures.is_empty()))
}

/// The peer versions, for the report (kept in step with Cargo.toml by hand).
const REDIS_VERSION: &str = "1.8.1";
const FRED_VERSION: &str = "10.1.0";

/// Which number a target compares.
#[derive(Clone, Copy, PartialEq)]
enum Metric {
    /// Client CPU per operation; lower is better.
    Cpu,
    /// Operations per second; higher is better.
    Ops,
}

/// One performance target: ours against the best of `peers` on `workload`.
struct Goal {
    workload: &'static str,
    ours: &'static str,
    peers: &'static [&'static str],
    metric: Metric,
    limit: f64,
}

const ALL_PEERS: &[&str] = &["redis-sync", "redis-async", "fred"];
const ASYNC_PEERS: &[&str] = &["redis-async", "fred"];

/// The targets (for pinned runs), as ratios to peers in the same run.
const GOALS: [Goal; 8] = [
    Goal {
        workload: "seq",
        ours: "valkey-sync",
        peers: &["redis-sync"],
        metric: Metric::Cpu,
        limit: 0.9,
    },
    Goal {
        workload: "seq",
        ours: "valkey-async",
        peers: &["redis-async"],
        metric: Metric::Cpu,
        limit: 0.9,
    },
    Goal {
        workload: "pipe",
        ours: "valkey-sync",
        peers: &["redis-sync"],
        metric: Metric::Cpu,
        limit: 0.8,
    },
    Goal {
        workload: "conc256",
        ours: "valkey-async",
        peers: ASYNC_PEERS,
        metric: Metric::Ops,
        limit: 1.3,
    },
    Goal {
        workload: "conc256",
        ours: "valkey-async",
        peers: ASYNC_PEERS,
        metric: Metric::Cpu,
        limit: 0.7,
    },
    Goal {
        workload: "lrange_300",
        ours: "valkey-async",
        peers: &["fred"],
        metric: Metric::Cpu,
        limit: 0.8,
    },
    Goal {
        workload: "get_100KiB",
        ours: "valkey-sync",
        peers: ALL_PEERS,
        metric: Metric::Cpu,
        limit: 1.0,
    },
    Goal {
        workload: "get_100KiB",
        ours: "valkey-async",
        peers: ALL_PEERS,
        metric: Metric::Cpu,
        limit: 1.0,
    },
];

/// The performance targets section of the report: each target's ratio and whether it is met.
fn targets_section(rows: &[Measurement], pinned: bool) -> String {
    let row = |w: &str, c: &str| rows.iter().find(|r| r.workload == w && r.client == c);
    let value = |w: &str, c: &str, m: Metric| {
        let r = row(w, c)?;
        match m {
            Metric::Cpu => r.cpu_us_per_op(),
            Metric::Ops => r.ops_per_sec(),
        }
        .map(|s| s.median)
    };
    let mut s = String::from("\n## Targets (ratios to peers in this run)\n\n");
    if !pinned {
        s.push_str(
            "Not pinned: the targets are defined for `--pin` runs; shown for information.\n\n",
        );
    }
    s.push_str(
        "| target | ours | best peer | ratio | limit | result |\n|---|---:|---|---:|---:|---|\n",
    );
    for g in &GOALS {
        let (what, op) = match g.metric {
            Metric::Cpu => ("CPU/op", "≤"),
            Metric::Ops => ("ops/s", "≥"),
        };
        let peer_text = if g.peers.len() == 1 {
            g.peers[0]
        } else {
            "best peer"
        };
        let name = format!(
            "{}: {} {what} {op} {}× {peer_text}",
            g.workload, g.ours, g.limit
        );
        let fmt = |v: f64| match g.metric {
            Metric::Cpu => format!("{} µs", report::micros(v)),
            Metric::Ops => format!("{} ops/s", report::human(v)),
        };
        let ours = value(g.workload, g.ours, g.metric);
        let best = g
            .peers
            .iter()
            .filter_map(|p| value(g.workload, p, g.metric).map(|v| (v, *p)))
            .reduce(|a, b| {
                let better = match g.metric {
                    Metric::Cpu => b.0 < a.0,
                    Metric::Ops => b.0 > a.0,
                };
                if better {
                    b
                } else {
                    a
                }
            });
        match (ours, best) {
            (Some(o), Some((p, peer))) => {
                let ratio = o / p;
                let met = match g.metric {
                    Metric::Cpu => ratio <= g.limit,
                    Metric::Ops => ratio >= g.limit,
                };
                s.push_str(&format!(
                    "| {name} | {} | {} ({peer}) | {ratio:.2} | {} | {} |\n",
                    fmt(o),
                    fmt(p),
                    g.limit,
                    if met { "met" } else { "MISSED" }
                ));
            }
            _ => s.push_str(&format!(
                "| {name} | - | - | - | {} | not measured |\n",
                g.limit
            )),
        }
    }
    s
}
