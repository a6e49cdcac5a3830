//! `valkey-codegen`: `generate` writes the command builders (and the conformance cases), `check`
//! says whether the committed ones are stale, `dump [--url URL]` refreshes `commands-json/` from a
//! live server (a harness-started `valkey-server` when no URL is given).

use std::path::PathBuf;
use std::process::ExitCode;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen lives in the workspace")
        .to_path_buf()
}

fn write_dump(files: &valkey_codegen::dump::Files) -> Result<(), String> {
    let dir = workspace_root().join("commands-json");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    // Remove spec files the server no longer has (the overlay and other `_` files stay).
    for entry in std::fs::read_dir(&dir).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".json") && !name.starts_with('_') && !files.contains_key(name) {
            std::fs::remove_file(&path).map_err(|e| e.to_string())?;
        }
    }
    for (name, text) in files {
        std::fs::write(dir.join(name), text).map_err(|e| e.to_string())?;
    }
    println!("wrote {} files to {}", files.len(), dir.display());
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        #[cfg(feature = "dump")]
        Some("dump") => {
            let files = match args.get(1..) {
                Some([flag, url]) if flag == "--url" => valkey_codegen::live::dump_url(url)?,
                Some([]) => valkey_codegen::live::dump_new_server()?,
                _ => return Err("usage: dump [--url URL]".into()),
            };
            write_dump(&files)
        }
        #[cfg(not(feature = "dump"))]
        Some("dump") => Err("dump needs the `dump` feature (on by default)".into()),
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
                "{} builders for {} commands, {} files written",
                g.builders,
                g.commands,
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
        _ => Err("usage: valkey-codegen generate | check | dump [--url URL]".into()),
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
