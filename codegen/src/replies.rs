//! The overlay's reply types checked against the `reply_schema` of Valkey's own command JSON
//! (kept outside the project): nil or not, and the kind of value (integer, string, double, array,
//! map, `OK`). A disagreement fails unless the overlay's `reply_schema_exceptions` says why.

use crate::overlay::{check_reply_type, Overlay};
use serde_json::Value as Json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The environment variable naming the directory of Valkey's command JSON files.
pub const SPECS_ENV: &str = "VALKEY_COMMAND_SPECS";

/// Where the reference files are looked for, relative to the workspace root, then absolute.
const DEFAULT_DIRS: &[&str] = &[
    "../shared/reference/valkey-command-specs",
    "/work/shared/reference/valkey-command-specs",
];

/// What a reply can be, as far as this check tells replies apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReplyKind {
    /// An integer (also read as `bool` for 0/1 answers).
    Integer,
    /// A bulk or simple string other than `OK`.
    String,
    /// A double (RESP2: a bulk string).
    Double,
    /// An array (or set).
    Array,
    /// A map (RESP2: a flat array).
    Map,
    /// The simple string `OK`.
    Okay,
    /// A RESP3 boolean.
    Bool,
}

impl fmt::Display for ReplyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReplyKind::Integer => "integer",
            ReplyKind::String => "string",
            ReplyKind::Double => "double",
            ReplyKind::Array => "array",
            ReplyKind::Map => "map",
            ReplyKind::Okay => "OK",
            ReplyKind::Bool => "boolean",
        })
    }
}

/// The shape of a reply: nil or not, its kinds, and for an array of one kind of element, the
/// elements' shape. `open`: any kind (the caller's `T`, a `Value`, a schema without a type),
/// which agrees with every kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// May be nil.
    pub nullable: bool,
    /// The kinds it may be.
    pub kinds: BTreeSet<ReplyKind>,
    /// May be anything.
    pub open: bool,
    /// An array's elements, when they are all alike (`Vec<X>`, a schema's `items` object).
    pub items: Option<Box<Shape>>,
}

impl Shape {
    fn add(&mut self, other: Shape) {
        self.nullable |= other.nullable;
        self.open |= other.open;
        self.kinds.extend(other.kinds);
        self.items = match (self.items.take(), other.items) {
            (Some(mut a), Some(b)) => {
                a.add(*b);
                Some(a)
            }
            (a, b) => a.or(b),
        };
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = self.kinds.iter().map(ToString::to_string).collect();
        if self.open {
            parts.push("any".into());
        }
        if self.nullable {
            parts.push("nil".into());
        }
        write!(f, "{}", parts.join(" | "))
    }
}

/// The shape of an overlay reply type (`Option<Vec<T>>`: nil or an array).
pub fn rust_shape(ty: &syn::Type) -> Shape {
    let mut s = Shape::default();
    match ty {
        syn::Type::Tuple(t) if t.elems.is_empty() => {
            s.kinds.insert(ReplyKind::Okay);
        }
        syn::Type::Tuple(_) => {
            s.kinds.insert(ReplyKind::Array);
        }
        syn::Type::Path(p) => {
            let seg = p.path.segments.last().expect("a type path has a segment");
            let inner = match &seg.arguments {
                syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                    syn::GenericArgument::Type(t) => Some(t),
                    _ => None,
                }),
                _ => None,
            };
            match (seg.ident.to_string().as_str(), inner) {
                ("Option", Some(inner)) => {
                    s = rust_shape(inner);
                    s.nullable = true;
                }
                // A list of pairs is how a map is read (RESP2 sends it flat).
                ("Vec", Some(syn::Type::Tuple(t))) if t.elems.len() == 2 => {
                    s.kinds.extend([ReplyKind::Array, ReplyKind::Map]);
                }
                ("Vec", inner) => {
                    s.kinds.insert(ReplyKind::Array);
                    s.items = inner.map(|t| Box::new(rust_shape(t)));
                }
                ("i64" | "u64" | "bool", _) => {
                    s.kinds.insert(ReplyKind::Integer);
                }
                ("f64", _) => {
                    s.kinds.insert(ReplyKind::Double);
                }
                ("String", _) => {
                    s.kinds.insert(ReplyKind::String);
                }
                ("Okay", _) => {
                    s.kinds.insert(ReplyKind::Okay);
                }
                _ => s.open = true,
            }
        }
        _ => s.open = true,
    }
    s
}

