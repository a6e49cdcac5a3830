//! The async side (tokio): the shared, multiplexed connection, and the cluster connection
//! built from one of them per node.

mod batch;
#[cfg(feature = "cluster")]
mod cluster;
mod multiplexed;
mod slots;
pub(crate) mod stream;
mod subscriber;

#[cfg(feature = "cluster")]
pub use cluster::{ClusterConnection, ScanBatches};
pub use multiplexed::{ConnectionStats, MultiplexedConnection};
pub use subscriber::{SharedSubscriber, SHARED_SUBSCRIBER_CAPACITY};
