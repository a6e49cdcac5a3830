//! `valkey::routing` against the server as the oracle: key positions of thousands of generated
//! argument vectors compared with `COMMAND GETKEYS`, and slots compared with `CLUSTER KEYSLOT`.
//!
//! The command metadata comes from the running server's `COMMAND INFO` and the argument vectors
//! from its `COMMAND DOCS`, so the test checks the routing algorithm on every keyed command the
//! server has; where the generated table (`valkey::cmd::lookup`) knows a command too, the test
//! checks that the table gives the same positions. The oracle queries (`COMMAND GETKEYS`,
//! `CLUSTER KEYSLOT`) go through the client under test; the metadata is read with the
//! harness's own RESP connection.

use std::collections::BTreeMap;
use valkey::cmd::{BeginSearch, CommandFlags, CommandMeta, FindKeys, KeySpec, Version};
use valkey::routing::{self, SlotRoute};
use valkey::sync::Connection;
use valkey::Cmd;
use valkey_tests::{Reply, RespConn, Server, ServerKind, ServerOptions};

/// A small deterministic random generator (splitmix64): the same seed, the same vectors.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn seed() -> u64 {
    std::env::var("ROUTING_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F00D)
}

fn text(reply: &Reply) -> String {
    reply.as_text().unwrap_or_default()
}

/// A RESP2 flat `[key, value, key, value, ...]` array as pairs.
fn pairs(reply: &Reply) -> Vec<(String, &Reply)> {
    reply
        .as_array()
        .unwrap_or_default()
        .chunks(2)
        .filter(|c| c.len() == 2)
        .map(|c| (text(&c[0]).to_ascii_lowercase(), &c[1]))
        .collect()
}

fn field<'a>(reply: &'a Reply, name: &str) -> Option<&'a Reply> {
    pairs(reply)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn int_field(reply: &Reply, name: &str) -> i32 {
    field(reply, name)
        .and_then(Reply::as_int)
        .unwrap_or_else(|| panic!("no integer {name} in {reply:?}")) as i32
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// One key spec from `COMMAND INFO`.
fn key_spec(reply: &Reply) -> KeySpec {
    let flags: Vec<&'static str> = field(reply, "flags")
        .and_then(Reply::as_array)
        .unwrap_or_default()
        .iter()
        .map(|f| leak(text(f).to_ascii_uppercase()))
        .collect();
    let begin = field(reply, "begin_search").unwrap();
    let begin_spec = field(begin, "spec").unwrap();
    let begin_search = match text(field(begin, "type").unwrap()).as_str() {
        "index" => BeginSearch::Index(int_field(begin_spec, "index")),
        "keyword" => BeginSearch::Keyword {
            keyword: leak(text(field(begin_spec, "keyword").unwrap())),
            start_from: int_field(begin_spec, "startfrom"),
        },
        _ => BeginSearch::Unknown,
    };
    let find = field(reply, "find_keys").unwrap();
    let find_spec = field(find, "spec").unwrap();
    let find_keys = match text(field(find, "type").unwrap()).as_str() {
        "range" => FindKeys::Range {
            last_key: int_field(find_spec, "lastkey"),
            step: int_field(find_spec, "keystep"),
            limit: int_field(find_spec, "limit"),
        },
        "keynum" => FindKeys::KeyNum {
            key_num_idx: int_field(find_spec, "keynumidx"),
            first_key: int_field(find_spec, "firstkey"),
            step: int_field(find_spec, "keystep"),
        },
        _ => FindKeys::Unknown,
    };
    KeySpec {
        flags: Box::leak(flags.into_boxed_slice()),
        begin_search,
        find_keys,
    }
}

/// Every command and subcommand of `COMMAND INFO`, as metadata keyed by lowercase `name` or
/// `container|sub`.
fn command_metas(con: &mut RespConn) -> BTreeMap<String, &'static CommandMeta> {
    fn add(entry: &Reply, out: &mut BTreeMap<String, &'static CommandMeta>) {
        let items = entry.as_array().unwrap();
        let full = text(&items[0]).to_ascii_lowercase();
        let mut flags = CommandFlags::default();
        for flag in items[2].as_array().unwrap() {
            let spec_name = text(flag)
                .to_ascii_uppercase()
                .replace("MOVABLEKEYS", "MOVABLE_KEYS");
            if let Some(f) = CommandFlags::from_spec_name(&spec_name) {
                flags = flags.union(f);
            }
        }
        let key_specs: Vec<KeySpec> = items
            .get(8)
            .and_then(Reply::as_array)
            .unwrap_or_default()
            .iter()
            .map(key_spec)
            .collect();
        let meta = CommandMeta {
            name: leak(full.replace('|', " ").to_ascii_uppercase()),
            group: "",
            since: Version::default(),
            arity: items[1].as_int().unwrap() as i32,
            flags,
            acl_categories: &[],
            tips: &[],
            key_specs: Box::leak(key_specs.into_boxed_slice()),
            args: &[],
            session: valkey::cmd::Session::None,
            blocking: None,
            redact: &[],
        };
        out.insert(full, Box::leak(Box::new(meta)));
        for sub in items.get(9).and_then(Reply::as_array).unwrap_or_default() {
            add(sub, out);
        }
    }
    let info = con.command_ok(&["COMMAND", "INFO"]).unwrap();
    let mut out = BTreeMap::new();
    for entry in info.as_array().unwrap() {
        add(entry, &mut out);
    }
    out
}

