//! Cluster routing without IO: the hash slot of a key (CRC16 with hash tags) and which arguments
//! of any command are keys, found the way the server's `COMMAND GETKEYS` finds them: from the
//! command's key specs, and with the server's own rules where the specs cannot say.

use crate::cmd::{lookup, BeginSearch, CommandFlags, CommandMeta, FindKeys, KeySpec};
use crate::error::{Error, ErrorKind, Result};

/// The number of hash slots in a cluster.
pub const SLOT_COUNT: u16 = 16384;

/// CRC16-XMODEM (polynomial 0x1021, initial value 0), one table lookup per byte.
const CRC16_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC16-XMODEM of `data`, the checksum cluster slots are computed with.
#[inline]
pub fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        (crc << 8) ^ CRC16_TABLE[usize::from((crc >> 8) as u8 ^ byte)]
    })
}

/// The part of `key` that is hashed: the bytes between the first `{` and the first `}` after
/// it when they are not empty (`{user1000}.following` hashes `user1000`), else the whole key.
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        let rest = &key[open + 1..];
        if let Some(len) = rest.iter().position(|&b| b == b'}') {
            if len > 0 {
                return &rest[..len];
            }
        }
    }
    key
}

/// The cluster hash slot of `key`: CRC16 of its [`hash_tag`] modulo 16384.
#[inline]
pub fn slot(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOT_COUNT - 1)
}

/// Where a command goes in a cluster, by its keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SlotRoute {
    /// The command has no key (its request policy, or any node, decides).
    Keyless,
    /// Every key hashes to this slot.
    Slot(u16),
    /// The keys hash to different slots; a cluster refuses the command with `CROSSSLOT`.
    /// `first` is the slot of the first key.
    CrossSlot {
        /// The slot of the first key.
        first: u16,
    },
}

/// The metadata of the command `args` spell: `args[0]` is the name, `args[1]` a possible
/// subcommand (`CLIENT KILL`); case-insensitive. `None` for a command the specs do not have.
pub fn command_meta<A: AsRef<[u8]>>(args: &[A]) -> Option<&'static CommandMeta> {
    let name = args.first()?.as_ref();
    args.get(1)
        .and_then(|sub| lookup(name, Some(sub.as_ref())))
        .or_else(|| lookup(name, None))
}

/// The positions in `args` (`args[0]` = command name) of the arguments that are keys, in the
/// order the server's `COMMAND GETKEYS` gives them. Empty for a command without keys.
///
/// Errors (kind [`ErrorKind::InvalidInput`]) for an unknown command, a wrong number of
/// arguments to a command with keys, or arguments the server would reject for want of a key
/// (`XREAD` without `STREAMS`, a bad `numkeys`).
pub fn key_positions<A: AsRef<[u8]>>(args: &[A]) -> Result<Vec<usize>> {
    let meta = command_meta(args).ok_or_else(|| unknown_command(args))?;
    key_positions_for(meta, args)
}

/// [`key_positions`] for a command whose metadata the caller already has (a typed command's
/// [`crate::Command::meta`]).
pub fn key_positions_for<A: AsRef<[u8]>>(meta: &CommandMeta, args: &[A]) -> Result<Vec<usize>> {
    // A command without keys has none whatever its arguments (the server answers so before it
    // checks the arity: a container alone, `CLIENT`, is keyless, not an error).
    let has_key_spec = meta.key_specs.iter().any(|s| !has_flag(s, "NOT_KEY"));
    let rule = server_rule(meta.name);
    if !has_key_spec && rule.is_none() {
        return Ok(Vec::new());
    }
    check_arity(meta, args.len())?;

    // The server prefers the key specs while their flags are reliable; when a spec cannot say
    // (unknown, INCOMPLETE, out of bounds, a bad count), it falls back to the command's own rule.
    let has_variable_flags = meta.key_specs.iter().any(|s| has_flag(s, "VARIABLE_FLAGS"));
    let mut keys = Vec::new();
    let from_specs = has_key_spec
        && !has_variable_flags
        && keys_from_specs(meta.key_specs, args, &mut keys, false).is_ok();
    if !from_specs {
        keys.clear();
        if let Some(rule) = rule {
            let args: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
            rule(&args, &mut keys);
            // The rules trust the arity check; never hand out a position past the end.
            keys.retain(|&k| k < args.len());
        }
    }

    if keys.is_empty() && !meta.flags.contains(CommandFlags::NO_MANDATORY_KEYS) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "no key found in the arguments of '{}': the server would reject them",
                meta.name
            ),
        ));
    }
    Ok(keys)
}

