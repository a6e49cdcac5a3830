//! Generated builders report the same keys as the routing layer, and the server agrees. Every
//! builder invocation — each command's minimal one (`command_conformance/cases.rs`) and the
//! overlay's `key_examples` (the options that carry keys or move them) — is encoded, split back
//! into its argument vector, and checked:
//!
//! - `cmd::lookup` on the vector's name (and subcommand) finds the builder's own `meta()`;
//! - for a command with keys, `routing::key_positions` gives the positions of the keys the live
//!   server's `COMMAND GETKEYS` names (the invocations name their keys apart: `k`, `k2`, ...);
//! - for a command without keys, `key_positions` is empty, and the server says it has none;
//! - the keys the builder names without encoding (`cmd::CommandKeys`) are the arguments at
//!   `key_positions`, where it can tell them.

use bytes::Bytes;
use valkey::cmd::{self, BeginSearch, CommandFlags, CommandMeta, FindKeys};
use valkey::resp::FrameReader;
use valkey::sync::Connection;
use valkey::{routing, Cmd};

// Generated (and formatted) by `valkey-codegen`; rustfmt must not rewrite it.
#[rustfmt::skip]
#[path = "command_conformance/cases.rs"]
mod cases;

/// The argument vector an encoded command holds (a RESP array of bulk strings, nothing after).
fn split(encoded: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let frame = Bytes::copy_from_slice(encoded);
    let mut reader = FrameReader::new(&frame);
    let (type_byte, count) = reader.read_aggregate_header().map_err(|e| e.to_string())?;
    let count = count.filter(|_| type_byte == b'*').ok_or("not an array")?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        match reader.read_bulk_bytes().map_err(|e| e.to_string())? {
            Some(arg) => args.push(arg.to_vec()),
            None => return Err("a nil argument".into()),
        }
    }
    if !reader.is_at_end() {
        return Err("bytes after the array".into());
    }
    Ok(args)
}

/// Whether `COMMAND GETKEYS` finds keys in the command: a key spec that is not `NOT_KEY`, or keys
/// found by the server's own rule.
fn has_keys(meta: &CommandMeta) -> bool {
    meta.flags.contains(CommandFlags::MOVABLE_KEYS)
        || meta.key_specs.iter().any(|s| !s.flags.contains(&"NOT_KEY"))
}