/// One argument of `COMMAND DOCS`.
#[derive(Debug)]
struct Arg {
    name: String,
    kind: String,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    multiple_token: bool,
    children: Vec<Arg>,
}

fn parse_arg(reply: &Reply) -> Arg {
    let flags: Vec<String> = field(reply, "flags")
        .and_then(Reply::as_array)
        .unwrap_or_default()
        .iter()
        .map(text)
        .collect();
    Arg {
        name: field(reply, "name").map(text).unwrap_or_default(),
        kind: field(reply, "type").map(text).unwrap_or_default(),
        token: field(reply, "token").map(text),
        optional: flags.iter().any(|f| f == "optional"),
        multiple: flags.iter().any(|f| f == "multiple"),
        multiple_token: flags.iter().any(|f| f == "multiple_token"),
        children: field(reply, "arguments")
            .and_then(Reply::as_array)
            .unwrap_or_default()
            .iter()
            .map(parse_arg)
            .collect(),
    }
}

/// Every command's and subcommand's argument tree from `COMMAND DOCS`, by lowercase
/// `name` or `container|sub`.
fn command_docs(con: &mut RespConn) -> BTreeMap<String, Vec<Arg>> {
    fn add(name: String, docs: &Reply, out: &mut BTreeMap<String, Vec<Arg>>) {
        let args = field(docs, "arguments")
            .and_then(Reply::as_array)
            .unwrap_or_default()
            .iter()
            .map(parse_arg)
            .collect();
        out.insert(name, args);
        if let Some(subs) = field(docs, "subcommands") {
            for (sub, docs) in pairs(subs) {
                add(sub, docs, out);
            }
        }
    }
    let docs = con.command_ok(&["COMMAND", "DOCS"]).unwrap();
    let mut out = BTreeMap::new();
    for (name, docs) in pairs(&docs) {
        add(name, docs, &mut out);
    }
    out
}

/// Key names that also read as keywords of some command, so the server's quirks get exercised.
const TRICKY_KEYS: &[&str] = &[
    "STORE", "STREAMS", "KEYS", "GET", "BY", "LIMIT", "store", "{t}", "{}", "", "a{b}c",
];
const WORDS: &[&str] = &[
    "x", "0", "1", "-1", "2", "STORE", "KEYS", "STREAMS", "GET", "*",
];

struct Generator {
    rng: Rng,
    next_key: u32,
}

impl Generator {
    fn key(&mut self) -> Vec<u8> {
        if self.rng.chance(10) {
            return self.rng.pick(TRICKY_KEYS).as_bytes().to_vec();
        }
        self.next_key += 1;
        match self.rng.below(3) {
            0 => format!("k{}", self.next_key),
            1 => format!("{{tag}}k{}", self.next_key),
            _ => format!("key:{}:{}", self.next_key, self.rng.below(1000)),
        }
        .into_bytes()
    }

