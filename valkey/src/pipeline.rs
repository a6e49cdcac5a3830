//! Pipelines and transactions, IO-free: a batch of commands (a tuple of typed commands, a `Vec` of
//! one command type, or a run-time [`Pipeline`]) is encoded in one go and its replies are decoded
//! back into each command's `Output`. The connections only move the bytes.

use crate::cmd::{encode, name_of as command_name, name_of_encoded, Blocks, Command, Session};
use crate::config::ConnectionInfo;
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{self, ServerInfo};
use crate::value::Value;
use bytes::Bytes;
use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::Arc;

/// One command's reply inside a batch: its own frame (pipeline) or an element of EXEC's array
/// (transaction).
#[doc(hidden)]
pub enum Reply {
    /// A whole reply frame.
    Frame(Bytes),
    /// An element of a transaction's EXEC reply (errors kept as `Value::ServerError`).
    Value(Value),
}

impl Reply {
    fn decode<T: FromValkey>(self) -> Result<T> {
        match self {
            Reply::Frame(f) => proto::decode_reply(&f),
            Reply::Value(Value::ServerError(e)) => Err(Error::from_server(e)),
            Reply::Value(v) => T::from_valkey(v),
        }
    }
}

/// Names a failing command in an error: `command #2 (INCR) failed: ...`.
fn in_command(e: Error, index: usize, name: &str) -> Error {
    e.context(format!("command #{index} ({name}) failed"))
}

/// How errors name a batch: `pipeline of 3 (INCR …)`, `transaction of 1 (SET)` (the first
/// command's name and the count; never arguments).
pub(crate) fn batch_name(
    transaction: bool,
    n: usize,
    first: impl FnOnce() -> Cow<'static, str>,
) -> Cow<'static, str> {
    let what = if transaction {
        "transaction"
    } else {
        "pipeline"
    };
    if n == 0 {
        return Cow::Owned(format!("empty {what}"));
    }
    let more = if n > 1 { " …" } else { "" };
    Cow::Owned(format!("{what} of {n} ({}{more})", first()))
}

/// A batch an error can be named after (typed commands or a run-time [`Pipeline`]).
pub(crate) trait NamedBatch {
    /// How many commands it has.
    fn batch_len(&self) -> usize;
    /// Its first command's name.
    fn first_name(&self) -> Cow<'static, str>;
}

impl<P: Commands + ?Sized> NamedBatch for P {
    fn batch_len(&self) -> usize {
        self.len()
    }
    fn first_name(&self) -> Cow<'static, str> {
        self.name_of(0)
    }
}

impl NamedBatch for Pipeline {
    fn batch_len(&self) -> usize {
        self.len()
    }
    fn first_name(&self) -> Cow<'static, str> {
        self.name_of(0)
    }
}

/// How errors name `batch` (see [`batch_name`]), for the sync and async executors alike.
pub(crate) fn batch_label<B: NamedBatch + ?Sized>(
    transaction: bool,
    batch: &B,
) -> Cow<'static, str> {
    batch_name(transaction, batch.batch_len(), || batch.first_name())
}

/// What the executors must know about a batch before sending it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchInfo {
    /// How long the batch may keep the server silent on purpose (blocking commands outside a
    /// transaction; inside MULTI they do not block).
    pub blocks: Option<Blocks>,
}

impl BatchInfo {
    pub(crate) fn add(&mut self, b: Option<Blocks>) {
        self.blocks = match (self.blocks, b) {
            (x, None) => x,
            (None, y) => y,
            (Some(Blocks::Forever), _) | (_, Some(Blocks::Forever)) => Some(Blocks::Forever),
            (Some(Blocks::For(a)), Some(Blocks::For(b))) => Some(Blocks::For(a + b)),
        };
    }
}

/// Checks one command of a batch: the server can run it, and it may run inside a batch
/// (commands that change the connection's session cannot: their effect would be untracked, or
/// reach other callers). Returns how long it may block.
fn check_one<C: Command + ?Sized>(cmd: &C, server: &ServerInfo) -> Result<Option<Blocks>> {
    proto::check_supported(cmd, server)?;
    let Some(meta) = cmd.meta() else {
        return Ok(None);
    };
    match meta.session {
        Session::None | Session::NextCommand => {}
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{} changes the connection's session and cannot run inside a pipeline or \
                     transaction (use the transaction and watch APIs, the settings of \
                     `ConnectionInfo`, or `send` on a dedicated connection); nothing was sent",
                    meta.name
                ),
            ))
        }
    }
    Ok(if meta.blocking.is_some() {
        cmd.blocks()
    } else {
        None
    })
}

