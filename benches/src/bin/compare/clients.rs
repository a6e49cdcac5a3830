//! The clients compared, behind two small traits (blocking and async) with one method per
//! operation, so that every workload is written once and runs on every client. Each method is
//! the client's idiomatic call; the generic runners are monomorphized, so the traits cost nothing.

use crate::workloads::{Data, Kind, Workload, LPOP_KEY, LPUSH_KEY, LRANGE_KEY, PIPE_HALF};
use bytes::Bytes;
use fred::prelude::{HashesInterface, KeysInterface, ListInterface};
use redis::Commands;
use std::future::Future;
use std::hint::black_box;
use valkey::pipeline::{Handle, Pipeline};
use valkey_benches::ops;
use valkey_benches::seed::{SeedOp, HASH_FIELDS, HASH_KEY, LRANGE_LEN};
use valkey_benches::Res;

/// A blocking client.
pub trait SyncDriver {
    fn set(&mut self, key: &str, value: &Bytes) -> Res<()>;
    fn set_int(&mut self, key: &str, value: i64) -> Res<()>;
    /// The value's length, or `None` for nil.
    fn get(&mut self, key: &str) -> Res<Option<usize>>;
    fn incr(&mut self, key: &str) -> Res<i64>;
    fn lpush(&mut self, key: &str, value: i64) -> Res<i64>;
    /// How many elements came back.
    fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Res<usize>;
    fn lpop(&mut self, key: &str) -> Res<Option<usize>>;
    fn hset(&mut self, key: &str) -> Res<i64>;
    /// One pipeline: SET each of `keys`, then GET each; the GET values' total length.
    fn pipe(&mut self, keys: &[String], value: &Bytes) -> Res<usize>;
}

/// An async client; clones share one connection. The futures are `Send`, so that the workloads
/// can run as spawned tasks on the multi-thread runtime.
pub trait AsyncDriver: Clone + Send + Sync + 'static {
    fn set(&mut self, key: &str, value: &Bytes) -> impl Future<Output = Res<()>> + Send;
    fn set_int(&mut self, key: &str, value: i64) -> impl Future<Output = Res<()>> + Send;
    fn get(&mut self, key: &str) -> impl Future<Output = Res<Option<usize>>> + Send;
    fn incr(&mut self, key: &str) -> impl Future<Output = Res<i64>> + Send;
    fn lpush(&mut self, key: &str, value: i64) -> impl Future<Output = Res<i64>> + Send;
    fn lrange(
        &mut self,
        key: &str,
        start: i64,
        stop: i64,
    ) -> impl Future<Output = Res<usize>> + Send;
    fn lpop(&mut self, key: &str) -> impl Future<Output = Res<Option<usize>>> + Send;
    fn hset(&mut self, key: &str) -> impl Future<Output = Res<i64>> + Send;
    fn pipe(&mut self, keys: &[String], value: &Bytes) -> impl Future<Output = Res<usize>> + Send;
}

/// Spawns a task of a `conc` workload: on the current `LocalSet` on the current-thread runtime
/// (as before there was a multi-thread one, so its figures stay comparable), on the runtime's
/// workers otherwise.
fn spawn_task<F>(f: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    match tokio::runtime::Handle::current().runtime_flavor() {
        tokio::runtime::RuntimeFlavor::CurrentThread => tokio::task::spawn_local(f),
        _ => tokio::spawn(f),
    }
}

fn expect_len(got: Option<usize>, want: usize, what: &str) -> Res<()> {
    if got != Some(want) {
        return Err(format!("{what}: expected a value of {want} bytes, got {got:?}").into());
    }
    Ok(())
}

fn expect_eq(got: usize, want: usize, what: &str) -> Res<()> {
    if got != want {
        return Err(format!("{what}: expected {want}, got {got}").into());
    }
    Ok(())
}