/// Whether the command's keys move with its arguments: found after a keyword or by a count,
/// by the server's own rule, or with flags that depend on the options.
fn keys_move(meta: &CommandMeta) -> bool {
    meta.flags.contains(CommandFlags::MOVABLE_KEYS)
        || meta.key_specs.iter().any(|s| {
            !matches!(s.begin_search, BeginSearch::Index(_))
                || !matches!(s.find_keys, FindKeys::Range { .. })
                || s.flags.contains(&"INCOMPLETE")
                || s.flags.contains(&"VARIABLE_FLAGS")
        })
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The server's answer for `args`: the positions of the keys `COMMAND GETKEYS` names, `None` when
/// it refuses the vector. (Each key name must occur once in the vector, or the position it stands
/// for is ambiguous: an error.)
fn server_positions(con: &mut Connection, args: &[Vec<u8>]) -> Result<Option<Vec<usize>>, String> {
    let names: Vec<Vec<u8>> = match con.send_as(&Cmd::new("COMMAND").arg("GETKEYS").arg(args)) {
        Ok(names) => names,
        Err(e) if e.is_server_error() => return Ok(None),
        Err(e) => return Err(format!("COMMAND GETKEYS: {e}")),
    };
    names
        .iter()
        .map(|name| {
            let at: Vec<usize> = (1..args.len()).filter(|&i| args[i] == *name).collect();
            match at[..] {
                [p] => Ok(p),
                _ => Err(format!(
                    "the key {:?} is {} times in the vector: name keys apart",
                    String::from_utf8_lossy(name),
                    at.len()
                )),
            }
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// Builder vectors that `COMMAND GETKEYS` refuses although the server runs the command:
/// `PFMERGE destkey` without a source key (its second key spec starts past the end, which the
/// server's key-spec walk treats as invalid, and PFMERGE has no rule of its own). Routing follows
/// the server and refuses it too.
const REFUSED_BY_BOTH: &[&str] = &["PFMERGE k"];

#[derive(Default)]
struct Tally {
    keyed: std::collections::BTreeSet<&'static str>,
    keyless: std::collections::BTreeSet<&'static str>,
    vectors: usize,
    with_options: usize,
    /// Vectors whose builder named its keys without encoding, and those that could not tell.
    builder_keys: usize,
    encoded_keys: usize,
    refused_by_both: Vec<String>,
    failures: Vec<String>,
}

impl Tally {
    /// Checks one invocation of the command `name`.
    fn check(&mut self, con: &mut Connection, name: &'static str, encode: cases::Encode) {
        self.vectors += 1;
        let mut buf = Vec::new();
        let (own, builder_keys) = encode(&mut buf);
        let fail = |why: String| format!("{name}: {why}");
        let args = match split(&buf) {
            Ok(args) => args,
            Err(e) => return self.failures.push(fail(format!("encoding: {e}"))),
        };
        let shown = show(&args);
        let Some(own) = own else {
            return self.failures.push(fail("the builder has no meta()".into()));
        };
        let sub = args.get(1).map(Vec::as_slice);
        match cmd::lookup(&args[0], sub) {
            Some(found) if std::ptr::eq(found, own) => {}
            found => self.failures.push(fail(format!(
                "[{shown}]: lookup finds {:?}, the builder's meta() is {}",
                found.map(|m| m.name),
                own.name
            ))),
        }
        let ours = routing::key_positions(&args).map_err(|e| e.to_string());
        match (&builder_keys, &ours) {
            (None, _) => self.encoded_keys += 1,
            (Some(keys), Ok(positions)) => {
                self.builder_keys += 1;
                let at: Vec<Vec<u8>> = positions.iter().map(|&p| args[p].clone()).collect();
                if *keys != at {
                    self.failures.push(fail(format!(
                        "[{shown}]: the builder names the keys {:?}, key_positions {:?}",
                        show(keys),
                        show(&at)
                    )));
                }
            }
            (Some(keys), Err(_)) => {
                self.builder_keys += 1;
                if !REFUSED_BY_BOTH.contains(&shown.as_str()) {
                    self.failures.push(fail(format!(
                        "[{shown}]: the builder names the keys {:?}, key_positions refuses",
                        show(keys)
                    )));
                }
            }
        }
        if has_keys(own) {
            self.keyed.insert(name);
            let theirs = server_positions(con, &args);
            let agree = match (&ours, &theirs) {
                (Ok(ours), Ok(Some(theirs))) => ours == theirs,
                (Err(_), Ok(None)) => {
                    self.refused_by_both.push(shown.clone());
                    REFUSED_BY_BOTH.contains(&shown.as_str())
                }
                _ => false,
            };
            if !agree {
                self.failures.push(fail(format!(
                    "[{shown}]\n    key_positions: {ours:?}\n    COMMAND GETKEYS: {theirs:?}"
                )));
            }
        } else {
            self.keyless.insert(name);
            if ours != Ok(vec![]) {
                self.failures.push(fail(format!(
                    "[{shown}]: keyless, but key_positions gives {ours:?}"
                )));
            }
            match con.send_as::<_, Vec<Vec<u8>>>(&Cmd::new("COMMAND").arg("GETKEYS").arg(&args)) {
                Err(e) if e.to_string().contains("no key arguments") => {}
                other => self.failures.push(fail(format!(
                    "[{shown}]: keyless for us, but COMMAND GETKEYS gives {other:?}"
                ))),
            }
        }
    }
}

#[test]
fn builders_report_the_keys_the_server_finds() {
    let started = std::time::Instant::now();
    let server = valkey_tests::Server::valkey().unwrap();
    let mut con = Connection::open(format!(
        "{}?protocol=resp3&response_timeout=5",
        server.url()
    ))
    .unwrap();
    assert_eq!(
        cases::CASES.len(),
        cmd::commands().len(),
        "a case per command"
    );

    let mut t = Tally::default();
    for (name, _, _, _, _, encode) in cases::CASES.iter() {
        t.check(&mut con, name, *encode);
    }
    let mut examples_of = std::collections::BTreeSet::new();
    for (name, encode) in cases::KEY_EXAMPLES.iter() {
        t.check(&mut con, name, *encode);
        t.with_options += 1;
        examples_of.insert(*name);
    }
    println!(
        "builder keys: {} commands ({} with keys, {} without), {} vectors ({} minimal, {} with \
         key options over {} commands), refused by COMMAND GETKEYS and routing alike: {:?}; \
         keys named by the builder without encoding: {} vectors, from the encoding: {}; {:.1?}",
        t.keyed.len() + t.keyless.len(),
        t.keyed.len(),
        t.keyless.len(),
        t.vectors,
        cases::CASES.len(),
        t.with_options,
        examples_of.len(),
        t.refused_by_both,
        t.builder_keys,
        t.encoded_keys,
        started.elapsed()
    );
    assert!(
        t.failures.is_empty(),
        "{} of {} vectors disagree:\n{}",
        t.failures.len(),
        t.vectors,
        t.failures.join("\n")
    );
    assert_eq!(
        t.refused_by_both, REFUSED_BY_BOTH,
        "refused by both, as known"
    );
    // Every example is of a command with keys (the overlay checks it too), and every command
    // whose keys move with its arguments has examples.
    let keyless_examples: Vec<_> = examples_of.difference(&t.keyed).collect();
    assert!(keyless_examples.is_empty(), "{keyless_examples:?}");
    let movable: Vec<&str> = cmd::commands()
        .iter()
        .filter(|m| keys_move(m) && !examples_of.contains(m.name))
        .map(|m| m.name)
        .collect();
    assert!(
        movable.is_empty(),
        "movable keys without key_examples: {movable:?}"
    );
    assert!(
        t.keyed.len() >= 200,
        "only {} keyed commands",
        t.keyed.len()
    );
}
