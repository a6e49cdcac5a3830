//! Looking at a command's arguments without sending it: the argument list as bytes, and which
//! of its arguments needs the server version that [`Command::min_version`] reports (so that a
//! refusal can name it: `SET IFEQ` rather than "an argument given to SET").

use super::{ArgMeta, Command};
use crate::convert::ArgWriter;
use crate::error::Error;

/// The command's arguments, command name (and subcommand) first, as written on the wire.
pub fn args<C: Command + ?Sized>(cmd: &C) -> Vec<Vec<u8>> {
    let mut buf = Vec::with_capacity(64);
    let mut spans = Vec::with_capacity(cmd.num_args());
    let mut w = ArgWriter::recording(&mut buf, &mut spans);
    cmd.write_args(&mut w);
    spans
        .iter()
        .map(|&(a, b)| buf[a as usize..b as usize].to_vec())
        .collect()
}

/// The argument that makes the command need [`Command::min_version`], when that is newer than the
/// command itself: the one of the spec's versioned arguments (`CommandMeta::args`) added in that
/// version whose token was given (`IFEQ` for `set(k, v).ifeq(x)`, `MAXAGE` for a `CLIENT KILL`
/// filter), or the only argument added in that version. `None` when the command itself is what
/// needs the version, or nothing tells the arguments apart.
///
/// ```
/// use valkey::cmd;
/// let a = cmd::argument_needing(&cmd::set("k", "v").ifeq("old")).unwrap();
/// assert_eq!(a.token, Some("IFEQ"));
/// assert!(cmd::argument_needing(&cmd::set("k", "v")).is_none());
/// ```
pub fn argument_needing<C: Command + ?Sized>(cmd: &C) -> Option<&'static ArgMeta> {
    let meta = cmd.meta()?;
    let need = cmd.min_version().filter(|v| *v > meta.since)?;
    let candidates: Vec<&'static ArgMeta> =
        meta.args.iter().filter(|a| a.since == Some(need)).collect();
    if let [only] = candidates[..] {
        return Some(only);
    }
    // Skip the command name (and subcommand): a token is never one of them.
    let words = meta.name.split(' ').count();
    let given = args(cmd);
    let given = given.get(words..).unwrap_or_default();
    candidates.into_iter().find(|a| {
        a.token
            .is_some_and(|t| given.iter().any(|g| g.eq_ignore_ascii_case(t.as_bytes())))
    })
}

/// `err` (a refusal because the server is too old for `cmd`), prefixed with the command and the
/// argument that needs the newer server (`SET IFEQ: ...`) when [`argument_needing`] finds it.
pub fn name_argument_needing<C: Command + ?Sized>(cmd: &C, err: Error) -> Error {
    match (cmd.meta(), argument_needing(cmd)) {
        (Some(meta), Some(a)) => {
            let named = format!("{} {}", meta.name, a.token.unwrap_or(a.name));
            // The executors name it already; an error named twice reads badly.
            if err.to_string().contains(&format!("{named}: ")) {
                err
            } else {
                err.context(named)
            }
        }
        _ => err,
    }
}

/// An argument a command's `Debug` output hides (a password), from the overlay's `redact`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redact {
    /// The argument `n` places after the token (`AUTH` in `HELLO 3 AUTH user pass`: 1),
    /// compared without regard to case.
    After(&'static str, usize),
    /// The last argument (`AUTH [username] password`).
    Last,
    /// Arguments starting with one of these (ACL rules: `>password`, `#hash`).
    Prefixed(&'static [&'static str]),
}

/// Writes `cmd` as its command line (`SET "k" "v" NX`), each argument as text (escaped) and the
/// arguments its metadata's `redact` names as `<redacted>`: what the builders' and raw
/// commands' `Debug` prints.
pub fn fmt_command<C: Command + ?Sized>(
    cmd: &C,
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    // The generic part is only the writing; the rest is compiled once, not per builder type.
    let meta = cmd.meta();
    fmt_written(
        &|w| cmd.write_args(w),
        meta,
        meta.map_or(&[], |m| m.redact),
        f,
    )
}

