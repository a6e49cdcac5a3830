//! Side-by-side comparison of our sync and async clients with redis-rs (sync and async) and fred,
//! against one server, interleaved over several rounds, the async clients on tokio's
//! current-thread and multi-thread runtimes: ops/s, client CPU per operation, the server's CPU per
//! command and commands per server read and write, with a check that the server ran exactly the
//! commands sent. The pub/sub workloads measure one subscriber of each client receiving what a
//! publisher child process (this binary, `--publisher URL`) publishes.
//!
//! With `--cluster`, the cluster workloads instead (see `cluster`): the async cluster clients
//! against a 3-primary cluster this binary starts.
//!
//! `cargo run --release -p valkey-benches --bin compare -- [--rounds N] [--quick] [--pin]
//! [--runtime current|multi|both] [--url URL] [--only w1,w2] [--clients c1,c2] [--protocol 2|3]
//! [--out DIR] [--cluster]`

mod clients;
mod cluster;
mod pubsub;
mod workloads;

use clients::{AsyncDriver, Fred, RedisAsync, RedisSync, SyncDriver, ValkeyAsync, ValkeySync};
use fred::prelude::ClientLike;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use valkey_benches::args::{ArgParser, UsageError};
use valkey_benches::cpu::{measure, Sample};
use valkey_benches::pubsub::PublishJob;
use valkey_benches::report::{self, Measurement, RunInfo, Runtime};
use valkey_benches::target::{self, Target};
use valkey_benches::{BoxError, Res};
use workloads::{Data, Workload};

const USAGE: &str = "\
usage: compare [--rounds N] [--quick] [--pin] [--runtime current|multi|both] [--url URL]
               [--only W,..] [--clients C,..] [--protocol 2|3] [--out DIR] [--cluster]

  --rounds N      rounds per workload and client, interleaved (default 5)
  --quick         a tenth of the counts, for a smoke run
  --pin           pin this process to CPU 0 and the server to CPU 1 (taskset); the
                  multi-thread runtime's workers then all share CPU 0
  --runtime R     tokio runtime(s) of the async clients: current (current-thread), multi
                  (multi-thread, one worker per available CPU) or both (default)
  --url URL       server to use (default: start a valkey-server of our own)
  --only W,..     only these workloads (seq, pipe, conc64, conc256, set_str, ..., get_100KiB,
                  pubsub_16B, pubsub_1KiB)
  --clients C,..  only these clients (valkey-sync, valkey-async, redis-sync, redis-async, fred)
  --protocol 2|3  speak RESP2 or RESP3 with every client (default: each client's own default)
  --out DIR       where latest.md, latest.jsonl and latest.svg go (default benches/results)
  --cluster       instead, the cluster workloads (cluster_conc256, cluster_pipe100) of the
                  async clients (valkey-async, redis-async, fred) on a 3-primary valkey-server
                  cluster started here; writes cluster-latest.{md,jsonl} (no --url, --pin)
  -h, --help      this text";

/// The clients, in report order.
const CLIENTS: [&str; 5] = [
    "valkey-sync",
    "valkey-async",
    "redis-sync",
    "redis-async",
    "fred",
];

/// Which runtimes `--runtime` asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runtimes {
    Current,
    Multi,
    Both,
}

impl Runtimes {
    fn current(self) -> bool {
        self != Runtimes::Multi
    }

    fn multi(self) -> bool {
        self != Runtimes::Current
    }
}

struct Options {
    rounds: usize,
    quick: bool,
    pin: bool,
    runtimes: Runtimes,
    url: Option<String>,
    only: Option<Vec<String>>,
    clients: Vec<&'static str>,
    protocol: Option<u8>,
    out: PathBuf,
    cluster: bool,
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
        runtimes: Runtimes::Both,
        url: None,
        only: None,
        clients: CLIENTS.to_vec(),
        protocol: None,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("results"),
        cluster: false,
    };
    let mut p = ArgParser::from_env();
    while let Some(flag) = p.next_flag()? {
        match flag.as_str() {
            "--rounds" => o.rounds = p.positive()?,
            "--quick" => o.quick = true,
            "--pin" => o.pin = true,
            "--runtime" => {
                o.runtimes = match p.value()?.as_str() {
                    "current" => Runtimes::Current,
                    "multi" => Runtimes::Multi,
                    "both" => Runtimes::Both,
                    other => {
                        return Err(UsageError(format!(
                            "--runtime: '{other}' is not current, multi or both"
                        )))
                    }
                }
            }
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
            "--cluster" => o.cluster = true,
            "-h" | "--help" => return Ok(None),
            other => return Err(p.unknown(other)),
        }
    }
    if o.cluster && (o.url.is_some() || o.pin) {
        return Err(UsageError(
            "--cluster starts its own cluster and does not pin: no --url, no --pin".into(),
        ));
    }
    Ok(Some(o))
}

