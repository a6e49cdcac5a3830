//! Doc text for generated items: the command's syntax line, summary, complexity, versions,
//! history, ACL categories, reply, and each argument's own notes.

use crate::ir::{Arg, Command, Kind};
use crate::overlay::CommandOverlay;

/// An argument as the server's docs write it: `[EX seconds | PX milliseconds]`, `key [key ...]`.
pub fn syntax(arg: &Arg) -> String {
    syntax_in(arg, false)
}

fn syntax_in(arg: &Arg, in_oneof: bool) -> String {
    let one = match &arg.kind {
        Kind::PureToken => arg.token.clone().unwrap_or_default(),
        Kind::OneOf(c) => {
            let inner = c
                .iter()
                .map(|x| syntax_in(x, true))
                .collect::<Vec<_>>()
                .join(" | ");
            let inner = match &arg.token {
                Some(t) => format!("{t} {inner}"),
                None => inner,
            };
            if arg.optional || in_oneof && c.len() > 1 {
                inner
            } else {
                format!("<{inner}>")
            }
        }
        Kind::Block(c) => {
            let inner = c
                .iter()
                .map(|x| syntax_in(x, false))
                .collect::<Vec<_>>()
                .join(" ");
            match &arg.token {
                Some(t) => format!("{t} {inner}"),
                None => inner,
            }
        }
        _ => match &arg.token {
            Some(t) => format!("{t} {}", arg.display),
            None => arg.display.clone(),
        },
    };
    let repeated = if arg.multiple {
        let again = if arg.multiple_token || arg.token.is_none() {
            one.clone()
        } else {
            // The token is written once: repeat only the value.
            one.split_once(' ')
                .map_or(one.as_str(), |x| x.1)
                .to_string()
        };
        format!("{one} [{again} ...]")
    } else {
        one
    };
    if arg.optional && !in_oneof {
        format!("[{repeated}]")
    } else {
        repeated
    }
}

/// The command's full syntax line.
pub fn command_syntax(cmd: &Command) -> String {
    let mut s = cmd.full_name();
    for a in &cmd.args {
        s.push(' ');
        s.push_str(&syntax(a));
    }
    s
}

/// Escapes text for a doc comment: angle brackets outside code spans would be read as HTML, so
/// they become entities there; inside a code span (the specs use backticks) they stay as they
/// are, because an entity would be printed literally (`&lt;ms&gt;`).
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // Even-numbered pieces are outside code spans; an unclosed backtick leaves the rest plain.
    let pieces: Vec<&str> = s.split('`').collect();
    let closed = pieces.len() % 2 == 1;
    for (i, piece) in pieces.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        let in_code = i % 2 == 1 && (closed || i + 1 < pieces.len());
        if in_code {
            out.push_str(piece);
        } else {
            out.push_str(&piece.replace('<', "&lt;").replace('>', "&gt;"));
        }
    }
    out
}