fn fmt_written(
    write: &dyn Fn(&mut ArgWriter<'_>),
    meta: Option<&'static super::CommandMeta>,
    redact: &[Redact],
    f: &mut std::fmt::Formatter<'_>,
) -> std::fmt::Result {
    let mut buf = Vec::with_capacity(64);
    let mut spans = Vec::new();
    write(&mut ArgWriter::recording(&mut buf, &mut spans));
    let all: Vec<&[u8]> = spans
        .iter()
        .map(|&(a, b)| &buf[a as usize..b as usize])
        .collect();
    let words = meta.map_or(1, |m| m.name.split(' ').count());
    let mut hidden = vec![false; all.len()];
    for r in redact {
        match *r {
            Redact::After(token, n) => {
                let at = all.iter().enumerate().skip(words);
                for (i, _) in at.filter(|(_, a)| a.eq_ignore_ascii_case(token.as_bytes())) {
                    if let Some(h) = hidden.get_mut(i + 1 + n) {
                        *h = true;
                    }
                }
            }
            Redact::Last => {
                if all.len() > words {
                    hidden[all.len() - 1] = true;
                }
            }
            Redact::Prefixed(prefixes) => {
                for (a, h) in all.iter().zip(hidden.iter_mut()).skip(words) {
                    if prefixes.iter().any(|p| a.starts_with(p.as_bytes())) {
                        *h = true;
                    }
                }
            }
        }
    }
    for (i, a) in all.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        if hidden[i] {
            f.write_str("<redacted>")?;
        } else if i < words {
            f.write_str(&String::from_utf8_lossy(a))?;
        } else {
            match std::str::from_utf8(a) {
                Ok(s) => write!(f, "{s:?}")?,
                Err(_) => write!(f, "b\"{}\"", a.escape_ascii())?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{self, ClientKillFilter, ClientKillFilters, Version};

    #[test]
    fn args_are_the_written_arguments() {
        let a = args(&cmd::set("k", "v").nx());
        assert_eq!(a, [&b"SET"[..], b"k", b"v", b"NX"]);
    }

    #[test]
    fn debug_prints_the_command_line_with_passwords_hidden() {
        let set = cmd::set("k", "v").nx().ex(10);
        assert_eq!(format!("{set:?}"), r#"SET "k" "v" "NX" "EX" "10""#);
        // Builders are Clone: one value, sent twice.
        let again = set.clone();
        assert_eq!(format!("{again:?}"), format!("{set:?}"));
        assert_eq!(
            format!("{:?}", cmd::auth("s3cret").username("ann")),
            r#"AUTH "ann" <redacted>"#
        );
        assert_eq!(format!("{:?}", cmd::auth("s3cret")), "AUTH <redacted>");
        let hello = cmd::hello::<crate::Value>()
            .protover(3)
            .auth("ann", "s3cret")
            .setname("app");
        let text = format!("{hello:?}");
        assert!(
            !text.contains("s3cret") && text.contains(r#""ann""#),
            "{text}"
        );
        let migrate = format!(
            "{:?}",
            cmd::migrate("h", 1, cmd::MigrateKeySelector::Key("k".into()), 0, 5)
                .auth2("ann", "s3cret")
        );
        assert!(
            migrate.ends_with(r#""AUTH2" "ann" <redacted>"#),
            "{migrate}"
        );
        let config = format!(
            "{:?}",
            cmd::config_set([("maxmemory", "1mb"), ("requirepass", "s3cret")])
        );
        assert_eq!(
            config,
            r#"CONFIG SET "maxmemory" "1mb" "requirepass" <redacted>"#
        );
        let acl = format!(
            "{:?}",
            cmd::acl_setuser("ann").rule(["on", ">s3cret", "+get"])
        );
        assert_eq!(acl, r#"ACL SETUSER "ann" "on" <redacted> "+get""#);
        assert_eq!(
            format!("{:?}", cmd::get::<_, String>(&b"\xff"[..])),
            r#"GET b"\xff""#
        );
    }

    #[test]
    fn nested_choices_count_for_the_version_and_are_named() {
        let old = cmd::client_kill(ClientKillFilter::Filters(vec![ClientKillFilters::Laddr(
            "127.0.0.1:1".into(),
        )]));
        assert_eq!(old.min_version(), Some(Version::new(6, 2, 0)));
        let kill = cmd::client_kill(ClientKillFilter::Filters(vec![
            ClientKillFilters::Laddr("127.0.0.1:1".into()),
            ClientKillFilters::Maxage(10),
        ]));
        assert_eq!(kill.min_version(), Some(Version::new(8, 0, 0)));
        assert_eq!(
            argument_needing(&kill).and_then(|a| a.token),
            Some("MAXAGE")
        );
        let kill = cmd::client_kill(ClientKillFilter::Filters(vec![
            ClientKillFilters::Maxage(10),
            ClientKillFilters::Idle(5),
        ]));
        assert_eq!(kill.min_version(), Some(Version::new(9, 0, 0)));
        assert_eq!(argument_needing(&kill).and_then(|a| a.token), Some("IDLE"));
        // The old form (`ip:port`) needs nothing newer.
        let plain = cmd::client_kill(ClientKillFilter::IpPort("127.0.0.1:1".into()));
        assert_eq!(plain.min_version(), None);
        assert!(argument_needing(&plain).is_none());
    }
}
