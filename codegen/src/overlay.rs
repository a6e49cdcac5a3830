//! Stage 3, overrides: the project's own file (`commands-json/_overlay.json`) for what the specs
//! cannot say: each command's reply type, options that change it, count arguments the builder
//! computes, nicer Rust names, argument kinds the spec gets wrong. Validated against the specs: an
//! entry naming a command or argument that does not exist is an error.

use crate::ir::{Command, Kind};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The whole overlay file.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// Free text for readers of the file.
    #[serde(default, rename = "$comment")]
    pub comment: Option<serde_json::Value>,
    /// Names of shared enums: the tokens of a required oneof of pure tokens, space-separated, to a
    /// Rust type name (`"LEFT RIGHT": "Side"`). Every command with that oneof uses the one type.
    #[serde(default)]
    pub enums: BTreeMap<String, String>,
    /// Per command (`"CLIENT KILL"`).
    #[serde(default)]
    pub commands: BTreeMap<String, CommandOverlay>,
    /// Commands whose reply type disagrees with Valkey's `reply_schema` (nil or not, kind of
    /// value) on purpose: command → why (checked by `valkey-codegen check-replies`).
    #[serde(default)]
    pub reply_schema_exceptions: BTreeMap<String, String>,
}

/// What the overlay says about one command.
#[derive(Deserialize, Debug, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct CommandOverlay {
    /// The Rust type the reply is read into: `()`, `i64`, `bool`, `f64`, `String`, `Value`,
    /// `Option<..>`, `Vec<..>`, or `T` for the caller's choice (user data).
    pub reply: String,
    /// What the reply is, in words, when the type alone does not say it.
    #[serde(default)]
    pub reply_doc: Option<String>,
    /// The RESP2 shape, where it differs from RESP3's.
    #[serde(default)]
    pub resp2: Option<String>,
    /// The RESP3 shape, where it differs from RESP2's.
    #[serde(default)]
    pub resp3: Option<String>,
    /// Options that change the reply type. When several are given, the later entry wins.
    #[serde(default)]
    pub reply_when: Vec<ReplyWhen>,
    /// Count arguments the builder computes: count argument path → counted argument path.
    #[serde(default)]
    pub counts: BTreeMap<String, String>,
    /// Rust names for arguments (parameters, methods, variants): path → snake_case name.
    #[serde(default)]
    pub names: BTreeMap<String, String>,
    /// Rust type names for the enums and structs generated for arguments (a oneof, a group):
    /// path → CamelCase name (`BitfieldWrite` rather than `BitfieldOperationWriteWriteOperation`).
    #[serde(default)]
    pub types: BTreeMap<String, String>,
    /// Argument kinds the spec gets wrong: path → `string`, `integer` or `double`.
    #[serde(default)]
    pub kinds: BTreeMap<String, String>,
    /// The version that added an argument, where the spec records it only in the command's
    /// history (ZRANK `WITHSCORE`: 7.2.0): path → version. The client then refuses the argument
    /// before sending to an older server.
    #[serde(default)]
    pub since: BTreeMap<String, String>,
    /// A Rust name for the constructor (default: the command path in snake_case).
    #[serde(default)]
    pub fn_name: Option<String>,
    /// For the conformance test: the builder to send instead of the one with plain values, as
    /// a Rust expression (`cmd::eval("return 1")`), when plain values are not valid.
    #[serde(default)]
    pub example: Option<String>,
    /// For the key test: more invocations, as Rust expressions, giving the options that carry
    /// keys or move them (`cmd::sort("k").limit(0, 1).store("k2")`). Only for a command with keys;
    /// each builds with this command's constructor. Keys are named apart (`k`, `k2`, ...) and
    /// no other argument reads like one of them, so that the test can tell where each key is.
    #[serde(default)]
    pub key_examples: Vec<String>,
    /// For the generated invocations (conformance and builder paths): argument path → the Rust
    /// expression to give that single value (`"\"0-1\""` for a stream ID), where a plain
    /// value (`"1"`, `1`) is invalid.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// For the builder-path test: argument path → the whole invocation that gives that option
    /// (or choice), as a Rust expression, where adding it to the minimal invocation is invalid.
    #[serde(default)]
    pub path_examples: BTreeMap<String, String>,
    /// What the command does to its own connection's session (see [`SESSION_CLASSES`]); absent:
    /// nothing. Shared connections refuse every class but none.
    #[serde(default)]
    pub session: Option<String>,
    /// Where a blocking command's server-side timeout is, so that the client gives it its own
    /// deadline (required for every command with the BLOCKING flag).
    #[serde(default)]
    pub blocking: Option<BlockingOverlay>,
    /// Options the server refuses together although the spec puts them in different groups
    /// (ZADD's `NX` with `GT`/`LT`): pairs of argument paths (a top-level optional argument, or
    /// one choice of one). Giving one makes the methods of the other unavailable.
    #[serde(default)]
    pub exclusive: Vec<[String; 2]>,
    /// Optional oneofs whose choices the server accepts in some combinations although the spec
    /// lists them as one choice (EXPIRE's `NX | XX | GT | LT`: `XX GT` is accepted): the oneof's
    /// path → its groups, each a snake_case name (the option's, for its type parameter and docs)
    /// and the spec names of its choices. Each group is then an option of its own (one choice
    /// per group); what the server still refuses across groups goes in `exclusive` (EXPIRE's
    /// `NX` with `GT`/`LT`).
    #[serde(default)]
    pub split: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// Repeated options whose values go one per element of a repeated constructor argument
    /// (ZUNION's `WEIGHTS`, one weight per key): option path → that argument's path. Arrays of
    /// different lengths do not compile; collections whose length is known only at run time
    /// are compared before sending (an `InvalidInput` error, nothing sent).
    #[serde(default)]
    pub same_length: BTreeMap<String, String>,
    /// Required top-level oneofs given by a method per choice (GEOSEARCH's `byradius(..)`,
    /// `bybox(..)`, `bypolygon(..)`) rather than by an enum parameter, so that what a choice
    /// needs or refuses is known when compiling (`needs`, `exclusive`). The command cannot be
    /// sent before one choice is given. Needs an `example`.
    #[serde(default)]
    pub oneof_methods: Vec<String>,
    /// Options that need another option given before them (GEOSEARCH's `BYRADIUS` needs
    /// `FROMMEMBER` or `FROMLONLAT`): option path → the option path it needs (a top-level
    /// option or a choice of one; for a oneof, any of its choices).
    #[serde(default)]
    pub needs: BTreeMap<String, String>,
    /// Options that need a repeated group to hold exactly one element (ZADD `INCR` takes one
    /// `score member`): option path → the repeated argument's path.
    #[serde(default)]
    pub one_element_with: BTreeMap<String, String>,
    /// Times: argument path → unit (`seconds`, `milliseconds`, `unix-seconds`,
    /// `unix-milliseconds`). The argument then also takes a `Duration` (or, for a Unix time, a
    /// `SystemTime`), converted to that unit.
    #[serde(default)]
    pub times: BTreeMap<String, String>,
    /// Required groups of two repeated values written column by column (XREAD's
    /// `STREAMS key [key ...] id [id ...]`), taken as one parameter of `(first, second)` pairs so
    /// that the two lists cannot differ in length: the group's path.
    #[serde(default)]
    pub pairs: Vec<String>,
    /// Arguments the builder's `Debug` hides (passwords).
    #[serde(default)]
    pub redact: Vec<RedactRule>,
    /// Why this entry says what it says, for readers of the file.
    #[serde(default)]
    pub note: Option<String>,
}