fn main() -> ExitCode {
    // The publisher child process of the pub/sub workloads (see `pubsub`).
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, url] = &args[..] {
        if flag == "--publisher" {
            return match pubsub::publisher_main(url) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("compare --publisher: {e}");
                    ExitCode::FAILURE
                }
            };
        }
    }
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

/// A tokio runtime the async clients run on, with the `LocalSet` the current-thread one runs
/// its tasks in.
struct Rt {
    kind: Runtime,
    rt: tokio::runtime::Runtime,
    local: Option<tokio::task::LocalSet>,
}

impl Rt {
    fn new(kind: Runtime) -> Res<Rt> {
        Ok(match kind {
            Runtime::Current => Rt {
                kind,
                rt: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?,
                local: Some(tokio::task::LocalSet::new()),
            },
            Runtime::Multi { workers } => Rt {
                kind,
                rt: tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(workers)
                    .enable_all()
                    .build()?,
                local: None,
            },
        })
    }

    /// Runs `w` on the async client in `slot`, measured. On the current-thread runtime the
    /// workload runs in `block_on` (its `conc` tasks on the `LocalSet`); on the multi-thread one
    /// it runs as a spawned task, as a request handler of a `#[tokio::main]` server would, with
    /// its `conc` tasks spawned onto the workers.
    fn run<D: AsyncDriver>(
        &self,
        slot: &mut Option<D>,
        w: &Workload,
        data: &Arc<Data>,
    ) -> Res<Sample> {
        let Some(local) = &self.local else {
            let mut d = slot.take().ok_or("client not open")?;
            let (w, data) = (w.clone(), Arc::clone(data));
            let task = async move {
                let r = clients::run_async(&mut d, &w, &data).await;
                (d, r.map_err(|e| e.to_string()))
            };
            let (joined, sample) = measure(|| self.rt.block_on(self.rt.spawn(task)));
            let (d, r) = joined?;
            *slot = Some(d);
            return r.map(|()| sample).map_err(Into::into);
        };
        let d = slot.as_mut().ok_or("client not open")?;
        let (r, sample) = measure(|| local.block_on(&self.rt, clients::run_async(d, w, data)));
        r.map(|()| sample)
    }
}

/// The async clients' connections on one runtime.
struct AsyncClients {
    rt: Rt,
    valkey: Option<ValkeyAsync>,
    redis: Option<RedisAsync>,
    fred: Option<Fred>,
}

/// Every client's connection, opened before anything is measured: the blocking ones once, the
/// async ones on each runtime (their connection tasks live on the runtime that opened them).
struct Clients {
    valkey_sync: Option<ValkeySync>,
    redis_sync: Option<RedisSync>,
    runtimes: Vec<AsyncClients>,
    /// For the pub/sub workloads, which open a subscriber per run.
    config: Config,
}

/// How each client is told to connect.
struct Config {
    ours: valkey::Client,
    redis: redis::Client,
    fred: fred::prelude::Config,
}

impl Config {
    fn new(opts: &Options, url: &str) -> Res<Config> {
        let mut info = valkey::ConnectionInfo::from_url(url)?;
        if let Some(p) = opts.protocol {
            info = info.with_protocol(if p == 2 {
                valkey::Protocol::Resp2
            } else {
                valkey::Protocol::Resp3
            });
        }
        let mut redis_url = peer_url(url);
        if opts.protocol == Some(3) {
            redis_url.push_str(if redis_url.contains('?') { "&" } else { "?" });
            redis_url.push_str("protocol=resp3");
        }
        let mut fred = fred::prelude::Config::from_url(&peer_url(url))?;
        if let Some(p) = opts.protocol {
            fred.version = if p == 2 {
                fred::types::RespVersion::RESP2
            } else {
                fred::types::RespVersion::RESP3
            };
        }
        Ok(Config {
            ours: valkey::Client::open(info)?,
            redis: redis::Client::open(redis_url.as_str())?,
            fred,
        })
    }
}