/// Runs one workload on a blocking client (not the async-only ones).
pub fn run_sync<D: SyncDriver>(d: &mut D, w: &Workload, data: &Data) -> Res<()> {
    match w.kind {
        Kind::Seq { n } => {
            let keys = &data.seq_keys[..n];
            for k in keys {
                d.set(k, &data.small)?;
            }
            for k in keys {
                expect_len(d.get(k)?, data.small.len(), "GET")?;
            }
        }
        Kind::Pipe { batches } => {
            for _ in 0..batches {
                let got = d.pipe(&data.pipe_keys, &data.small)?;
                expect_eq(got, PIPE_HALF * data.small.len(), "pipeline GET bytes")?;
            }
        }
        Kind::Conc { .. } => return Err("conc workloads need an async client".into()),
        Kind::PubSub { .. } => return Err("pub/sub workloads are run by `pubsub`".into()),
        Kind::Seed { op, n } => {
            let s = &data.seed;
            for i in 0..n {
                match op {
                    SeedOp::SetStr => d.set(&data.set_str_keys[i], &s.str_value)?,
                    SeedOp::SetInt => d.set_int(&data.set_int_keys[i], s.int_value)?,
                    SeedOp::GetStr => {
                        expect_len(d.get(&data.set_str_keys[i])?, s.str_value.len(), "GET")?
                    }
                    SeedOp::GetInt => drop(black_box(d.get(&data.set_int_keys[i])?)),
                    SeedOp::Incr => drop(black_box(d.incr(op.key_prefix())?)),
                    SeedOp::Lpush => drop(black_box(d.lpush(LPUSH_KEY, s.int_value)?)),
                    SeedOp::Lrange300 => {
                        let got = d.lrange(LRANGE_KEY, i as i64, i as i64 + LRANGE_LEN - 1)?;
                        expect_eq(got, LRANGE_LEN as usize, "LRANGE length")?
                    }
                    SeedOp::Lpop => expect_len(d.lpop(LPOP_KEY)?, 2, "LPOP")?,
                    SeedOp::Hmset => drop(black_box(d.hset(HASH_KEY)?)),
                }
            }
        }
        Kind::Get { size, n } => {
            let (key, _) = data.value(size);
            for _ in 0..n {
                expect_len(d.get(key)?, size, "GET")?;
            }
        }
    }
    Ok(())
}

/// Runs one workload on an async client; `conc` spawns its tasks (see [`spawn_task`]).
pub async fn run_async<D: AsyncDriver>(d: &mut D, w: &Workload, data: &Data) -> Res<()> {
    match w.kind {
        Kind::Seq { n } => {
            let keys = &data.seq_keys[..n];
            for k in keys {
                d.set(k, &data.small).await?;
            }
            for k in keys {
                expect_len(d.get(k).await?, data.small.len(), "GET")?;
            }
        }
        Kind::Pipe { batches } => {
            for _ in 0..batches {
                let got = d.pipe(&data.pipe_keys, &data.small).await?;
                expect_eq(got, PIPE_HALF * data.small.len(), "pipeline GET bytes")?;
            }
        }
        Kind::Conc { tasks, per_task } => {
            let mut handles = Vec::with_capacity(tasks);
            for t in 0..tasks {
                let mut d = d.clone();
                let value = data.small.clone();
                handles.push(spawn_task(async move {
                    let key = format!("conc:{t}");
                    for _ in 0..per_task / 2 {
                        d.set(&key, &value).await.map_err(|e| e.to_string())?;
                        let got = d.get(&key).await.map_err(|e| e.to_string())?;
                        if got != Some(value.len()) {
                            return Err(format!("GET {key}: got {got:?}"));
                        }
                    }
                    Ok::<(), String>(())
                }));
            }
            for h in handles {
                h.await??;
            }
        }
        Kind::Seed { op, n } => {
            let s = &data.seed;
            for i in 0..n {
                match op {
                    SeedOp::SetStr => d.set(&data.set_str_keys[i], &s.str_value).await?,
                    SeedOp::SetInt => d.set_int(&data.set_int_keys[i], s.int_value).await?,
                    SeedOp::GetStr => expect_len(
                        d.get(&data.set_str_keys[i]).await?,
                        s.str_value.len(),
                        "GET",
                    )?,
                    SeedOp::GetInt => drop(black_box(d.get(&data.set_int_keys[i]).await?)),
                    SeedOp::Incr => drop(black_box(d.incr(op.key_prefix()).await?)),
                    SeedOp::Lpush => drop(black_box(d.lpush(LPUSH_KEY, s.int_value).await?)),
                    SeedOp::Lrange300 => {
                        let got = d
                            .lrange(LRANGE_KEY, i as i64, i as i64 + LRANGE_LEN - 1)
                            .await?;
                        expect_eq(got, LRANGE_LEN as usize, "LRANGE length")?
                    }
                    SeedOp::Lpop => expect_len(d.lpop(LPOP_KEY).await?, 2, "LPOP")?,
                    SeedOp::Hmset => drop(black_box(d.hset(HASH_KEY).await?)),
                }
            }
        }
        Kind::Get { size, n } => {
            let (key, _) = data.value(size);
            for _ in 0..n {
                expect_len(d.get(key).await?, size, "GET")?;
            }
        }
        Kind::PubSub { .. } => return Err("pub/sub workloads are run by `pubsub`".into()),
    }
    Ok(())
}

