//! Ad-hoc stress: futures dropped at arbitrary points, pipelines, multi-thread runtime; the
//! connection stays in step and no reply slot leaks.

use std::time::Duration;
use valkey::pipeline::Pipeline;
use valkey::{Cmd, ConnectionInfo, Protocol};
use valkey_tests::{ServerKind, ServerOptions};

#[test]
fn drops_at_any_point_keep_the_connection_in_step() {
    let server = ServerOptions::new(ServerKind::Valkey).start().unwrap();
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let info = ConnectionInfo::from_url(&server.url())
                .unwrap()
                .with_protocol(protocol);
            let con = valkey::aio::MultiplexedConnection::open(info)
                .await
                .unwrap();
            let mut tasks = Vec::new();
            for t in 0..32u64 {
                let con = con.clone();
                tasks.push(tokio::spawn(async move {
                    let mut x = t.wrapping_mul(6364136223846793005).wrapping_add(1);
                    for i in 0..400u64 {
                        x = x
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let tag = format!("{t}/{i}");
                        match (x >> 33) % 5 {
                            0 | 1 => {
                                let v: String = con
                                    .send(Cmd::new("ECHO").arg(&tag).returning())
                                    .await
                                    .unwrap();
                                assert_eq!(v, tag);
                            }
                            2 => {
                                let d = Duration::from_micros((x >> 40) % 300);
                                let _ =
                                    tokio::time::timeout(d, con.send(Cmd::new("ECHO").arg(&tag)))
                                        .await;
                            }
                            3 => {
                                let mut p = Pipeline::new();
                                let hs: Vec<_> = (0..3)
                                    .map(|k| {
                                        p.push(
                                            Cmd::new("ECHO")
                                                .arg(format!("{tag}.{k}"))
                                                .returning::<String>(),
                                        )
                                    })
                                    .collect();
                                let d = Duration::from_micros((x >> 40) % 600);
                                if (x >> 20) % 2 == 0 {
                                    let r = con.run(&p).await.unwrap();
                                    for (k, h) in hs.into_iter().enumerate() {
                                        assert_eq!(r.get(h).unwrap(), format!("{tag}.{k}"));
                                    }
                                } else {
                                    let _ = tokio::time::timeout(d, con.run(&p)).await;
                                }
                            }
                            _ => {
                                // A future polled once and dropped, and one never polled.
                                let mut f = Box::pin(con.send(Cmd::new("ECHO").arg(&tag)));
                                let _ = futures_poll_once(f.as_mut()).await;
                                drop(f);
                                drop(con.send(Cmd::new("ECHO").arg(&tag)));
                            }
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            let v: String = con
                .send(Cmd::new("ECHO").arg("last").returning())
                .await
                .unwrap();
            assert_eq!(v, "last");
            let dbg = format!("{con:?}");
            assert!(dbg.contains("reply_slots: 0"), "{dbg}");
            assert!(dbg.contains("pending: 0"), "{dbg}");
        });
    }
}

async fn futures_poll_once<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut f).poll(cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
