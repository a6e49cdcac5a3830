//! The builder invocations the live tests use: one minimal invocation per command, which
//! `tests/tests/command_conformance.rs` sends in RESP2 and RESP3 (its reply must read into the
//! builder's `Output`) and `tests/tests/builder_keys.rs` encodes (its keys must be where
//! `routing::key_positions` and the server's `COMMAND GETKEYS` say), plus the overlay's
//! `key_examples`: invocations with the options that carry keys or move them, for the key test.
//!
//! Required arguments get plain values: keys `"k"`, `"k2"`, `"k3"`, ... (distinct, so that a key
//! is told apart from the others by its name), `"1"` for strings, `1`, `0.5`, an enum's first
//! choice. The overlay's `values` replace single ones, its `example` the whole invocation, where
//! those are invalid.

use crate::ir::{Arg, Command, Kind};
use crate::overlay::{uses_t, CommandOverlay};
use crate::shape::{owned_name, variant_name, Builder, Output};
use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use std::collections::{BTreeMap, BTreeSet};

/// Plain values for one invocation; counts the keys given so far, to name each one apart.
/// `choose` and `fill` describe a builder path (see `paths`): the choice taken in a oneof
/// (default: the first) and the optional arguments given inside generated enums and structs
/// (default: none).
pub(crate) struct Values<'a> {
    pub(crate) enums: &'a BTreeMap<String, String>,
    pub(crate) names: &'a BTreeMap<String, String>,
    pub(crate) types: &'a BTreeMap<String, String>,
    /// The overlay's `values`: argument path → the value to give it.
    pub(crate) values: &'a BTreeMap<String, String>,
    /// The overlay's `counts` (computed, never given).
    pub(crate) counts: &'a BTreeMap<String, String>,
    pub(crate) keys: usize,
    /// Oneof path → the index of the choice taken.
    pub(crate) choose: BTreeMap<String, usize>,
    /// Optional arguments given.
    pub(crate) fill: BTreeSet<String>,
}

impl<'a> Values<'a> {
    /// Values for the minimal invocation of a command.
    pub(crate) fn new(ov: &'a CommandOverlay, enums: &'a BTreeMap<String, String>) -> Self {
        Values {
            enums,
            names: &ov.names,
            types: &ov.types,
            values: &ov.values,
            counts: &ov.counts,
            keys: 0,
            choose: BTreeMap::new(),
            fill: BTreeSet::new(),
        }
    }