/// A batch of commands that runs as one pipeline or transaction.
///
/// Implemented for tuples of commands (up to 24), giving a tuple of their outputs, and for
/// `Vec<C>` of one command type, giving a `Vec` of outputs.
pub trait Commands {
    /// The outputs when every command succeeded.
    type Output;
    /// Each command's own `Result`, for [`valkey-py`'s `raise_on_error=False`] style.
    type Results;

    /// How many commands.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Checks every command against the server's version and whether it may run in a batch,
    /// and says how long the batch may block.
    fn check(&self, server: &ServerInfo) -> Result<BatchInfo>;
    /// Encodes every command, in order (on error, `buf` is left as it was).
    fn encode_all(&self, buf: &mut Vec<u8>) -> Result<()>;
    /// The name of command `index`, for errors.
    fn name_of(&self, index: usize) -> Cow<'static, str>;
    /// Decodes each reply into its command's output, failing with the first error (naming the
    /// command).
    #[doc(hidden)]
    fn decode(&self, replies: &mut dyn Iterator<Item = Reply>) -> Result<Self::Output>;
    /// Decodes each reply into its command's own `Result`; `named` adds the batch and the
    /// server to each command's error.
    #[doc(hidden)]
    fn decode_results(
        &self,
        replies: &mut dyn Iterator<Item = Reply>,
        named: &dyn Fn(Error) -> Error,
    ) -> Result<Self::Results>;
}

fn missing_reply() -> Error {
    Error::protocol("fewer replies than commands in the batch")
}

macro_rules! tuple_commands {
    ($n:expr; $($T:ident $i:tt),+) => {
        impl<$($T: Command),+> Commands for ($($T,)+) {
            type Output = ($($T::Output,)+);
            type Results = ($(Result<$T::Output>,)+);

            fn len(&self) -> usize { $n }
            fn check(&self, server: &ServerInfo) -> Result<BatchInfo> {
                let mut info = BatchInfo::default();
                $(info.add(check_one(&self.$i, server).map_err(|e| in_command(e, $i, &command_name(&self.$i)))?);)+
                Ok(info)
            }
            fn encode_all(&self, buf: &mut Vec<u8>) -> Result<()> {
                let start = buf.len();
                let r = (|| {
                    $(encode(&self.$i, buf).map_err(|e| in_command(e, $i, &command_name(&self.$i)))?;)+
                    Ok(())
                })();
                if r.is_err() {
                    buf.truncate(start);
                }
                r
            }
            fn name_of(&self, index: usize) -> Cow<'static, str> {
                match index {
                    $($i => command_name(&self.$i),)+
                    _ => Cow::Borrowed("?"),
                }
            }
            fn decode(&self, replies: &mut dyn Iterator<Item = Reply>) -> Result<Self::Output> {
                Ok(($(
                    replies.next().ok_or_else(missing_reply)?.decode::<$T::Output>()
                        .map_err(|e| in_command(e, $i, &command_name(&self.$i)))?,
                )+))
            }
            fn decode_results(
                &self,
                replies: &mut dyn Iterator<Item = Reply>,
                named: &dyn Fn(Error) -> Error,
            ) -> Result<Self::Results> {
                Ok(($(
                    replies.next().ok_or_else(missing_reply)?.decode::<$T::Output>()
                        .map_err(|e| named(in_command(e, $i, &command_name(&self.$i)))),
                )+))
            }
        }
    };
}

