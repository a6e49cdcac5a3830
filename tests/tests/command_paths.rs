//! Every builder path proven live: each command's minimal invocation and one invocation per
//! option and per oneof choice, nested ones included, sent in RESP2 and RESP3 to Valkey 9.1 and
//! Redis 7.0; each reply must read into the builder's `Output`.
//!
//! The paths are generated into `command_paths/cases.rs`. The `cluster` group's go to a
//! cluster-enabled server of the same kind; every other group's after a setup that gives the key
//! `k` the type the group works on. A reply that does not read is a mis-typing and fails the
//! test; a server error leaves the path unverified; a path the client refuses before sending,
//! the server being too old for it, is not on that server.

use common::{serve_slots, setup, skipped, SKIP};
use valkey::{ConnectionInfo, ErrorKind, Protocol};
use valkey_tests::{Server, ServerOptions, TempDir};

#[path = "common/commands.rs"]
mod common;

// Generated (and formatted) by `valkey-codegen`; rustfmt must not rewrite it.
#[rustfmt::skip]
#[path = "command_paths/cases.rs"]
mod cases;

/// Paths not sent, besides every path of the commands in `common::SKIP` and the containers
/// (`CLIENT` alone: only its subcommands are commands): (command, the argument the path gives
/// or `*` for all, why).
const EXCLUDED: &[(&str, &str, &str)] = &[
    ("MODULE LOAD", "*", NO_MODULE),
    ("MODULE LOADEX", "*", NO_MODULE),
    ("MODULE UNLOAD", "*", NO_MODULE),
];

const NO_MODULE: &str = "no module file is installed to load (and the servers refuse MODULE \
     LOAD unless started with enable-module-command)";

/// A container (`CLIENT`, `CONFIG`): the command alone is never valid, its subcommands are the
/// paths.
fn container(name: &str) -> bool {
    cases::PATHS.iter().any(|(n, ..)| {
        n.len() > name.len() && n.starts_with(name) && n.as_bytes()[name.len()] == b' '
    })
}

/// The share of the paths sent (not excluded, on the server) that must decode.
const MIN_DECODED: f64 = 0.95;

#[derive(Default)]
struct Tally {
    total: usize,
    excluded: usize,
    not_on_server: usize,
    sent: usize,
    decoded: usize,
    server_errors: Vec<String>,
    failures: Vec<String>,
}

fn excluded(name: &str, target: &str) -> bool {
    skipped(name)
        || container(name)
        || EXCLUDED
            .iter()
            .any(|(n, t, _)| *n == name && (*t == target || *t == "*"))
}

fn label(name: &str, target: &str) -> String {
    if target.is_empty() {
        name.to_string()
    } else {
        format!("{name} [{target}]")
    }
}

/// Sends the paths of the `cluster` group (`cluster: true`) or of every other group.
fn run(server: &Server, protocol: Protocol, cluster: bool, t: &mut Tally) {
    let info = || {
        ConnectionInfo::from_url(&format!("{}?response_timeout=5", server.url()))
            .unwrap()
            .with_protocol(protocol)
    };
    let mut con = valkey::sync::Connection::open(info()).unwrap();
    for (name, group, target, send) in cases::PATHS.iter() {
        if (*group == "cluster") != cluster {
            continue;
        }
        t.total += 1;
        if excluded(name, target) {
            t.excluded += 1;
            continue;
        }
        let ready = setup(&mut con, group).and_then(|()| match cluster {
            true => serve_slots(&mut con),
            false => Ok(()),
        });
        if let Err(e) = ready {
            t.failures
                .push(format!("{}: setup failed: {e}", label(name, target)));
            con = valkey::sync::Connection::open(info()).unwrap();
            continue;
        }
        let result = send(&mut con);
        if *name == "HELLO" {
            // HELLO 3 switched the protocol (the connection follows it): back to this run's.
            con = valkey::sync::Connection::open(info()).unwrap();
        }
        match result {
            Ok(()) => {
                t.sent += 1;
                t.decoded += 1;
            }
            Err(e) if e.kind() == ErrorKind::Unsupported => t.not_on_server += 1,
            Err(e) if e.is_server_error() => {
                t.sent += 1;
                t.server_errors
                    .push(format!("{}: {e}", label(name, target)));
            }
            Err(e) => {
                t.sent += 1;
                t.failures.push(format!("{}: {e}", label(name, target)));
                // The connection may be unusable after a broken exchange.
                con = valkey::sync::Connection::open(info()).unwrap();
            }
        }
    }
}

#[test]
fn every_builder_path_reads_into_its_output_on_valkey_and_redis() {
    let start = std::time::Instant::now();
    // An ACL file, so that ACL LOAD and ACL SAVE have one to read and write.
    let acl = TempDir::new("acl").unwrap();
    let users = acl.path().join("users.acl");
    std::fs::write(&users, "user default on nopass ~* &* +@all\n").unwrap();
    let servers = [
        ("Valkey 9.1", ServerOptions::valkey()),
        ("Redis 7.0", ServerOptions::redis()),
    ]
    .map(|(name, options)| {
        let options = options.config(format!("aclfile {}", users.display()));
        let cluster = options
            .clone()
            .cluster_enabled()
            .config("cluster-require-full-coverage no")
            // The delay before a node that served no slot (after CLUSTER RESET) is up again.
            .config("cluster-node-timeout 500")
            .start()
            .unwrap();
        (name, options.start().unwrap(), cluster)
    });
    let mut failures = vec![];
    let mut short = vec![];
    for (server_name, server, cluster) in &servers {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            let mut t = Tally::default();
            run(server, protocol, false, &mut t);
            run(cluster, protocol, true, &mut t);
            let on_server = t.total - t.excluded - t.not_on_server;
            println!(
                "{server_name} {protocol:?}: {} paths, {} excluded, {} not on this server, {} sent: \
                 {} decoded into their Output, {} server errors (unverified), {} failures",
                t.total,
                t.excluded,
                t.not_on_server,
                t.sent,
                t.decoded,
                t.server_errors.len(),
                t.failures.len()
            );
            for e in &t.server_errors {
                println!("  server error: {e}");
            }
            failures.extend(
                t.failures
                    .iter()
                    .map(|f| format!("{server_name} {protocol:?}: {f}")),
            );
            if (t.decoded as f64) < MIN_DECODED * on_server as f64 {
                short.push(format!(
                    "{server_name} {protocol:?}: {} of {on_server} paths decoded",
                    t.decoded
                ));
            }
        }
    }
    println!(
        "excluded: the containers (the command alone is never valid), and every path of: {}; {:.1} s",
        SKIP.iter()
            .map(|(n, why)| format!("{n} ({why})"))
            .chain(EXCLUDED.iter().map(|(n, t, why)| format!("{n} {t} ({why})")))
            .collect::<Vec<_>>()
            .join(", "),
        start.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "replies that do not read into Output (mis-typed) or broken exchanges:\n{}",
        failures.join("\n")
    );
    assert!(short.is_empty(), "too few paths verified: {short:?}");
}
