//! `Cmd`: a command assembled at run time from a name and arguments, for anything the generated
//! builders do not cover (modules, newer servers). Its reply is a `Value` unless asked otherwise.

use super::{Command, CommandMeta};
use crate::convert::{ArgWriter, ToValkeyArgs};

/// A raw command: `Cmd::new("SET").arg("k").arg("v")`.
///
/// Arguments are encoded as they are added, into one buffer, so a `Cmd` costs two allocations
/// however many arguments it has.
#[derive(Clone, Default)]
pub struct Cmd {
    /// The arguments, each already encoded as a RESP bulk string.
    encoded: Vec<u8>,
    /// Offsets of each argument's payload in `encoded` (start, end).
    spans: Vec<(u32, u32)>,
}

impl Cmd {
    /// A command named `name` (e.g. `"SET"`, or `"CLIENT"` followed by `.arg("KILL")`).
    pub fn new(name: impl crate::convert::ToValkeyArg) -> Cmd {
        let mut c = Cmd::default();
        c.push_arg(&name);
        c
    }

    /// Appends zero or more arguments.
    pub fn arg(mut self, arg: impl ToValkeyArgs) -> Cmd {
        self.push_arg(&arg);
        self
    }

    /// Appends zero or more arguments in place.
    pub fn push_arg(&mut self, arg: &(impl ToValkeyArgs + ?Sized)) -> &mut Cmd {
        arg.write_args(&mut ArgWriter::recording(
            &mut self.encoded,
            &mut self.spans,
        ));
        self
    }

    /// Reads the reply into `T` instead of `Value` (same as [`Command::returning`], without
    /// importing the trait).
    pub fn returning<T: crate::convert::FromValkey>(self) -> super::Returning<Cmd, T> {
        Command::returning(self)
    }

    /// The arguments, command name first.
    pub fn args(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.spans
            .iter()
            .map(move |&(s, e)| &self.encoded[s as usize..e as usize])
    }

    /// The command name (first argument), as given.
    pub fn name(&self) -> &[u8] {
        self.args().next().unwrap_or(b"")
    }
}

impl std::fmt::Debug for Cmd {
    /// The command line, as a builder's: passwords of a command this client knows hidden
    /// (`AUTH`, `HELLO … AUTH`, `ACL SETUSER … >password`, `MIGRATE … AUTH`, ...).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::fmt_command(self, f)
    }
}

impl Command for Cmd {
    type Output = crate::value::Value;

    fn num_args(&self) -> usize {
        self.spans.len()
    }

    fn write_args(&self, out: &mut ArgWriter<'_>) {
        for a in self.args() {
            out.write_bytes(a);
        }
    }

    fn meta(&self) -> Option<&'static CommandMeta> {
        let mut args = self.args();
        let name = args.next()?;
        super::lookup(name, args.next())
    }

    fn check_num_args(&self, _: usize) -> crate::Result<()> {
        // A raw command is sent as written: the server judges it (and its arity may differ
        // from the specs this client was generated from).
        Ok(())
    }
}
