//! Pipelines and transactions against a real Valkey server, in RESP2 and RESP3, sync and async:
//! typed tuples, a 100,000-command run-time pipeline, per-command errors in both modes, WATCH
//! conflicts and the retrying helper, EXECABORT, and transactions amid other tasks' traffic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use valkey::pipeline::{Pipeline, WatchOptions};
use valkey::sync::Connection;
use valkey::{Cmd, Command, ConnectionInfo, ErrorKind, Protocol, Value};
use valkey_tests::Server;

fn protocols(server: &Server) -> Vec<ConnectionInfo> {
    [Protocol::Resp2, Protocol::Resp3]
        .into_iter()
        .map(|p| {
            ConnectionInfo::from_url(&server.url())
                .unwrap()
                .with_protocol(p)
        })
        .collect()
}

fn incr(key: &str) -> impl Command<Output = i64> {
    Cmd::new("INCR").arg(key).returning::<i64>()
}

fn get<T: valkey::FromValkey>(key: &str) -> impl Command<Output = T> {
    Cmd::new("GET").arg(key).returning::<T>()
}

#[test]
fn typed_tuple_pipelines_of_1_2_and_12() {
    let server = Server::valkey().unwrap();
    for info in protocols(&server) {
        let mut con = Connection::open(info.clone()).unwrap();
        con.send(Cmd::new("DEL").arg("p:x").arg("p:l")).unwrap();
        let (one,) = con.pipe((incr("p:x"),)).unwrap();
        assert_eq!(one, 1);
        let (n, list): (i64, Vec<String>) = con
            .pipe((
                Cmd::new("RPUSH")
                    .arg("p:l")
                    .arg(["a", "b", "c"])
                    .returning(),
                Cmd::new("LRANGE").arg("p:l").arg(0).arg(-1).returning(),
            ))
            .unwrap();
        assert_eq!(
            (n, list),
            (3, vec!["a".to_string(), "b".into(), "c".into()])
        );
        let twelve = con
            .pipe((
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                incr("p:x"),
                get::<String>("p:x"),
                get::<Option<String>>("p:missing"),
            ))
            .unwrap();
        assert_eq!((twelve.0, twelve.9), (2, 11));
        assert_eq!(twelve.10, "11");
        assert_eq!(twelve.11, None);
    }
}

#[test]
fn run_time_pipeline_of_100k_commands() {
    let server = Server::valkey().unwrap();
    for info in protocols(&server) {
        let mut con = Connection::open(info.clone()).unwrap();
        con.send(Cmd::new("DEL").arg("big")).unwrap();
        let mut p = Pipeline::new();
        let handles: Vec<_> = (0..100_000).map(|_| p.push(incr("big"))).collect();
        let replies = con.run(&p).unwrap();
        assert_eq!(replies.len(), 100_000);
        for (i, h) in handles.iter().enumerate().step_by(997) {
            assert_eq!(replies.get(*h).unwrap(), i as i64 + 1);
        }
        assert_eq!(replies.get(handles[99_999]).unwrap(), 100_000);
        // The same as a Vec of one command type, async.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let con = valkey::aio::MultiplexedConnection::open(info.clone())
                .await
                .unwrap();
            let cmds: Vec<_> = (0..100_000).map(|_| incr("big2")).collect();
            let out = con.pipe(cmds).await.unwrap();
            assert_eq!(out.len(), 100_000);
            assert!(out.windows(2).all(|w| w[1] == w[0] + 1));
        });
    }
}

