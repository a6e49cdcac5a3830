//! One minimal invocation per command, for the conformance test (`tests/tests/command_conformance.rs`)
//! that sends each to a live server in RESP2 and RESP3 and checks the reply reads into the
//! builder's `Output`. Required arguments get plain values (`"k"` for keys, `"1"` for strings, `1`,
//! `0.5`, an enum's first choice); the overlay's `example` replaces them where those are invalid.

use crate::ir::{Arg, Command, Kind};
use crate::overlay::CommandOverlay;
use crate::shape::{owned_name, variant_name, Builder, Output};
use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use std::collections::BTreeMap;

fn leaf(kind: &Kind) -> TokenStream {
    match kind {
        Kind::Key => quote!("k"),
        Kind::Pattern => quote!("*"),
        Kind::String => quote!("1"),
        Kind::Integer | Kind::UnixTime => quote!(1),
        Kind::Double => quote!(0.5),
        _ => quote!(()),
    }
}

/// A value for an argument passed as a builder parameter (`impl ToValkeyArg(s)` or an enum).
fn param_value(
    arg: &Arg,
    parent: &str,
    enums: &BTreeMap<String, String>,
    names: &BTreeMap<String, String>,
) -> TokenStream {
    let one = match &arg.kind {
        Kind::Block(children) if arg.multiple && crate::shape::is_plain_block(arg) => {
            // An element of a repeated block is a tuple of its values.
            let parts = children
                .iter()
                .filter(|c| c.kind != Kind::PureToken && !c.optional)
                .map(|c| leaf(&c.kind));
            quote!((#(#parts),*))
        }
        Kind::OneOf(_) | Kind::Block(_) => owned_value(arg, parent, enums, names),
        k => leaf(k),
    };
    if arg.multiple {
        quote!([#one])
    } else {
        one
    }
}

/// A value of a generated enum or struct: its first choice, each field filled.
fn owned_value(
    arg: &Arg,
    parent: &str,
    enums: &BTreeMap<String, String>,
    names: &BTreeMap<String, String>,
) -> TokenStream {
    let name = owned_name(parent, arg, enums, names);
    let ty = format_ident!("{}", name);
    match &arg.kind {
        Kind::OneOf(choices) => {
            let c = &choices[0];
            let v = format_ident!("{}", variant_name(c, names));
            match &c.kind {
                Kind::PureToken => quote!(cmd::#ty::#v),
                Kind::Block(children) if !c.multiple => {
                    let own = names.get(&c.path).map_or(c.name.as_str(), String::as_str);
                    let inner = format!("{name}{}", crate::names::camel(own));
                    let fields = owned_fields(children, &inner, enums, names);
                    quote!(cmd::#ty::#v { #(#fields),* })
                }
                _ => {
                    let mut req = c.clone();
                    req.optional = false;
                    let val = owned_field(&req, &name, enums, names);
                    quote!(cmd::#ty::#v(#val))
                }
            }
        }
        Kind::Block(children) => {
            let fields = owned_fields(children, &name, enums, names);
            quote!(cmd::#ty { #(#fields),* })
        }
        _ => quote!(()),
    }
}

fn owned_fields(
    children: &[Arg],
    parent: &str,
    enums: &BTreeMap<String, String>,
    names: &BTreeMap<String, String>,
) -> Vec<TokenStream> {
    let mut used = std::collections::BTreeSet::new();
    children
        .iter()
        .filter(|c| c.kind != Kind::PureToken || c.optional)
        .map(|c| {
            let mut n = names
                .get(&c.path)
                .cloned()
                .unwrap_or_else(|| crate::names::snake(&c.name));
            while !used.insert(n.clone()) {
                n.push('_');
            }
            let f = format_ident!("{}", n);
            let v = owned_field(c, parent, enums, names);
            quote!(#f: #v)
        })
        .collect()
}

/// A value inside owned data: `Bytes` from text, `i64`, `f64`, `Vec`, `Option` (None), `bool`.
fn owned_field(
    arg: &Arg,
    parent: &str,
    enums: &BTreeMap<String, String>,
    names: &BTreeMap<String, String>,
) -> TokenStream {
    if arg.optional {
        return if arg.kind == Kind::PureToken {
            quote!(false)
        } else {
            quote!(None)
        };
    }
    let one = match &arg.kind {
        Kind::Key | Kind::String | Kind::Pattern => {
            let l = leaf(&arg.kind);
            quote!(#l.into())
        }
        Kind::OneOf(_) | Kind::Block(_) => owned_value(arg, parent, enums, names),
        k => leaf(k),
    };
    if arg.multiple {
        quote!(vec![#one])
    } else {
        one
    }
}

/// The case of one command: its name, group, whether the overlay documents its RESP2/RESP3
/// shapes, and the invocation sent typed and raw.
pub fn case(
    cmd: &Command,
    ov: &CommandOverlay,
    b: &Builder,
    enums: &BTreeMap<String, String>,
) -> TokenStream {
    let name = cmd.full_name();
    let group = &cmd.group;
    let call: TokenStream = match &ov.example {
        Some(e) => match syn::parse_str::<syn::Expr>(e) {
            Ok(e) => quote!(#e),
            Err(err) => {
                let msg = format!("{name}: example does not parse: {err}");
                quote!(compile_error!(#msg))
            }
        },
        None => {
            let f = format_ident!("{}", b.fn_name);
            let args = b.params.iter().map(|p| match cmd.arg(&p.arg_path) {
                Some(a) => param_value(a, &b.type_name, enums, &ov.names),
                None => quote!(()),
            });
            quote!(cmd::#f(#(#args),*))
        }
    };
    let call = match &b.output {
        Output::User(_) => quote!(value(#call)),
        Output::Leveled(base) if crate::overlay::uses_t(base) => quote!(value(#call)),
        _ => call,
    };
    let documented = ov.resp2.is_some() || ov.resp3.is_some();
    quote!((#name, #group, #documented, |con| con.send(#call).map(drop), |con| con.send_as::<_, valkey::Value>(&#call)),)
}

/// The whole generated file.
pub fn file(cases: Vec<TokenStream>) -> TokenStream {
    let n = proc_macro2::Literal::usize_unsuffixed(cases.len());
    quote! {
        use super::{value, Case};
        use valkey::cmd;

        /// One minimal invocation per command: (name, group, whether the overlay documents
        /// RESP2/RESP3 shapes, send typed, send reading a raw `Value`).
        pub static CASES: [Case; #n] = [#(#cases)*];
    }
}
