//! A ledger of list writes made through a fault: what each writer was told about each element
//! it pushed, checked against the lists the server kept (lost, duplicated, misplaced, applied
//! despite an error that said "not run"), with the recovery time of the writers on the affected
//! slots and the throughput of the others. Independent of the client under test: the test maps
//! each reply to a [`WriteOutcome`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// What a writer's list is to the fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Its slot is served by the failing node, or moves: its recovery time is measured.
    Affected,
    /// Its shard takes part in the fault (a resharding's target): neither measured as
    /// affected nor as healthy.
    Involved,
    /// Its shard is not touched: its throughput is measured before and during the fault.
    Healthy,
}

/// What the caller of one write was told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// It ran, and at least one replica acknowledged it (`WAIT 1` returned 1 or more).
    Replicated,
    /// It ran, and no replica acknowledged it before the `WAIT` timeout (it may be lost by a
    /// failover: the server's asynchronous replication, not the client).
    Unreplicated,
    /// The client said it may or may not have run (`Unclear`).
    Unclear,
    /// The client said it did not run (a retry-safe error, with its text).
    NotApplied(String),
    /// Any other error, with its text.
    Failed(String),
}

impl WriteOutcome {
    /// Whether the write ran and the caller was told so.
    pub fn ran(&self) -> bool {
        matches!(self, WriteOutcome::Replicated | WriteOutcome::Unreplicated)
    }
}

/// One write: the element pushed, when it was started and answered, and the answer.
#[derive(Clone, Debug)]
pub struct WriteRecord {
    /// The element, unique in the whole run.
    pub element: String,
    /// When the caller sent it.
    pub started: Instant,
    /// When the caller got its answer.
    pub ended: Instant,
    /// The answer.
    pub outcome: WriteOutcome,
}

/// Every write of one writer, to its one list.
#[derive(Clone, Debug)]
pub struct WriterLog {
    /// The list the writer pushes to.
    pub key: String,
    /// What its list is to the fault.
    pub role: Role,
    /// Whether a write started after the fault has run (see [`Workload::record`]).
    recovered: bool,
    /// The writes, in order.
    pub records: Vec<WriteRecord>,
}

impl WriterLog {
    /// An empty log for a writer of `key`.
    pub fn new(key: impl Into<String>, role: Role) -> WriterLog {
        WriterLog {
            key: key.into(),
            role,
            recovered: false,
            records: Vec::new(),
        }
    }

    /// Records one write started at `started` and answered now.
    pub fn record(&mut self, element: String, started: Instant, outcome: WriteOutcome) {
        self.records.push(WriteRecord {
            element,
            started,
            ended: Instant::now(),
            outcome,
        });
    }
}

/// What the writers of one run share: when to stop, when the fault began, and how many
/// affected writers have written again since.
#[derive(Debug, Default)]
pub struct Workload {
    stop: AtomicBool,
    fault_at: OnceLock<Instant>,
    recovered: AtomicUsize,
}

impl Workload {
    /// A workload that runs until [`Workload::stop`].
    pub fn new() -> Workload {
        Workload::default()
    }

    /// Whether the writers should go on.
    pub fn running(&self) -> bool {
        !self.stop.load(Ordering::Relaxed)
    }

    /// Tells the writers to finish their current write and stop.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Marks the fault's start (once) and returns it.
    pub fn fault_begins(&self) -> Instant {
        *self.fault_at.get_or_init(Instant::now)
    }

    /// The fault's start, once marked.
    pub fn fault_at(&self) -> Option<Instant> {
        self.fault_at.get().copied()
    }

    /// Affected writers whose write started after the fault has run.
    pub fn recovered(&self) -> usize {
        self.recovered.load(Ordering::Relaxed)
    }

    /// Records a write that started at `started` in `log`, and counts the writer as recovered
    /// at its first write that started after the fault and ran.
    pub fn record(
        &self,
        log: &mut WriterLog,
        element: String,
        started: Instant,
        outcome: WriteOutcome,
    ) {
        let after_fault = self.fault_at().is_some_and(|at| started >= at);
        if after_fault && outcome.ran() && !log.recovered && log.role == Role::Affected {
            log.recovered = true;
            self.recovered.fetch_add(1, Ordering::Relaxed);
        }
        log.record(element, started, outcome);
    }
}

/// When the fault began and when the harness saw the cluster healed (or the fault done).
#[derive(Clone, Copy, Debug)]
pub struct FaultWindow {
    /// The fault's start.
    pub at: Instant,
    /// When the harness saw it over (new primary agreed on, slots moved).
    pub healed: Instant,
    /// The start of the measurement before the fault (after the writers warmed up).
    pub measured_from: Instant,
}

