//! Stage 1, read: serde structs mirroring Valkey's command JSON schema (one file per command or
//! subcommand, `{"NAME": {...}}`), as `codegen dump` writes them and the generator reads them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One command or subcommand, as in Valkey's `src/commands/*.json`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// One-line description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Time complexity, as prose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<String>,
    /// The command group (`string`, `list`, `server`, ...).
    pub group: String,
    /// The version that added the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Arity as `COMMAND INFO` reports it (negative: at least that many, name included).
    pub arity: i32,
    /// For a subcommand: the container command's name (`CLIENT` for `CLIENT KILL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// `(version, change)` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<(String, String)>,
    /// Documentation flags (`DEPRECATED`, `SYSCMD`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doc_flags: Vec<String>,
    /// The version that deprecated the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_since: Option<String>,
    /// What to use instead of a deprecated command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// Command flags (`WRITE`, `READONLY`, `FAST`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_flags: Vec<String>,
    /// ACL categories, as the server reports them (`WRITE`, `STRING`, `SLOW`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl_categories: Vec<String>,
    /// Command tips (`NONDETERMINISTIC_OUTPUT`, `REQUEST_POLICY:ALL_SHARDS`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command_tips: Vec<String>,
    /// Where the keys are in the arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_specs: Vec<KeySpec>,
    /// The arguments, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<Arg>,
}

/// One key spec.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    /// Free-text notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Flags (`RW`, `RO`, `ACCESS`, `INSERT`, ...).
    #[serde(default)]
    pub flags: Vec<String>,
    /// Where the search starts.
    pub begin_search: BeginSearch,
    /// How the keys are found from there.
    pub find_keys: FindKeys,
}

/// `begin_search` of a key spec.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum BeginSearch {
    /// A fixed argument index.
    Index {
        /// The index (1 = first argument after the command name).
        pos: i32,
    },
    /// After a keyword.
    Keyword {
        /// The keyword.
        keyword: String,
        /// Where to start searching (negative: from the end).
        startfrom: i32,
    },
    /// Not expressible.
    Unknown(()),
}

/// `find_keys` of a key spec.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum FindKeys {
    /// A range of keys.
    Range {
        /// Last key, relative to the first (negative: from the end).
        lastkey: i32,
        /// Step between keys.
        step: i32,
        /// With `lastkey == -1`, use 1/limit of the remaining arguments (0: all).
        limit: i32,
    },
    /// A count argument gives the number of keys.
    Keynum {
        /// The count's index relative to the begin index.
        keynumidx: i32,
        /// The first key's index relative to the begin index.
        firstkey: i32,
        /// Step between keys.
        step: i32,
    },
    /// Not expressible.
    Unknown(()),
}

/// An argument's type.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ArgType {
    /// A key name.
    Key,
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A floating point number.
    Double,
    /// A Unix timestamp.
    UnixTime,
    /// A glob-style pattern.
    Pattern,
    /// A token alone (`NX`).
    PureToken,
    /// Exactly one of the nested arguments.
    Oneof,
    /// All nested arguments, in order.
    Block,
}

/// One argument (possibly nested).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Arg {
    /// The argument's name, unique among its siblings.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: ArgType,
    /// The token written before it (or, for a pure token, instead of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// How the documentation shows it, when not its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// For a key: the index of its key spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_spec_index: Option<usize>,
    /// May be left out.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
    /// May be repeated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiple: bool,
    /// When repeated, the token is repeated too.
    #[serde(default, skip_serializing_if = "is_false")]
    pub multiple_token: bool,
    /// The version that added it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// The version that deprecated it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deprecated_since: Option<String>,
    /// A short description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Nested arguments of a `oneof` or `block`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<Arg>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The server a dump came from (`commands-json/_server.json`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ServerInfo {
    /// `valkey`.
    pub server: String,
    /// The server's version, e.g. `9.1.2`.
    pub version: String,
    /// How many commands and subcommands the dump holds.
    pub commands: usize,
}

/// A spec file's name for a command: `set.json`, `client-kill.json`.
pub fn file_name(container: Option<&str>, name: &str) -> String {
    match container {
        Some(c) => format!("{}-{}.json", c.to_lowercase(), name.to_lowercase()),
        None => format!("{}.json", name.to_lowercase()),
    }
}

