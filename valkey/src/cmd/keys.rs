//! A typed command's keys, straight from its builder: the cluster client routes a generated
//! command by its keys without encoding it and splitting the encoding again. Each builder
//! implements [`CommandKeys`] (generated from its spec's key arguments); one whose keys sit inside
//! a group or a generated value (MSET's pairs, MIGRATE's key choice) says it cannot tell, and
//! [`crate::routing::command_keys`] then finds them from the encoded arguments like any raw
//! command's.

use super::{Command, Returning};
use crate::convert::{ArgWriter, ToValkeyArg, ToValkeyArgs};

/// A command that can name its keys without being encoded.
pub trait CommandKeys: Command {
    /// Calls `f` with each key, in the order the command writes them, and returns `true`; or
    /// returns `false` without calling `f` when only the encoded arguments can tell (then use
    /// [`crate::routing::command_keys`], which does both).
    fn for_each_key(&self, f: &mut dyn FnMut(&[u8])) -> bool;
}

impl<C: CommandKeys + ?Sized> CommandKeys for &C {
    fn for_each_key(&self, f: &mut dyn FnMut(&[u8])) -> bool {
        (**self).for_each_key(f)
    }
}

impl<C: CommandKeys, T: crate::FromValkey> CommandKeys for Returning<C, T> {
    fn for_each_key(&self, f: &mut dyn FnMut(&[u8])) -> bool {
        self.cmd.for_each_key(f)
    }
}

/// Which of a part's arguments are keys.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// All of them (`key [key ...]`).
    All,
    /// All but a leading token (`STORE key`; nothing when the option was not given).
    AfterToken,
    /// Every second one, after each token (`GET key GET key`).
    EveryOther,
}

/// One key given as a single argument.
#[doc(hidden)]
#[inline]
pub fn one_key<K: ToValkeyArg + ?Sized>(key: &K, f: &mut dyn FnMut(&[u8])) {
    key.with_bytes(|b| f(b))
}

/// The keys among a part's arguments (a repeated key, an option holding one). The part is
/// written to a small scratch buffer (not the command), and `f` gets the picked arguments.
#[doc(hidden)]
pub fn part_keys<P: ToValkeyArgs + ?Sized>(part: &P, pick: Pick, f: &mut dyn FnMut(&[u8])) {
    let n = part.num_args();
    if n == 0 {
        return;
    }
    let mut buf = Vec::with_capacity(32 * n);
    let mut spans = Vec::with_capacity(n);
    part.write_args(&mut ArgWriter::recording(&mut buf, &mut spans));
    for (i, &(a, b)) in spans.iter().enumerate() {
        let take = match pick {
            Pick::All => true,
            Pick::AfterToken => i > 0,
            Pick::EveryOther => i % 2 == 1,
        };
        if take {
            f(&buf[a as usize..b as usize]);
        }
    }
}

/// The keys [`CommandKeys::for_each_key`] gives, collected (`None` when the builder cannot tell).
pub fn builder_keys<C: CommandKeys + ?Sized>(cmd: &C) -> Option<Vec<Vec<u8>>> {
    let mut keys = Vec::new();
    cmd.for_each_key(&mut |k| keys.push(k.to_vec()))
        .then_some(keys)
}

impl CommandKeys for super::Cmd {
    /// A raw command's keys are found from its arguments: [`crate::routing::command_keys`].
    fn for_each_key(&self, _: &mut dyn FnMut(&[u8])) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::{self, Cmd};

    fn strs(v: Option<Vec<Vec<u8>>>) -> Option<Vec<String>> {
        v.map(|v| {
            v.into_iter()
                .map(|k| String::from_utf8(k).unwrap())
                .collect()
        })
    }

    #[test]
    fn builders_name_their_keys_without_encoding() {
        assert_eq!(
            strs(builder_keys(&cmd::get::<_, String>("a"))),
            Some(vec!["a".into()])
        );
        assert_eq!(
            strs(builder_keys(&cmd::del(["a", "b"]))),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(
            strs(builder_keys(&cmd::lmove::<_, _, String>(
                "s",
                "d",
                cmd::Side::Left,
                cmd::Side::Right
            ))),
            Some(vec!["s".into(), "d".into()])
        );
        // An option holding a key: named when given.
        let sort = cmd::sort::<_, crate::Value>("k");
        assert_eq!(strs(builder_keys(&sort)), Some(vec!["k".into()]));
        assert_eq!(
            strs(builder_keys(&cmd::sort("k").store("dest"))),
            Some(vec!["k".into(), "dest".into()])
        );
        assert_eq!(strs(builder_keys(&cmd::ping())), Some(vec![]));
    }

    #[test]
    fn keys_inside_groups_come_from_the_encoding() {
        let mset = cmd::mset([("a", 1), ("b", 2)]);
        assert_eq!(builder_keys(&mset), None);
        let keys = crate::routing::command_keys(&mset).unwrap();
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec()]);
        let raw = Cmd::new("GET").arg("x");
        assert_eq!(crate::routing::command_keys(&raw).unwrap(), [b"x".to_vec()]);
    }
}
