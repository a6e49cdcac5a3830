//! The blocking side: a connection over `std::net`/Unix sockets, a pool of them, and the
//! cluster connection built from one per node.

mod batch;
#[cfg(feature = "cluster")]
mod cluster;
pub(crate) mod connection;
mod pool;

#[cfg(feature = "cluster")]
pub use cluster::{ClusterConnection, ScanIter};
pub use connection::Connection;
pub use pool::{Pool, PoolConfig, PooledConnection};
