//! Pipelines, transactions, the WATCH helper and durable writes on the shared async connection.
//! A batch is encoded under one lock, so it is contiguous on the wire, never interleaved with
//! other tasks' commands; a batch with blocking commands moves whole to a dedicated connection.
//! Encoding and decoding live in `crate::pipeline`.

use super::MultiplexedConnection;
use crate::cmd::{Blocks, Cmd};
use crate::convert::ToValkeyArgs;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::{
    batch_label, decode_durable, encode_batch, encode_durable, encode_transaction,
    transaction_replies, Acks, Commands, Durability, NamedBatch, Pipeline, Replies, Reply,
    WatchOptions,
};
use crate::proto::ServerInfo;
use crate::value::Value;
use bytes::Bytes;
use std::future::Future;

impl MultiplexedConnection {
    /// Runs the commands as one pipeline and returns their outputs; the first command that failed
    /// makes it an `Err` naming that command. The other commands still ran.
    ///
    /// An error names the batch and the server (`pipeline of 3 (INCR …) on 127.0.0.1:6379:
    /// ...`).
    pub async fn pipe<P: Commands>(&self, cmds: P) -> Result<P::Output> {
        let frames = self.batch(&cmds, false).await;
        frames
            .and_then(|frames| cmds.decode(&mut frames.into_iter().map(Reply::Frame)))
            .map_err(|e| self.batch_failed(e, false, &cmds))
    }

    /// Like [`MultiplexedConnection::pipe`], but every command's own `Result` is returned.
    pub async fn pipe_results<P: Commands>(&self, cmds: P) -> Result<P::Results> {
        let frames = self.batch(&cmds, false).await;
        frames
            .and_then(|frames| {
                let named = |e| self.batch_failed(e, false, &cmds);
                cmds.decode_results(&mut frames.into_iter().map(Reply::Frame), &named)
            })
            .map_err(|e| self.batch_failed(e, false, &cmds))
    }

    /// Runs the commands as a transaction (`MULTI` ... `EXEC`), contiguous on the wire. Outcomes
    /// as for the blocking `Connection::transaction`.
    pub async fn transaction<P: Commands>(&self, cmds: P) -> Result<P::Output> {
        let replies = self.exec(&cmds).await;
        replies
            .and_then(|replies| cmds.decode(&mut replies.into_iter()))
            .map_err(|e| self.batch_failed(e, true, &cmds))
    }

    /// Like [`MultiplexedConnection::transaction`], but every command's own `Result` is returned.
    pub async fn transaction_results<P: Commands>(&self, cmds: P) -> Result<P::Results> {
        let replies = self.exec(&cmds).await;
        replies
            .and_then(|replies| {
                let named = |e| self.batch_failed(e, true, &cmds);
                cmds.decode_results(&mut replies.into_iter(), &named)
            })
            .map_err(|e| self.batch_failed(e, true, &cmds))
    }

    /// Names a batch and the server in an error (the error path only).
    fn batch_failed<B: NamedBatch + ?Sized>(
        &self,
        e: Error,
        transaction: bool,
        batch: &B,
    ) -> Error {
        self.command_failed(e, || batch_label(transaction, batch))
    }

