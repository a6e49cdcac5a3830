//! Self-tests of the test-server harness: real servers start, answer, die, come back on the same
//! port, refuse unauthenticated clients, speak TLS, form a cluster, and never share a port.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;
use valkey_tests::{
    resp::info_field, Cluster, Reply, RespConn, Server, ServerKind, ServerOptions, TlsClientAuth,
};

/// PING over a plain std TcpStream with an inline command: independent of every RESP helper.
fn raw_ping(port: u16) -> std::io::Result<String> {
    let mut tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    tcp.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while !got.ends_with(b"\r\n") {
        let n = tcp.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(String::from_utf8_lossy(&got).into_owned())
}

fn info(server: &Server, section: &str) -> String {
    server
        .command(&["INFO", section])
        .unwrap()
        .as_text()
        .unwrap()
}

#[test]
fn valkey_starts_and_answers_ping_over_tcp() {
    let server = Server::valkey().unwrap();
    assert_eq!(server.kind(), ServerKind::Valkey);
    assert_eq!(raw_ping(server.port()).unwrap(), "+PONG\r\n");
    assert_eq!(
        server.url(),
        format!("valkey://127.0.0.1:{}", server.port())
    );
    // The version the binary reports is the one the running server reports.
    let server_info = info(&server, "server");
    assert_eq!(
        info_field(&server_info, "valkey_version"),
        Some(server.version())
    );
    assert_eq!(
        info_field(&server_info, "process_id"),
        Some(server.pid().unwrap().to_string().as_str())
    );
    // Persistence is off and the data dir is the server's own temp dir.
    let dir = server.command(&["CONFIG", "GET", "dir"]).unwrap();
    let dir = dir.as_array().unwrap()[1].as_text().unwrap();
    assert_eq!(std::path::Path::new(&dir), server.dir());
    let save = server.command(&["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(save.as_array().unwrap()[1], Reply::Bulk(Vec::new()));
}

#[test]
fn redis_starts_and_answers_ping_over_tcp() {
    let server = Server::redis().unwrap();
    assert_eq!(raw_ping(server.port()).unwrap(), "+PONG\r\n");
    let server_info = info(&server, "server");
    assert_eq!(
        info_field(&server_info, "redis_version"),
        Some(server.version())
    );
}

#[test]
fn unix_socket_answers() {
    let server = Server::valkey().unwrap();
    let mut con = RespConn::connect_unix(&server.unix_socket()).unwrap();
    assert_eq!(
        con.command(&["PING"]).unwrap(),
        Reply::Status("PONG".into())
    );
}

#[test]
fn temp_dir_is_removed_on_drop() {
    let server = Server::valkey().unwrap();
    let dir = server.dir().to_path_buf();
    assert!(dir.join("server.conf").exists());
    drop(server);
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

#[test]
fn kill_then_restart_on_the_same_port() {
    let mut server = Server::valkey().unwrap();
    let port = server.port();
    let old_pid = server.pid().unwrap();
    server.command(&["SET", "k", "v"]).unwrap();

    server.kill();
    assert!(!server.is_running());
    assert!(raw_ping(port).is_err(), "a killed server still answers");

    server.restart().unwrap();
    assert_eq!(server.port(), port);
    assert_ne!(server.pid().unwrap(), old_pid);
    assert_eq!(raw_ping(port).unwrap(), "+PONG\r\n");
    // Persistence is off: a restarted server starts empty.
    assert_eq!(server.command(&["GET", "k"]).unwrap(), Reply::Nil);

    // restart() also works on a running server.
    server.restart().unwrap();
    assert_eq!(raw_ping(port).unwrap(), "+PONG\r\n");
}

#[test]
fn password_server_rejects_unauthenticated_ping() {
    let server = ServerOptions::valkey()
        .password("s3cret:/@")
        .start()
        .unwrap();
    assert!(raw_ping(server.port()).unwrap().starts_with("-NOAUTH"));
    assert_eq!(
        server.url(),
        format!("valkey://:s3cret%3A%2F%40@127.0.0.1:{}", server.port())
    );
    let mut con = RespConn::connect(server.addr(), Duration::from_secs(5)).unwrap();
    let wrong = con.command(&["AUTH", "nope"]).unwrap();
    assert!(matches!(wrong, Reply::Error(e) if e.starts_with("WRONGPASS")));
    assert_eq!(
        con.command(&["AUTH", "s3cret:/@"]).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(
        con.command(&["PING"]).unwrap(),
        Reply::Status("PONG".into())
    );
    // The harness's own connection authenticates by itself.
    assert_eq!(
        server.command(&["PING"]).unwrap(),
        Reply::Status("PONG".into())
    );
}

#[test]
fn acl_users_can_log_in() {
    let server = ServerOptions::valkey()
        .acl_user("alice on >wonderland ~app:* +@all")
        .acl_user("default off")
        .start()
        .unwrap();
    let mut con = RespConn::connect(server.addr(), Duration::from_secs(5)).unwrap();
    assert!(con.command(&["PING"]).unwrap().is_error());
    assert_eq!(
        con.command(&["AUTH", "alice", "wonderland"]).unwrap(),
        Reply::Status("OK".into())
    );
    assert_eq!(
        con.command(&["SET", "app:1", "x"]).unwrap(),
        Reply::Status("OK".into())
    );
    let denied = con.command(&["SET", "other", "x"]).unwrap();
    assert!(matches!(denied, Reply::Error(e) if e.starts_with("NOPERM")));
}

#[test]
fn extra_config_and_args_are_applied() {
    let server = ServerOptions::valkey()
        .config("maxmemory 12mb")
        .arg("--maxclients")
        .arg("77")
        .start()
        .unwrap();
    let get = |name: &str| {
        let reply = server.command(&["CONFIG", "GET", name]).unwrap();
        reply.as_array().unwrap()[1].as_text().unwrap()
    };
    assert_eq!(get("maxmemory"), (12 * 1024 * 1024).to_string());
    assert_eq!(get("maxclients"), "77");
    // DEBUG is allowed from local connections.
    assert_eq!(
        server.command(&["DEBUG", "SLEEP", "0"]).unwrap(),
        Reply::Status("OK".into())
    );
}

#[test]
fn parallel_starts_get_distinct_ports() {
    let servers: Vec<Server> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(Server::valkey)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(Server::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 8);
    for server in &servers {
        assert_eq!(raw_ping(server.port()).unwrap(), "+PONG\r\n");
    }
}

#[test]
fn pause_stops_answers_and_resume_brings_them_back() {
    let mut server = Server::valkey().unwrap();
    let mut con = RespConn::connect(server.addr(), Duration::from_secs(5)).unwrap();
    server.pause().unwrap();
    assert!(server.is_paused());
    con.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let err = con.command(&["PING"]).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    server.resume().unwrap();
    con.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // The PING sent while paused is answered now.
    assert_eq!(con.read_reply().unwrap(), Reply::Status("PONG".into()));
}

#[test]
fn redis_serves_tls_with_the_generated_certificates() {
    let server = ServerOptions::redis()
        .tls(TlsClientAuth::No)
        .start()
        .unwrap();
    let files = server.tls_files().unwrap();
    let tls_port = server.tls_port().unwrap();
    assert_ne!(tls_port, server.port());
    assert_eq!(
        server.tls_url().unwrap(),
        format!("valkeys://127.0.0.1:{tls_port}")
    );
    // openssl's client verifies the chain and the IP SAN, sends PING and prints the reply; QUIT
    // makes the server close the connection, which ends s_client (-quiet ignores stdin's EOF).
    let mut child = std::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error"])
        .args(["-verify_ip", "127.0.0.1", "-connect"])
        .arg(format!("127.0.0.1:{tls_port}"))
        .arg("-CAfile")
        .arg(&files.ca_cert)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"PING\r\nQUIT\r\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("+PONG"),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tls_requiring_client_certificates_refuses_clients_without_one() {
    let server = ServerOptions::redis()
        .tls(TlsClientAuth::Required)
        .start()
        .unwrap();
    let files = server.tls_files().unwrap();
    let s_client = |with_cert: bool| {
        let mut cmd = std::process::Command::new("openssl");
        cmd.args(["s_client", "-quiet", "-connect"])
            .arg(format!("127.0.0.1:{}", server.tls_port().unwrap()))
            .arg("-CAfile")
            .arg(&files.ca_cert);
        if with_cert {
            cmd.arg("-cert")
                .arg(&files.client_cert)
                .arg("-key")
                .arg(&files.client_key);
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"PING\r\nQUIT\r\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(s_client(true).contains("+PONG"));
    assert!(!s_client(false).contains("+PONG"));
}

#[test]
fn a_single_cluster_enabled_node_answers_keyslot() {
    let server = ServerOptions::valkey().cluster_enabled().start().unwrap();
    assert!(server.cluster_port().is_some());
    assert_eq!(
        server.command(&["CLUSTER", "KEYSLOT", "foo"]).unwrap(),
        Reply::Int(12182)
    );
}

#[test]
fn cluster_of_three_primaries_with_replicas_forms() {
    let cluster = Cluster::start(3, 1).unwrap();
    assert_eq!(cluster.nodes().len(), 6);
    assert_eq!(cluster.primaries().len(), 3);
    let mut ports: Vec<u16> = cluster.nodes().iter().map(Server::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 6);

    for node in cluster.nodes() {
        let info = node
            .command(&["CLUSTER", "INFO"])
            .unwrap()
            .as_text()
            .unwrap();
        assert_eq!(info_field(&info, "cluster_state"), Some("ok"));
        assert_eq!(info_field(&info, "cluster_known_nodes"), Some("6"));
    }
    for (i, replica) in cluster.replicas().iter().enumerate() {
        let replication = replica.command(&["INFO", "replication"]).unwrap();
        let replication = replication.as_text().unwrap();
        assert_eq!(info_field(&replication, "role"), Some("slave"));
        let primary = &cluster.primaries()[i % 3];
        assert_eq!(
            info_field(&replication, "master_port"),
            Some(primary.port().to_string().as_str())
        );
    }

    // "foo" is slot 12182: the third primary's; the others redirect there.
    assert_eq!(cluster.initial_slots(2), (10922, 16383));
    let owner = &cluster.primaries()[2];
    assert_eq!(
        owner.command(&["SET", "foo", "bar"]).unwrap(),
        Reply::Status("OK".into())
    );
    let moved = cluster.primaries()[0]
        .raw()
        .unwrap()
        .command(&["GET", "foo"])
        .unwrap();
    assert_eq!(
        moved,
        Reply::Error(format!("MOVED 12182 127.0.0.1:{}", owner.port()))
    );
}

#[test]
fn redis_cluster_forms() {
    let cluster = valkey_tests::ClusterOptions::redis()
        .primaries(3)
        .replicas_per_primary(0)
        .start()
        .unwrap();
    assert_eq!(cluster.kind(), ServerKind::Redis);
    let slots = cluster.nodes()[0].command(&["CLUSTER", "SLOTS"]).unwrap();
    assert_eq!(slots.as_array().unwrap().len(), 3);
}

#[test]
fn cluster_with_a_password_replicates() {
    let cluster = valkey_tests::ClusterOptions::new(ServerOptions::valkey().password("pw"))
        .primaries(2)
        .replicas_per_primary(1)
        .start()
        .unwrap();
    assert!(raw_ping(cluster.nodes()[0].port())
        .unwrap()
        .starts_with("-NOAUTH"));
    assert!(cluster
        .urls()
        .iter()
        .all(|u| u.starts_with("valkey://:pw@127.0.0.1:")));
    // The replicas authenticated to their primaries (wait_until_ok checks their links).
    cluster.wait_until_ok().unwrap();
    assert_eq!(cluster.replicas().len(), 2);
}
