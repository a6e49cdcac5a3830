//! The pub/sub workloads: one subscriber of the client under test receives every message a
//! publisher process sends to one channel in pipelines of PUBLISH commands.
//!
//! The publisher is this same binary run as a child process (`compare --publisher URL`), the
//! same for every client: it connects once with the harness's plain RESP connection, says
//! `ready`, then for each job line on its stdin ([`PublishJob`]) publishes the messages in
//! pipelines of [`PUBLISH_BATCH`], checks that every PUBLISH reached exactly one subscriber and
//! answers `ok` (or `err ...`). Because it is another process, `getrusage(RUSAGE_SELF)` of the
//! benchmark over a run counts the subscriber's CPU (all its threads, tokio workers included)
//! and none of the publisher's.

use crate::workloads::Workload;
use std::future::Future;
use std::io::{BufRead, BufReader, Write};
use std::pin::Pin;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tokio::task::LocalSet;
use valkey_benches::cpu::{measure, Sample};
use valkey_benches::pubsub::{payload, PublishJob, SeqCheck};
use valkey_benches::target::{server_stats, Overhead, ServerDelta, ServerStats, Target};
use valkey_benches::Res;
use valkey_tests::{Reply, RespConn};

/// The channel every run publishes to (and its subscriber subscribes to).
pub const CHANNEL: &str = "bench:pubsub";
/// PUBLISH commands per pipeline of the publisher (it waits for a pipeline's replies before
/// sending the next).
pub const PUBLISH_BATCH: usize = 100;
/// How long a blocking subscriber waits for one message before the run is taken as failed (a
/// message lost at the very end would otherwise hang it).
pub const RECV_TIMEOUT: Duration = Duration::from_secs(30);
/// How long an async subscriber's whole run may take (a message lost at the very end would
/// otherwise hang it).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The job of a pub/sub workload run.
pub fn job(w: &Workload) -> Option<PublishJob> {
    match w.kind {
        crate::workloads::Kind::PubSub { size, n, .. } => Some(PublishJob {
            channel: CHANNEL.to_owned(),
            n: n as u64,
            size,
            batch: PUBLISH_BATCH,
        }),
        _ => None,
    }
}

// ---------------------------------------------------------------- the publisher process

/// The publisher child process, seen from the benchmark.
pub struct Publisher {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Publisher {
    /// Starts `compare --publisher URL` and waits until it is connected.
    pub fn spawn(url: &str) -> Res<Publisher> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["--publisher", url])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the publisher process: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().ok_or("publisher without stdout")?);
        let mut p = Publisher {
            child,
            stdin,
            stdout,
        };
        match p.line()?.as_str() {
            "ready" => Ok(p),
            other => Err(format!("publisher process: {other}").into()),
        }
    }

    /// The child's process id (for pinning).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn line(&mut self) -> Res<String> {
        let mut line = String::new();
        if self.stdout.read_line(&mut line)? == 0 {
            return Err("the publisher process exited".into());
        }
        Ok(line.trim_end().to_owned())
    }

    /// Hands it a job; it starts publishing at once.
    fn start(&mut self, job: &PublishJob) -> Res<()> {
        let stdin = self.stdin.as_mut().ok_or("publisher closed")?;
        stdin.write_all(job.to_line().as_bytes())?;
        Ok(())
    }

    /// Waits for the job's end: `None` if every message was published to one subscriber, else
    /// what the publisher found wrong.
    fn finish(&mut self) -> Res<Option<String>> {
        let line = self.line()?;
        if line == "ok" {
            return Ok(None);
        }
        Ok(Some(line.strip_prefix("err ").unwrap_or(&line).to_owned()))
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        // End of input ends the child's loop.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The child's side (`compare --publisher URL`): connect, say `ready`, run job lines until the
/// end of input.
pub fn publisher_main(url: &str) -> Res<()> {
    let mut con = Target::remote(url)?.raw()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let result = PublishJob::parse(&line)
            .map_err(Into::into)
            .and_then(|job| publish(&mut con, &job));
        match result {
            Ok(()) => writeln!(out, "ok")?,
            Err(e) => writeln!(out, "err {}", e.to_string().replace('\n', " "))?,
        }
        out.flush()?;
    }
    Ok(())
}

