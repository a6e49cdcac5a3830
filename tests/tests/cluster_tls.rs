//! The cluster client over TLS on a real `redis-server` cluster whose nodes announce a hostname
//! (`cluster-announce-hostname`, `cluster-preferred-endpoint-type hostname`) and talk TLS among
//! themselves (`tls-cluster yes`): each node is reached by the name the cluster gives and its
//! certificate is checked against that name, sync and async; a certificate that does not name
//! it is refused at once with an error that says so.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use valkey::{cmd, ClusterClient, ConnectionInfo, TlsOptions};
use valkey_tests::{Cluster, ClusterOptions, SLOTS};

/// The name every node announces; it resolves to 127.0.0.1 on any machine.
const HOSTNAME: &str = "localhost";

fn tls_cluster(subject_alt_names: &str, replicas_per_primary: usize) -> Cluster {
    ClusterOptions::redis()
        .tls(subject_alt_names)
        .announce_hostname(HOSTNAME)
        .replicas_per_primary(replicas_per_primary)
        // No failover is wanted here: on a loaded machine a short node timeout may promote a
        // replica that had not yet received the last writes.
        .node_timeout(Duration::from_secs(15))
        .start()
        .unwrap()
}

/// A seed verified with the cluster's CA only (no name override, no `tls_insecure`).
fn seed(cluster: &Cluster, url: &str) -> ConnectionInfo {
    let mut tls = TlsOptions::default();
    tls.ca_file = Some(cluster.tls_files().unwrap().ca_cert.clone());
    ConnectionInfo::from_url(url).unwrap().with_tls(tls)
}

/// One key per slot: `keys[s]` hashes to slot `s`.
fn key_per_slot() -> Vec<String> {
    let mut keys = vec![String::new(); usize::from(SLOTS)];
    let mut missing = usize::from(SLOTS);
    let mut n = 0u64;
    while missing > 0 {
        let key = format!("k:{n}");
        let slot = usize::from(valkey::routing::slot(key.as_bytes()));
        if keys[slot].is_empty() {
            keys[slot] = key;
            missing -= 1;
        }
        n += 1;
    }
    keys
}

#[test]
fn commands_reach_every_slot_over_tls_verified_against_the_announced_hostname() {
    let cluster = tls_cluster("DNS:localhost", 1);
    let tls_ports: BTreeSet<u16> = cluster
        .nodes()
        .iter()
        .map(|n| n.tls_port().unwrap())
        .collect();
    let client = ClusterClient::open([seed(&cluster, &cluster.tls_urls()[0])]).unwrap();
    let keys = key_per_slot();

    // Sync: every slot written, each to its primary, over TLS checked against `localhost`.
    let started = Instant::now();
    let mut con = client.get_connection().unwrap();
    let map = con.slot_map();
    let hosts: BTreeSet<(String, u16)> = map
        .nodes(true)
        .into_iter()
        .map(|a| (a.host, a.port))
        .collect();
    assert_eq!(hosts.len(), cluster.nodes().len(), "{map:?}");
    for (host, port) in &hosts {
        assert_eq!(
            host, HOSTNAME,
            "the cluster announces its hostname: {map:?}"
        );
        assert!(tls_ports.contains(port), "a node's TLS port: {map:?}");
    }
    for (slot, key) in keys.iter().enumerate() {
        con.send(cmd::set(key.as_str(), slot)).unwrap();
    }
    println!(
        "sync: {} slots written in {:?}",
        keys.len(),
        started.elapsed()
    );

    // Async: every slot read back, 64 tasks at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let wrong = rt.block_on(async {
        let con = client.get_async_connection().await.unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in keys.chunks(keys.len() / 64).map(<[String]>::to_vec) {
            let con = con.clone();
            tasks.spawn(async move {
                let mut wrong = Vec::new();
                for key in &chunk {
                    let slot = valkey::routing::slot(key.as_bytes());
                    let v: Option<u16> = con.send(cmd::get(key.as_str())).await.unwrap();
                    if v != Some(slot) {
                        wrong.push((key.clone(), v));
                    }
                }
                wrong
            });
        }
        let mut wrong = Vec::new();
        while let Some(n) = tasks.join_next().await {
            wrong.extend(n.unwrap());
        }
        wrong
    });
    println!(
        "async: {} slots read in {:?}",
        keys.len(),
        started.elapsed()
    );
    assert!(
        wrong.is_empty(),
        "{} values read back wrong, e.g. {:?}; the cluster now: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)],
        cluster.nodes()[0].command(&["CLUSTER", "NODES"])
    );

    // Each primary holds exactly the keys of its slots: nothing went to a wrong node.
    let total: i64 = cluster
        .primaries()
        .iter()
        .map(|p| match p.command(&["DBSIZE"]).unwrap() {
            valkey_tests::Reply::Int(n) => n,
            other => panic!("DBSIZE: {other:?}"),
        })
        .sum();
    assert_eq!(total, i64::from(SLOTS));
}

#[test]
fn a_certificate_that_does_not_name_the_announced_host_is_refused_at_once() {
    // The certificate names the IP and another host, not `localhost`, the name announced.
    let cluster = tls_cluster("DNS:other-host.invalid,IP:127.0.0.1", 0);
    // The seed is reached by IP, which its certificate names: the topology is read...
    let by_ip = seed(&cluster, &cluster.nodes()[0].tls_url().unwrap());
    let client = ClusterClient::open([by_ip]).unwrap();

    // ...but the nodes are `localhost` now, and their certificate does not say so: a TLS
    // error naming the host, at the first attempt (not retried, not sent to the IP instead).
    let check = |e: valkey::Error, how: &str| {
        let text = e.to_string();
        assert!(e.is_tls(), "{how}: {e:?}");
        assert!(
            text.contains(&format!("not valid for {HOSTNAME}")) && text.contains("other-host"),
            "{how}: the error names the host checked and the certificate's names: {text}"
        );
        println!("{how}: {text}");
    };
    let started = Instant::now();
    let mut con = client.get_connection().unwrap();
    let e = con.send(cmd::set("k", "v")).unwrap_err();
    check(e, "sync");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = client.get_async_connection().await.unwrap();
        let e = con.send(cmd::set("k", "v")).await.unwrap_err();
        check(e, "async");
    });
    println!("both refused within {:?}", started.elapsed());
    // Nothing was written anywhere.
    for node in cluster.primaries() {
        assert_eq!(
            node.command(&["DBSIZE"]).unwrap(),
            valkey_tests::Reply::Int(0)
        );
    }
}