/// The ledger checked against the server's lists.
#[derive(Clone, Debug, Default)]
pub struct LedgerReport {
    /// Writes in all, and by outcome.
    pub writes: usize,
    /// Writes a replica acknowledged.
    pub replicated: usize,
    /// Writes that ran without a replica's acknowledgement.
    pub unreplicated: usize,
    /// Writes reported `Unclear`, and how many of those the server has.
    pub unclear: usize,
    /// `Unclear` writes found in the lists (they ran).
    pub unclear_applied: usize,
    /// Writes reported as not run (retried by the writer as new elements).
    pub not_applied: usize,
    /// The not-run writes by what the test said of them (an error code).
    pub not_applied_by: std::collections::BTreeMap<String, usize>,
    /// Replicated writes missing from their list.
    pub lost: usize,
    /// Extra copies of elements in the lists.
    pub duplicated: usize,
    /// Elements in a list other than their writer's, or written by nobody.
    pub misplaced: usize,
    /// Elements in the lists whose write the client reported as not run or failed: an
    /// outcome the client did not surface as `Unclear`.
    pub applied_despite_error: usize,
    /// Errors other than `Unclear` and not-run, with their text (the first few).
    pub failed: usize,
    /// The first few texts of failed writes.
    pub failures: Vec<String>,
    /// Per affected writer, from the fault to the answer of the first write it started after
    /// the fault that ran and is in its list at the end; `None` for writers that never got
    /// one.
    pub recovery: Vec<Option<Duration>>,
    /// Writes per second of the unaffected writers before the fault and during it.
    pub healthy_before: f64,
    /// See [`LedgerReport::healthy_before`].
    pub healthy_during: f64,
}

impl LedgerReport {
    /// Checks `logs` against `stored` (each list's elements as the server has them).
    pub fn check(
        logs: &[WriterLog],
        stored: &HashMap<String, Vec<Vec<u8>>>,
        fault: FaultWindow,
    ) -> LedgerReport {
        let mut r = LedgerReport::default();
        // element -> (its writer's key, its outcome)
        let mut written: HashMap<&str, (&str, &WriteOutcome)> = HashMap::new();
        for log in logs {
            for w in &log.records {
                written.insert(&w.element, (&log.key, &w.outcome));
                r.writes += 1;
                match &w.outcome {
                    WriteOutcome::Replicated => r.replicated += 1,
                    WriteOutcome::Unreplicated => r.unreplicated += 1,
                    WriteOutcome::Unclear => r.unclear += 1,
                    WriteOutcome::NotApplied(why) => {
                        r.not_applied += 1;
                        *r.not_applied_by.entry(why.clone()).or_default() += 1;
                    }
                    WriteOutcome::Failed(text) => {
                        r.failed += 1;
                        if r.failures.len() < 5 {
                            r.failures.push(format!("{}: {text}", w.element));
                        }
                    }
                }
            }
        }
        // element -> the list it was first found in
        let mut found: HashMap<&[u8], &str> = HashMap::new();
        for (key, items) in stored {
            for item in items {
                if found.insert(item, key).is_some() {
                    r.duplicated += 1;
                    continue;
                }
                let Some((owner, outcome)) =
                    std::str::from_utf8(item).ok().and_then(|e| written.get(e))
                else {
                    r.misplaced += 1;
                    continue;
                };
                if owner != key {
                    r.misplaced += 1;
                }
                match outcome {
                    WriteOutcome::Unclear => r.unclear_applied += 1,
                    WriteOutcome::NotApplied(_) | WriteOutcome::Failed(_) => {
                        r.applied_despite_error += 1
                    }
                    _ => {}
                }
            }
        }
        for log in logs {
            for w in &log.records {
                let kept = found.get(w.element.as_bytes()) == Some(&log.key.as_str());
                if w.outcome == WriteOutcome::Replicated && !kept {
                    r.lost += 1;
                }
            }
        }
        // Recovered: a write started after the fault that ran and is kept (one the demoted
        // old primary took before it learnt of the failover, and dropped, does not count).
        r.recovery = logs
            .iter()
            .filter(|l| l.role == Role::Affected)
            .map(|l| {
                l.records
                    .iter()
                    .find(|w| {
                        w.started >= fault.at
                            && w.outcome.ran()
                            && found.get(w.element.as_bytes()) == Some(&l.key.as_str())
                    })
                    .map(|w| w.ended - fault.at)
            })
            .collect();
        let rate = |from: Instant, to: Instant| {
            let n = logs
                .iter()
                .filter(|l| l.role == Role::Healthy)
                .flat_map(|l| &l.records)
                .filter(|w| w.outcome.ran() && w.ended >= from && w.ended < to)
                .count();
            n as f64 / (to - from).as_secs_f64().max(1e-3)
        };
        r.healthy_before = rate(fault.measured_from, fault.at);
        r.healthy_during = rate(fault.at, fault.healed);
        r
    }

    /// The `p`-th percentile (nearest rank) of the recovery times; `None` when an affected
    /// writer never recovered or there is none.
    pub fn recovery_percentile(&self, p: f64) -> Option<Duration> {
        let mut times: Vec<Duration> = self.recovery.iter().copied().collect::<Option<_>>()?;
        if times.is_empty() {
            return None;
        }
        times.sort_unstable();
        let rank = ((p / 100.0) * times.len() as f64).ceil() as usize;
        Some(times[rank.clamp(1, times.len()) - 1])
    }

