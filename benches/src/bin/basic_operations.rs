//! The seed benchmark (valkey-py's `benchmarks/basic_operations.py`) with our client: nine
//! operations, `-n` requests each, optionally pipelined (`-P`), values of `-s` bytes.
//!
//! `cargo run --release -p valkey-benches --bin basic_operations -- [-n N] [-P P] [-s S]
//! [--url URL] [--async] [--cluster]`

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Duration;
use valkey::pipeline::Pipeline;
use valkey_benches::args::{ArgParser, UsageError};
use valkey_benches::cpu::{measure, Sample};
use valkey_benches::progress::Progress;
use valkey_benches::seed::{keys, SeedData, SeedOp, LIST_KEY, LRANGE_LEN};
use valkey_benches::target::Target;
use valkey_benches::{ops, Res};

const USAGE: &str = "\
usage: basic_operations [-n N] [-P P] [-s S] [--url URL] [--async] [--cluster]

  -n N        requests per operation (default 100000)
  -P P        pipeline P requests (default 1: no pipeline)
  -s S        data size of SET/GET values in bytes (default 2)
  --url URL   server to use (default: start a valkey-server of our own, stopped after)
  --async     use the async multiplexed connection instead of the blocking one
  --cluster   run against a local cluster (not supported yet)
  -h, --help  this text";

struct Options {
    n: usize,
    pipeline: usize,
    size: usize,
    url: Option<String>,
    use_async: bool,
    cluster: bool,
}