tuple_commands!(1; A 0);
tuple_commands!(2; A 0, B 1);
tuple_commands!(3; A 0, B 1, C 2);
tuple_commands!(4; A 0, B 1, C 2, D 3);
tuple_commands!(5; A 0, B 1, C 2, D 3, E 4);
tuple_commands!(6; A 0, B 1, C 2, D 3, E 4, F 5);
tuple_commands!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_commands!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_commands!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_commands!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_commands!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_commands!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
tuple_commands!(13; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12);
tuple_commands!(14; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13);
tuple_commands!(15; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14);
tuple_commands!(16; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15);
tuple_commands!(17; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16);
tuple_commands!(18; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17);
tuple_commands!(19; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18);
tuple_commands!(20; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19);
tuple_commands!(21; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20);
tuple_commands!(22; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20, V 21);
tuple_commands!(23; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20, V 21, W 22);
tuple_commands!(24; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11, M 12, N 13, O 14, P 15, Q 16, R 17, S 18, T 19, U 20, V 21, W 22, X 23);

impl<C: Command> Commands for Vec<C> {
    type Output = Vec<C::Output>;
    type Results = Vec<Result<C::Output>>;

    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn check(&self, server: &ServerInfo) -> Result<BatchInfo> {
        let mut info = BatchInfo::default();
        for (i, c) in self.iter().enumerate() {
            info.add(check_one(c, server).map_err(|e| in_command(e, i, &command_name(c)))?);
        }
        Ok(info)
    }
    fn encode_all(&self, buf: &mut Vec<u8>) -> Result<()> {
        let start = buf.len();
        for (i, c) in self.iter().enumerate() {
            if let Err(e) = encode(c, buf) {
                buf.truncate(start);
                return Err(in_command(e, i, &command_name(c)));
            }
        }
        Ok(())
    }
    fn name_of(&self, index: usize) -> Cow<'static, str> {
        self.get(index)
            .map(command_name)
            .unwrap_or(Cow::Borrowed("?"))
    }
    fn decode(&self, replies: &mut dyn Iterator<Item = Reply>) -> Result<Self::Output> {
        let mut out = Vec::with_capacity(self.len());
        for (i, c) in self.iter().enumerate() {
            let r = replies.next().ok_or_else(missing_reply)?;
            out.push(r.decode().map_err(|e| in_command(e, i, &command_name(c)))?);
        }
        Ok(out)
    }
    fn decode_results(
        &self,
        replies: &mut dyn Iterator<Item = Reply>,
        named: &dyn Fn(Error) -> Error,
    ) -> Result<Self::Results> {
        let mut out = Vec::with_capacity(self.len());
        for (i, c) in self.iter().enumerate() {
            let r = replies.next().ok_or_else(missing_reply)?;
            out.push(
                r.decode()
                    .map_err(|e| named(in_command(e, i, &command_name(c)))),
            );
        }
        Ok(out)
    }
}

/// A pipeline assembled at run time: push any number of commands, run it, read each reply
/// through the typed [`Handle`] `push` returned (or all of them as `Value`s).
///
/// ```no_run
/// # fn main() -> valkey::Result<()> {
/// # let mut con = valkey::sync::Connection::open("valkey://127.0.0.1")?;
/// use valkey::pipeline::Pipeline;
/// let mut p = Pipeline::new();
/// let a = p.push(valkey::Cmd::new("INCR").arg("x"));
/// let replies = con.run(&p)?;
/// let x: valkey::Value = replies.get(a)?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct Pipeline {
    buf: Vec<u8>,
    /// Where each command starts in `buf`; its name is read from there only when an error needs it.
    starts: Vec<u32>,
    /// How long the commands may block, for the executors.
    info: BatchInfo,
    /// The first command that could not be added (bad arguments, or a session command): the
    /// pipeline refuses to run, naming it.
    refused: Option<Error>,
}

impl Clone for Pipeline {
    fn clone(&self) -> Pipeline {
        Pipeline {
            buf: self.buf.clone(),
            starts: self.starts.clone(),
            info: self.info,
            refused: self
                .refused
                .as_ref()
                .map(|e| Error::new(e.kind(), e.to_string())),
        }
    }
}

/// Where a command's reply sits in a [`Pipeline`]'s [`Replies`], typed with its output.
pub struct Handle<T> {
    index: usize,
    _out: PhantomData<fn() -> T>,
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Handle<T> {}

impl<T> Handle<T> {
    /// The command's position in the pipeline.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Pipeline {
    /// An empty pipeline.
    pub fn new() -> Pipeline {
        Pipeline::default()
    }

