//! `CLIENT CAPA redirect` (Valkey 8+) on a real primary + replica pair of `valkey-server`: a
//! connection to the replica that announced it gets `-REDIRECT host:port` naming the primary
//! (for writes, and for reads unless in `READONLY` mode), as an error of its own kind, sync and
//! async; without it the replica says `-READONLY`; Redis 7.0, which has no `CLIENT CAPA`,
//! still completes the handshake.

use valkey::sync::Connection;
use valkey::{cmd, ConnectionInfo};
use valkey_tests::{Server, ServerOptions};

fn replica_of(primary: &Server) -> Server {
    ServerOptions::valkey()
        .config(format!("replicaof {} {}", primary.host(), primary.port()))
        .start()
        .unwrap()
}

fn info(server: &Server) -> ConnectionInfo {
    ConnectionInfo::from_url(&server.url()).unwrap()
}

#[test]
fn a_replica_redirects_a_client_that_announced_it_to_the_primary() {
    let primary = Server::valkey().unwrap();
    let replica = replica_of(&primary);
    let primary_addr = (primary.host().to_owned(), primary.port());

    // A write to the replica: refused with the primary's address, nothing written.
    let mut con = Connection::open(info(&replica).with_capa_redirect(true)).unwrap();
    let e = con.send(cmd::set("k", "v")).unwrap_err();
    assert!(e.is_redirect() && e.is_retry_safe(), "{e:?}");
    assert_eq!(e.redirect_addr(), Some(primary_addr.clone()), "{e}");
    assert!(
        e.to_string()
            .contains(&format!("primary at 127.0.0.1:{}", primary.port())),
        "{e}"
    );
    // A read from a connection not in READONLY mode: redirected as well.
    let e = con.send(cmd::get::<_, Option<String>>("k")).unwrap_err();
    assert_eq!(e.redirect_addr(), Some(primary_addr.clone()), "{e}");

    // Following the redirect: the write lands on the primary, once.
    let (host, port) = e.redirect_addr().unwrap();
    let mut to_primary = Connection::open(ConnectionInfo::tcp(host, port)).unwrap();
    to_primary.send(cmd::set("k", "v")).unwrap();
    assert_eq!(to_primary.send(cmd::incr("n")).unwrap(), 1);

    // READONLY with the capability: reads are served by the replica.
    let mut reader =
        Connection::open(info(&replica).with_capa_redirect(true).with_readonly(true)).unwrap();
    let _: Option<String> = reader.send(cmd::get("k")).unwrap();
    assert!(reader.send(cmd::set("k", "w")).unwrap_err().is_redirect());

    // Without the capability the replica answers the old way.
    let mut plain = Connection::open(info(&replica)).unwrap();
    let e = plain.send(cmd::set("k", "v")).unwrap_err();
    assert!(!e.is_redirect(), "{e:?}");
    assert_eq!(e.code(), Some("READONLY"), "{e}");

    // Async: the same, and the capability is announced again after a reconnect.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = valkey::aio::MultiplexedConnection::open(info(&replica).with_capa_redirect(true))
            .await
            .unwrap();
        let e = con.send(cmd::set("k", "v")).await.unwrap_err();
        assert_eq!(e.redirect_addr(), Some(primary_addr.clone()), "{e}");
        let id: i64 = con.send(cmd::client_id()).await.unwrap();
        replica
            .command(&["CLIENT", "KILL", "ID", &id.to_string()])
            .unwrap();
        // The first command after the kill may find the connection closed; the next one
        // reconnects and greets the replica again.
        let mut redirected = false;
        for _ in 0..3 {
            if let Err(e) = con.send(cmd::set("k", "v")).await {
                if e.is_redirect() {
                    redirected = true;
                    break;
                }
            }
        }
        assert!(redirected, "the reconnected connection is redirected too");
    });

    // Nothing written on the primary but the one SET and INCR followed there.
    assert_eq!(
        primary.command(&["DBSIZE"]).unwrap(),
        valkey_tests::Reply::Int(2)
    );
}

#[test]
fn servers_without_client_capa_still_complete_the_handshake() {
    let redis = Server::redis().unwrap();
    for protocol in [valkey::Protocol::Resp2, valkey::Protocol::Resp3] {
        let mut con = Connection::open(
            info(&redis)
                .with_capa_redirect(true)
                .with_protocol(protocol),
        )
        .unwrap();
        con.send(cmd::set("k", "v")).unwrap();
        let v: Option<String> = con.send(cmd::get("k")).unwrap();
        assert_eq!(v.as_deref(), Some("v"));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = valkey::aio::MultiplexedConnection::open(info(&redis).with_capa_redirect(true))
            .await
            .unwrap();
        let n: i64 = con.send(cmd::incr("n")).await.unwrap();
        assert_eq!(n, 1);
    });
}