/// The shape a `reply_schema` gives (the union of its `oneOf`/`anyOf` alternatives).
pub fn schema_shape(schema: &Json) -> Shape {
    let mut s = Shape::default();
    let alternatives = ["oneOf", "anyOf"]
        .iter()
        .filter_map(|k| schema.get(k).and_then(Json::as_array))
        .flatten()
        .collect::<Vec<_>>();
    if !alternatives.is_empty() {
        for a in alternatives {
            s.add(schema_shape(a));
        }
        return s;
    }
    if let Some(c) = schema.get("const") {
        match c {
            Json::String(text) if text == "OK" => s.kinds.insert(ReplyKind::Okay),
            Json::String(_) => s.kinds.insert(ReplyKind::String),
            Json::Number(_) => s.kinds.insert(ReplyKind::Integer),
            _ => {
                s.open = true;
                true
            }
        };
        return s;
    }
    match schema.get("type").and_then(Json::as_str) {
        Some("null") => s.nullable = true,
        Some("integer") => {
            s.kinds.insert(ReplyKind::Integer);
        }
        Some("string") => {
            s.kinds.insert(ReplyKind::String);
        }
        Some("number") => {
            s.kinds.insert(ReplyKind::Double);
        }
        Some("array") => {
            s.kinds.insert(ReplyKind::Array);
            s.items = schema
                .get("items")
                .filter(|i| i.is_object())
                .map(|i| Box::new(schema_shape(i)));
        }
        Some("object") => {
            s.kinds.insert(ReplyKind::Map);
        }
        Some("boolean") => {
            s.kinds.insert(ReplyKind::Bool);
        }
        _ => s.open = true,
    }
    s
}

/// How an overlay shape and a schema shape differ, their arrays' elements included: empty when
/// they agree.
pub fn disagreements(ours: &Shape, schema: &Shape) -> Vec<String> {
    let mut out = top_level_disagreements(ours, schema);
    if let (Some(a), Some(b)) = (&ours.items, &schema.items) {
        out.extend(
            disagreements(a, b)
                .into_iter()
                .map(|d| format!("array elements: {d}")),
        );
    }
    out
}

fn top_level_disagreements(ours: &Shape, schema: &Shape) -> Vec<String> {
    let mut out = vec![];
    // A bare caller's type may be an `Option`; an `Option` of it says nil is possible.
    let caller_decides = ours.open && !ours.nullable;
    if ours.nullable != schema.nullable && !caller_decides && !schema.open {
        out.push(if ours.nullable {
            "the overlay allows nil, the schema does not".to_string()
        } else {
            "the schema allows nil, the overlay does not".to_string()
        });
    }
    if ours.open || schema.open {
        return out;
    }
    // A `String` reads a simple string, `OK` included.
    let missing: Vec<String> = schema
        .kinds
        .iter()
        .filter(|k| !ours.kinds.contains(k))
        .filter(|k| !(**k == ReplyKind::Okay && ours.kinds.contains(&ReplyKind::String)))
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        out.push(format!(
            "the schema allows {}, the overlay does not",
            missing.join(", ")
        ));
    }
    // The overlay reads a map as a list of pairs, so that kind pair counts once.
    let extra: Vec<String> = ours
        .kinds
        .iter()
        .filter(|k| !schema.kinds.contains(k))
        .filter(|k| !(**k == ReplyKind::Array && schema.kinds.contains(&ReplyKind::Map)))
        .filter(|k| !(**k == ReplyKind::Map && schema.kinds.contains(&ReplyKind::Array)))
        .map(ToString::to_string)
        .collect();
    if !extra.is_empty() {
        out.push(format!(
            "the overlay allows {}, the schema does not",
            extra.join(", ")
        ));
    }
    out
}

/// The overlay's shape of a command's reply: its reply type and those its options change it to.
fn overlay_shape(o: &crate::overlay::CommandOverlay) -> Result<Shape, String> {
    let mut s = rust_shape(&check_reply_type(&o.reply)?);
    for w in &o.reply_when {
        s.add(rust_shape(&check_reply_type(&w.reply)?));
    }
    Ok(s)
}