    fn value(&mut self, arg: &Arg, out: &mut Vec<Vec<u8>>) {
        let word = |g: &mut Generator| g.rng.pick(WORDS).as_bytes().to_vec();
        match arg.kind.as_str() {
            "key" => out.push(self.key()),
            "integer" => out.push(self.rng.below(4).to_string().into_bytes()),
            "double" => out.push(b"1.5".to_vec()),
            "unix-time" => out.push(b"1700000000".to_vec()),
            "pure-token" => {}
            "oneof" => {
                if !arg.children.is_empty() {
                    let i = self.rng.below(arg.children.len());
                    self.arg(&arg.children[i], out);
                }
            }
            "block" => self.sequence(&arg.children, out),
            _ => out.push(if self.rng.chance(70) {
                format!("v{}", self.rng.below(100)).into_bytes()
            } else {
                word(self)
            }),
        }
    }

    /// Writes `arg` (maybe not, when optional; maybe repeated, when multiple) and returns how
    /// many times it was written.
    fn arg(&mut self, arg: &Arg, out: &mut Vec<Vec<u8>>) -> usize {
        if arg.optional && self.rng.chance(50) {
            return 0;
        }
        let times = if arg.multiple {
            1 + self.rng.below(3)
        } else {
            1
        };
        for i in 0..times {
            if let Some(token) = &arg.token {
                if i == 0 || arg.multiple_token || arg.kind == "pure-token" {
                    out.push(token.as_bytes().to_vec());
                }
            }
            self.value(arg, out);
        }
        times
    }

    /// Writes a sequence of arguments; a `num...` integer followed by a repeated argument gets
    /// the number of repetitions (mostly: sometimes a wrong count, to test the error paths).
    fn sequence(&mut self, args: &[Arg], out: &mut Vec<Vec<u8>>) {
        let mut i = 0;
        while i < args.len() {
            let arg = &args[i];
            let counted = args.get(i + 1).filter(|next| next.multiple);
            if let (true, Some(next)) = (
                arg.kind == "integer" && arg.name.starts_with("num") && !arg.optional,
                counted,
            ) {
                let mut items = Vec::new();
                let times = self.arg(next, &mut items);
                if let Some(token) = &arg.token {
                    out.push(token.as_bytes().to_vec());
                }
                let count = if self.rng.chance(10) {
                    self.rng.pick(&["0", "-1", "9", "02", "x"]).to_string()
                } else {
                    times.to_string()
                };
                out.push(count.into_bytes());
                out.extend(items);
                i += 2;
                continue;
            }
            self.arg(arg, out);
            i += 1;
        }
    }

    /// A full argument vector for `name` (`container|sub` for a subcommand).
    fn command(&mut self, name: &str, args: &[Arg]) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = name
            .split('|')
            .map(|w| {
                // Mixed case: command names and keywords are case-insensitive.
                if self.rng.chance(20) {
                    w.to_ascii_lowercase().into_bytes()
                } else {
                    w.to_ascii_uppercase().into_bytes()
                }
            })
            .collect();
        self.sequence(args, &mut out);
        // Now and then a vector cut short or with a stray argument, for the error paths.
        if self.rng.chance(5) && out.len() > 2 {
            let keep = 1 + self.rng.below(out.len() - 1);
            out.truncate(keep);
        } else if self.rng.chance(5) {
            out.push(self.rng.pick(WORDS).as_bytes().to_vec());
        }
        out
    }
}

fn has_keys(meta: &CommandMeta) -> bool {
    meta.flags.contains(CommandFlags::MOVABLE_KEYS)
        || meta.key_specs.iter().any(|s| !s.flags.contains(&"NOT_KEY"))
}

