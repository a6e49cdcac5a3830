//! Rust names from spec names: `snake_case` for functions, methods, fields and parameters,
//! `CamelCase` for types and variants; keywords get a trailing `_`.

/// Rust keywords (strict and reserved) that cannot be plain identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Whether `s` is a Rust keyword.
pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Whether `s` has something to name a thing after (letters or digits).
pub fn has_words(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_alphabetic())
}

/// `CLIENT KILL` / `no-evict` / `unix-time-seconds` → `client_kill` / `no_evict` / ...
/// Keywords get a trailing `_`; a leading digit gets a leading `_`.
pub fn snake(s: &str) -> String {
    let mut out = words(s).join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    if is_keyword(&out) {
        out.push('_');
    }
    out
}

/// `client kill` / `LARGE-REQUEST` → `ClientKill` / `LargeRequest`.
pub fn camel(s: &str) -> String {
    let mut out: String = words(s)
        .iter()
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'N');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_and_camel() {
        assert_eq!(snake("CLIENT NO-EVICT"), "client_no_evict");
        assert_eq!(snake("unix-time-seconds"), "unix_time_seconds");
        assert_eq!(snake("type"), "type_");
        assert_eq!(snake("MATCH"), "match_");
        assert_eq!(snake("georadius_ro"), "georadius_ro");
        assert_eq!(camel("client kill"), "ClientKill");
        assert_eq!(camel("LARGE-REQUEST"), "LargeRequest");
        assert_eq!(camel("georadius_ro"), "GeoradiusRo");
        assert!(!has_words("~") && has_words("NO ONE"));
    }
}