/// Reads the reply schemas of a directory of Valkey's command JSON files: full command name
/// (`OBJECT FREQ`) → schema (commands without one are left out).
pub fn read_schemas(dir: &Path) -> Result<BTreeMap<String, Json>, String> {
    let mut out = BTreeMap::new();
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file: BTreeMap<String, Json> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        for (name, spec) in file {
            let full = match spec.get("container").and_then(Json::as_str) {
                Some(c) => format!("{c} {name}"),
                None => name,
            };
            if let Some(schema) = spec.get("reply_schema") {
                out.insert(full.to_uppercase(), schema.clone());
            }
        }
    }
    Ok(out)
}

/// The result of a check.
#[derive(Debug, Default)]
pub struct Report {
    /// Commands with an overlay entry and a reply schema.
    pub checked: usize,
    /// Of those, how many agree.
    pub agreeing: usize,
    /// Of the agreeing, how many have a reply of the caller's type or `Value` at the top level,
    /// without `Option` (agreeing with any schema, so not really checked).
    pub open: usize,
    /// Disagreements listed in `reply_schema_exceptions` (command → what differs).
    pub excepted: BTreeMap<String, Vec<String>>,
    /// Disagreements not listed: failures.
    pub failures: Vec<String>,
    /// Listed exceptions that agree now (or name a command the reference has no schema for):
    /// failures too, so that the list stays true.
    pub stale_exceptions: Vec<String>,
    /// Overlay commands the reference has no schema for.
    pub without_schema: Vec<String>,
}

impl Report {
    /// Whether the check passed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty() && self.stale_exceptions.is_empty()
    }
}

/// Compares every overlay entry with its reply schema.
pub fn check(overlay: &Overlay, schemas: &BTreeMap<String, Json>) -> Result<Report, String> {
    let mut r = Report::default();
    for (name, o) in &overlay.commands {
        let Some(schema) = schemas.get(name) else {
            r.without_schema.push(name.clone());
            continue;
        };
        r.checked += 1;
        let (ours, theirs) = (overlay_shape(o)?, schema_shape(schema));
        let diff = disagreements(&ours, &theirs);
        let listed = overlay.reply_schema_exceptions.contains_key(name);
        if diff.is_empty() && ours.open && !ours.nullable {
            r.open += 1;
        }
        match (diff.is_empty(), listed) {
            (true, false) => r.agreeing += 1,
            (true, true) => {
                r.agreeing += 1;
                r.stale_exceptions.push(format!(
                    "{name}: listed in reply_schema_exceptions but agrees with its schema"
                ));
            }
            (false, true) => {
                r.excepted.insert(name.clone(), diff);
            }
            (false, false) => r.failures.push(format!(
                "{name}: overlay `{}` ({ours}) vs schema ({theirs}): {}",
                o.reply,
                diff.join("; ")
            )),
        }
    }
    for name in overlay.reply_schema_exceptions.keys() {
        if overlay.commands.contains_key(name) && !schemas.contains_key(name) {
            r.stale_exceptions.push(format!(
                "{name}: listed, but the reference has no schema for it"
            ));
        }
    }
    Ok(r)
}

