//! Every builder path, for the live path test (`tests/tests/command_paths.rs`): from a command's
//! minimal invocation (the conformance one), one invocation per optional argument and per choice
//! of a oneof, nested ones included, each giving exactly one thing more than the minimal one.
//!
//! A path is described by the argument it targets: the optional arguments on the way to it are
//! given (as chained methods, or as `Some` fields of generated structs) and the oneofs on the way
//! take the choice that leads to it. The overlay's `values` give single values where plain ones are
//! invalid, its `path_examples` whole invocations where adding one thing is not enough.

use super::conformance::{example_call, overlay_expr, typed, Values};
use crate::ir::{Arg, Command, Kind};
use crate::overlay::CommandOverlay;
use crate::shape::{Builder, Method};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use std::collections::{BTreeMap, BTreeSet};

/// The arguments a path can target: every optional argument and every choice of a oneof (the
/// first choice is usually the minimal invocation's, a path that is then dropped as a repeat,
/// but an overlay example may take another).
fn targets(args: &[Arg], out: &mut Vec<String>) {
    for a in args {
        if a.optional {
            out.push(a.path.clone());
        }
        if let Kind::OneOf(choices) = &a.kind {
            out.extend(choices.iter().map(|c| c.path.clone()));
        }
        targets(a.kind.children(), out);
    }
}

/// What reaching `target` takes: the choice of each oneof on the way (oneof path → index) and
/// the optional arguments on the way, the target included.
fn decide(cmd: &Command, target: &str) -> (BTreeMap<String, usize>, BTreeSet<String>) {
    let (mut choose, mut fill) = (BTreeMap::new(), BTreeSet::new());
    let parts: Vec<&str> = target.split('/').collect();
    for n in 1..=parts.len() {
        let path = parts[..n].join("/");
        let Some(a) = cmd.arg(&path) else { continue };
        if a.optional {
            fill.insert(path.clone());
        }
        if n > 1 {
            let parent = parts[..n - 1].join("/");
            if let Some(Kind::OneOf(choices)) = cmd.arg(&parent).map(|p| &p.kind) {
                if let Some(i) = choices.iter().position(|c| c.path == path) {
                    choose.insert(parent, i);
                }
            }
        }
    }
    (choose, fill)
}

/// Whether the path calls `m`: its argument is given, or (for a choice of an optional oneof,
/// one method per choice) the oneof is given with that choice.
fn calls(cmd: &Command, m: &Method, v: &Values) -> bool {
    if m.run_time_of.is_some() {
        // The run-time form of an option is the same builder path as the option itself.
        return false;
    }
    if let Some((parent, _)) = m.arg_path.rsplit_once('/') {
        if let Some(Kind::OneOf(choices)) = cmd.arg(parent).map(|p| &p.kind) {
            let index = choices.iter().position(|c| c.path == m.arg_path);
            return v.fill.contains(parent)
                && index == Some(v.choose.get(parent).copied().unwrap_or(0));
        }
    }
    v.fill.contains(&m.arg_path)
}

/// An invocation split into its constructor's arguments and its chained method calls (innermost
/// first); `None` when it is not of that form.
fn split(e: &syn::Expr) -> Option<(Vec<syn::Expr>, Vec<syn::ExprMethodCall>)> {
    match e {
        syn::Expr::MethodCall(m) => {
            let (args, mut methods) = split(&m.receiver)?;
            methods.push(m.clone());
            Some((args, methods))
        }
        syn::Expr::Paren(p) => split(&p.expr),
        syn::Expr::Call(c) => Some((c.args.iter().cloned().collect(), vec![])),
        _ => None,
    }
}

