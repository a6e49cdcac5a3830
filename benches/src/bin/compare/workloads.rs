//! The comparison's workloads: what each sends, how many commands that is, what the server must
//! have run afterwards, and the data set up before it (outside the measurement).

use bytes::Bytes;
use valkey_benches::report::Runtime;
use valkey_benches::seed::{keys, SeedData, SeedOp, LRANGE_LEN};
use valkey_benches::Res;
use valkey_tests::RespConn;

/// Values of `seq`, `pipe` and `conc`.
pub const SMALL_VALUE: usize = 16;
/// Data size of the seed operations (the seed's default `-s 2`).
pub const SEED_SIZE: usize = 2;
/// Commands per `pipe` pipeline: this many SETs, then as many GETs of the same keys.
pub const PIPE_HALF: usize = 50;
/// List read by `lrange_300` (never modified by a workload).
pub const LRANGE_KEY: &str = "lrange_key";
/// List `lpop` pops from (refilled before each run).
pub const LPOP_KEY: &str = "lpop_key";
/// List `lpush` pushes to (emptied before each run).
pub const LPUSH_KEY: &str = "lpush_key";

/// What a workload does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One connection: `n` SETs, then `n` GETs of 16-byte values, each awaited.
    Seq { n: usize },
    /// `batches` pipelines of 50 SETs + 50 GETs, replies decoded.
    Pipe { batches: usize },
    /// One shared async connection, `tasks` tasks, each `per_task` commands (SET/GET alternating
    /// on its own key).
    Conc { tasks: usize, per_task: usize },
    /// A seed operation, `n` times, each awaited.
    Seed { op: SeedOp, n: usize },
    /// `n` GETs of one value of `size` bytes.
    Get { size: usize, n: usize },
    /// `n` messages of `size` bytes published to one channel by the publisher process (see
    /// `pubsub`), all received by one subscriber of the client under test. With `backlog`, all
    /// are published before the subscriber reads any (the server holds them in its output
    /// buffer), and the clock measures only how fast the subscriber drains them: its own speed,
    /// where the live runs are bounded by the publisher and the server.
    PubSub {
        size: usize,
        n: usize,
        backlog: bool,
    },
}

/// A named workload.
#[derive(Clone, Debug)]
pub struct Workload {
    pub name: String,
    pub kind: Kind,
}

impl Workload {
    /// The full list, counts shrunk tenfold for `quick`.
    pub fn all(quick: bool) -> Vec<Workload> {
        let q = |n: usize| if quick { n / 10 } else { n };
        let mut w = vec![
            Workload::new("seq", Kind::Seq { n: q(20_000) }),
            Workload::new("pipe", Kind::Pipe { batches: q(500) }),
            Workload::new(
                "conc64",
                Kind::Conc {
                    tasks: 64,
                    per_task: q(2_000),
                },
            ),
            Workload::new(
                "conc256",
                Kind::Conc {
                    tasks: 256,
                    per_task: q(2_000),
                },
            ),
        ];
        for op in SeedOp::ALL {
            w.push(Workload::new(op.name(), Kind::Seed { op, n: q(10_000) }));
        }
        w.push(Workload::new(
            "get_16B",
            Kind::Get {
                size: 16,
                n: q(10_000),
            },
        ));
        w.push(Workload::new(
            "get_1KiB",
            Kind::Get {
                size: 1024,
                n: q(10_000),
            },
        ));
        w.push(Workload::new(
            "get_100KiB",
            Kind::Get {
                size: 100 * 1024,
                n: q(2_000),
            },
        ));
        for backlog in [false, true] {
            let prefix = if backlog { "drain" } else { "pubsub" };
            w.push(Workload::new(
                &format!("{prefix}_16B"),
                Kind::PubSub {
                    size: 16,
                    n: q(100_000),
                    backlog,
                },
            ));
            w.push(Workload::new(
                &format!("{prefix}_1KiB"),
                Kind::PubSub {
                    size: 1024,
                    n: q(20_000),
                    backlog,
                },
            ));
        }
        w
    }

    /// The cluster workloads (`--cluster`), counts shrunk tenfold for `quick`: 256 tasks of
    /// single-key SET/GET on one shared cluster connection, and pipelines of 100 (50 SET + 50
    /// GET) whose keys are in 50 slots across every primary.
    pub fn cluster(quick: bool) -> Vec<Workload> {
        let q = |n: usize| if quick { n / 10 } else { n };
        vec![
            Workload::new(
                "cluster_conc256",
                Kind::Conc {
                    tasks: 256,
                    per_task: q(400),
                },
            ),
            Workload::new("cluster_pipe100", Kind::Pipe { batches: q(300) }),
        ]
    }

    fn new(name: &str, kind: Kind) -> Workload {
        Workload {
            name: name.to_owned(),
            kind,
        }
    }

    /// Whether only the async clients (one connection shared by many tasks) can run it.
    pub fn async_only(&self) -> bool {
        matches!(self.kind, Kind::Conc { .. })
    }

    /// Whether a backlog is published before the clock starts (see [`Kind::PubSub`]).
    pub fn backlog(&self) -> bool {
        matches!(self.kind, Kind::PubSub { backlog: true, .. })
    }

    /// Whether it runs on a blocking client (`None`) or an async one on runtime `rt`. A backlog
    /// run does not run on the multi-thread runtime: there the peers' background tasks keep
    /// reading into their own memory while the backlog is published, so the drain would not
    /// measure the same work for every client.
    pub fn runs_with(&self, rt: Option<Runtime>) -> bool {
        match rt {
            None => !self.async_only(),
            Some(Runtime::Multi { .. }) => !self.backlog(),
            Some(Runtime::Current) => true,
        }
    }

