//! CPU time of this process (user + system, all threads) from `getrusage(RUSAGE_SELF)`, declared
//! here directly so no libc crate is needed. Linux computes the sum from the scheduler's precise
//! run time, so short workloads are measured to the microsecond, not to the 10 ms tick.

use std::time::{Duration, Instant};

#[cfg(unix)]
mod sys {
    use std::os::raw::{c_int, c_long};

    #[repr(C)]
    #[derive(Default)]
    struct Timeval {
        tv_sec: c_long,
        tv_usec: c_long,
    }

    /// `struct rusage`: two timevals, then fourteen longs we do not read.
    #[repr(C)]
    #[derive(Default)]
    struct Rusage {
        ru_utime: Timeval,
        ru_stime: Timeval,
        rest: [c_long; 14],
    }

    extern "C" {
        fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
    }

    const RUSAGE_SELF: c_int = 0;

    /// (user, system) CPU time in microseconds.
    pub fn process_cpu_micros() -> Option<(u64, u64)> {
        let mut usage = Rusage::default();
        // SAFETY: `usage` is a valid, writable `struct rusage` for the duration of the call.
        let rc = unsafe { getrusage(RUSAGE_SELF, &mut usage) };
        if rc != 0 {
            return None;
        }
        // `c_long` is `i64` on 64-bit targets and `i32` on 32-bit ones.
        #[allow(clippy::useless_conversion)]
        let micros = |t: &Timeval| i64::from(t.tv_sec) * 1_000_000 + i64::from(t.tv_usec);
        Some((
            u64::try_from(micros(&usage.ru_utime)).ok()?,
            u64::try_from(micros(&usage.ru_stime)).ok()?,
        ))
    }
}

#[cfg(not(unix))]
mod sys {
    pub fn process_cpu_micros() -> Option<(u64, u64)> {
        None
    }
}

/// CPU time used by this process so far (user + system, all threads), or zero where unknown.
///
/// Only the sum is used: the kernel splits it between user and system by tick samples, scaled
/// to the cumulative ratio, so the split of one short run after a run of another kind (a
/// user-heavy `conc` before a kernel-heavy `seq`) is misattributed.
pub fn process_cpu_time() -> Duration {
    let (user, system) = sys::process_cpu_micros().unwrap_or((0, 0));
    Duration::from_micros(user + system)
}

/// Wall-clock and CPU time of one measured run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Elapsed real time.
    pub wall: Duration,
    /// CPU time of this process (user + system, all threads) over the run.
    pub cpu: Duration,
}

impl Sample {
    /// Operations per second for `ops` operations.
    pub fn ops_per_sec(&self, ops: u64) -> f64 {
        ops as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// CPU microseconds per operation for `ops` operations.
    pub fn cpu_us_per_op(&self, ops: u64) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / ops.max(1) as f64
    }
}

/// Runs `f` and measures it.
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Sample) {
    let cpu0 = process_cpu_time();
    let t0 = Instant::now();
    let r = f();
    let wall = t0.elapsed();
    let cpu = process_cpu_time().saturating_sub(cpu0);
    (r, Sample { wall, cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_as_cpu_time_and_sleep_does_not() {
        // Spin until the process has used 20 ms of CPU (bounded by wall time, so a broken
        // clock fails instead of hanging); on a loaded machine that takes longer, never less.
        let (_, busy) = measure(|| {
            let start = process_cpu_time();
            let t = Instant::now();
            let mut x = 0u64;
            while process_cpu_time().saturating_sub(start) < Duration::from_millis(20)
                && t.elapsed() < Duration::from_secs(10)
            {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            }
            x
        });
        assert!(busy.cpu >= Duration::from_millis(20), "{busy:?}");
        let (_, idle) = measure(|| std::thread::sleep(Duration::from_millis(100)));
        assert!(idle.wall >= Duration::from_millis(100));
        assert!(idle.cpu < Duration::from_millis(50), "{idle:?}");
    }

    #[test]
    fn rates() {
        let s = Sample {
            wall: Duration::from_millis(500),
            cpu: Duration::from_millis(250),
        };
        assert_eq!(s.ops_per_sec(1000), 2000.0);
        assert_eq!(s.cpu_us_per_op(1000), 250.0);
    }
}
