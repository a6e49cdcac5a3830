//! One command's items: its constructor function, its builder struct (one field per slot), the
//! typestate impl blocks of its chained methods, and its `Command` impl.

use super::docs;
use super::rust::{element_shape, ident, part_expr, part_ty, time_trait, ty};
use crate::ir::{Command, Kind};
use crate::overlay::CommandOverlay;
use crate::shape::{Bound, Builder, Generic, Method, Output, Part, SlotKind, TimeConv, Ty, Write};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use std::collections::BTreeMap;

/// A reply type of the overlay (validated when the overlay was read).
fn reply_ty(s: &str) -> Result<TokenStream, String> {
    let t = crate::overlay::check_reply_type(s)?;
    Ok(quote!(#t))
}

/// `field` when the value is the parameter of the same name (the shorthand), else
/// `field: value`.
fn init(field: &syn::Ident, value: &Part) -> TokenStream {
    match value {
        Part::Param(name, _) if *field == name.as_str() => quote!(#field,),
        _ => {
            let e = part_expr(value);
            quote!(#field: #e,)
        }
    }
}

fn doc_attrs(lines: &[String]) -> TokenStream {
    let lines = lines.iter().map(|l| format!(" {l}"));
    quote!(#(#[doc = #lines])*)
}

fn bound_of(g: &Generic) -> (TokenStream, Option<TokenStream>) {
    let n = ident(&g.name);
    match &g.bound {
        Bound::One => (quote!(#n: ToValkeyArg), None),
        Bound::Many => (quote!(#n: ToValkeyArgs), None),
        Bound::Time(conv) => {
            let conv = time_trait(*conv);
            (quote!(#n: #conv), None)
        }
        Bound::Pairs => (quote!(#n: Pairs), None),
        Bound::Elements(shape) => {
            let shape = element_shape(shape);
            (quote!(#n: ToValkeyArgs + Elements<#shape>), None)
        }
        Bound::Iter => (quote!(#n: EachArg), None),
    }
}

/// The conversion trait of a time generic (`IntoSeconds`), which is taken as `impl IntoSeconds`
/// rather than a named type parameter: callers' turbofishes (`blpop::<_, Value>`) stay as they
/// were.
fn time_conv(g: &Generic) -> Option<TimeConv> {
    match &g.bound {
        Bound::Time(conv) => Some(*conv),
        _ => None,
    }
}

/// A parameter's type: `impl IntoSeconds` for a time generic, else the type as it is.
fn param_ty(generics: &[Generic], t: &Ty) -> TokenStream {
    let time = match t {
        Ty::Param(p) => generics.iter().find(|g| &g.name == p).and_then(time_conv),
        _ => None,
    };
    match time {
        Some(conv) => {
            let conv = time_trait(conv);
            quote!(impl #conv)
        }
        None => ty(t),
    }
}

fn version_expr(v: crate::ir::Version) -> TokenStream {
    let (a, b, c) = (
        Literal::u16_unsuffixed(v.0),
        Literal::u16_unsuffixed(v.1),
        Literal::u16_unsuffixed(v.2),
    );
    quote!(Version::new(#a, #b, #c))
}

/// The static holding the command's metadata: `CLIENT_KILL`.
pub fn meta_ident(b: &Builder) -> syn::Ident {
    format_ident!("{}", b.fn_name.trim_end_matches('_').to_uppercase())
}

/// All items of one command.
///
/// `example` is the doc section with the command's example. It is left out of doctests (it is
/// compiled by the generated `doc_examples` instead: one doctest binary per command would
/// take minutes to build).
pub fn items(
    cmd: &Command,
    ov: Option<&CommandOverlay>,
    b: &Builder,
    example: &str,
) -> Result<TokenStream, String> {
    let type_id = ident(&b.type_name);
    let fn_id = ident(&b.fn_name);
    let meta_id = meta_ident(b);

    // The struct's type parameters, in order: constructor generics, slot states, reply.
    // Time generics are converted in the constructor: they are not the struct's.
    let mut params: Vec<String> = b
        .generics
        .iter()
        .filter(|g| !matches!(g.bound, Bound::Time(_)))
        .map(|g| g.name.clone())
        .collect();
    let n_ctor = params.len();
    for s in &b.slots {
        if let SlotKind::State(p) | SlotKind::Presence(p) = &s.kind {
            params.push(p.clone());
        }
    }
    let out_param = match &b.output {
        Output::Fixed(_) => None,
        Output::User(_) => Some("T".to_string()),
        Output::Leveled(_) => Some("O".to_string()),
    };
    if let Some(o) = &out_param {
        params.push(o.clone());
    }
    let param_ids: Vec<_> = params.iter().map(|p| ident(p)).collect();

    // Struct.
    let mut fields = vec![];
    for s in &b.slots {
        let f = ident(&s.field);
        let t = match &s.kind {
            SlotKind::Fixed(value) => part_ty(value),
            SlotKind::State(p) | SlotKind::Presence(p) => {
                let p = ident(p);
                quote!(#p)
            }
        };
        fields.push(quote!(#f: #t,));
    }
    if b.tracks_version {
        fields.push(quote!(min_version: Option<Version>,));
    }
    if let Some(o) = &out_param {
        let o = ident(o);
        fields.push(quote!(_reply: PhantomData<fn() -> #o>,));
    }
    let generics_decl = if params.is_empty() {
        quote!()
    } else {
        quote!(<#(#param_ids),*>)
    };
    let mut struct_doc = vec![
        format!(
            "The `{}` command, built by [`{}`](fn@{}): send it with any executor.",
            cmd.full_name(),
            b.fn_name,
            b.fn_name,
        ),
        String::new(),
        "Its type parameters record what was given, so that an option cannot be given twice. \
         `Debug` prints the command line (passwords hidden)."
            .into(),
    ];
    if let Some(ov) = ov {
        // `Command::Output` as a reader would write it (the impl shows it through the reply
        // state when options change it).
        struct_doc.push(String::new());
        struct_doc.extend(docs::reply(ov, &|path: &str| {
            b.methods
                .iter()
                .filter(|m| m.arg_path == path || m.arg_path.starts_with(&format!("{path}/")))
                .map(|m| m.name.clone())
                .collect()
        }));
    }
    let struct_doc = doc_attrs(&struct_doc);
    let strukt = quote! {
        #struct_doc
        #[must_use = "a command does nothing until it is sent"]
        #[derive(Clone)]
        pub struct #type_id #generics_decl { #(#fields)* }
    };

    // Constructor.
    let method_names = |path: &str| -> Vec<String> {
        b.methods
            .iter()
            .filter(|m| m.arg_path == path || m.arg_path.starts_with(&format!("{path}/")))
            .map(|m| m.name.clone())
            .collect()
    };
    let mut fn_doc = docs::command_doc(cmd, ov, &method_names);
    if !b.params.is_empty() {
        fn_doc.push(String::new());
        fn_doc.push("**Arguments**".into());
        fn_doc.push(String::new());
        for p in &b.params {
            let pairs = ov.is_some_and(|o| o.pairs.contains(&p.arg_path));
            match cmd.arg(&p.arg_path) {
                Some(a) if pairs => fn_doc.push(format!(
                    "- `{}`: `({})` pairs (one, a collection, or a map), written as all the \
                     firsts then all the seconds — `{}`",
                    p.name,
                    a.kind
                        .children()
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    docs::syntax(a)
                )),
                Some(a) => fn_doc.push(format!("- `{}`: {}", p.name, docs::param_doc(a, &p.ty))),
                None => {}
            }
        }
    }
    for slot in &b.required_slots {
        let choices: Vec<String> = b
            .methods
            .iter()
            .filter(|m| m.sets.iter().any(|(s, _)| s == slot))
            .map(|m| format!("`{}`", m.name))
            .collect();
        fn_doc.push(String::new());
        fn_doc.push(format!(
            "**Required**: one of {} (the `{}` argument), given as a method: the command \
             cannot be sent before it is.",
            choices.join(", "),
            b.slots[*slot].arg_path
        ));
    }
    if !b.methods.is_empty() {
        fn_doc.push(String::new());
        fn_doc.push(format!(
            "**Options** (methods of [`{0}`](struct@{0})): {1}",
            b.type_name,
            b.methods
                .iter()
                .map(|m| format!("`{}`", m.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let fn_doc = doc_attrs(&fn_doc);
    let mut aliases = vec![cmd.full_name()];
    if cmd.path.len() == 2 {
        // `client|kill` as `COMMAND INFO` names it, and the bare subcommand (`KILL`).
        aliases.push(format!("{}|{}", cmd.path[0], cmd.path[1]).to_lowercase());
        aliases.push(cmd.path[1].clone());
    }
    let aliases = aliases.iter();

    let mut ctor_generics = vec![];
    let mut ctor_where = vec![];
    for g in b.generics.iter().filter(|g| time_conv(g).is_none()) {
        let (bnd, wh) = bound_of(g);
        ctor_generics.push(bnd);
        ctor_where.extend(wh);
    }
    let reply_base = match &b.output {
        Output::Fixed(t) | Output::User(t) | Output::Leveled(t) => t.clone(),
    };
    if crate::overlay::uses_t(&reply_base) {
        ctor_generics.push(quote!(T: FromValkey));
    }
    let ctor_args = b.params.iter().map(|p| {
        let n = ident(&p.name);
        let t = param_ty(&b.generics, &p.ty);
        quote!(#n: #t)
    });
    let mut ret_args: Vec<TokenStream> = param_ids[..n_ctor].iter().map(|p| quote!(#p)).collect();
    let mut inits = vec![];
    for s in &b.slots {
        let f = ident(&s.field);
        match &s.kind {
            SlotKind::Fixed(value) => inits.push(init(&f, value)),
            SlotKind::State(_) | SlotKind::Presence(_) => {
                ret_args.push(quote!(Unset));
                inits.push(quote!(#f: Unset,));
            }
        }
    }
    match &b.output {
        Output::Fixed(_) => {}
        Output::User(_) => ret_args.push(quote!(T)),
        Output::Leveled(base) => {
            let base = reply_ty(base)?;
            ret_args.push(quote!(Base<#base>));
        }
    }
    let mut pre = quote!();
    if b.tracks_version {
        let since = version_expr(cmd.since);
        let mut acc = None;
        for p in &b.since_params {
            let pid = ident(p);
            let term = quote!(if_newer(#since, #pid.since()));
            acc = Some(match acc {
                Some(a) => quote!(newer(#a, #term)),
                None => term,
            });
        }
        if let Some(acc) = acc {
            // Computed before the parameters move into the struct.
            pre = quote!(let min_version = #acc;);
            inits.push(quote!(min_version,));
        } else {
            inits.push(quote!(min_version: None,));
        }
    }
    if out_param.is_some() {
        inits.push(quote!(_reply: PhantomData,));
    }
    let ret_generics = if ret_args.is_empty() {
        quote!()
    } else {
        quote!(<#(#ret_args),*>)
    };
    let where_clause = if ctor_where.is_empty() {
        quote!()
    } else {
        quote!(where #(#ctor_where),*)
    };
    let ctor_generics = if ctor_generics.is_empty() {
        quote!()
    } else {
        quote!(<#(#ctor_generics),*>)
    };
    let ctor = quote! {
        #fn_doc
        #[cfg_attr(not(doctest), doc = #example)]
        #(#[doc(alias = #aliases)])*
        pub fn #fn_id #ctor_generics (#(#ctor_args),*) -> #type_id #ret_generics #where_clause {
            #pre
            #type_id { #(#inits)* }
        }
    };

    // Methods, grouped by the typestate they need.
    // Every method is available in every state, and says in its `where` clause which slots
    // must still be empty (`Unfilled`) and which groups given (`Given`): a misuse then reads
    // "this option was given already" rather than "no method `gt`" (or rustc's guess that the
    // builder should be an `Iterator`, whose `gt`/`count` it finds instead). Methods that pin
    // the caller's reply type share an impl block per pinned type.
    type Typestate = (Vec<usize>, Vec<usize>, Option<String>);
    let mut groups: BTreeMap<Typestate, Vec<&Method>> = BTreeMap::new();
    for m in &b.methods {
        groups
            .entry((vec![], vec![], m.pins_t.clone()))
            .or_default()
            .push(m);
    }
    // Slot index → its position among the type parameters.
    let slot_param: BTreeMap<usize, usize> = b
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match &s.kind {
            SlotKind::State(p) | SlotKind::Presence(p) => Some((
                i,
                params.iter().position(|x| x == p).expect("slot parameter"),
            )),
            SlotKind::Fixed { .. } => None,
        })
        .collect();
    let mut impls = vec![];
    for ((unset, present, pin), methods) in &groups {
        let mut args: Vec<TokenStream> = param_ids.iter().map(|p| quote!(#p)).collect();
        let mut free: Vec<bool> = vec![true; params.len()];
        for i in unset {
            let pos = slot_param[i];
            args[pos] = quote!(Unset);
            free[pos] = false;
        }
        for i in present {
            let pos = slot_param[i];
            args[pos] = quote!(Present);
            free[pos] = false;
        }
        if let Some(t) = pin {
            // The reply parameter `T` is last.
            let pos = params.len() - 1;
            args[pos] = reply_ty(t)?;
            free[pos] = false;
        }
        let impl_params: Vec<_> = param_ids
            .iter()
            .zip(&free)
            .filter(|(_, f)| **f)
            .map(|(p, _)| p.clone())
            .collect();
        let impl_generics = if impl_params.is_empty() {
            quote!()
        } else {
            quote!(<#(#impl_params),*>)
        };
        let self_args = if args.is_empty() {
            quote!()
        } else {
            quote!(<#(#args),*>)
        };
        let mut ms = vec![];
        for m in methods {
            ms.push(method(
                cmd,
                b,
                m,
                &args,
                &slot_param,
                out_param.as_deref(),
                &type_id,
            )?);
        }
        impls.push(quote! {
            impl #impl_generics #type_id #self_args {
                #(#ms)*
            }
        });
    }

    // Command impl.
    let mut cmd_bounds = vec![];
    let mut cmd_where = vec![];
    for g in &b.generics {
        if params[..n_ctor].contains(&g.name) {
            let (bnd, wh) = bound_of(g);
            cmd_bounds.push(bnd);
            cmd_where.extend(wh);
        }
    }
    for (i, s) in b.slots.iter().enumerate() {
        match &s.kind {
            SlotKind::State(p) if b.required_slots.contains(&i) => {
                let p = ident(p);
                cmd_bounds.push(quote!(#p: ToValkeyArgs + Chosen));
            }
            SlotKind::State(p) => {
                let p = ident(p);
                cmd_bounds.push(quote!(#p: ToValkeyArgs));
            }
            SlotKind::Presence(p) => {
                let p = ident(p);
                cmd_bounds.push(quote!(#p));
            }
            SlotKind::Fixed { .. } => {}
        }
    }
    let output = match &b.output {
        Output::Fixed(t) | Output::User(t) => reply_ty(t)?,
        Output::Leveled(_) => quote!(<O as Reply>::Output),
    };
    match &b.output {
        Output::Fixed(_) => {}
        Output::User(_) => cmd_bounds.push(quote!(T: FromValkey)),
        Output::Leveled(_) => cmd_bounds.push(quote!(O: Reply)),
    }
    let name_parts: Vec<Literal> = cmd
        .path
        .iter()
        .map(|p| Literal::byte_string(p.as_bytes()))
        .collect();
    let mut consts = name_parts.len();
    let mut nums = vec![];
    let mut writes = vec![];
    for w in &b.writes {
        match w {
            Write::Const(t) => {
                consts += 1;
                let t = Literal::byte_string(t.as_bytes());
                writes.push(quote!(out.write_bytes(#t);));
            }
            Write::Slot(i) => {
                let f = ident(&b.slots[*i].field);
                nums.push(quote!(self.#f.num_args()));
                writes.push(quote!(self.#f.write_args(out);));
            }
            Write::Count { slot, width } => {
                consts += 1;
                let f = ident(&b.slots[*slot].field);
                let width = Literal::usize_unsuffixed(*width);
                writes.push(quote!(write_count(out, self.#f.num_args(), #width);));
            }
        }
    }
    let min_version = if b.tracks_version {
        quote! {
            fn min_version(&self) -> Option<Version> {
                self.min_version
            }
        }
    } else {
        quote!()
    };
    // Options whose length must match an argument's: compared before sending (with the arity).
    let check_num_args = if b.same_length.is_empty() {
        quote!()
    } else {
        let checks = b.same_length.iter().map(|l| {
            let option = ident(&b.slots[l.option].field);
            let counted = ident(&b.slots[l.counted].field);
            let token = &l.token;
            let what = &b.slots[l.counted].field;
            quote!(same_length(&#meta_id, #token, self.#option.num_args(), self.#counted.num_args(), #what)?;)
        });
        quote! {
            fn check_num_args(&self, num_args: usize) -> crate::Result<()> {
                #(#checks)*
                check_arity(&#meta_id, num_args)
            }
        }
    };
    let cmd_generics = if cmd_bounds.is_empty() {
        quote!()
    } else {
        quote!(<#(#cmd_bounds),*>)
    };
    let cmd_where = if cmd_where.is_empty() {
        quote!()
    } else {
        quote!(where #(#cmd_where),*)
    };
    let self_ty = if params.is_empty() {
        quote!(#type_id)
    } else {
        quote!(#type_id<#(#param_ids),*>)
    };
    let consts = Literal::usize_unsuffixed(consts);
    let command_impl = quote! {
        impl #cmd_generics Command for #self_ty #cmd_where {
            type Output = #output;
            fn num_args(&self) -> usize {
                #consts #(+ #nums)*
            }
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                #(out.write_bytes(#name_parts);)*
                #(#writes)*
            }
            fn meta(&self) -> Option<&'static CommandMeta> {
                Some(&#meta_id)
            }
            #min_version
            #check_num_args
        }
    };

    // Keys, from the fields that hold them (no encoding of the command).
    let parts = key_parts(cmd, b);
    // The callback is named only where a key is given to it.
    let f_name = match &parts {
        Some(p) if !p.is_empty() => quote!(f),
        _ => quote!(_f),
    };
    let keys_body = match parts {
        Some(parts) if parts.is_empty() => quote!(true),
        Some(parts) => quote!(#(#parts)* true),
        None => quote!(false),
    };
    let keys_impl = quote! {
        impl #cmd_generics CommandKeys for #self_ty #cmd_where {
            fn for_each_key(&self, #f_name: &mut dyn FnMut(&[u8])) -> bool {
                #keys_body
            }
        }
    };

    // Debug: the command line, passwords hidden (the rules are in the command's metadata).
    let debug_impl = quote! {
        impl #cmd_generics fmt::Debug for #self_ty #cmd_where {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt_command(self, f)
            }
        }
    };

    Ok(quote! {
        #ctor
        #strukt
        #(#impls)*
        #command_impl
        #keys_impl
        #debug_impl
    })
}

/// Whether `arg` is a key the key specs count (not one flagged `NOT_KEY`).
fn is_key(cmd: &Command, arg: &crate::ir::Arg) -> bool {
    arg.kind == Kind::Key
        && arg.key_spec_index.is_none_or(|i| {
            cmd.key_specs
                .get(i)
                .is_none_or(|k| !k.flags.iter().any(|f| f == "NOT_KEY"))
        })
}

fn holds_key(cmd: &Command, arg: &crate::ir::Arg) -> bool {
    is_key(cmd, arg) || arg.kind.children().iter().any(|c| holds_key(cmd, c))
}

/// The statements giving a builder's keys from its fields, in write order; `None` when a key
/// sits inside a group or a generated value (only the encoded arguments tell then).
fn key_parts(cmd: &Command, b: &Builder) -> Option<Vec<TokenStream>> {
    let mut parts = vec![];
    for w in &b.writes {
        let Write::Slot(i) = w else { continue };
        let slot = &b.slots[*i];
        let arg = cmd.arg(&slot.arg_path)?;
        if !holds_key(cmd, arg) {
            continue;
        }
        if !is_key(cmd, arg) {
            return None;
        }
        let f = ident(&slot.field);
        let pick = match (&slot.kind, arg.multiple, arg.multiple_token, &arg.token) {
            // A required single key: the field holds it alone (its token is written apart).
            (SlotKind::Fixed { .. }, false, _, _) => {
                parts.push(quote!(one_key(&self.#f, f);));
                continue;
            }
            (_, true, true, _) => quote!(Pick::EveryOther),
            (SlotKind::Fixed { .. }, true, false, _) => quote!(Pick::All),
            (_, _, _, Some(_)) => quote!(Pick::AfterToken),
            _ => quote!(Pick::All),
        };
        parts.push(quote!(part_keys(&self.#f, #pick, f);));
    }
    Some(parts)
}

fn method(
    cmd: &Command,
    b: &Builder,
    m: &Method,
    self_args: &[TokenStream],
    slot_param: &BTreeMap<usize, usize>,
    out_param: Option<&str>,
    type_id: &syn::Ident,
) -> Result<TokenStream, String> {
    let name = ident(&m.name);
    let mut generics = vec![];
    let mut wheres = vec![];
    for g in m.generics.iter().filter(|g| time_conv(g).is_none()) {
        let (bnd, wh) = bound_of(g);
        generics.push(bnd);
        wheres.extend(wh);
    }
    let params = m.params.iter().map(|p| {
        let n = ident(&p.name);
        let t = param_ty(&m.generics, &p.ty);
        quote!(#n: #t)
    });
    let mut ret = self_args.to_vec();
    let mut inits = vec![];
    for (i, s) in b.slots.iter().enumerate() {
        let f = ident(&s.field);
        match m.sets.iter().find(|(slot, _)| *slot == i) {
            Some((_, value)) => {
                ret[slot_param[&i]] = part_ty(value);
                inits.push(init(&f, value));
            }
            None => inits.push(quote!(#f: self.#f,)),
        }
    }
    let mut pre = quote!();
    if b.tracks_version {
        let mut acc = match m.since {
            Some(v) => {
                let v = version_expr(v);
                quote!(newer(self.min_version, Some(#v)))
            }
            None => quote!(self.min_version),
        };
        // A value whose nested choices need a newer server (computed before it moves).
        let since = version_expr(cmd.since);
        for p in &m.since_params {
            let pid = ident(p);
            acc = quote!(newer(#acc, if_newer(#since, #pid.since())));
        }
        if let Some(r) = m.run_time_of.as_ref().filter(|_| m.since.is_some()) {
            // Only an option actually given needs its version (computed before it moves).
            let param = ident(&r.param);
            let given = if r.option {
                quote!(#param.is_some())
            } else {
                quote!(#param)
            };
            pre = quote!(let min_version = if #given { #acc } else { self.min_version };);
            inits.push(quote!(min_version,));
        } else if m.since_params.is_empty() {
            inits.push(quote!(min_version: #acc,));
        } else {
            pre = quote!(let min_version = #acc;);
            inits.push(quote!(min_version,));
        }
    }
    if let Some(o) = out_param {
        inits.push(quote!(_reply: PhantomData,));
        if let Some((level, reply)) = &m.reply {
            let o = ident(o);
            let r = reply_ty(reply)?;
            let lvl = if *level == 1 { quote!(L1) } else { quote!(L2) };
            if crate::overlay::uses_t(reply) {
                generics.push(quote!(T: FromValkey));
            }
            *ret.last_mut().expect("reply parameter") = quote!(<#o as Raise<#lvl<#r>>>::Out);
            wheres.push(quote!(#o: Raise<#lvl<#r>>));
        }
    }
    let mut unset = m.requires_unset.clone();
    unset.sort();
    unset.dedup();
    for slot in &unset {
        let p = &self_args[slot_param[slot]];
        wheres.push(quote!(#p: Unfilled));
    }
    let mut present = m.requires_present.clone();
    present.sort();
    present.dedup();
    for slot in &present {
        let p = &self_args[slot_param[slot]];
        wheres.push(quote!(#p: Given));
    }
    for slot in &m.requires_combinable {
        let p = &self_args[slot_param[slot]];
        wheres.push(quote!(#p: Combinable));
    }
    let mut filled = m.requires_filled.clone();
    filled.sort();
    filled.dedup();
    for slot in &filled {
        let p = &self_args[slot_param[slot]];
        wheres.push(quote!(#p: Filled));
    }
    for (counted, own) in &m.requires_same_length {
        let (c, o) = (ident(counted), ident(own));
        wheres.push(quote!(#c: SameLength<#o>));
    }
    for (param, shape) in &m.requires_one {
        let p = ident(param);
        let shape = element_shape(shape);
        wheres.push(quote!(#p: OneElement<#shape>));
    }
    let mut doc = match cmd.arg(&m.arg_path) {
        Some(a) => docs::arg_doc(a),
        None => vec![],
    };
    // Which option it gives, when it is one choice of a group.
    if let Some((parent, _)) = m.arg_path.rsplit_once('/') {
        if let Some(p) = cmd.arg(parent).filter(|p| matches!(p.kind, Kind::OneOf(_))) {
            // The option it is one choice of: the oneof, or its group when the overlay splits it.
            let (option, syntax) = match &m.choice_group {
                Some((group, paths)) => {
                    let mut g = p.clone();
                    if let Kind::OneOf(c) = &mut g.kind {
                        c.retain(|x| paths.contains(&x.path));
                    }
                    (group.clone(), docs::syntax(&g))
                }
                None => (p.name.clone(), docs::syntax(p)),
            };
            doc.push(String::new());
            doc.push(format!(
                "One choice of the `{option}` option (`{}`): the others cannot be given with it.",
                syntax
                    .trim_start_matches(['[', '<'])
                    .trim_end_matches([']', '>'])
            ));
        }
    }
    if let Some(of) = m.run_time_of.as_ref().map(|r| &r.method) {
        doc.push(String::new());
        doc.push(format!(
            "The run-time form of [`{of}`](Self::{of}): `None` (or `false`) leaves the option \
             out, so both branches of an `if` build one type."
        ));
    }
    if !m.requires_combinable.is_empty() {
        // The methods on the other side of the exclusion: they need a slot this one fills.
        let others: Vec<String> = b
            .methods
            .iter()
            .filter(|n| {
                n.run_time_of.is_none()
                    && n.requires_combinable
                        .iter()
                        .any(|slot| m.sets.iter().any(|(s, _)| s == slot))
            })
            .map(|n| format!("`{}()`", n.name))
            .collect();
        doc.push(String::new());
        doc.push(format!(
            "The server refuses it together with {}: they do not compile together.",
            others.join(", ")
        ));
    }
    if !filled.is_empty() {
        let needed: Vec<String> = b
            .methods
            .iter()
            .filter(|n| n.run_time_of.is_none() && n.sets.iter().any(|(s, _)| filled.contains(s)))
            .map(|n| format!("`{}()`", n.name))
            .collect();
        doc.push(String::new());
        doc.push(format!(
            "Needs {} given before it (the server refuses it without): otherwise it does not \
             compile.",
            needed.join(" or ")
        ));
    }
    for (counted, _) in &m.requires_same_length {
        let name = b
            .params
            .iter()
            .find(|p| p.ty == Ty::Param(counted.clone()))
            .map_or(counted.as_str(), |p| p.name.as_str());
        doc.push(String::new());
        doc.push(format!(
            "One value per element of `{name}`: arrays of another length do not compile; \
             collections are compared before sending (an `InvalidInput` error, nothing sent)."
        ));
    }
    for (param, _) in &m.requires_one {
        doc.push(String::new());
        doc.push(format!(
            "Needs exactly one element in `{}` (one tuple, or a one-element array).",
            b.params
                .iter()
                .find(|p| p.ty == Ty::Param(param.clone()))
                .map_or(param.as_str(), |p| p.name.as_str())
        ));
    }
    if !m.params.is_empty() {
        doc.push(String::new());
        doc.push("**Arguments**".into());
        doc.push(String::new());
        for p in &m.params {
            match cmd.arg(&p.arg_path) {
                Some(a) if a.kind == Kind::PureToken => doc.push(format!(
                    "- `{}`: whether to give `{}`",
                    p.name,
                    a.token.as_deref().unwrap_or(&a.name)
                )),
                Some(a) => doc.push(format!("- `{}`: {}", p.name, docs::param_doc(a, &p.ty))),
                None => {}
            }
        }
    }
    if let Some(t) = &m.pins_t {
        doc.push(String::new());
        doc.push(format!("Changes the reply to `{t}`."));
    }
    if let Some((_, reply)) = &m.reply {
        doc.push(String::new());
        doc.push(if reply == "T" {
            "Changes the reply: read it into the caller's `T`.".to_string()
        } else {
            format!("Changes the reply to `{reply}`.")
        });
    }
    let doc = doc_attrs(&doc);
    let generics = if generics.is_empty() {
        quote!()
    } else {
        quote!(<#(#generics),*>)
    };
    let wheres = if wheres.is_empty() {
        quote!()
    } else {
        quote!(where #(#wheres),*)
    };
    Ok(quote! {
        #doc
        pub fn #name #generics (self, #(#params),*) -> #type_id<#(#ret),*> #wheres {
            #pre
            #type_id { #(#inits)* }
        }
    })
}
