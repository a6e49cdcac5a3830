//! Connections under fire: many callers share connections while the server kills them every few
//! tens of milliseconds (or a proxy resets them mid-reply). Every reply carries a nonce, so a
//! reply handed to the wrong caller is caught; errors must say what happened (never a foreign
//! reply), the connection must work afterwards, and a write whose reply was lost is never re-run.
//!
//! `VALKEY_FAULT_SECS` sets the load time of the async kill tests (default 20 s; the pool test
//! runs half of it, the proxy test at most 5 s; the thresholds scale with it), and
//! `VALKEY_FAULT_MIN_OPS_PER_SEC` the throughput they must reach: 50 000 ops/s (1M ops in 20 s)
//! in a release build; a debug build did 38 000–53 000 on a busy 2-core machine, so its floor is
//! 12 000, far enough below that load from other processes does not fail the test.

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use valkey::aio::MultiplexedConnection;
use valkey::sync::{Pool, PoolConfig};
use valkey::{Client, Cmd, Command, ErrorKind, Protocol};
use valkey_tests::{Proxy, Reply, Rng, Server};

/// Tasks sharing the async connection.
const ASYNC_TASKS: u64 = 64;
/// Threads sharing the pool (as many as it has connections).
const POOL_THREADS: u64 = 32;
/// The errors a broken connection may give; anything else is a bug (a foreign reply, mostly).
const ALLOWED: &[ErrorKind] = &[
    ErrorKind::Unclear,
    ErrorKind::NotSent,
    ErrorKind::Io,
    ErrorKind::Closed,
    ErrorKind::Timeout,
];
/// The load runs on past its time, up to this many times it, until the faults and operations
/// reached their floors: the floors count work done, not speed, so a loaded machine takes longer
/// instead of failing.
const MAX_STRETCH: u32 = 4;
/// Slack after the load for the last operations to end before the remaining ones count as hung.
const DRAIN_WITHIN: Duration = Duration::from_secs(15);
/// How long the round trip after the faults stop may take.
const RECOVER_WITHIN: Duration = Duration::from_secs(5);
/// A pause between stopping the faults and that round trip, for a kill that landed just before
/// the stop to reach the client.
const SETTLE: Duration = Duration::from_millis(200);

/// Load time of each kill test (the least; see [`MAX_STRETCH`]).
fn load_time() -> Duration {
    let secs = std::env::var("VALKEY_FAULT_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(20.0);
    Duration::from_secs_f64(secs)
}

/// Operations per second of load time the async kill tests must reach (by the end of the
/// stretched load at the latest).
fn min_ops_per_sec() -> f64 {
    std::env::var("VALKEY_FAULT_MIN_OPS_PER_SEC")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            12_000.0
        } else {
            50_000.0
        })
}

/// A fresh seed, printed so that a failing run's choices can be looked at again.
fn seed(test: &str) -> u64 {
    let seed = std::env::var("VALKEY_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Rng::from_entropy().next_u64());
    eprintln!("{test}: seed {seed} (set VALKEY_FAULT_SEED to repeat its choices)");
    seed
}

fn url(server_url: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::Resp2 => format!("{server_url}?protocol=resp2"),
        _ => format!("{server_url}?protocol=resp3"),
    }
}

// ---------------------------------------------------------------------------------------------
// The workload, shared by the async and the sync tests: operations whose replies carry nonces.

/// One operation of the workload.
#[derive(Clone, Copy)]
enum Op {
    /// `ECHO nonce`.
    Echo,
    /// `SET fault:TASK nonce`, then (when it succeeded) `GET fault:TASK`.
    SetGet,
    /// A pipeline of three ECHOs.
    Pipe,
    /// MULTI, two ECHOs, EXEC.
    Transaction,
}

impl Op {
    fn pick(rng: &mut Rng) -> Op {
        match rng.range(0, 10) {
            0..=3 => Op::Echo,
            4..=5 => Op::SetGet,
            6..=7 => Op::Pipe,
            _ => Op::Transaction,
        }
    }
}

fn echo(nonce: &str) -> impl Command<Output = String> {
    Cmd::new("ECHO").arg(nonce).returning::<String>()
}

fn set(key: &str, nonce: &str) -> impl Command<Output = String> {
    Cmd::new("SET").arg(key).arg(nonce).returning::<String>()
}

fn get(key: &str) -> impl Command<Output = Option<String>> {
    Cmd::new("GET").arg(key).returning::<Option<String>>()
}

/// The nonce of the k-th command of a batch.
fn part(nonce: &str, k: usize) -> String {
    format!("{nonce}.{k}")
}

fn echo3(
    n: &str,
) -> (
    impl Command<Output = String>,
    impl Command<Output = String>,
    impl Command<Output = String>,
) {
    (echo(&part(n, 0)), echo(&part(n, 1)), echo(&part(n, 2)))
}

fn want3(n: &str) -> (String, String, String) {
    (part(n, 0), part(n, 1), part(n, 2))
}

fn echo2(n: &str) -> (impl Command<Output = String>, impl Command<Output = String>) {
    (echo(&part(n, 0)), echo(&part(n, 1)))
}

