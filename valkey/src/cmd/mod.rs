//! Commands: the `Command` trait every executor sends, the raw `Cmd` builder, and (generated from
//! the server's specs) one typed builder per server command.
//!
//! Every command and subcommand of Valkey 9.1 has a constructor here, named after it in
//! snake_case (`cmd::set`, `cmd::client_kill`, `cmd::zadd`), with the spec's docs. Required
//! arguments are parameters; options are chained methods, written in the spec's order whatever
//! the order of the calls. Keys and strings are anything [`ToValkeyArg`](crate::ToValkeyArg)
//! (stored as given, not copied); repeated arguments take a collection or a single value; a choice
//! between tokens is a generated enum ([`Side`], [`GeoUnit`], ...); counts (`numkeys`,
//! `FIELDS numfields`) are computed. Two choices of one option group do not compile, nor does
//! an option given twice.
//!
//! Each builder's `Output` is the reply's type: exact where the server's reply has a fixed shape
//! (`INCR` is `i64`, `EXPIRE` is `bool`), the caller's choice where the reply is user data (`GET`,
//! `HGETALL`, `LRANGE`), and changed by the options that change the reply (`SET ... NX` may refuse,
//! `SET ... GET` reads the old value, `ZADD ... INCR` gives the new score).
//!
//! ```no_run
//! use valkey::cmd::{self, ClientKillFilter, ClientKillFilters, Side};
//!
//! # fn main() -> valkey::Result<()> {
//! let mut con = valkey::Client::open("valkey://127.0.0.1:6379")?.get_connection()?;
//! con.send(cmd::set("greeting", "hello").ex(60))?; // ()
//! let set: Option<()> = con.send(cmd::set("lock", "me").nx().px(5_000))?; // None: not set
//! let old: Option<String> = con.send(cmd::set("greeting", "hi").get())?;
//! let v: Option<String> = con.send(cmd::get("greeting"))?;
//! let added: i64 = con.send(cmd::zadd("scores", [(1.5, "ann"), (2.0, "bob")]).ch())?;
//! let score: Option<f64> = con.send(cmd::zadd("scores", [(1.0, "ann")]).xx().incr())?;
//! let moved: Option<String> = con.send(cmd::lmove("from", "to", Side::Left, Side::Right))?;
//! let killed: i64 = con.send(cmd::client_kill(ClientKillFilter::Filters(vec![
//!     ClientKillFilters::Addr("127.0.0.1:50000".into()),
//!     ClientKillFilters::Skipme(cmd::YesNo::Yes),
//! ])))?;
//! let n: i64 = con.send(cmd::eval("return #KEYS").keys(["a", "b"]))?; // numkeys = 2
//! # let _ = (set, old, v, added, score, moved, killed, n);
//! # Ok(()) }
//! ```
//!
//! A fixed `Output` is the reply as the server sends it (`LLEN`, `INCR`, `EXISTS` are `i64`), so
//! that `let n = con.send(cmd::incr("k"))?;` needs no annotation. To read it into another type,
//! say so: [`Command::returning`] on the builder, or the executors' `send_as`, take any
//! [`FromValkey`] type. Every integer type reads an integer reply checked (a value outside the
//! type's range is an error that names the range, never a wrap), and `bool` reads a 0/1 reply
//! (anything else is an error):
//!
//! ```no_run
//! # use valkey::{cmd, Command};
//! # fn main() -> valkey::Result<()> {
//! # let mut con = valkey::Client::open("valkey://127.0.0.1:6379")?.get_connection()?;
//! let len: usize = con.send(cmd::llen("list").returning())?;
//! let n = con.send(cmd::incr("counter").returning::<u64>())?;
//! let there: bool = con.send_as(&cmd::exists("k"))?;
//! # let _ = (len, n, there);
//! # Ok(()) }
//! ```
//!
//! Each builder also carries the command's [`CommandMeta`] (flags, key specs, ACL categories,
//! tips) and reports, through [`Command::min_version`], the newest server version the options
//! given need. [`lookup`] finds any command's metadata by name.

// Generated and formatted by `valkey-codegen` (prettyplease); rustfmt must not rewrite it, or
// the staleness check would see a difference.
#[rustfmt::skip]
mod generated;
mod inspect;
mod keys;
mod meta;
pub mod parts;
mod raw;

pub use generated::*;
pub use inspect::{args, argument_needing, fmt_command, name_argument_needing, Redact};
pub use keys::{builder_keys, CommandKeys};
#[doc(hidden)]
pub use keys::{one_key, part_keys, Pick};
pub use meta::*;
pub use raw::Cmd;

use crate::convert::{ArgWriter, FromValkey};
use std::borrow::Cow;
use std::marker::PhantomData;

