//! `valkey-codegen`: `generate` writes the command builders (and the conformance cases), `check`
//! says whether the committed ones are stale. Refreshing `commands-json/` from a live server is
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
        _ => Err("usage: valkey-codegen generate | check".into()),
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
