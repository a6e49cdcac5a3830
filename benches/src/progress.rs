//! A one-line progress indicator (`\r`-rewritten), shown only when stdout is a terminal so that
//! redirected output stays clean. Checks the clock only every few thousand ticks.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

/// Progress of one operation: `label  42% (42000/100000)`.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    label: &'static str,
    total: u64,
    last: Instant,
}

impl Progress {
    /// A progress line for `total` steps of `label`; silent unless stdout is a terminal.
    pub fn new(label: &'static str, total: u64) -> Progress {
        Progress {
            enabled: std::io::stdout().is_terminal(),
            label,
            total,
            last: Instant::now(),
        }
    }

    /// Reports that `done` steps are complete. Cheap when called for every step.
    #[inline]
    pub fn tick(&mut self, done: u64) {
        if self.enabled && done % 1024 == 0 {
            self.redraw(done);
        }
    }

    #[cold]
    fn redraw(&mut self, done: u64) {
        if self.last.elapsed() < REDRAW {
            return;
        }
        self.last = Instant::now();
        let pct = done * 100 / self.total.max(1);
        let mut out = std::io::stdout().lock();
        let _ = write!(
            out,
            "\r{:<12} {pct:>3}% ({done}/{})",
            self.label, self.total
        );
        let _ = out.flush();
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.enabled {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r{:<60}\r", "");
            let _ = out.flush();
        }
    }
}