    /// A single value: the overlay's value for the argument, else a plain one.
    pub(crate) fn leaf(&mut self, arg: &Arg) -> TokenStream {
        if let Some(v) = self.values.get(&arg.path) {
            return overlay_expr(&arg.path, v).into_token_stream();
        }
        match &arg.kind {
            Kind::Key => {
                self.keys += 1;
                let key = match self.keys {
                    1 => "k".to_string(),
                    n => format!("k{n}"),
                };
                quote!(#key)
            }
            Kind::Pattern => quote!("*"),
            Kind::String => quote!("1"),
            Kind::Integer | Kind::UnixTime => quote!(1),
            Kind::Double => quote!(0.5),
            _ => quote!(()),
        }
    }

    /// A value for an argument passed as a builder parameter (`impl ToValkeyArg(s)` or an enum).
    pub(crate) fn param(&mut self, arg: &Arg, parent: &str) -> TokenStream {
        let one = match &arg.kind {
            Kind::Block(children) if arg.multiple && arg.is_plain_block() => {
                // An element of a repeated block is a tuple of its values.
                let parts: Vec<_> = children
                    .iter()
                    .filter(|c| c.kind != Kind::PureToken && !c.optional)
                    .map(|c| self.leaf(c))
                    .collect();
                quote!((#(#parts),*))
            }
            Kind::OneOf(_) | Kind::Block(_) => self.owned(arg, parent),
            _ => self.leaf(arg),
        };
        if arg.multiple {
            quote!([#one])
        } else {
            one
        }
    }

    /// A value of a generated enum or struct: its first choice, each field filled.
    fn owned(&mut self, arg: &Arg, parent: &str) -> TokenStream {
        let name = owned_name(parent, arg, self.enums, self.names, self.types);
        let ty = format_ident!("{}", name);
        match &arg.kind {
            Kind::OneOf(choices) => {
                let at = self.choose.get(&arg.path).copied().unwrap_or(0);
                let c = &choices[at.min(choices.len() - 1)];
                let v = format_ident!("{}", variant_name(c, self.names));
                match &c.kind {
                    Kind::PureToken => quote!(cmd::#ty::#v),
                    Kind::Block(children) if !c.multiple => {
                        let own = self
                            .names
                            .get(&c.path)
                            .map_or(c.name.as_str(), String::as_str);
                        let inner = format!("{name}{}", crate::names::camel(own));
                        let fields = self.fields(children, &inner);
                        quote!(cmd::#ty::#v { #(#fields),* })
                    }
                    _ => {
                        let mut req = c.clone();
                        req.optional = false;
                        let val = self.field(&req, &name);
                        quote!(cmd::#ty::#v(#val))
                    }
                }
            }
            Kind::Block(children) => {
                let fields = self.fields(children, &name);
                quote!(cmd::#ty { #(#fields),* })
            }
            _ => quote!(()),
        }
    }

    fn fields(&mut self, children: &[Arg], parent: &str) -> Vec<TokenStream> {
        let mut used = std::collections::BTreeSet::new();
        children
            .iter()
            .filter(|c| {
                (c.kind != Kind::PureToken || c.optional) && !self.counts.contains_key(&c.path)
            })
            .map(|c| {
                let mut n = self
                    .names
                    .get(&c.path)
                    .cloned()
                    .unwrap_or_else(|| crate::names::snake(&c.name));
                while !used.insert(n.clone()) {
                    n.push('_');
                }
                let f = format_ident!("{}", n);
                let v = self.field(c, parent);
                quote!(#f: #v)
            })
            .collect()
    }

    /// A value inside owned data: `Bytes` from text, `i64`, `f64`, `Vec`, `Option` (None), `bool`.
    fn field(&mut self, arg: &Arg, parent: &str) -> TokenStream {
        let given = self.fill.contains(&arg.path);
        if arg.optional && !given {
            return if arg.kind == Kind::PureToken {
                quote!(false)
            } else {
                quote!(None)
            };
        }
        let one = match &arg.kind {
            Kind::PureToken => return quote!(true),
            Kind::Key | Kind::String | Kind::Pattern => {
                let l = self.leaf(arg);
                quote!(#l.into())
            }
            Kind::OneOf(_) | Kind::Block(_) => self.owned(arg, parent),
            _ => self.leaf(arg),
        };
        let all = if arg.multiple {
            quote!(vec![#one])
        } else {
            one
        };
        if arg.optional {
            quote!(Some(#all))
        } else {
            all
        }
    }
}

/// The methods `call` chains on its builder (`cmd::sort("k").limit(0, 1).store("d")`: `limit`,
/// `store`).
pub(crate) fn chained_methods(call: &syn::Expr) -> Vec<String> {
    let mut out = vec![];
    let mut e = call;
    loop {
        match e {
            syn::Expr::MethodCall(m) => {
                out.push(m.method.to_string());
                e = &m.receiver;
            }
            syn::Expr::Paren(p) => e = &p.expr,
            _ => return out,
        }
    }
}

/// Whether the reply type of `call` is still the caller's open `T` once its options are given
/// (an option may pin it, `SORT ... STORE` to `i64`, or raise the reply to it, `SET ... GET`).
/// Such an invocation has its `T` fixed to `Value`, or it would not compile.
pub(crate) fn reply_is_open(b: &Builder, call: &syn::Expr) -> bool {
    let called = chained_methods(call);
    let methods = || b.methods.iter().filter(|m| called.contains(&m.name));
    match &b.output {
        Output::Fixed(_) => false,
        Output::User(ty) => uses_t(ty) && !methods().any(|m| m.pins_t.is_some()),
        Output::Leveled(base) => {
            let raised = methods()
                .filter_map(|m| m.reply.as_ref())
                .max_by_key(|(level, _)| *level);
            uses_t(raised.map_or(base, |(_, reply)| reply))
        }
    }
}

/// An overlay expression as tokens (validated by the overlay already; a parse error here is
/// reported by the compiler at the case).
pub(crate) fn overlay_expr(name: &str, text: &str) -> syn::Expr {
    syn::parse_str(text).unwrap_or_else(|err| {
        let msg = format!("{name}: example does not parse: {err}");
        syn::parse_quote!(compile_error!(#msg))
    })
}

/// `call`, with its reply fixed to `Value` when it is the caller's open `T`.
pub(crate) fn typed(b: &Builder, call: syn::Expr) -> TokenStream {
    if reply_is_open(b, &call) {
        quote!(value(#call))
    } else {
        quote!(#call)
    }
}

/// A closure encoding `call` into a buffer, giving back the builder's own metadata and the keys
/// it names without encoding (`None` when it cannot tell).
fn encoder(call: &TokenStream) -> TokenStream {
    quote!(|buf| {
        let c = #call;
        valkey::cmd::encode(&c, buf).expect("encodes");
        (valkey::Command::meta(&c), valkey::cmd::builder_keys(&c))
    })
}

/// `ty` with the caller's `T` read as `String` (for an example a reader can follow), or as
/// `valkey::Value` when `T` is the whole reply (its shape is open).
fn t_as_string(ty: &str) -> String {
    if ty.trim() == "T" {
        return "valkey::Value".into();
    }
    let mut out = String::new();
    let mut word = String::new();
    for ch in ty.chars().chain(std::iter::once(' ')) {
        if ch.is_alphanumeric() || ch == '_' {
            word.push(ch);
            continue;
        }
        out.push_str(if word == "T" { "String" } else { &word });
        word.clear();
        out.push(ch);
    }
    out.trim_end().to_string()
}

/// The type `call`'s reply is read into, with an open `T` read as `String`.
pub fn example_output(b: &Builder, call: &syn::Expr) -> String {
    let called = chained_methods(call);
    let methods = || b.methods.iter().filter(|m| called.contains(&m.name));
    let ty = match &b.output {
        Output::Fixed(t) => t.clone(),
        Output::User(ty) => methods()
            .find_map(|m| m.pins_t.clone())
            .unwrap_or_else(|| ty.clone()),
        Output::Leveled(base) => methods()
            .filter_map(|m| m.reply.as_ref())
            .max_by_key(|(level, _)| *level)
            .map_or_else(|| base.clone(), |(_, r)| r.clone()),
    };
    t_as_string(&ty)
}

/// The command's example invocation: the overlay's `example`, else plain values for the
/// required arguments.
pub fn example_call(
    cmd: &Command,
    ov: &CommandOverlay,
    b: &Builder,
    enums: &BTreeMap<String, String>,
) -> syn::Expr {
    match &ov.example {
        Some(e) => overlay_expr(&cmd.full_name(), e),
        None => {
            let mut values = Values::new(ov, enums);
            let f = format_ident!("{}", b.fn_name);
            let args = b.params.iter().map(|p| values.ctor_arg(cmd, ov, b, p));
            syn::parse_quote!(cmd::#f(#(#args),*))
        }
    }
}

impl Values<'_> {
    /// The value of a constructor parameter.
    pub(crate) fn ctor_arg(
        &mut self,
        cmd: &Command,
        ov: &CommandOverlay,
        b: &Builder,
        p: &crate::shape::Param,
    ) -> TokenStream {
        match cmd.arg(&p.arg_path) {
            // A group of pairs (the overlay's `pairs`): one pair.
            Some(a) if ov.pairs.contains(&a.path) => {
                let parts: Vec<_> = a.kind.children().iter().map(|c| self.leaf(c)).collect();
                quote!([(#(#parts),*)])
            }
            Some(a) => self.param(a, &b.type_name),
            None => quote!(()),
        }
    }
}

/// The statement a command's doc example shows (and `doc_examples` compiles):
/// `let reply: i64 = con.send(cmd::incr("k"))?;`.
pub fn example_statement(
    cmd: &Command,
    ov: &CommandOverlay,
    b: &Builder,
    enums: &BTreeMap<String, String>,
) -> TokenStream {
    let call = example_call(cmd, ov, b, enums);
    let out: syn::Type = syn::parse_str(&example_output(b, &call))
        .unwrap_or_else(|_| syn::parse_quote!(valkey::Value));
    quote!(let reply: #out = con.send(#call)?;)
}

/// The case of one command: its name, group, whether the overlay documents its RESP2/RESP3
/// shapes, the minimal invocation sent typed and raw, and the same invocation encoded.
pub fn case(
    cmd: &Command,
    ov: &CommandOverlay,
    b: &Builder,
    enums: &BTreeMap<String, String>,
) -> TokenStream {
    let name = cmd.full_name();
    let group = &cmd.group;
    let call = example_call(cmd, ov, b, enums);
    let call = typed(b, call);
    let encode = encoder(&call);
    let documented = ov.resp2.is_some() || ov.resp3.is_some();
    quote!((#name, #group, #documented, |con| con.send(#call).map(drop), |con| con.send_as::<_, valkey::Value>(&#call), #encode),)
}

/// The overlay's `key_examples` of one command: (name, encode the invocation).
pub fn key_examples(cmd: &Command, ov: &CommandOverlay, b: &Builder) -> Vec<TokenStream> {
    let name = cmd.full_name();
    ov.key_examples
        .iter()
        .map(|e| {
            let encode = encoder(&typed(b, overlay_expr(&name, e)));
            quote!((#name, #encode),)
        })
        .collect()
}

/// The whole generated file.
pub fn file(
    cases: Vec<TokenStream>,
    key_examples: Vec<TokenStream>,
    doc_examples: Vec<TokenStream>,
) -> TokenStream {
    let n = proc_macro2::Literal::usize_unsuffixed(cases.len());
    let n_keys = proc_macro2::Literal::usize_unsuffixed(key_examples.len());
    quote! {
        use valkey::cmd;
        use valkey::Value;

        /// One command's case: (name, group, whether the overlay documents RESP2/RESP3 shapes,
        /// send typed, send reading a raw `Value`, encode).
        pub type Case = (
            &'static str,
            &'static str,
            bool,
            fn(&mut valkey::sync::Connection) -> valkey::Result<()>,
            fn(&mut valkey::sync::Connection) -> valkey::Result<valkey::Value>,
            Encode,
        );

        /// Encodes an invocation (appends its RESP array to the buffer) and gives the builder's
        /// own metadata (`Command::meta`) and its keys (`cmd::builder_keys`).
        pub type Encode = fn(&mut Vec<u8>) -> (Option<&'static valkey::cmd::CommandMeta>, Option<Vec<Vec<u8>>>);

        /// Fixes a builder's caller-chosen reply type to `Value`.
        fn value<C: valkey::Command<Output = valkey::Value>>(c: C) -> C {
            c
        }

        /// One minimal invocation per command.
        pub static CASES: [Case; #n] = [#(#cases)*];

        /// Invocations with the options that carry keys or move them (the overlay's
        /// `key_examples`): (name, encode).
        pub static KEY_EXAMPLES: [(&str, Encode); #n_keys] = [#(#key_examples)*];

        /// Each command's doc example, as its page shows it: compiled here (not run), so that
        /// every example in the docs is known to compile with the reply type it shows.
        #[allow(unused_variables, clippy::let_unit_value)]
        pub fn doc_examples(con: &mut valkey::sync::Connection) -> valkey::Result<()> {
            #(#doc_examples)*
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shape::Method;

    fn method(name: &str, reply: Option<(usize, &str)>, pins_t: Option<&str>) -> Method {
        Method {
            name: name.into(),
            arg_path: name.into(),
            generics: vec![],
            params: vec![],
            sets: vec![],
            requires_unset: vec![],
            requires_present: vec![],
            since: None,
            reply: reply.map(|(l, r)| (l, r.to_string())),
            pins_t: pins_t.map(str::to_string),
            since_params: vec![],
            requires_combinable: vec![],
            requires_one: vec![],
            run_time_of: None,
            choice_group: None,
            requires_filled: vec![],
            requires_same_length: vec![],
        }
    }

    fn builder(output: Output, methods: Vec<Method>) -> Builder {
        Builder {
            fn_name: "x".into(),
            type_name: "X".into(),
            generics: vec![],
            params: vec![],
            slots: vec![],
            writes: vec![],
            methods,
            owned: vec![],
            output,
            tracks_version: false,
            since_params: vec![],
            required_slots: vec![],
            same_length: vec![],
        }
    }

    fn open(b: &Builder, call: &str) -> bool {
        reply_is_open(b, &syn::parse_str(call).unwrap())
    }

    #[test]
    fn options_pin_or_raise_the_callers_reply() {
        let sort = builder(
            Output::User("T".into()),
            vec![
                method("limit", None, None),
                method("store", None, Some("i64")),
            ],
        );
        assert!(open(&sort, "cmd::sort(\"k\")"));
        assert!(open(&sort, "cmd::sort(\"k\").limit(0, 1)"));
        assert!(!open(&sort, "cmd::sort(\"k\").store(\"d\").limit(0, 1)"));
        let set = builder(
            Output::Leveled("()".into()),
            vec![
                method("nx", Some((1, "Option<()>")), None),
                method("get", Some((2, "T")), None),
            ],
        );
        assert!(!open(&set, "cmd::set(\"k\", \"v\").nx()"));
        assert!(open(&set, "cmd::set(\"k\", \"v\").get().nx()"));
        assert!(!open(
            &builder(Output::Fixed("T".into()), vec![]),
            "cmd::x()"
        ));
    }

    #[test]
    fn keys_are_named_apart() {
        let (ov, enums) = (CommandOverlay::default(), BTreeMap::new());
        let mut v = Values::new(&ov, &enums);
        let arg = |kind| Arg {
            name: "a".into(),
            path: "a".into(),
            kind,
            token: None,
            display: "a".into(),
            optional: false,
            multiple: false,
            multiple_token: false,
            since: None,
            deprecated_since: None,
            summary: None,
            key_spec_index: None,
        };
        let keys: Vec<String> = (0..3)
            .map(|_| v.leaf(&arg(Kind::Key)).to_string())
            .collect();
        assert_eq!(keys, ["\"k\"", "\"k2\"", "\"k3\""]);
        assert_eq!(v.leaf(&arg(Kind::String)).to_string(), "\"1\"");
        let values = [("a".to_string(), "\"x\"".to_string())].into();
        let ov = CommandOverlay {
            values,
            ..CommandOverlay::default()
        };
        let mut v = Values::new(&ov, &enums);
        assert_eq!(v.leaf(&arg(Kind::Key)).to_string(), "\"x\"");
    }
}
