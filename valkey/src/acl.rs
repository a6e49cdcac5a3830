//! Least-privilege ACL rules from the commands an application sends: given its typed command
//! values, the smallest `ACL SETUSER` rule that lets a user run exactly those commands on the
//! keys they name, reading or writing as each command's generated key specs say. IO-free.

use crate::cmd::{Cmd, CommandKeys, CommandMeta};
use crate::error::{Error, ErrorKind, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How a command's keys become ACL key patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KeyPatterns {
    /// Each key as itself (`~user:1`).
    Exact,
    /// Each key's prefix up to and including its last separator, then `*` (`user:1` →
    /// `~user:*`); a key without the separator stays exact.
    Prefix(u8),
}

/// What a command may do to its keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Access {
    read: bool,
    write: bool,
}

impl Access {
    /// From the command's key specs: `RO` reads, `OW` and `RM` write, `RW` does both. A spec
    /// that says none of these (incomplete metadata) gets both, to stay usable. Where the
    /// server narrows the access per invocation (`VARIABLE_FLAGS`: `SET` without `GET` only
    /// writes), this is the spec's widest access, which every invocation may need.
    fn of(meta: &CommandMeta) -> Access {
        let mut access = Access::default();
        for spec in meta.key_specs {
            let has = |f: &str| spec.flags.contains(&f);
            if has("NOT_KEY") {
                continue;
            }
            let (read, write) = match () {
                _ if has("RW") => (true, true),
                _ if has("RO") => (true, false),
                _ if has("OW") || has("RM") => (false, true),
                _ => (true, true),
            };
            access.read |= read;
            access.write |= write;
        }
        access
    }

    /// The ACL selector prefix: `~` for both, `%R~` or `%W~` for one.
    fn selector(self) -> &'static str {
        match (self.read, self.write) {
            (true, false) => "%R~",
            (false, true) => "%W~",
            _ => "~",
        }
    }
}

/// The ACL rule a set of commands needs: `+get +incr ~stats:* %R~user:*`.
///
/// ```
/// use valkey::acl::AclRules;
/// use valkey::cmd;
///
/// let mut rules = AclRules::with_key_prefixes(b':');
/// rules.allow(&cmd::get::<_, Option<String>>("user:1"))?;
/// rules.allow(&cmd::incr("stats:visits"))?;
/// assert_eq!(rules.to_string(), "+get +incr ~stats:* %R~user:*");
/// // ACL SETUSER app reset on >secret +get +incr ~stats:* %R~user:*
/// let setuser = rules.setuser("app", "secret");
/// # let _ = setuser;
/// # Ok::<(), valkey::Error>(())
/// ```
///
/// Commands are allowed by name (`+client|setname` for a subcommand), keys by the patterns their
/// values fall in, with read or write access as the commands' key specs say (a pattern both read
/// and written gets `~`). Channels are not covered: add `&pattern` rules yourself. The rule does
/// not include what the connection itself sends: `HELLO` and `AUTH` need no permission, and this
/// client ignores a refused `CLIENT SETINFO`.
#[derive(Clone, Debug)]
pub struct AclRules {
    patterns: KeyPatterns,
    commands: BTreeSet<String>,
    keys: BTreeMap<Vec<u8>, Access>,
}

impl Default for AclRules {
    fn default() -> AclRules {
        AclRules::new()
    }
}

impl AclRules {
    /// Rules that allow each key exactly as given.
    pub fn new() -> AclRules {
        AclRules {
            patterns: KeyPatterns::Exact,
            commands: BTreeSet::new(),
            keys: BTreeMap::new(),
        }
    }

    /// Rules that allow each key's namespace: the key up to and including its last `separator`,
    /// then `*` (`user:1` → `user:*`; a key without the separator stays exact).
    pub fn with_key_prefixes(separator: u8) -> AclRules {
        AclRules {
            patterns: KeyPatterns::Prefix(separator),
            ..AclRules::new()
        }
    }

