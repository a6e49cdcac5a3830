//! The cluster workloads (`--cluster`): a 3-primary `valkey-server` cluster on loopback started
//! here, and the async cluster clients side by side in the same run — ours
//! (`aio::ClusterConnection`), redis-rs's `cluster_async::ClusterConnection` and fred's clustered
//! `Client` — on the single-node workloads' runner (`clients::run_async`), with the server
//! counters summed over the primaries.

use crate::clients::{self, AsyncDriver, Fred};
use crate::workloads::{Data, Workload};
use crate::{peer_url, Options, Rt, FRED_VERSION, REDIS_VERSION};
use bytes::Bytes;
use fred::prelude::ClientLike;
use futures_util::future::join_all;
use std::collections::BTreeMap;
use std::sync::Arc;
use valkey::cmd;
use valkey::pipeline::{Handle, Pipeline};
use valkey_benches::cpu::Sample;
use valkey_benches::report::{self, Measurement, RunInfo, Runtime};
use valkey_benches::seed::HASH_FIELDS;
use valkey_benches::target::{self, Overhead, ServerDelta, ServerStats};
use valkey_benches::Res;
use valkey_tests::{Cluster, ClusterOptions, RespConn};

/// The clients that have a cluster mode, in report order (all async).
pub const CLIENTS: [&str; 3] = ["valkey-async", "redis-async", "fred"];

// ---------------------------------------------------------------- valkey (ours)

/// Our async cluster connection; each clone has its own pipeline buffer.
pub struct ValkeyCluster {
    con: valkey::aio::ClusterConnection,
    pipeline: Pipeline,
    handles: Vec<Handle<Option<Bytes>>>,
}

impl ValkeyCluster {
    fn new(con: valkey::aio::ClusterConnection) -> ValkeyCluster {
        ValkeyCluster {
            con,
            pipeline: Pipeline::new(),
            handles: Vec::new(),
        }
    }
}

impl Clone for ValkeyCluster {
    fn clone(&self) -> Self {
        ValkeyCluster::new(self.con.clone())
    }
}

impl AsyncDriver for ValkeyCluster {
    async fn set(&mut self, key: &str, value: &Bytes) -> Res<()> {
        Ok(self.con.send(cmd::set(key, &value[..])).await?)
    }
    async fn set_int(&mut self, key: &str, value: i64) -> Res<()> {
        Ok(self.con.send(cmd::set(key, value)).await?)
    }
    async fn get(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Bytes> = self.con.send(cmd::get(key)).await?;
        Ok(v.map(|v| v.len()))
    }
    async fn incr(&mut self, key: &str) -> Res<i64> {
        Ok(self.con.send(cmd::incr(key)).await?)
    }
    async fn lpush(&mut self, key: &str, value: i64) -> Res<i64> {
        Ok(self.con.send(cmd::lpush(key, [value])).await?)
    }
    async fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Res<usize> {
        let v: Vec<Bytes> = self.con.send(cmd::lrange(key, start, stop)).await?;
        Ok(v.len())
    }
    async fn lpop(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Bytes> = self.con.send(cmd::lpop(key)).await?;
        Ok(v.map(|v| v.len()))
    }
    async fn hset(&mut self, key: &str) -> Res<i64> {
        Ok(self.con.send(cmd::hset(key, HASH_FIELDS)).await?)
    }
    /// One cluster pipeline: split per primary, sent to all at once, replies in order.
    async fn pipe(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        clients::fill_pipeline(&mut self.pipeline, &mut self.handles, keys, value);
        let replies = self.con.run(&self.pipeline).await?.check()?;
        let mut total = 0;
        for h in &self.handles {
            total += replies.get(*h)?.map_or(0, |v| v.len());
        }
        Ok(total)
    }
}

// ---------------------------------------------------------------- redis-rs

/// redis-rs's async cluster connection refuses a pipeline whose keys are in several slots
/// ("Received crossed slots in pipeline"), so the 100 commands go out at once as separate
/// requests, which its per-node multiplexed connections pipeline on the wire.
impl clients::RedisCon for redis::cluster_async::ClusterConnection {
    async fn pipe_keys(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        let sets = keys.iter().map(|k| {
            let mut con = self.clone();
            async move { redis::AsyncCommands::set::<_, _, ()>(&mut con, k, &value[..]).await }
        });
        for r in join_all(sets).await {
            r?;
        }
        let gets = keys.iter().map(|k| {
            let mut con = self.clone();
            async move { redis::AsyncCommands::get::<_, Option<Vec<u8>>>(&mut con, k).await }
        });
        let mut total = 0;
        for r in join_all(gets).await {
            total += r?.map_or(0, |v| v.len());
        }
        Ok(total)
    }
}

/// redis-rs's `cluster_async::ClusterConnection`.
type RedisCluster = clients::RedisAsync<redis::cluster_async::ClusterConnection>;

// ---------------------------------------------------------------- the run

/// The async cluster clients on one runtime.
struct ClusterClients {
    rt: Rt,
    valkey: Option<ValkeyCluster>,
    redis: Option<RedisCluster>,
    fred: Option<Fred>,
}