/// Where a blocking command's timeout is: at a fixed argument index (`at`, negative from the
/// end), or after a keyword found between argument `from` and the keyword `until`; in seconds
/// (`s`, may be fractional) or milliseconds (`ms`). Without `at` or `keyword` present in a
/// call, the command does not block.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BlockingOverlay {
    /// The timeout's argument index (1 = first after the command name; negative: from the end).
    #[serde(default)]
    pub at: Option<i32>,
    /// The token before the timeout (`BLOCK`), for commands that block only when it is given.
    #[serde(default)]
    pub keyword: Option<String>,
    /// With `keyword`: the argument index where the search starts.
    #[serde(default)]
    pub from: Option<u32>,
    /// With `keyword`: the token where the search stops (`STREAMS`: keys follow, and a key
    /// could read like the keyword).
    #[serde(default)]
    pub until: Option<String>,
    /// `s` or `ms`.
    pub unit: String,
}

/// The session classes a command can have, as the overlay spells them.
pub const SESSION_CLASSES: &[&str] = &[
    "pubsub",
    "monitor",
    "transaction",
    "watch",
    "db",
    "reply-mode",
    "connection",
    "next-command",
    "own-writes",
];

/// The units of the overlay's `times`.
pub const TIME_UNITS: &[&str] = &[
    "seconds",
    "milliseconds",
    "unix-seconds",
    "unix-milliseconds",
];

/// An argument a builder's `Debug` output hides.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
pub enum RedactRule {
    /// The argument `skip` places after `token` (a token of the command, or a value such as
    /// CONFIG SET's `requirepass`).
    After {
        /// The word before it.
        token: String,
        /// Arguments between the word and the secret.
        #[serde(default)]
        skip: usize,
    },
    /// The last argument.
    Last,
    /// Arguments starting with one of these.
    Prefixes(Vec<String>),
}

/// An option that changes the reply type.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReplyWhen {
    /// The optional argument (or optional oneof: any of its choices).
    pub arg: String,
    /// The reply type once it is given.
    pub reply: String,
}

/// The type names a reply may use (besides `T`, the caller's choice, and tuples/`()`).
pub const REPLY_TYPE_NAMES: &[&str] = &[
    "bool", "i64", "u64", "f64", "String", "Value", "Option", "Vec", "T", "Okay",
];

/// Parses the overlay file's text.
pub fn parse(text: &str) -> Result<Overlay, String> {
    serde_json::from_str(text).map_err(|e| format!("_overlay.json: {e}"))
}

/// Checks a reply type: it parses as a Rust type and names only known types.
pub fn check_reply_type(ty: &str) -> Result<syn::Type, String> {
    let parsed: syn::Type = syn::parse_str(ty).map_err(|e| format!("reply type {ty:?}: {e}"))?;
    let mut bad = None;
    check_idents(&parsed, &mut bad);
    match bad {
        Some(b) => Err(format!("reply type {ty:?}: unknown type {b}")),
        None => Ok(parsed),
    }
}

