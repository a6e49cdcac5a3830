//! Reads by availability zone (`ReadFrom::AzAffinity`, Valkey 8.1+ `availability-zone`) on a
//! real cluster of 3 primaries with 2 replicas each, one replica of each shard per zone: reads
//! go to the replicas in the client's zone (even where a primary shares the zone), to the other
//! replicas when the zone has none, and writes to the primaries, sync and async.

use std::time::{Duration, Instant};
use valkey::cluster::{Health, ReadFrom, SlotMap};
use valkey::{cmd, ClusterClient};
use valkey_tests::Cluster;

const PRIMARIES: usize = 3;
/// Nodes `3..6` replicate primaries `0..3` and sit in zone A; nodes `6..9` likewise, zone B.
const ZONE_A: std::ops::Range<usize> = 3..6;
const ZONE_B: std::ops::Range<usize> = 6..9;
const KEYS: i64 = 90;

/// `GET` calls node `i` served since its stats were reset.
fn gets_served(cluster: &Cluster, i: usize) -> i64 {
    let stats = cluster.nodes()[i]
        .command(&["INFO", "commandstats"])
        .unwrap()
        .as_text()
        .unwrap();
    stats
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

fn served(cluster: &Cluster, nodes: std::ops::Range<usize>) -> Vec<i64> {
    nodes.map(|i| gets_served(cluster, i)).collect()
}

fn reset_stats(cluster: &Cluster) {
    for node in cluster.nodes() {
        node.command(&["CONFIG", "RESETSTAT"]).unwrap();
    }
}

/// Every replica online, with the zone the test gave it.
fn zones_known(map: &SlotMap) -> bool {
    map.shards().iter().all(|s| {
        s.replicas.len() == 2
            && s.replicas
                .iter()
                .all(|r| r.health == Health::Online && r.availability_zone.is_some())
    })
}

#[test]
fn reads_stay_in_the_clients_zone_sync_and_async() {
    let cluster = Cluster::start(PRIMARIES, 2).unwrap();
    for i in 0..cluster.nodes().len() {
        let zone = if ZONE_A.contains(&i) {
            "zone-a"
        } else {
            "zone-b"
        };
        cluster.nodes()[i]
            .command(&["CONFIG", "SET", "availability-zone", zone])
            .unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let in_b = ClusterClient::open(cluster.urls())
        .unwrap()
        .with_read_from(ReadFrom::AzAffinity("zone-b".into()));
    let con = rt.block_on(in_b.get_async_connection()).unwrap();
    for i in 0..KEYS {
        rt.block_on(con.send(cmd::set(format!("az:{i}"), i)))
            .unwrap();
    }
    // The zones reach CLUSTER SHARDS through gossip, and replication is asynchronous: wait
    // until every replica holds as many keys as its primary (node `3 + j` replicates `j % 3`).
    let deadline = Instant::now() + Duration::from_secs(30);
    let dbsize = |i: usize| {
        cluster.nodes()[i]
            .command(&["DBSIZE"])
            .unwrap()
            .as_int()
            .unwrap()
    };
    while !(3..9).all(|r| dbsize(r) == dbsize((r - 3) % PRIMARIES)) {
        assert!(Instant::now() < deadline, "the replicas did not catch up");
        std::thread::sleep(Duration::from_millis(20));
    }
    while !zones_known(&con.slot_map()) {
        assert!(
            Instant::now() < deadline,
            "zones or replication not seen: {:?}",
            con.slot_map().shards()
        );
        std::thread::sleep(Duration::from_millis(100));
        rt.block_on(con.refresh_topology()).unwrap();
    }

    reset_stats(&cluster);
    for i in 0..KEYS {
        let v: Option<i64> = rt.block_on(con.send(cmd::get(format!("az:{i}")))).unwrap();
        assert_eq!(v, Some(i));
    }
    let (primaries, a, b) = (
        served(&cluster, 0..3),
        served(&cluster, ZONE_A),
        served(&cluster, ZONE_B),
    );
    println!("zone-b client: primaries {primaries:?}, zone-a {a:?}, zone-b {b:?}");
    assert_eq!(
        primaries,
        [0, 0, 0],
        "a primary in the zone is not a replica"
    );
    assert_eq!(a, [0, 0, 0], "nothing left the zone");
    assert_eq!(b.iter().sum::<i64>(), KEYS);
    assert!(
        b.iter().all(|&n| n > 0),
        "every shard's zone-b replica: {b:?}"
    );
    // Writes still go to the primaries.
    rt.block_on(con.send(cmd::set("az:new", 1))).unwrap();
    assert_eq!(
        cluster.nodes()[cluster
            .primary_of(valkey::routing::slot(b"az:new"))
            .unwrap()]
        .command(&["GET", "az:new"])
        .unwrap()
        .as_text()
        .as_deref(),
        Some("1")
    );

    // A zone without replicas: the other replicas serve, in turn (both zones).
    let elsewhere = ClusterClient::open(cluster.urls())
        .unwrap()
        .with_read_from(ReadFrom::AzAffinity("zone-c".into()));
    let mut sync = elsewhere.get_connection().unwrap();
    while !zones_known(&sync.slot_map()) {
        assert!(
            Instant::now() < deadline,
            "zones not seen by the sync client"
        );
        std::thread::sleep(Duration::from_millis(100));
        sync.refresh_topology().unwrap();
    }
    reset_stats(&cluster);
    for i in 0..KEYS {
        let v: Option<i64> = sync.send(cmd::get(format!("az:{i}"))).unwrap();
        assert_eq!(v, Some(i));
    }
    let (primaries, a, b) = (
        served(&cluster, 0..3),
        served(&cluster, ZONE_A),
        served(&cluster, ZONE_B),
    );
    println!("zone-c client: primaries {primaries:?}, zone-a {a:?}, zone-b {b:?}");
    assert_eq!(primaries, [0, 0, 0]);
    assert_eq!(a.iter().sum::<i64>() + b.iter().sum::<i64>(), KEYS);
    assert!(
        a.iter().sum::<i64>() > 0 && b.iter().sum::<i64>() > 0,
        "the other replicas take turns"
    );
}
