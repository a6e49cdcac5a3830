//! Shared code of the benchmark binaries (`basic_operations`, `compare`): hand-written argument
//! parsing, process CPU time, the server under test, the seed's operations, statistics, progress
//! lines, the pub/sub workloads' payloads and sequence check, and reports (markdown, JSON lines,
//! SVG).

pub mod args;
pub mod cpu;
pub mod ops;
pub mod progress;
pub mod pubsub;
pub mod report;
pub mod seed;
pub mod stats;
pub mod target;

/// The error type of the benchmark binaries: anything printable.
pub type BoxError = Box<dyn std::error::Error>;

/// `Result` with [`BoxError`].
pub type Res<T> = Result<T, BoxError>;