    /// Whether it is a pub/sub workload (run by `pubsub`, not by `clients`).
    pub fn is_pubsub(&self) -> bool {
        matches!(self.kind, Kind::PubSub { .. })
    }

    /// Commands sent per run (for pub/sub: messages published, each received once).
    pub fn commands(&self) -> u64 {
        (match self.kind {
            Kind::Seq { n } => 2 * n,
            Kind::Pipe { batches } => batches * 2 * PIPE_HALF,
            Kind::Conc { tasks, per_task } => tasks * (per_task / 2 * 2),
            Kind::Seed { n, .. } | Kind::Get { n, .. } | Kind::PubSub { n, .. } => n,
        }) as u64
    }

    /// What `INFO commandstats` must show as run, exactly.
    pub fn expected_calls(&self) -> Vec<(&'static str, u64)> {
        let half = self.commands() / 2;
        match self.kind {
            Kind::Seq { .. } | Kind::Pipe { .. } | Kind::Conc { .. } => {
                vec![("set", half), ("get", half)]
            }
            Kind::Seed { op, n } => vec![(op.server_command(), n as u64)],
            Kind::Get { n, .. } => vec![("get", n as u64)],
            Kind::PubSub { n, .. } => vec![("publish", n as u64)],
        }
    }

    /// Sets up what one run needs (lists to pop from, an empty list to push to).
    pub fn before_run(&self, raw: &mut RespConn) -> Res<()> {
        match self.kind {
            Kind::Seed {
                op: SeedOp::Lpop,
                n,
            } => {
                raw.command_ok(&["DEL", LPOP_KEY])?;
                fill_list(raw, LPOP_KEY, n)
            }
            Kind::Seed {
                op: SeedOp::Lpush, ..
            } => {
                raw.command_ok(&["DEL", LPUSH_KEY])?;
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Keys and values of every workload, made once before anything is measured.
pub struct Data {
    pub small: Bytes,
    pub seed: SeedData,
    pub seq_keys: Vec<String>,
    pub pipe_keys: Vec<String>,
    pub set_str_keys: Vec<String>,
    pub set_int_keys: Vec<String>,
    /// (size, key, value) of the `get_*` workloads.
    pub values: Vec<(usize, String, Bytes)>,
}

impl Data {
    /// Keys and values for `workloads`.
    pub fn new(workloads: &[Workload]) -> Data {
        let mut seq = 0;
        let mut seed = 0;
        let mut sizes = Vec::new();
        for w in workloads {
            match w.kind {
                Kind::Seq { n } => seq = seq.max(n),
                Kind::Seed { n, .. } => seed = seed.max(n),
                Kind::Get { size, .. } => sizes.push(size),
                _ => {}
            }
        }
        Data {
            small: Bytes::from(vec![b'v'; SMALL_VALUE]),
            seed: SeedData::new(SEED_SIZE),
            seq_keys: keys("seq", seq),
            pipe_keys: keys("pipe", PIPE_HALF),
            set_str_keys: keys(SeedOp::SetStr.key_prefix(), seed),
            set_int_keys: keys(SeedOp::SetInt.key_prefix(), seed),
            values: sizes
                .into_iter()
                .map(|s| {
                    let v: Vec<u8> = (0..s).map(|i| b'a' + (i % 26) as u8).collect();
                    (s, format!("value:{s}"), Bytes::from(v))
                })
                .collect(),
        }
    }

    /// The key and value of the `get_*` workload of `size` bytes.
    pub fn value(&self, size: usize) -> (&str, &Bytes) {
        let (_, k, v) = self
            .values
            .iter()
            .find(|(s, _, _)| *s == size)
            .expect("values are made for every get workload");
        (k, v)
    }

    /// Writes what the read workloads read: the seed's keys, the list of `lrange_300`, the values.
    pub fn load(&self, raw: &mut RespConn) -> Res<()> {
        raw.command_ok(&["FLUSHALL"])?;
        let int_text = self.seed.int_value.to_string();
        for chunk in self.set_str_keys.chunks(1000) {
            let mut args: Vec<&[u8]> = vec![b"MSET"];
            for k in chunk {
                args.push(k.as_bytes());
                args.push(&self.seed.str_value);
            }
            raw.command_ok(&args)?;
        }
        for chunk in self.set_int_keys.chunks(1000) {
            let mut args: Vec<&[u8]> = vec![b"MSET"];
            for k in chunk {
                args.push(k.as_bytes());
                args.push(int_text.as_bytes());
            }
            raw.command_ok(&args)?;
        }
        fill_list(
            raw,
            LRANGE_KEY,
            self.set_str_keys.len() + LRANGE_LEN as usize,
        )?;
        for (_, k, v) in &self.values {
            raw.command_ok(&[&b"SET"[..], k.as_bytes(), v])?;
        }
        Ok(())
    }
}

/// Appends `n` two-byte elements to a list.
fn fill_list(raw: &mut RespConn, key: &str, n: usize) -> Res<()> {
    let mut left = n;
    while left > 0 {
        let chunk = left.min(1000);
        let mut args: Vec<&str> = vec!["RPUSH", key];
        args.extend(std::iter::repeat_n("10", chunk));
        raw.command_ok(&args)?;
        left -= chunk;
    }
    Ok(())
}