    /// Appends a command (encoded now) and returns the handle to read its reply with. A command
    /// that cannot run in a pipeline (it changes the connection's session), or whose arguments
    /// do not encode, makes the pipeline refuse to run, naming it.
    pub fn push<C: Command>(&mut self, cmd: C) -> Handle<C::Output> {
        let index = self.starts.len();
        self.starts.push(self.buf.len() as u32);
        let checked = check_one(&cmd, &ServerInfo::default())
            .and_then(|blocks| encode(&cmd, &mut self.buf).map(|()| blocks));
        match checked {
            Ok(blocks) => self.info.add(blocks),
            Err(e) => {
                if self.refused.is_none() {
                    self.refused = Some(in_command(e, index, &command_name(&cmd)));
                }
                // An empty command keeps the indices; the pipeline will not run.
                self.buf.extend_from_slice(b"*0\r\n");
            }
        }
        Handle {
            index: self.starts.len() - 1,
            _out: PhantomData,
        }
    }

    /// Appends a command, for chaining: `p.add(a).add(b)`.
    pub fn add<C: Command>(&mut self, cmd: C) -> &mut Pipeline {
        self.push(cmd);
        self
    }

    /// How many commands.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Removes every command.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.starts.clear();
        self.info = BatchInfo::default();
        self.refused = None;
    }

    /// The encoded commands and what executors must know about them, or why the pipeline
    /// cannot run.
    pub(crate) fn encoded(&self) -> Result<(&[u8], BatchInfo)> {
        match &self.refused {
            Some(e) => Err(Error::new(e.kind(), e.to_string())),
            None => Ok((&self.buf, self.info)),
        }
    }

    /// The name of command `index` (with its subcommand when it has one), for error messages.
    pub(crate) fn name_of(&self, index: usize) -> Cow<'static, str> {
        if index >= self.starts.len() {
            return Cow::Borrowed("?");
        }
        name_of_encoded(self.command_bytes(index))
    }

    /// The encoding of command `index` alone (a cluster sends each to its own node).
    pub(crate) fn command_bytes(&self, index: usize) -> &[u8] {
        let start = self.starts[index] as usize;
        let end = self
            .starts
            .get(index + 1)
            .map_or(self.buf.len(), |&e| e as usize);
        &self.buf[start..end]
    }

    /// The replies of a run on the server `info` names (as a transaction or not), for
    /// errors that name the batch and the server.
    pub(crate) fn replies(
        &self,
        replies: Vec<Reply>,
        info: &Arc<ConnectionInfo>,
        transaction: bool,
    ) -> Replies<'_> {
        Replies {
            replies,
            pipeline: self,
            info: Arc::clone(info),
            transaction,
        }
    }
}

/// The replies of a [`Pipeline`] run, read back through [`Handle`]s.
pub struct Replies<'p> {
    replies: Vec<Reply>,
    pipeline: &'p Pipeline,
    /// The server it ran on, for errors.
    info: Arc<ConnectionInfo>,
    transaction: bool,
}

impl Replies<'_> {
    /// The reply of the command `handle` names, read into its output; a server error for that
    /// command is an `Err` naming it.
    pub fn get<T: FromValkey>(&self, handle: Handle<T>) -> Result<T> {
        self.take_at(handle.index)
    }

    fn take_at<T: FromValkey>(&self, index: usize) -> Result<T> {
        match self.replies.get(index) {
            Some(Reply::Frame(f)) => proto::decode_reply(f),
            Some(Reply::Value(v)) => Reply::Value(v.clone()).decode(),
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                "no reply at that index",
            )),
        }
        .map_err(|e| self.named(in_command(e, index, &self.pipeline.name_of(index))))
    }

    /// Names the batch and the server in a command's error (the error path only).
    #[cold]
    fn named(&self, e: Error) -> Error {
        let p = self.pipeline;
        e.in_command(
            batch_name(self.transaction, p.len(), || p.name_of(0)),
            &self.info.addr,
        )
    }

    /// Every reply as a `Result<Value>`, in order.
    pub fn into_values(self) -> Vec<Result<Value>> {
        (0..self.replies.len()).map(|i| self.take_at(i)).collect()
    }

    /// How many replies.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Fails with the first command error (naming the command), else returns the replies.
    pub fn check(self) -> Result<Self> {
        for (i, r) in self.replies.iter().enumerate() {
            let err = match r {
                Reply::Frame(f) if matches!(f.first(), Some(b'-' | b'!')) => {
                    proto::decode_reply::<Value>(f).err()
                }
                Reply::Value(Value::ServerError(e)) => Some(Error::from_server(e.clone())),
                _ => None,
            };
            if let Some(e) = err {
                return Err(self.named(in_command(e, i, &self.pipeline.name_of(i))));
            }
        }
        Ok(self)
    }
}