impl ClusterClients {
    fn open(opts: &Options, urls: &[String], rt: Rt) -> Res<ClusterClients> {
        let on = |c: &str| opts.clients.contains(&c);
        let protocol = opts.protocol;
        let valkey = if on("valkey-async") {
            let mut seeds = Vec::new();
            for url in urls {
                let mut info = valkey::ConnectionInfo::from_url(url)?;
                if let Some(p) = protocol {
                    info = info.with_protocol(if p == 2 {
                        valkey::Protocol::Resp2
                    } else {
                        valkey::Protocol::Resp3
                    });
                }
                seeds.push(info);
            }
            let client = valkey::ClusterClient::open(seeds)?;
            Some(ValkeyCluster::new(
                rt.rt.block_on(client.get_async_connection())?,
            ))
        } else {
            None
        };
        let peer_urls: Vec<String> = urls.iter().map(|u| peer_url(u)).collect();
        let redis = if on("redis-async") {
            let mut builder = redis::cluster::ClusterClient::builder(peer_urls.clone());
            if let Some(p) = protocol {
                builder = builder.use_protocol(if p == 2 {
                    redis::ProtocolVersion::RESP2
                } else {
                    redis::ProtocolVersion::RESP3
                });
            }
            let client = builder.build()?;
            Some(clients::RedisAsync(
                rt.rt.block_on(client.get_async_connection())?,
            ))
        } else {
            None
        };
        let fred = if on("fred") {
            let first = peer_urls[0].trim_start_matches("redis://");
            let others: Vec<String> = peer_urls[1..]
                .iter()
                .map(|u| format!("node={}", u.trim_start_matches("redis://")))
                .collect();
            let url = format!("redis-cluster://{first}?{}", others.join("&"));
            let mut config = fred::prelude::Config::from_url(&url)?;
            if let Some(p) = protocol {
                config.version = if p == 2 {
                    fred::types::RespVersion::RESP2
                } else {
                    fred::types::RespVersion::RESP3
                };
            }
            let client = fred::prelude::Builder::from_config(config).build()?;
            rt.rt.block_on(client.init())?;
            Some(Fred(client))
        } else {
            None
        };
        Ok(ClusterClients {
            rt,
            valkey,
            redis,
            fred,
        })
    }

    fn run(&mut self, name: &str, w: &Workload, data: &Arc<Data>) -> Option<Res<Sample>> {
        Some(match name {
            "valkey-async" => self.rt.run(&mut self.valkey, w, data),
            "redis-async" => self.rt.run(&mut self.redis, w, data),
            "fred" => self.rt.run(&mut self.fred, w, data),
            _ => return None,
        })
    }
}

/// One reading of every primary's counters.
fn read_all(raws: &mut [RespConn]) -> Res<Vec<ServerStats>> {
    raws.iter_mut().map(target::server_stats).collect()
}

/// What the primaries did between two readings, summed (each less its own `INFO` overhead).
fn summed(before: &[ServerStats], after: &[ServerStats], overheads: &[Overhead]) -> ServerDelta {
    let mut total = ServerDelta {
        cpu_us: Some(0),
        calls: BTreeMap::new(),
        reads: Some(0),
        writes: Some(0),
    };
    for ((b, a), o) in before.iter().zip(after).zip(overheads) {
        let d = b.delta(a, o);
        let add = |t: Option<u64>, x: Option<u64>| Some(t? + x?);
        total.cpu_us = add(total.cpu_us, d.cpu_us);
        total.reads = add(total.reads, d.reads);
        total.writes = add(total.writes, d.writes);
        for (name, n) in d.calls {
            *total.calls.entry(name).or_default() += n;
        }
    }
    total
}

/// The workload's own commands must have run exactly as sent (none lost, none twice); the
/// clients' topology reads (`CLUSTER SLOTS`/`SHARDS`, ...) may come on top and are not errors.
fn check(w: &Workload, ran: &BTreeMap<String, u64>) -> Option<String> {
    let expected = w.expected_calls();
    let own: BTreeMap<String, u64> = ran
        .iter()
        .filter(|(name, _)| expected.iter().any(|(e, _)| e == name))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    target::check_calls(&expected, &own)
}