/// The positions a cluster routes the command `args` spell by: its keys
/// ([`key_positions_for`]) or, for a command without keys, the arguments its key specs flag
/// `NOT_KEY`, which are not keys but are routed as if they were (`SPUBLISH`'s shard channel,
/// `CLUSTERSCAN`'s cursor).
pub fn routing_positions_for<A: AsRef<[u8]>>(meta: &CommandMeta, args: &[A]) -> Result<Vec<usize>> {
    let keys = key_positions_for(meta, args)?;
    if !keys.is_empty() || !meta.key_specs.iter().any(|s| has_flag(s, "NOT_KEY")) {
        return Ok(keys);
    }
    let mut positions = Vec::new();
    if keys_from_specs(meta.key_specs, args, &mut positions, true).is_err() {
        positions.clear();
    }
    positions.retain(|&p| p < args.len());
    Ok(positions)
}

/// The keys of a command value: from its builder when it can tell them without being encoded
/// ([`crate::cmd::CommandKeys`]), else from its encoded arguments by [`key_positions_for`].
pub fn command_keys<C: crate::cmd::CommandKeys + ?Sized>(cmd: &C) -> Result<Vec<Vec<u8>>> {
    if let Some(keys) = crate::cmd::builder_keys(cmd) {
        return Ok(keys);
    }
    let meta = cmd.meta().ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidInput,
            "a command without metadata has no known keys",
        )
    })?;
    let args = crate::cmd::args(cmd);
    let positions = key_positions_for(meta, &args)?;
    Ok(positions.into_iter().map(|p| args[p].clone()).collect())
}

/// The slot the command `args` spell must go to, from its keys (see [`key_positions`]).
pub fn route_slot<A: AsRef<[u8]>>(args: &[A]) -> Result<SlotRoute> {
    let positions = key_positions(args)?;
    Ok(slot_route(args, &positions))
}

/// [`route_slot`] for a command whose metadata the caller already has.
pub fn route_slot_for<A: AsRef<[u8]>>(meta: &CommandMeta, args: &[A]) -> Result<SlotRoute> {
    let positions = key_positions_for(meta, args)?;
    Ok(slot_route(args, &positions))
}

/// The route of the keys at `positions` in `args` (positions out of range are ignored).
pub fn slot_route<A: AsRef<[u8]>>(args: &[A], positions: &[usize]) -> SlotRoute {
    let mut slots = positions
        .iter()
        .filter_map(|&p| args.get(p))
        .map(|key| slot(key.as_ref()));
    let Some(first) = slots.next() else {
        return SlotRoute::Keyless;
    };
    if slots.all(|s| s == first) {
        SlotRoute::Slot(first)
    } else {
        SlotRoute::CrossSlot { first }
    }
}

fn unknown_command<A: AsRef<[u8]>>(args: &[A]) -> Error {
    let name = args
        .first()
        .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
        .unwrap_or_default();
    Error::new(
        ErrorKind::InvalidInput,
        format!("unknown command '{name}': its key positions are not known"),
    )
}

fn check_arity(meta: &CommandMeta, argc: usize) -> Result<()> {
    let arity = meta.arity;
    let ok = match usize::try_from(arity) {
        Ok(exact) => argc == exact,
        Err(_) => argc >= arity.unsigned_abs() as usize,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "wrong number of arguments for '{}': {argc} given, arity {arity}",
                meta.name
            ),
        ))
    }
}