/// Publishes `job`'s messages in pipelines; every PUBLISH must reach exactly one subscriber.
fn publish(con: &mut RespConn, job: &PublishJob) -> Res<()> {
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::with_capacity(job.batch);
    for seqs in job.batches() {
        cmds.clear();
        cmds.extend(seqs.clone().map(|seq| {
            vec![
                b"PUBLISH".to_vec(),
                job.channel.as_bytes().to_vec(),
                payload(seq, job.size),
            ]
        }));
        let replies = con.pipeline(&cmds)?;
        for (seq, reply) in seqs.zip(replies) {
            if reply.as_int() != Some(1) {
                return Err(format!(
                    "PUBLISH of message {seq} answered {reply:?}, not 1 subscriber"
                )
                .into());
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- subscribers

/// A blocking subscriber, already subscribed to [`CHANNEL`].
pub trait SyncSub {
    /// Receives one message and checks it.
    fn recv(&mut self, check: &mut SeqCheck) -> Res<()>;
}

/// An async subscriber, already subscribed to [`CHANNEL`].
pub trait AsyncSub: Sized + Send + 'static {
    /// Receives one message and checks it.
    fn recv(&mut self, check: &mut SeqCheck) -> impl Future<Output = Res<()>> + Send;

    /// Closes it (after the measurement); dropping is enough for most.
    fn close(self) -> impl Future<Output = ()> {
        async move { drop(self) }
    }
}

fn unexpected(check: &SeqCheck, what: impl std::fmt::Debug) -> String {
    format!("after {} messages: {what:?}", check.received())
}

impl SyncSub for valkey::pubsub::PubSub {
    fn recv(&mut self, check: &mut SeqCheck) -> Res<()> {
        match self.get_message(RECV_TIMEOUT)? {
            Some(valkey::pubsub::Event::Message(m)) => Ok(check.check(m.channel(), m.payload())?),
            Some(other) => Err(unexpected(check, other).into()),
            None => Err(format!("no message for {RECV_TIMEOUT:?}").into()),
        }
    }
}

/// redis-rs's blocking `PubSub` (its connection's read timeout set to [`RECV_TIMEOUT`]).
impl SyncSub for redis::PubSub<'_> {
    fn recv(&mut self, check: &mut SeqCheck) -> Res<()> {
        let m = self.get_message()?;
        Ok(check.check(m.get_channel_name().as_bytes(), m.get_payload_bytes())?)
    }
}

impl AsyncSub for valkey::pubsub::AsyncPubSub {
    async fn recv(&mut self, check: &mut SeqCheck) -> Res<()> {
        match self.next().await? {
            valkey::pubsub::Event::Message(m) => Ok(check.check(m.channel(), m.payload())?),
            other => Err(unexpected(check, other).into()),
        }
    }
}

/// redis-rs's `aio::PubSub`, read through its `on_message()` stream.
pub struct RedisAsyncSub(pub redis::aio::PubSub);

impl AsyncSub for RedisAsyncSub {
    async fn recv(&mut self, check: &mut SeqCheck) -> Res<()> {
        let mut stream = std::pin::pin!(self.0.on_message());
        let next = std::future::poll_fn(|cx| {
            futures_core::Stream::poll_next(Pin::as_mut(&mut stream), cx)
        });
        let m = next.await.ok_or("redis-rs's message stream ended")?;
        Ok(check.check(m.get_channel_name().as_bytes(), m.get_payload_bytes())?)
    }
}

/// fred's `SubscriberClient` with its `message_rx()` (a broadcast channel made large enough
/// for a whole run, so that it never drops).
pub struct FredSub {
    pub client: fred::clients::SubscriberClient,
    pub rx: tokio::sync::broadcast::Receiver<fred::types::Message>,
}

impl AsyncSub for FredSub {
    async fn recv(&mut self, check: &mut SeqCheck) -> Res<()> {
        use tokio::sync::broadcast::error::RecvError;
        match self.rx.recv().await {
            Ok(m) => {
                let payload = m
                    .value
                    .as_bytes()
                    .ok_or_else(|| unexpected(check, &m.value))?;
                Ok(check.check(m.channel.as_bytes(), payload)?)
            }
            Err(RecvError::Lagged(n)) => {
                Err(unexpected(check, format!("fred dropped {n} messages (Lagged)")).into())
            }
            Err(RecvError::Closed) => Err(unexpected(check, "fred's channel closed").into()),
        }
    }

    async fn close(self) {
        use fred::prelude::ClientLike;
        let _ = self.client.quit().await;
    }
}

// ---------------------------------------------------------------- measured runs

/// What one run measured: the subscriber's wall and CPU time, the server's counters, and what
/// the sequence check or the publisher found wrong (a failed check, like the server check).
pub struct Outcome {
    pub sample: Sample,
    pub server: ServerDelta,
    pub failure: Option<String>,
}

/// The harness's side of a run: its own connection (NUMSUB, INFO), the publisher, and the INFO
/// pair's calibrated overhead.
pub struct Ctx<'a> {
    pub raw: &'a mut RespConn,
    pub publisher: &'a mut Publisher,
    pub overhead: &'a Overhead,
    /// Publish everything before the clock starts (see `Kind::PubSub`).
    pub backlog: bool,
}

impl Ctx<'_> {
    /// Waits until the server counts exactly one subscriber of [`CHANNEL`] (the one under test
    /// confirmed, the previous run's gone), then reads the server's counters.
    fn ready(&mut self) -> Res<ServerStats> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let r = self.raw.command_ok(&["PUBSUB", "NUMSUB", CHANNEL])?;
            let n = r.as_array().and_then(|a| a.get(1)).and_then(Reply::as_int);
            if n == Some(1) {
                break;
            }
            if Instant::now() >= deadline {
                return Err(
                    format!("PUBSUB NUMSUB {CHANNEL}: {n:?} subscribers after 10 s").into(),
                );
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        server_stats(self.raw)
    }

    /// For a backlog run, publishes every message before the clock starts (the subscriber
    /// reads nothing meanwhile) and returns the publisher's verdict; `None` for a live run.
    fn publish_backlog(&mut self, job: &PublishJob) -> Res<Option<Option<String>>> {
        if !self.backlog {
            return Ok(None);
        }
        self.publisher.start(job)?;
        Ok(Some(self.publisher.finish()?))
    }

    /// Inside the measurement: starts a live run's publisher (a backlog run's is done).
    fn start_live(&mut self, job: &PublishJob) -> Result<(), String> {
        if self.backlog {
            return Ok(());
        }
        self.publisher.start(job).map_err(|e| e.to_string())
    }

    /// After the measurement: the publisher's result (`published`, if a backlog run already
    /// has it), the server's counters, the verdict. An error that is not a failed check (a lost
    /// connection, a timeout) ends the benchmark.
    fn finish(
        &mut self,
        before: &ServerStats,
        check: &SeqCheck,
        received: Result<(), String>,
        sample: Sample,
        published: Option<Option<String>>,
    ) -> Res<Outcome> {
        let mut failures = Vec::new();
        if let Err(e) = received {
            match check.failure() {
                Some(f) => failures.push(f.to_string()),
                None => return Err(e.into()),
            }
        }
        let published = match published {
            Some(verdict) => verdict,
            None => self.publisher.finish()?,
        };
        if let Some(e) = published {
            failures.push(format!("publisher: {e}"));
        }
        let after = server_stats(self.raw)?;
        Ok(Outcome {
            sample,
            server: before.delta(&after, self.overhead),
            failure: (!failures.is_empty()).then(|| failures.join("; ")),
        })
    }
}