// ---------------------------------------------------------------- valkey (ours), blocking

/// Our blocking connection, with a reusable run-time pipeline.
pub struct ValkeySync {
    con: valkey::sync::Connection,
    pipeline: Pipeline,
    handles: Vec<Handle<Option<Bytes>>>,
}

impl ValkeySync {
    pub fn new(con: valkey::sync::Connection) -> ValkeySync {
        ValkeySync {
            con,
            pipeline: Pipeline::new(),
            handles: Vec::new(),
        }
    }
}

impl SyncDriver for ValkeySync {
    fn set(&mut self, key: &str, value: &Bytes) -> Res<()> {
        Ok(self.con.send(ops::set(key, value))?)
    }
    fn set_int(&mut self, key: &str, value: i64) -> Res<()> {
        Ok(self.con.send(ops::set_int(key, value))?)
    }
    fn get(&mut self, key: &str) -> Res<Option<usize>> {
        Ok(self.con.send(ops::get(key))?.map(|v| v.len()))
    }
    fn incr(&mut self, key: &str) -> Res<i64> {
        Ok(self.con.send(ops::incr(key))?)
    }
    fn lpush(&mut self, key: &str, value: i64) -> Res<i64> {
        Ok(self.con.send(ops::lpush(key, value))?)
    }
    fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Res<usize> {
        Ok(self.con.send(ops::lrange(key, start, stop))?.len())
    }
    fn lpop(&mut self, key: &str) -> Res<Option<usize>> {
        Ok(self.con.send(ops::lpop(key))?.map(|v| v.len()))
    }
    fn hset(&mut self, key: &str) -> Res<i64> {
        Ok(self.con.send(ops::hset_fields(key))?)
    }
    fn pipe(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        fill_pipeline(&mut self.pipeline, &mut self.handles, keys, value);
        let replies = self.con.run(&self.pipeline)?.check()?;
        let mut total = 0;
        for h in &self.handles {
            total += replies.get(*h)?.map_or(0, |v| v.len());
        }
        Ok(total)
    }
}

pub(crate) fn fill_pipeline(
    p: &mut Pipeline,
    handles: &mut Vec<Handle<Option<Bytes>>>,
    keys: &[String],
    value: &Bytes,
) {
    p.clear();
    handles.clear();
    for k in keys {
        p.push(ops::set(k, value));
    }
    for k in keys {
        handles.push(p.push(ops::get(k)));
    }
}

// ---------------------------------------------------------------- valkey (ours), async

/// Our multiplexed async connection; each clone has its own pipeline buffer.
pub struct ValkeyAsync {
    con: valkey::aio::MultiplexedConnection,
    pipeline: Pipeline,
    handles: Vec<Handle<Option<Bytes>>>,
}

impl ValkeyAsync {
    pub fn new(con: valkey::aio::MultiplexedConnection) -> ValkeyAsync {
        ValkeyAsync {
            con,
            pipeline: Pipeline::new(),
            handles: Vec::new(),
        }
    }
}

impl Clone for ValkeyAsync {
    fn clone(&self) -> Self {
        ValkeyAsync::new(self.con.clone())
    }
}