fn want2(n: &str) -> (String, String) {
    (part(n, 0), part(n, 1))
}

/// Keeps the nonces of a task's last SETs that ended unclear or cancelled (they may still run).
fn remember(unsettled: &mut Vec<String>, nonce: String) {
    if unsettled.len() == 64 {
        unsettled.remove(0);
    }
    unsettled.push(nonce);
}

/// Outcomes of all operations of a test, counted from every task at once.
#[derive(Default)]
struct Tally {
    started: AtomicU64,
    ok: AtomicU64,
    cancelled: AtomicU64,
    misdelivered: AtomicU64,
    /// GETs that read the value of an earlier SET of the task that ended unclear or cancelled:
    /// that SET reached the server late (held by a stalled proxy while a newer SET ran), which
    /// is what "may have run" means. Not a misdelivery, counted apart.
    late_writes: AtomicU64,
    errors: Mutex<HashMap<ErrorKind, u64>>,
    /// The first few misdeliveries and unexpected errors, for the failure message.
    examples: Mutex<Vec<String>>,
}

impl Tally {
    fn start(&self) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }

    fn example(&self, what: String) {
        let mut examples = self.examples.lock().unwrap();
        if examples.len() < 10 {
            examples.push(what);
        }
    }

    /// Counts one result against what it must be; true when it is right.
    fn check<T: PartialEq + Debug>(&self, got: valkey::Result<T>, want: &T) -> bool {
        match got {
            Ok(v) if v == *want => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                true
            }
            Ok(v) => {
                self.misdelivered.fetch_add(1, Ordering::Relaxed);
                self.example(format!("misdelivered: wanted {want:?}, got {v:?}"));
                false
            }
            Err(e) => {
                self.error(&e);
                false
            }
        }
    }

    /// Checks a GET after a SET of `want`: the value of an unclear or cancelled earlier SET of
    /// the same key (`unsettled`) also counts as right, as a late write.
    fn check_get(&self, got: valkey::Result<Option<String>>, want: &str, unsettled: &[String]) {
        if let Ok(Some(v)) = &got {
            if v != want && unsettled.contains(v) {
                self.ok.fetch_add(1, Ordering::Relaxed);
                self.late_writes.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        self.check(got, &Some(want.to_owned()));
    }

    /// Like [`Tally::check`], where `None` means the caller gave up on the operation.
    fn check_or_cancelled<T: PartialEq + Debug>(
        &self,
        got: Option<valkey::Result<T>>,
        want: &T,
    ) -> bool {
        match got {
            Some(got) => self.check(got, want),
            None => {
                self.cancelled.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Counts an error. In this workload a reply that does not convert or does not parse can
    /// only be someone else's: it counts as misdelivered.
    fn error(&self, e: &valkey::Error) {
        if matches!(e.kind(), ErrorKind::TypeConversion | ErrorKind::Protocol) {
            self.misdelivered.fetch_add(1, Ordering::Relaxed);
            self.example(format!("misdelivered ({:?} error): {e}", e.kind()));
            return;
        }
        *self.errors.lock().unwrap().entry(e.kind()).or_default() += 1;
        if !ALLOWED.contains(&e.kind()) {
            self.example(format!("unexpected {:?} error: {e}", e.kind()));
        }
    }

    fn errors(&self) -> Vec<(ErrorKind, u64)> {
        let mut errors: Vec<_> = self
            .errors
            .lock()
            .unwrap()
            .iter()
            .map(|(k, n)| (*k, *n))
            .collect();
        errors.sort_by_key(|(k, _)| format!("{k:?}"));
        errors
    }

    /// Operations that ended (successfully or not).
    fn ended(&self) -> u64 {
        let errors: u64 = self.errors().iter().map(|(_, n)| n).sum();
        self.ok.load(Ordering::Relaxed)
            + self.cancelled.load(Ordering::Relaxed)
            + self.misdelivered.load(Ordering::Relaxed)
            + errors
    }

    /// Operations started that never ended.
    fn hung(&self) -> u64 {
        self.started
            .load(Ordering::Relaxed)
            .saturating_sub(self.ended())
    }

    fn summary(&self) -> String {
        format!(
            "ops {} (ok {}, of which late writes seen {}, cancelled {}, errors {:?}), \
             misdelivered {}, hung {}",
            self.ended(),
            self.ok.load(Ordering::Relaxed),
            self.late_writes.load(Ordering::Relaxed),
            self.cancelled.load(Ordering::Relaxed),
            self.errors(),
            self.misdelivered.load(Ordering::Relaxed),
            self.hung(),
        )
    }

    /// What is wrong with these outcomes: misdeliveries, unexpected error kinds, hung operations.
    fn failures(&self) -> Vec<String> {
        let mut failures = Vec::new();
        let misdelivered = self.misdelivered.load(Ordering::Relaxed);
        if misdelivered > 0 {
            failures.push(format!("{misdelivered} replies reached the wrong caller"));
        }
        let unexpected: Vec<_> = self
            .errors()
            .into_iter()
            .filter(|(k, _)| !ALLOWED.contains(k))
            .collect();
        if !unexpected.is_empty() {
            failures.push(format!(
                "errors of unexpected kinds {unexpected:?} (allowed: {ALLOWED:?})"
            ));
        }
        if self.hung() > 0 {
            failures.push(format!(
                "{} operations never ended ({DRAIN_WITHIN:?} after the load)",
                self.hung()
            ));
        }
        let examples = self.examples.lock().unwrap();
        if !examples.is_empty() {
            failures.push(format!("first cases:\n  {}", examples.join("\n  ")));
        }
        failures
    }
}

// ---------------------------------------------------------------------------------------------
// Faults: the server kills its clients; a proxy resets connections.

/// Something that breaks connections while the load runs.
trait Faults {
    /// Starts breaking (called once the connection or pool is open).
    fn start(&mut self);
    /// Whether enough faults happened for the run to mean something.
    fn enough(&self) -> bool;
    /// Stops; says what was done, and what falls short (too few faults to mean anything).
    fn stop(&mut self) -> (String, Vec<String>);
}

/// Kills every normal client of a server (`CLIENT KILL TYPE normal`) every 20–80 ms (random),
/// from the harness's own connection.
struct ServerKills<'a> {
    server: &'a Server,
    seed: u64,
    min_rounds: u64,
    rounds: Arc<AtomicU64>,
    running: Option<Killer>,
}

/// The killer thread, and the flag that stops it; it returns the clients it killed.
struct Killer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

impl<'a> ServerKills<'a> {
    /// At least `per_sec` kill rounds per second of `load` are expected.
    fn new(server: &'a Server, seed: u64, load: Duration, per_sec: f64) -> ServerKills<'a> {
        ServerKills {
            server,
            seed,
            min_rounds: (per_sec * load.as_secs_f64()) as u64,
            rounds: Arc::new(AtomicU64::new(0)),
            running: None,
        }
    }
}

impl Faults for ServerKills<'_> {
    fn start(&mut self) {
        let mut raw = self
            .server
            .raw()
            .expect("harness connection for the killer");
        let stop = Arc::new(AtomicBool::new(false));
        let mut rng = Rng::new(self.seed);
        let thread = std::thread::spawn({
            let (stop, rounds) = (Arc::clone(&stop), Arc::clone(&self.rounds));
            move || {
                let mut clients = 0;
                loop {
                    std::thread::sleep(Duration::from_millis(rng.range(20, 81)));
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    match raw.command(&["CLIENT", "KILL", "TYPE", "normal"]) {
                        Ok(Reply::Int(n)) => {
                            rounds.fetch_add(1, Ordering::Relaxed);
                            clients += n as u64;
                        }
                        other => panic!("CLIENT KILL failed: {other:?}"),
                    }
                }
                clients
            }
        });
        self.running = Some(Killer { stop, thread });
    }

    fn enough(&self) -> bool {
        self.rounds.load(Ordering::Relaxed) >= self.min_rounds
    }

    fn stop(&mut self) -> (String, Vec<String>) {
        let Killer { stop, thread } = self.running.take().expect("started");
        stop.store(true, Ordering::Relaxed);
        let clients = thread.join().expect("killer thread");
        let rounds = self.rounds.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        if rounds < self.min_rounds {
            failures.push(format!(
                "only {rounds} kill rounds (want >= {})",
                self.min_rounds
            ));
        }
        (
            format!("kill rounds {rounds}, clients killed {clients}"),
            failures,
        )
    }
}

/// Resets connections through a proxy at random offsets of the reply stream (mostly mid-reply).
struct ProxyResets<'a> {
    proxy: &'a Proxy,
    mean_bytes: u64,
    seed: u64,
    min_resets: u64,
}

impl Faults for ProxyResets<'_> {
    fn start(&mut self) {
        self.proxy.reset_at_random(self.mean_bytes, self.seed);
    }

    fn enough(&self) -> bool {
        self.proxy.stats().resets >= self.min_resets
    }

    fn stop(&mut self) -> (String, Vec<String>) {
        self.proxy.stop_random_resets();
        let resets = self.proxy.stats().resets;
        let mut failures = Vec::new();
        if resets < self.min_resets {
            failures.push(format!(
                "only {resets} proxy resets (want >= {})",
                self.min_resets
            ));
        }
        (format!("proxy resets {resets}"), failures)
    }
}

/// Everything the proxy can do at once: replies split into 1-byte writes, resets at random
/// points of the reply stream, and stalls (both directions frozen for 20–400 ms, every 0.2–1 s)
/// that outlast the connection's 250 ms liveness deadline about half the time.
struct ProxyChaos<'a> {
    proxy: &'a Proxy,
    seed: u64,
    min_resets: u64,
    min_stalls: u64,
    stalls: Arc<AtomicU64>,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Faults for ProxyChaos<'_> {
    fn start(&mut self) {
        self.proxy.split_replies(true);
        self.proxy.reset_at_random(16 * 1024, self.seed);
        let stop = Arc::new(AtomicBool::new(false));
        let mut rng = Rng::new(self.seed ^ 0x5747_414c);
        // The thread needs the proxy past this borrow: it freezes through a handle of its own.
        let proxy = self.proxy.handle();
        let thread = std::thread::spawn({
            let (stop, stalls) = (Arc::clone(&stop), Arc::clone(&self.stalls));
            move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(rng.range(200, 1_001)));
                    proxy.freeze();
                    std::thread::sleep(Duration::from_millis(rng.range(20, 401)));
                    proxy.thaw();
                    stalls.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        self.running = Some((stop, thread));
    }

    fn enough(&self) -> bool {
        self.proxy.stats().resets >= self.min_resets
            && self.stalls.load(Ordering::Relaxed) >= self.min_stalls
    }

    fn stop(&mut self) -> (String, Vec<String>) {
        let (stop, thread) = self.running.take().expect("started");
        stop.store(true, Ordering::Relaxed);
        thread.join().expect("stall thread");
        let stalls = self.stalls.load(Ordering::Relaxed);
        self.proxy.forward();
        let resets = self.proxy.stats().resets;
        let mut failures = Vec::new();
        if resets < self.min_resets {
            failures.push(format!(
                "only {resets} proxy resets (want >= {})",
                self.min_resets
            ));
        }
        if stalls < self.min_stalls {
            failures.push(format!(
                "only {stalls} stalls (want >= {})",
                self.min_stalls
            ));
        }
        (
            format!("1-byte replies, proxy resets {resets}, stalls {stalls}"),
            failures,
        )
    }
}

/// What this process holds: its sockets connected to one port (the server's or the proxy's:
/// the connection under test, not what other tests in this binary open meanwhile) and its
/// resident memory.
#[derive(Debug, Clone, Copy)]
struct Held {
    fds: usize,
    rss_kib: u64,
}

impl Held {
    fn now(port: u16) -> Held {
        // Socket inodes connected to `port`, from the kernel's tables; then ours among them.
        let mut inodes = std::collections::HashSet::new();
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            let text = std::fs::read_to_string(table).unwrap_or_default();
            for line in text.lines().skip(1) {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let remote_port = cols
                    .get(2)
                    .and_then(|r| r.rsplit(':').next())
                    .and_then(|p| u16::from_str_radix(p, 16).ok());
                if remote_port == Some(port) {
                    if let Some(inode) = cols.get(9) {
                        inodes.insert(format!("socket:[{inode}]"));
                    }
                }
            }
        }
        let fds = std::fs::read_dir("/proc/self/fd")
            .map(|dir| {
                dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                    .filter(|target| inodes.contains(&*target.to_string_lossy()))
                    .count()
            })
            .unwrap_or(0);
        let rss_kib = std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
            .map_or(0, |pages| pages * 4);
        Held { fds, rss_kib }
    }
}

