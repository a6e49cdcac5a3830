//! Pipelines and transactions, IO-free: a batch of commands (a tuple of typed commands, a `Vec` of
//! one command type, or a run-time [`Pipeline`]) is encoded in one go and its replies are decoded
//! back into each command's `Output`. The connections only move the bytes.

use crate::cmd::{encode, Command};
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{self, ServerInfo};
use crate::value::Value;
use bytes::Bytes;
use std::borrow::Cow;
use std::marker::PhantomData;

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

fn command_name<C: Command + ?Sized>(cmd: &C) -> Cow<'static, str> {
    match cmd.meta() {
        Some(m) => Cow::Borrowed(m.name),
        None => {
            let mut buf = Vec::new();
            encode(cmd, &mut buf);
            name_of_encoded(&buf)
        }
    }
}

/// The name of one encoded command (with its subcommand when the specs know it), for errors.
fn name_of_encoded(cmd: &[u8]) -> Cow<'static, str> {
    let args = split_encoded(cmd);
    let sub = args.get(1).copied();
    match args.first().and_then(|name| crate::cmd::lookup(name, sub)) {
        Some(meta) => Cow::Borrowed(meta.name),
        None => Cow::Owned(
            args.first()
                .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
                .unwrap_or_else(|| "?".into()),
        ),
    }
}

/// A batch of commands that runs as one pipeline or transaction.
///
/// Implemented for tuples of commands (up to 16), giving a tuple of their outputs, and for
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
    /// Checks every command against the server's version.
    fn check(&self, server: &ServerInfo) -> Result<()>;
    /// Encodes every command, in order.
    fn encode_all(&self, buf: &mut Vec<u8>);
    /// The name of command `index`, for errors.
    fn name_of(&self, index: usize) -> Cow<'static, str>;
    /// Decodes each reply into its command's output, failing with the first error (naming the
    /// command).
    #[doc(hidden)]
    fn decode(&self, replies: &mut dyn Iterator<Item = Reply>) -> Result<Self::Output>;
    /// Decodes each reply into its command's own `Result`.
    #[doc(hidden)]
    fn decode_results(&self, replies: &mut dyn Iterator<Item = Reply>) -> Result<Self::Results>;
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
            fn check(&self, server: &ServerInfo) -> Result<()> {
                $(proto::check_supported(&self.$i, server).map_err(|e| in_command(e, $i, &command_name(&self.$i)))?;)+
                Ok(())
            }
            fn encode_all(&self, buf: &mut Vec<u8>) {
                $(encode(&self.$i, buf);)+
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
            fn decode_results(&self, replies: &mut dyn Iterator<Item = Reply>) -> Result<Self::Results> {
                Ok(($(
                    replies.next().ok_or_else(missing_reply)?.decode::<$T::Output>()
                        .map_err(|e| in_command(e, $i, &command_name(&self.$i))),
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

impl<C: Command> Commands for Vec<C> {
    type Output = Vec<C::Output>;
    type Results = Vec<Result<C::Output>>;

    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn check(&self, server: &ServerInfo) -> Result<()> {
        for (i, c) in self.iter().enumerate() {
            proto::check_supported(c, server).map_err(|e| in_command(e, i, &command_name(c)))?;
        }
        Ok(())
    }
    fn encode_all(&self, buf: &mut Vec<u8>) {
        for c in self {
            encode(c, buf);
        }
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
    fn decode_results(&self, replies: &mut dyn Iterator<Item = Reply>) -> Result<Self::Results> {
        let mut out = Vec::with_capacity(self.len());
        for (i, c) in self.iter().enumerate() {
            let r = replies.next().ok_or_else(missing_reply)?;
            out.push(r.decode().map_err(|e| in_command(e, i, &command_name(c))));
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
#[derive(Clone, Default)]
pub struct Pipeline {
    buf: Vec<u8>,
    /// Where each command starts in `buf`; its name is read from there only when an error needs it.
    starts: Vec<u32>,
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

    /// Appends a command (encoded now) and returns the handle to read its reply with.
    pub fn push<C: Command>(&mut self, cmd: C) -> Handle<C::Output> {
        self.starts.push(self.buf.len() as u32);
        encode(&cmd, &mut self.buf);
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
    }

    pub(crate) fn encoded(&self) -> &[u8] {
        &self.buf
    }

    /// The name of command `index` (with its subcommand when it has one), for error messages.
    pub(crate) fn name_of(&self, index: usize) -> Cow<'static, str> {
        let Some(&start) = self.starts.get(index) else {
            return Cow::Borrowed("?");
        };
        let end = self
            .starts
            .get(index + 1)
            .map_or(self.buf.len(), |&e| e as usize);
        name_of_encoded(&self.buf[start as usize..end])
    }

    pub(crate) fn replies(&self, replies: Vec<Reply>) -> Replies<'_> {
        Replies {
            replies,
            pipeline: self,
        }
    }
}

/// The arguments of one encoded command (`*N` then `$len` bulk strings), as written by `encode`.
fn split_encoded(cmd: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = cmd;
    let line = |r: &[u8]| r.iter().position(|&b| b == b'\r');
    let Some(end) = line(rest) else { return out };
    rest = &rest[(end + 2).min(rest.len())..];
    while rest.first() == Some(&b'$') {
        let Some(end) = line(rest) else { break };
        let Some(len) = crate::resp::parse_i64(&rest[1..end]).and_then(|l| usize::try_from(l).ok())
        else {
            break;
        };
        let start = end + 2;
        if rest.len() < start + len {
            break;
        }
        out.push(&rest[start..start + len]);
        rest = &rest[(start + len + 2).min(rest.len())..];
    }
    out
}

/// The replies of a [`Pipeline`] run, read back through [`Handle`]s.
pub struct Replies<'p> {
    replies: Vec<Reply>,
    pipeline: &'p Pipeline,
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
        .map_err(|e| in_command(e, index, &self.pipeline.name_of(index)))
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
                return Err(in_command(e, i, &self.pipeline.name_of(i)));
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
) -> Result<usize> {
    cmds.check(server)?;
    if transaction {
        encode_transaction(buf, |b| cmds.encode_all(b));
        Ok(cmds.len() + 2)
    } else {
        cmds.encode_all(buf);
        Ok(cmds.len())
    }
}

/// Encodes `MULTI`, the commands, `EXEC`.
pub(crate) fn encode_transaction(buf: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    buf.extend_from_slice(b"*1\r\n$5\r\nMULTI\r\n");
    body(buf);
    buf.extend_from_slice(b"*1\r\n$4\r\nEXEC\r\n");
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
            Some((i, cause)) => Err(Error::new(
                ErrorKind::ExecAbort,
                format!(
                    "the transaction was discarded: command #{i} ({}) was rejected while \
                     queuing: {cause}",
                    name_of(i)
                ),
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