impl AsyncDriver for ValkeyAsync {
    async fn set(&mut self, key: &str, value: &Bytes) -> Res<()> {
        Ok(self.con.send(ops::set(key, value)).await?)
    }
    async fn set_int(&mut self, key: &str, value: i64) -> Res<()> {
        Ok(self.con.send(ops::set_int(key, value)).await?)
    }
    async fn get(&mut self, key: &str) -> Res<Option<usize>> {
        Ok(self.con.send(ops::get(key)).await?.map(|v| v.len()))
    }
    async fn incr(&mut self, key: &str) -> Res<i64> {
        Ok(self.con.send(ops::incr(key)).await?)
    }
    async fn lpush(&mut self, key: &str, value: i64) -> Res<i64> {
        Ok(self.con.send(ops::lpush(key, value)).await?)
    }
    async fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Res<usize> {
        Ok(self.con.send(ops::lrange(key, start, stop)).await?.len())
    }
    async fn lpop(&mut self, key: &str) -> Res<Option<usize>> {
        Ok(self.con.send(ops::lpop(key)).await?.map(|v| v.len()))
    }
    async fn hset(&mut self, key: &str) -> Res<i64> {
        Ok(self.con.send(ops::hset_fields(key)).await?)
    }
    async fn pipe(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        fill_pipeline(&mut self.pipeline, &mut self.handles, keys, value);
        let replies = self.con.run(&self.pipeline).await?.check()?;
        let mut total = 0;
        for h in &self.handles {
            total += replies.get(*h)?.map_or(0, |v| v.len());
        }
        Ok(total)
    }
}

// ---------------------------------------------------------------- redis-rs, blocking

/// redis-rs's blocking `Connection`.
pub struct RedisSync(pub redis::Connection);

fn hset_cmd(key: &str) -> redis::Cmd {
    let mut c = redis::cmd("HSET");
    c.arg(key);
    for (f, v) in HASH_FIELDS {
        c.arg(f).arg(v);
    }
    c
}

fn redis_pipe(keys: &[String], value: &Bytes) -> redis::Pipeline {
    let mut p = redis::pipe();
    for k in keys {
        p.set(k, &value[..]).ignore();
    }
    for k in keys {
        p.get(k);
    }
    p
}

impl SyncDriver for RedisSync {
    fn set(&mut self, key: &str, value: &Bytes) -> Res<()> {
        Ok(Commands::set(&mut self.0, key, &value[..])?)
    }
    fn set_int(&mut self, key: &str, value: i64) -> Res<()> {
        Ok(Commands::set(&mut self.0, key, value)?)
    }
    fn get(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Vec<u8>> = Commands::get(&mut self.0, key)?;
        Ok(v.map(|v| v.len()))
    }
    fn incr(&mut self, key: &str) -> Res<i64> {
        Ok(redis::cmd("INCR").arg(key).query(&mut self.0)?)
    }
    fn lpush(&mut self, key: &str, value: i64) -> Res<i64> {
        Ok(Commands::lpush(&mut self.0, key, value)?)
    }
    fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Res<usize> {
        let v: Vec<Vec<u8>> = Commands::lrange(&mut self.0, key, start as isize, stop as isize)?;
        Ok(v.len())
    }
    fn lpop(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Vec<u8>> = Commands::lpop(&mut self.0, key, None)?;
        Ok(v.map(|v| v.len()))
    }
    fn hset(&mut self, key: &str) -> Res<i64> {
        Ok(hset_cmd(key).query(&mut self.0)?)
    }
    fn pipe(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        let got: Vec<Vec<u8>> = redis_pipe(keys, value).query(&mut self.0)?;
        Ok(got.iter().map(|v| v.len()).sum())
    }
}

// ---------------------------------------------------------------- redis-rs, async

/// A redis-rs async connection (`RedisAsync`'s inside): its `MultiplexedConnection`, or its
/// cluster connection in the cluster workloads; they differ only in how a pipeline goes.
pub trait RedisCon: redis::aio::ConnectionLike + Clone + Send + Sync + 'static {
    /// The `pipe` workload's SETs and GETs of `keys`; the bytes read back.
    fn pipe_keys(
        &mut self,
        keys: &[String],
        value: &Bytes,
    ) -> impl Future<Output = Res<usize>> + Send;
}

