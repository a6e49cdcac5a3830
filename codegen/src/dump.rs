//! `codegen dump`: turns the live server's `COMMAND DOCS` and `COMMAND INFO` replies (as JSON, RESP3
//! maps as objects) into one spec file per command in Valkey's upstream schema. Pure: the caller
//! fetches the replies; the same replies always give the same files.

use crate::spec::{self, Arg, ArgType, BeginSearch, CommandSpec, FindKeys, KeySpec, ServerInfo};
use serde_json::{Map, Value as Json};
use std::collections::BTreeMap;

/// The files of a dump: file name → text, `_server.json` included.
pub type Files = BTreeMap<String, String>;

/// Builds the spec files from `COMMAND DOCS` (a map), `COMMAND INFO` (an array) and the server's
/// version. Every command must appear in both replies.
pub fn files_from_replies(docs: &Json, info: &Json, version: &str) -> Result<Files, String> {
    let docs = docs.as_object().ok_or("COMMAND DOCS: expected a map")?;
    let info = info.as_array().ok_or("COMMAND INFO: expected an array")?;

    // Flatten both replies to "name" / "container|name" → entry.
    let mut doc_by_name: BTreeMap<String, &Map<String, Json>> = BTreeMap::new();
    for (name, doc) in docs {
        let doc = doc
            .as_object()
            .ok_or_else(|| format!("{name}: docs not a map"))?;
        if let Some(subs) = doc.get("subcommands") {
            let subs = subs
                .as_object()
                .ok_or_else(|| format!("{name}: subcommands"))?;
            for (sub, sdoc) in subs {
                let sdoc = sdoc
                    .as_object()
                    .ok_or_else(|| format!("{sub}: docs not a map"))?;
                doc_by_name.insert(sub.to_lowercase(), sdoc);
            }
        }
        doc_by_name.insert(name.to_lowercase(), doc);
    }
    let mut info_by_name: BTreeMap<String, &Vec<Json>> = BTreeMap::new();
    fn collect<'a>(
        entry: &'a Json,
        out: &mut BTreeMap<String, &'a Vec<Json>>,
    ) -> Result<(), String> {
        let arr = entry
            .as_array()
            .ok_or("COMMAND INFO entry: expected an array")?;
        let name = arr
            .first()
            .and_then(Json::as_str)
            .ok_or("COMMAND INFO entry without a name")?;
        out.insert(name.to_lowercase(), arr);
        if let Some(subs) = arr.get(9).and_then(Json::as_array) {
            for s in subs {
                collect(s, out)?;
            }
        }
        Ok(())
    }
    for entry in info {
        collect(entry, &mut info_by_name)?;
    }

    let mut files = Files::new();
    for (full, doc) in &doc_by_name {
        let info = info_by_name
            .get(full)
            .ok_or_else(|| format!("{full}: in COMMAND DOCS but not in COMMAND INFO"))?;
        let (container, name) = match full.split_once('|') {
            Some((c, n)) => (Some(c.to_uppercase()), n.to_uppercase()),
            None => (None, full.to_uppercase()),
        };
        let spec = command_spec(full, doc, info, container.clone())?;
        let mut m = BTreeMap::new();
        m.insert(name.clone(), spec);
        files.insert(
            spec::file_name(container.as_deref(), &name),
            spec::to_json_text(&m)?,
        );
    }
    if let Some(extra) = info_by_name.keys().find(|n| !doc_by_name.contains_key(*n)) {
        return Err(format!("{extra}: in COMMAND INFO but not in COMMAND DOCS"));
    }
    let server = ServerInfo {
        server: "valkey".into(),
        version: version.into(),
        commands: doc_by_name.len(),
    };
    files.insert("_server.json".into(), spec::to_json_text(&server)?);
    Ok(files)
}

fn str_field(m: &Map<String, Json>, key: &str, what: &str) -> Result<Option<String>, String> {
    match m.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("{what}: {key} is not a string: {other}")),
    }
}

fn str_list(v: Option<&Json>, what: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Json::Null) => Ok(vec![]),
        Some(Json::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{what}: not a string: {x}"))
            })
            .collect(),
        Some(other) => Err(format!("{what}: expected a list, got {other}")),
    }
}

fn int(v: Option<&Json>, what: &str) -> Result<i32, String> {
    v.and_then(Json::as_i64)
        .and_then(|i| i32::try_from(i).ok())
        .ok_or_else(|| format!("{what}: expected an integer"))
}