/// The port a test URL connects to (`valkey://127.0.0.1:PORT?...`).
fn port_of(url: &str) -> u16 {
    let rest = url.rsplit_once(':').map_or("", |(_, r)| r);
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().expect("a port in the test URL")
}

/// Resident memory the load may add (buffers grown under load, the allocator's caches).
const RSS_GROWTH_KIB: u64 = 256 * 1024;
/// Sockets to the server beyond the baseline allowed after the load (one still closing).
const FD_GROWTH: usize = 1;

/// After the load, once every task has ended: nothing leaked. The connection holds no waiting
/// entry or reply slot, the runtime runs no more tasks than the connection's own, and file
/// descriptors and memory are back near where they were before the load (waiting up to 2 s for
/// closed sockets to go).
fn leaks(
    rt: &tokio::runtime::Runtime,
    con: &MultiplexedConnection,
    before: (usize, Held),
    port: u16,
) -> Vec<String> {
    let mut failures = Vec::new();
    let stats = con.stats();
    if stats.pending + stats.in_flight + stats.unwritten_bytes + stats.reply_slots > 0 {
        failures.push(format!("the idle connection still holds {stats:?}"));
    }
    let (tasks_before, held_before) = before;
    let deadline = Instant::now() + Duration::from_secs(2);
    let (tasks, held) = loop {
        let (tasks, held) = (rt.metrics().num_alive_tasks(), Held::now(port));
        let settled = tasks <= tasks_before && held.fds <= held_before.fds + FD_GROWTH;
        if settled || Instant::now() >= deadline {
            break (tasks, held);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if tasks > tasks_before {
        failures.push(format!(
            "{tasks} tasks alive after the load, {tasks_before} before"
        ));
    }
    if held.fds > held_before.fds + FD_GROWTH {
        failures.push(format!(
            "{} sockets to the server open after the load, {} before",
            held.fds, held_before.fds
        ));
    }
    if held.rss_kib > held_before.rss_kib + RSS_GROWTH_KIB {
        failures.push(format!(
            "resident memory grew from {} to {} KiB",
            held_before.rss_kib, held.rss_kib
        ));
    }
    eprintln!(
        "  after the load: {stats:?}; tasks {tasks_before} -> {tasks}; sockets {} -> {}; RSS {} -> {} KiB",
        held_before.fds, held.fds, held_before.rss_kib, held.rss_kib
    );
    failures
}

/// What a load run found.
struct LoadReport {
    tally: Arc<Tally>,
    load: Duration,
    /// What the faults did.
    faults: String,
    /// Problems outside the tally (too few faults, the connection did not come back, hangs).
    failures: Vec<String>,
}

impl LoadReport {
    /// Prints the one-line summary; returns what is wrong: anything misdelivered, errors of
    /// kinds not allowed, hung operations, fewer than `min_ops` operations, too few faults, or
    /// the connection not answering afterwards.
    fn check(mut self, label: &str, min_ops: u64) -> Vec<String> {
        let ops = self.tally.ended();
        if ops < min_ops {
            self.failures.push(format!(
                "only {ops} ops in {:?} (want >= {min_ops})",
                self.load
            ));
        }
        self.failures.extend(self.tally.failures());
        eprintln!(
            "{label}: {} in {:.1?}; {}",
            self.tally.summary(),
            self.load,
            self.faults
        );
        self.failures
            .into_iter()
            .map(|f| format!("{label}: {f}"))
            .collect()
    }
}

fn assert_no_failures(failures: &[String]) {
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The async side: one shared connection, 64 tasks, futures dropped at random points.

/// How a task gives up on an operation (or not).
#[derive(Clone, Copy)]
enum Cancel {
    Never,
    /// `tokio::time::timeout` with a short random duration (often mid-flight).
    Timeout(Duration),
    /// `select!` against a random short sleep.
    Race(Duration),
    /// `select!` against a yield: dropped right after its first polls (often before it is sent).
    Yield,
    /// Dropped without ever being polled.
    Unpolled,
}

impl Cancel {
    fn pick(rng: &mut Rng) -> Cancel {
        let short = |rng: &mut Rng| Duration::from_micros(rng.range(0, 2_000));
        match rng.range(0, 100) {
            0..=69 => Cancel::Never,
            70..=79 => Cancel::Timeout(short(rng)),
            80..=89 => Cancel::Race(short(rng)),
            90..=96 => Cancel::Yield,
            _ => Cancel::Unpolled,
        }
    }

    /// Runs `fut` unless this says to give up on it first (`None`).
    async fn run<F: Future>(self, fut: F) -> Option<F::Output> {
        match self {
            Cancel::Never => Some(fut.await),
            Cancel::Timeout(d) => tokio::time::timeout(d, fut).await.ok(),
            Cancel::Race(d) => tokio::select! {
                out = fut => Some(out),
                _ = tokio::time::sleep(d) => None,
            },
            Cancel::Yield => tokio::select! {
                biased;
                out = fut => Some(out),
                _ = tokio::task::yield_now() => None,
            },
            Cancel::Unpolled => {
                drop(fut);
                None
            }
        }
    }
}

/// One task's share of the async workload: operations with nonces `TASK:SEQ` until `stop`.
async fn async_task(
    con: MultiplexedConnection,
    task: u64,
    stop: Arc<AtomicBool>,
    mut rng: Rng,
    tally: Arc<Tally>,
) {
    let key = format!("fault:{task}");
    let mut seq = 0u64;
    let mut unsettled = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let n = format!("{task}:{seq}");
        let cancel = Cancel::pick(&mut rng);
        tally.start();
        match Op::pick(&mut rng) {
            Op::Echo => {
                tally.check_or_cancelled(cancel.run(con.send(echo(&n))).await, &n);
            }
            Op::SetGet => {
                let stored = cancel.run(con.send(set(&key, &n))).await;
                if tally.check_or_cancelled(stored, &"OK".to_owned()) {
                    tally.start();
                    tally.check_get(con.send(get(&key)).await, &n, &unsettled);
                } else {
                    remember(&mut unsettled, n);
                }
            }
            Op::Pipe => {
                tally.check_or_cancelled(cancel.run(con.pipe(echo3(&n))).await, &want3(&n));
            }
            Op::Transaction => {
                tally.check_or_cancelled(cancel.run(con.transaction(echo2(&n))).await, &want2(&n));
            }
        }
    }
}

/// Lets the load run for `load`, then on (up to [`MAX_STRETCH`] times `load`) until the faults
/// and at least `min_ops` operations have been done; then raises `stop`. Returns how long the
/// load ran.
fn run_until_enough(
    load: Duration,
    min_ops: u64,
    faults: &dyn Faults,
    tally: &Tally,
    stop: &AtomicBool,
) -> Duration {
    let started = Instant::now();
    std::thread::sleep(load);
    while started.elapsed() < load * MAX_STRETCH && !(faults.enough() && tally.ended() >= min_ops) {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    started.elapsed()
}

/// Runs 64 tasks on one shared connection to `url` (on a 2-worker runtime) for `load` (see
/// [`run_until_enough`]) while `faults` break it, then checks that the same connection answers
/// again.
fn run_async_load(
    url: &str,
    load: Duration,
    min_ops: u64,
    seed: u64,
    faults: &mut dyn Faults,
) -> LoadReport {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let tally = Arc::new(Tally::default());
    let mut failures = Vec::new();
    let con = rt
        .block_on(Client::open(url).expect("URL").get_async_connection())
        .expect("connects");
    let port = port_of(url);
    let baseline = (rt.metrics().num_alive_tasks(), Held::now(port));
    faults.start();
    let stop = Arc::new(AtomicBool::new(false));
    let mut seeds = Rng::new(seed);
    let tasks: Vec<_> = (0..ASYNC_TASKS)
        .map(|task| {
            let rng = Rng::new(seeds.next_u64());
            rt.spawn(async_task(
                con.clone(),
                task,
                Arc::clone(&stop),
                rng,
                Arc::clone(&tally),
            ))
        })
        .collect();
    let load = run_until_enough(load, min_ops, &*faults, &tally, &stop);
    let stuck = rt.block_on(async {
        let deadline = tokio::time::Instant::now() + DRAIN_WITHIN;
        let mut stuck = 0;
        for task in tasks {
            match tokio::time::timeout_at(deadline, task).await {
                Ok(joined) => joined.expect("workload task panicked"),
                Err(_) => stuck += 1,
            }
        }
        stuck
    });
    if stuck > 0 {
        failures.push(format!(
            "{stuck} of {ASYNC_TASKS} tasks were still stuck {DRAIN_WITHIN:?} after the load"
        ));
    }
    let (done, fault_failures) = faults.stop();
    failures.extend(fault_failures);
    std::thread::sleep(SETTLE);
    let probe = rt.block_on(async {
        tokio::time::timeout(RECOVER_WITHIN, con.send(echo("recovered"))).await
    });
    if !matches!(&probe, Ok(Ok(v)) if v == "recovered") {
        failures.push(format!(
            "after the faults stopped, ECHO on the same connection gave {probe:?} \
             (within {RECOVER_WITHIN:?})"
        ));
    } else if stuck == 0 {
        failures.extend(leaks(&rt, &con, baseline, port));
    }
    // Tasks stuck on a lost reply are dropped with the runtime.
    rt.shutdown_timeout(Duration::from_secs(1));
    LoadReport {
        tally,
        load,
        faults: done,
        failures,
    }
}

fn async_kill_under_load(protocol: Protocol) {
    let label = format!("async kill under load {protocol:?}");
    let (seed, load) = (seed(&label), load_time());
    let server = Server::valkey().expect("server starts");
    let mut kills = ServerKills::new(&server, seed, load, 15.0);
    let min_ops = (min_ops_per_sec() * load.as_secs_f64()) as u64;
    let report = run_async_load(
        &url(&server.url(), protocol),
        load,
        min_ops,
        seed,
        &mut kills,
    );
    assert_no_failures(&report.check(&label, min_ops));
}

#[test]
fn async_kill_under_load_resp2() {
    async_kill_under_load(Protocol::Resp2);
}

#[test]
fn async_kill_under_load_resp3() {
    async_kill_under_load(Protocol::Resp3);
}

#[test]
fn async_random_resets_through_a_proxy() {
    let server = Server::valkey().expect("server starts");
    let load = load_time().min(Duration::from_secs(5));
    let mut failures = Vec::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let label = format!("async random resets through a proxy {protocol:?}");
        let seed = seed(&label);
        let proxy = Proxy::start(server.addr()).expect("proxy starts");
        let mut resets = ProxyResets {
            proxy: &proxy,
            mean_bytes: 64 * 1024,
            seed,
            min_resets: 10,
        };
        let report = run_async_load(&url(&proxy.url(), protocol), load, 1_000, seed, &mut resets);
        failures.extend(report.check(&label, 1_000));
    }
    assert_no_failures(&failures);
}

#[test]
fn async_chaos_through_a_proxy() {
    // Replies arrive one byte per write, links reset at random and stall past the liveness
    // deadline, while 64 tasks cancel their futures at random points.
    let server = Server::valkey().expect("server starts");
    let load = load_time().min(Duration::from_secs(8));
    let mut failures = Vec::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let label = format!("async chaos through a proxy {protocol:?}");
        let seed = seed(&label);
        let proxy = Proxy::start(server.addr()).expect("proxy starts");
        let mut chaos = ProxyChaos {
            proxy: &proxy,
            seed,
            min_resets: 3,
            min_stalls: 3,
            stalls: Arc::new(AtomicU64::new(0)),
            running: None,
        };
        let url = format!("{}&response_timeout=0.25", url(&proxy.url(), protocol));
        let report = run_async_load(&url, load, 1_000, seed, &mut chaos);
        failures.extend(report.check(&label, 1_000));
    }
    assert_no_failures(&failures);
}

// ---------------------------------------------------------------------------------------------
// The sync side: a pool shared by 32 threads, one checkout per operation.

/// One thread's share of the sync workload: operations with nonces `TASK:SEQ` until `stop`.
fn pool_thread(pool: &Pool, task: u64, stop: &AtomicBool, mut rng: Rng, tally: &Tally) {
    let key = format!("fault:{task}");
    let mut seq = 0u64;
    let mut unsettled = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        seq += 1;
        let n = format!("{task}:{seq}");
        tally.start();
        let mut con = match pool.get() {
            Ok(con) => con,
            Err(e) => {
                tally.error(&e);
                continue;
            }
        };
        match Op::pick(&mut rng) {
            Op::Echo => {
                tally.check(con.send(echo(&n)), &n);
            }
            Op::SetGet => {
                if tally.check(con.send(set(&key, &n)), &"OK".to_owned()) {
                    drop(con);
                    tally.start();
                    match pool.get() {
                        Ok(mut con) => tally.check_get(con.send(get(&key)), &n, &unsettled),
                        Err(e) => tally.error(&e),
                    }
                } else {
                    remember(&mut unsettled, n);
                }
            }
            Op::Pipe => {
                tally.check(con.pipe(echo3(&n)), &want3(&n));
            }
            Op::Transaction => {
                tally.check(con.transaction(echo2(&n)), &want2(&n));
            }
        }
    }
}

