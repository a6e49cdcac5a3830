//! The async side (tokio): the shared, multiplexed connection.

mod batch;
mod multiplexed;
mod slots;
pub(crate) mod stream;
mod subscriber;

pub use multiplexed::{ConnectionStats, MultiplexedConnection};
pub use subscriber::{SharedSubscriber, SHARED_SUBSCRIBER_CAPACITY};