fn has_flag(spec: &KeySpec, flag: &str) -> bool {
    spec.flags.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

/// An argument as the server's C string functions see it: up to the first NUL byte.
fn c_str(arg: &[u8]) -> &[u8] {
    arg.iter()
        .position(|&b| b == 0)
        .map_or(arg, |nul| &arg[..nul])
}

/// The server's `strcasecmp(arg, word) == 0`.
fn is_word(arg: &[u8], word: &str) -> bool {
    c_str(arg).eq_ignore_ascii_case(word.as_bytes())
}

/// A key spec that cannot give the keys for these arguments (the server's `invalid_spec`).
struct InvalidSpec;

/// The server's `getKeysUsingKeySpecs`: every spec in order, appending key positions to `keys`.
fn keys_from_specs<A: AsRef<[u8]>>(
    specs: &[KeySpec],
    args: &[A],
    keys: &mut Vec<usize>,
    not_keys: bool,
) -> Result<(), InvalidSpec> {
    let argc = args.len() as i64;
    for spec in specs {
        // Keys, or (for routing only) the arguments flagged NOT_KEY.
        if has_flag(spec, "NOT_KEY") != not_keys {
            continue;
        }

        let first = match spec.begin_search {
            BeginSearch::Index(pos) => i64::from(pos),
            BeginSearch::Keyword {
                keyword,
                start_from,
            } => match find_keyword(args, keyword, i64::from(start_from)) {
                Some(keyword_at) => keyword_at + 1,
                // No keyword, no keys from this spec (an optional clause left out).
                None => continue,
            },
            BeginSearch::Unknown => return Err(InvalidSpec),
        };

        let (first, last, step) = match spec.find_keys {
            FindKeys::Range {
                last_key,
                step,
                limit,
            } => {
                let last_key = i64::from(last_key);
                let last = if last_key >= 0 {
                    first + last_key
                } else if limit <= 0 {
                    argc + last_key
                } else {
                    // Only 1/limit of the remaining arguments are keys (XREAD's key ... id ...).
                    first + ((argc - first) / i64::from(limit) + last_key)
                };
                (first, last, i64::from(step))
            }
            FindKeys::KeyNum {
                key_num_idx,
                first_key,
                step,
            } => {
                let count_at = first + i64::from(key_num_idx);
                let count = usize::try_from(count_at)
                    .ok()
                    .and_then(|i| args.get(i))
                    .and_then(|a| string_to_i64(a.as_ref()))
                    .filter(|&n| n >= 0)
                    .ok_or(InvalidSpec)?;
                // More keys than arguments: out of bounds (checked first, so that the
                // arithmetic below cannot overflow).
                if count > argc {
                    return Err(InvalidSpec);
                }
                let first = first + i64::from(first_key);
                let step = i64::from(step);
                // `count` keys, `step` apart (MSETEX's key value pairs).
                (first, first + (count - 1) * step, step)
            }
            FindKeys::Unknown => return Err(InvalidSpec),
        };

        // Argument 0 is the command's name, never a key (no real spec starts there).
        if first < 1 || first >= argc || last >= argc || last < first || step < 1 {
            return Err(InvalidSpec);
        }
        keys.extend((first..=last).step_by(step as usize).map(|i| i as usize));

        // The spec found some keys but says there may be more: the command's rule decides.
        if has_flag(spec, "INCOMPLETE") {
            return Err(InvalidSpec);
        }
    }
    Ok(())
}

/// The position of `keyword`, searched as the server does: forwards from `start_from` up to
/// (not including) the last argument, or, with a negative `start_from`, backwards from
/// `argc + start_from` down to (not including) argument 1.
fn find_keyword<A: AsRef<[u8]>>(args: &[A], keyword: &str, start_from: i64) -> Option<i64> {
    let argc = args.len() as i64;
    let (start, end) = if start_from > 0 {
        (start_from, argc - 1)
    } else {
        (argc + start_from, 1)
    };
    let forwards = start <= end;
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            break;
        }
        if is_word(args[i as usize].as_ref(), keyword) {
            return Some(i);
        }
        i = if forwards { i + 1 } else { i - 1 };
    }
    None
}

/// The server's `string2ll`: a canonical decimal integer (no sign but `-`, no leading zeros,
/// no spaces), else `None`.
fn string_to_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        value = if negative {
            value.checked_mul(10)?.checked_sub(digit)?
        } else {
            value.checked_mul(10)?.checked_add(digit)?
        };
    }
    Some(value)
}

/// C's `atoi` as glibc does it: `(int) strtol(s, NULL, 10)` — leading spaces, an optional sign,
/// digits up to the first non-digit (0 when none), clamped to 64 bits, then cut to 32.
fn atoi(s: &[u8]) -> i32 {
    let s = c_str(s);
    let mut i = s
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
        .unwrap_or(s.len());
    let negative = s.get(i) == Some(&b'-');
    if matches!(s.get(i), Some(b'-' | b'+')) {
        i += 1;
    }
    let mut value: i64 = 0;
    for &d in s[i..].iter().take_while(|d| d.is_ascii_digit()) {
        let digit = i64::from(d - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(digit)
        } else {
            value.saturating_mul(10).saturating_add(digit)
        };
    }
    value as i32
}

/// A command's own key rule (the server's `getkeys_proc`), for where its specs cannot say.
type KeyRule = fn(&[&[u8]], &mut Vec<usize>);

/// The commands with their own key rule in the server, by name.
const SERVER_RULES: &[(&str, KeyRule)] = &[
    ("EVAL", count_at_2),
    ("EVALSHA", count_at_2),
    ("EVAL_RO", count_at_2),
    ("EVALSHA_RO", count_at_2),
    ("FCALL", count_at_2),
    ("FCALL_RO", count_at_2),
    ("BLMPOP", count_at_2),
    ("BZMPOP", count_at_2),
    ("LMPOP", count_at_1),
    ("ZMPOP", count_at_1),
    ("SINTERCARD", count_at_1),
    ("ZUNION", count_at_1),
    ("ZINTER", count_at_1),
    ("ZDIFF", count_at_1),
    ("ZINTERCARD", count_at_1),
    ("ZUNIONSTORE", store_then_count_at_2),
    ("ZINTERSTORE", store_then_count_at_2),
    ("ZDIFFSTORE", store_then_count_at_2),
    ("SORT", sort_keys),
    ("SORT_RO", first_argument),
    ("MIGRATE", migrate_keys),
    ("GEORADIUS", georadius_keys),
    ("GEORADIUSBYMEMBER", georadius_keys),
    ("XREAD", xread_keys),
    ("XREADGROUP", xread_keys),
    ("SET", first_argument),
    ("BITFIELD", first_argument),
];

