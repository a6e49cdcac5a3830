//! TLS against Redis 7.0 (Debian's build has TLS; the PyPI Valkey does not): verified with the
//! test CA, a client certificate when the server requires one, and clear errors when the
//! certificate cannot be trusted.

use valkey::sync::Connection;
use valkey::{Cmd, ConnectionInfo, TlsOptions, Value};
use valkey_tests::{ServerOptions, TlsClientAuth};

fn tls_info(url: &str, opts: TlsOptions) -> ConnectionInfo {
    ConnectionInfo::from_url(url).unwrap().with_tls(opts)
}

#[test]
fn tls_with_ca_and_client_certificates_sync_and_async() {
    let server = ServerOptions::redis()
        .tls(TlsClientAuth::Required)
        .start()
        .unwrap();
    let files = server.tls_files().unwrap();
    let url = server.tls_url().unwrap();
    let mut opts = TlsOptions::default();
    opts.ca_file = Some(files.ca_cert.clone());
    opts.cert_file = Some(files.client_cert.clone());
    opts.key_file = Some(files.client_key.clone());
    opts.server_name = Some("localhost".into());
    let mut con = Connection::open(tls_info(&url, opts.clone())).unwrap();
    con.send(Cmd::new("SET").arg("tls").arg("yes")).unwrap();
    assert_eq!(
        con.send(Cmd::new("GET").arg("tls")).unwrap(),
        Value::BulkString("yes".into())
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let con = valkey::aio::MultiplexedConnection::open(tls_info(&url, opts.clone()))
            .await
            .unwrap();
        let v: String = con
            .send(Cmd::new("GET").arg("tls").returning())
            .await
            .unwrap();
        assert_eq!(v, "yes");
    });

    // Without the client certificate the server refuses the handshake, sync and async.
    let mut no_cert = opts.clone();
    no_cert.cert_file = None;
    no_cert.key_file = None;
    let r = Connection::open(tls_info(&url, no_cert.clone()))
        .and_then(|mut c| c.send(Cmd::new("PING")));
    assert!(r.unwrap_err().is_io());
    rt.block_on(async {
        let r = match valkey::aio::MultiplexedConnection::open(tls_info(&url, no_cert)).await {
            Ok(con) => con.send(Cmd::new("PING")).await.map(drop),
            Err(e) => Err(e),
        };
        assert!(r.unwrap_err().is_io());
    });
}

#[test]
fn untrusted_certificate_is_refused_unless_insecure() {
    let server = ServerOptions::redis()
        .tls(TlsClientAuth::No)
        .start()
        .unwrap();
    let url = server.tls_url().unwrap();
    // The system's trust store does not trust the test CA, sync and async.
    let e = Connection::open(url.as_str()).unwrap_err();
    assert!(e.is_tls(), "{e}");
    assert!(e.to_string().contains("not signed by a trusted CA"), "{e}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let e = rt
        .block_on(valkey::aio::MultiplexedConnection::open(url.as_str()))
        .unwrap_err();
    assert!(e.is_tls() && e.to_string().contains("TLS handshake"), "{e}");
    // A CA that did not sign the server's certificate: refused too.
    let other = valkey_tests::TempDir::new("other-ca").unwrap();
    let other_ca = valkey_tests::TlsFiles::generate(other.path())
        .unwrap()
        .ca_cert;
    let e = Connection::open(format!(
        "{url}?tls_ca={}&tls_server_name=localhost",
        other_ca.display()
    ))
    .unwrap_err();
    assert!(e.is_tls() && e.to_string().contains("TLS handshake"), "{e}");
    // A CA file that does not exist is a configuration error naming it.
    let e = Connection::open(format!("{url}?tls_ca=/nonexistent/ca.pem")).unwrap_err();
    assert!(
        e.is_invalid_config() && e.to_string().contains("/nonexistent/ca.pem"),
        "{e}"
    );
    // Explicitly insecure: connects.
    let mut con = Connection::open(format!("{url}?tls_insecure=true")).unwrap();
    assert_eq!(
        con.send(Cmd::new("PING")).unwrap(),
        Value::SimpleString("PONG".into())
    );
}
