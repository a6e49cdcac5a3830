//! The committed outputs are what the generator makes of the committed inputs: the generated
//! builders (`valkey/src/cmd/generated/`) match a fresh in-memory generation, and every command of
//! the dump has its builder. Regenerate with `cargo run -p valkey-codegen -- generate`.

use std::path::{Path, PathBuf};
use valkey_codegen::{emit, spec};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn committed_generated_code_is_not_stale() {
    let g = emit::generate_dir(&root().join("commands-json")).unwrap();
    let mut stale = vec![];
    for (name, text) in &g.files {
        match std::fs::read_to_string(root().join(name)) {
            Ok(committed) if &committed == text => {}
            Ok(_) => stale.push(format!("{name} differs")),
            Err(_) => stale.push(format!("{name} is missing")),
        }
    }
    for entry in std::fs::read_dir(root().join(emit::GENERATED_DIR)).unwrap() {
        let name = format!(
            "{}/{}",
            emit::GENERATED_DIR,
            entry.unwrap().file_name().to_string_lossy()
        );
        if !g.files.contains_key(&name) {
            stale.push(format!("{name} is not generated any more"));
        }
    }
    assert!(
        stale.is_empty(),
        "generated code is stale ({}); run `cargo run -p valkey-codegen -- generate`",
        stale.join(", ")
    );
}

#[test]
fn every_command_of_the_dump_has_a_builder_and_an_overlay_entry() {
    let dir = root().join("commands-json");
    let set = spec::read_dir(&dir).unwrap();
    let server = set.server.clone().expect("commands-json/_server.json");
    assert_eq!(set.files.len(), server.commands);
    let g = emit::generate_dir(&dir).unwrap();
    assert_eq!(g.commands, server.commands);
    assert_eq!(g.builders, server.commands, "one builder per command");
    assert_eq!(
        server.commands, 399,
        "Valkey 9.1 has 399 commands and subcommands"
    );
    assert!(
        g.missing_overlay.is_empty(),
        "commands without an overlay entry: {:?}",
        g.missing_overlay
    );
    // Each command's constructor is in the generated code (found by its doc alias), and there
    // are exactly as many constructors (the only top-level `pub fn`s) as commands.
    let all: String = g.files.values().cloned().collect();
    for (name, s) in set.files.values() {
        let full = match &s.container {
            Some(c) => format!("{c} {name}"),
            None => name.clone(),
        };
        assert!(
            all.contains(&format!("#[doc(alias = \"{full}\")]\n")),
            "{full}"
        );
    }
    let builders: String = g
        .files
        .iter()
        .filter(|(path, _)| path.starts_with(valkey_codegen::emit::GENERATED_DIR))
        .map(|(_, text)| text.as_str())
        .collect();
    let constructors = builders
        .lines()
        .filter(|l| l.starts_with("pub fn "))
        .count();
    assert_eq!(constructors, server.commands);
}

#[test]
fn the_dump_is_in_the_dumpers_own_format() {
    // Every spec file reads back and writes out byte for byte: sorted keys, one format.
    let dir = root().join("commands-json");
    let set = spec::read_dir(&dir).unwrap();
    for (file, (name, s)) in &set.files {
        let mut m = std::collections::BTreeMap::new();
        m.insert(name.clone(), s.clone());
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(spec::to_json_text(&m).unwrap(), text, "{file}");
    }
}

#[test]
fn every_count_before_a_repeated_argument_is_computed() {
    // A required integer named num* right before a repeated argument is the count of it: the
    // builder must compute it (the overlay's `counts`), never ask the caller.
    let dir = root().join("commands-json");
    let set = spec::read_dir(&dir).unwrap();
    let text = std::fs::read_to_string(dir.join("_overlay.json")).unwrap();
    let overlay = valkey_codegen::overlay::parse(&text).unwrap();
    let cmds = valkey_codegen::ir::normalize(&set).unwrap();
    let mut missing = vec![];
    fn walk(args: &[valkey_codegen::ir::Arg], out: &mut Vec<String>) {
        for pair in args.windows(2) {
            let (n, next) = (&pair[0], &pair[1]);
            if n.kind == valkey_codegen::ir::Kind::Integer
                && !n.optional
                && n.name.starts_with("num")
                && next.multiple
            {
                out.push(n.path.clone());
            }
        }
        for a in args {
            walk(a.kind.children(), out);
        }
    }
    for c in &cmds {
        let mut counts = vec![];
        walk(&c.args, &mut counts);
        let o = &overlay.commands[&c.full_name()];
        for p in counts {
            if !o.counts.contains_key(&p) {
                missing.push(format!("{} {p}", c.full_name()));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "counts the caller would have to pass: {missing:?}"
    );
}
