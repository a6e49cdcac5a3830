//! Pipelines, transactions and the WATCH helper on the shared async connection. A batch is
//! encoded under one lock, so it is contiguous on the wire, never interleaved with other tasks'
//! commands; encoding and decoding live in `crate::pipeline`.

use super::MultiplexedConnection;
use crate::cmd::Cmd;
use crate::convert::ToValkeyArgs;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::{
    encode_batch, encode_transaction, transaction_replies, Commands, Pipeline, Replies, Reply,
    WatchOptions,
};
use bytes::Bytes;
use std::future::Future;

impl MultiplexedConnection {
    /// Runs the commands as one pipeline and returns their outputs; the first command that failed
    /// makes it an `Err` naming that command. The other commands still ran.
    pub async fn pipe<P: Commands>(&self, cmds: P) -> Result<P::Output> {
        let frames = self.batch(&cmds, false).await?;
        cmds.decode(&mut frames.into_iter().map(Reply::Frame))
    }

    /// Like [`MultiplexedConnection::pipe`], but every command's own `Result` is returned.
    pub async fn pipe_results<P: Commands>(&self, cmds: P) -> Result<P::Results> {
        let frames = self.batch(&cmds, false).await?;
        cmds.decode_results(&mut frames.into_iter().map(Reply::Frame))
    }

    /// Runs the commands as a transaction (`MULTI` ... `EXEC`), contiguous on the wire. Outcomes
    /// as for the blocking `Connection::transaction`.
    pub async fn transaction<P: Commands>(&self, cmds: P) -> Result<P::Output> {
        let replies = self.exec(&cmds).await?;
        cmds.decode(&mut replies.into_iter())
    }

    /// Like [`MultiplexedConnection::transaction`], but every command's own `Result` is returned.
    pub async fn transaction_results<P: Commands>(&self, cmds: P) -> Result<P::Results> {
        let replies = self.exec(&cmds).await?;
        cmds.decode_results(&mut replies.into_iter())
    }

    /// Runs a run-time [`Pipeline`].
    pub async fn run<'p>(&self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let frames = self
            .round_trip(pipeline.len(), |buf, _| {
                buf.extend_from_slice(pipeline.encoded());
                Ok(())
            })
            .await?;
        Ok(pipeline.replies(frames.into_iter().map(Reply::Frame).collect()))
    }

    /// Runs a run-time [`Pipeline`] as a transaction.
    pub async fn run_transaction<'p>(&self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let n = pipeline.len();
        let frames = self
            .round_trip(n + 2, |buf, _| {
                encode_transaction(buf, |b| b.extend_from_slice(pipeline.encoded()));
                Ok(())
            })
            .await?;
        let replies = transaction_replies(frames, n, |i| pipeline.name_of(i))?;
        Ok(pipeline.replies(replies))
    }

    /// Optimistic locking: WATCHes `keys` on a connection of its own (WATCH state is per
    /// connection, so it cannot be shared with other tasks), calls `f` with that connection to
    /// read and return the commands to run, runs them in MULTI/EXEC, and starts over when a
    /// watched key changed, up to `max_attempts` times. UNWATCH on every exit path.
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
        let con = self.take_dedicated().await?;
        let attempts = options.max_attempts.max(1);
        for _ in 0..attempts {
            let mut watch = Cmd::new("WATCH");
            watch.push_arg(keys);
            con.send(watch).await?;
            let cmds = match f(con.clone()).await {
                Ok(c) => c,
                Err(e) => {
                    let _ = con.send(Cmd::new("UNWATCH")).await;
                    self.put_dedicated(con);
                    return Err(e);
                }
            };
            match con.transaction(cmds).await {
                Ok(out) => {
                    self.put_dedicated(con);
                    return Ok(out);
                }
                Err(e) if e.is_watch_conflict() => continue,
                Err(e) => {
                    if con.send(Cmd::new("UNWATCH")).await.is_ok() {
                        self.put_dedicated(con);
                    }
                    return Err(e);
                }
            }
        }
        self.put_dedicated(con);
        Err(Error::new(
            ErrorKind::WatchConflict,
            format!("gave up after {attempts} attempts: a watched key kept changing"),
        ))
    }

    async fn batch<P: Commands>(&self, cmds: &P, transaction: bool) -> Result<Vec<Bytes>> {
        let n = if transaction {
            cmds.len() + 2
        } else {
            cmds.len()
        };
        self.round_trip(n, |buf, server| {
            encode_batch(cmds, transaction, server, buf).map(drop)
        })
        .await
    }

    async fn exec<P: Commands>(&self, cmds: &P) -> Result<Vec<Reply>> {
        let frames = self.batch(cmds, true).await?;
        transaction_replies(frames, cmds.len(), |i| cmds.name_of(i))
    }
}