/// Runs 32 threads on a pool of 32 connections to `url` for `load` (see [`run_until_enough`])
/// while `faults` break them, then checks that the pool answers again.
fn run_pool_load(
    url: &str,
    load: Duration,
    min_ops: u64,
    seed: u64,
    faults: &mut dyn Faults,
) -> LoadReport {
    let pool = Client::open(url)
        .expect("URL")
        .pool(PoolConfig::default().max_size(POOL_THREADS as usize))
        .expect("pool");
    let tally = Arc::new(Tally::default());
    let mut failures = Vec::new();
    faults.start();
    let stop = Arc::new(AtomicBool::new(false));
    let mut seeds = Rng::new(seed);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    for task in 0..POOL_THREADS {
        let (pool, tally, done) = (pool.clone(), Arc::clone(&tally), done_tx.clone());
        let (rng, stop) = (Rng::new(seeds.next_u64()), Arc::clone(&stop));
        std::thread::spawn(move || {
            pool_thread(&pool, task, &stop, rng, &tally);
            let _ = done.send(());
        });
    }
    let load = run_until_enough(load, min_ops, &*faults, &tally, &stop);
    let deadline = Instant::now() + DRAIN_WITHIN;
    let finished = (0..POOL_THREADS)
        .take_while(|_| {
            let left = deadline.saturating_duration_since(Instant::now());
            done_rx.recv_timeout(left).is_ok()
        })
        .count() as u64;
    if finished < POOL_THREADS {
        failures.push(format!(
            "{} of {POOL_THREADS} threads were still stuck {DRAIN_WITHIN:?} after the load",
            POOL_THREADS - finished
        ));
    }
    let (faults, fault_failures) = faults.stop();
    failures.extend(fault_failures);
    std::thread::sleep(SETTLE);
    let (probe_tx, probe_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = probe_tx.send(pool.get().and_then(|mut con| con.send(echo("recovered"))));
    });
    let probe = probe_rx.recv_timeout(RECOVER_WITHIN);
    if !matches!(&probe, Ok(Ok(v)) if v == "recovered") {
        failures.push(format!(
            "after the faults stopped, ECHO through the pool gave {probe:?} (within {RECOVER_WITHIN:?})"
        ));
    }
    LoadReport {
        tally,
        load,
        faults,
        failures,
    }
}

