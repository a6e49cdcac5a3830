//! The documentation a user searches: builds the crate's docs (`cargo doc --no-deps`) and reads
//! rustdoc's output. The doc aliases of the generated builders (`ZADD`, `CLIENT KILL`,
//! `client|kill`) must reach the search index (rustdoc drops the aliases of items whose own
//! module is private), and the rendered pages must not show escaped HTML in code spans; each
//! command's page has its example (compiled by the conformance test's `doc_examples`).

use std::path::{Path, PathBuf};
use std::process::Command;

fn read_all(dir: &Path, out: &mut String) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            read_all(&path, out);
        } else if let Ok(text) = std::fs::read_to_string(&path) {
            out.push_str(&text);
            out.push('\n');
        }
    }
}

/// Builds the docs once and returns the `doc` directory.
fn doc_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate_dir.join("../target"));
        let status = Command::new(env!("CARGO"))
            .args(["doc", "--no-deps", "-p", "valkey-typed", "--all-features"])
            .current_dir(&crate_dir)
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("cargo doc runs");
        assert!(status.success(), "cargo doc failed");
        target.join("doc")
    })
    .clone()
}

#[test]
fn command_names_are_in_the_search_index() {
    let mut index = String::new();
    read_all(&doc_dir().join("search.index"), &mut index);
    // Aliases are stored lowercase; a name with a space or a `|` can only be an alias.
    for alias in ["client kill", "client|kill", "xinfo stream", "config set"] {
        assert!(index.contains(alias), "alias {alias:?} not in the index");
    }
    // The alias table is not empty (it is `rd_("")` when rustdoc dropped every alias).
    let mut aliases = String::new();
    read_all(&doc_dir().join("search.index/alias"), &mut aliases);
    assert!(aliases.len() > 200, "{aliases}");
}

#[test]
fn command_pages_show_code_not_escaped_html() {
    let dir = doc_dir().join("valkey/cmd");
    let xadd = std::fs::read_to_string(dir.join("fn.xadd.html")).unwrap();
    assert!(!xadd.contains("&amp;lt;"), "escaped HTML in XADD's page");
    let mut all = String::new();
    read_all(&dir, &mut all);
    assert!(!all.contains("&amp;lt;"), "escaped HTML in a command page");
}

#[test]
fn every_command_page_has_an_example() {
    let dir = doc_dir().join("valkey/cmd");
    let mut pages = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("fn.") {
            continue;
        }
        let html = std::fs::read_to_string(&path).unwrap();
        // The builder functions (not `lookup`, `args`, ...): their pages say "Since".
        if !html.contains("<strong>Since:</strong>") {
            continue;
        }
        pages += 1;
        assert!(
            html.contains("id=\"example\"") && html.contains(".send("),
            "{name} has no example"
        );
    }
    assert!(pages >= 399, "{pages} command pages");
}
