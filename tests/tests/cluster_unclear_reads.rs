//! The opt-in `RetryPolicy::resend_unclear_reads` on a real cluster: a primary that stops
//! answering (`CLIENT PAUSE`) past the client's liveness deadline makes a `GET` sent to it
//! `Unclear`; with the opt-in the `GET` is asked again and answers once the node does, without
//! it the caller gets `Unclear`; an `INCR` is never sent again either way (it ran once, when the
//! pause ended). Sync and async.

use std::time::Duration;
use valkey::cluster::RetryPolicy;
use valkey::{cmd, routing, ClusterClient};
use valkey_tests::Cluster;

/// How long the primary stays paused: past the 1 s liveness deadline of the client.
const PAUSE_MS: &str = "2500";

fn client(cluster: &Cluster, resend: bool) -> ClusterClient {
    let urls: Vec<String> = cluster
        .urls()
        .iter()
        .map(|u| format!("{u}?response_timeout=1"))
        .collect();
    ClusterClient::open(urls).unwrap().with_retry(RetryPolicy {
        resend_unclear_reads: resend,
        ..RetryPolicy::default()
    })
}

/// Pauses every client of the primary serving `key` (the harness's own connection answers).
fn pause_owner(cluster: &Cluster, key: &str) {
    let owner = cluster.primary_of(routing::slot(key.as_bytes())).unwrap();
    cluster.nodes()[owner]
        .command(&["CLIENT", "PAUSE", PAUSE_MS, "ALL"])
        .unwrap();
}

fn counter(cluster: &Cluster, key: &str) -> i64 {
    let owner = cluster.primary_of(routing::slot(key.as_bytes())).unwrap();
    let v = cluster.nodes()[owner].command(&["GET", key]).unwrap();
    v.as_text().map_or(0, |t| t.parse().unwrap())
}

#[test]
fn lost_reads_are_asked_again_only_when_opted_in_and_writes_never() {
    let cluster = Cluster::start(3, 0).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (resending, plain) = (client(&cluster, true), client(&cluster, false));
    let mut sync = resending.get_connection().unwrap();
    sync.send(cmd::set("{r}:key", "value")).unwrap();
    let async_resending = rt.block_on(resending.get_async_connection()).unwrap();
    let async_plain = rt.block_on(plain.get_async_connection()).unwrap();
    let mut sync_plain = plain.get_connection().unwrap();
    // Every connection has its node connections open before the pause.
    let _: Option<String> = sync_plain.send(cmd::get("{r}:key")).unwrap();
    let _: Option<String> = rt
        .block_on(async_resending.send(cmd::get("{r}:key")))
        .unwrap();
    let _: Option<String> = rt.block_on(async_plain.send(cmd::get("{r}:key"))).unwrap();

    // Opted in: the GET outlives the pause.
    pause_owner(&cluster, "{r}:key");
    let v: Option<String> = sync.send(cmd::get("{r}:key")).unwrap();
    assert_eq!(v.as_deref(), Some("value"), "sync GET asked again");
    std::thread::sleep(Duration::from_millis(500));
    pause_owner(&cluster, "{r}:key");
    let v: Option<String> = rt
        .block_on(async_resending.send(cmd::get("{r}:key")))
        .unwrap();
    assert_eq!(v.as_deref(), Some("value"), "async GET asked again");

    // Not opted in: the caller hears that the reply was lost.
    std::thread::sleep(Duration::from_millis(500));
    pause_owner(&cluster, "{r}:key");
    let e = sync_plain
        .send(cmd::get::<_, Option<String>>("{r}:key"))
        .unwrap_err();
    assert!(e.is_unclear(), "sync: {e}");
    let e = rt
        .block_on(async_plain.send(cmd::get::<_, Option<String>>("{r}:key")))
        .unwrap_err();
    assert!(e.is_unclear(), "async: {e}");

    // A write is never asked again, opt-in or not: the caller gets `Unclear` (a re-sent INCR
    // would have come back with a count), and the server ran each at most once (a paused
    // client's command runs when the pause ends, or not at all if its connection closed first).
    std::thread::sleep(Duration::from_millis(2500));
    pause_owner(&cluster, "{r}:counter");
    let e = sync.send(cmd::incr("{r}:counter")).unwrap_err();
    assert!(e.is_unclear(), "sync INCR: {e}");
    let e = rt
        .block_on(async_resending.send(cmd::incr("{r}:counter")))
        .unwrap_err();
    assert!(e.is_unclear(), "async INCR: {e}");
    std::thread::sleep(Duration::from_millis(3000));
    let ran = counter(&cluster, "{r}:counter");
    println!("INCRs the server ran after the pause: {ran} of 2 sent");
    assert!(ran <= 2, "an INCR ran twice: {ran}");
}