fn parse_args() -> Result<Option<Options>, UsageError> {
    let mut o = Options {
        n: 100_000,
        pipeline: 1,
        size: 2,
        url: None,
        use_async: false,
        cluster: false,
    };
    let mut p = ArgParser::from_env();
    while let Some(flag) = p.next_flag()? {
        match flag.as_str() {
            "-n" => o.n = p.positive()?,
            "-P" => o.pipeline = p.positive()?,
            "-s" => o.size = p.positive()?,
            "--url" => o.url = Some(p.value()?),
            "--async" => o.use_async = true,
            "--cluster" => o.cluster = true,
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
            eprintln!("basic_operations: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if opts.cluster {
        eprintln!(
            "basic_operations: --cluster is not supported yet: this client has no cluster \
             support so far (it comes in a later stage)"
        );
        return ExitCode::from(2);
    }
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("basic_operations: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Per-request keys of the operations that have them, made before anything is timed.
struct Keys {
    set_str: Vec<String>,
    set_int: Vec<String>,
}

fn run(opts: &Options) -> Res<()> {
    let target = Target::from_option(opts.url.as_deref())?;
    let client = valkey::Client::open(target.url().as_str())?;
    target.raw()?.command_ok(&["FLUSHALL"])?;
    let data = SeedData::new(opts.size);
    let keys = Keys {
        set_str: keys(SeedOp::SetStr.key_prefix(), opts.n),
        set_int: keys(SeedOp::SetInt.key_prefix(), opts.n),
    };
    println!(
        "server: {}; client: {}; {} requests per operation, pipeline {}, data size {} B\n",
        target.describe(),
        if opts.use_async {
            "valkey async (multiplexed)"
        } else {
            "valkey sync"
        },
        opts.n,
        opts.pipeline,
        opts.size
    );
    let mut results: Vec<(SeedOp, Sample)> = Vec::new();
    let mut sync_con = None;
    let rt;
    let mut async_con = None;
    if opts.use_async {
        rt = Some(
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
        );
        async_con = Some(
            rt.as_ref()
                .expect("just built")
                .block_on(client.get_async_connection())?,
        );
    } else {
        rt = None;
        sync_con = Some(client.get_connection()?);
    }
    for op in SeedOp::ALL {
        let mut progress = Progress::new(op.name(), opts.n as u64);
        let (result, sample) = measure(|| match (&mut sync_con, &async_con, &rt) {
            (Some(con), _, _) => run_sync(con, op, opts, &keys, &data, &mut progress),
            (None, Some(con), Some(rt)) => {
                rt.block_on(run_async(con, op, opts, &keys, &data, &mut progress))
            }
            _ => unreachable!("one connection is open"),
        });
        progress.finish();
        result.map_err(|e| format!("{}: {e}", op.name()))?;
        println!("{} - {} Requests", op.name(), opts.n);
        println!("Duration  = {:.3} s", sample.wall.as_secs_f64());
        println!("Rate = {:.0} ops/s\n", sample.ops_per_sec(opts.n as u64));
        results.push((op, sample));
    }
    print_summary(opts, &results);
    Ok(())
}

fn print_summary(opts: &Options, results: &[(SeedOp, Sample)]) {
    println!("| operation | requests | duration (s) | ops/s | client CPU µs/op |");
    println!("|---|---:|---:|---:|---:|");
    for (op, s) in results {
        println!(
            "| {} | {} | {:.3} | {:.0} | {:.2} |",
            op.name(),
            opts.n,
            s.wall.as_secs_f64(),
            s.ops_per_sec(opts.n as u64),
            s.cpu_us_per_op(opts.n as u64)
        );
    }
    let total: Duration = results.iter().map(|(_, s)| s.wall).sum();
    println!("\ntotal: {:.3} s", total.as_secs_f64());
}

/// Appends request `i` of `op` to a pipeline.
fn push_op(p: &mut Pipeline, op: SeedOp, i: usize, keys: &Keys, data: &SeedData) {
    match op {
        SeedOp::SetStr => drop(p.push(ops::set(&keys.set_str[i], &data.str_value))),
        SeedOp::SetInt => drop(p.push(ops::set_int(&keys.set_int[i], data.int_value))),
        SeedOp::GetStr => drop(p.push(ops::get(&keys.set_str[i]))),
        SeedOp::GetInt => drop(p.push(ops::get(&keys.set_int[i]))),
        SeedOp::Incr => drop(p.push(ops::incr(op.key_prefix()))),
        SeedOp::Lpush => drop(p.push(ops::lpush(LIST_KEY, data.int_value))),
        SeedOp::Lrange300 => drop(p.push(lrange_at(i))),
        SeedOp::Lpop => drop(p.push(ops::lpop(LIST_KEY))),
        SeedOp::Hmset => drop(p.push(ops::hset_fields(op.key_prefix()))),
    }
}

fn lrange_at(i: usize) -> impl valkey::Command<Output = Vec<bytes::Bytes>> {
    ops::lrange(LIST_KEY, i as i64, i as i64 + LRANGE_LEN - 1)
}

fn run_sync(
    con: &mut valkey::sync::Connection,
    op: SeedOp,
    opts: &Options,
    keys: &Keys,
    data: &SeedData,
    progress: &mut Progress,
) -> Res<()> {
    let n = opts.n;
    if opts.pipeline > 1 {
        let mut p = Pipeline::new();
        for i in 0..n {
            push_op(&mut p, op, i, keys, data);
            if p.len() == opts.pipeline || i + 1 == n {
                black_box(con.run(&p)?.check()?);
                p.clear();
                progress.tick(i as u64 + 1);
            }
        }
        return Ok(());
    }
    for i in 0..n {
        match op {
            SeedOp::SetStr => con.send(ops::set(&keys.set_str[i], &data.str_value))?,
            SeedOp::SetInt => con.send(ops::set_int(&keys.set_int[i], data.int_value))?,
            SeedOp::GetStr => drop(black_box(con.send(ops::get(&keys.set_str[i]))?)),
            SeedOp::GetInt => drop(black_box(con.send(ops::get(&keys.set_int[i]))?)),
            SeedOp::Incr => drop(black_box(con.send(ops::incr(op.key_prefix()))?)),
            SeedOp::Lpush => drop(black_box(con.send(ops::lpush(LIST_KEY, data.int_value))?)),
            SeedOp::Lrange300 => drop(black_box(con.send(lrange_at(i))?)),
            SeedOp::Lpop => drop(black_box(con.send(ops::lpop(LIST_KEY))?)),
            SeedOp::Hmset => drop(black_box(con.send(ops::hset_fields(op.key_prefix()))?)),
        }
        progress.tick(i as u64 + 1);
    }
    Ok(())
}

async fn run_async(
    con: &valkey::aio::MultiplexedConnection,
    op: SeedOp,
    opts: &Options,
    keys: &Keys,
    data: &SeedData,
    progress: &mut Progress,
) -> Res<()> {
    let n = opts.n;
    if opts.pipeline > 1 {
        let mut p = Pipeline::new();
        for i in 0..n {
            push_op(&mut p, op, i, keys, data);
            if p.len() == opts.pipeline || i + 1 == n {
                black_box(con.run(&p).await?.check()?);
                p.clear();
                progress.tick(i as u64 + 1);
            }
        }
        return Ok(());
    }
    for i in 0..n {
        match op {
            SeedOp::SetStr => {
                con.send(ops::set(&keys.set_str[i], &data.str_value))
                    .await?
            }
            SeedOp::SetInt => {
                con.send(ops::set_int(&keys.set_int[i], data.int_value))
                    .await?
            }
            SeedOp::GetStr => drop(black_box(con.send(ops::get(&keys.set_str[i])).await?)),
            SeedOp::GetInt => drop(black_box(con.send(ops::get(&keys.set_int[i])).await?)),
            SeedOp::Incr => drop(black_box(con.send(ops::incr(op.key_prefix())).await?)),
            SeedOp::Lpush => drop(black_box(
                con.send(ops::lpush(LIST_KEY, data.int_value)).await?,
            )),
            SeedOp::Lrange300 => drop(black_box(con.send(lrange_at(i)).await?)),
            SeedOp::Lpop => drop(black_box(con.send(ops::lpop(LIST_KEY)).await?)),
            SeedOp::Hmset => drop(black_box(
                con.send(ops::hset_fields(op.key_prefix())).await?,
            )),
        }
        progress.tick(i as u64 + 1);
    }
    Ok(())
}