fn command_spec(
    full: &str,
    doc: &Map<String, Json>,
    info: &[Json],
    container: Option<String>,
) -> Result<CommandSpec, String> {
    const DOC_KEYS: &[&str] = &[
        "summary",
        "since",
        "group",
        "complexity",
        "history",
        "doc_flags",
        "deprecated_since",
        "replaced_by",
        "arguments",
        "subcommands",
    ];
    if let Some(k) = doc.keys().find(|k| !DOC_KEYS.contains(&k.as_str())) {
        return Err(format!("{full}: unexpected COMMAND DOCS field {k}"));
    }
    let history = match doc.get("history") {
        None => vec![],
        Some(Json::Array(entries)) => entries
            .iter()
            .map(|e| match e.as_array().map(Vec::as_slice) {
                Some([Json::String(v), Json::String(t)]) => Ok((v.clone(), t.clone())),
                _ => Err(format!("{full}: bad history entry {e}")),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{full}: bad history {other}")),
    };
    let arguments = match doc.get("arguments") {
        None => vec![],
        Some(Json::Array(a)) => a.iter().map(|x| arg(full, x)).collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{full}: bad arguments {other}")),
    };
    let key_specs = match info.get(8) {
        None | Some(Json::Null) => vec![],
        Some(Json::Array(a)) => a
            .iter()
            .map(|k| key_spec(full, k))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{full}: bad key specs {other}")),
    };
    let upper = |v: Vec<String>| v.into_iter().map(|s| s.to_uppercase()).collect::<Vec<_>>();
    Ok(CommandSpec {
        summary: str_field(doc, "summary", full)?,
        complexity: str_field(doc, "complexity", full)?,
        group: str_field(doc, "group", full)?.ok_or_else(|| format!("{full}: no group"))?,
        since: str_field(doc, "since", full)?,
        arity: int(info.get(1), full)?,
        container,
        history,
        doc_flags: upper(str_list(doc.get("doc_flags"), full)?),
        deprecated_since: str_field(doc, "deprecated_since", full)?,
        replaced_by: str_field(doc, "replaced_by", full)?,
        command_flags: upper(str_list(info.get(2), full)?),
        acl_categories: str_list(info.get(6), full)?
            .into_iter()
            .map(|c| c.trim_start_matches('@').to_uppercase())
            .collect(),
        command_tips: upper(str_list(info.get(7), full)?),
        key_specs,
        arguments,
    })
}

fn arg(full: &str, v: &Json) -> Result<Arg, String> {
    const ARG_KEYS: &[&str] = &[
        "name",
        "type",
        "display_text",
        "key_spec_index",
        "token",
        "summary",
        "since",
        "deprecated_since",
        "flags",
        "arguments",
    ];
    let m = v
        .as_object()
        .ok_or_else(|| format!("{full}: argument not a map"))?;
    if let Some(k) = m.keys().find(|k| !ARG_KEYS.contains(&k.as_str())) {
        return Err(format!("{full}: unexpected argument field {k}"));
    }
    let name = str_field(m, "name", full)?.ok_or_else(|| format!("{full}: unnamed argument"))?;
    let what = format!("{full} {name}");
    let kind: ArgType = serde_json::from_value(m.get("type").cloned().unwrap_or(Json::Null))
        .map_err(|e| format!("{what}: type: {e}"))?;
    let flags = str_list(m.get("flags"), &what)?;
    if let Some(f) = flags
        .iter()
        .find(|f| !["optional", "multiple", "multiple_token"].contains(&f.as_str()))
    {
        return Err(format!("{what}: unknown argument flag {f}"));
    }
    let display = str_field(m, "display_text", &what)?.filter(|d| *d != name);
    let arguments = match m.get("arguments") {
        None => vec![],
        Some(Json::Array(a)) => a.iter().map(|x| arg(full, x)).collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("{what}: bad arguments {other}")),
    };
    Ok(Arg {
        key_spec_index: match m.get("key_spec_index") {
            None => None,
            Some(i) => Some(
                i.as_u64()
                    .ok_or_else(|| format!("{what}: bad key_spec_index"))? as usize,
            ),
        },
        token: str_field(m, "token", &what)?,
        display,
        optional: flags.iter().any(|f| f == "optional"),
        multiple: flags.iter().any(|f| f == "multiple"),
        multiple_token: flags.iter().any(|f| f == "multiple_token"),
        since: str_field(m, "since", &what)?,
        deprecated_since: str_field(m, "deprecated_since", &what)?,
        summary: str_field(m, "summary", &what)?,
        arguments,
        name,
        kind,
    })
}

fn key_spec(full: &str, v: &Json) -> Result<KeySpec, String> {
    let m = v
        .as_object()
        .ok_or_else(|| format!("{full}: key spec not a map"))?;
    let part = |key: &str| -> Result<(String, Map<String, Json>), String> {
        let p = m
            .get(key)
            .and_then(Json::as_object)
            .ok_or_else(|| format!("{full}: key spec without {key}"))?;
        let ty = str_field(p, "type", full)?.ok_or_else(|| format!("{full}: {key} type"))?;
        let spec = p
            .get("spec")
            .and_then(Json::as_object)
            .cloned()
            .unwrap_or_default();
        Ok((ty, spec))
    };
    let (bty, b) = part("begin_search")?;
    let begin_search = match bty.as_str() {
        "index" => BeginSearch::Index {
            pos: int(b.get("index"), full)?,
        },
        "keyword" => BeginSearch::Keyword {
            keyword: str_field(&b, "keyword", full)?.ok_or_else(|| format!("{full}: keyword"))?,
            startfrom: int(b.get("startfrom"), full)?,
        },
        "unknown" => BeginSearch::Unknown(()),
        other => return Err(format!("{full}: unknown begin_search type {other}")),
    };
    let (fty, f) = part("find_keys")?;
    let find_keys = match fty.as_str() {
        "range" => FindKeys::Range {
            lastkey: int(f.get("lastkey"), full)?,
            step: int(f.get("keystep"), full)?,
            limit: int(f.get("limit"), full)?,
        },
        "keynum" => FindKeys::Keynum {
            keynumidx: int(f.get("keynumidx"), full)?,
            firstkey: int(f.get("firstkey"), full)?,
            step: int(f.get("keystep"), full)?,
        },
        "unknown" => FindKeys::Unknown(()),
        other => return Err(format!("{full}: unknown find_keys type {other}")),
    };
    Ok(KeySpec {
        notes: str_field(m, "notes", full)?,
        flags: str_list(m.get("flags"), full)?
            .into_iter()
            .map(|s| s.to_uppercase())
            .collect(),
        begin_search,
        find_keys,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> (Json, Json) {
        let docs = json!({
            "get": {"summary": "Returns the string value of a key.", "since": "1.0.0",
                    "group": "string", "complexity": "O(1)",
                    "arguments": [{"name": "key", "type": "key", "display_text": "key",
                                   "key_spec_index": 0}]},
            "client": {"summary": "A container.", "since": "2.4.0", "group": "connection",
                       "complexity": "Depends on subcommand.",
                       "subcommands": {"client|kill": {
                           "summary": "Terminates open connections.", "since": "2.4.0",
                           "group": "connection", "complexity": "O(N)",
                           "arguments": [{"name": "old-format", "type": "string",
                                          "display_text": "ip:port",
                                          "flags": ["optional", "multiple"]}]}}}
        });
        let info = json!([
            ["get", 2, ["readonly", "fast"], 1, 1, 1, ["@read", "@string", "@fast"], [],
             [{"flags": ["RO", "access"],
               "begin_search": {"type": "index", "spec": {"index": 1}},
               "find_keys": {"type": "range", "spec": {"lastkey": 0, "keystep": 1, "limit": 0}}}],
             []],
            ["client", -2, [], 0, 0, 0, ["@slow"], [], [],
             [["client|kill", -3, ["admin"], 0, 0, 0, ["@admin"],
               ["request_policy:all_nodes"], [], []]]]
        ]);
        (docs, info)
    }

    #[test]
    fn merges_docs_and_info_per_command() {
        let (docs, info) = sample();
        let files = files_from_replies(&docs, &info, "9.1.2").unwrap();
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            [
                "_server.json",
                "client-kill.json",
                "client.json",
                "get.json"
            ]
        );
        let (name, get) = spec::parse_file("get.json", &files["get.json"]).unwrap();
        assert_eq!(name, "GET");
        assert_eq!(get.arity, 2);
        assert_eq!(get.command_flags, ["READONLY", "FAST"]);
        assert_eq!(get.acl_categories, ["READ", "STRING", "FAST"]);
        assert_eq!(get.key_specs[0].flags, ["RO", "ACCESS"]);
        assert_eq!(get.key_specs[0].begin_search, BeginSearch::Index { pos: 1 });
        assert_eq!(
            get.key_specs[0].find_keys,
            FindKeys::Range {
                lastkey: 0,
                step: 1,
                limit: 0
            }
        );
        // display_text equal to the name is the server's default: not written.
        assert_eq!(get.arguments[0].display, None);
        let (name, kill) = spec::parse_file("x", &files["client-kill.json"]).unwrap();
        assert_eq!(name, "KILL");
        assert_eq!(kill.container.as_deref(), Some("CLIENT"));
        assert_eq!(kill.command_tips, ["REQUEST_POLICY:ALL_NODES"]);
        let a = &kill.arguments[0];
        assert!(a.optional && a.multiple && !a.multiple_token);
        assert_eq!(a.display.as_deref(), Some("ip:port"));
        assert!(files["_server.json"].contains("\"commands\": 3"));
    }

    #[test]
    fn dumping_twice_gives_the_same_files() {
        let (docs, info) = sample();
        assert_eq!(
            files_from_replies(&docs, &info, "9.1.2").unwrap(),
            files_from_replies(&docs, &info, "9.1.2").unwrap()
        );
    }

    #[test]
    fn a_command_missing_from_info_is_an_error() {
        let (docs, _) = sample();
        let err = files_from_replies(&docs, &json!([]), "9.1.2").unwrap_err();
        assert!(err.contains("not in COMMAND INFO"), "{err}");
    }

    #[test]
    fn unexpected_fields_are_errors_not_silently_dropped() {
        let docs = json!({"x": {"group": "g", "colour": "red"}});
        let info = json!([["x", 1, [], 0, 0, 0, [], [], [], []]]);
        let err = files_from_replies(&docs, &info, "1").unwrap_err();
        assert!(err.contains("colour"), "{err}");
    }
}