/// Checks `cmds` against the server and encodes them, wrapped in MULTI/EXEC for a transaction;
/// returns how many reply frames to read. Shared by the sync and async connections.
pub(crate) fn encode_batch<P: Commands>(
    cmds: &P,
    transaction: bool,
    server: &ServerInfo,
    buf: &mut Vec<u8>,
) -> Result<(usize, BatchInfo)> {
    let info = cmds.check(server)?;
    if transaction {
        encode_transaction(buf, |b| cmds.encode_all(b))?;
        // Inside MULTI, blocking commands do not block.
        Ok((cmds.len() + 2, BatchInfo::default()))
    } else {
        cmds.encode_all(buf)?;
        Ok((cmds.len(), info))
    }
}

/// Encodes `MULTI`, the commands, `EXEC` (nothing, if the body fails).
pub(crate) fn encode_transaction(
    buf: &mut Vec<u8>,
    body: impl FnOnce(&mut Vec<u8>) -> Result<()>,
) -> Result<()> {
    let start = buf.len();
    buf.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
    if let Err(e) = body(buf) {
        buf.truncate(start);
        return Err(e);
    }
    buf.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
    Ok(())
}

/// Reads a transaction's `n + 2` frames (MULTI's OK, a QUEUED per command, EXEC's reply) into
/// the per-command replies. A command rejected while queuing is reported as `ExecAbort` naming
/// it; EXEC's nil (a watched key changed) as `WatchConflict`.
pub(crate) fn transaction_replies(
    frames: Vec<Bytes>,
    n: usize,
    name_of: impl Fn(usize) -> Cow<'static, str>,
) -> Result<Vec<Reply>> {
    if frames.len() != n + 2 {
        return Err(Error::protocol(format!(
            "a transaction of {n} commands got {} replies, expected {}",
            frames.len(),
            n + 2
        )));
    }
    let mut it = frames.into_iter();
    let multi = it.next().expect("length checked");
    proto::decode_reply::<Value>(&multi).map_err(|e| e.context("MULTI failed"))?;
    let mut rejected = None;
    for i in 0..n {
        let queued = it.next().expect("length checked");
        if let Err(e) = proto::decode_reply::<Value>(&queued) {
            if rejected.is_none() {
                rejected = Some((i, e));
            }
        }
    }
    let exec = it.next().expect("length checked");
    match proto::decode_reply::<Value>(&exec) {
        Ok(Value::Nil) => Err(Error::new(
            ErrorKind::WatchConflict,
            "the transaction was not executed: a watched key changed (EXEC returned nil)",
        )),
        Ok(Value::Array(items)) if items.len() == n => {
            Ok(items.into_iter().map(Reply::Value).collect())
        }
        Ok(other) => Err(Error::protocol(format!(
            "EXEC replied with {} of unexpected shape for {n} commands",
            other.kind_name()
        ))),
        Err(e) => match rejected {
            // The refusal stays the error's source: a cluster client reads a MOVED from it.
            Some((i, cause)) => Err(Error::with_source(
                ErrorKind::ExecAbort,
                format!(
                    "the transaction was discarded: command #{i} ({}) was rejected while \
                     queuing: {cause}",
                    name_of(i)
                ),
                cause,
            )),
            None => Err(e.context("EXEC failed")),
        },
    }
}

/// How the WATCH helper (`Connection::watch`) behaves.
#[derive(Clone, Copy, Debug)]
pub struct WatchOptions {
    /// Attempts before giving up with a `WatchConflict` error (default 16).
    pub max_attempts: u32,
}

impl Default for WatchOptions {
    fn default() -> WatchOptions {
        WatchOptions { max_attempts: 16 }
    }
}

