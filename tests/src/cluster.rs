//! A real cluster on loopback: N primaries with M replicas each, formed over the harness's raw
//! RESP connection (`CLUSTER SET-CONFIG-EPOCH`, `MEET`, `ADDSLOTSRANGE`, `REPLICATE`) without
//! `valkey-cli`, and ready when every node says `cluster_state:ok` and every replica is in sync.

use crate::binaries::ServerKind;
use crate::error::{HarnessError, Result};
use crate::resp::{info_field, Reply, RespConn};
use crate::server::{Server, ServerOptions, HOST};
use std::time::{Duration, Instant};

/// The number of hash slots.
pub const SLOTS: u16 = 16384;

/// How a cluster is started.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    node: ServerOptions,
    primaries: usize,
    replicas_per_primary: usize,
    node_timeout: Duration,
    ready_timeout: Duration,
}

impl ClusterOptions {
    /// A Valkey cluster of 3 primaries with 1 replica each.
    pub fn valkey() -> ClusterOptions {
        ClusterOptions::new(ServerOptions::valkey())
    }

    /// A Redis cluster of 3 primaries with 1 replica each.
    pub fn redis() -> ClusterOptions {
        ClusterOptions::new(ServerOptions::redis())
    }

    /// A cluster whose nodes start with `node` (a password, extra config lines, ...);
    /// `cluster-enabled` is added by the harness. 3 primaries with 1 replica each.
    pub fn new(node: ServerOptions) -> ClusterOptions {
        ClusterOptions {
            node: node.cluster_enabled(),
            primaries: 3,
            replicas_per_primary: 1,
            node_timeout: Duration::from_millis(5000),
            ready_timeout: Duration::from_secs(60),
        }
    }

    /// The number of primaries (at least 1); the slots are split evenly between them.
    pub fn primaries(mut self, n: usize) -> ClusterOptions {
        self.primaries = n;
        self
    }

    /// The number of replicas of each primary.
    pub fn replicas_per_primary(mut self, n: usize) -> ClusterOptions {
        self.replicas_per_primary = n;
        self
    }

    /// `cluster-node-timeout` (default 5 s): shorter makes failover tests faster.
    pub fn node_timeout(mut self, timeout: Duration) -> ClusterOptions {
        self.node_timeout = timeout;
        self
    }

    /// How long forming the cluster may take (default 60 s).
    pub fn ready_timeout(mut self, timeout: Duration) -> ClusterOptions {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the nodes and forms the cluster (shorthand for [`Cluster::start_with`]).
    pub fn start(self) -> Result<Cluster> {
        Cluster::start_with(self)
    }
}

/// A running cluster; every node is killed on drop.
///
/// Nodes `0..primaries` start as primaries, owning the slots in order; the others start as
/// replicas, node `primaries + i` replicating primary `i % primaries`. Roles may change later
/// (failover tests); ask the nodes for the truth then.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<Server>,
    ids: Vec<String>,
    primaries: usize,
    options: ClusterOptions,
}

impl Cluster {
    /// A Valkey cluster of `primaries` primaries with `replicas_per_primary` replicas each.
    pub fn start(primaries: usize, replicas_per_primary: usize) -> Result<Cluster> {
        ClusterOptions::valkey()
            .primaries(primaries)
            .replicas_per_primary(replicas_per_primary)
            .start()
    }

