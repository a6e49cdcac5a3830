//! A fresh, uniquely named directory under the system temp dir, removed on drop (kept when the
//! environment variable `VALKEY_TESTS_KEEP_DIRS` is set, to look at a failed server's files).

use crate::error::{HarnessError, Result};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A directory that exists while this value lives.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<temp>/<prefix>-<pid>-<counter>-<nanos>`; the name is unique across processes
    /// (pid) and within one (counter), and `create_dir` refuses to reuse an existing one.
    pub fn new(prefix: &str) -> Result<TempDir> {
        let base = std::env::temp_dir();
        for _ in 0..100 {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = base.join(format!("{prefix}-{}-{n}-{nanos:x}", std::process::id()));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(HarnessError::io(
                        format!("creating temp dir {}", path.display()),
                        e,
                    ))
                }
            }
        }
        Err(HarnessError::new(format!(
            "could not create a unique temp dir under {}",
            base.display()
        )))
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("VALKEY_TESTS_KEEP_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
