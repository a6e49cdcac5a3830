//! Enums and structs for arguments passed as one value: a required oneof (`LEFT | RIGHT`), a
//! oneof inside a repeated group, a block with optional parts. They own their data (`Bytes` for
//! strings, `Vec` for repeated parts, `Option`/`bool` for optional ones) and write themselves
//! through `ToValkeyArgs`.

use super::docs;
use crate::ir::{Arg, Kind};
use crate::names::{camel, snake};
use crate::shape::{owned_name, variant_name};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use std::collections::{BTreeMap, BTreeSet};

/// What owned-type generation needs from the command and the overlay.
pub struct OwnedCtx<'a> {
    /// Count arguments (path → counted path).
    pub counts: &'a BTreeMap<String, String>,
    /// Rust names (path → name).
    pub names: &'a BTreeMap<String, String>,
    /// Rust type names (path → name).
    pub types: &'a BTreeMap<String, String>,
    /// Shared enum names (token signature → name).
    pub enums: &'a BTreeMap<String, String>,
    /// Types already defined (shared enums are defined once).
    pub defined: &'a mut BTreeSet<String>,
}

fn doc_attrs(lines: &[String]) -> TokenStream {
    let lines = lines.iter().map(|l| format!(" {l}"));
    quote!(#(#[doc = #lines])*)
}

fn token_bytes(t: &str) -> Literal {
    Literal::byte_string(t.as_bytes())
}

/// The Rust type of `arg`'s value inside owned data, defining nested types as needed.
/// `None` for a required pure token (it carries no data).
fn field_ty(
    ctx: &mut OwnedCtx,
    parent: &str,
    arg: &Arg,
    out: &mut Vec<TokenStream>,
) -> Option<TokenStream> {
    let base = match &arg.kind {
        Kind::PureToken => {
            return (arg.optional).then(|| quote!(bool));
        }
        Kind::Key | Kind::String | Kind::Pattern => quote!(Bytes),
        Kind::Integer | Kind::UnixTime => quote!(i64),
        Kind::Double => quote!(f64),
        Kind::OneOf(_) | Kind::Block(_) => {
            let name = owned_name(parent, arg, ctx.enums, ctx.names, ctx.types);
            define(ctx, &name, arg, out);
            let id = format_ident!("{}", name);
            quote!(#id)
        }
    };
    let ty = if arg.multiple {
        quote!(Vec<#base>)
    } else {
        base
    };
    Some(if arg.optional {
        quote!(Option<#ty>)
    } else {
        ty
    })
}

/// Code counting and writing `arg`'s value, `v` being a reference to it.
fn gen_value(arg: &Arg, v: TokenStream) -> (TokenStream, TokenStream) {
    if arg.kind == Kind::PureToken {
        let tok = token_bytes(arg.token.as_deref().unwrap_or(""));
        return if arg.optional {
            (
                quote!(usize::from(*#v)),
                quote!(if *#v { out.write_bytes(#tok); }),
            )
        } else {
            (quote!(1usize), quote!(out.write_bytes(#tok);))
        };
    }
    if arg.optional {
        let (n, w) = gen_present(arg, quote!(x));
        return (
            // In parentheses: a `match` first in a sum would end the expression.
            quote!((match #v { Some(x) => #n, None => 0 })),
            quote!(if let Some(x) = #v { #w }),
        );
    }
    gen_present(arg, v)
}

fn gen_present(arg: &Arg, v: TokenStream) -> (TokenStream, TokenStream) {
    if !arg.multiple {
        return gen_one(arg, v, true);
    }
    let (_, ew) = gen_one(arg, quote!(x), arg.multiple_token);
    let per_token = usize::from(arg.multiple_token && arg.token.is_some());
    let each = match &arg.kind {
        Kind::OneOf(_) | Kind::Block(_) if per_token == 1 => {
            quote!(#v.len() + #v.iter().map(ToValkeyArgs::num_args).sum::<usize>())
        }
        Kind::OneOf(_) | Kind::Block(_) => {
            quote!(#v.iter().map(ToValkeyArgs::num_args).sum::<usize>())
        }
        _ if per_token == 1 => quote!(2 * #v.len()),
        _ => quote!(#v.len()),
    };
    match (&arg.token, arg.multiple_token) {
        (Some(t), false) => {
            let tok = token_bytes(t);
            (
                quote!(1usize + #each),
                quote!(out.write_bytes(#tok); for x in #v.iter() { #ew }),
            )
        }
        _ => (each, quote!(for x in #v.iter() { #ew })),
    }
}

fn gen_one(arg: &Arg, v: TokenStream, with_token: bool) -> (TokenStream, TokenStream) {
    let tok = match (&arg.token, with_token) {
        (Some(t), true) => Some(token_bytes(t)),
        _ => None,
    };
    let tw = match &tok {
        Some(t) => quote!(out.write_bytes(#t);),
        None => quote!(),
    };
    match (&arg.kind, tok.is_some()) {
        (Kind::OneOf(_) | Kind::Block(_), true) => (
            quote!(1usize + ToValkeyArgs::num_args(#v)),
            quote!(#tw ToValkeyArgs::write_args(#v, out);),
        ),
        (Kind::OneOf(_) | Kind::Block(_), false) => (
            quote!(ToValkeyArgs::num_args(#v)),
            quote!(ToValkeyArgs::write_args(#v, out);),
        ),
        (_, true) => (quote!(2usize), quote!(#tw out.write(#v);)),
        (_, false) => (quote!(1usize), quote!(out.write(#v);)),
    }
}

/// `a + b + c`, or `0` for no terms.
fn sum(terms: Vec<TokenStream>) -> TokenStream {
    if terms.is_empty() {
        quote!(0usize)
    } else {
        quote!(#(#terms)+*)
    }
}

/// A field of a generated struct: name, type, doc lines.
type Field = (syn::Ident, TokenStream, Vec<String>);

/// The fields of a block (struct or struct variant), and the code counting and writing each part.
fn block_fields(
    ctx: &mut OwnedCtx,
    parent: &str,
    children: &[Arg],
    out: &mut Vec<TokenStream>,
) -> (
    Vec<Field>,
    Vec<TokenStream>,
    Vec<TokenStream>,
    Vec<TokenStream>,
) {
    let mut used = BTreeSet::new();
    let mut idents = BTreeMap::new();
    let mut fields = vec![];
    for c in children {
        if ctx.counts.contains_key(&c.path) {
            continue;
        }
        let Some(ty) = field_ty(ctx, parent, c, out) else {
            continue;
        };
        let mut name = ctx
            .names
            .get(&c.path)
            .cloned()
            .unwrap_or_else(|| snake(&c.name));
        while !used.insert(name.clone()) {
            name.push('_');
        }
        let id = format_ident!("{}", name);
        idents.insert(c.path.clone(), id.clone());
        fields.push((id, ty, docs::arg_doc(c)));
    }
    let mut nums = vec![];
    let mut writes = vec![];
    let mut sinces = vec![];
    for c in children {
        if let Some(target) = ctx.counts.get(&c.path) {
            let t = idents
                .get(target)
                .cloned()
                .unwrap_or_else(|| format_ident!("missing_count_target"));
            // A count is written with its token, if it has one (`BYPOLYGON 4 ...`).
            match &c.token {
                Some(tok) => {
                    let tok = token_bytes(tok);
                    nums.push(quote!(2usize));
                    writes.push(quote!(out.write_bytes(#tok); out.write(&#t.len());));
                }
                None => {
                    nums.push(quote!(1usize));
                    writes.push(quote!(out.write(&#t.len());));
                }
            }
            sinces.extend(since_value(c, quote!(())));
            continue;
        }
        let v = match idents.get(&c.path) {
            Some(id) => quote!(#id),
            None => quote!(()),
        };
        let (n, w) = gen_value(c, v.clone());
        nums.push(n);
        writes.push(w);
        sinces.extend(since_value(c, v));
    }
    (fields, nums, writes, sinces)
}

fn has_since(arg: &Arg) -> bool {
    arg.has_since()
}

fn version_lit(v: crate::ir::Version) -> TokenStream {
    let (a, b, c) = (
        Literal::u16_unsuffixed(v.0),
        Literal::u16_unsuffixed(v.1),
        Literal::u16_unsuffixed(v.2),
    );
    quote!(Some(Version::new(#a, #b, #c)))
}

/// `newer(a, b)`, leaving out a side that is `None`.
fn newer_of(a: Option<TokenStream>, b: Option<TokenStream>) -> Option<TokenStream> {
    match (a, b) {
        (Some(a), Some(b)) => Some(quote!(newer(#a, #b))),
        (a, b) => a.or(b),
    }
}

/// An `Option<Version>` expression: the newest version the value `v` (a reference to `arg`'s
/// value inside owned data) needs, its own `since` and its nested choices' alike. `None` when
/// nothing in `arg` records a version.
fn since_value(arg: &Arg, v: TokenStream) -> Option<TokenStream> {
    if !has_since(arg) {
        return None;
    }
    let own = arg.since.map(version_lit);
    let nested = arg.kind.children().iter().any(has_since);
    // One present element.
    let one = |x: TokenStream| match &arg.kind {
        Kind::OneOf(_) | Kind::Block(_) if nested => {
            newer_of(own.clone(), Some(quote!(#x.since())))
        }
        _ => own.clone(),
    };
    let none = quote!(None);
    if arg.kind == Kind::PureToken {
        return if arg.optional {
            Some(quote!(if *#v { #own } else { None }))
        } else {
            own
        };
    }
    let present = |x: TokenStream| {
        if arg.multiple {
            let each = one(quote!(e)).unwrap_or_else(|| none.clone());
            quote!(#x.iter().fold(None, |acc, e| newer(acc, #each)))
        } else {
            one(x).unwrap_or_else(|| none.clone())
        }
    };
    Some(if arg.optional {
        let p = present(quote!(x));
        quote!(match #v { Some(x) => #p, None => None })
    } else {
        present(v)
    })
}

/// `newer(a, newer(b, ..))` of the terms, `None` for none.
fn newest(terms: Vec<TokenStream>) -> Option<TokenStream> {
    terms
        .into_iter()
        .rev()
        .reduce(|acc, t| quote!(newer(#t, #acc)))
}

/// Defines the type `name` for `arg` (an enum for a oneof, a struct for a block), once.
pub fn define(ctx: &mut OwnedCtx, name: &str, arg: &Arg, out: &mut Vec<TokenStream>) {
    if !ctx.defined.insert(name.to_string()) {
        return;
    }
    let id = format_ident!("{}", name);
    let mut doc = vec![format!(
        "The `{}` argument: {}",
        arg.name,
        docs::arg_doc(arg)[0]
    )];
    match &arg.kind {
        Kind::OneOf(choices) => {
            let mut variants = vec![];
            let mut num_arms = vec![];
            let mut write_arms = vec![];
            let mut since_arms = vec![];
            let mut used = BTreeSet::new();
            let token_only = crate::ir::token_signature(choices).is_some();
            for c in choices {
                let mut vname = variant_name(c, ctx.names);
                while !used.insert(vname.clone()) {
                    vname.push('_');
                }
                let v = format_ident!("{}", vname);
                let vdoc = doc_attrs(&docs::arg_doc(c));
                // A choice is required once chosen, whatever its own flag says.
                let mut req = c.clone();
                req.optional = false;
                match &c.kind {
                    Kind::PureToken => {
                        let tok = token_bytes(c.token.as_deref().unwrap_or(""));
                        variants.push(quote!(#vdoc #v,));
                        if let Some(e) = since_value(&req, quote!(())) {
                            since_arms.push(quote!(Self::#v => #e,));
                        }
                        num_arms.push(quote!(Self::#v => 1,));
                        write_arms.push(quote!(Self::#v => out.write_bytes(#tok),));
                    }
                    Kind::Block(children) if !c.multiple => {
                        let own = ctx
                            .names
                            .get(&c.path)
                            .map_or(c.name.as_str(), String::as_str);
                        let inner = format!("{name}{}", camel(own));
                        let (fields, nums, writes, sinces) =
                            block_fields(ctx, &inner, children, out);
                        let fdefs = fields.iter().map(|(f, t, d)| {
                            let d = doc_attrs(d);
                            quote!(#d #f: #t)
                        });
                        let binds: Vec<_> = fields.iter().map(|(f, _, _)| f.clone()).collect();
                        let mut nums = nums;
                        let tw = match &c.token {
                            Some(t) => {
                                let tok = token_bytes(t);
                                nums.insert(0, quote!(1usize));
                                quote!(out.write_bytes(#tok);)
                            }
                            None => quote!(),
                        };
                        let n = sum(nums);
                        if let Some(e) = newer_of(c.since.map(version_lit), newest(sinces)) {
                            since_arms.push(quote!(Self::#v { #(#binds),* } => #e,));
                        }
                        variants.push(quote!(#vdoc #v { #(#fdefs),* },));
                        num_arms.push(quote!(Self::#v { #(#binds),* } => #n,));
                        write_arms.push(quote!(Self::#v { #(#binds),* } => { #tw #(#writes)* }));
                    }
                    _ => {
                        let ty = field_ty(ctx, name, &req, out).unwrap_or_else(|| quote!(()));
                        let (n, w) = gen_value(&req, quote!(x));
                        if let Some(e) = since_value(&req, quote!(x)) {
                            since_arms.push(quote!(Self::#v(x) => #e,));
                        }
                        variants.push(quote!(#vdoc #v(#ty),));
                        num_arms.push(quote!(Self::#v(x) => #n,));
                        write_arms.push(quote!(Self::#v(x) => { #w }));
                    }
                }
            }
            let derives = if token_only {
                quote!(#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)])
            } else {
                quote!(#[derive(Clone, Debug, PartialEq)])
            };
            doc.push(String::new());
            doc.push("Exactly one of the choices.".into());
            let doc = doc_attrs(&doc);
            let since_fn = if since_arms.is_empty() {
                quote!()
            } else {
                let rest = if since_arms.len() < choices.len() {
                    quote!(_ => None,)
                } else {
                    quote!()
                };
                quote! {
                    impl #id {
                        /// The newest server version this value needs (the version that added
                        /// the choice, or a choice nested in it), if the spec says.
                        #[allow(dead_code, unused_variables)]
                        pub(crate) fn since(&self) -> Option<Version> {
                            match self { #(#since_arms)* #rest }
                        }
                    }
                }
            };
            out.push(quote! {
                #doc
                #derives
                pub enum #id { #(#variants)* }
                impl ToValkeyArgs for #id {
                    #[allow(unused_variables)]
                    fn num_args(&self) -> usize {
                        match self { #(#num_arms)* }
                    }
                    fn write_args(&self, out: &mut ArgWriter<'_>) {
                        match self { #(#write_arms)* }
                    }
                }
                #since_fn
            });
        }
        Kind::Block(children) => {
            let (fields, nums, writes, sinces) = block_fields(ctx, name, children, out);
            let fdefs = fields.iter().map(|(f, t, d)| {
                let d = doc_attrs(d);
                quote!(#d pub #f: #t)
            });
            let binds: Vec<_> = fields.iter().map(|(f, _, _)| f.clone()).collect();
            let doc = doc_attrs(&doc);
            let n = sum(nums);
            // With only optional parts, `Default` gives the empty group to start from.
            let all_optional = children
                .iter()
                .all(|c| c.optional || ctx.counts.contains_key(&c.path));
            let derives = if all_optional {
                quote!(#[derive(Clone, Debug, Default, PartialEq)])
            } else {
                quote!(#[derive(Clone, Debug, PartialEq)])
            };
            out.push(quote! {
                #doc
                #derives
                pub struct #id { #(#fdefs),* }
                impl ToValkeyArgs for #id {
                    #[allow(unused_variables)]
                    fn num_args(&self) -> usize {
                        let Self { #(#binds),* } = self;
                        #n
                    }
                    #[allow(unused_variables)]
                    fn write_args(&self, out: &mut ArgWriter<'_>) {
                        let Self { #(#binds),* } = self;
                        #(#writes)*
                    }
                }
            });
            if let Some(inner) = newest(sinces) {
                out.push(quote! {
                    impl #id {
                        /// The newest server version this value needs (the versions that added
                        /// the parts given), if the spec says.
                        #[allow(dead_code, unused_variables)]
                        pub(crate) fn since(&self) -> Option<Version> {
                            let Self { #(#binds),* } = self;
                            #inner
                        }
                    }
                });
            }
        }
        _ => {}
    }
}