/// Runs the cluster workloads and writes `cluster-latest.{md,jsonl}` into `--out`; `false`
/// when a server check failed.
pub fn run(opts: &Options, kinds: Vec<Runtime>) -> Res<bool> {
    let mut workloads = Workload::cluster(opts.quick);
    if let Some(only) = &opts.only {
        workloads.retain(|w| only.contains(&w.name));
        if workloads.is_empty() {
            return Err(format!(
                "--cluster --only: none of {} is a cluster workload (known: {})",
                only.join(", "),
                Workload::cluster(false)
                    .iter()
                    .map(|w| w.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
            .into());
        }
    }
    let clients: Vec<&'static str> = CLIENTS
        .into_iter()
        .filter(|c| opts.clients.contains(c))
        .collect();
    if clients.is_empty() || kinds.is_empty() {
        return Err("--cluster compares the async clients: valkey-async, redis-async, fred".into());
    }
    let cluster: Cluster = ClusterOptions::valkey().replicas_per_primary(0).start()?;
    let urls = cluster.urls();
    let mut raws = cluster
        .primaries()
        .iter()
        .map(|s| s.raw())
        .collect::<Result<Vec<_>, _>>()?;
    for raw in &mut raws {
        raw.command_ok(&["FLUSHALL"])?;
    }
    let overheads = raws
        .iter_mut()
        .map(|r| target::calibrate(r, 7))
        .collect::<Res<Vec<_>>>()?;
    let data = Arc::new(Data::new(&workloads));
    let mut runtimes = kinds
        .iter()
        .map(|&k| ClusterClients::open(opts, &urls, Rt::new(k)?))
        .collect::<Res<Vec<_>>>()?;

    let entries: Vec<(&str, Runtime)> = kinds
        .iter()
        .flat_map(|&k| clients.iter().map(move |&c| (c, k)))
        .collect();
    let mut rows: Vec<Measurement> = Vec::new();
    for w in &workloads {
        for &(c, rt) in &entries {
            rows.push(Measurement::new(&w.name, Some(rt), c, w.commands()));
        }
    }
    let server = format!(
        "valkey-server {} cluster of {} primaries (no replicas) on 127.0.0.1, started by the bench",
        cluster.nodes()[0].version(),
        cluster.primaries().len()
    );
    println!(
        "{server}; {} rounds; workloads: {}",
        opts.rounds,
        workloads.len()
    );
    for round in 0..opts.rounds {
        for w in &workloads {
            let n = entries.len();
            for k in 0..n {
                let (c, rt) = entries[(k + round) % n];
                let clients = runtimes
                    .iter_mut()
                    .find(|a| a.rt.kind == rt)
                    .ok_or("runtime not open")?;
                let before = read_all(&mut raws)?;
                let sample = clients
                    .run(c, w, &data)
                    .ok_or_else(|| format!("client {c} is not open"))?
                    .map_err(|e| format!("{} on {c}: {e}", w.name))?;
                let after = read_all(&mut raws)?;
                let delta = summed(&before, &after, &overheads);
                let failed = check(w, &delta.calls);
                let row = rows
                    .iter_mut()
                    .find(|r| r.workload == w.name && r.client == c && r.runtime == Some(rt))
                    .expect("a row per workload, runtime and client");
                println!(
                    "round {}/{}  {:<15} {:<7} {:<13} {:>7} ops  {:>8.3} s  {:>8} ops/s  {:>6} µs/op  \
                     server {:>6} µs/cmd  {}",
                    round + 1,
                    opts.rounds,
                    w.name,
                    row.runtime_name(),
                    c,
                    row.ops,
                    sample.wall.as_secs_f64(),
                    report::human(sample.ops_per_sec(row.ops)),
                    report::micros(sample.cpu_us_per_op(row.ops)),
                    delta
                        .cpu_us_per_cmd()
                        .map_or("-".into(), report::micros),
                    failed.as_deref().unwrap_or("server check ok")
                );
                row.record(round, sample, delta, failed);
            }
        }
    }
    drop(runtimes);
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let info = RunInfo {
        date: report::utc_now(),
        server,
        pinned: false,
        rounds: opts.rounds,
        quick: opts.quick,
        notes: vec![
            format!(
                "clients: valkey-typed {} (aio::ClusterConnection), redis {} \
                 (cluster_async::ClusterConnection), fred {} (clustered Client); every client \
                 seeded with all 3 primaries",
                env!("CARGO_PKG_VERSION"),
                REDIS_VERSION,
                FRED_VERSION
            ),
            "cluster_conc256: 256 tasks on one shared connection, each SET then GET of its own \
             key (`conc:N`, spread over the slots of all 3 primaries); cluster_pipe100: \
             pipelines of 50 SET + 50 GET over 50 keys spread over the slots of all 3 primaries, one after the other \
             (ours: one cluster pipeline, split per primary; fred: one pipeline; redis-rs: the \
             100 commands sent at once as separate requests, because its async cluster \
             connection refuses pipelines over several slots)"
                .to_owned(),
            format!(
                "client CPU: getrusage(RUSAGE_SELF) user+sys of the client process around each \
                 run; host has {cpus} CPUs, shared with the 3 servers"
            ),
            "server: `INFO cpu stats commandstats` of every primary before and after each run, \
             summed, each less its own calibrated INFO pair; server CPU per command counts \
             every command run (topology reads included); the check counts only SET and GET, \
             which must match exactly"
                .to_owned(),
        ],
    };
    let md = report::markdown(&info, &rows);
    print!("\n{md}");
    std::fs::create_dir_all(&opts.out)?;
    std::fs::write(opts.out.join("cluster-latest.md"), &md)?;
    std::fs::write(
        opts.out.join("cluster-latest.jsonl"),
        report::json_lines(&info, &rows),
    )?;
    println!("\nwrote {}/cluster-latest.{{md,jsonl}}", opts.out.display());
    Ok(rows.iter().all(|r| r.check_failures.is_empty()))
}