impl RedisCon for redis::aio::MultiplexedConnection {
    async fn pipe_keys(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        let got: Vec<Vec<u8>> = redis_pipe(keys, value).query_async(self).await?;
        Ok(got.iter().map(|v| v.len()).sum())
    }
}

/// redis-rs's async connection (tokio): `MultiplexedConnection` unless said otherwise.
#[derive(Clone)]
pub struct RedisAsync<C = redis::aio::MultiplexedConnection>(pub C);

impl<C: RedisCon> AsyncDriver for RedisAsync<C> {
    async fn set(&mut self, key: &str, value: &Bytes) -> Res<()> {
        Ok(redis::AsyncCommands::set(&mut self.0, key, &value[..]).await?)
    }
    async fn set_int(&mut self, key: &str, value: i64) -> Res<()> {
        Ok(redis::AsyncCommands::set(&mut self.0, key, value).await?)
    }
    async fn get(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Vec<u8>> = redis::AsyncCommands::get(&mut self.0, key).await?;
        Ok(v.map(|v| v.len()))
    }
    async fn incr(&mut self, key: &str) -> Res<i64> {
        Ok(redis::cmd("INCR").arg(key).query_async(&mut self.0).await?)
    }
    async fn lpush(&mut self, key: &str, value: i64) -> Res<i64> {
        Ok(redis::AsyncCommands::lpush(&mut self.0, key, value).await?)
    }
    async fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Res<usize> {
        let v: Vec<Vec<u8>> =
            redis::AsyncCommands::lrange(&mut self.0, key, start as isize, stop as isize).await?;
        Ok(v.len())
    }
    async fn lpop(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Vec<u8>> = redis::AsyncCommands::lpop(&mut self.0, key, None).await?;
        Ok(v.map(|v| v.len()))
    }
    async fn hset(&mut self, key: &str) -> Res<i64> {
        Ok(hset_cmd(key).query_async(&mut self.0).await?)
    }
    async fn pipe(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        self.0.pipe_keys(keys, value).await
    }
}

// ---------------------------------------------------------------- fred

/// fred's `Client` (tokio, auto-pipelining on by default).
#[derive(Clone)]
pub struct Fred(pub fred::prelude::Client);

fn fred_len(v: &fred::prelude::Value) -> usize {
    match v {
        fred::prelude::Value::Bytes(b) => b.len(),
        fred::prelude::Value::String(s) => s.len(),
        _ => 0,
    }
}

impl AsyncDriver for Fred {
    async fn set(&mut self, key: &str, value: &Bytes) -> Res<()> {
        Ok(self.0.set(key, value.clone(), None, None, false).await?)
    }
    async fn set_int(&mut self, key: &str, value: i64) -> Res<()> {
        Ok(self.0.set(key, value, None, None, false).await?)
    }
    async fn get(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Bytes> = self.0.get(key).await?;
        Ok(v.map(|v| v.len()))
    }
    async fn incr(&mut self, key: &str) -> Res<i64> {
        Ok(self.0.incr(key).await?)
    }
    async fn lpush(&mut self, key: &str, value: i64) -> Res<i64> {
        Ok(self.0.lpush(key, value).await?)
    }
    async fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Res<usize> {
        let v: Vec<Bytes> = self.0.lrange(key, start, stop).await?;
        Ok(v.len())
    }
    async fn lpop(&mut self, key: &str) -> Res<Option<usize>> {
        let v: Option<Bytes> = self.0.lpop(key, None).await?;
        Ok(v.map(|v| v.len()))
    }
    async fn hset(&mut self, key: &str) -> Res<i64> {
        Ok(self.0.hset(key, HASH_FIELDS).await?)
    }
    async fn pipe(&mut self, keys: &[String], value: &Bytes) -> Res<usize> {
        let p = self.0.pipeline();
        for k in keys {
            let () = p.set(k.as_str(), value.clone(), None, None, false).await?;
        }
        for k in keys {
            let () = p.get(k.as_str()).await?;
        }
        let replies: Vec<fred::prelude::Value> = p.all().await?;
        Ok(replies[keys.len()..].iter().map(fred_len).sum())
    }
}
