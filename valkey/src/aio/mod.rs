//! The async side (tokio): the shared, multiplexed connection.

mod batch;
mod multiplexed;
mod slots;
pub(crate) mod stream;

pub use multiplexed::MultiplexedConnection;
