//! `dump [--url URL]`: refreshes `commands-json/` from a live server's `COMMAND DOCS` and
//! `COMMAND INFO` (a harness-started `valkey-server` when no URL is given). Its own binary behind
//! the `dump` feature: it needs the project's own client, which `generate` must not.
//!
//! `cargo run -p valkey-codegen --features dump --bin dump -- [--url URL]`

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
    let files = match args {
        [flag, url] if flag == "--url" => valkey_codegen::live::dump_url(url)?,
        [] => valkey_codegen::live::dump_new_server()?,
        _ => return Err("usage: dump [--url URL]".into()),
    };
    write_dump(&files)
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