fn server_rule(name: &str) -> Option<KeyRule> {
    SERVER_RULES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, rule)| rule)
}

/// The server's `genericGetKeys`: `num` keys from `first_at` (every `step`), the count at
/// `count_at` read with `atoi`, and the destination key (if any) last. No keys when the count
/// is below 1 or more than the arguments left.
fn counted_keys(
    args: &[&[u8]],
    store_at: Option<usize>,
    count_at: usize,
    first_at: usize,
    step: usize,
    keys: &mut Vec<usize>,
) {
    let Some(count) = args.get(count_at).map(|a| atoi(a)) else {
        return;
    };
    let available = args.len().saturating_sub(first_at) / step;
    let Ok(count) = usize::try_from(count) else {
        return;
    };
    if count < 1 || count > available {
        return;
    }
    keys.extend((0..count).map(|i| first_at + i * step));
    keys.extend(store_at);
}

/// `EVAL script numkeys key...`, `BLMPOP timeout numkeys key...`.
fn count_at_2(args: &[&[u8]], keys: &mut Vec<usize>) {
    counted_keys(args, None, 2, 3, 1, keys)
}

/// `ZUNION numkeys key...`, `LMPOP numkeys key...`.
fn count_at_1(args: &[&[u8]], keys: &mut Vec<usize>) {
    counted_keys(args, None, 1, 2, 1, keys)
}

/// `ZUNIONSTORE destination numkeys key...`.
fn store_then_count_at_2(args: &[&[u8]], keys: &mut Vec<usize>) {
    counted_keys(args, Some(1), 2, 3, 1, keys)
}

/// `SET key ...`, `BITFIELD key ...`, `SORT_RO key ...`: the first argument, always.
fn first_argument(_args: &[&[u8]], keys: &mut Vec<usize>) {
    keys.push(1);
}

/// `SORT key ... STORE destination`: the key, and the last `STORE`'s argument, skipping the
/// arguments of `LIMIT`, `GET` and `BY` as the server does.
fn sort_keys(args: &[&[u8]], keys: &mut Vec<usize>) {
    keys.push(1);
    let mut store = None;
    let mut i = 2;
    while i < args.len() {
        let arg = args[i];
        if is_word(arg, "LIMIT") {
            i += 2;
        } else if is_word(arg, "GET") || is_word(arg, "BY") {
            i += 1;
        } else if is_word(arg, "STORE") && i + 1 < args.len() {
            // The destination is not skipped: the server goes on scanning from it.
            store = Some(i + 1);
        }
        i += 1;
    }
    keys.extend(store);
}

/// `MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw] [KEYS key...]`.
fn migrate_keys(args: &[&[u8]], keys: &mut Vec<usize>) {
    let mut first = 3;
    let mut count = 1;
    let mut i = 6;
    while i < args.len() {
        let arg = args[i];
        if is_word(arg, "KEYS") {
            if args.get(3).is_none_or(|key| key.is_empty()) {
                first = i + 1;
                count = args.len() - first;
            } else {
                // KEYS with a key in the key position is a syntax error the command reports.
                count = 0;
            }
            break;
        }
        if is_word(arg, "AUTH") {
            i += 1;
        } else if is_word(arg, "AUTH2") {
            i += 2;
        }
        i += 1;
    }
    keys.extend(first..first + count);
}

/// `GEORADIUS key ... [STORE key | STOREDIST key]`: the key and the last store target.
fn georadius_keys(args: &[&[u8]], keys: &mut Vec<usize>) {
    keys.push(1);
    let mut store = None;
    let mut i = 5;
    while i < args.len() {
        let arg = args[i];
        if (is_word(arg, "STORE") || is_word(arg, "STOREDIST")) && i + 1 < args.len() {
            store = Some(i + 1);
            i += 1;
        }
        i += 1;
    }
    keys.extend(store);
}

