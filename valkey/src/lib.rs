//! A typed Valkey client. Every server command has a generated builder in [`cmd`] whose reply type
//! is known; one command value runs on every executor (sync and async connections, pipelines,
//! transactions).
//!
//! ```no_run
//! # fn main() -> valkey::Result<()> {
//! let client = valkey::Client::open("valkey://127.0.0.1:6379")?;
//! let mut con = client.get_connection()?;
//! let reply: valkey::Value = con.send(valkey::Cmd::new("SET").arg("k").arg("v"))?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

// Lets `#[derive(FromValkey)]`'s `::valkey::...` paths resolve inside this crate too.
extern crate self as valkey;

pub mod acl;
#[cfg(feature = "tokio")]
pub mod aio;
mod client;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod cmd;
pub mod config;
pub mod convert;
pub mod error;
mod keepalive;
pub mod monitor;
pub mod pipeline;
pub mod proto;
pub mod pubsub;
pub mod resp;
pub mod routing;
pub mod sync;
#[cfg(feature = "tls")]
mod tls;
pub mod value;

pub use client::Client;
#[cfg(feature = "cluster")]
pub use client::ClusterClient;
pub use cmd::{Cmd, Command};
pub use config::{ConnectionInfo, Protocol, TlsOptions};
#[cfg(feature = "json")]
pub use convert::Json;
pub use convert::{FromValkey, ToValkeyArg, ToValkeyArgs};
pub use error::{Error, ErrorKind, Result};
pub use valkey_typed_macros::{FromValkey, ToValkeyArgs};
pub use value::{ServerError, Value};

/// The README's examples, compiled as doctests so they stay true (they use the cluster client
/// too: run with the `cluster` feature, as the workspace's tests do).
#[cfg(all(doctest, feature = "cluster"))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
