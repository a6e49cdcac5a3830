//! TLS verified against the platform's trust store (no `tls_ca`): the store is found by the
//! platform's own rules, so `SSL_CERT_FILE` pointing at the test CA makes it trusted, and the
//! server's name is still checked. Its own test binary: it sets a process-wide variable.

use valkey::sync::Connection;
use valkey::{Cmd, ConnectionInfo, TlsOptions, Value};
use valkey_tests::{ServerOptions, TlsClientAuth};

fn info(url: &str, server_name: &str) -> ConnectionInfo {
    let mut opts = TlsOptions::default();
    opts.server_name = Some(server_name.into());
    ConnectionInfo::from_url(url).unwrap().with_tls(opts)
}

#[test]
fn the_system_trust_store_is_used_and_the_name_checked() {
    let server = ServerOptions::redis()
        .tls(TlsClientAuth::No)
        .start()
        .unwrap();
    let files = server.tls_files().unwrap();
    let url = server.tls_url().unwrap();
    // Only this test runs in this process, so nothing else reads the variable meanwhile.
    std::env::set_var("SSL_CERT_FILE", &files.ca_cert);

    let mut con = Connection::open(info(&url, "localhost")).unwrap();
    assert_eq!(
        con.send(Cmd::new("PING")).unwrap(),
        Value::SimpleString("PONG".into())
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = valkey::aio::MultiplexedConnection::open(info(&url, "localhost"))
            .await
            .unwrap();
        let pong: String = con.send(Cmd::new("PING").returning()).await.unwrap();
        assert_eq!(pong, "PONG");

        // A trusted certificate for another name is refused, async as sync.
        let e = valkey::aio::MultiplexedConnection::open(info(&url, "other.example"))
            .await
            .unwrap_err();
        assert!(
            e.is_tls() && e.to_string().contains("not valid for other.example"),
            "{e}"
        );
    });
    let e = Connection::open(info(&url, "other.example")).unwrap_err();
    assert!(
        e.is_tls() && e.to_string().contains("not valid for other.example"),
        "{e}"
    );
}