#[test]
fn errors_inside_pipelines_and_exec_in_both_modes() {
    let server = Server::valkey().unwrap();
    for info in protocols(&server) {
        let mut con = Connection::open(info.clone()).unwrap();
        con.send(Cmd::new("SET").arg("e:str").arg("text")).unwrap();
        con.send(Cmd::new("DEL").arg("e:n")).unwrap();
        // Default mode: the first failure, naming the command; the others still ran.
        let e = con
            .pipe((incr("e:n"), incr("e:str"), incr("e:n")))
            .unwrap_err();
        assert_eq!(e.code(), Some("ERR"), "{e}");
        assert!(e.to_string().contains("command #1 (INCR)"), "{e}");
        assert_eq!(con.send(get::<i64>("e:n")).unwrap(), 2);
        // Results mode: every command's own result.
        let (a, b, c) = con
            .pipe_results((
                incr("e:n"),
                Cmd::new("LPUSH").arg("e:str").arg("x"),
                incr("e:n"),
            ))
            .unwrap();
        assert_eq!(a.unwrap(), 3);
        assert_eq!(b.unwrap_err().code(), Some("WRONGTYPE"));
        assert_eq!(c.unwrap(), 4);
        // Inside EXEC: WRONGTYPE happens at run time; the other commands ran (no rollback).
        let e = con
            .transaction((
                incr("e:n"),
                Cmd::new("LPUSH").arg("e:str").arg("x"),
                incr("e:n"),
            ))
            .unwrap_err();
        assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
        assert!(e.to_string().contains("command #1 (LPUSH)"), "{e}");
        assert_eq!(con.send(get::<i64>("e:n")).unwrap(), 6);
        let (a, b, c) = con
            .transaction_results((
                incr("e:n"),
                Cmd::new("LPUSH").arg("e:str").arg("x"),
                incr("e:n"),
            ))
            .unwrap();
        assert_eq!((a.unwrap(), c.unwrap()), (7, 8));
        assert_eq!(b.unwrap_err().code(), Some("WRONGTYPE"));
        // The connection is usable afterwards (no MULTI left open).
        assert_eq!(con.send(incr("e:n")).unwrap(), 9);
    }
}

#[test]
fn execabort_names_the_rejected_command() {
    let server = Server::valkey().unwrap();
    for info in protocols(&server) {
        let mut con = Connection::open(info.clone()).unwrap();
        con.send(Cmd::new("DEL").arg("x:n")).unwrap();
        let e = con
            .transaction((incr("x:n"), Cmd::new("NO.SUCH.CMD").arg(1), incr("x:n")))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ExecAbort, "{e}");
        assert!(e.to_string().contains("command #1 (NO.SUCH.CMD)"), "{e}");
        // Nothing ran.
        assert_eq!(con.send(get::<Option<i64>>("x:n")).unwrap(), None);
        // Wrong arity is rejected while queuing too.
        let e = con.transaction((incr("x:n"), Cmd::new("GET"))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ExecAbort, "{e}");
        assert_eq!(con.send(incr("x:n")).unwrap(), 1);
    }
}

#[test]
fn watch_conflict_is_distinct_and_the_helper_retries() {
    let server = Server::valkey().unwrap();
    for info in protocols(&server) {
        let mut con = Connection::open(info.clone()).unwrap();
        let mut other = Connection::open(info.clone()).unwrap();
        con.send(Cmd::new("SET").arg("w:k").arg(0)).unwrap();
        // A plain WATCH + change by another client: EXEC returns nil, reported as WatchConflict.
        con.send(Cmd::new("WATCH").arg("w:k")).unwrap();
        other.send(incr("w:k")).unwrap();
        let e = con.transaction((incr("w:k"),)).unwrap_err();
        assert!(e.is_watch_conflict(), "{e}");
        assert_eq!(con.send(get::<i64>("w:k")).unwrap(), 1);

        // The helper: a concurrent writer keeps changing the key for a while; every attempt
        // that lost is retried, and the final value counts both sides exactly.
        con.send(Cmd::new("SET").arg("w:k").arg(0)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            let info = info.clone();
            std::thread::spawn(move || {
                let mut c = Connection::open(info).unwrap();
                let mut n = 0i64;
                while !stop.load(Ordering::Relaxed) && n < 2000 {
                    c.send(incr("w:k")).unwrap();
                    n += 1;
                }
                n
            })
        };
        let mut attempts = 0;
        for _ in 0..50 {
            con.watch(
                &"w:k",
                WatchOptions {
                    max_attempts: 10_000,
                },
                |con| {
                    attempts += 1;
                    let v: i64 = con.send(get("w:k"))?;
                    std::thread::sleep(Duration::from_micros(200));
                    Ok((Cmd::new("SET").arg("w:k").arg(v + 1000),))
                },
            )
            .unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().unwrap();
        assert_eq!(con.send(get::<i64>("w:k")).unwrap(), writes + 50 * 1000);
        assert!(attempts >= 50);
        // UNWATCH on the error path: a failing closure leaves nothing watched.
        let e = con
            .watch(
                &"w:k",
                WatchOptions::default(),
                |_| -> valkey::Result<(Cmd,)> {
                    Err(valkey::Error::new(ErrorKind::InvalidInput, "user gave up"))
                },
            )
            .unwrap_err();
        assert!(e.to_string().contains("user gave up"));
        other.send(incr("w:k")).unwrap();
        let (v,) = con.transaction((incr("w:k"),)).unwrap();
        assert_eq!(v, writes + 50 * 1000 + 2);
    }
}

#[test]
fn async_transactions_amid_32_busy_tasks() {
    let server = Server::valkey().unwrap();
    for info in protocols(&server) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let con = valkey::aio::MultiplexedConnection::open(info.clone())
                .await
                .unwrap();
            con.send(Cmd::new("DEL").arg("t:a").arg("t:b"))
                .await
                .unwrap();
            let mut tasks = Vec::new();
            for t in 0..32 {
                let con = con.clone();
                tasks.push(tokio::spawn(async move {
                    for i in 0..300 {
                        let v: String = con
                            .send(Cmd::new("ECHO").arg(format!("{t}:{i}")).returning())
                            .await
                            .unwrap();
                        assert_eq!(v, format!("{t}:{i}"));
                    }
                }));
            }
            for _ in 0..200 {
                let (a, b, list) = con
                    .transaction((
                        incr("t:a"),
                        incr("t:b"),
                        Cmd::new("MGET").arg(["t:a", "t:b"]).returning::<Vec<i64>>(),
                    ))
                    .await
                    .unwrap();
                assert_eq!(a, b);
                assert_eq!(list, vec![a, b]);
            }
            for t in tasks {
                t.await.unwrap();
            }
            // The async WATCH helper, on its own connection.
            con.send(Cmd::new("SET").arg("t:w").arg(5)).await.unwrap();
            let (_,) = con
                .watch(&"t:w", WatchOptions::default(), |c| async move {
                    let v: i64 = c.send(get("t:w")).await?;
                    Ok((Cmd::new("SET").arg("t:w").arg(v * 2),))
                })
                .await
                .unwrap();
            assert_eq!(con.send(get::<i64>("t:w")).await.unwrap(), 10);
            let e = con
                .transaction((incr("t:a"), Cmd::new("NOPE")))
                .await
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ExecAbort);
            assert_eq!(con.send(incr("t:a")).await.unwrap(), 201);
        });
    }
}

