//! The cluster: the harness's fault and migration helpers on a real 6-node cluster, and the
//! cluster client (routing, MOVED, ASK, failover) against it.

use std::time::Duration;
use valkey_tests::{Cluster, ClusterOptions, FailoverMode, Reply};

fn fast_cluster() -> Cluster {
    ClusterOptions::valkey()
        .node_timeout(Duration::from_millis(1000))
        .start()
        .unwrap()
}

#[test]
fn harness_moves_a_slot_with_its_keys() {
    let cluster = Cluster::start(3, 1).unwrap();
    // "foo" is slot 12182, on primary 2 at start.
    let slot = 12182;
    assert_eq!(cluster.primary_of(slot).unwrap(), 2);
    let owner = &cluster.nodes()[2];
    owner.command(&["SET", "foo", "1"]).unwrap();
    owner.command(&["SET", "{foo}2", "2"]).unwrap();

    cluster.begin_slot_migration(slot, 2, 0).unwrap();
    assert_eq!(cluster.migrate_slot_keys(slot, 2, 0, 1).unwrap(), 1);
    // One key moved, one left: the source answers for the one it has and ASKs for the other.
    let mut source = owner.raw().unwrap();
    let replies = [
        source.command(&["GET", "foo"]).unwrap(),
        source.command(&["GET", "{foo}2"]).unwrap(),
    ];
    let ask = format!("ASK {slot} 127.0.0.1:{}", cluster.nodes()[0].port());
    assert!(
        replies.contains(&Reply::Error(ask)),
        "one key should be asked for elsewhere: {replies:?}"
    );
    assert_eq!(cluster.migrate_slot_keys(slot, 2, 0, 10).unwrap(), 1);
    assert_eq!(cluster.migrate_slot_keys(slot, 2, 0, 10).unwrap(), 0);
    cluster.finish_slot_migration(slot, 2, 0).unwrap();

    let moved = source.command(&["GET", "foo"]).unwrap();
    assert_eq!(
        moved,
        Reply::Error(format!(
            "MOVED {slot} 127.0.0.1:{}",
            cluster.nodes()[0].port()
        ))
    );
    assert_eq!(
        cluster.nodes()[0].command(&["GET", "{foo}2"]).unwrap(),
        Reply::Bulk(b"2".to_vec())
    );
    // Moving it back in one call.
    assert_eq!(cluster.migrate_slot(slot, 0, 2).unwrap(), 2);
    assert_eq!(
        cluster.nodes()[2].command(&["GET", "foo"]).unwrap(),
        Reply::Bulk(b"1".to_vec())
    );
}

#[test]
fn harness_fails_over_by_command_and_by_kill() {
    let mut cluster = fast_cluster();
    let (slot, _) = cluster.initial_slots(0);
    // Node 3 replicates primary 0.
    cluster.failover(3, FailoverMode::Graceful).unwrap();
    assert_eq!(cluster.primary_of(slot).unwrap(), 3);

    // Kill the new primary: its replica (the old primary, node 0) takes over.
    cluster.wait_until_ok().unwrap();
    cluster.kill_node(3);
    assert_eq!(cluster.wait_for_new_primary(slot, 3).unwrap(), 0);
}