    /// Affected writers that never had a write run after the fault.
    pub fn never_recovered(&self) -> usize {
        self.recovery.iter().filter(|r| r.is_none()).count()
    }

    /// The unaffected writers' throughput during the fault, as a share of before.
    pub fn healthy_ratio(&self) -> f64 {
        self.healthy_during / self.healthy_before.max(1e-9)
    }

    /// What went wrong, one line each: empty when nothing acknowledged was lost, nothing was
    /// duplicated or misplaced, every write that may have run was reported `Unclear`, no other
    /// error came, and every affected writer wrote again after the fault.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |n: usize, what: &str| {
            if n > 0 {
                out.push(format!("{n} {what}"));
            }
        };
        check(self.lost, "replica-acknowledged elements lost");
        check(self.duplicated, "elements duplicated");
        check(
            self.misplaced,
            "elements in the wrong list or written by nobody",
        );
        check(
            self.applied_despite_error,
            "elements stored although their write was reported as not run or failed",
        );
        check(
            self.failed,
            "writes failed with an error other than Unclear",
        );
        check(self.never_recovered(), "affected writers never wrote again");
        if !self.failures.is_empty() {
            out.push(format!("first failures: {:?}", self.failures));
        }
        out
    }
}

impl std::fmt::Display for LedgerReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Option<Duration>| {
            d.map_or_else(|| "never".to_owned(), |d| format!("{} ms", d.as_millis()))
        };
        write!(
            f,
            "{} writes: {} replicated, {} unreplicated, {} unclear ({} of them applied), {} not \
             run {:?} (retried as new elements), {} failed; lost {}, duplicated {}, misplaced {}, \
             applied despite an error {}; first write after the fault on an affected slot: \
             p50 {}, p99 {}, max {}; healthy shards {:.0} writes/s before, {:.0} during ({:.0}%)",
            self.writes,
            self.replicated,
            self.unreplicated,
            self.unclear,
            self.unclear_applied,
            self.not_applied,
            self.not_applied_by,
            self.failed,
            self.lost,
            self.duplicated,
            self.misplaced,
            self.applied_despite_error,
            ms(self.recovery_percentile(50.0)),
            ms(self.recovery_percentile(99.0)),
            ms(self.recovery_percentile(100.0)),
            self.healthy_before,
            self.healthy_during,
            100.0 * self.healthy_ratio(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(key: &str, role: Role, writes: &[(&str, WriteOutcome)]) -> WriterLog {
        let mut l = WriterLog::new(key, role);
        for (e, o) in writes {
            l.record((*e).to_owned(), Instant::now(), o.clone());
        }
        l
    }

    #[test]
    fn counts_every_kind_of_damage() {
        let measured_from = Instant::now();
        let at = Instant::now();
        let logs = [
            log(
                "a",
                Role::Affected,
                &[
                    ("a1", WriteOutcome::Replicated),
                    ("a2", WriteOutcome::Replicated),
                    ("a3", WriteOutcome::Unclear),
                    ("a4", WriteOutcome::NotApplied("MOVED".into())),
                ],
            ),
            log(
                "b",
                Role::Healthy,
                &[
                    ("b1", WriteOutcome::Replicated),
                    ("b2", WriteOutcome::Unreplicated),
                ],
            ),
        ];
        let stored = HashMap::from([
            // a2 lost, a1 duplicated, a4 applied although "not run", b2 misplaced, zz by nobody.
            (
                "a".to_owned(),
                vec![
                    b"a1".to_vec(),
                    b"a1".to_vec(),
                    b"a3".to_vec(),
                    b"a4".to_vec(),
                    b"b2".to_vec(),
                ],
            ),
            ("b".to_owned(), vec![b"b1".to_vec(), b"zz".to_vec()]),
        ]);
        let healed = Instant::now();
        let r = LedgerReport::check(
            &logs,
            &stored,
            FaultWindow {
                at,
                healed,
                measured_from,
            },
        );
        assert_eq!(r.lost, 1);
        assert_eq!(r.duplicated, 1);
        assert_eq!(r.unclear_applied, 1);
        assert_eq!(r.applied_despite_error, 1);
        assert_eq!(r.misplaced, 2);
        assert_eq!(r.recovery.len(), 1);
        assert!(!r.problems().is_empty());
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let r = LedgerReport {
            recovery: (1..=100).map(|i| Some(Duration::from_millis(i))).collect(),
            ..LedgerReport::default()
        };
        assert_eq!(r.recovery_percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(r.recovery_percentile(50.0), Some(Duration::from_millis(50)));
        let never = LedgerReport {
            recovery: vec![Some(Duration::ZERO), None],
            ..LedgerReport::default()
        };
        assert_eq!(never.recovery_percentile(50.0), None);
        assert_eq!(never.never_recovered(), 1);
    }
}