#[test]
fn pool_kill_under_load() {
    let label = "pool kill under load";
    let (seed, load) = (seed(label), load_time() / 2);
    let server = Server::valkey().expect("server starts");
    let mut kills = ServerKills::new(&server, seed, load, 15.0);
    let report = run_pool_load(&server.url(), load, 1_000, seed, &mut kills);
    assert_no_failures(&report.check(label, 1_000));
}

// ---------------------------------------------------------------------------------------------
// Duplicate writes: an INCR whose reply was lost ran once, and says so.

/// `cmdstat_incr:calls` of the server (0 before the first INCR).
fn incr_calls(server: &Server) -> u64 {
    let info = server.command(&["INFO", "commandstats"]).expect("INFO");
    let text = info.as_text().unwrap_or_default();
    text.split("cmdstat_incr:calls=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// INCRs (and what came of them) of one connection object, sync or async.
#[derive(Default)]
struct IncrLog {
    /// INCRs handed to the library, minus those it reports as never sent.
    sent: u64,
    /// Operations whose reply the proxy cut.
    cuts: u64,
    /// Cut operations that reported `is_unclear()`.
    unclear: u64,
    errors: HashMap<ErrorKind, u64>,
    failures: Vec<String>,
}

impl IncrLog {
    /// Checks the PING that re-opens the connection after a cut, before the next cut is armed
    /// (otherwise the cut would hit the reconnect's handshake instead of the INCR).
    fn reconnected(&mut self, ping: valkey::Result<String>) {
        if let Err(e) = ping {
            self.failures.push(format!("PING after a cut failed: {e}"));
        }
    }

    /// Notes the outcome of an operation of `incrs` INCRs; `cut`: the proxy cut its reply.
    fn note<T: Debug>(&mut self, what: &str, incrs: u64, cut: bool, result: valkey::Result<T>) {
        if !matches!(&result, Err(e) if e.is_not_sent()) {
            self.sent += incrs;
        }
        self.cuts += cut as u64;
        match (&result, cut) {
            (Err(e), true) => {
                *self.errors.entry(e.kind()).or_default() += 1;
                if e.is_unclear() {
                    self.unclear += 1;
                } else if self.failures.len() < 5 {
                    self.failures.push(format!(
                        "{what} whose reply was lost gave {:?}, not Unclear: {e}",
                        e.kind()
                    ));
                }
            }
            (Ok(v), true) => self.failures.push(format!(
                "{what} whose reply was lost succeeded ({v:?}): it was run again behind the caller's back"
            )),
            (Err(e), false) => self.failures.push(format!("{what} failed with nothing cut: {e}")),
            (Ok(_), false) => {}
        }
    }
}

/// Rounds of: one INCR cut, one INCR through, a pipeline of three INCRs cut.
const INCR_ROUNDS: u64 = 10;
/// How long one of those operations may take.
const INCR_WITHIN: Duration = Duration::from_secs(5);

fn incr() -> impl Command<Output = i64> {
    Cmd::new("INCR").arg("counter").returning::<i64>()
}

/// The INCR rounds on a blocking connection, on a thread of their own: a hang shows as a
/// failure after the rounds' time is up.
fn incr_rounds_sync(client: Client, proxy: Arc<Proxy>) -> IncrLog {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut log = IncrLog::default();
        let mut con = client.get_connection().expect("connects");
        for _ in 0..INCR_ROUNDS {
            log.reconnected(con.send(valkey::cmd::ping()));
            proxy.cut_after_forward(1);
            log.note("INCR", 1, true, con.send(incr()));
            log.note("INCR", 1, false, con.send(incr()));
            proxy.cut_after_forward(3);
            log.note(
                "a pipeline of 3 INCRs",
                3,
                true,
                con.pipe((incr(), incr(), incr())),
            );
        }
        let _ = tx.send(log);
    });
    let within = INCR_WITHIN * INCR_ROUNDS as u32;
    rx.recv_timeout(within).unwrap_or_else(|_| IncrLog {
        failures: vec![format!(
            "the sync INCR rounds did not end within {within:?}: a hang"
        )],
        ..IncrLog::default()
    })
}

