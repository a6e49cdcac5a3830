//! Stage 2, normalize: the specs as the generator needs them. A command is a path (`CLIENT KILL`)
//! with parsed versions and an argument tree whose kinds are an enum; everything the schema leaves
//! implicit (a pure token without a token, a oneof without choices) is rejected here.

use crate::spec::{self, ArgType, CommandSpec, SpecSet};
use std::fmt;

/// A version `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(pub u16, pub u16, pub u16);

impl Version {
    /// Parses `7.2.4` (missing parts are 0).
    pub fn parse(s: &str) -> Result<Version, String> {
        let mut it = s.trim().split('.');
        let mut next = |req: bool| -> Result<u16, String> {
            match it.next() {
                Some(p) => p.parse().map_err(|_| format!("bad version {s:?}")),
                None if req => Err(format!("bad version {s:?}")),
                None => Ok(0),
            }
        };
        let v = Version(next(true)?, next(false)?, next(false)?);
        if it.next().is_some() {
            return Err(format!("bad version {s:?}"));
        }
        Ok(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// What an argument is.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// A key name.
    Key,
    /// A string.
    String,
    /// A glob-style pattern.
    Pattern,
    /// An integer.
    Integer,
    /// A double.
    Double,
    /// A Unix timestamp (an integer).
    UnixTime,
    /// A token alone.
    PureToken,
    /// Exactly one of the nested arguments.
    OneOf(Vec<Arg>),
    /// All of the nested arguments, in order.
    Block(Vec<Arg>),
}

impl Kind {
    /// The nested arguments of a oneof or block.
    pub fn children(&self) -> &[Arg] {
        match self {
            Kind::OneOf(c) | Kind::Block(c) => c,
            _ => &[],
        }
    }
    /// A single value (not a token, oneof or block).
    pub fn is_leaf(&self) -> bool {
        !matches!(self, Kind::PureToken | Kind::OneOf(_) | Kind::Block(_))
    }
}

/// One argument.
#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// Its name in the spec.
    pub name: String,
    /// Its path from the command's top level, names joined by `/` (`expiration/seconds`).
    pub path: String,
    /// What it is.
    pub kind: Kind,
    /// The token written before it (or, for a pure token, the token itself).
    pub token: Option<String>,
    /// How the documentation shows it.
    pub display: String,
    /// May be left out.
    pub optional: bool,
    /// May be repeated.
    pub multiple: bool,
    /// When repeated, the token is repeated too.
    pub multiple_token: bool,
    /// The version that added it.
    pub since: Option<Version>,
    /// The version that deprecated it.
    pub deprecated_since: Option<Version>,
    /// A short description.
    pub summary: Option<String>,
    /// For a key: the index of its key spec.
    pub key_spec_index: Option<usize>,
}

/// One command or subcommand.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// `["CLIENT", "KILL"]`, `["GET"]`.
    pub path: Vec<String>,
    /// The spec file it came from.
    pub file: String,
    /// One-line description.
    pub summary: String,
    /// Complexity, as prose.
    pub complexity: Option<String>,
    /// Group.
    pub group: String,
    /// The version that added it.
    pub since: Version,
    /// Arity (negative: at least).
    pub arity: i32,
    /// `(version, change)`.
    pub history: Vec<(String, String)>,
    /// Documentation flags (`DEPRECATED`, `SYSCMD`).
    pub doc_flags: Vec<String>,
    /// The version that deprecated it.
    pub deprecated_since: Option<Version>,
    /// Its replacement, when deprecated.
    pub replaced_by: Option<String>,
    /// Command flags, uppercase.
    pub flags: Vec<String>,
    /// ACL categories, uppercase, without `@`.
    pub acl_categories: Vec<String>,
    /// Tips, uppercase.
    pub tips: Vec<String>,
    /// Key specs.
    pub key_specs: Vec<spec::KeySpec>,
    /// Arguments.
    pub args: Vec<Arg>,
    /// Names of its subcommands, for a container (`KILL`, `LIST`, ... for `CLIENT`).
    pub subcommands: Vec<String>,
}