impl AsyncClients {
    fn open(opts: &Options, config: &Config, rt: Rt) -> Res<AsyncClients> {
        let on = |c: &str| opts.clients.contains(&c);
        let valkey = if on("valkey-async") {
            Some(ValkeyAsync::new(
                rt.rt.block_on(config.ours.get_async_connection())?,
            ))
        } else {
            None
        };
        let redis = if on("redis-async") {
            Some(RedisAsync(
                rt.rt
                    .block_on(config.redis.get_multiplexed_async_connection())?,
            ))
        } else {
            None
        };
        let fred = if on("fred") {
            let client = fred::prelude::Builder::from_config(config.fred.clone()).build()?;
            rt.rt.block_on(client.init())?;
            Some(Fred(client))
        } else {
            None
        };
        Ok(AsyncClients {
            rt,
            valkey,
            redis,
            fred,
        })
    }
}

impl Clients {
    fn open(opts: &Options, url: &str, runtimes: Vec<Rt>) -> Res<Clients> {
        let on = |c: &str| opts.clients.contains(&c);
        let config = Config::new(opts, url)?;
        Ok(Clients {
            valkey_sync: if on("valkey-sync") {
                Some(ValkeySync::new(config.ours.get_connection()?))
            } else {
                None
            },
            redis_sync: if on("redis-sync") {
                Some(RedisSync(config.redis.get_connection()?))
            } else {
                None
            },
            runtimes: runtimes
                .into_iter()
                .map(|rt| AsyncClients::open(opts, &config, rt))
                .collect::<Res<_>>()?,
            config,
        })
    }

    /// Runs pub/sub `job` once with a new subscriber of client `name` (on runtime `rt` if
    /// async), subscribed before the measurement and closed after it; `None` when that client
    /// is not in the run.
    fn run_pubsub(
        &mut self,
        name: &str,
        rt: Option<Runtime>,
        job: &PublishJob,
        ctx: &mut pubsub::Ctx,
    ) -> Option<Res<pubsub::Outcome>> {
        let config = &self.config;
        let ch = pubsub::CHANNEL;
        let Some(kind) = rt else {
            return Some(match name {
                "valkey-sync" if self.valkey_sync.is_some() => (|| {
                    let mut sub = config.ours.get_pubsub()?;
                    sub.subscribe(ch)?;
                    pubsub::run_sync(ctx, &mut sub, job)
                })(),
                "redis-sync" if self.redis_sync.is_some() => (|| {
                    let mut con = config.redis.get_connection()?;
                    con.set_read_timeout(Some(pubsub::RECV_TIMEOUT))?;
                    let mut sub = con.as_pubsub();
                    sub.subscribe(ch)?;
                    pubsub::run_sync(ctx, &mut sub, job)
                })(),
                _ => return None,
            });
        };
        let a = self.runtimes.iter().find(|a| a.rt.kind == kind)?;
        let (rt, local) = (&a.rt.rt, a.rt.local.as_ref());
        Some(match name {
            "valkey-async" if a.valkey.is_some() => pubsub::block(rt, local, async {
                let mut sub = config.ours.get_async_pubsub().await?;
                sub.subscribe(ch).await?;
                Ok::<_, BoxError>(sub)
            })
            .and_then(|sub| pubsub::run_async(ctx, rt, local, sub, job)),
            "redis-async" if a.redis.is_some() => pubsub::block(rt, local, async {
                let mut sub = config.redis.get_async_pubsub().await?;
                sub.subscribe(ch).await?;
                Ok::<_, BoxError>(pubsub::RedisAsyncSub(sub))
            })
            .and_then(|sub| pubsub::run_async(ctx, rt, local, sub, job)),
            "fred" if a.fred.is_some() => pubsub::block(rt, local, async {
                use fred::prelude::{EventInterface, PubsubInterface};
                let mut builder = fred::prelude::Builder::from_config(config.fred.clone());
                // Room for a whole run, so that the broadcast channel never drops (`Lagged`).
                builder.with_performance_config(|p| {
                    p.broadcast_channel_capacity = (job.n as usize).max(32);
                });
                let client = builder.build_subscriber_client()?;
                client.init().await?;
                let rx = client.message_rx();
                client.subscribe(ch).await?;
                Ok::<_, BoxError>(pubsub::FredSub { client, rx })
            })
            .and_then(|sub| pubsub::run_async(ctx, rt, local, sub, job)),
            _ => return None,
        })
    }