/// The INCR rounds on the shared async connection, each operation bounded.
fn incr_rounds_async(client: Client, proxy: &Proxy) -> IncrLog {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut log = IncrLog::default();
    let con = rt
        .block_on(client.get_async_connection())
        .expect("connects");
    for _ in 0..INCR_ROUNDS {
        log.reconnected(bounded(&rt, con.send(valkey::cmd::ping())));
        proxy.cut_after_forward(1);
        log.note("INCR", 1, true, bounded(&rt, con.send(incr())));
        log.note("INCR", 1, false, bounded(&rt, con.send(incr())));
        proxy.cut_after_forward(3);
        let pipe = bounded(&rt, con.pipe((incr(), incr(), incr())));
        log.note("a pipeline of 3 INCRs", 3, true, pipe);
    }
    log
}

/// Runs `op` within [`INCR_WITHIN`]; a hang becomes a `Timeout` error saying so.
fn bounded<T>(
    rt: &tokio::runtime::Runtime,
    op: impl Future<Output = valkey::Result<T>>,
) -> valkey::Result<T> {
    rt.block_on(async { tokio::time::timeout(INCR_WITHIN, op).await })
        .unwrap_or_else(|_| {
            Err(valkey::Error::new(
                ErrorKind::Timeout,
                "hung: no outcome in time",
            ))
        })
}