/// Serializes like every file in `commands-json/`: keys sorted, two-space indent, final newline.
pub fn to_json_text<T: Serialize>(value: &T) -> Result<String, String> {
    // Going through `serde_json::Value` sorts object keys (its map is a BTreeMap).
    let v = serde_json::to_value(value).map_err(|e| e.to_string())?;
    let mut s = serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?;
    s.push('\n');
    Ok(s)
}

/// Every spec read from a directory: `(name, spec)` per file, where `name` is the file's single key.
#[derive(Debug, Clone, Default)]
pub struct SpecSet {
    /// The specs, by file name.
    pub files: BTreeMap<String, (String, CommandSpec)>,
    /// The server the dump came from.
    pub server: Option<ServerInfo>,
}

/// Reads `dir/*.json` (files starting with `_` are not command specs).
pub fn read_dir(dir: &Path) -> Result<SpecSet, String> {
    let mut set = SpecSet::default();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        let Some(file) = path.file_name().and_then(|f| f.to_str()).map(str::to_owned) else {
            continue;
        };
        if !file.ends_with(".json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
        if file == "_server.json" {
            set.server = Some(serde_json::from_str(&text).map_err(|e| format!("{file}: {e}"))?);
            continue;
        }
        if file.starts_with('_') {
            continue;
        }
        set.files.insert(file.clone(), parse_file(&file, &text)?);
    }
    Ok(set)
}

/// Parses one spec file's text: exactly one `"NAME": {...}` entry.
pub fn parse_file(file: &str, text: &str) -> Result<(String, CommandSpec), String> {
    let map: BTreeMap<String, CommandSpec> =
        serde_json::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    let mut it = map.into_iter();
    match (it.next(), it.next()) {
        (Some(entry), None) => Ok(entry),
        _ => Err(format!("{file}: expected exactly one command")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = r#"{"SET": {"arity": -3, "group": "string", "since": "1.0.0",
        "key_specs": [{"flags": ["RW"], "begin_search": {"index": {"pos": 1}},
                       "find_keys": {"range": {"lastkey": 0, "step": 1, "limit": 0}}}],
        "arguments": [{"name": "key", "type": "key", "key_spec_index": 0},
                      {"name": "condition", "type": "oneof", "optional": true, "arguments": [
                          {"name": "nx", "type": "pure-token", "token": "NX"}]}]}}"#;

    #[test]
    fn reads_the_upstream_shape() {
        let (name, spec) = parse_file("set.json", SET).unwrap();
        assert_eq!(name, "SET");
        assert_eq!(spec.arity, -3);
        assert_eq!(
            spec.key_specs[0].begin_search,
            BeginSearch::Index { pos: 1 }
        );
        assert_eq!(spec.arguments[1].kind, ArgType::Oneof);
        assert!(spec.arguments[1].optional);
        assert_eq!(spec.arguments[1].arguments[0].kind, ArgType::PureToken);
    }

    #[test]
    fn unknown_fields_are_errors() {
        let err = parse_file(
            "x.json",
            r#"{"X": {"arity": 1, "group": "g", "colour": 1}}"#,
        );
        assert!(err.unwrap_err().contains("colour"));
    }

    #[test]
    fn writes_sorted_keys_and_round_trips() {
        let (name, spec) = parse_file("set.json", SET).unwrap();
        let mut m = BTreeMap::new();
        m.insert(name, spec.clone());
        let text = to_json_text(&m).unwrap();
        let arity = text.find("\"arity\"").unwrap();
        let group = text.find("\"group\"").unwrap();
        let keys = text.find("\"key_specs\"").unwrap();
        assert!(arity < group && group < keys);
        assert!(!text.contains(r#""unknown""#));
        assert_eq!(parse_file("set.json", &text).unwrap().1, spec);
    }

    #[test]
    fn unknown_key_search_is_written_as_upstream() {
        let ks = KeySpec {
            notes: None,
            flags: vec![],
            begin_search: BeginSearch::Unknown(()),
            find_keys: FindKeys::Unknown(()),
        };
        let v = serde_json::to_value(&ks).unwrap();
        assert_eq!(v["begin_search"], serde_json::json!({"unknown": null}));
    }

    #[test]
    fn file_names_follow_upstream() {
        assert_eq!(file_name(None, "SET"), "set.json");
        assert_eq!(
            file_name(Some("CLIENT"), "NO-EVICT"),
            "client-no-evict.json"
        );
    }
}