    /// Runs `w` once on client `name` (on runtime `rt` if async), measured; `None` when that
    /// client cannot run it.
    fn run(
        &mut self,
        name: &str,
        rt: Option<Runtime>,
        w: &Workload,
        data: &Arc<Data>,
    ) -> Option<Res<Sample>> {
        fn sync<D: SyncDriver>(d: &mut D, w: &Workload, data: &Data) -> Res<Sample> {
            let (r, s) = measure(|| clients::run_sync(d, w, data));
            r.map(|()| s)
        }
        if w.async_only() && name.ends_with("-sync") {
            return None;
        }
        let Some(kind) = rt else {
            return Some(match name {
                "valkey-sync" => sync(self.valkey_sync.as_mut()?, w, data),
                "redis-sync" => sync(self.redis_sync.as_mut()?, w, data),
                _ => return None,
            });
        };
        let a = self.runtimes.iter_mut().find(|a| a.rt.kind == kind)?;
        Some(match name {
            "valkey-async" => a.rt.run(&mut a.valkey, w, data),
            "redis-async" => a.rt.run(&mut a.redis, w, data),
            "fred" => a.rt.run(&mut a.fred, w, data),
            _ => return None,
        })
    }
}

fn run(opts: &Options) -> Res<bool> {
    if opts.cluster {
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut kinds = Vec::new();
        if opts.runtimes.current() {
            kinds.push(Runtime::Current);
        }
        if opts.runtimes.multi() {
            kinds.push(Runtime::Multi { workers });
        }
        return cluster::run(opts, kinds);
    }
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
    // The pub/sub workloads' publisher: another process, so that this one's CPU time is the
    // subscriber's alone; pinned, it shares the server's CPU and leaves CPU 0 to the subscriber.
    if workloads.iter().any(Workload::backlog) {
        // A backlog run's messages wait in the server's output buffer for the subscriber: no
        // limit, or the server would disconnect it.
        raw.command_ok(&[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 0 0 0",
        ])?;
    }
    let mut publisher = if workloads.iter().any(Workload::is_pubsub) {
        let p = pubsub::Publisher::spawn(&url)?;
        if pinned {
            target::pin(p.pid(), 1)?;
        }
        Some(p)
    } else {
        None
    };
    let data = Arc::new(Data::new(&workloads));
    data.load(&mut raw)?;

    // After pinning, so that the multi-thread runtime's workers inherit CPU 0.
    let workers = cpus.max(1);
    let mut kinds = Vec::new();
    if opts.runtimes.current() {
        kinds.push(Runtime::Current);
    }
    if opts.runtimes.multi() {
        kinds.push(Runtime::Multi { workers });
    }
    let any_async = opts.clients.iter().any(|c| !c.ends_with("-sync"));
    if !any_async {
        kinds.clear();
    }
    let mut clients = Clients::open(
        opts,
        &url,
        kinds.iter().map(|&k| Rt::new(k)).collect::<Res<_>>()?,
    )?;

    // What is run, in report order: the blocking clients once, then the async ones per runtime.
    let mut entries: Vec<(&str, Option<Runtime>)> = opts
        .clients
        .iter()
        .filter(|c| c.ends_with("-sync"))
        .map(|&c| (c, None))
        .collect();
    for &k in &kinds {
        entries.extend(
            opts.clients
                .iter()
                .filter(|c| !c.ends_with("-sync"))
                .map(|&c| (c, Some(k))),
        );
    }
    let mut rows: Vec<Measurement> = Vec::new();
    for w in &workloads {
        for &(c, rt) in &entries {
            if w.runs_with(rt) {
                rows.push(Measurement::new(&w.name, rt, c, w.commands()));
            }
        }
    }
    // What the harness's own INFO pair costs the server, subtracted from every run's figures.
    let overhead = target::calibrate(&mut raw, 7)?;
    println!(
        "server {}; {} rounds; workloads: {}; runtimes: {}; per INFO pair the server spends \
         {} µs, {} read(s), {} write(s) (subtracted)",
        target.describe(),
        opts.rounds,
        workloads.len(),
        kinds
            .iter()
            .map(|k| match k {
                Runtime::Current => "current-thread".to_owned(),
                Runtime::Multi { workers } => format!("multi-thread ({workers} workers)"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        overhead.cpu_us,
        overhead.reads,
        overhead.writes
    );
    for round in 0..opts.rounds {
        for w in &workloads {
            // Rotate which client goes first, so no client always runs on a warm (or cold) server.
            let n = entries.len();
            for k in 0..n {
                let (c, rt) = entries[(k + round) % n];
                if !w.runs_with(rt) {
                    continue;
                }
                let not_open = || format!("client {c} is not open");
                let on = |e: BoxError| format!("{} on {c}: {e}", w.name);
                let (sample, server, failed) = match pubsub::job(w) {
                    Some(job) => {
                        let mut ctx = pubsub::Ctx {
                            raw: &mut raw,
                            publisher: publisher.as_mut().ok_or("no publisher")?,
                            overhead: &overhead,
                            backlog: w.backlog(),
                        };
                        let o = clients
                            .run_pubsub(c, rt, &job, &mut ctx)
                            .ok_or_else(not_open)?
                            .map_err(on)?;
                        (o.sample, o.server, o.failure)
                    }
                    None => {
                        w.before_run(&mut raw)?;
                        let before = target::server_stats(&mut raw)?;
                        let sample = clients
                            .run(c, rt, w, &data)
                            .ok_or_else(not_open)?
                            .map_err(on)?;
                        let after = target::server_stats(&mut raw)?;
                        (sample, before.delta(&after, &overhead), None)
                    }
                };
                let check = target::check_calls(&w.expected_calls(), &server.calls);
                let check = match (check, failed) {
                    (None, None) => None,
                    (a, b) => Some(a.into_iter().chain(b).collect::<Vec<_>>().join("; ")),
                };
                let row = rows
                    .iter_mut()
                    .find(|r| r.workload == w.name && r.client == c && r.runtime == rt)
                    .expect("a row per workload, runtime and client");
                let opt = |x: Option<f64>, f: fn(f64) -> String| x.map_or("-".into(), f);
                println!(
                    "round {}/{}  {:<11} {:<7} {:<13} {:>7} ops  {:>8.3} s  {:>8} ops/s  {:>6} µs/op  \
                     server {:>6} µs/cmd {:>6} cmds/read  {}",
                    round + 1,
                    opts.rounds,
                    w.name,
                    row.runtime_name(),
                    c,
                    row.ops,
                    sample.wall.as_secs_f64(),
                    report::human(sample.ops_per_sec(row.ops)),
                    report::micros(sample.cpu_us_per_op(row.ops)),
                    opt(server.cpu_us_per_cmd(), report::micros),
                    opt(server.cmds_per_read(), report::per),
                    check.as_deref().unwrap_or("server check ok")
                );
                row.record(round, sample, server, check);
            }
        }
    }
    drop(clients);
    drop(publisher);

    let mut runtime_note = String::from("async clients on tokio's ");
    runtime_note.push_str(match opts.runtimes {
        Runtimes::Current => "current-thread runtime",
        Runtimes::Multi => "multi-thread runtime",
        Runtimes::Both => "current-thread runtime (`current`) and multi-thread runtime (`multi`)",
    });
    if opts.runtimes.multi() {
        runtime_note.push_str(&format!(
            "; multi: {workers} workers, each workload a spawned task (its `conc` tasks spawned \
             onto the workers)"
        ));
        if opts.pin {
            runtime_note.push_str(
                "; pinned, so all workers share CPU 0 (the multi-thread targets are for unpinned runs)",
            );
        }
    }
    let mut notes = Vec::new();
    if workloads.iter().any(Workload::is_pubsub) {
        notes.push(format!(
            "pub/sub: a new subscriber per run (valkey-typed `PubSub::get_message` and \
             `AsyncPubSub::next`, redis-rs `Connection::as_pubsub` and `aio::PubSub::on_message`, \
             fred `SubscriberClient::message_rx` with a broadcast capacity of a whole run), \
             confirmed by `PUBSUB NUMSUB` before the clock starts; a publisher child process (the \
             same for every client) publishes the messages, each with its sequence number, in \
             pipelines of {} PUBLISH; ops/s = messages received per second (from handing the \
             publisher its job to the last message), client CPU = the subscriber's (the publisher \
             is another process), server CPU per PUBLISH includes the delivery; every message is \
             checked (none lost, duplicated or out of order)",
            pubsub::PUBLISH_BATCH
        ));
    }
    let info = RunInfo {
        date: report::utc_now(),
        server: target.describe(),
        pinned,
        rounds: opts.rounds,
        quick: opts.quick,
        notes: vec![
            format!(
                "clients: valkey-typed {} (sync Connection, async MultiplexedConnection), redis {} \
                 (sync Connection, async MultiplexedConnection), fred {}",
                env!("CARGO_PKG_VERSION"),
                REDIS_VERSION,
                FRED_VERSION
            ),
            runtime_note,
            match opts.protocol {
                Some(p) => format!("protocol: RESP{p} for every client"),
                None => {
                    "protocol: each client's default (valkey-typed RESP3, redis-rs and fred RESP2; \
                         the replies of these workloads are the same bytes in both)"
                        .to_owned()
                }
            },
            format!(
                "client CPU: getrusage(RUSAGE_SELF) user+sys of the client process (all threads) \
                 around each run; host has {cpus} CPUs"
            ),
            format!(
                "server: `INFO cpu stats commandstats` through the harness's own connection before \
                 and after each run; server CPU = used_cpu_sys + used_cpu_user (whole server \
                 process) per command run; cmds/read and cmds/write = commands run per \
                 total_reads_processed / total_writes_processed; the INFO pair's own share \
                 (calibrated: {} µs, {} read, {} write) is subtracted and INFO is not counted \
                 as a command",
                overhead.cpu_us, overhead.reads, overhead.writes
            ),
        ]
        .into_iter()
        .chain(notes)
        .collect(),
    };
    let mut md = report::markdown(&info, &rows);
    md.push_str(&targets_section(
        "Targets (ratios to peers in this run)",
        &PINNED_GOALS,
        &rows,
        (!pinned).then_some(
            "Not pinned: these targets are defined for `--pin` runs; shown for information.",
        ),
    ));
    let mt_note = if opts.pin {
        Some("Pinned: these targets are defined for unpinned runs (pinned, all workers share CPU 0); shown for information.")
    } else if opts.rounds < 5 {
        Some("Fewer than the 5 rounds these targets are defined for; shown for information.")
    } else {
        None
    };
    md.push_str(&targets_section(
        "Targets of issue 15 (multi-thread runtime, unpinned)",
        &MULTI_GOALS,
        &rows,
        mt_note,
    ));
    md.push_str(&targets_section(
        "Targets of issue 17 (pub/sub: messages/s and subscriber CPU per message)",
        &PUBSUB_GOALS,
        &rows,
        Some(if opts.quick {
            "--quick counts; shown for information. The blocking subscriber is compared with the \
             async peers on the current-thread runtime."
        } else {
            "The blocking subscriber is compared with the async peers on the current-thread \
             runtime; CPU per message is compared with the peer that received the most messages/s."
        }),
    ));
    md.push_str(&targets_section(
        "Targets of issue 17 on a drained backlog (the subscriber's own speed)",
        &DRAIN_GOALS,
        &rows,
        Some(
            "Every message is published before the subscriber reads any (the server holds them \
             in its output buffer); ops/s = messages drained per second from then on. Only \
             blocking subscribers and the current-thread runtime: on the multi-thread one the \
             peers' background tasks would drain the socket into their memory meanwhile.",
        ),
    ));
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
    /// Server CPU per command; lower is better.
    ServerCpu,
    /// Client CPU per operation against the peer with the most operations per second (not the
    /// most frugal one); lower is better.
    CpuOfFastest,
}

/// One performance target: ours against the best of `peers` on `workload`.
struct Goal {
    workload: &'static str,
    /// `current` or `multi`: the runtime of the async clients compared (blocking ones have none).
    runtime: &'static str,
    ours: &'static str,
    peers: &'static [&'static str],
    metric: Metric,
    limit: f64,
}

const ALL_PEERS: &[&str] = &["redis-sync", "redis-async", "fred"];

/// Issue 15's targets: the shared async connection on the multi-thread runtime, unpinned.
const MULTI_GOALS: [Goal; 7] = [
    Goal {
        workload: "conc64",
        runtime: "multi",
        ours: "valkey-async",
        peers: ASYNC_PEERS,
        metric: Metric::Ops,
        limit: 1.5,
    },
    Goal {
        workload: "conc64",
        runtime: "multi",
        ours: "valkey-async",
        peers: &["redis-async"],
        metric: Metric::Cpu,
        limit: 0.6,
    },
    Goal {
        workload: "conc64",
        runtime: "multi",
        ours: "valkey-async",
        peers: &["redis-async"],
        metric: Metric::ServerCpu,
        limit: 1.0,
    },
    Goal {
        workload: "conc256",
        runtime: "multi",
        ours: "valkey-async",
        peers: ASYNC_PEERS,
        metric: Metric::Ops,
        limit: 1.5,
    },
    Goal {
        workload: "conc256",
        runtime: "multi",
        ours: "valkey-async",
        peers: &["redis-async"],
        metric: Metric::Cpu,
        limit: 0.6,
    },
    Goal {
        workload: "conc256",
        runtime: "multi",
        ours: "valkey-async",
        peers: &["redis-async"],
        metric: Metric::ServerCpu,
        limit: 1.0,
    },
    Goal {
        workload: "pipe",
        runtime: "multi",
        ours: "valkey-async",
        peers: &["redis-async"],
        metric: Metric::Cpu,
        limit: 0.6,
    },
];
const ASYNC_PEERS: &[&str] = &["redis-async", "fred"];

/// Issue 17's targets: each of our subscribers against the best peer's messages/s, and its CPU
/// per message against that peer's.
const PUBSUB_GOALS: [Goal; 12] = pubsub_goals(["pubsub_16B", "pubsub_1KiB"]);

/// Issue 17's targets on a backlog drained: the subscriber's own speed (no multi-thread runs).
const DRAIN_GOALS: [Goal; 8] = drain_goals(["drain_16B", "drain_1KiB"]);

/// A pub/sub target against every peer: ops ≥ 1.5×, CPU per message ≤ 0.6× the fastest's.
const fn pubsub_goal(
    workload: &'static str,
    runtime: &'static str,
    ours: &'static str,
    metric: Metric,
) -> Goal {
    Goal {
        workload,
        runtime,
        ours,
        peers: ALL_PEERS,
        metric,
        limit: match metric {
            Metric::Ops => 1.5,
            _ => 0.6,
        },
    }
}

const fn pubsub_goals(workloads: [&'static str; 2]) -> [Goal; 12] {
    let goal = pubsub_goal;
    let [a, b] = workloads;
    [
        goal(a, "current", "valkey-sync", Metric::Ops),
        goal(a, "current", "valkey-sync", Metric::CpuOfFastest),
        goal(a, "current", "valkey-async", Metric::Ops),
        goal(a, "current", "valkey-async", Metric::CpuOfFastest),
        goal(a, "multi", "valkey-async", Metric::Ops),
        goal(a, "multi", "valkey-async", Metric::CpuOfFastest),
        goal(b, "current", "valkey-sync", Metric::Ops),
        goal(b, "current", "valkey-sync", Metric::CpuOfFastest),
        goal(b, "current", "valkey-async", Metric::Ops),
        goal(b, "current", "valkey-async", Metric::CpuOfFastest),
        goal(b, "multi", "valkey-async", Metric::Ops),
        goal(b, "multi", "valkey-async", Metric::CpuOfFastest),
    ]
}

const fn drain_goals(workloads: [&'static str; 2]) -> [Goal; 8] {
    let goal = pubsub_goal;
    let [a, b] = workloads;
    [
        goal(a, "current", "valkey-sync", Metric::Ops),
        goal(a, "current", "valkey-sync", Metric::CpuOfFastest),
        goal(a, "current", "valkey-async", Metric::Ops),
        goal(a, "current", "valkey-async", Metric::CpuOfFastest),
        goal(b, "current", "valkey-sync", Metric::Ops),
        goal(b, "current", "valkey-sync", Metric::CpuOfFastest),
        goal(b, "current", "valkey-async", Metric::Ops),
        goal(b, "current", "valkey-async", Metric::CpuOfFastest),
    ]
}

/// The first targets (for pinned runs; async clients on the current-thread runtime), as ratios
/// to peers in the same run.
const PINNED_GOALS: [Goal; 8] = [
    Goal {
        workload: "seq",
        runtime: "current",
        ours: "valkey-sync",
        peers: &["redis-sync"],
        metric: Metric::Cpu,
        limit: 0.9,
    },
    Goal {
        workload: "seq",
        runtime: "current",
        ours: "valkey-async",
        peers: &["redis-async"],
        metric: Metric::Cpu,
        limit: 0.9,
    },
    Goal {
        workload: "pipe",
        runtime: "current",
        ours: "valkey-sync",
        peers: &["redis-sync"],
        metric: Metric::Cpu,
        limit: 0.8,
    },
    Goal {
        workload: "conc256",
        runtime: "current",
        ours: "valkey-async",
        peers: ASYNC_PEERS,
        metric: Metric::Ops,
        limit: 1.3,
    },
    Goal {
        workload: "conc256",
        runtime: "current",
        ours: "valkey-async",
        peers: ASYNC_PEERS,
        metric: Metric::Cpu,
        limit: 0.7,
    },
    Goal {
        workload: "lrange_300",
        runtime: "current",
        ours: "valkey-async",
        peers: &["fred"],
        metric: Metric::Cpu,
        limit: 0.8,
    },
    Goal {
        workload: "get_100KiB",
        runtime: "current",
        ours: "valkey-sync",
        peers: ALL_PEERS,
        metric: Metric::Cpu,
        limit: 1.0,
    },
    Goal {
        workload: "get_100KiB",
        runtime: "current",
        ours: "valkey-async",
        peers: ALL_PEERS,
        metric: Metric::Cpu,
        limit: 1.0,
    },
];

/// A section of performance targets: each target's ratio and whether it is met; `note` says why
/// the run does not meet the targets' conditions, if it does not.
fn targets_section(
    title: &str,
    goals: &[Goal],
    rows: &[Measurement],
    note: Option<&str>,
) -> String {
    let value_of = |g: &Goal, c: &str, metric: Metric| {
        let rt = if c.ends_with("-sync") { "-" } else { g.runtime };
        let r = rows
            .iter()
            .find(|r| r.workload == g.workload && r.client == c && r.runtime_name() == rt)?;
        match metric {
            Metric::Cpu | Metric::CpuOfFastest => r.cpu_us_per_op(),
            Metric::Ops => r.ops_per_sec(),
            Metric::ServerCpu => r.server_cpu_us_per_cmd(),
        }
        .map(|s| s.median)
    };
    let value = |g: &Goal, c: &str| value_of(g, c, g.metric);
    let mut s = format!("\n## {title}\n\n");
    if let Some(note) = note {
        s.push_str(note);
        s.push_str("\n\n");
    }
    s.push_str(
        "| target | ours | best peer | ratio | limit | result |\n|---|---:|---|---:|---:|---|\n",
    );
    for g in goals {
        let (what, op) = match g.metric {
            Metric::Cpu | Metric::CpuOfFastest => ("CPU/op", "≤"),
            Metric::Ops => ("ops/s", "≥"),
            Metric::ServerCpu => ("server CPU/cmd", "≤"),
        };
        let peer_text = if g.peers.len() == 1 {
            g.peers[0]
        } else if g.metric == Metric::CpuOfFastest {
            "fastest peer"
        } else {
            "best peer"
        };
        let rt = if g.ours.ends_with("-sync") {
            String::new()
        } else {
            format!(" ({})", g.runtime)
        };
        let name = format!(
            "{}{rt}: {} {what} {op} {}× {peer_text}",
            g.workload, g.ours, g.limit
        );
        let fmt = |v: f64| match g.metric {
            Metric::Cpu | Metric::ServerCpu | Metric::CpuOfFastest => {
                format!("{} µs", report::micros(v))
            }
            Metric::Ops => format!("{} ops/s", report::human(v)),
        };
        let ours = value(g, g.ours);
        let best_by = |metric: Metric| {
            g.peers
                .iter()
                .filter_map(|p| value_of(g, p, metric).map(|v| (v, *p)))
                .reduce(|a, b| {
                    let better = match metric {
                        Metric::Cpu | Metric::ServerCpu | Metric::CpuOfFastest => b.0 < a.0,
                        Metric::Ops => b.0 > a.0,
                    };
                    if better {
                        b
                    } else {
                        a
                    }
                })
        };
        let best = match g.metric {
            Metric::CpuOfFastest => best_by(Metric::Ops)
                .and_then(|(_, peer)| value_of(g, peer, Metric::Cpu).map(|v| (v, peer))),
            m => best_by(m),
        };
        match (ours, best) {
            (Some(o), Some((p, peer))) => {
                let ratio = o / p;
                let met = match g.metric {
                    Metric::Cpu | Metric::ServerCpu | Metric::CpuOfFastest => ratio <= g.limit,
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
