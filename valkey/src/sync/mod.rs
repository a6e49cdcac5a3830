//! The blocking side: a connection over `std::net`/Unix sockets and a pool of them.

mod batch;
pub(crate) mod connection;
mod pool;

pub use connection::Connection;
pub use pool::{Pool, PoolConfig, PooledConnection};