/// Measures a blocking subscriber: from handing the publisher its job (a backlog run: from the
/// end of publishing) to the last message.
pub fn run_sync<S: SyncSub>(ctx: &mut Ctx, sub: &mut S, job: &PublishJob) -> Res<Outcome> {
    let before = ctx.ready()?;
    let mut check = SeqCheck::new(&job.channel, job.size, job.n);
    let published = ctx.publish_backlog(job)?;
    let (r, sample) = measure(|| -> Result<(), String> {
        ctx.start_live(job)?;
        while !check.done() {
            sub.recv(&mut check).map_err(|e| e.to_string())?;
        }
        Ok(())
    });
    ctx.finish(&before, &check, r, sample, published)
}

/// Receives every message, within [`RUN_TIMEOUT`] in all: one timer for the run, not one per
/// message (a per-message `timeout` showed as 5–7 % of the subscriber's CPU in `perf`, the
/// benchmark's cost rather than the client's).
async fn recv_all<S: AsyncSub>(sub: &mut S, check: &mut SeqCheck) -> Result<(), String> {
    let all = async {
        while !check.done() {
            sub.recv(check).await.map_err(|e| e.to_string())?;
        }
        Ok(())
    };
    match tokio::time::timeout(RUN_TIMEOUT, all).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{} of {} messages after {RUN_TIMEOUT:?}",
            check.received(),
            check.total()
        )),
    }
}

/// Runs `f` on the runtime: in the `LocalSet` on the current-thread runtime, else `block_on`.
pub fn block<F: Future>(rt: &Runtime, local: Option<&LocalSet>, f: F) -> F::Output {
    match local {
        Some(local) => local.block_on(rt, f),
        None => rt.block_on(f),
    }
}

/// Measures an async subscriber: on the current-thread runtime in `block_on`, on the
/// multi-thread one as a spawned task (as the other workloads run); then closes it.
pub fn run_async<S: AsyncSub>(
    ctx: &mut Ctx,
    rt: &Runtime,
    local: Option<&LocalSet>,
    sub: S,
    job: &PublishJob,
) -> Res<Outcome> {
    let before = ctx.ready()?;
    let check = SeqCheck::new(&job.channel, job.size, job.n);
    // On the current-thread runtime nothing runs between `block_on`s: no client's tasks read
    // while a backlog is published.
    let published = ctx.publish_backlog(job)?;
    let ((sub, check, r), sample) = match local {
        Some(local) => {
            let (mut sub, mut check) = (sub, check);
            let (r, sample) = measure(|| {
                ctx.start_live(job)?;
                local.block_on(rt, recv_all(&mut sub, &mut check))
            });
            ((sub, check, r), sample)
        }
        None if ctx.backlog => {
            return Err("a backlog run needs the current-thread runtime".into());
        }
        None => {
            let publisher = &mut *ctx.publisher;
            let task = async move {
                let (mut sub, mut check) = (sub, check);
                let r = recv_all(&mut sub, &mut check).await;
                (sub, check, r)
            };
            let (joined, sample) = measure(|| {
                let handle = rt.spawn(task);
                let started = publisher.start(job).map_err(|e| e.to_string());
                (started, rt.block_on(handle))
            });
            let (started, joined) = joined;
            let (sub, check, r) = joined?;
            ((sub, check, started.and(r)), sample)
        }
    };
    let outcome = ctx.finish(&before, &check, r, sample, published);
    block(rt, local, sub.close());
    outcome
}
