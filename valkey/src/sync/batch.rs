//! Pipelines, transactions and the WATCH helper on the blocking connection; the encoding and
//! decoding live in `crate::pipeline`, this only moves the bytes.

use super::Connection;
use crate::cmd::{Blocks, Cmd};
use crate::convert::ToValkeyArgs;
use crate::error::{Error, ErrorKind, Result};
use crate::pipeline::{
    batch_label, decode_durable, encode_batch, encode_durable, encode_transaction,
    transaction_replies, Acks, Commands, Durability, NamedBatch, Pipeline, Replies, Reply,
    WatchOptions,
};
use bytes::Bytes;

impl Connection {
    /// Runs the commands as one pipeline (one write, then the replies) and returns their outputs;
    /// the first command that failed makes it an `Err` naming that command (index and name). The
    /// other commands still ran.
    ///
    /// ```no_run
    /// # fn main() -> valkey::Result<()> {
    /// # let mut con = valkey::sync::Connection::open("valkey://127.0.0.1")?;
    /// use valkey::Cmd;
    /// let (a, b): (valkey::Value, valkey::Value) =
    ///     con.pipe((Cmd::new("INCR").arg("x"), Cmd::new("GET").arg("x")))?;
    /// # Ok(()) }
    /// ```
    ///
    /// An error names the batch and the server (`pipeline of 3 (INCR …) on 127.0.0.1:6379:
    /// ...`).
    pub fn pipe<P: Commands>(&mut self, cmds: P) -> Result<P::Output> {
        self.batch(&cmds, false)
            .and_then(|frames| cmds.decode(&mut frames.into_iter().map(Reply::Frame)))
            .map_err(|e| self.batch_failed(e, false, &cmds))
    }

    /// Like [`Connection::pipe`], but every command's own `Result` is returned.
    pub fn pipe_results<P: Commands>(&mut self, cmds: P) -> Result<P::Results> {
        self.batch(&cmds, false)
            .and_then(|frames| {
                let named = |e| self.batch_failed(e, false, &cmds);
                cmds.decode_results(&mut frames.into_iter().map(Reply::Frame), &named)
            })
            .map_err(|e| self.batch_failed(e, false, &cmds))
    }

    /// Runs the commands as a transaction (`MULTI` ... `EXEC`). A watched key that changed gives an
    /// error of kind `WatchConflict` (nothing ran); a command rejected while queuing gives
    /// `ExecAbort` naming it (nothing ran); a command failing inside EXEC gives an `Err` naming it
    /// (the others ran: transactions do not roll back).
    pub fn transaction<P: Commands>(&mut self, cmds: P) -> Result<P::Output> {
        self.exec(&cmds)
            .and_then(|replies| cmds.decode(&mut replies.into_iter()))
            .map_err(|e| self.batch_failed(e, true, &cmds))
    }

    /// Like [`Connection::transaction`], but every command's own `Result` is returned.
    pub fn transaction_results<P: Commands>(&mut self, cmds: P) -> Result<P::Results> {
        self.exec(&cmds)
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

    /// Runs a run-time [`Pipeline`]; read each reply through its handle.
    pub fn run<'p>(&mut self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        self.run_unnamed(pipeline)
            .map_err(|e| self.batch_failed(e, false, pipeline))
    }