/// What `pipe_durable` waits for after the writes: `WAIT` (replicas) or `WAITAOF` (the AOF of the
/// primary and of replicas), with the server-side timeout (`Duration::ZERO`: until reached).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `WAIT count timeout`: `count` replicas acknowledged the writes.
    Replicas {
        /// Replicas to wait for.
        count: u32,
        /// How long the server waits at most.
        timeout: std::time::Duration,
    },
    /// `WAITAOF local replicas timeout`: the writes were fsynced to the AOF locally (`local`:
    /// 0 or 1) and on `replicas` replicas.
    Aof {
        /// 1 to wait for the primary's own AOF fsync.
        local: u32,
        /// Replicas whose AOF fsync to wait for.
        replicas: u32,
        /// How long the server waits at most.
        timeout: std::time::Duration,
    },
}

/// What the server confirmed after `pipe_durable`'s writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Acks {
    /// Whether the primary's AOF fsync covers the writes (`WAITAOF` only; 0 or 1).
    pub local: i64,
    /// Replicas that acknowledged the writes (or fsynced them, for `WAITAOF`).
    pub replicas: i64,
}

impl Durability {
    fn timeout(&self) -> std::time::Duration {
        match *self {
            Durability::Replicas { timeout, .. } | Durability::Aof { timeout, .. } => timeout,
        }
    }

    /// How long the WAIT may block.
    pub(crate) fn blocks(&self) -> Blocks {
        match self.timeout() {
            t if t.is_zero() => Blocks::Forever,
            t => Blocks::For(t),
        }
    }

    /// Appends the WAIT / WAITAOF command.
    pub(crate) fn encode(&self, buf: &mut Vec<u8>) -> Result<()> {
        let ms = self
            .timeout()
            .as_millis()
            .max(u128::from(!self.timeout().is_zero()));
        let cmd = match *self {
            Durability::Replicas { count, .. } => crate::Cmd::new("WAIT").arg(count).arg(ms as u64),
            Durability::Aof {
                local, replicas, ..
            } => crate::Cmd::new("WAITAOF")
                .arg(local)
                .arg(replicas)
                .arg(ms as u64),
        };
        encode(&cmd, buf)
    }

    /// Reads the WAIT / WAITAOF reply.
    pub(crate) fn acks(&self, frame: &Bytes) -> Result<Acks> {
        match self {
            Durability::Replicas { .. } => Ok(Acks {
                local: 0,
                replicas: proto::decode_reply(frame)?,
            }),
            Durability::Aof { .. } => {
                let (local, replicas) = proto::decode_reply(frame)?;
                Ok(Acks { local, replicas })
            }
        }
        .map_err(|e: Error| e.context("the writes were sent, but WAIT failed"))
    }
}

/// Encodes the commands then the WAIT for `pipe_durable`; returns the frames to read and how
/// long the batch may block.
pub(crate) fn encode_durable<P: Commands>(
    cmds: &P,
    durability: &Durability,
    server: &ServerInfo,
    buf: &mut Vec<u8>,
) -> Result<(usize, BatchInfo)> {
    let start = buf.len();
    let (n, mut info) = encode_batch(cmds, false, server, buf)?;
    if let Err(e) = durability.encode(buf) {
        buf.truncate(start);
        return Err(e);
    }
    info.add(Some(durability.blocks()));
    Ok((n + 1, info))
}

/// Splits `pipe_durable`'s frames into the commands' outputs and the acknowledgements.
pub(crate) fn decode_durable<P: Commands>(
    cmds: &P,
    durability: &Durability,
    mut frames: Vec<Bytes>,
) -> Result<(P::Output, Acks)> {
    let wait = frames.pop().ok_or_else(missing_reply)?;
    let out = cmds.decode(&mut frames.into_iter().map(Reply::Frame))?;
    Ok((out, durability.acks(&wait)?))
}

#[cfg(test)]
mod tests {
    use super::batch_name;

    #[test]
    fn a_batch_is_named_by_its_count_and_first_command() {
        assert_eq!(
            batch_name(false, 3, || "INCR".into()),
            "pipeline of 3 (INCR …)"
        );
        assert_eq!(
            batch_name(true, 1, || "SET".into()),
            "transaction of 1 (SET)"
        );
        assert_eq!(batch_name(false, 0, || unreachable!()), "empty pipeline");
    }
}
