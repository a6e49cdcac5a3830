//! The async side (tokio): the shared, multiplexed connection.

mod batch;
mod multiplexed;
mod stream;

pub use multiplexed::MultiplexedConnection;