#[test]
fn pipeline_replies_read_back_as_values() {
    let server = Server::valkey().unwrap();
    let mut con = Connection::open(server.url()).unwrap();
    let mut p = Pipeline::new();
    p.add(Cmd::new("SET").arg("v:a").arg(1))
        .add(Cmd::new("INCR").arg("v:a"))
        .add(Cmd::new("NOPE"));
    let values = con.run(&p).unwrap().into_values();
    assert_eq!(values[1].as_ref().unwrap(), &Value::Int(2));
    assert!(values[2].as_ref().unwrap_err().is_unknown_command());
    let e = con.run(&p).unwrap().check().err().unwrap();
    assert!(e.to_string().contains("command #2 (NOPE)"), "{e}");
    let mut t = Pipeline::new();
    t.add(Cmd::new("INCR").arg("v:a"));
    let replies = con.run_transaction(&t);
    assert_eq!(
        replies.unwrap().into_values()[0].as_ref().unwrap(),
        &Value::Int(3)
    );
}

#[test]
fn large_pipelines_stream_over_unix_sockets_and_tls() {
    // Over 256 KiB of commands goes out in chunks with replies read in between.
    let server = Server::valkey().unwrap();
    let mut con = Connection::open(ConnectionInfo::unix(server.unix_socket())).unwrap();
    let value = "v".repeat(100);
    let sets: Vec<_> = (0..20_000)
        .map(|i| valkey::cmd::set(format!("u:{i}"), value.as_str()))
        .collect();
    assert_eq!(con.pipe(sets).unwrap().len(), 20_000);
    let gets: Vec<_> = (0..20_000)
        .map(|i| valkey::cmd::get::<_, String>(format!("u:{i}")))
        .collect();
    assert!(con.pipe(gets).unwrap().iter().all(|v| *v == value));

    let redis = valkey_tests::ServerOptions::redis()
        .tls(valkey_tests::TlsClientAuth::No)
        .start()
        .unwrap();
    let url = format!("{}?tls_insecure=true", redis.tls_url().unwrap());
    let mut con = Connection::open(url.as_str()).unwrap();
    let incrs: Vec<_> = (0..50_000).map(|_| incr("tls:n")).collect();
    let out = con.pipe(incrs).unwrap();
    assert_eq!(out.last(), Some(&50_000));
}