    /// Runs a run-time [`Pipeline`].
    pub async fn run<'p>(&self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let replies = self.run_unnamed(pipeline).await;
        replies.map_err(|e| self.batch_failed(e, false, pipeline))
    }

    async fn run_unnamed<'p>(&self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let (encoded, info) = pipeline.encoded()?;
        let frames = self
            .frames(pipeline.len(), info.blocks, |buf, _| {
                buf.extend_from_slice(encoded);
                Ok(())
            })
            .await?;
        let replies = frames.into_iter().map(Reply::Frame).collect();
        Ok(pipeline.replies(replies, self.arc_info(), false))
    }

    /// Runs a run-time [`Pipeline`] as a transaction.
    pub async fn run_transaction<'p>(&self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let replies = self.run_transaction_unnamed(pipeline).await;
        replies.map_err(|e| self.batch_failed(e, true, pipeline))
    }

    async fn run_transaction_unnamed<'p>(&self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let n = pipeline.len();
        let (encoded, _) = pipeline.encoded()?;
        let frames = self
            .round_trip(n + 2, |buf, _| {
                encode_transaction(buf, |b| {
                    b.extend_from_slice(encoded);
                    Ok(())
                })
            })
            .await?;
        let replies = transaction_replies(frames, n, |i| pipeline.name_of(i))?;
        Ok(pipeline.replies(replies, self.arc_info(), true))
    }

    /// Writes the commands, then waits until the server confirms them as `durability` asks
    /// (`WAIT` for replicas, `WAITAOF` for AOF fsyncs), on a connection of their own: WAIT only
    /// counts the writes of its own connection, and must not hold up other tasks. Returns the
    /// commands' outputs and what the server confirmed; fewer acknowledgements than asked
    /// for is not an error (the writes happened; check [`Acks`]).
    ///
    /// ```no_run
    /// # async fn f(con: valkey::aio::MultiplexedConnection) -> valkey::Result<()> {
    /// use valkey::pipeline::Durability;
    /// use std::time::Duration;
    /// let durability = Durability::Replicas { count: 1, timeout: Duration::from_secs(1) };
    /// let ((), acks) = con.pipe_durable((valkey::cmd::set("k", "v"),), durability).await
    ///     .map(|((set,), acks)| (set, acks))?;
    /// if acks.replicas < 1 { /* not replicated yet */ }
    /// # Ok(()) }
    /// ```
    pub async fn pipe_durable<P: Commands>(
        &self,
        cmds: P,
        durability: Durability,
    ) -> Result<(P::Output, Acks)> {
        self.pipe_durable_ref(&cmds, durability).await
    }

    /// [`MultiplexedConnection::pipe_durable`] keeping the commands, for a cluster connection
    /// that may send them again after a refusal that proves they did not run.
    pub(crate) async fn pipe_durable_ref<P: Commands>(
        &self,
        cmds: &P,
        durability: Durability,
    ) -> Result<(P::Output, Acks)> {
        let r = self.durable_unnamed(cmds, durability).await;
        r.map_err(|e| self.batch_failed(e, false, cmds))
    }

    async fn durable_unnamed<P: Commands>(
        &self,
        cmds: &P,
        durability: Durability,
    ) -> Result<(P::Output, Acks)> {
        let n = cmds.len() + 1;
        let blocks = match cmds.check(&ServerInfo::default())?.blocks {
            Some(b) => add_blocks(b, durability.blocks()),
            None => durability.blocks(),
        };
        let run = |con: MultiplexedConnection| async move {
            con.with_silence(
                blocks,
                con.round_trip(n, |buf, server| {
                    encode_durable(cmds, &durability, server, buf).map(drop)
                }),
            )
            .await
            .and_then(|frames| decode_durable(cmds, &durability, frames))
        };
        if self.is_dedicated() {
            return run(self.clone()).await;
        }
        let d = self.take_dedicated_probed(blocks).await?;
        let r = self.probed(blocks, true, run(d.con.clone())).await;
        d.give_back();
        r
    }

    /// Optimistic locking: WATCHes `keys` on a connection of its own (WATCH state is per
    /// connection, so it cannot be shared with other tasks), calls `f` with that connection to
    /// read and return the commands to run, runs them in MULTI/EXEC, and starts over when a
    /// watched key changed, up to `max_attempts` times. UNWATCH on every exit path.
    ///
    /// A connection lost between WATCH and EXEC voids the watches: the transaction is then not
    /// sent (a dedicated connection is never silently re-opened) and the helper starts over on
    /// a new one. A transaction whose outcome is unknown (the connection broke after EXEC was
    /// sent) is an [`ErrorKind::Unclear`] error, never retried.
    pub async fn watch<K, P, F, Fut>(
        &self,
        keys: &K,
        options: WatchOptions,
        mut f: F,
    ) -> Result<P::Output>
    where
        K: ToValkeyArgs + ?Sized,
        P: Commands,
        F: FnMut(MultiplexedConnection) -> Fut,
        Fut: Future<Output = Result<P>>,
    {
        let attempts = options.max_attempts.max(1);
        for attempt in 1..=attempts {
            let last = attempt == attempts;
            let d = self.take_dedicated().await?;
            let con = d.con.clone();
            let mut watch = Cmd::new("WATCH");
            watch.push_arg(keys);
            match con.call_one::<_, Value>(&watch).await {
                Ok(_) => {}
                // Nothing depends on a WATCH that may not have run: watch again elsewhere.
                Err(e) if e.is_io() && !last => continue,
                Err(e) => return Err(e),
            }
            let cmds = match f(con.clone()).await {
                Ok(c) => c,
                Err(e) if e.is_io() && !con.is_connected() && !last => continue,
                Err(e) => {
                    if con.call_one::<_, Value>(&Cmd::new("UNWATCH")).await.is_ok() {
                        d.give_back();
                    }
                    return Err(e);
                }
            };
            match con.exec(&cmds).await {
                Ok(replies) => {
                    d.give_back();
                    return cmds
                        .decode(&mut replies.into_iter())
                        .map_err(|e| con.batch_failed(e, true, &cmds));
                }
                Err(e) if e.is_watch_conflict() || e.is_not_sent() => {
                    d.give_back();
                    continue;
                }
                Err(e) => {
                    if !e.is_io() && con.call_one::<_, Value>(&Cmd::new("UNWATCH")).await.is_ok() {
                        d.give_back();
                    }
                    return Err(con.batch_failed(e, true, &cmds));
                }
            }
        }
        let e = Error::new(
            ErrorKind::WatchConflict,
            format!("gave up after {attempts} attempts: a watched key kept changing"),
        );
        Err(self.command_failed(e, || "WATCH".into()))
    }

    async fn batch<P: Commands>(&self, cmds: &P, transaction: bool) -> Result<Vec<Bytes>> {
        let n = if transaction {
            cmds.len() + 2
        } else {
            cmds.len()
        };
        // Refusals and blocking are known from the commands alone; the version check runs
        // again under the lock, with the server's info.
        let blocks = if transaction {
            cmds.check(&ServerInfo::default())?;
            None
        } else {
            cmds.check(&ServerInfo::default())?.blocks
        };
        self.frames(n, blocks, |buf, server| {
            encode_batch(cmds, transaction, server, buf).map(drop)
        })
        .await
    }

    /// One contiguous round trip of `n` frames: here, or on a dedicated connection (with its
    /// liveness deadline extended) when the batch may block.
    async fn frames(
        &self,
        n: usize,
        blocks: Option<Blocks>,
        encode: impl FnOnce(&mut Vec<u8>, &ServerInfo) -> Result<()>,
    ) -> Result<Vec<Bytes>> {
        let Some(blocks) = blocks else {
            return self.round_trip(n, encode).await;
        };
        if self.is_dedicated() {
            return self.with_silence(blocks, self.round_trip(n, encode)).await;
        }
        let d = self.take_dedicated_probed(blocks).await?;
        let blocked = d.con.with_silence(blocks, d.con.round_trip(n, encode));
        let r = self.probed(blocks, true, blocked).await;
        d.give_back();
        r
    }

    async fn exec<P: Commands>(&self, cmds: &P) -> Result<Vec<Reply>> {
        let frames = self.batch(cmds, true).await?;
        transaction_replies(frames, cmds.len(), |i| cmds.name_of(i))
    }
}

fn add_blocks(a: Blocks, b: Blocks) -> Blocks {
    match (a, b) {
        (Blocks::For(x), Blocks::For(y)) => Blocks::For(x + y),
        _ => Blocks::Forever,
    }
}
