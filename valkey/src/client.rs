//! `Client`: the entry point (valkey-py's `Valkey.from_url`). It holds the configuration and
//! opens connections: blocking ones, pools, and the shared async connection. `ClusterClient`
//! does the same for a cluster, from seed URLs.

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

/// Opens connections to a cluster, from one or more seed nodes (valkey-py's `ValkeyCluster`).
///
/// ```no_run
/// # async fn run() -> valkey::Result<()> {
/// let client = valkey::ClusterClient::open(["valkey://127.0.0.1:7000", "valkey://127.0.0.1:7001"])?;
/// let con = client.get_async_connection().await?;
/// con.send(valkey::cmd::set("user:{42}:name", "ann")).await?;
/// let n: i64 = con.send(valkey::cmd::incr("user:{42}:visits")).await?;
/// # let _ = n; Ok(()) }
/// ```
#[cfg(feature = "cluster")]
#[derive(Clone, Debug)]
pub struct ClusterClient {
    seeds: Vec<Arc<ConnectionInfo>>,
    settings: crate::cluster::exec::Settings,
}

#[cfg(feature = "cluster")]
impl ClusterClient {
    /// A client for the cluster the seeds belong to. Each seed is a URL or a
    /// [`ConnectionInfo`] of a TCP node; the first one's settings (password, protocol,
    /// timeouts, TLS) apply to every node. Nothing is connected yet.
    pub fn open<I: IntoConnectionInfo>(
        seeds: impl IntoIterator<Item = I>,
    ) -> Result<ClusterClient> {
        let seeds = seeds
            .into_iter()
            .map(|s| s.into_connection_info().map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        if seeds.is_empty() {
            return Err(crate::Error::invalid_config(
                "a cluster client needs at least one seed",
            ));
        }
        Ok(ClusterClient {
            seeds,
            settings: crate::cluster::exec::Settings::default(),
        })
    }

    /// How redirects, waits and unreachable nodes are retried (default
    /// [`RetryPolicy::default`](crate::cluster::RetryPolicy::default)).
    pub fn with_retry(mut self, retry: crate::cluster::RetryPolicy) -> ClusterClient {
        self.settings.retry = retry;
        self
    }

    /// Where read-only commands go (default [`ReadFrom::Primary`](crate::cluster::ReadFrom)):
    /// replicas, or replicas in an availability zone, serve reads that may lag behind writes.
    pub fn with_read_from(mut self, read_from: crate::cluster::ReadFrom) -> ClusterClient {
        self.settings.read_from = read_from;
        self
    }

    /// How often the topology is read again when nothing says it changed (default 60 s;
    /// `None`: only when `MOVED`, `CLUSTERDOWN`, an unreachable or a stalled node say so).
    /// It notices replicas that came online, nodes that were added, and moves of slots this
    /// client does not use.
    pub fn with_topology_refresh(mut self, every: Option<std::time::Duration>) -> ClusterClient {
        self.settings.refresh_every = every;
        self
    }

    /// Connects to the first reachable seed, reads the topology, and returns a blocking cluster
    /// connection (see [`crate::sync::ClusterConnection`]).
    pub fn get_connection(&self) -> Result<crate::sync::ClusterConnection> {
        crate::sync::ClusterConnection::connect(self.seeds.clone(), self.settings.clone())
    }

    /// Connects to the first reachable seed, reads the topology, and returns the shared async
    /// cluster connection (see [`crate::aio::ClusterConnection`]).
    #[cfg(feature = "tokio")]
    pub async fn get_async_connection(&self) -> Result<crate::aio::ClusterConnection> {
        crate::aio::ClusterConnection::connect(self.seeds.clone(), self.settings.clone()).await
    }

    /// Connects to the cluster and returns a blocking subscriber that follows slot moves and
    /// failovers (see [`crate::pubsub::ClusterPubSub`] and the [`crate::pubsub`] docs).
    pub fn get_pubsub(&self) -> Result<crate::pubsub::ClusterPubSub> {
        Ok(crate::pubsub::ClusterPubSub::open(self.get_connection()?))
    }

    /// Connects to the cluster and returns an async subscriber that follows slot moves and
    /// failovers (see [`crate::pubsub::AsyncClusterPubSub`]).
    #[cfg(feature = "tokio")]
    pub async fn get_async_pubsub(&self) -> Result<crate::pubsub::AsyncClusterPubSub> {
        let cluster = self.get_async_connection().await?;
        Ok(crate::pubsub::AsyncClusterPubSub::open(cluster))
    }
}