#[test]
fn lost_replies_never_run_a_write_twice() {
    let server = Server::valkey().expect("server starts");
    let proxy = Arc::new(Proxy::start(server.addr()).expect("proxy starts"));
    let mut failures = Vec::new();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        for api in ["sync", "async"] {
            let label = format!("INCR with lost replies, {api} {protocol:?}");
            server.command(&["CONFIG", "RESETSTAT"]).unwrap();
            server.command(&["DEL", "counter"]).unwrap();
            let client = Client::open(url(&proxy.url(), protocol)).expect("URL");
            let mut log = match api {
                "sync" => incr_rounds_sync(client, Arc::clone(&proxy)),
                _ => incr_rounds_async(client, &proxy),
            };
            // A cut link closes once the server has answered; give the last one that moment.
            let deadline = Instant::now() + Duration::from_secs(3);
            while incr_calls(&server) < log.sent && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(50));
            let calls = incr_calls(&server);
            if calls != log.sent {
                log.failures.push(format!(
                    "the server ran INCR {calls} times, the client sent {}",
                    log.sent
                ));
            }
            eprintln!(
                "{label}: sent {} INCRs, server ran {calls}; cuts {}, unclear {}, errors {:?}",
                log.sent, log.cuts, log.unclear, log.errors
            );
            failures.extend(log.failures.into_iter().map(|f| format!("{label}: {f}")));
        }
    }
    assert_no_failures(&failures);
}
