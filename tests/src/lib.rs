//! The test-server harness: finds and starts real `valkey-server` / `redis-server` processes on free
//! loopback ports (standalone, TLS, or as a formed cluster), for integration tests and benchmarks.
//! It talks to the servers with its own tiny RESP client, never with the client under test, and
//! puts a fault-injecting [`Proxy`] in front of a server for tests of broken networks and hostile
//! replies. A [`WriterLog`] ledger checks writes made through a fault against what the server
//! kept.
//!
//! ```no_run
//! use valkey_tests::{Server, ServerOptions};
//! let server = ServerOptions::valkey().password("secret").start()?;
//! println!("{}", server.url()); // valkey://:secret@127.0.0.1:PORT
//! # Ok::<(), valkey_tests::HarnessError>(())
//! ```

mod binaries;
mod cluster;
mod error;
mod ledger;
mod ports;
mod proxy;
pub mod resp;
mod rng;
mod server;
mod tempdir;
mod tls;

pub use binaries::{server_binary, server_version, ServerKind};
pub use cluster::{Cluster, ClusterOptions, FailoverMode, SLOTS};
pub use error::{HarnessError, Result};
pub use ledger::{FaultWindow, LedgerReport, Role, Workload, WriteOutcome, WriteRecord, WriterLog};
pub use ports::free_port;
pub use proxy::{AfterInjection, Proxy, ProxyHandle, ProxyStats};
pub use resp::{Reply, RespConn};
pub use rng::Rng;
pub use server::{Server, ServerOptions, TlsClientAuth, HOST};
pub use tempdir::TempDir;
pub use tls::TlsFiles;