/// The reply's description from the overlay.
pub fn reply(ov: &CommandOverlay, method_names: &dyn Fn(&str) -> Vec<String>) -> Vec<String> {
    let ty = |t: &str| {
        if t == "T" {
            "the caller's choice of type (`T: FromValkey`)".to_string()
        } else if crate::overlay::uses_t(t) {
            format!("`{t}`, with `T` chosen by the caller")
        } else {
            format!("`{t}`")
        }
    };
    let mut out = vec![format!("- **Reply:** {}", ty(&ov.reply))];
    if let Some(d) = &ov.reply_doc {
        out.push(format!("  {}", text(d)));
    }
    for w in &ov.reply_when {
        let ms = method_names(&w.arg)
            .iter()
            .map(|m| format!("`{m}()`"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push(format!("  - with {ms}: {}", ty(&w.reply)));
    }
    if let Some(r2) = &ov.resp2 {
        out.push(format!("  - RESP2: {}", text(r2)));
    }
    if let Some(r3) = &ov.resp3 {
        out.push(format!("  - RESP3: {}", text(r3)));
    }
    out
}

/// The doc lines of a command's constructor.
pub fn command_doc(
    cmd: &Command,
    ov: Option<&CommandOverlay>,
    methods: &dyn Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let mut d = vec![text(&cmd.summary), String::new()];
    d.push("```text".into());
    d.push(command_syntax(cmd));
    d.push("```".into());
    d.push(String::new());
    if let Some(c) = &cmd.complexity {
        d.push(format!("- **Complexity:** {}", text(c)));
    }
    d.push(format!("- **Since:** {}", cmd.since));
    d.push(format!("- **Group:** {}", cmd.group));
    if !cmd.acl_categories.is_empty() {
        let cats = cmd
            .acl_categories
            .iter()
            .map(|c| format!("`@{}`", c.to_lowercase()))
            .collect::<Vec<_>>()
            .join(", ");
        d.push(format!("- **ACL categories:** {cats}"));
    }
    if !cmd.flags.is_empty() {
        d.push(format!(
            "- **Flags:** {}",
            cmd.flags.join(", ").to_lowercase()
        ));
    }
    if let Some(ov) = ov {
        d.extend(reply(ov, methods));
    }
    if cmd.is_deprecated() || cmd.deprecated_since.is_some() {
        d.push(String::new());
        let since = cmd
            .deprecated_since
            .map(|v| format!(" since {v}"))
            .unwrap_or_default();
        let by = cmd
            .replaced_by
            .as_deref()
            .map(|r| format!(" Replaced by {}.", text(r)))
            .unwrap_or_default();
        d.push(format!(
            "**Deprecated**{since}.{by} Still generated without `#[deprecated]`, so that code which \
             needs it compiles without warnings."
        ));
    }
    if cmd.is_container() {
        d.push(String::new());
        d.push(format!(
            "A container: the server runs its subcommands ({}), each with its own builder.",
            cmd.subcommands
                .iter()
                .map(|s| format!("`{} {s}`", cmd.path[0]))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !cmd.history.is_empty() {
        d.push(String::new());
        d.push("**History**".into());
        d.push(String::new());
        for (v, change) in &cmd.history {
            d.push(format!("- {v}: {}", text(change)));
        }
    }
    d
}

/// A command's example, as a doc section: `statement` (`let reply: T = con.send(..)?;`) on a
/// connection, formatted. The same statement is compiled by the generated `doc_examples`.
pub fn example(statement: &proc_macro2::TokenStream) -> String {
    let file: syn::File = syn::parse_quote! {
        fn f() { #statement }
    };
    let text = prettyplease::unparse(&file);
    let body: Vec<&str> = text
        .lines()
        .skip(1)
        .take_while(|l| *l != "}")
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    format!(
        "\n# Example\n\n```rust,no_run\n# use valkey::{{cmd, Value}};\n# fn main() -> valkey::Result<()> {{\n\
         # let mut con = valkey::Client::open(\"valkey://127.0.0.1:6379\")?.get_connection()?;\n\
         {}\n# Ok(()) }}\n```",
        body.join("\n")
    )
}

/// One line describing a constructor parameter: what it is and how it is written.
pub fn param_doc(arg: &Arg, ty: &crate::shape::Ty) -> String {
    let what = match &arg.kind {
        Kind::Key => "a key",
        Kind::String => "a string",
        Kind::Pattern => "a glob-style pattern",
        Kind::Integer => "an integer",
        Kind::Double => "a number",
        Kind::UnixTime => "a Unix time",
        Kind::PureToken => "a token",
        Kind::OneOf(_) => "one of the choices",
        Kind::Block(_) => "a group",
    };
    let mut line = if arg.multiple {
        let shape = match &arg.kind {
            Kind::Block(c) if arg.is_plain_block() => format!(
                "tuples `({})`",
                c.iter()
                    .map(|x| x.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Kind::OneOf(_) | Kind::Block(_) => {
                format!("values of the generated type for `{}`", arg.name)
            }
            _ => {
                what.trim_start_matches("an ")
                    .trim_start_matches("a ")
                    .to_string()
                    + "s"
            }
        };
        format!("one or more: a collection of {shape}, or a single one")
    } else {
        match &arg.kind {
            Kind::OneOf(_) | Kind::Block(_) => format!("[`{}`]", super::rust::ty_name(ty)),
            _ => what.to_string(),
        }
    };
    line.push_str(&format!(" — `{}`", syntax(arg)));
    if let Some(s) = &arg.summary {
        line.push_str(&format!(". {}", text(s)));
    }
    if let Some(v) = arg.since {
        line.push_str(&format!(" (since {v})"));
    }
    line
}

/// The doc lines of an argument (method, parameter, variant).
pub fn arg_doc(arg: &Arg) -> Vec<String> {
    let mut d = vec![format!("`{}`", syntax_in(arg, true))];
    if let Some(s) = &arg.summary {
        d.push(String::new());
        d.push(text(s));
    }
    let mut notes = vec![];
    if let Some(v) = arg.since {
        notes.push(format!("since {v}"));
    }
    if let Some(v) = arg.deprecated_since {
        notes.push(format!("deprecated since {v}"));
    }
    if !notes.is_empty() {
        d.push(String::new());
        d.push(format!("({})", notes.join("; ")));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_brackets_are_escaped_outside_code_spans_only() {
        assert_eq!(text("`<ms>-<seq>` or <ms>"), "`<ms>-<seq>` or &lt;ms&gt;");
        assert_eq!(text("a `b` <c> `d"), "a `b` &lt;c&gt; `d");
    }

    #[test]
    fn syntax_reads_like_the_server_docs() {
        let (n, s) = crate::spec::parse_file(
            "t",
            r#"{"SET": {"group": "g", "since": "1.0.0", "summary": "s", "arity": -3, "arguments": [
                {"name": "key", "type": "key", "multiple": true},
                {"name": "condition", "type": "oneof", "optional": true, "arguments": [
                  {"name": "nx", "type": "pure-token", "token": "NX"},
                  {"name": "v", "type": "string", "token": "IFEQ"}]},
                {"name": "w", "type": "oneof", "arguments": [
                  {"name": "l", "type": "pure-token", "token": "LEFT"},
                  {"name": "r", "type": "pure-token", "token": "RIGHT"}]},
                {"name": "get", "type": "pattern", "token": "GET", "optional": true,
                 "multiple": true, "multiple_token": true},
                {"name": "limit", "type": "block", "token": "LIMIT", "optional": true,
                 "arguments": [{"name": "offset", "type": "integer"},
                               {"name": "count", "type": "integer"}]}]}}"#,
        )
        .unwrap();
        let c = crate::ir::command("t", &n, &s).unwrap();
        assert_eq!(
            command_syntax(&c),
            "SET key [key ...] [NX | IFEQ v] <LEFT | RIGHT> [GET get [GET get ...]] [LIMIT offset count]"
        );
    }
}