fn check_idents(ty: &syn::Type, bad: &mut Option<String>) {
    match ty {
        syn::Type::Tuple(t) => t.elems.iter().for_each(|e| check_idents(e, bad)),
        syn::Type::Path(p) if p.qself.is_none() && p.path.segments.len() == 1 => {
            let seg = &p.path.segments[0];
            let name = seg.ident.to_string();
            if !REPLY_TYPE_NAMES.contains(&name.as_str()) {
                *bad = Some(name);
            }
            if let syn::PathArguments::AngleBracketed(a) = &seg.arguments {
                for arg in &a.args {
                    match arg {
                        syn::GenericArgument::Type(t) => check_idents(t, bad),
                        _ => *bad = Some("a non-type generic argument".into()),
                    }
                }
            }
        }
        other => *bad = Some(quote::quote!(#other).to_string()),
    }
}

/// Whether a reply type uses the caller's `T`.
pub fn uses_t(ty: &str) -> bool {
    ty.split(|c: char| !c.is_alphanumeric() && c != '_')
        .any(|w| w == "T")
}

/// Validates the overlay against the commands. Returns the commands without an entry.
pub fn validate(overlay: &Overlay, cmds: &[Command]) -> Result<Vec<String>, String> {
    let by_name: BTreeMap<String, &Command> = cmds.iter().map(|c| (c.full_name(), c)).collect();
    let mut errors = vec![];
    for (name, o) in &overlay.commands {
        let Some(cmd) = by_name.get(name) else {
            errors.push(format!("{name}: no such command"));
            continue;
        };
        if let Err(e) = validate_command(o, cmd) {
            errors.push(format!("{name}: {e}"));
        }
    }
    for (name, why) in &overlay.reply_schema_exceptions {
        if !overlay.commands.contains_key(name) {
            errors.push(format!(
                "reply_schema_exceptions: {name}: no such command in the overlay"
            ));
        }
        if why.trim().is_empty() {
            errors.push(format!("reply_schema_exceptions: {name}: give the reason"));
        }
    }
    for (tokens, ty) in &overlay.enums {
        if syn::parse_str::<syn::Ident>(ty).is_err() {
            errors.push(format!("enums: {ty:?} is not a type name"));
        }
        let used = cmds.iter().flat_map(|c| c.all_args()).any(|a| {
            matches!(&a.kind, Kind::OneOf(v) if crate::ir::token_signature(v).as_deref() == Some(tokens.as_str()))
        });
        if !used {
            errors.push(format!("enums: no oneof has the tokens {tokens:?}"));
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("\n"));
    }
    Ok(cmds
        .iter()
        .map(Command::full_name)
        .filter(|n| !overlay.commands.contains_key(n))
        .collect())
}

fn validate_command(o: &CommandOverlay, cmd: &Command) -> Result<(), String> {
    check_reply_type(&o.reply)?;
    let arg = |path: &str| cmd.arg(path).ok_or_else(|| format!("no argument {path:?}"));
    for w in &o.reply_when {
        check_reply_type(&w.reply)?;
        let a = arg(&w.arg)?;
        // A top-level optional argument, or one choice of a top-level optional oneof.
        let top_optional = cmd.args.iter().any(|t| {
            t.optional
                && (t.path == a.path
                    || matches!(&t.kind, Kind::OneOf(c) if c.iter().any(|x| x.path == a.path)))
        });
        if !top_optional {
            return Err(format!(
                "reply_when {:?}: only a top-level optional argument (or a choice of one) can change the reply",
                w.arg
            ));
        }
    }
    if o.reply_when.len() > 2 {
        return Err("reply_when: at most two options can change the reply".into());
    }
    for (count, target) in &o.counts {
        let c = arg(count)?;
        let t = arg(target)?;
        if !matches!(c.kind, Kind::Integer) || c.optional || c.multiple {
            return Err(format!("counts: {count:?} is not a required integer"));
        }
        if !t.multiple {
            return Err(format!("counts: {target:?} is not repeated"));
        }
    }
    for (path, name) in &o.names {
        arg(path)?;
        if syn::parse_str::<syn::Ident>(name).is_err() || name.chars().any(|c| c.is_uppercase()) {
            return Err(format!("names: {name:?} is not a snake_case Rust name"));
        }
    }
    for (path, name) in &o.types {
        let a = arg(path)?;
        if !matches!(a.kind, Kind::OneOf(_) | Kind::Block(_)) {
            return Err(format!("types: {path:?} is not a oneof or a group"));
        }
        let camel_case = name.chars().next().is_some_and(char::is_uppercase) && !name.contains('_');
        if syn::parse_str::<syn::Ident>(name).is_err() || !camel_case {
            return Err(format!("types: {name:?} is not a CamelCase Rust type name"));
        }
    }
    for (path, kind) in &o.kinds {
        let a = arg(path)?;
        if !a.kind.is_leaf() {
            return Err(format!("kinds: {path:?} is not a single value"));
        }
        if !["string", "integer", "double"].contains(&kind.as_str()) {
            return Err(format!("kinds: unknown kind {kind:?}"));
        }
    }
    for (path, version) in &o.since {
        let a = arg(path)?;
        let v = crate::ir::Version::parse(version).map_err(|e| format!("since {path:?}: {e}"))?;
        if a.since.is_some() {
            return Err(format!("since: the spec already gives {path:?} a version"));
        }
        if v <= cmd.since {
            return Err(format!(
                "since: {path:?} at {v} is not newer than the command ({})",
                cmd.since
            ));
        }
    }
    if let Some(f) = &o.fn_name {
        if syn::parse_str::<syn::Ident>(f).is_err() {
            return Err(format!("fn_name: {f:?} is not a Rust name"));
        }
    }
    let fn_name = o
        .fn_name
        .clone()
        .unwrap_or_else(|| crate::names::snake(&cmd.full_name()));
    for (path, v) in &o.values {
        if !arg(path)?.kind.is_leaf() {
            return Err(format!("values: {path:?} is not a single value"));
        }
        syn::parse_str::<syn::Expr>(v).map_err(|err| format!("values {v:?}: {err}"))?;
    }
    for path in o.path_examples.keys() {
        arg(path)?;
    }
    for e in o
        .example
        .iter()
        .chain(&o.key_examples)
        .chain(o.path_examples.values())
    {
        let expr = syn::parse_str::<syn::Expr>(e).map_err(|err| format!("example {e:?}: {err}"))?;
        if constructor(&expr).as_deref() != Some(fn_name.as_str()) {
            return Err(format!(
                "example {e:?}: not an invocation of this command (`cmd::{fn_name}(..)`, then options)"
            ));
        }
    }
    if let Some(class) = &o.session {
        if !SESSION_CLASSES.contains(&class.as_str()) {
            return Err(format!(
                "session: unknown class {class:?}; known: {}",
                SESSION_CLASSES.join(", ")
            ));
        }
    }
    let flagged = cmd.flags.iter().any(|f| f == "BLOCKING");
    match (&o.blocking, flagged) {
        (None, true) => {
            return Err(
                "blocking: the command has the BLOCKING flag; say where its timeout is".into(),
            )
        }
        (Some(_), false) => return Err("blocking: the command has no BLOCKING flag".into()),
        (Some(b), true) => validate_blocking(b, cmd)?,
        (None, false) => {}
    }
    // An option that has its own slot: a top-level optional argument or a choice of one.
    let option_slot = |path: &str| -> Result<String, String> {
        let a = arg(path)?;
        cmd.args
            .iter()
            .find(|t| {
                t.optional
                    && (t.path == a.path
                        || matches!(&t.kind, Kind::OneOf(c) if c.iter().any(|x| x.path == a.path)))
            })
            .map(|t| t.path.clone())
            .ok_or_else(|| format!("{path:?} is not a top-level option (or a choice of one)"))
    };
    // A top-level required oneof given by methods (the overlay's `oneof_methods`), or a choice
    // of one.
    let method_choice = |path: &str| -> bool {
        o.oneof_methods.iter().any(|m| {
            path == m
                || path
                    .strip_prefix(m.as_str())
                    .is_some_and(|r| r.starts_with('/') && !r[1..].contains('/'))
        })
    };
    for (path, groups) in &o.split {
        let a = arg(path)?;
        let Kind::OneOf(choices) = &a.kind else {
            return Err(format!("split: {path:?} is not a oneof"));
        };
        if !a.optional || a.multiple || a.token.is_some() || a.path.contains('/') {
            return Err(format!(
                "split: {path:?} is not a top-level optional oneof without a token"
            ));
        }
        if groups.len() < 2 {
            return Err(format!("split: {path:?} needs two groups or more"));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, members) in groups {
            if syn::parse_str::<syn::Ident>(name).is_err() || name.chars().any(char::is_uppercase) {
                return Err(format!("split: {name:?} is not a snake_case Rust name"));
            }
            if members.is_empty() {
                return Err(format!("split: group {name:?} is empty"));
            }
            for m in members {
                if !choices.iter().any(|c| &c.name == m) {
                    return Err(format!("split: {path:?} has no choice {m:?}"));
                }
                if !seen.insert(m.as_str()) {
                    return Err(format!("split: {m:?} is in two groups"));
                }
            }
        }
        if seen.len() != choices.len() {
            return Err(format!(
                "split: every choice of {path:?} goes in exactly one group"
            ));
        }
    }
    // The group of a split oneof's choice (`condition/gt` → `comparison`).
    let split_group = |path: &str| -> Option<&String> {
        let (parent, choice) = path.rsplit_once('/')?;
        o.split
            .get(parent)?
            .iter()
            .find(|(_, members)| members.iter().any(|m| m == choice))
            .map(|(g, _)| g)
    };
    let slot_or_method = |path: &str| -> Result<String, String> {
        if method_choice(path) {
            arg(path)?;
            return Ok(path.split('/').next().unwrap_or(path).to_string());
        }
        option_slot(path)
    };
    for [a, b] in &o.exclusive {
        let (sa, sb) = (slot_or_method(a)?, slot_or_method(b)?);
        let split_apart = matches!((split_group(a), split_group(b)), (Some(x), Some(y)) if x != y);
        if sa == sb && !split_apart {
            return Err(format!(
                "exclusive: {a:?} and {b:?} are one option already (its choices exclude each other)"
            ));
        }
    }
    for path in &o.oneof_methods {
        let a = arg(path)?;
        if !matches!(a.kind, Kind::OneOf(_))
            || a.optional
            || a.multiple
            || a.token.is_some()
            || a.path.contains('/')
        {
            return Err(format!(
                "oneof_methods: {path:?} is not a required top-level oneof without a token"
            ));
        }
        if o.example.is_none() {
            return Err(format!(
                "oneof_methods: {path:?} is given by a method; give an `example` that chooses one"
            ));
        }
    }
    for (option, needed) in &o.needs {
        arg(option)?;
        if !method_choice(option) {
            option_slot(option)?;
        }
        option_slot(needed)?;
    }
    for (option, target) in &o.same_length {
        let a = arg(option)?;
        let t = arg(target)?;
        let top_optional = cmd.args.iter().any(|x| x.path == a.path && x.optional);
        if !top_optional || !a.multiple || a.multiple_token || !a.kind.is_leaf() {
            return Err(format!(
                "same_length: {option:?} is not a top-level repeated option of single values"
            ));
        }
        let top_required = cmd.args.iter().any(|x| x.path == t.path && !x.optional);
        if !top_required || !t.multiple || !t.kind.is_leaf() {
            return Err(format!(
                "same_length: {target:?} is not a required top-level repeated argument"
            ));
        }
    }
    for (option, group) in &o.one_element_with {
        option_slot(option)?;
        let g = arg(group)?;
        if !g.is_value_group() {
            return Err(format!(
                "one_element_with: {group:?} is not a repeated group of values"
            ));
        }
    }
    for path in &o.pairs {
        let a = arg(path)?;
        let ok = match &a.kind {
            Kind::Block(c) => {
                !a.optional
                    && !a.multiple
                    && c.len() == 2
                    && c.iter()
                        .all(|x| x.multiple && x.kind.is_leaf() && x.token.is_none())
            }
            _ => false,
        };
        if !ok {
            return Err(format!(
                "pairs: {path:?} is not a required group of two repeated values"
            ));
        }
    }
    for (path, unit) in &o.times {
        let a = arg(path)?;
        if a.multiple || !TIME_UNITS.contains(&unit.as_str()) {
            return Err(format!(
                "times: {path:?} is not one number or {unit:?} is not a unit"
            ));
        }
        let number = matches!(a.kind, Kind::Integer | Kind::UnixTime)
            || (a.kind == Kind::Double && unit == "seconds");
        if !number {
            return Err(format!("times: {path:?} is not a number of {unit}"));
        }
    }
    for r in &o.redact {
        match r {
            RedactRule::After { token, .. } => {
                let is_token = cmd
                    .all_args()
                    .iter()
                    .any(|a| a.token.as_deref() == Some(token.as_str()));
                let takes_values = cmd
                    .all_args()
                    .iter()
                    .any(|a| a.kind == Kind::String && a.token.is_none());
                if token.is_empty() || !(is_token || takes_values) {
                    return Err(format!(
                        "redact: {token:?} is neither a token of the command nor one of its values"
                    ));
                }
            }
            RedactRule::Last if cmd.args.is_empty() => {
                return Err("redact: the command has no arguments".into())
            }
            RedactRule::Prefixes(p) if p.is_empty() || p.iter().any(String::is_empty) => {
                return Err("redact: empty prefix".into())
            }
            _ => {}
        }
    }
    let has_keys = cmd
        .key_specs
        .iter()
        .any(|k| !k.flags.iter().any(|f| f == "NOT_KEY"));
    if !o.key_examples.is_empty() && !has_keys {
        return Err("key_examples: the command has no keys".into());
    }
    Ok(())
}

fn validate_blocking(b: &BlockingOverlay, cmd: &Command) -> Result<(), String> {
    if !["s", "ms"].contains(&b.unit.as_str()) {
        return Err(format!("blocking: unit {:?} is not s or ms", b.unit));
    }
    let tokens: Vec<&str> = cmd
        .all_args()
        .iter()
        .filter_map(|a| a.token.as_deref())
        .collect();
    match (b.at, &b.keyword) {
        (Some(0), None) => Err("blocking: `at` 0 is the command name".into()),
        (Some(_), None) => {
            if b.from.is_some() || b.until.is_some() {
                return Err("blocking: `from` and `until` go with `keyword`".into());
            }
            Ok(())
        }
        (None, Some(k)) => {
            for t in std::iter::once(k).chain(&b.until) {
                if !tokens.contains(&t.as_str()) {
                    return Err(format!("blocking: {t:?} is not a token of the command"));
                }
            }
            if b.from.unwrap_or(0) == 0 {
                return Err("blocking: `keyword` needs `from` (1 or more)".into());
            }
            Ok(())
        }
        _ => Err("blocking: give exactly one of `at` and `keyword`".into()),
    }
}

/// The constructor an example starts from: `acl_dryrun` for
/// `cmd::acl_dryrun("default", "get").args(["k"])`.
fn constructor(expr: &syn::Expr) -> Option<String> {
    match expr {
        syn::Expr::MethodCall(m) => constructor(&m.receiver),
        syn::Expr::Paren(p) => constructor(&p.expr),
        syn::Expr::Call(c) => match &*c.func {
            syn::Expr::Path(p)
                if p.path.segments.len() == 2 && p.path.segments[0].ident == "cmd" =>
            {
                Some(p.path.segments[1].ident.to_string())
            }
            _ => None,
        },
        _ => None,
    }
}

/// Applies the kind and version overrides to a command (the rest is read by the emitter).
pub fn apply(cmd: &mut Command, o: &CommandOverlay) {
    fn walk(args: &mut [crate::ir::Arg], o: &CommandOverlay) {
        for a in args {
            if let Some(k) = o.kinds.get(&a.path) {
                a.kind = match k.as_str() {
                    "integer" => Kind::Integer,
                    "double" => Kind::Double,
                    _ => Kind::String,
                };
            }
            if let Some(v) = o.since.get(&a.path) {
                // Validated already.
                a.since = crate::ir::Version::parse(v).ok();
            }
            if let Kind::OneOf(c) | Kind::Block(c) = &mut a.kind {
                walk(c, o);
            }
        }
    }
    walk(&mut cmd.args, o);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds() -> Vec<Command> {
        let text = r#"{"ZADD": {"group": "sorted-set", "since": "1.2.0", "summary": "s",
            "arity": -4, "arguments": [
              {"name": "key", "type": "key"},
              {"name": "incr", "type": "pure-token", "token": "INCR", "optional": true},
              {"name": "numkeys", "type": "integer"},
              {"name": "data", "type": "block", "multiple": true, "arguments": [
                 {"name": "score", "type": "integer"}, {"name": "member", "type": "string"}]}]}}"#;
        let (n, s) = crate::spec::parse_file("zadd.json", text).unwrap();
        vec![crate::ir::command("zadd.json", &n, &s).unwrap()]
    }

    fn one(entry: &str) -> Result<Vec<String>, String> {
        let o = parse(&format!(r#"{{"commands": {{"ZADD": {entry}}}}}"#))?;
        validate(&o, &cmds())
    }

    #[test]
    fn a_valid_entry_passes_and_missing_commands_are_reported() {
        assert_eq!(
            one(
                r#"{"reply": "i64", "reply_when": [{"arg": "incr", "reply": "Option<f64>"}],
                   "counts": {"numkeys": "data"}, "kinds": {"data/score": "double"}}"#
            ),
            Ok(vec![])
        );
        let o = parse(r#"{"commands": {}}"#).unwrap();
        assert_eq!(validate(&o, &cmds()).unwrap(), ["ZADD"]);
    }

    #[test]
    fn unknown_commands_and_arguments_are_errors() {
        let o = parse(r#"{"commands": {"ZADDD": {"reply": "i64"}}}"#).unwrap();
        assert!(validate(&o, &cmds())
            .unwrap_err()
            .contains("ZADDD: no such command"));
        let e = one(r#"{"reply": "i64", "names": {"scor": "x"}}"#).unwrap_err();
        assert!(e.contains("no argument \"scor\""), "{e}");
        let e = one(r#"{"reply": "i64", "reply_when": [{"arg": "key", "reply": "T"}]}"#);
        assert!(e.unwrap_err().contains("optional"));
        let e = one(r#"{"reply": "i64", "counts": {"key": "data"}}"#).unwrap_err();
        assert!(e.contains("not a required integer"), "{e}");
        let e = one(r#"{"reply": "i64", "colour": 1}"#).unwrap_err();
        assert!(e.contains("colour"), "{e}");
    }

    #[test]
    fn examples_must_invoke_their_own_command() {
        let ok = r#"{"reply": "i64", "example": "cmd::zadd(\"k\", 1, [(1, \"m\")])",
                     "key_examples": ["cmd::zadd(\"k\", 2, [(1, \"m\")]).incr()"]}"#;
        let mut keyed = cmds();
        let text = r#"{"flags": ["RW"], "begin_search": {"index": {"pos": 1}},
                       "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}"#;
        keyed[0].key_specs.push(serde_json::from_str(text).unwrap());
        let with = |entry: &str, cmds: &[Command]| {
            validate(
                &parse(&format!(r#"{{"commands": {{"ZADD": {entry}}}}}"#))?,
                cmds,
            )
        };
        assert_eq!(with(ok, &keyed), Ok(vec![]));
        let e = with(ok, &cmds()).unwrap_err();
        assert!(e.contains("key_examples: the command has no keys"), "{e}");
        let e = one(r#"{"reply": "i64", "example": "cmd::zrem(\"k\", [\"m\"])"}"#);
        assert!(e.unwrap_err().contains("not an invocation of this command"));
        let e = one(r#"{"reply": "i64", "example": "value(cmd::zadd(\"k\"))"}"#);
        assert!(e.unwrap_err().contains("not an invocation of this command"));
        let e = with(
            r#"{"reply": "i64", "key_examples": ["cmd::zadd(\"k\""]}"#,
            &keyed,
        );
        assert!(e.unwrap_err().contains("example"));
    }

    #[test]
    fn values_and_path_examples_name_arguments_of_the_command() {
        let ok = r#"{"reply": "i64", "values": {"data/score": "2.5"},
                     "path_examples": {"incr": "cmd::zadd(\"k\", [(1, \"m\")]).incr()"}}"#;
        assert_eq!(one(ok), Ok(vec![]));
        let e = one(r#"{"reply": "i64", "values": {"scor": "1"}}"#).unwrap_err();
        assert!(e.contains("no argument \"scor\""), "{e}");
        let e = one(r#"{"reply": "i64", "values": {"data": "1"}}"#).unwrap_err();
        assert!(e.contains("not a single value"), "{e}");
        let e = one(r#"{"reply": "i64", "values": {"key": "\"k"}}"#).unwrap_err();
        assert!(e.contains("values"), "{e}");
        let e =
            one(r#"{"reply": "i64", "path_examples": {"nx": "cmd::zadd(\"k\")"}}"#).unwrap_err();
        assert!(e.contains("no argument \"nx\""), "{e}");
        let e = one(r#"{"reply": "i64", "path_examples": {"incr": "cmd::zrem(\"k\")"}}"#);
        assert!(e.unwrap_err().contains("not an invocation of this command"));
    }

    #[test]
    fn reply_schema_exceptions_name_overlay_commands_and_say_why() {
        let check = |exceptions: &str| {
            let text = format!(
                r#"{{"commands": {{"ZADD": {{"reply": "i64"}}}}, "reply_schema_exceptions": {exceptions}}}"#
            );
            validate(&parse(&text).unwrap(), &cmds())
        };
        assert_eq!(check(r#"{"ZADD": "the schema is wrong"}"#), Ok(vec![]));
        let e = check(r#"{"ZADDD": "why"}"#).unwrap_err();
        assert!(e.contains("ZADDD: no such command"), "{e}");
        let e = check(r#"{"ZADD": " "}"#).unwrap_err();
        assert!(e.contains("give the reason"), "{e}");
    }

    #[test]
    fn exclusive_options_and_one_element_groups_are_checked() {
        let ok = r#"{"reply": "i64", "one_element_with": {"incr": "data"}}"#;
        assert_eq!(one(ok), Ok(vec![]));
        let e = one(r#"{"reply": "i64", "one_element_with": {"incr": "key"}}"#).unwrap_err();
        assert!(e.contains("not a repeated group"), "{e}");
        let e = one(r#"{"reply": "i64", "exclusive": [["incr", "key"]]}"#).unwrap_err();
        assert!(e.contains("not a top-level option"), "{e}");
        let e = one(r#"{"reply": "i64", "exclusive": [["incr", "incr"]]}"#).unwrap_err();
        assert!(e.contains("one option already"), "{e}");
    }

    #[test]
    fn split_oneofs_name_every_choice_once_and_allow_exclusions_across_groups() {
        let text = r#"{"EXPIRE": {"group": "generic", "since": "1.0.0", "summary": "s",
            "arity": -3, "arguments": [
              {"name": "key", "type": "key"},
              {"name": "condition", "type": "oneof", "optional": true, "arguments": [
                 {"name": "nx", "type": "pure-token", "token": "NX"},
                 {"name": "xx", "type": "pure-token", "token": "XX"},
                 {"name": "gt", "type": "pure-token", "token": "GT"},
                 {"name": "lt", "type": "pure-token", "token": "LT"}]}]}}"#;
        let (n, s) = crate::spec::parse_file("expire.json", text).unwrap();
        let cmds = vec![crate::ir::command("expire.json", &n, &s).unwrap()];
        let check = |entry: &str| {
            validate(
                &parse(&format!(r#"{{"commands": {{"EXPIRE": {entry}}}}}"#)).unwrap(),
                &cmds,
            )
        };
        let split =
            r#""split": {"condition": {"condition": ["nx", "xx"], "comparison": ["gt", "lt"]}}"#;
        let ok = format!(
            r#"{{"reply": "bool", {split}, "exclusive": [["condition/nx", "condition/gt"]]}}"#
        );
        assert_eq!(check(&ok), Ok(vec![]));
        // Without the split, two choices of one oneof are one option already.
        let e = check(r#"{"reply": "bool", "exclusive": [["condition/nx", "condition/gt"]]}"#);
        assert!(e.unwrap_err().contains("one option already"));
        let e =
            check(r#"{"reply": "bool", "split": {"condition": {"a": ["nx", "xx"], "b": ["gt"]}}}"#);
        assert!(e.unwrap_err().contains("exactly one group"));
        let e = check(
            r#"{"reply": "bool", "split": {"condition": {"a": ["nx", "xx", "gt"], "b": ["gt", "lt"]}}}"#,
        );
        assert!(e.unwrap_err().contains("in two groups"));
        let e = check(r#"{"reply": "bool", "split": {"key": {"a": ["x"], "b": ["y"]}}}"#);
        assert!(e.unwrap_err().contains("not a oneof"));
    }

    #[test]
    fn same_length_ties_an_option_to_a_required_repeated_argument() {
        let text = r#"{"ZUNION": {"group": "sorted-set", "since": "6.2.0", "summary": "s",
            "arity": -3, "arguments": [
              {"name": "numkeys", "type": "integer"},
              {"name": "key", "type": "key", "multiple": true},
              {"name": "weight", "type": "integer", "token": "WEIGHTS", "multiple": true,
               "optional": true}]}}"#;
        let (n, s) = crate::spec::parse_file("zunion.json", text).unwrap();
        let cmds = vec![crate::ir::command("zunion.json", &n, &s).unwrap()];
        let check = |entry: &str| {
            validate(
                &parse(&format!(r#"{{"commands": {{"ZUNION": {entry}}}}}"#)).unwrap(),
                &cmds,
            )
        };
        assert_eq!(
            check(r#"{"reply": "T", "same_length": {"weight": "key"}}"#),
            Ok(vec![])
        );
        let e = check(r#"{"reply": "T", "same_length": {"key": "weight"}}"#).unwrap_err();
        assert!(e.contains("not a top-level repeated option"), "{e}");
        let e = check(r#"{"reply": "T", "same_length": {"weight": "numkeys"}}"#).unwrap_err();
        assert!(e.contains("not a required top-level repeated"), "{e}");
    }

    #[test]
    fn oneof_methods_name_a_required_oneof_and_need_an_example() {
        let text = r#"{"GEOSEARCH": {"group": "geo", "since": "6.2.0", "summary": "s",
            "arity": -3, "arguments": [
              {"name": "key", "type": "key"},
              {"name": "from", "type": "oneof", "optional": true, "arguments": [
                 {"name": "member", "type": "string", "token": "FROMMEMBER"}]},
              {"name": "by", "type": "oneof", "arguments": [
                 {"name": "radius", "type": "double", "token": "BYRADIUS"},
                 {"name": "polygon", "type": "integer", "token": "BYPOLYGON"}]}]}}"#;
        let (n, s) = crate::spec::parse_file("geosearch.json", text).unwrap();
        let cmds = vec![crate::ir::command("geosearch.json", &n, &s).unwrap()];
        let check = |entry: &str| {
            validate(
                &parse(&format!(r#"{{"commands": {{"GEOSEARCH": {entry}}}}}"#)).unwrap(),
                &cmds,
            )
        };
        let ok = r#"{"reply": "T", "oneof_methods": ["by"], "needs": {"by/radius": "from"},
                     "exclusive": [["by/polygon", "from"]],
                     "example": "cmd::geosearch(\"k\").frommember(\"m\").radius(1.0)"}"#;
        assert_eq!(check(ok), Ok(vec![]));
        let e = check(r#"{"reply": "T", "oneof_methods": ["by"]}"#).unwrap_err();
        assert!(e.contains("give an `example`"), "{e}");
        let e = check(
            r#"{"reply": "T", "oneof_methods": ["from"], "example": "cmd::geosearch(\"k\")"}"#,
        )
        .unwrap_err();
        assert!(e.contains("not a required top-level oneof"), "{e}");
        let e = check(r#"{"reply": "T", "needs": {"by/radius": "key"}}"#).unwrap_err();
        assert!(e.contains("not a top-level option"), "{e}");
    }

    #[test]
    fn pairs_name_a_group_of_two_repeated_values() {
        let text = r#"{"XREAD": {"group": "stream", "since": "5.0.0", "summary": "s",
            "arity": -4, "arguments": [
              {"name": "streams", "type": "block", "token": "STREAMS", "arguments": [
                 {"name": "key", "type": "key", "multiple": true},
                 {"name": "id", "type": "string", "multiple": true}]},
              {"name": "count", "type": "integer", "token": "COUNT", "optional": true}]}}"#;
        let (n, s) = crate::spec::parse_file("xread.json", text).unwrap();
        let cmds = vec![crate::ir::command("xread.json", &n, &s).unwrap()];
        let check = |entry: &str| {
            validate(
                &parse(&format!(r#"{{"commands": {{"XREAD": {entry}}}}}"#)).unwrap(),
                &cmds,
            )
        };
        assert_eq!(check(r#"{"reply": "T", "pairs": ["streams"]}"#), Ok(vec![]));
        let e = check(r#"{"reply": "T", "pairs": ["count"]}"#).unwrap_err();
        assert!(
            e.contains("not a required group of two repeated values"),
            "{e}"
        );
    }

    #[test]
    fn type_names_are_camel_case_and_name_a_oneof_or_group() {
        let ok = r#"{"reply": "i64", "types": {"data": "ScoredMember"}}"#;
        assert_eq!(one(ok), Ok(vec![]));
        let e = one(r#"{"reply": "i64", "types": {"data": "scored_member"}}"#).unwrap_err();
        assert!(e.contains("not a CamelCase"), "{e}");
        let e = one(r#"{"reply": "i64", "types": {"key": "Key"}}"#).unwrap_err();
        assert!(e.contains("not a oneof or a group"), "{e}");
    }

    #[test]
    fn times_name_numbers_and_units() {
        assert_eq!(
            one(r#"{"reply": "i64", "times": {"numkeys": "seconds"}}"#),
            Ok(vec![])
        );
        let e = one(r#"{"reply": "i64", "times": {"numkeys": "fortnights"}}"#).unwrap_err();
        assert!(e.contains("not a unit"), "{e}");
        let e = one(r#"{"reply": "i64", "times": {"key": "seconds"}}"#).unwrap_err();
        assert!(e.contains("not a number"), "{e}");
    }

    #[test]
    fn reply_types_are_checked() {
        assert!(check_reply_type("Option<Vec<(T, f64)>>").is_ok());
        assert!(check_reply_type("HashMap<String, i64>").is_err());
        assert!(check_reply_type("Vec<").is_err());
        assert!(uses_t("Option<T>") && !uses_t("Option<Tx>") && !uses_t("i64"));
    }

    #[test]
    fn kind_overrides_apply() {
        let mut c = cmds().remove(0);
        let o =
            parse(r#"{"commands": {"ZADD": {"reply": "i64", "kinds": {"data/score": "double"}}}}"#)
                .unwrap();
        apply(&mut c, &o.commands["ZADD"]);
        assert_eq!(c.arg("data/score").unwrap().kind, Kind::Double);
        let o = parse(r#"{"commands": {"ZADD": {"reply": "i64", "since": {"incr": "3.0.2"}}}}"#)
            .unwrap();
        assert_eq!(validate(&o, &cmds()), Ok(vec![]));
        apply(&mut c, &o.commands["ZADD"]);
        assert_eq!(
            c.arg("incr").unwrap().since,
            Some(crate::ir::Version(3, 0, 2))
        );
        let e = one(r#"{"reply": "i64", "since": {"incr": "1.0.0"}}"#).unwrap_err();
        assert!(e.contains("not newer than the command"), "{e}");
    }
}
