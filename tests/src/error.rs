//! The harness's own error: a message saying what failed, where the harness looked and how to fix
//! it (with the server's log when a server did not start). Tests usually `unwrap()` or `?` it.

use std::fmt;

/// The harness's `Result`.
pub type Result<T, E = HarnessError> = std::result::Result<T, E>;

/// Something the harness could not do: find a binary, start a server, form a cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct HarnessError {
    message: String,
}

impl HarnessError {
    /// An error with a message that says what failed and, where possible, what to do.
    pub fn new(message: impl Into<String>) -> HarnessError {
        HarnessError {
            message: message.into(),
        }
    }

    /// An I/O error, with what the harness was doing.
    pub fn io(context: impl fmt::Display, err: std::io::Error) -> HarnessError {
        HarnessError::new(format!("{context}: {err}"))
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

// Debug prints the message as is, so `unwrap()` in a test shows a readable server log.
impl fmt::Debug for HarnessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HarnessError {}