/// The invocation of one path: the minimal invocation's constructor arguments (those the path
/// does not reach into kept from the overlay's example), its options that do not fill a slot the
/// path fills (kept with their values when the path gives the same option), then the path's own
/// options.
fn path_call(
    cmd: &Command,
    ov: &CommandOverlay,
    b: &Builder,
    enums: &BTreeMap<String, String>,
    target: &str,
) -> syn::Expr {
    let mut v = Values::new(ov, enums);
    (v.choose, v.fill) = decide(cmd, target);
    let minimal = example_call(cmd, ov, b, enums);
    let (example_args, example_methods) = match (&ov.example, split(&minimal)) {
        (Some(_), Some((args, methods))) if args.len() == b.params.len() => (Some(args), methods),
        _ => (None, vec![]),
    };
    let reaches = |path: &str| {
        let under = |p: &String| p == path || p.starts_with(&format!("{path}/"));
        v.choose.keys().any(under) || v.fill.iter().any(under)
    };
    let reached: Vec<bool> = b.params.iter().map(|p| reaches(&p.arg_path)).collect();
    let args: Vec<TokenStream> = b
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| match &example_args {
            Some(args) if !reached[i] => args[i].to_token_stream(),
            _ => v.ctor_arg(cmd, ov, b, p),
        })
        .collect();
    // An option the example gives already keeps the example's value.
    let given: Vec<&Method> = b
        .methods
        .iter()
        .filter(|m| calls(cmd, m, &v) && !example_methods.iter().any(|e| e.method == m.name))
        .collect();
    let filled: BTreeSet<usize> = given
        .iter()
        .flat_map(|m| m.requires_unset.iter().copied())
        .collect();
    let f = format_ident!("{}", b.fn_name);
    let mut call: syn::Expr = syn::parse_quote!(cmd::#f(#(#args),*));
    for m in example_methods {
        let clashes = b
            .methods
            .iter()
            .filter(|x| m.method == x.name)
            .any(|x| x.sets.iter().any(|(slot, _)| filled.contains(slot)));
        if !clashes {
            call = syn::Expr::MethodCall(syn::ExprMethodCall {
                receiver: Box::new(call),
                ..m
            });
        }
    }
    for m in given {
        let name = format_ident!("{}", m.name);
        let params: Vec<TokenStream> = m
            .params
            .iter()
            .map(|p| match cmd.arg(&p.arg_path) {
                Some(a) => v.param(a, &b.type_name),
                None => quote!(()),
            })
            .collect();
        call = syn::parse_quote!(#call.#name(#(#params),*));
    }
    call
}

/// Every path of one command as (target argument, `""` for the minimal invocation; the
/// invocation), without repeats.
pub fn paths(
    cmd: &Command,
    ov: &CommandOverlay,
    b: &Builder,
    enums: &BTreeMap<String, String>,
) -> Vec<(String, syn::Expr)> {
    let mut all = vec![];
    targets(&cmd.args, &mut all);
    let mut seen = BTreeSet::new();
    let mut out = vec![];
    let minimal = example_call(cmd, ov, b, enums);
    for (target, call) in
        std::iter::once((String::new(), minimal)).chain(all.into_iter().map(|t| {
            let call = match ov.path_examples.get(&t) {
                Some(e) => overlay_expr(&cmd.full_name(), e),
                None => path_call(cmd, ov, b, enums, &t),
            };
            (t, call)
        }))
    {
        if seen.insert(call.to_token_stream().to_string()) {
            out.push((target, call));
        }
    }
    out
}

/// The cases of one command: (name, group, target, send and read into the typed `Output`).
pub fn cases(
    cmd: &Command,
    ov: &CommandOverlay,
    b: &Builder,
    enums: &BTreeMap<String, String>,
) -> Vec<TokenStream> {
    let name = cmd.full_name();
    let group = &cmd.group;
    paths(cmd, ov, b, enums)
        .into_iter()
        .map(|(target, call)| {
            let call = typed(b, call);
            quote!((#name, #group, #target, |con| con.send(#call).map(drop)),)
        })
        .collect()
}

/// The whole generated file.
pub fn file(cases: Vec<TokenStream>) -> TokenStream {
    let n = proc_macro2::Literal::usize_unsuffixed(cases.len());
    quote! {
        use valkey::cmd;

        /// One builder path: (command, group, the argument it gives or `""` for the minimal
        /// invocation, send it and read the reply into the builder's `Output`).
        pub type Path = (
            &'static str,
            &'static str,
            &'static str,
            fn(&mut valkey::sync::Connection) -> valkey::Result<()>,
        );

        /// Fixes a builder's caller-chosen reply type to `Value`.
        fn value<C: valkey::Command<Output = valkey::Value>>(c: C) -> C {
            c
        }

        /// Every builder path of every command.
        pub static PATHS: [Path; #n] = [#(#cases)*];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> (Command, CommandOverlay) {
        let text = r#"{"SET": {"group": "string", "since": "1.0.0", "summary": "s",
            "arity": -3, "arguments": [
              {"name": "key", "type": "key"},
              {"name": "value", "type": "string"},
              {"name": "condition", "type": "oneof", "optional": true, "arguments": [
                 {"name": "nx", "type": "pure-token", "token": "NX"},
                 {"name": "xx", "type": "pure-token", "token": "XX"}]},
              {"name": "expiration", "type": "oneof", "optional": true, "arguments": [
                 {"name": "seconds", "type": "integer", "token": "EX"},
                 {"name": "keepttl", "type": "pure-token", "token": "KEEPTTL"}]}]}}"#;
        let (n, s) = crate::spec::parse_file("set.json", text).unwrap();
        let cmd = crate::ir::command("set.json", &n, &s).unwrap();
        let ov = crate::overlay::parse(r#"{"commands": {"SET": {"reply": "()"}}}"#).unwrap();
        (cmd, ov.commands["SET"].clone())
    }

    #[test]
    fn each_path_adds_one_option_or_choice() {
        let (cmd, ov) = set();
        let enums = BTreeMap::new();
        let b = crate::shape::builder(&cmd, &ov, &enums).unwrap();
        let got: Vec<(String, String)> = paths(&cmd, &ov, &b, &enums)
            .into_iter()
            .map(|(t, c)| (t, c.to_token_stream().to_string().replace(' ', "")))
            .collect();
        let want = [
            ("", "cmd::set(\"k\",\"1\")"),
            ("condition", "cmd::set(\"k\",\"1\").nx()"),
            ("condition/xx", "cmd::set(\"k\",\"1\").xx()"),
            ("expiration", "cmd::set(\"k\",\"1\").ex(1)"),
            ("expiration/keepttl", "cmd::set(\"k\",\"1\").keepttl()"),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(t, c)| (t.to_string(), c.to_string()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn reaching_a_nested_choice_gives_its_ancestors() {
        let (cmd, _) = set();
        let (choose, fill) = decide(&cmd, "expiration/keepttl");
        assert_eq!(choose, [("expiration".to_string(), 1)].into());
        assert_eq!(fill, ["expiration".to_string()].into());
    }
}