/// A command value that any executor (connection, pipeline, transaction, cluster) can send.
///
/// `Output` is the type its reply is read into: exact where the reply's shape is fixed (`INCR` is
/// `i64`), chosen by the caller where the reply is user data (`GET`'s `Option<T>`), `Value` where
/// the reply is open.
pub trait Command {
    /// The type the reply is read into.
    type Output: FromValkey;

    /// The number of arguments `write_args` writes, command name included.
    fn num_args(&self) -> usize;

    /// Writes every argument, command name (and subcommand) first.
    fn write_args(&self, out: &mut ArgWriter<'_>);

    /// The command's static metadata, when the command is known.
    fn meta(&self) -> Option<&'static CommandMeta>;

    /// The oldest server version that accepts this command with the arguments given, when newer
    /// than the command itself (an argument added later). `None`: `meta().since` is enough.
    fn min_version(&self) -> Option<Version> {
        None
    }

    /// What the command does to its connection's session (from its metadata; a command the
    /// client does not know has none as far as it can tell).
    fn session(&self) -> Session {
        self.meta().map_or(Session::None, |m| m.session)
    }

    /// How long the command, with the arguments given, may keep the server silent on purpose:
    /// `BLPOP k 1.5` for 1.5 s, `XREAD BLOCK 0 ...` forever, `XREAD` without `BLOCK` not at
    /// all (`None`). Connections give a blocking command its own timeout plus their liveness
    /// margin, and the shared connection runs it on a dedicated connection.
    fn blocks(&self) -> Option<Blocks> {
        let meta = self.meta()?;
        meta.blocking?;
        let mut buf = Vec::new();
        encode(self, &mut buf).ok()?;
        blocks_encoded(meta, &buf)
    }

    /// Checks, before anything is written, that `num_args` (command name included) is as many
    /// arguments as the command takes (its [`CommandMeta::arity`]): a repeated argument the
    /// server needs at least one of, given an empty collection (`cmd::watch(Vec::<&str>::new())`,
    /// `cmd::del(&no_keys)`), is refused here, naming the command, and nothing is sent. A raw
    /// [`Cmd`] is not checked: the server is its judge.
    #[doc(hidden)]
    fn check_num_args(&self, num_args: usize) -> crate::Result<()> {
        match self.meta() {
            Some(meta) => check_arity(meta, num_args),
            None => Ok(()),
        }
    }

    /// Reads the reply into `T` instead of `Output`.
    fn returning<T: FromValkey>(self) -> Returning<Self, T>
    where
        Self: Sized,
    {
        Returning {
            cmd: self,
            _out: PhantomData,
        }
    }
}

/// A command whose reply is read into `T` (from [`Command::returning`]).
pub struct Returning<C, T> {
    cmd: C,
    _out: PhantomData<fn() -> T>,
}

impl<C: Command, T: FromValkey> Command for Returning<C, T> {
    type Output = T;
    fn num_args(&self) -> usize {
        self.cmd.num_args()
    }
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        self.cmd.write_args(out)
    }
    fn meta(&self) -> Option<&'static CommandMeta> {
        self.cmd.meta()
    }
    fn min_version(&self) -> Option<Version> {
        self.cmd.min_version()
    }
    fn check_num_args(&self, num_args: usize) -> crate::Result<()> {
        self.cmd.check_num_args(num_args)
    }
}

impl<C: Command + ?Sized> Command for &C {
    type Output = C::Output;
    fn num_args(&self) -> usize {
        (**self).num_args()
    }
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        (**self).write_args(out)
    }
    fn meta(&self) -> Option<&'static CommandMeta> {
        (**self).meta()
    }
    fn min_version(&self) -> Option<Version> {
        (**self).min_version()
    }
    fn check_num_args(&self, num_args: usize) -> crate::Result<()> {
        (**self).check_num_args(num_args)
    }
}

/// Refuses an argument count the command's arity does not allow (an empty collection where the
/// server needs one element or more), naming the command and how many arguments it takes.
pub(crate) fn check_arity(meta: &CommandMeta, num_args: usize) -> crate::Result<()> {
    let words = meta.name.split(' ').count();
    let needed = meta.arity.unsigned_abs() as usize;
    let ok = if meta.arity < 0 {
        num_args >= needed
    } else {
        num_args == needed
    };
    // A keyless command given nothing after its name is left to the server: a container
    // (`ACL`, `CLIENT`) answers with its own error, and the few commands whose spec lists no
    // arguments (`DEBUG`) have builders that cannot give any.
    let judged = !meta.key_specs.is_empty() || num_args > words;
    if ok || !judged {
        return Ok(());
    }
    let after = needed.saturating_sub(words);
    let given = num_args.saturating_sub(words);
    let takes = if meta.arity < 0 { "at least " } else { "" };
    let plural = if after == 1 { "" } else { "s" };
    Err(crate::Error::new(
        crate::ErrorKind::InvalidInput,
        format!(
            "{} takes {takes}{after} argument{plural} after its name, {given} given (an empty \
             collection?); nothing was sent",
            meta.name
        ),
    ))
}