/// `XREAD [COUNT n] [BLOCK ms] [GROUP g c] [NOACK] STREAMS key... id...`: the first half of the
/// arguments after `STREAMS`, when they are an even, non-zero number.
fn xread_keys(args: &[&[u8]], keys: &mut Vec<usize>) {
    let mut streams_at = None;
    let mut i = 1;
    while i < args.len() {
        let arg = args[i];
        if is_word(arg, "BLOCK") || is_word(arg, "COUNT") {
            i += 1;
        } else if is_word(arg, "GROUP") {
            i += 2;
        } else if is_word(arg, "NOACK") {
            // A flag without an argument.
        } else if is_word(arg, "STREAMS") {
            streams_at = Some(i);
            break;
        } else {
            break;
        }
        i += 1;
    }
    let Some(streams_at) = streams_at else {
        return;
    };
    let rest = args.len() - streams_at - 1;
    if rest == 0 || rest % 2 != 0 {
        return;
    }
    keys.extend(streams_at + 1..streams_at + 1 + rest / 2);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::Version;

    const RO: &[&str] = &["RO", "ACCESS"];
    const RW: &[&str] = &["RW", "ACCESS", "DELETE"];
    const INCOMPLETE: &[&str] = &["RW", "ACCESS", "DELETE", "INCOMPLETE"];
    const NOT_KEY: &[&str] = &["NOT_KEY"];

    const fn spec(flags: &'static [&'static str], begin: BeginSearch, find: FindKeys) -> KeySpec {
        KeySpec {
            flags,
            begin_search: begin,
            find_keys: find,
        }
    }
    const fn range(last_key: i32, step: i32, limit: i32) -> FindKeys {
        FindKeys::Range {
            last_key,
            step,
            limit,
        }
    }
    const fn keynum(key_num_idx: i32, first_key: i32, step: i32) -> FindKeys {
        FindKeys::KeyNum {
            key_num_idx,
            first_key,
            step,
        }
    }
    const fn keyword(keyword: &'static str, start_from: i32) -> BeginSearch {
        BeginSearch::Keyword {
            keyword,
            start_from,
        }
    }
    const FIRST_KEY: KeySpec = spec(RO, BeginSearch::Index(1), range(0, 1, 0));

    /// A hand-made command meta (leaked: metas are `'static` in the generated table too).
    fn meta(name: &'static str, arity: i32, specs: &[KeySpec]) -> CommandMeta {
        CommandMeta {
            name,
            group: "test",
            since: Version::new(1, 0, 0),
            arity,
            flags: CommandFlags::default(),
            acl_categories: &[],
            tips: &[],
            key_specs: Box::leak(specs.to_vec().into_boxed_slice()),
            args: &[],
            session: crate::cmd::Session::None,
            blocking: None,
            redact: &[],
        }
    }

    fn keys(meta: &CommandMeta, args: &str) -> Result<Vec<usize>> {
        let args: Vec<&str> = args.split(' ').collect();
        key_positions_for(meta, &args)
    }

    #[test]
    fn crc16_is_xmodem() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(crc16(b""), 0);
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for len in [1, 2, 17, 255, 1000] {
            let expected = crc16::State::<crc16::XMODEM>::calculate(&data[..len]);
            assert_eq!(crc16(&data[..len]), expected, "length {len}");
        }
    }

    #[test]
    fn slots_of_known_keys() {
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b""), 0);
        assert_eq!(slot(b"{user1000}.following"), slot(b"{user1000}.followers"));
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
    }

    #[test]
    fn hash_tags_follow_the_first_brace_pair() {
        assert_eq!(hash_tag(b"foo{bar}zap"), b"bar");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar");
        // An empty first tag means the whole key, even when a later pair is not empty.
        assert_eq!(hash_tag(b"foo{}{bar}"), b"foo{}{bar}");
        assert_eq!(slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
        // The tag runs from the first `{` to the first `}` after it.
        assert_eq!(hash_tag(b"foo{{bar}}zap"), b"{bar");
        assert_eq!(hash_tag(b"}{a}"), b"a");
        assert_eq!(hash_tag(b"{"), b"{");
        assert_eq!(hash_tag(b"no tag}"), b"no tag}");
        assert_eq!(hash_tag(b"{\xff\x00}x"), b"\xff\x00");
    }

    #[test]
    fn index_and_range() {
        let get = meta("GET", 2, &[FIRST_KEY]);
        assert_eq!(keys(&get, "GET k").unwrap(), [1]);
        let mset = meta(
            "MSET",
            -3,
            &[spec(RW, BeginSearch::Index(1), range(-1, 2, 0))],
        );
        assert_eq!(keys(&mset, "MSET a 1 b 2 c 3").unwrap(), [1, 3, 5]);
        let blpop = meta(
            "BLPOP",
            -3,
            &[spec(RW, BeginSearch::Index(1), range(-2, 1, 0))],
        );
        assert_eq!(keys(&blpop, "BLPOP a b c 0").unwrap(), [1, 2, 3]);
        let two = meta("X", -3, &[spec(RW, BeginSearch::Index(2), range(1, 1, 0))]);
        assert_eq!(keys(&two, "X a b c d").unwrap(), [2, 3]);
    }

    #[test]
    fn wrong_arity_is_an_error() {
        let get = meta("GET", 2, &[FIRST_KEY]);
        for args in [&["GET"][..], &["GET", "a", "b"]] {
            let err = key_positions_for(&get, args).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput);
            assert!(
                err.to_string().contains("wrong number of arguments"),
                "{err}"
            );
        }
        let mset = meta(
            "MSET",
            -3,
            &[spec(RW, BeginSearch::Index(1), range(-1, 2, 0))],
        );
        assert!(key_positions_for(&mset, &["MSET", "a"]).is_err());
        assert!(key_positions_for(&mset, &[] as &[&str]).is_err());
    }

    #[test]
    fn keyword_with_range_limit() {
        let xread = meta(
            "XREAD",
            -4,
            &[spec(RO, keyword("STREAMS", 1), range(-1, 1, 2))],
        );
        assert_eq!(
            keys(&xread, "XREAD COUNT 2 STREAMS a b 0 0").unwrap(),
            [4, 5]
        );
        assert_eq!(
            keys(&xread, "xread streams a b c 1 2 3").unwrap(),
            [2, 3, 4]
        );
        // An odd count: the server takes half, rounded down.
        assert_eq!(keys(&xread, "XREAD STREAMS a b 0").unwrap(), [2]);
        // As C's strcasecmp sees it, a NUL ends the argument.
        assert_eq!(
            key_positions_for(&xread, &["XREAD", "STREAMS\0x", "a", "0"]).unwrap(),
            [2]
        );
        // The search stops before the last argument; without the keyword there is no key.
        assert!(keys(&xread, "XREAD COUNT 2 STREAMS").is_err());
        assert!(keys(&xread, "XREAD COUNT 2 BLOCK 0").is_err());
        // One argument after STREAMS: the spec is out of bounds, the server's rule finds none.
        assert!(keys(&xread, "XREAD COUNT 2 STREAMS a").is_err());
    }

    #[test]
    fn optional_keyword_clauses() {
        let georadius = meta(
            "GEORADIUS",
            -6,
            &[
                FIRST_KEY,
                spec(RW, keyword("STORE", 6), range(0, 1, 0)),
                spec(RW, keyword("STOREDIST", 6), range(0, 1, 0)),
            ],
        );
        assert_eq!(keys(&georadius, "GEORADIUS k 0 0 1 km").unwrap(), [1]);
        assert_eq!(
            keys(&georadius, "GEORADIUS k 0 0 1 km STORE d COUNT 1").unwrap(),
            [1, 7]
        );
        assert_eq!(
            keys(&georadius, "GEORADIUS k 0 0 1 km STOREDIST d STORE e").unwrap(),
            [1, 9, 7]
        );
        // The search starts at argument 6: an earlier STORE is a member or a unit, not a clause.
        assert_eq!(keys(&georadius, "GEORADIUS k 0 0 STORE km").unwrap(), [1]);
    }

    #[test]
    fn keyword_searched_backwards_and_incomplete_specs() {
        let migrate = meta(
            "MIGRATE",
            -6,
            &[
                spec(RW, BeginSearch::Index(3), range(0, 1, 0)),
                spec(INCOMPLETE, keyword("KEYS", -2), range(-1, 1, 0)),
            ],
        );
        assert_eq!(keys(&migrate, "MIGRATE h 1 k 0 5000").unwrap(), [3]);
        assert_eq!(
            keys(&migrate, "MIGRATE h 1 k 0 5000 COPY REPLACE").unwrap(),
            [3]
        );
        // KEYS makes the spec incomplete: the server's own rule reads the keys.
        let args = [
            "MIGRATE", "h", "1", "", "0", "5000", "COPY", "KEYS", "a", "b",
        ];
        assert_eq!(key_positions_for(&migrate, &args).unwrap(), [8, 9]);
        // The rule skips AUTH's and AUTH2's arguments, even when they read KEYS.
        let args = [
            "MIGRATE", "h", "1", "", "0", "5", "AUTH2", "KEYS", "KEYS", "KEYS", "a",
        ];
        assert_eq!(key_positions_for(&migrate, &args).unwrap(), [10]);
        // KEYS with a key in the key position is a syntax error: no keys.
        assert!(keys(&migrate, "MIGRATE h 1 k 0 5000 KEYS a").is_err());

        let backwards = meta("X", -2, &[spec(RO, keyword("K", -3), range(0, 1, 0))]);
        assert_eq!(keys(&backwards, "X K a K b c").unwrap(), [4]);
        // Argument 1 is never searched.
        assert!(keys(&backwards, "X K a").is_err());
    }

    #[test]
    fn keynum_counts() {
        let zunionstore = meta(
            "ZUNIONSTORE",
            -4,
            &[
                spec(RW, BeginSearch::Index(1), range(0, 1, 0)),
                spec(RO, BeginSearch::Index(2), keynum(0, 1, 1)),
            ],
        );
        let k = |args| keys(&zunionstore, args);
        assert_eq!(k("ZUNIONSTORE d 2 a b WEIGHTS 1 2").unwrap(), [1, 3, 4]);
        assert_eq!(k("ZUNIONSTORE d 3 a b WEIGHTS 1 2").unwrap(), [1, 3, 4, 5]);
        // Too many or no keys: the spec is out of bounds and the rule finds none.
        assert!(k("ZUNIONSTORE d 9 a b WEIGHTS 1 2").is_err());
        assert!(k("ZUNIONSTORE d 0 a").is_err());
        assert!(k("ZUNIONSTORE d -1 a").is_err());
        assert!(k("ZUNIONSTORE d x a").is_err());
        // A count the spec cannot parse ("02", "+2", " 2") is read by the rule with atoi,
        // which puts the destination last.
        assert_eq!(k("ZUNIONSTORE d 02 a b").unwrap(), [3, 4, 1]);
        assert_eq!(k("ZUNIONSTORE d +2 a b").unwrap(), [3, 4, 1]);
        assert_eq!(k("ZUNIONSTORE d 2x a b").unwrap(), [3, 4, 1]);

        let mut eval = meta(
            "EVAL",
            -3,
            &[spec(RW, BeginSearch::Index(2), keynum(0, 1, 1))],
        );
        eval.flags = CommandFlags::NO_MANDATORY_KEYS;
        assert_eq!(keys(&eval, "EVAL s 2 a b x y").unwrap(), [3, 4]);
        // EVAL may have no key at all.
        assert_eq!(keys(&eval, "EVAL s 0").unwrap(), Vec::<usize>::new());
        assert_eq!(keys(&eval, "EVAL s 0 x").unwrap(), Vec::<usize>::new());
        assert_eq!(keys(&eval, "EVAL s 3 a").unwrap(), Vec::<usize>::new());

        let offset = meta("X", -2, &[spec(RO, BeginSearch::Index(1), keynum(0, 2, 1))]);
        assert_eq!(keys(&offset, "X 2 skip a b").unwrap(), [3, 4]);
        // MSETEX numkeys key value [key value ...]: the count is of keys, not arguments.
        let msetex = meta(
            "MSETEX",
            -4,
            &[spec(RW, BeginSearch::Index(1), keynum(0, 1, 2))],
        );
        assert_eq!(keys(&msetex, "MSETEX 3 a 1 b 2 c 3 XX").unwrap(), [2, 4, 6]);
        assert_eq!(keys(&msetex, "MSETEX 2 a 1 b").unwrap(), [2, 4]);
        assert!(keys(&msetex, "MSETEX 3 a 1 b 2").is_err());
    }

    #[test]
    fn unknown_specs_use_the_server_rule() {
        let unknown = spec(RO, BeginSearch::Unknown, FindKeys::Unknown);
        let sort = meta("SORT", -2, &[FIRST_KEY, unknown, unknown]);
        assert_eq!(keys(&sort, "SORT k").unwrap(), [1]);
        assert_eq!(keys(&sort, "SORT k LIMIT 0 1 STORE d").unwrap(), [1, 6]);
        // GET's argument is skipped even when it reads STORE; the last STORE wins.
        assert_eq!(
            keys(&sort, "SORT k BY w_* GET STORE STORE d STORE e").unwrap(),
            [1, 9]
        );
        // LIMIT skips two arguments.
        assert_eq!(keys(&sort, "sort k limit store x").unwrap(), [1]);
        let sort_ro = meta("SORT_RO", -2, &[FIRST_KEY, unknown]);
        assert_eq!(keys(&sort_ro, "SORT_RO k BY x GET y STORE z").unwrap(), [1]);

        // An unknown spec on a command without a rule of its own: no keys, an error.
        let other = meta("X", -1, &[unknown]);
        assert!(keys(&other, "X a").is_err());
    }

    #[test]
    fn variable_flags_use_the_server_rule() {
        let set = meta(
            "SET",
            -3,
            &[spec(
                &["RW", "VARIABLE_FLAGS"],
                BeginSearch::Index(1),
                range(0, 1, 0),
            )],
        );
        assert_eq!(keys(&set, "SET k v GET").unwrap(), [1]);
    }

    #[test]
    fn keyless_commands_have_no_keys() {
        let ping = meta("PING", -1, &[]);
        assert_eq!(keys(&ping, "PING").unwrap(), Vec::<usize>::new());
        // Whatever the number of arguments, as `COMMAND GETKEYS` answers for a container alone.
        let client = meta("CLIENT", -2, &[]);
        assert_eq!(keys(&client, "CLIENT").unwrap(), Vec::<usize>::new());
        assert_eq!(
            route_slot_for(&ping, &["PING"]).unwrap(),
            SlotRoute::Keyless
        );
        let spublish = meta(
            "SPUBLISH",
            3,
            &[spec(NOT_KEY, BeginSearch::Index(1), range(0, 1, 0))],
        );
        assert_eq!(
            keys(&spublish, "SPUBLISH ch msg").unwrap(),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn out_of_bounds_specs_are_errors_not_panics() {
        static WILD: &[KeySpec] = &[
            spec(RO, BeginSearch::Index(9), range(0, 1, 0)),
            spec(RO, BeginSearch::Index(-4), range(0, 1, 0)),
            spec(RO, keyword("K", i32::MAX), range(i32::MAX, 1, 0)),
            spec(RO, keyword("K", i32::MIN), range(i32::MIN, 1, 0)),
            spec(RO, BeginSearch::Index(1), range(-1, 0, 0)),
            spec(RO, BeginSearch::Index(1), range(-1, -1, 3)),
            spec(RO, BeginSearch::Index(1), keynum(i32::MAX, 1, 1)),
            spec(RO, BeginSearch::Index(1), keynum(i32::MIN, i32::MIN, 1)),
        ];
        for spec in WILD {
            let m = meta("X", -1, std::slice::from_ref(spec));
            for args in ["X", "X K", "X K a b", "X 4294967297 a b c"] {
                let _ = keys(&m, args);
            }
        }
        assert!(keys(&meta("X", -1, &WILD[..1]), "X a").is_err());
    }

    #[test]
    fn unknown_command_is_an_error() {
        let err = key_positions(&["NO-SUCH-COMMAND", "k"]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("NO-SUCH-COMMAND"), "{err}");
        assert!(key_positions(&[] as &[&[u8]]).is_err());
        assert!(route_slot(&["NO-SUCH-COMMAND"]).is_err());
    }

    #[test]
    fn routes_by_the_slots_of_all_keys() {
        let mset = meta(
            "MSET",
            -3,
            &[spec(RW, BeginSearch::Index(1), range(-1, 2, 0))],
        );
        let route = |args: &str| {
            let args: Vec<&str> = args.split(' ').collect();
            route_slot_for(&mset, &args).unwrap()
        };
        assert_eq!(route("MSET foo 1"), SlotRoute::Slot(12182));
        assert_eq!(route("MSET {u}a 1 {u}b 2"), SlotRoute::Slot(slot(b"u")));
        assert_eq!(
            route("MSET foo 1 bar 2"),
            SlotRoute::CrossSlot { first: 12182 }
        );
        assert_eq!(slot_route(&["a"], &[3]), SlotRoute::Keyless);
    }

    #[test]
    fn integers_are_read_as_the_server_reads_them() {
        assert_eq!(string_to_i64(b"0"), Some(0));
        assert_eq!(string_to_i64(b"-12"), Some(-12));
        assert_eq!(string_to_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string_to_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1x",
            b"9223372036854775808",
        ] {
            assert_eq!(string_to_i64(bad), None, "{bad:?}");
        }
        assert_eq!(atoi(b"  +42abc"), 42);
        assert_eq!(atoi(b"-7"), -7);
        assert_eq!(atoi(b"x1"), 0);
        assert_eq!(atoi(b"4294967297"), 1);
        assert_eq!(atoi(b"99999999999999999999999"), -1);
        assert_eq!(atoi(b"3\x005"), 3);
    }

    proptest::proptest! {
        #[test]
        fn any_spec_and_arguments_give_positions_in_range(
            index in -3i32..12,
            start_from in -12i32..12,
            last_key in -4i32..6,
            step in -1i32..4,
            limit in 0i32..4,
            count_at in -2i32..4,
            use_keyword in proptest::bool::ANY,
            use_keynum in proptest::bool::ANY,
            words in proptest::collection::vec(
                proptest::sample::select(vec!["K", "k", "2", "0", "-1", "a", "", "STORE", "x"]),
                0..10,
            ),
        ) {
            let begin = if use_keyword { keyword("K", start_from) } else { BeginSearch::Index(index) };
            let find = if use_keynum { keynum(count_at, 1, step) } else { range(last_key, step, limit) };
            let specs = [spec(RO, begin, find)];
            let mut args = vec!["X"];
            args.extend(words);
            for name in ["X", "SORT", "MIGRATE", "XREAD", "EVAL", "ZUNIONSTORE", "GEORADIUS"] {
                let m = meta(name, -1, &specs);
                args[0] = name;
                if let Ok(positions) = key_positions_for(&m, &args) {
                    proptest::prop_assert!(positions.iter().all(|&p| p >= 1 && p < args.len()));
                }
            }
        }
    }
}