/// The server's `COMMAND GETKEYS` for `args`, asked through the client under test: the key
/// names, or the server's error message.
fn getkeys(client: &mut Connection, args: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, String> {
    let cmd = Cmd::new("COMMAND").arg("GETKEYS").arg(args);
    client.send_as(&cmd).map_err(|e| {
        assert!(e.is_server_error(), "COMMAND GETKEYS {}: {e}", show(args));
        e.to_string()
    })
}

fn show(args: &[Vec<u8>]) -> String {
    args.iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the comparison on `server` and returns (vectors checked, keyed commands covered).
fn compare_with_getkeys(server: &Server, per_command: usize) -> (usize, usize) {
    let mut con = server.raw().unwrap();
    let metas = command_metas(&mut con);
    let docs = command_docs(&mut con);
    let mut client = Connection::open(server.url().as_str()).unwrap();
    let mut generator = Generator {
        rng: Rng(seed()),
        next_key: 0,
    };

    let mut checked = 0;
    let mut server_errors = 0;
    let mut commands = 0;
    let mut with_table = 0;
    let mut mismatches = Vec::new();
    for (name, meta) in &metas {
        if !has_keys(meta) {
            // COMMAND GETKEYS refuses keyless commands; routing gives them no keys.
            let mut args: Vec<Vec<u8>> = name.split('|').map(|w| w.as_bytes().to_vec()).collect();
            let min = meta.arity.unsigned_abs() as usize;
            while args.len() < min {
                args.push(b"x".to_vec());
            }
            assert_eq!(
                routing::key_positions_for(meta, &args).unwrap(),
                Vec::<usize>::new(),
                "{name}"
            );
            continue;
        }
        let Some(arg_docs) = docs.get(name) else {
            panic!("COMMAND DOCS has no entry for {name}");
        };
        commands += 1;

        let vectors: Vec<Vec<Vec<u8>>> = (0..per_command)
            .map(|_| generator.command(name, arg_docs))
            .collect();
        for args in &vectors {
            checked += 1;
            let expected = getkeys(&mut client, args);
            if expected.is_err() {
                server_errors += 1;
            }
            let ours = routing::key_positions_for(meta, args).map(|positions| {
                positions
                    .iter()
                    .map(|&p| args[p].clone())
                    .collect::<Vec<_>>()
            });
            let agree = match (&expected, &ours) {
                (Ok(want), Ok(got)) => want == got,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            if !agree {
                mismatches.push(format!(
                    "{}\n    server: {:?}\n    ours:   {:?}",
                    show(args),
                    expected.map(|k| show(&k)),
                    ours.map(|k| show(&k)).map_err(|e| e.to_string()),
                ));
            }
            // The generated command table (dumped from Valkey), once it knows the command, must
            // route the same as Valkey's own COMMAND INFO. Redis 7.0's specs differ (e.g. no
            // ZRANK WITHSCORE, other key spec flags), so it is not compared there. A vector cut
            // short to a container's name (`OBJECT`) is the container, not the subcommand whose
            // COMMAND INFO it was made from: not compared either.
            let table_meta = match server.kind() {
                valkey_tests::ServerKind::Valkey => {
                    routing::command_meta(args).filter(|t| t.name == meta.name)
                }
                _ => None,
            };
            if let Some(table_meta) = table_meta {
                with_table += 1;
                let from_table = routing::key_positions(args).ok();
                let from_info = routing::key_positions_for(meta, args).ok();
                if from_table != from_info {
                    mismatches.push(format!(
                        "{}: the generated table ({}) gives {from_table:?}, COMMAND INFO gives {from_info:?}",
                        show(args),
                        table_meta.name
                    ));
                }
            }
        }
    }
    eprintln!(
        "{} {}: {checked} vectors ({server_errors} refused by the server) over {commands} keyed \
         commands ({with_table} also through the generated table), seed {}",
        server.kind().program(),
        server.version(),
        seed()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {checked} vectors disagree with COMMAND GETKEYS (seed {}):\n{}",
        mismatches.len(),
        seed(),
        mismatches
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Both paths are exercised: mostly valid vectors, and a fair number the server refuses.
    assert!(
        server_errors * 2 < checked,
        "{server_errors} of {checked} refused"
    );
    assert!(
        server_errors >= checked / 50,
        "only {server_errors} of {checked} refused"
    );
    (checked, commands)
}

/// Vectors aimed at the server's quirks (its own rules for SORT, MIGRATE, GEORADIUS, XREAD and
/// the numkeys commands; keywords as values; counts that only `atoi` reads).
const DIRECTED: &[&[&str]] = &[
    &[
        "SORT", "k", "BY", "w_*", "GET", "STORE", "STORE", "d", "STORE", "e",
    ],
    &["SORT", "k", "LIMIT", "0", "1", "STORE", "d"],
    &["sort", "k", "limit", "store", "x"],
    &["SORT", "k", "STORE"],
    &["SORT", "k", "STORE", "limit", "0", "1"],
    &["SORT_RO", "k", "BY", "x", "GET", "#"],
    &[
        "MIGRATE", "h", "1", "", "0", "5000", "COPY", "KEYS", "a", "b",
    ],
    &[
        "MIGRATE", "h", "1", "", "0", "5", "AUTH2", "KEYS", "KEYS", "KEYS", "a",
    ],
    &[
        "MIGRATE", "h", "1", "", "0", "5", "AUTH", "KEYS", "REPLACE", "KEYS", "a",
    ],
    &["MIGRATE", "h", "1", "k", "0", "5000", "KEYS", "a"],
    &["MIGRATE", "h", "1", "", "0", "5000", "KEYS"],
    &["MIGRATE", "h", "1", "", "0", "5000"],
    &[
        "GEORADIUS",
        "k",
        "0",
        "0",
        "1",
        "km",
        "STOREDIST",
        "d",
        "STORE",
        "e",
    ],
    &["GEORADIUS", "k", "0", "0", "1", "km", "STORE"],
    &["GEORADIUS", "k", "0", "0", "STORE", "km", "STORE", "d"],
    &["GEORADIUS", "k", "0", "0", "1", "km", "STORE\0x", "d"],
    &["GEORADIUSBYMEMBER", "k", "m", "1", "km", "STORE", "d"],
    &["GEORADIUS_RO", "k", "0", "0", "1", "km", "COUNT", "1"],
    &["XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"],
    &["XREAD", "STREAMS", "a", "b", "0"],
    &["XREAD", "STREAMS", "a"],
    &["XREAD", "COUNT", "STREAMS", "STREAMS", "a", "0"],
    &[
        "XREAD", "BLOCK", "0", "STREAMS", "STREAMS", "STREAMS", "0", "0",
    ],
    &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "a", "0"],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "STREAMS",
        "STREAMS",
        "a",
        "0",
        "0",
    ],
    &[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "NOACK",
        "STREAMS",
        "a",
        "b",
        "0",
        "0",
    ],
    &["ZUNIONSTORE", "d", "02", "a", "b"],
    &["ZUNIONSTORE", "d", "+2", "a", "b"],
    &["ZUNIONSTORE", "d", " 2", "a", "b"],
    &["ZUNIONSTORE", "d", "2", "a"],
    &["ZINTERSTORE", "d", "1", "a", "WEIGHTS", "2"],
    &["ZDIFF", "2", "a", "b", "WITHSCORES"],
    &["ZINTERCARD", "0", "a"],
    &["EVAL", "s", "0"],
    &["EVAL", "s", "-1"],
    &["EVAL", "s", "2", "a"],
    &["EVAL", "s", "2", "a", "b", "c"],
    &["FCALL_RO", "f", "1", "a"],
    &["LMPOP", "2", "a", "b", "LEFT"],
    &["BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "1"],
    &["BZMPOP", "0", "02", "a", "b", "MIN"],
    &["ZMPOP", "1", "a", "MIN"],
    &["SINTERCARD", "2", "a", "b", "LIMIT", "1"],
    &["SET", "k", "v", "GET"],
    &["BITFIELD", "k", "GET", "u8", "0"],
    &["MSET", "a", "1", "b"],
    &["MSETEX", "2", "a", "1", "b", "2", "EX", "10"],
    &["MSETEX", "3", "a", "1", "b", "2"],
    &["BLPOP", "a", "b", "0"],
    &["OBJECT", "ENCODING", "k"],
    &["XINFO", "STREAM", "k", "FULL"],
];

/// Vectors where Redis 7.0 differs from Valkey: it cuts a key count to a C int (4294967298 is
/// then 2 keys); Valkey finds the count out of bounds and falls back to its `atoi` rule.
const VALKEY_ONLY: &[&[&str]] = &[&["ZUNIONSTORE", "d", "4294967298", "a", "b"]];

#[test]
fn directed_vectors_agree_with_getkeys() {
    for server in [Server::valkey().unwrap(), Server::redis().unwrap()] {
        let metas = command_metas(&mut server.raw().unwrap());
        let mut client = Connection::open(server.url().as_str()).unwrap();
        let mut compared = 0;
        let valkey_only = if server.kind() == ServerKind::Valkey {
            VALKEY_ONLY
        } else {
            &[]
        };
        for args in DIRECTED.iter().chain(valkey_only) {
            let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
            let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
            let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
            let Some(meta) = metas.get(&format!("{name}|{sub}")).or(metas.get(&name)) else {
                continue; // Not in this server version (MSETEX is Valkey 9).
            };
            let expected = getkeys(&mut client, &args).ok();
            let ours = routing::key_positions_for(meta, &args)
                .ok()
                .map(|p| p.iter().map(|&i| args[i].clone()).collect::<Vec<_>>());
            assert_eq!(
                ours,
                expected,
                "{} on {}",
                show(&args),
                server.kind().program()
            );
            compared += 1;
        }
        assert!(compared >= DIRECTED.len() - 2, "{compared}");
    }
}

#[test]
fn key_positions_agree_with_valkey_getkeys() {
    let server = Server::valkey().unwrap();
    let (checked, commands) = compare_with_getkeys(&server, 24);
    assert!(commands >= 150, "only {commands} keyed commands");
    assert!(checked >= 2000, "only {checked} vectors");
}

#[test]
fn key_positions_agree_with_redis_getkeys() {
    let server = Server::redis().unwrap();
    let (checked, commands) = compare_with_getkeys(&server, 8);
    assert!(commands >= 100, "only {commands} keyed commands");
    assert!(checked >= 800, "only {checked} vectors");
}

#[test]
fn slots_agree_with_cluster_keyslot() {
    let server = ServerOptions::valkey().cluster_enabled().start().unwrap();
    let mut keys: Vec<Vec<u8>> = [
        "foo",
        "bar",
        "",
        "{user1000}.following",
        "{user1000}.followers",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "{}",
        "{",
        "}",
        "}{",
        "{}}",
        "{{}}",
        "a{b",
        "a}b{c}",
        "{a}",
        "{{a}",
        "x{\u{e9}t\u{e9}}y",
    ]
    .iter()
    .map(|k| k.as_bytes().to_vec())
    .collect();
    let mut rng = Rng(seed());
    for _ in 0..1000 {
        let len = rng.below(24);
        let key: Vec<u8> = (0..len)
            .map(|_| match rng.below(6) {
                0 => b'{',
                1 => b'}',
                _ => rng.next() as u8,
            })
            .collect();
        keys.push(key);
    }
    let mut client = Connection::open(server.url().as_str()).unwrap();
    for key in &keys {
        let server_slot: i64 = client
            .send_as(&Cmd::new("CLUSTER").arg("KEYSLOT").arg(key))
            .unwrap();
        assert_eq!(
            server_slot,
            i64::from(routing::slot(key)),
            "CLUSTER KEYSLOT {key:?}"
        );
    }
}

#[test]
fn route_slot_detects_cross_slot_like_the_server() {
    let server = ServerOptions::valkey().cluster_enabled().start().unwrap();
    let mut con = server.raw().unwrap();
    let metas = command_metas(&mut con);
    let mset = metas["mset"];
    // A single node owns no slot: ask about slots with CLUSTER KEYSLOT, crossing with MSET's keys.
    for (args, same) in [
        (vec!["MSET", "{a}1", "v", "{a}2", "v"], true),
        (vec!["MSET", "a1", "v", "a2", "v"], false),
    ] {
        let route = routing::route_slot_for(mset, &args).unwrap();
        let mut slot_of = |k: &str| {
            con.command_ok(&["CLUSTER", "KEYSLOT", k])
                .unwrap()
                .as_int()
                .unwrap() as u16
        };
        let first = slot_of(args[1]);
        let expected = if same {
            SlotRoute::Slot(first)
        } else {
            assert_ne!(first, slot_of(args[3]));
            SlotRoute::CrossSlot { first }
        };
        assert_eq!(route, expected, "{args:?}");
    }
}