/// The token list of a oneof whose choices are all pure tokens (`"LEFT RIGHT"`), else `None`.
pub fn token_signature(choices: &[Arg]) -> Option<String> {
    choices
        .iter()
        .map(|c| match (&c.kind, &c.token, c.optional || c.multiple) {
            (Kind::PureToken, Some(t), false) => Some(t.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(|v| v.join(" "))
}

impl Arg {
    /// Whether a repeated block's elements can be plain tuples: only values, no tokens, nothing
    /// optional or nested. (Other blocks get a generated struct that writes their tokens.)
    pub fn is_plain_block(&self) -> bool {
        match &self.kind {
            Kind::Block(children) => children
                .iter()
                .all(|c| c.kind.is_leaf() && c.token.is_none() && !c.optional && !c.multiple),
            _ => true,
        }
    }

    /// Whether it is a repeated plain group of two or more values (ZADD's `score member`),
    /// whose elements are tuples.
    pub fn is_value_group(&self) -> bool {
        self.multiple && self.is_plain_block() && self.kind.children().len() >= 2
    }

    /// Whether it or anything nested in it records the version that added it.
    pub fn has_since(&self) -> bool {
        self.since.is_some() || self.kind.children().iter().any(Arg::has_since)
    }
}

impl Command {
    /// `CLIENT KILL`.
    pub fn full_name(&self) -> String {
        self.path.join(" ")
    }
    /// Whether this command only holds subcommands.
    pub fn is_container(&self) -> bool {
        !self.subcommands.is_empty()
    }
    /// Whether the documentation marks it deprecated.
    pub fn is_deprecated(&self) -> bool {
        self.doc_flags.iter().any(|f| f == "DEPRECATED")
    }
    /// Every argument, depth first, in spec order.
    pub fn all_args(&self) -> Vec<&Arg> {
        fn walk<'a>(args: &'a [Arg], out: &mut Vec<&'a Arg>) {
            for a in args {
                out.push(a);
                walk(a.kind.children(), out);
            }
        }
        let mut out = vec![];
        walk(&self.args, &mut out);
        out
    }
    /// The argument at `path` (`expiration/seconds`).
    pub fn arg(&self, path: &str) -> Option<&Arg> {
        self.all_args().into_iter().find(|a| a.path == path)
    }
}

fn version(s: &Option<String>, what: &str) -> Result<Option<Version>, String> {
    s.as_deref()
        .map(Version::parse)
        .transpose()
        .map_err(|e| format!("{what}: {e}"))
}

fn arg(a: &spec::Arg, parent: &str, what: &str) -> Result<Arg, String> {
    let path = if parent.is_empty() {
        a.name.clone()
    } else {
        format!("{parent}/{}", a.name)
    };
    let what_arg = format!("{what} argument {path}");
    let children = |args: &[spec::Arg]| -> Result<Vec<Arg>, String> {
        if args.is_empty() {
            return Err(format!("{what_arg}: a {:?} needs nested arguments", a.kind));
        }
        let mut names = std::collections::BTreeSet::new();
        for c in args {
            if !names.insert(c.name.as_str()) {
                return Err(format!("{what_arg}: two nested arguments named {}", c.name));
            }
        }
        args.iter().map(|c| arg(c, &path, what)).collect()
    };
    let kind = match a.kind {
        ArgType::Key => Kind::Key,
        ArgType::String => Kind::String,
        ArgType::Pattern => Kind::Pattern,
        ArgType::Integer => Kind::Integer,
        ArgType::Double => Kind::Double,
        ArgType::UnixTime => Kind::UnixTime,
        ArgType::PureToken => Kind::PureToken,
        ArgType::Oneof => Kind::OneOf(children(&a.arguments)?),
        ArgType::Block => Kind::Block(children(&a.arguments)?),
    };
    if !matches!(kind, Kind::OneOf(_) | Kind::Block(_)) && !a.arguments.is_empty() {
        return Err(format!(
            "{what_arg}: only a oneof or block has nested arguments"
        ));
    }
    if kind == Kind::PureToken && a.token.is_none() {
        return Err(format!("{what_arg}: a pure token without a token"));
    }
    if a.multiple_token && !a.multiple {
        return Err(format!("{what_arg}: multiple_token without multiple"));
    }
    // Valkey 9.1 reports a key_spec_index on some non-key arguments too (numkeys, the oneof of
    // BITOP): kept as the server says, and not used for anything but keys.
    Ok(Arg {
        name: a.name.clone(),
        path,
        kind,
        token: a.token.clone(),
        display: a.display.clone().unwrap_or_else(|| a.name.clone()),
        optional: a.optional,
        multiple: a.multiple,
        multiple_token: a.multiple_token,
        since: version(&a.since, &what_arg)?,
        deprecated_since: version(&a.deprecated_since, &what_arg)?,
        summary: a.summary.clone(),
        key_spec_index: a.key_spec_index,
    })
}

/// Normalizes one spec.
pub fn command(file: &str, name: &str, s: &CommandSpec) -> Result<Command, String> {
    let mut path = vec![];
    if let Some(c) = &s.container {
        path.push(c.to_uppercase());
    }
    path.push(name.to_uppercase());
    let what = path.join(" ");
    let args = s
        .arguments
        .iter()
        .map(|a| arg(a, "", &what))
        .collect::<Result<Vec<_>, _>>()?;
    let mut names = std::collections::BTreeSet::new();
    for a in &args {
        if !names.insert(a.name.as_str()) {
            return Err(format!("{what}: two arguments named {}", a.name));
        }
    }
    let cmd = Command {
        file: file.to_owned(),
        summary: s
            .summary
            .clone()
            .ok_or_else(|| format!("{what}: no summary"))?,
        complexity: s.complexity.clone(),
        group: s.group.clone(),
        since: version(&s.since, &what)?.ok_or_else(|| format!("{what}: no since"))?,
        arity: s.arity,
        history: s.history.clone(),
        doc_flags: s.doc_flags.clone(),
        deprecated_since: version(&s.deprecated_since, &what)?,
        replaced_by: s.replaced_by.clone(),
        flags: s.command_flags.clone(),
        acl_categories: s.acl_categories.clone(),
        tips: s.command_tips.clone(),
        key_specs: s.key_specs.clone(),
        args,
        subcommands: vec![],
        path,
    };
    for a in cmd.all_args() {
        if let Some(i) = a.key_spec_index {
            if i >= cmd.key_specs.len() {
                return Err(format!(
                    "{what}: {} names key spec {i}, which is missing",
                    a.path
                ));
            }
        }
    }
    Ok(cmd)
}

/// Normalizes every spec; the result is sorted by path, each container followed by its
/// subcommands.
pub fn normalize(set: &SpecSet) -> Result<Vec<Command>, String> {
    let mut cmds = set
        .files
        .iter()
        .map(|(file, (name, spec))| command(file, name, spec))
        .collect::<Result<Vec<_>, _>>()?;
    cmds.sort_by(|a, b| a.path.cmp(&b.path));
    for i in 0..cmds.len() {
        if cmds[i].path.len() == 2 {
            let parent = cmds[i].path[0].clone();
            let sub = cmds[i].path[1].clone();
            let p = cmds
                .iter_mut()
                .find(|c| c.path == [parent.clone()])
                .ok_or_else(|| format!("{parent} {sub}: no container command {parent}"))?;
            p.subcommands.push(sub);
        }
    }
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Command, String> {
        let (name, spec) = spec::parse_file("t.json", text)?;
        command("t.json", &name, &spec)
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("6.2").unwrap(), Version(6, 2, 0));
        assert!(Version::parse("6.2.0") < Version::parse("6.10.0"));
        assert!(Version::parse("x").is_err());
        assert!(Version::parse("1.2.3.4").is_err());
    }

    #[test]
    fn nested_arguments_get_paths() {
        let c = parse(
            r#"{"KILL": {"container": "CLIENT", "group": "connection", "since": "2.4.0",
                "summary": "s", "arity": -3, "arguments": [{"name": "filter", "type": "oneof",
                "arguments": [{"name": "old-format", "type": "string", "display": "ip:port"},
                              {"name": "id", "type": "integer", "token": "ID",
                               "since": "2.8.12"}]}]}}"#,
        )
        .unwrap();
        assert_eq!(c.full_name(), "CLIENT KILL");
        let id = c.arg("filter/id").unwrap();
        assert_eq!(id.kind, Kind::Integer);
        assert_eq!(id.since, Some(Version(2, 8, 12)));
        assert_eq!(c.arg("filter/old-format").unwrap().display, "ip:port");
    }

    #[test]
    fn malformed_trees_are_rejected() {
        let base = |args: &str| {
            format!(
                r#"{{"X": {{"group": "g", "since": "1.0.0", "summary": "s", "arity": 1,
                    "arguments": {args}}}}}"#
            )
        };
        let no_token = parse(&base(r#"[{"name": "a", "type": "pure-token"}]"#));
        assert!(no_token.unwrap_err().contains("without a token"));
        let empty = parse(&base(r#"[{"name": "a", "type": "oneof"}]"#));
        assert!(empty.unwrap_err().contains("needs nested"));
        let dup = parse(&base(
            r#"[{"name": "a", "type": "key"}, {"name": "a", "type": "string"}]"#,
        ));
        assert!(dup.unwrap_err().contains("two arguments"));
        let bad_ks = parse(&base(
            r#"[{"name": "a", "type": "key", "key_spec_index": 0}]"#,
        ));
        assert!(bad_ks.unwrap_err().contains("key spec 0"));
    }
}