    /// Starts a cluster as `options` say and waits until it is ready.
    pub fn start_with(options: ClusterOptions) -> Result<Cluster> {
        if options.primaries == 0 {
            return Err(HarnessError::new("a cluster needs at least one primary"));
        }
        let count = options.primaries * (1 + options.replicas_per_primary);
        let node = options.node.clone().config(format!(
            "cluster-node-timeout {}",
            options.node_timeout.as_millis()
        ));
        // Start all nodes at once: a node takes a few tens of milliseconds to come up.
        let started: Vec<Result<Server>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..count)
                .map(|_| {
                    let node = node.clone();
                    scope.spawn(move || node.start())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(HarnessError::new("a node's start panicked")))
                })
                .collect()
        });
        let nodes = started.into_iter().collect::<Result<Vec<_>>>()?;
        let mut cluster = Cluster {
            nodes,
            ids: Vec::new(),
            primaries: options.primaries,
            options,
        };
        cluster.form()?;
        Ok(cluster)
    }

    fn form(&mut self) -> Result<()> {
        let deadline = Instant::now() + self.options.ready_timeout;
        let mut cons = self
            .nodes
            .iter()
            .map(Server::raw)
            .collect::<Result<Vec<_>>>()?;

        for (i, con) in cons.iter_mut().enumerate() {
            let id = con.command_ok(&["CLUSTER", "MYID"])?;
            self.ids.push(text(&id, "CLUSTER MYID")?);
            // Distinct epochs up front, as `--cluster create` does, so the nodes need not
            // resolve epoch collisions before the slot map settles.
            con.command_ok(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()])?;
        }

        for node in &self.nodes[1..] {
            let port = node.port().to_string();
            let bus = node.cluster_port().unwrap_or_default().to_string();
            cons[0].command_ok(&["CLUSTER", "MEET", HOST, &port, &bus])?;
        }

        let n = self.primaries as u32;
        for (i, con) in cons.iter_mut().take(self.primaries).enumerate() {
            let i = i as u32;
            let first = i * u32::from(SLOTS) / n;
            let last = (i + 1) * u32::from(SLOTS) / n - 1;
            con.command_ok(&[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &first.to_string(),
                &last.to_string(),
            ])?;
        }

        let all = self.nodes.len();
        self.wait_for("every node to know every other node", deadline, |cluster| {
            cluster.all_nodes(|_, con| {
                let nodes = text(&con.command_ok(&["CLUSTER", "NODES"])?, "CLUSTER NODES")?;
                let known = nodes
                    .lines()
                    .filter(|l| !l.contains("handshake") && !l.contains("noaddr"))
                    .count();
                Ok(known == all)
            })
        })?;

        let primaries = self.primaries;
        for (i, con) in cons.iter_mut().enumerate().skip(primaries) {
            let primary_id = self.ids[(i - primaries) % primaries].clone();
            self.wait_for("CLUSTER REPLICATE to be accepted", deadline, |_| {
                match con.command(&["CLUSTER", "REPLICATE", &primary_id]) {
                    Ok(Reply::Status(_)) => Ok(true),
                    // "Unknown node" until gossip has told the replica about its primary.
                    Ok(_) => Ok(false),
                    Err(e) => Err(HarnessError::io("CLUSTER REPLICATE", e)),
                }
            })?;
        }

        self.wait_until_ok_by(deadline)
    }

    /// Waits (up to the ready timeout) until every node says `cluster_state:ok`, knows every
    /// node, sees every slot assigned and the configured number of replicas, and every
    /// replica's link to its primary is up. For use after a fault test heals the cluster.
    pub fn wait_until_ok(&self) -> Result<()> {
        self.wait_until_ok_by(Instant::now() + self.options.ready_timeout)
    }

    fn wait_until_ok_by(&self, deadline: Instant) -> Result<()> {
        let all = self.nodes.len();
        let replicas = all - self.primaries;
        self.wait_for("cluster_state:ok on every node", deadline, |cluster| {
            cluster.all_nodes(|_, con| {
                let info = text(&con.command_ok(&["CLUSTER", "INFO"])?, "CLUSTER INFO")?;
                let nodes = text(&con.command_ok(&["CLUSTER", "NODES"])?, "CLUSTER NODES")?;
                let seen_replicas = nodes
                    .lines()
                    .filter(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("slave")))
                    .count();
                let ok = info_field(&info, "cluster_state") == Some("ok")
                    && info_field(&info, "cluster_slots_assigned") == Some("16384")
                    && info_field(&info, "cluster_known_nodes") == Some(&all.to_string())
                    && seen_replicas == replicas;
                if !ok {
                    return Ok(false);
                }
                let replication = text(&con.command_ok(&["INFO", "replication"])?, "INFO")?;
                Ok(info_field(&replication, "role") != Some("slave")
                    || info_field(&replication, "master_link_status") == Some("up"))
            })
        })
    }

    /// Runs `check` on every running node (paused or killed nodes are skipped).
    fn all_nodes(
        &self,
        mut check: impl FnMut(usize, &mut RespConn) -> Result<bool>,
    ) -> Result<bool> {
        for (i, node) in self.nodes.iter().enumerate() {
            if node.is_paused() || node.pid().is_none() {
                continue;
            }
            let mut con = node.raw()?;
            if !check(i, &mut con)? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn wait_for(
        &self,
        what: &str,
        deadline: Instant,
        mut done: impl FnMut(&Cluster) -> Result<bool>,
    ) -> Result<()> {
        let mut last_error = None;
        loop {
            match done(self) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                // A node may refuse a query while it changes role; keep polling until the deadline.
                Err(e) => last_error = Some(e),
            }
            if Instant::now() >= deadline {
                let last = last_error
                    .map(|e| format!("\nlast error: {e}"))
                    .unwrap_or_default();
                let state = self.describe();
                return Err(HarnessError::new(format!(
                    "timed out waiting for {what}{last}\n{state}"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every node's view (`CLUSTER NODES`), for timeout messages.
    fn describe(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let view = node
                .raw()
                .and_then(|mut c| c.command_ok(&["CLUSTER", "NODES"]))
                .map(|r| r.as_text().unwrap_or_default())
                .unwrap_or_else(|e| e.to_string());
            out.push_str(&format!(
                "--- node {i} (port {}) ---\n{view}\n",
                node.port()
            ));
        }
        out
    }

    /// Every node, primaries first.
    pub fn nodes(&self) -> &[Server] {
        &self.nodes
    }

    /// Every node, for fault tests (kill, pause, restart).
    pub fn nodes_mut(&mut self) -> &mut [Server] {
        &mut self.nodes
    }

    /// The nodes started as primaries.
    pub fn primaries(&self) -> &[Server] {
        &self.nodes[..self.primaries]
    }

    /// The nodes started as replicas.
    pub fn replicas(&self) -> &[Server] {
        &self.nodes[self.primaries..]
    }

    /// The cluster node id of node `i` (its `CLUSTER MYID`).
    pub fn node_id(&self, i: usize) -> &str {
        &self.ids[i]
    }

    /// Every node's URL, for a cluster client's seed list.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// Which server program the nodes run.
    pub fn kind(&self) -> ServerKind {
        self.options.node.kind()
    }

    /// The slot range `(first, last)` primary `i` was given at start.
    pub fn initial_slots(&self, primary: usize) -> (u16, u16) {
        let n = self.primaries as u32;
        let i = primary as u32;
        let first = i * u32::from(SLOTS) / n;
        let last = (i + 1) * u32::from(SLOTS) / n - 1;
        (first as u16, last as u16)
    }
}

fn text(reply: &Reply, what: &str) -> Result<String> {
    reply
        .as_text()
        .ok_or_else(|| HarnessError::new(format!("{what}: expected text, got {reply:?}")))
}