/// Encodes `cmd` as a RESP array of bulk strings, appended to `buf`.
///
/// An argument type whose `num_args()` disagrees with what its `write_args()` writes would put
/// a malformed command on the wire (and desynchronise everyone sharing the connection): that is
/// an [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error, and `buf` is left as it
/// was. A typed builder whose arguments are fewer than the command takes (an empty collection
/// where one element or more is needed: `WATCH` with no keys) is an `InvalidInput` error too.
/// A panic inside `write_args` also leaves `buf` as it was.
#[inline]
pub fn encode<C: Command + ?Sized>(cmd: &C, buf: &mut Vec<u8>) -> crate::Result<()> {
    /// Cuts the buffer back to where the command began unless the encoding finished.
    struct Rollback<'a> {
        buf: &'a mut Vec<u8>,
        start: usize,
        done: bool,
    }
    impl Drop for Rollback<'_> {
        fn drop(&mut self) {
            if !self.done {
                self.buf.truncate(self.start);
            }
        }
    }
    let n = cmd.num_args();
    cmd.check_num_args(n)?;
    let mut guard = Rollback {
        start: buf.len(),
        buf,
        done: false,
    };
    crate::convert::write_array_header(guard.buf, n);
    let mut w = ArgWriter::new(guard.buf);
    cmd.write_args(&mut w);
    let written = w.written();
    if written != n {
        return Err(crate::Error::new(
            crate::ErrorKind::InvalidInput,
            format!(
                "a command's arguments are inconsistent: num_args() said {n}, write_args() wrote \
                 {written} (a ToValkeyArgs implementation must count what it writes); nothing \
                 was sent"
            ),
        ));
    }
    guard.done = true;
    Ok(())
}

/// The arguments of one encoded command (`*N` then `$len` bulk strings), as written by `encode`.
pub(crate) fn split_encoded(cmd: &[u8]) -> Vec<&[u8]> {
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

/// A command's name for error messages (with its subcommand: `CLIENT KILL`), never its
/// arguments. A raw command without metadata is encoded again to read it: call this on the
/// error path only.
#[cold]
pub(crate) fn name_of<C: Command + ?Sized>(cmd: &C) -> Cow<'static, str> {
    match cmd.meta() {
        Some(m) => Cow::Borrowed(m.name),
        None => {
            let mut buf = Vec::new();
            match encode(cmd, &mut buf) {
                Ok(()) => name_of_encoded(&buf),
                Err(_) => Cow::Borrowed("?"),
            }
        }
    }
}

/// The name of one encoded command (with its subcommand when the specs know it), for errors.
pub(crate) fn name_of_encoded(cmd: &[u8]) -> Cow<'static, str> {
    let args = split_encoded(cmd);
    let sub = args.get(1).copied();
    match args.first().and_then(|name| lookup(name, sub)) {
        Some(meta) => Cow::Borrowed(meta.name),
        None => Cow::Owned(
            args.first()
                .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
                .unwrap_or_else(|| "?".into()),
        ),
    }
}

/// How long an encoded command may block the connection it runs on (`None`: it does not).
pub(crate) fn blocks_encoded(meta: &CommandMeta, encoded: &[u8]) -> Option<Blocks> {
    meta.blocking?.blocks(&split_encoded(encoded))
}

/// Looks up a command's metadata by name (and subcommand), case-insensitively, without
/// allocating: a binary search in the generated table.
///
/// For a container command (`CLIENT`), `subcommand` picks the subcommand's metadata
/// (`lookup(b"client", Some(b"kill"))` is `CLIENT KILL`); an unknown subcommand gives `None`, no
/// subcommand gives the container's own. For any other command `subcommand` is ignored (it is
/// just the first argument, e.g. `GET`'s key).
pub fn lookup(name: &[u8], subcommand: Option<&[u8]>) -> Option<&'static CommandMeta> {
    let i = generated::COMMANDS
        .binary_search_by(|(n, _, _)| cmp_ignore_case(n, name))
        .ok()?;
    let (_, meta, subs) = &generated::COMMANDS[i];
    match subcommand {
        Some(sub) if !subs.is_empty() => subs
            .binary_search_by(|(n, _)| cmp_ignore_case(n, sub))
            .ok()
            .map(|j| subs[j].1),
        _ => Some(meta),
    }
}

/// Every command's and subcommand's metadata (Valkey 9.1's 399), sorted by name.
pub fn commands() -> &'static [&'static CommandMeta] {
    &generated::ALL
}

/// Compares an uppercase table name with a name given in any case.
fn cmp_ignore_case(upper: &str, given: &[u8]) -> std::cmp::Ordering {
    upper.bytes().cmp(given.iter().map(u8::to_ascii_uppercase))
}
