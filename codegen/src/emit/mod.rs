//! Stages 4 and 5, emit and format: every command's builder, enums and metadata as Rust (with
//! `quote`), one file per command group plus the module that ties them together and the lookup
//! table, each formatted with `prettyplease`.

mod builder;
mod conformance;
pub mod docs;
mod owned;
mod paths;
mod rust;

use crate::ir::{Command, Version};
use crate::names::snake;
use crate::overlay::{self, CommandOverlay, Overlay, RedactRule};
use crate::shape;
use crate::spec::{self, BeginSearch, FindKeys, SpecSet};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Spec flag names and the `CommandFlags` constants they map to.
const FLAGS: &[(&str, &str)] = &[
    ("WRITE", "WRITE"),
    ("READONLY", "READONLY"),
    ("DENYOOM", "DENYOOM"),
    ("ADMIN", "ADMIN"),
    ("PUBSUB", "PUBSUB"),
    ("NOSCRIPT", "NOSCRIPT"),
    ("BLOCKING", "BLOCKING"),
    ("LOADING", "LOADING"),
    ("STALE", "STALE"),
    ("SKIP_MONITOR", "SKIP_MONITOR"),
    ("SKIP_SLOWLOG", "SKIP_SLOWLOG"),
    ("FAST", "FAST"),
    ("NO_AUTH", "NO_AUTH"),
    ("MAY_REPLICATE", "MAY_REPLICATE"),
    ("SENTINEL", "SENTINEL"),
    ("ONLY_SENTINEL", "ONLY_SENTINEL"),
    ("NO_MULTI", "NO_MULTI"),
    ("MOVABLEKEYS", "MOVABLE_KEYS"),
    ("ALLOW_BUSY", "ALLOW_BUSY"),
    ("NO_MANDATORY_KEYS", "NO_MANDATORY_KEYS"),
    ("NO_ASYNC_LOADING", "NO_ASYNC_LOADING"),
    ("TOUCHES_ARBITRARY_KEYS", "TOUCHES_ARBITRARY_KEYS"),
    ("MODULE", "MODULE"),
    ("ASKING", "ASKING"),
    ("SKIP_COMMANDLOG", "SKIP_COMMANDLOG"),
];

/// Where the builders go, relative to the workspace root.
pub const GENERATED_DIR: &str = "valkey/src/cmd/generated";
/// Where the conformance cases go, relative to the workspace root.
pub const CASES_FILE: &str = "tests/tests/command_conformance/cases.rs";
/// Where the builder paths go, relative to the workspace root.
pub const PATHS_FILE: &str = "tests/tests/command_paths/cases.rs";

/// The result of a generation run.
#[derive(Debug)]
pub struct Generated {
    /// Path relative to the workspace root (`valkey/src/cmd/generated/string.rs`) → text.
    pub files: BTreeMap<String, String>,
    /// Commands the overlay has no entry for (their reply is `Value`).
    pub missing_overlay: Vec<String>,
    /// How many builders were emitted.
    pub builders: usize,
    /// How many commands the specs hold.
    pub commands: usize,
    /// How many builder paths the path test sends.
    pub paths: usize,
}

/// Reads `commands-json/` (specs and overlay) and generates the code.
pub fn generate_dir(dir: &Path) -> Result<Generated, String> {
    let set = spec::read_dir(dir)?;
    let overlay_text = std::fs::read_to_string(dir.join("_overlay.json"))
        .map_err(|e| format!("_overlay.json: {e}"))?;
    generate(&set, &overlay::parse(&overlay_text)?)
}

