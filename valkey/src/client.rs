//! `Client`: the entry point (valkey-py's `Valkey.from_url`). It holds the configuration and
//! opens connections: blocking ones, pools, and the shared async connection.

use crate::config::{ConnectionInfo, IntoConnectionInfo};
use crate::error::Result;
use crate::sync::{Connection, Pool, PoolConfig};
use std::sync::Arc;

/// Opens connections to one server.
///
/// ```no_run
/// # fn main() -> valkey::Result<()> {
/// let client = valkey::Client::open("valkey://127.0.0.1:6379/0")?;
/// let mut con = client.get_connection()?;
/// let reply: valkey::Value = con.send(valkey::Cmd::new("PING"))?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    info: Arc<ConnectionInfo>,
}

impl Client {
    /// A client for a URL or a [`ConnectionInfo`]. Nothing is connected yet; a bad URL is an
    /// error here.
    pub fn open(info: impl IntoConnectionInfo) -> Result<Client> {
        Ok(Client {
            info: Arc::new(info.into_connection_info()?),
        })
    }

    /// The configuration.
    pub fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// Opens a blocking connection.
    pub fn get_connection(&self) -> Result<Connection> {
        Connection::with_info(Arc::clone(&self.info))
    }

    /// A blocking pool of connections to this server.
    pub fn pool(&self, config: PoolConfig) -> Result<Pool> {
        Pool::new((*self.info).clone(), config)
    }

    /// Opens the shared async connection: cheap to clone, used by many tasks at once, with
    /// automatic pipelining. Blocking commands run on dedicated connections it opens as needed.
    #[cfg(feature = "tokio")]
    pub async fn get_async_connection(&self) -> Result<crate::aio::MultiplexedConnection> {
        crate::aio::MultiplexedConnection::connect(Arc::clone(&self.info)).await
    }

    /// Opens a blocking subscriber on a dedicated connection (see [`crate::pubsub`]).
    pub fn get_pubsub(&self) -> Result<crate::pubsub::PubSub> {
        crate::pubsub::PubSub::open(Arc::clone(&self.info))
    }

    /// Opens an async subscriber on a dedicated connection (see [`crate::pubsub`]).
    #[cfg(feature = "tokio")]
    pub async fn get_async_pubsub(&self) -> Result<crate::pubsub::AsyncPubSub> {
        crate::pubsub::AsyncPubSub::open(Arc::clone(&self.info)).await
    }

    /// Opens a blocking MONITOR on a dedicated connection (see [`crate::monitor`]).
    pub fn get_monitor(&self) -> Result<crate::monitor::Monitor> {
        crate::monitor::Monitor::open(Arc::clone(&self.info))
    }

    /// Opens an async MONITOR on a dedicated connection (see [`crate::monitor`]).
    #[cfg(feature = "tokio")]
    pub async fn get_async_monitor(&self) -> Result<crate::monitor::AsyncMonitor> {
        crate::monitor::AsyncMonitor::open(Arc::clone(&self.info)).await
    }
}