    /// Allows `cmd` and its keys (found from its builder, or from its encoded arguments for a
    /// raw [`Cmd`]). A command unknown to this client is an [`ErrorKind::InvalidInput`] error.
    pub fn allow<C: CommandKeys + ?Sized>(&mut self, cmd: &C) -> Result<&mut AclRules> {
        let meta = cmd.meta().ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                "ACL rules: a command this client does not know; its keys and access cannot be \
                 told",
            )
        })?;
        let keys = crate::routing::command_keys(cmd)?;
        self.commands
            .insert(meta.name.to_ascii_lowercase().replace(' ', "|"));
        let access = Access::of(meta);
        for key in keys {
            let entry = self.keys.entry(self.pattern(&key)).or_default();
            entry.read |= access.read;
            entry.write |= access.write;
        }
        Ok(self)
    }

    /// The rule's words, in order: commands, then key patterns.
    pub fn words(&self) -> Vec<Vec<u8>> {
        let commands = self.commands.iter().map(|c| format!("+{c}").into_bytes());
        let keys = self.keys.iter().map(|(pattern, access)| {
            let mut word = access.selector().as_bytes().to_vec();
            word.extend_from_slice(pattern);
            word
        });
        commands.chain(keys).collect()
    }

    /// `ACL SETUSER user reset on >password <rules>`: a user that can run exactly these
    /// commands on these keys (`reset` first drops any rule it had).
    pub fn setuser(&self, user: &str, password: &str) -> Cmd {
        let mut cmd = Cmd::new("ACL")
            .arg("SETUSER")
            .arg(user)
            .arg("reset")
            .arg("on")
            .arg(format!(">{password}"));
        for word in self.words() {
            cmd = cmd.arg(word);
        }
        cmd
    }

    fn pattern(&self, key: &[u8]) -> Vec<u8> {
        let (prefix, wildcard) = match self.patterns {
            KeyPatterns::Prefix(sep) => match key.iter().rposition(|&b| b == sep) {
                Some(at) => (&key[..=at], true),
                None => (key, false),
            },
            KeyPatterns::Exact => (key, false),
        };
        let mut pattern = Vec::with_capacity(prefix.len() + 1);
        for &b in prefix {
            // Glob characters in a key match only themselves.
            if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
                pattern.push(b'\\');
            }
            pattern.push(b);
        }
        if wildcard {
            pattern.push(b'*');
        }
        pattern
    }
}

impl fmt::Display for AclRules {
    /// The rule as one line (keys that are not UTF-8 shown lossily; use [`AclRules::words`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, word) in self.words().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(&String::from_utf8_lossy(word))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd;

    fn rule(rules: &AclRules) -> String {
        rules.to_string()
    }

    #[test]
    fn access_follows_the_key_specs() {
        let mut r = AclRules::new();
        r.allow(&cmd::get::<_, Option<String>>("a")).unwrap();
        r.allow(&cmd::set("b", "v")).unwrap();
        r.allow(&cmd::incr("c")).unwrap();
        r.allow(&cmd::del(["d"])).unwrap();
        // SET's spec is RW (its GET option reads): the widest access an invocation may need.
        assert_eq!(rule(&r), "+del +get +incr +set %R~a ~b ~c %W~d");
    }

    #[test]
    fn a_pattern_read_and_written_gets_both() {
        let mut r = AclRules::with_key_prefixes(b':');
        r.allow(&cmd::get::<_, Option<String>>("u:1")).unwrap();
        r.allow(&cmd::set("u:2", "v")).unwrap();
        r.allow(&cmd::lmove::<_, _, Option<String>>(
            "q:in",
            "q:out",
            cmd::Side::Left,
            cmd::Side::Right,
        ))
        .unwrap();
        assert_eq!(rule(&r), "+get +lmove +set ~q:* ~u:*");
    }

    #[test]
    fn subcommands_keyless_commands_and_glob_characters() {
        let mut r = AclRules::with_key_prefixes(b':');
        r.allow(&cmd::client_setname("me")).unwrap();
        r.allow(&cmd::ping()).unwrap();
        r.allow(&cmd::get::<_, Option<String>>("we*ird?:[1]"))
            .unwrap();
        r.allow(&cmd::get::<_, Option<String>>("plain")).unwrap();
        assert_eq!(
            rule(&r),
            "+client|setname +get +ping %R~plain %R~we\\*ird\\?:*"
        );
    }

    #[test]
    fn raw_commands_are_read_by_their_arguments_and_unknown_ones_refused() {
        let mut r = AclRules::new();
        r.allow(&Cmd::new("HSET").arg("h").arg("f").arg("v"))
            .unwrap();
        assert_eq!(rule(&r), "+hset ~h");
        let e = r.allow(&Cmd::new("NOT.A.COMMAND").arg("k")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }

    #[test]
    fn setuser_resets_the_user_first() {
        let mut r = AclRules::new();
        r.allow(&cmd::get::<_, Option<String>>("k")).unwrap();
        let args: Vec<Vec<u8>> = r.setuser("app", "pw").args().map(<[u8]>::to_vec).collect();
        let want: Vec<&[u8]> = vec![
            b"ACL", b"SETUSER", b"app", b"reset", b"on", b">pw", b"+get", b"%R~k",
        ];
        assert_eq!(args, want.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
    }
}