fn version_expr(v: Version) -> TokenStream {
    let (a, b, c) = (
        Literal::u16_unsuffixed(v.0),
        Literal::u16_unsuffixed(v.1),
        Literal::u16_unsuffixed(v.2),
    );
    quote!(Version::new(#a, #b, #c))
}

fn meta_item(cmd: &Command, o: &CommandOverlay, b: &shape::Builder) -> Result<TokenStream, String> {
    let id = builder::meta_ident(b);
    let name = cmd.full_name();
    let group = &cmd.group;
    let since = version_expr(cmd.since);
    let arity = Literal::i32_unsuffixed(cmd.arity);
    let mut flags = quote!(CommandFlags(0));
    for f in &cmd.flags {
        let (_, c) = FLAGS
            .iter()
            .find(|(s, _)| s == f)
            .ok_or_else(|| format!("{name}: unknown command flag {f}; add it to CommandFlags"))?;
        let c = format_ident!("{}", c);
        flags = quote!(#flags.union(CommandFlags::#c));
    }
    let redact = o.redact.iter().map(|r| match r {
        RedactRule::After { token, skip } => {
            let skip = Literal::usize_unsuffixed(*skip);
            quote!(Redact::After(#token, #skip))
        }
        RedactRule::Last => quote!(Redact::Last),
        RedactRule::Prefixes(p) => quote!(Redact::Prefixed(&[#(#p),*])),
    });
    let acl = cmd
        .acl_categories
        .iter()
        .map(|c| format!("@{}", c.to_lowercase()));
    let tips = cmd.tips.iter().map(|t| t.to_lowercase());
    let key_specs = cmd.key_specs.iter().map(|k| {
        let flags = k.flags.iter();
        let begin = match &k.begin_search {
            BeginSearch::Index { pos } => {
                let pos = Literal::i32_unsuffixed(*pos);
                quote!(BeginSearch::Index(#pos))
            }
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = Literal::i32_unsuffixed(*startfrom);
                quote!(BeginSearch::Keyword { keyword: #keyword, start_from: #startfrom })
            }
            BeginSearch::Unknown(()) => quote!(BeginSearch::Unknown),
        };
        let find = match &k.find_keys {
            FindKeys::Range {
                lastkey,
                step,
                limit,
            } => {
                let [l, s, m] = [*lastkey, *step, *limit].map(Literal::i32_unsuffixed);
                quote!(FindKeys::Range { last_key: #l, step: #s, limit: #m })
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                step,
            } => {
                let [k, f, s] = [*keynumidx, *firstkey, *step].map(Literal::i32_unsuffixed);
                quote!(FindKeys::KeyNum { key_num_idx: #k, first_key: #f, step: #s })
            }
            FindKeys::Unknown(()) => quote!(FindKeys::Unknown),
        };
        quote!(KeySpec { flags: &[#(#flags),*], begin_search: #begin, find_keys: #find })
    });
    let args = cmd.all_args().into_iter().filter_map(|a| {
        let since = a.since?;
        let n = &a.name;
        let tok = match &a.token {
            Some(t) => quote!(Some(#t)),
            None => quote!(None),
        };
        let v = version_expr(since);
        Some(quote!(ArgMeta { name: #n, token: #tok, since: Some(#v) }))
    });
    let session = format_ident!(
        "{}",
        match o.session.as_deref() {
            None => "None",
            Some("pubsub") => "PubSub",
            Some("monitor") => "Monitor",
            Some("transaction") => "Transaction",
            Some("watch") => "Watch",
            Some("db") => "Database",
            Some("reply-mode") => "ReplyMode",
            Some("connection") => "Connection",
            Some("next-command") => "NextCommand",
            Some("own-writes") => "OwnWrites",
            Some(other) => return Err(format!("{name}: unknown session class {other:?}")),
        }
    );
    let blocking = match &o.blocking {
        None => quote!(None),
        Some(bl) => {
            let unit = if bl.unit == "ms" {
                quote!(TimeUnit::Milliseconds)
            } else {
                quote!(TimeUnit::Seconds)
            };
            match (bl.at, &bl.keyword) {
                (Some(at), _) => {
                    let at = Literal::i32_unsuffixed(at);
                    quote!(Some(BlockingRule::At { index: #at, unit: #unit }))
                }
                (None, Some(k)) => {
                    let from = Literal::u32_unsuffixed(bl.from.unwrap_or(1));
                    let until = match &bl.until {
                        Some(u) => quote!(Some(#u)),
                        None => quote!(None),
                    };
                    quote!(Some(BlockingRule::After { keyword: #k, from: #from, until: #until, unit: #unit }))
                }
                (None, None) => {
                    return Err(format!("{name}: blocking rule without `at` or `keyword`"))
                }
            }
        }
    };
    let doc = format!(" Metadata of `{name}`.");
    Ok(quote! {
        #[doc = #doc]
        pub(crate) static #id: CommandMeta = CommandMeta {
            name: #name,
            group: #group,
            since: #since,
            arity: #arity,
            flags: #flags,
            acl_categories: &[#(#acl),*],
            tips: &[#(#tips),*],
            key_specs: &[#(#key_specs),*],
            args: &[#(#args),*],
            session: Session::#session,
            blocking: #blocking,
            redact: &[#(#redact),*],
        };
    })
}

const PRELUDE: &str = "\
use crate::cmd::parts::{
    if_newer, newer, same_length, write_count, IntoMillis, IntoSeconds, IntoSecondsF64, IntoUnixMillis, IntoUnixSeconds, Base, Block, Chosen, Combinable, EachArg, EachTok, Elements, Filled, Given, OneElement, Pairs, Present, Raise, Reply, SameLength, Sole, Tok, Tokened, Unfilled, Unset, Unzip, L1, L2,
};
use crate::cmd::parts as shape;
use crate::cmd::{check_arity, fmt_command, one_key, part_keys, ArgMeta, CommandKeys, Pick, BeginSearch, BlockingRule, Command, CommandFlags, CommandMeta, FindKeys, KeySpec, Redact, Session, TimeUnit, Version};
use crate::convert::{ArgWriter, FromValkey, ToValkeyArg, ToValkeyArgs};
use crate::value::Value;
use bytes::Bytes;
use std::fmt;
use std::marker::PhantomData;
";

fn format_file(header: &str, prelude: &str, items: TokenStream) -> Result<String, String> {
    let file: syn::File =
        syn::parse2(items).map_err(|e| format!("generated code does not parse: {e}"))?;
    let body = prettyplease::unparse(&file);
    Ok(format!("{header}\n{prelude}\n{body}"))
}

fn header(what: &str) -> String {
    format!(
        "//! {what}\n//!\n//! Generated by `cargo run -p valkey-codegen -- generate` from `commands-json/`. Do not edit:\n//! change the specs or `commands-json/_overlay.json` and regenerate.\n#![allow(unused_imports, clippy::type_complexity)]\n"
    )
}

/// Generates every file from the specs and the overlay.
pub fn generate(set: &SpecSet, overlay: &Overlay) -> Result<Generated, String> {
    let mut cmds = crate::ir::normalize(set)?;
    let missing_overlay = overlay::validate(overlay, &cmds)?;
    let fallback = CommandOverlay {
        reply: "Value".into(),
        ..Default::default()
    };
    for c in &mut cmds {
        if let Some(o) = overlay.commands.get(&c.full_name()) {
            overlay::apply(c, o);
        }
    }

    let mut by_group: BTreeMap<String, Vec<TokenStream>> = BTreeMap::new();
    let mut exports: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut shared_items = vec![];
    let mut shared_names = vec![];
    let mut defined = BTreeSet::new();
    let mut table: Vec<(Vec<String>, String, syn::Ident)> = vec![];
    let mut errors = vec![];
    let mut builders = 0;
    let mut cases = vec![];
    let mut path_cases = vec![];
    let mut key_examples = vec![];
    let mut doc_examples = vec![];
    for cmd in &cmds {
        let ov = overlay.commands.get(&cmd.full_name());
        let o = ov.unwrap_or(&fallback);
        let b = match shape::builder(cmd, o, &overlay.enums) {
            Ok(b) => b,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let module = snake(&cmd.group);
        let items = by_group.entry(module.clone()).or_default();
        let (fns, types) = exports.entry(module.clone()).or_default();
        for ow in &b.owned {
            let Some(arg) = cmd.arg(&ow.arg_path) else {
                continue;
            };
            let mut ctx = owned::OwnedCtx {
                counts: &o.counts,
                names: &o.names,
                types: &o.types,
                enums: &overlay.enums,
                defined: &mut defined,
            };
            if ow.shared {
                let before = shared_items.len();
                owned::define(&mut ctx, &ow.name, arg, &mut shared_items);
                if shared_items.len() > before {
                    shared_names.push(ow.name.clone());
                }
            } else {
                let before: BTreeSet<String> = ctx.defined.clone();
                let mut v = vec![];
                owned::define(&mut ctx, &ow.name, arg, &mut v);
                for item in &v {
                    if let Err(e) = syn::parse2::<syn::File>(item.clone()) {
                        return Err(format!(
                            "{}: generated {} does not parse: {e}\n{item}",
                            cmd.full_name(),
                            ow.name
                        ));
                    }
                }
                // The type and any nested ones it defined.
                fns.extend(ctx.defined.difference(&before).cloned());
                items.extend(v);
            }
        }
        let start = items.len();
        items.push(meta_item(cmd, o, &b)?);
        let example = conformance::example_statement(cmd, o, &b, &overlay.enums);
        items.push(
            builder::items(cmd, ov, &b, &docs::example(&example))
                .map_err(|e| format!("{}: {e}", cmd.full_name()))?,
        );
        doc_examples.push(example);
        // Checked per command, so that an emitter bug names the command it broke.
        for item in &items[start..] {
            if let Err(e) = syn::parse2::<syn::File>(item.clone()) {
                return Err(format!(
                    "{}: generated code does not parse: {e}\n{item}",
                    cmd.full_name()
                ));
            }
        }
        cases.push(conformance::case(cmd, o, &b, &overlay.enums));
        path_cases.extend(paths::cases(cmd, o, &b, &overlay.enums));
        key_examples.extend(conformance::key_examples(cmd, o, &b));
        fns.push(b.fn_name.clone());
        types.push(b.type_name.clone());
        table.push((cmd.path.clone(), module, builder::meta_ident(&b)));
        builders += 1;
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }

    let mut files = BTreeMap::new();
    let shared_prelude = "use super::shared::*;\n";
    for (module, items) in by_group {
        let text = format_file(
            &header(&format!("Commands of the `{module}` group.")),
            &format!("{PRELUDE}{shared_prelude}"),
            quote!(#(#items)*),
        )?;
        files.insert(format!("{GENERATED_DIR}/{module}.rs"), text);
    }
    files.insert(
        format!("{GENERATED_DIR}/shared.rs"),
        format_file(
            &header("Enums several commands share (named in the overlay's `enums`)."),
            PRELUDE,
            quote!(#(#shared_items)*),
        )?,
    );
    let _ = shared_names;
    files.insert(
        format!("{GENERATED_DIR}/mod.rs"),
        mod_file(&exports, &mut table)?,
    );
    files.insert(
        CASES_FILE.into(),
        format_file(
            "//! One minimal invocation per command, for `command_conformance.rs` (sent) and\n//! `builder_keys.rs` (encoded), and the overlay's `key_examples`, for `builder_keys.rs`.\n//!\n//! Generated by `cargo run -p valkey-codegen -- generate`. Do not edit.\n// Each of the two tests uses its part.\n#![allow(dead_code)]",
            "",
            conformance::file(cases, key_examples, doc_examples),
        )?,
    );
    let n_paths = path_cases.len();
    files.insert(
        PATHS_FILE.into(),
        format_file(
            "//! Every builder path of every command (the minimal invocation, then one option or\n//! choice more each), for `command_paths.rs`.\n//!\n//! Generated by `cargo run -p valkey-codegen -- generate`. Do not edit.",
            "",
            paths::file(path_cases),
        )?,
    );
    Ok(Generated {
        paths: n_paths,
        files,
        missing_overlay,
        builders,
        commands: cmds.len(),
    })
}

fn mod_file(
    exports: &BTreeMap<String, (Vec<String>, Vec<String>)>,
    table: &mut [(Vec<String>, String, syn::Ident)],
) -> Result<String, String> {
    let modules: Vec<_> = exports.keys().map(|m| format_ident!("{}", m)).collect();
    let fn_uses = exports.iter().map(|(m, (fns, _))| {
        let m = format_ident!("{}", m);
        let fns = fns.iter().map(|f| format_ident!("{}", f));
        quote!(pub use self::#m::{#(#fns),*};)
    });
    let type_uses = exports.iter().map(|(m, (_, types))| {
        let m = format_ident!("{}", m);
        let types = types.iter().map(|f| format_ident!("{}", f));
        quote!(pub use super::#m::{#(#types),*};)
    });
    // Lookup table: top-level commands sorted by name, each with its subcommands sorted.
    table.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tops = vec![];
    let mut all = vec![];
    for (path, module, id) in table.iter() {
        let m = format_ident!("{}", module);
        all.push(quote!(&#m::#id));
        if path.len() == 1 {
            let subs = table
                .iter()
                .filter(|(p, _, _)| p.len() == 2 && p[0] == path[0])
                .map(|(p, sm, sid)| {
                    let sm = format_ident!("{}", sm);
                    let n = &p[1];
                    quote!((#n, &#sm::#sid))
                });
            let n = &path[0];
            tops.push(quote!((#n, &#m::#id, &[#(#subs),*])));
        }
    }
    let n_tops = Literal::usize_unsuffixed(tops.len());
    let n_all = Literal::usize_unsuffixed(all.len());
    // The group modules are public (reachable as `cmd::string`, ...): rustdoc indexes the doc
    // aliases (`ZADD`, `CLIENT KILL`, `client|kill`) only of items whose own module is public.
    let items = quote! {
        #(pub mod #modules;)*
        mod shared;

        pub use self::shared::*;
        #(#fn_uses)*

        /// The builder types: one per command, returned by the functions of [`cmd`](crate::cmd).
        /// Their methods give the command's options.
        pub mod builders {
            #(#type_uses)*
        }

        /// Every top-level command (uppercase, sorted), its metadata, and its subcommands
        /// (uppercase, sorted).
        pub(crate) static COMMANDS: [(&str, &CommandMeta, &[(&str, &CommandMeta)]); #n_tops] = [#(#tops),*];

        /// Every command's and subcommand's metadata, sorted by name.
        pub(crate) static ALL: [&CommandMeta; #n_all] = [#(#all),*];
    };
    format_file(
        &header("Every generated command builder, and the table `cmd::lookup` searches."),
        "use crate::cmd::CommandMeta;\n",
        items,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (SpecSet, Overlay) {
        let mut set = SpecSet::default();
        for (file, text) in [
            (
                "set.json",
                r#"{"SET": {"group": "string", "since": "1.0.0", "summary": "Sets.", "arity": -3,
                    "command_flags": ["WRITE", "DENYOOM"], "acl_categories": ["WRITE"],
                    "key_specs": [{"flags": ["RW"], "begin_search": {"index": {"pos": 1}},
                                   "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
                    "arguments": [{"name": "key", "type": "key", "key_spec_index": 0},
                                  {"name": "value", "type": "string"},
                                  {"name": "nx", "type": "pure-token", "token": "NX",
                                   "optional": true, "since": "2.6.12"}]}}"#,
            ),
            (
                "client.json",
                r#"{"CLIENT": {"group": "connection", "since": "2.4.0", "summary": "C.", "arity": -2}}"#,
            ),
            (
                "client-id.json",
                r#"{"ID": {"container": "CLIENT", "group": "connection", "since": "5.0.0",
                    "summary": "Id.", "arity": 2}}"#,
            ),
        ] {
            set.files
                .insert(file.into(), spec::parse_file(file, text).unwrap());
        }
        let overlay = overlay::parse(
            r#"{"commands": {"SET": {"reply": "()", "reply_when": [{"arg": "nx", "reply": "Option<()>"}]},
                             "CLIENT": {"reply": "Value"}, "CLIENT ID": {"reply": "i64"}}}"#,
        )
        .unwrap();
        (set, overlay)
    }

    #[test]
    fn emits_one_builder_per_command_grouped_with_a_lookup_table() {
        let (set, overlay) = tiny();
        let g = generate(&set, &overlay).unwrap();
        assert_eq!((g.builders, g.commands), (3, 3));
        assert!(g.missing_overlay.is_empty());
        let string = &g.files[&format!("{GENERATED_DIR}/string.rs")];
        assert!(string.contains("pub fn set<Key: ToValkeyArg, ValueArg: ToValkeyArg>("));
        assert!(string.contains("pub(crate) static SET: CommandMeta"));
        assert!(string
            .contains("CommandFlags(0).union(CommandFlags::WRITE).union(CommandFlags::DENYOOM)"));
        assert!(
            string.contains("min_version: newer(self.min_version, Some(Version::new(2, 6, 12)))")
        );
        let conn = &g.files[&format!("{GENERATED_DIR}/connection.rs")];
        assert!(conn.contains("pub fn client_id() -> ClientId"));
        assert!(conn.contains("out.write_bytes(b\"CLIENT\");"));
        let m = &g.files[&format!("{GENERATED_DIR}/mod.rs")];
        assert!(
            m.contains("(\"CLIENT\", &connection::CLIENT, &[(\"ID\", &connection::CLIENT_ID)])")
        );
        // Every file is valid Rust.
        for (name, text) in &g.files {
            syn::parse_file(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    fn one_command(text: &str, overlay: &str) -> Generated {
        let mut set = SpecSet::default();
        set.files
            .insert("x.json".into(), spec::parse_file("x.json", text).unwrap());
        generate(&set, &overlay::parse(overlay).unwrap()).unwrap()
    }

    #[test]
    fn a_count_with_a_token_writes_the_token() {
        // GEOSEARCH's `BYPOLYGON num-vertices lon lat ...`, inside a oneof and at the top level.
        let g = one_command(
            r#"{"GS": {"group": "geo", "since": "6.2.0", "summary": "S.", "arity": -3,
                "arguments": [{"name": "by", "type": "oneof", "arguments": [
                  {"name": "radius", "type": "double", "token": "BYRADIUS"},
                  {"name": "polygon", "type": "block", "since": "9.0.0", "arguments": [
                    {"name": "num-vertices", "type": "integer", "token": "BYPOLYGON"},
                    {"name": "vertices", "type": "block", "multiple": true, "arguments": [
                      {"name": "lon", "type": "double"}, {"name": "lat", "type": "double"}]}]}]},
                  {"name": "n", "type": "integer", "token": "NUM"},
                  {"name": "item", "type": "string", "multiple": true}]}}"#,
            r#"{"commands": {"GS": {"reply": "i64", "counts": {
                "by/polygon/num-vertices": "by/polygon/vertices", "n": "item"}}}}"#,
        );
        let geo = &g.files[&format!("{GENERATED_DIR}/geo.rs")];
        assert!(
            geo.contains(
                "out.write_bytes(b\"BYPOLYGON\");\n                out.write(&vertices.len());"
            ),
            "{geo}"
        );
        assert!(geo.contains("2usize + vertices.iter()"), "{geo}");
        assert!(
            geo.contains(
                "out.write_bytes(b\"NUM\");\n        write_count(out, self.item.num_args(), 1);"
            ),
            "{geo}"
        );
        assert!(geo.contains("Self::Polygon { vertices } => Some(Version::new(9, 0, 0)),"));
        assert!(geo.contains("let min_version = if_newer(Version::new(6, 2, 0), by.since());"));
    }

    #[test]
    fn choices_nested_in_choices_count_for_the_version() {
        // CLIENT KILL's `filter` → `new-format` (repeated oneof) → `MAXAGE` (8.0).
        let g = one_command(
            r#"{"KILL": {"group": "connection", "since": "2.4.0", "summary": "K.", "arity": -3,
                "arguments": [{"name": "filter", "type": "oneof", "arguments": [
                  {"name": "old", "type": "string"},
                  {"name": "new", "type": "oneof", "multiple": true, "arguments": [
                    {"name": "id", "type": "integer", "token": "ID"},
                    {"name": "maxage", "type": "integer", "token": "MAXAGE", "since": "8.0.0"},
                    {"name": "skipme", "type": "oneof", "token": "SKIPME", "since": "2.8.12",
                     "arguments": [{"name": "yes", "type": "pure-token", "token": "YES"},
                                   {"name": "no", "type": "pure-token", "token": "NO"}]}]}]},
                  {"name": "opt", "type": "oneof", "optional": true, "arguments": [
                    {"name": "a", "type": "pure-token", "token": "A"},
                    {"name": "b", "type": "block", "token": "B", "arguments": [
                      {"name": "x", "type": "integer"},
                      {"name": "y", "type": "pure-token", "token": "Y", "optional": true,
                       "since": "7.0.0"}]}]}]}}"#,
            r#"{"commands": {"KILL": {"reply": "i64"}}}"#,
        );
        let flat = |s: &str| s.split_whitespace().collect::<String>();
        let c = flat(&g.files[&format!("{GENERATED_DIR}/connection.rs")]);
        for want in [
            "Self::New(x) => x.iter().fold(None, |acc, e| newer(acc, e.since())),",
            "Self::Maxage(x) => Some(Version::new(8, 0, 0)),",
            "let min_version = if_newer(Version::new(2, 4, 0), filter.since());",
            // A method whose value holds a versioned part.
            "if *y { Some(Version::new(7, 0, 0)) } else { None }",
            "let min_version = newer(self.min_version, if_newer(Version::new(2, 4, 0), b.since()),);",
        ] {
            assert!(c.contains(&flat(want)), "{want}\n{c}");
        }
    }

    #[test]
    fn an_unknown_flag_is_an_error() {
        let (mut set, overlay) = tiny();
        let (_, spec) = set.files.get_mut("set.json").unwrap();
        spec.command_flags.push("SPARKLY".into());
        let e = generate(&set, &overlay).unwrap_err();
        assert!(e.contains("unknown command flag SPARKLY"), "{e}");
    }
}
