//! `valkey-codegen`: `generate` writes the command builders (and the conformance cases), `check`
//! says whether the committed ones are stale, `check-replies [DIR]` compares the overlay's reply
//! types with Valkey's reply schemas. Refreshing `commands-json/` from a live server is
//! the `dump` binary (feature `dump`), so that this one never needs the runtime crate.

use std::path::PathBuf;
use std::process::ExitCode;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen lives in the workspace")
        .to_path_buf()
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        // Dumping needs the project's own client (and a server): its own binary, so that
        // generating never needs the runtime crate to build.
        Some("dump") => Err(
            "dump is its own binary: cargo run -p valkey-codegen --features dump --bin dump -- [--url URL]"
                .into(),
        ),
        Some("generate") => {
            let root = workspace_root();
            let g = valkey_codegen::emit::generate_dir(&root.join("commands-json"))?;
            let out = root.join(valkey_codegen::emit::GENERATED_DIR);
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            // Files no longer generated are removed.
            for entry in std::fs::read_dir(&out).map_err(|e| e.to_string())? {
                let path = entry.map_err(|e| e.to_string())?.path();
                let rel = format!(
                    "{}/{}",
                    valkey_codegen::emit::GENERATED_DIR,
                    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
                );
                if rel.ends_with(".rs") && !g.files.contains_key(&rel) {
                    std::fs::remove_file(&path).map_err(|e| e.to_string())?;
                }
            }
            for (rel, text) in &g.files {
                let path = root.join(rel);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
                }
                std::fs::write(&path, text).map_err(|e| e.to_string())?;
            }
            println!(
                "{} builders for {} commands ({} builder paths), {} files written",
                g.builders,
                g.commands,
                g.paths,
                g.files.len()
            );
            if !g.missing_overlay.is_empty() {
                println!(
                    "{} commands have no overlay entry (reply: Value): {}",
                    g.missing_overlay.len(),
                    g.missing_overlay.join(", ")
                );
            }
            Ok(())
        }
        Some("check") => {
            // What the staleness test checks, as a command: the committed outputs match.
            let root = workspace_root();
            let g = valkey_codegen::emit::generate_dir(&root.join("commands-json"))?;
            let stale: Vec<&String> = g
                .files
                .iter()
                .filter(|(rel, text)| {
                    std::fs::read_to_string(root.join(rel)).ok().as_ref() != Some(*text)
                })
                .map(|(rel, _)| rel)
                .collect();
            if stale.is_empty() {
                println!("generated code is up to date ({} builders)", g.builders);
                Ok(())
            } else {
                Err(format!(
                    "stale: {stale:?}; run `cargo run -p valkey-codegen -- generate`"
                ))
            }
        }
        Some("check-replies") => check_replies(args.get(1).map(String::as_str)),
        _ => Err("usage: valkey-codegen generate | check | check-replies [DIR]".into()),
    }
}

/// The overlay's reply types against the `reply_schema`s of Valkey's command JSON in `dir` (or
/// `$VALKEY_COMMAND_SPECS`, or `../shared/reference/valkey-command-specs`): a warning, not a
/// failure, when none is given and the default places have none.
fn check_replies(dir: Option<&str>) -> Result<(), String> {
    use valkey_codegen::replies;
    let root = workspace_root();
    let Some(specs) = replies::find_specs_dir(&root, dir)? else {
        eprintln!(
            "warning: reply schemas not checked: no directory of Valkey's command JSON found \
             (give it as an argument or in ${})",
            replies::SPECS_ENV
        );
        return Ok(());
    };
    let text = std::fs::read_to_string(root.join("commands-json/_overlay.json"))
        .map_err(|e| format!("_overlay.json: {e}"))?;
    let overlay = valkey_codegen::overlay::parse(&text)?;
    let schemas = replies::read_schemas(&specs)?;
    if schemas.is_empty() {
        return Err(format!(
            "{}: no command JSON with a reply_schema",
            specs.display()
        ));
    }
    let r = replies::check(&overlay, &schemas)?;
    println!(
        "reply schemas ({}): {} commands checked, {} agree ({} of them read into the caller's \
         type or Value, which agrees with any schema), {} listed exceptions, {} failures; {} \
         overlay commands have no schema there",
        specs.display(),
        r.checked,
        r.agreeing,
        r.open,
        r.excepted.len(),
        r.failures.len() + r.stale_exceptions.len(),
        r.without_schema.len()
    );
    for (name, diff) in &r.excepted {
        println!(
            "  exception {name}: {} ({})",
            diff.join("; "),
            overlay.reply_schema_exceptions[name]
        );
    }
    if r.ok() {
        Ok(())
    } else {
        Err(format!(
            "the overlay disagrees with the reply schemas (fix the overlay, or list the command \
             in reply_schema_exceptions with why):\n{}",
            r.failures
                .iter()
                .chain(&r.stale_exceptions)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        ))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