    fn run_unnamed<'p>(&mut self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let (encoded, info) = pipeline.encoded()?;
        self.connected()?;
        let (_, buf) = self.server_and_wbuf();
        buf.clear();
        buf.extend_from_slice(encoded);
        let replies = self.exchange_with(pipeline.len(), info.blocks, Reply::Frame)?;
        Ok(pipeline.replies(replies, self.arc_info(), false))
    }

    /// Runs a run-time [`Pipeline`] as a transaction.
    pub fn run_transaction<'p>(&mut self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        self.run_transaction_unnamed(pipeline)
            .map_err(|e| self.batch_failed(e, true, pipeline))
    }

    fn run_transaction_unnamed<'p>(&mut self, pipeline: &'p Pipeline) -> Result<Replies<'p>> {
        let n = pipeline.len();
        let (encoded, _) = pipeline.encoded()?;
        self.connected()?;
        let (_, buf) = self.server_and_wbuf();
        buf.clear();
        encode_transaction(buf, |b| {
            b.extend_from_slice(encoded);
            Ok(())
        })?;
        let frames = self.exchange_transaction(n + 2)?;
        let replies = transaction_replies(frames, n, |i| pipeline.name_of(i))?;
        Ok(pipeline.replies(replies, self.arc_info(), true))
    }

    /// Writes the commands, then waits until the server confirms them as `durability` asks
    /// (`WAIT` for replicas, `WAITAOF` for AOF fsyncs), in one round trip. Returns the commands'
    /// outputs and what the server confirmed; fewer acknowledgements than asked for is not an
    /// error (the writes happened; check [`Acks`]).
    pub fn pipe_durable<P: Commands>(
        &mut self,
        cmds: P,
        durability: Durability,
    ) -> Result<(P::Output, Acks)> {
        self.pipe_durable_ref(&cmds, durability)
    }

    /// [`Connection::pipe_durable`] keeping the commands, for a cluster connection that may
    /// send them again after a refusal that proves they did not run.
    pub(crate) fn pipe_durable_ref<P: Commands>(
        &mut self,
        cmds: &P,
        durability: Durability,
    ) -> Result<(P::Output, Acks)> {
        self.durable_unnamed(cmds, &durability)
            .map_err(|e| self.batch_failed(e, false, cmds))
    }

    fn durable_unnamed<P: Commands>(
        &mut self,
        cmds: &P,
        durability: &Durability,
    ) -> Result<(P::Output, Acks)> {
        self.connected()?;
        let (server, buf) = self.server_and_wbuf();
        buf.clear();
        let (n, info) = encode_durable(cmds, durability, server, buf)?;
        let frames = self.exchange_with(n, info.blocks, |f| f)?;
        decode_durable(cmds, durability, frames)
    }

    /// Optimistic locking (valkey-py's `transaction(func, *watches)`): WATCHes `keys`, calls `f`
    /// (which may read with this connection and returns the commands to run), runs them in
    /// MULTI/EXEC, and starts over when a watched key changed, up to `max_attempts` times.
    /// Keys are UNWATCHed on every exit path.
    ///
    /// ```no_run
    /// # fn main() -> valkey::Result<()> {
    /// # let mut con = valkey::sync::Connection::open("valkey://127.0.0.1")?;
    /// use valkey::{Cmd, Value};
    /// let (_,): (Value,) = con.watch(&"balance", Default::default(), |con| {
    ///     let v: Value = con.send(Cmd::new("GET").arg("balance"))?;
    ///     let n: i64 = match v { Value::BulkString(b) => String::from_utf8_lossy(&b).parse().unwrap_or(0), _ => 0 };
    ///     Ok((Cmd::new("SET").arg("balance").arg(n + 1),))
    /// })?;
    /// # Ok(()) }
    /// ```
    ///
    /// A connection lost between WATCH and EXEC voids the watches: the transaction is then not
    /// sent (it would run unwatched) and the helper starts over.
    pub fn watch<K, P, F>(&mut self, keys: &K, options: WatchOptions, mut f: F) -> Result<P::Output>
    where
        K: ToValkeyArgs + ?Sized,
        P: Commands,
        F: FnMut(&mut Connection) -> Result<P>,
    {
        let attempts = options.max_attempts.max(1);
        for attempt in 1..=attempts {
            let mut watch = Cmd::new("WATCH");
            watch.push_arg(keys);
            match self.send(watch) {
                Ok(_) => {}
                // Nothing depends on a WATCH that may not have run: watch again.
                Err(e) if e.is_io() && attempt < attempts => continue,
                Err(e) => return Err(e),
            }
            let cmds = match f(self) {
                Ok(c) => c,
                Err(e) => {
                    self.unwatch();
                    return Err(e);
                }
            };
            match self.transaction(cmds) {
                Ok(out) => return Ok(out),
                Err(e) if e.is_watch_conflict() => continue,
                Err(e) => {
                    self.unwatch();
                    return Err(e);
                }
            }
        }
        let e = Error::new(
            ErrorKind::WatchConflict,
            format!(
                "gave up after {} attempts: a watched key kept changing",
                options.max_attempts.max(1)
            ),
        );
        Err(self.command_failed(e, || "WATCH".into()))
    }

    /// Best effort: after a failure the connection may be gone, and with it the watches.
    fn unwatch(&mut self) {
        if self.is_open() {
            let _ = self.send(Cmd::new("UNWATCH"));
        }
    }

    fn batch<P: Commands>(&mut self, cmds: &P, transaction: bool) -> Result<Vec<Bytes>> {
        self.connected()?;
        let (server, buf) = self.server_and_wbuf();
        buf.clear();
        let (n, info) = encode_batch(cmds, transaction, server, buf)?;
        if transaction {
            self.exchange_transaction(n)
        } else {
            self.exchange_with(n, info.blocks, |f| f)
        }
    }

    /// A transaction's round trip; whatever EXEC answered, the watches are gone after it.
    fn exchange_transaction(&mut self, n: usize) -> Result<Vec<Bytes>> {
        let r = self.exchange_with(n, None, |f| f);
        if r.is_ok() {
            self.exec_done();
        }
        r
    }

    fn exec<P: Commands>(&mut self, cmds: &P) -> Result<Vec<Reply>> {
        let frames = self.batch(cmds, true)?;
        transaction_replies(frames, cmds.len(), |i| cmds.name_of(i))
    }

    /// Writes what the write buffer holds and reads `n` frames, each mapped by `f`.
    fn exchange_with<T>(
        &mut self,
        n: usize,
        blocks: Option<Blocks>,
        f: impl Fn(Bytes) -> T,
    ) -> Result<Vec<T>> {
        let mut frames = Vec::with_capacity(n);
        let r = self.round_trip(n, blocks, |frame| frames.push(f(frame)));
        self.server_and_wbuf().1.clear();
        r.map(|()| frames)
    }
}