/// The reference directory: `explicit`, else the environment variable (either must exist),
/// else the first of the default places that exists (relative to `root`, then absolute), else
/// `None`.
pub fn find_specs_dir(root: &Path, explicit: Option<&str>) -> Result<Option<PathBuf>, String> {
    let env = std::env::var(SPECS_ENV).ok();
    if let Some(dir) = explicit.or(env.as_deref()) {
        let p = PathBuf::from(dir);
        return match p.is_dir() {
            true => Ok(Some(p)),
            false => Err(format!("{dir}: not a directory of Valkey's command JSON")),
        };
    }
    Ok(DEFAULT_DIRS
        .iter()
        .map(|d| root.join(d))
        .find(|p| p.is_dir())
        .map(|p| p.canonicalize().unwrap_or(p)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(ty: &str) -> Shape {
        rust_shape(&syn::parse_str(ty).unwrap())
    }

    fn theirs(json: &str) -> Shape {
        schema_shape(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn overlay_types_have_shapes() {
        let s = ours("Option<Vec<T>>");
        assert!(s.nullable && !s.open);
        assert_eq!(s.kinds, [ReplyKind::Array].into());
        assert_eq!(ours("()").kinds, [ReplyKind::Okay].into());
        assert_eq!(ours("bool").kinds, [ReplyKind::Integer].into());
        assert!(ours("T").open && ours("Value").open);
        assert!(ours("Vec<(T, f64)>").kinds.contains(&ReplyKind::Map));
    }

    #[test]
    fn schemas_have_shapes() {
        let get = theirs(r#"{"oneOf": [{"type": "string"}, {"type": "null"}]}"#);
        assert!(get.nullable);
        assert_eq!(get.kinds, [ReplyKind::String].into());
        assert_eq!(theirs(r#"{"const": "OK"}"#).kinds, [ReplyKind::Okay].into());
        assert_eq!(theirs(r#"{"const": 1}"#).kinds, [ReplyKind::Integer].into());
        assert!(theirs(r#"{"description": "anything"}"#).open);
    }

    #[test]
    fn nullability_and_kinds_are_compared() {
        let get = theirs(r#"{"oneOf": [{"type": "string"}, {"type": "null"}]}"#);
        assert!(disagreements(&ours("Option<T>"), &get).is_empty());
        let d = disagreements(&ours("String"), &get);
        assert_eq!(d, ["the schema allows nil, the overlay does not"]);
        let freq = theirs(r#"{"type": "integer"}"#);
        let d = disagreements(&ours("Option<i64>"), &freq);
        assert_eq!(d, ["the overlay allows nil, the schema does not"]);
        let d = disagreements(&ours("f64"), &freq);
        assert_eq!(
            d,
            [
                "the schema allows integer, the overlay does not",
                "the overlay allows double, the schema does not"
            ]
        );
        // A map read as pairs agrees with an object.
        let map = theirs(r#"{"type": "object"}"#);
        assert!(disagreements(&ours("Vec<(T, T)>"), &map).is_empty());
        // The caller's type agrees with anything (the caller may choose an `Option`).
        assert!(disagreements(&ours("T"), &get).is_empty());
        // A `String` reads `OK`; array elements are compared too.
        let dryrun = theirs(r#"{"anyOf": [{"const": "OK"}, {"type": "string"}]}"#);
        assert!(disagreements(&ours("String"), &dryrun).is_empty());
        let d = disagreements(&ours("String"), &theirs(r#"{"const": "OK"}"#));
        assert_eq!(d, ["the overlay allows string, the schema does not"]);
        let mget = theirs(
            r#"{"type": "array", "items": {"oneOf": [{"type": "string"}, {"type": "null"}]}}"#,
        );
        assert!(disagreements(&ours("Vec<Option<T>>"), &mget).is_empty());
        let d = disagreements(&ours("Vec<String>"), &mget);
        assert_eq!(
            d,
            ["array elements: the schema allows nil, the overlay does not"]
        );
    }

    #[test]
    fn exceptions_are_listed_and_kept_true() {
        let overlay = crate::overlay::parse(
            r#"{"commands": {"GET": {"reply": "Option<T>"}, "INCR": {"reply": "f64"},
                "PING": {"reply": "String"}},
                "reply_schema_exceptions": {"PING": "a reason"}}"#,
        )
        .unwrap();
        let schemas: BTreeMap<String, Json> = [
            (
                "GET",
                r#"{"oneOf": [{"type": "string"}, {"type": "null"}]}"#,
            ),
            ("INCR", r#"{"type": "integer"}"#),
            ("PING", r#"{"type": "string"}"#),
        ]
        .into_iter()
        .map(|(n, s)| (n.to_string(), serde_json::from_str(s).unwrap()))
        .collect();
        let r = check(&overlay, &schemas).unwrap();
        assert_eq!((r.checked, r.agreeing), (3, 2));
        assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
        assert!(r.failures[0].starts_with("INCR: "), "{:?}", r.failures);
        assert_eq!(r.stale_exceptions.len(), 1, "{:?}", r.stale_exceptions);
        assert!(!r.ok());
    }
}
