//! Multi-database clusters (Valkey 9.0+, `cluster-databases`): the database of the seed URL is
//! selected on every node connection, through routing to every slot and a failover, and a
//! cluster that has one database refuses another with a clear error.

use std::time::Duration;
use valkey::{cmd, ClusterClient, ErrorKind};
use valkey_tests::{Cluster, ClusterOptions, Reply, ServerOptions};

/// Keys in each test: enough to reach every primary many times.
const KEYS: usize = 600;

fn multi_db_cluster() -> Cluster {
    ClusterOptions::new(ServerOptions::valkey().config("cluster-databases 16"))
        .node_timeout(Duration::from_millis(1000))
        .start()
        .unwrap()
}

/// The number of keys in database `db` of each primary.
fn dbsizes(cluster: &Cluster, db: u32) -> Vec<i64> {
    cluster
        .primaries()
        .iter()
        .map(|node| {
            let mut raw = node.raw().unwrap();
            raw.command(&["SELECT", &db.to_string()]).unwrap();
            match raw.command(&["DBSIZE"]).unwrap() {
                Reply::Int(n) => n,
                other => panic!("DBSIZE: {other:?}"),
            }
        })
        .collect()
}

fn url_with_db(cluster: &Cluster, node: usize, db: u32) -> String {
    format!("{}/{db}", cluster.urls()[node])
}

#[test]
fn the_url_database_is_used_on_every_node_sync_and_async() {
    let cluster = multi_db_cluster();
    let client = ClusterClient::open([url_with_db(&cluster, 1, 3).as_str()]).unwrap();

    let mut con = client.get_connection().unwrap();
    for i in 0..KEYS {
        con.send(cmd::set(format!("sync:{i}"), i)).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = client.get_async_connection().await.unwrap();
        for i in 0..KEYS {
            con.send(cmd::set(format!("async:{i}"), i)).await.unwrap();
        }
        let v: Option<usize> = con.send(cmd::get("sync:7")).await.unwrap();
        assert_eq!(
            v,
            Some(7),
            "async reads what sync wrote in the same database"
        );
    });

    let in_3 = dbsizes(&cluster, 3);
    assert_eq!(in_3.iter().sum::<i64>(), 2 * KEYS as i64, "{in_3:?}");
    assert!(
        in_3.iter().all(|&n| n > 0),
        "every primary holds some: {in_3:?}"
    );
    assert_eq!(
        dbsizes(&cluster, 0),
        [0, 0, 0],
        "nothing went to database 0"
    );
    // A client of database 0 does not see them.
    let mut zero = ClusterClient::open([cluster.urls()[0].as_str()])
        .unwrap()
        .get_connection()
        .unwrap();
    assert_eq!(
        zero.send(cmd::get::<_, Option<String>>("sync:7")).unwrap(),
        None
    );
}

#[test]
fn a_failover_keeps_the_database() {
    let mut cluster = multi_db_cluster();
    let client = ClusterClient::open([url_with_db(&cluster, 2, 5).as_str()]).unwrap();
    let mut con = client.get_connection().unwrap();
    // Keys of primary 0's slots, written before its failover.
    let (first, last) = cluster.initial_slots(0);
    let keys: Vec<String> = (0..)
        .map(|i| format!("k:{i}"))
        .filter(|k| (first..=last).contains(&valkey::routing::slot(k.as_bytes())))
        .take(50)
        .collect();
    for k in &keys {
        con.send(cmd::set(k.as_str(), "before")).unwrap();
    }
    // Replicated before the kill, so the promoted replica has them.
    let mut raw = cluster.primaries()[0].raw().unwrap();
    raw.command(&["SELECT", "5"]).unwrap();
    assert_eq!(
        raw.command(&["WAIT", "1", "5000"]).unwrap(),
        Reply::Int(1),
        "replicated"
    );
    drop(raw);
    cluster.kill_node(0);
    cluster.wait_for_new_primary(first, 0).unwrap();

    // The connection to the promoted replica selects database 5 too: the keys are there, and
    // a write lands in database 5.
    let mut seen = 0;
    for k in &keys {
        let v: Option<String> = retry(|| con.send(cmd::get(k.as_str())));
        seen += usize::from(v.as_deref() == Some("before"));
    }
    assert_eq!(seen, keys.len(), "every key read back from database 5");
    retry(|| con.send(cmd::set(keys[0].as_str(), "after")));
    let promoted = cluster.primary_of(first).unwrap();
    let mut raw = cluster.nodes()[promoted].raw().unwrap();
    raw.command(&["SELECT", "5"]).unwrap();
    assert_eq!(
        raw.command(&["GET", &keys[0]]).unwrap(),
        Reply::Bulk(b"after".to_vec())
    );
}

/// Runs `op` until it succeeds (for at most 10 s): the first commands after a kill may fail
/// while the client learns of the failover; they must then succeed.
fn retry<T>(mut op: impl FnMut() -> valkey::Result<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match op() {
            Ok(v) => return v,
            Err(e) if std::time::Instant::now() < deadline => {
                eprintln!("retrying after: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("still failing after the failover: {e}"),
        }
    }
}

#[test]
fn a_cluster_with_one_database_refuses_another_clearly() {
    let cluster = ClusterOptions::valkey()
        .primaries(3)
        .replicas_per_primary(0)
        .start()
        .unwrap();
    let client = ClusterClient::open([url_with_db(&cluster, 0, 2).as_str()]).unwrap();
    let err = client.get_connection().expect_err("database 2 refused");
    let text = err.to_string();
    eprintln!("database 2 on a one-database cluster: {text}");
    assert!(
        text.contains("SELECT") || text.to_lowercase().contains("db"),
        "the error names what was refused: {text}"
    );
    assert_ne!(err.kind(), ErrorKind::Io, "{text}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(client.get_async_connection())
        .expect_err("database 2 refused (async)");
    assert!(
        err.to_string().contains("SELECT") || err.to_string().to_lowercase().contains("db"),
        "{err}"
    );
}
