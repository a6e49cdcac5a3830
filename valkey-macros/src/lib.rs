//! Derive macros for `valkey-typed`: `#[derive(FromValkey)]` reads a reply into a user type,
//! `#[derive(ToValkeyArgs)]` writes a struct as field/value arguments. The generated code names
//! the library as `::valkey` (its library name); `#[valkey(crate = "...")]` changes that.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, Data, DeriveInput, Error, Fields, GenericParam, Generics, Ident, LitStr,
    Path,
};

/// Derives `valkey::FromValkey`.
///
/// - named structs read a map: a RESP3 map, a RESP2 flat `[field, value, ...]` array (HGETALL,
///   CONFIG GET), or an array of pairs; `Option` fields may be missing, unknown fields are
///   ignored unless `#[valkey(deny_unknown_fields)]`; `Option<Struct>` is `None` for nil and for
///   an empty map or array (`HGETALL` of a missing key);
/// - tuple structs read an array of exactly that many elements; a sequence of two-field tuple
///   structs also reads RESP2's flat `[a1, b1, a2, b2, ...]` (`ZRANGE ... WITHSCORES`) and a
///   map's entries, as 2-tuples do; a one-field tuple struct (and
///   any struct with `#[valkey(transparent)]`) reads the value its field reads;
/// - enums of unit variants read a simple or bulk string equal to the variant's name.
///
/// Container attributes: `rename_all = "lowercase" | "UPPERCASE" | "snake_case" | "kebab-case" |
/// "camelCase" | "PascalCase" | "SCREAMING_SNAKE_CASE"`, `deny_unknown_fields`, `transparent`,
/// `crate = "path"`. Field attributes: `rename = "name"`, `default`. Variant attributes:
/// `rename = "name"`.
#[proc_macro_derive(FromValkey, attributes(valkey))]
pub fn derive_from_valkey(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    from_valkey(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

/// Derives `valkey::ToValkeyArgs`.
///
/// - named structs write `field value` pairs (each field one argument; a `None` field is
///   skipped with its name), so `HSET key <struct>` stores what `#[derive(FromValkey)]` reads back
///   from `HGETALL`;
/// - tuple structs write their fields in order (a newtype writes what its field writes);
/// - enums of unit variants are one argument, the variant's name (this derives `ToValkeyArg`).
///
/// Accepts the same attributes as `FromValkey` (`rename`, `rename_all`, `crate`).
#[proc_macro_derive(ToValkeyArgs, attributes(valkey))]
pub fn derive_to_valkey_args(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    to_valkey_args(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

// ---------------------------------------------------------------------------------------------
// Attributes

/// `rename_all` rules, as serde spells them.
#[derive(Clone, Copy)]
enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
}

impl RenameRule {
    fn parse(lit: &LitStr) -> syn::Result<RenameRule> {
        Ok(match lit.value().as_str() {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            other => {
                return Err(Error::new(
                    lit.span(),
                    format!(
                        "unknown rename_all rule \"{other}\"; expected one of \"lowercase\", \
                         \"UPPERCASE\", \"PascalCase\", \"camelCase\", \"snake_case\", \
                         \"SCREAMING_SNAKE_CASE\", \"kebab-case\""
                    ),
                ))
            }
        })
    }

    /// Renames a field (written in snake_case in Rust).
    fn apply_to_field(self, field: &str) -> String {
        match self {
            RenameRule::Lower | RenameRule::Snake => field.to_string(),
            RenameRule::Upper | RenameRule::ScreamingSnake => field.to_ascii_uppercase(),
            RenameRule::Kebab => field.replace('_', "-"),
            RenameRule::Pascal | RenameRule::Camel => {
                let mut out = String::new();
                let mut capitalize = matches!(self, RenameRule::Pascal);
                for c in field.chars() {
                    if c == '_' {
                        capitalize = !out.is_empty() || matches!(self, RenameRule::Pascal);
                    } else if capitalize {
                        out.push(c.to_ascii_uppercase());
                        capitalize = false;
                    } else {
                        out.push(c);
                    }
                }
                out
            }
        }
    }

    /// Renames a variant (written in PascalCase in Rust).
    fn apply_to_variant(self, variant: &str) -> String {
        let snake = || {
            let mut out = String::new();
            for (i, c) in variant.chars().enumerate() {
                if c.is_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            }
            out
        };
        match self {
            RenameRule::Lower => variant.to_ascii_lowercase(),
            RenameRule::Upper => variant.to_ascii_uppercase(),
            RenameRule::Pascal => variant.to_string(),
            RenameRule::Camel => {
                let mut chars = variant.chars();
                match chars.next() {
                    Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
                    None => String::new(),
                }
            }
            RenameRule::Snake => snake(),
            RenameRule::ScreamingSnake => snake().to_ascii_uppercase(),
            RenameRule::Kebab => snake().replace('_', "-"),
        }
    }
}

#[derive(Default)]
struct ContainerAttrs {
    rename_all: Option<(RenameRule, Span)>,
    deny_unknown_fields: Option<Span>,
    transparent: Option<Span>,
    krate: Option<Path>,
}

#[derive(Default)]
struct FieldAttrs {
    rename: Option<LitStr>,
    default: Option<Span>,
}

fn container_attrs(input: &DeriveInput) -> syn::Result<ContainerAttrs> {
    let mut out = ContainerAttrs::default();
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("valkey")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename_all") {
                let lit: LitStr = meta.value()?.parse()?;
                out.rename_all = Some((RenameRule::parse(&lit)?, meta.path.span()));
            } else if meta.path.is_ident("deny_unknown_fields") {
                out.deny_unknown_fields = Some(meta.path.span());
            } else if meta.path.is_ident("transparent") {
                out.transparent = Some(meta.path.span());
            } else if meta.path.is_ident("crate") {
                let lit: LitStr = meta.value()?.parse()?;
                out.krate = Some(lit.parse()?);
            } else {
                return Err(meta.error(
                    "unknown valkey container attribute; expected `rename_all = \"...\"`, \
                     `deny_unknown_fields`, `transparent` or `crate = \"...\"`",
                ));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

fn field_attrs(attrs: &[syn::Attribute], is_variant: bool) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("valkey")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("rename") {
                out.rename = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("default") && !is_variant {
                out.default = Some(meta.path.span());
            } else if is_variant {
                return Err(
                    meta.error("unknown valkey variant attribute; expected `rename = \"...\"`")
                );
            } else {
                return Err(meta.error(
                    "unknown valkey field attribute; expected `rename = \"...\"` or `default`",
                ));
            }
            Ok(())
        })?;
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Shared analysis

/// A named field with the name it has on the wire.
struct NamedField<'a> {
    field: &'a syn::Field,
    ident: &'a Ident,
    wire_name: String,
    default: bool,
}

fn named_fields<'a>(
    fields: &'a syn::FieldsNamed,
    attrs: &ContainerAttrs,
) -> syn::Result<Vec<NamedField<'a>>> {
    let mut out: Vec<NamedField<'a>> = Vec::new();
    for field in &fields.named {
        let fa = field_attrs(&field.attrs, false)?;
        let ident = field
            .ident
            .as_ref()
            .ok_or_else(|| Error::new(field.span(), "expected a named field"))?;
        let rust_name = ident.to_string();
        let rust_name = rust_name.strip_prefix("r#").unwrap_or(&rust_name);
        let wire_name = match (&fa.rename, attrs.rename_all) {
            (Some(lit), _) => lit.value(),
            (None, Some((rule, _))) => rule.apply_to_field(rust_name),
            (None, None) => rust_name.to_string(),
        };
        if let Some(other) = out.iter().find(|f| f.wire_name == wire_name) {
            return Err(Error::new(
                ident.span(),
                format!(
                    "fields `{}` and `{ident}` both read the name \"{wire_name}\"",
                    other.ident
                ),
            ));
        }
        out.push(NamedField {
            field,
            ident,
            wire_name,
            default: fa.default.is_some(),
        });
    }
    Ok(out)
}

/// Rejects field attributes on tuple fields, which are read by position.
fn check_tuple_fields(fields: &syn::FieldsUnnamed) -> syn::Result<()> {
    for field in &fields.unnamed {
        let fa = field_attrs(&field.attrs, false)?;
        if let Some(lit) = fa.rename {
            return Err(Error::new(
                lit.span(),
                "`rename` applies to named fields only: tuple struct fields are read by position",
            ));
        }
        if let Some(span) = fa.default {
            return Err(Error::new(
                span,
                "`default` applies to named fields only: a tuple struct reads an array of exactly its length",
            ));
        }
    }
    Ok(())
}

fn reject_struct_only(attrs: &ContainerAttrs, what: &str) -> syn::Result<()> {
    if let Some(span) = attrs.deny_unknown_fields {
        return Err(Error::new(
            span,
            format!("`deny_unknown_fields` applies to structs with named fields, not to {what}"),
        ));
    }
    Ok(())
}

/// Adds `bound` to every type parameter.
fn add_bounds(generics: &Generics, bound: TokenStream2) -> Generics {
    let mut generics = generics.clone();
    for param in &mut generics.params {
        if let GenericParam::Type(t) = param {
            t.bounds.push(syn::parse_quote!(#bound));
        }
    }
    generics
}

fn crate_path(attrs: &ContainerAttrs) -> TokenStream2 {
    match &attrs.krate {
        Some(path) => quote!(#path),
        None => quote!(::valkey),
    }
}

// ---------------------------------------------------------------------------------------------
// FromValkey

fn from_valkey(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let attrs = container_attrs(input)?;
    let krate = crate_path(&attrs);
    let p = quote!(#krate::convert::__private);
    let name = &input.ident;
    let type_name = name.to_string();

    // Items of the impl besides `from_valkey`.
    let mut extra = TokenStream2::new();
    let body = match &input.data {
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span(),
                "FromValkey cannot be derived for unions; use a struct or an enum",
            ))
        }
        Data::Struct(s) => match &s.fields {
            Fields::Named(fields) => {
                let fields = named_fields(fields, &attrs)?;
                if attrs.transparent.is_some() {
                    let field = single_field(&fields, attrs.transparent, name)?;
                    reject_struct_only(&attrs, "a transparent struct")?;
                    let ident = field.ident;
                    let ty = &field.field.ty;
                    let read = read_as(&p, ty, quote!(value));
                    quote!(#p::Ok(#name { #ident: #read? }))
                } else {
                    // HGETALL of a missing key: an empty map, read as `None` by `Option<Self>`.
                    extra = quote!(
                        const EMPTY_IS_NONE: bool = true;
                    );
                    named_struct_body(&p, name, &type_name, &fields, &attrs)
                }
            }
            Fields::Unnamed(fields) => {
                check_tuple_fields(fields)?;
                reject_struct_only(&attrs, "tuple structs")?;
                reject_rename_all(&attrs, "tuple structs")?;
                let n = fields.unnamed.len();
                if n == 1 {
                    let ty = &fields.unnamed[0].ty;
                    let read = read_as(&p, ty, quote!(value));
                    quote!(#p::Ok(#name(#read?)))
                } else {
                    if let Some(span) = attrs.transparent {
                        return Err(Error::new(span, "`transparent` needs exactly one field"));
                    }
                    let expected = format!("an array of {n} elements ({type_name})");
                    let reads = fields.unnamed.iter().enumerate().map(|(i, f)| {
                        let ty = &f.ty;
                        let read =
                            read_as(&p, ty, quote!(__items.next().unwrap_or(#p::Value::Nil)));
                        quote!(#read.map_err(|e| #p::index_error(e, #type_name, #i))?)
                    });
                    if n == 2 {
                        // A sequence of pairs reads RESP2's flat `[a1, b1, a2, b2, ...]` (ZRANGE
                        // WITHSCORES) as RESP3's `[[a1, b1], ...]` or a map's entries.
                        let (t0, t1) = (&fields.unnamed[0].ty, &fields.unnamed[1].ty);
                        let r0 = read_as(&p, t0, quote!(__first));
                        let r1 = read_as(&p, t1, quote!(__second));
                        extra = quote! {
                            const READS_PAIRS: bool = true;
                            fn from_pair(
                                __first: #krate::Value,
                                __second: #krate::Value,
                            ) -> #krate::Result<Self> {
                                #p::Ok(#name(
                                    #r0.map_err(|e| #p::index_error(e, #type_name, 0usize))?,
                                    #r1.map_err(|e| #p::index_error(e, #type_name, 1usize))?,
                                ))
                            }
                        };
                    }
                    quote! {
                        let mut __items = #p::read_exact(value, #n, #expected)?.into_iter();
                        #p::Ok(#name(#(#reads),*))
                    }
                }
            }
            Fields::Unit => {
                reject_struct_only(&attrs, "unit structs")?;
                reject_rename_all(&attrs, "unit structs")?;
                quote! {
                    <() as #p::FromValkey>::from_valkey(value)?;
                    #p::Ok(#name)
                }
            }
        },
        Data::Enum(e) => {
            reject_struct_only(&attrs, "enums")?;
            if let Some(span) = attrs.transparent {
                return Err(Error::new(
                    span,
                    "`transparent` applies to structs, not enums",
                ));
            }
            let variants = unit_variants(e, &attrs, "FromValkey")?;
            if variants.is_empty() {
                return Err(Error::new(
                    name.span(),
                    "FromValkey cannot be derived for an enum without variants",
                ));
            }
            let names = variants.iter().map(|(_, n)| n);
            let arms = variants.iter().enumerate().map(|(i, (ident, _))| {
                if i + 1 == variants.len() {
                    quote!(_ => #p::Ok(#name::#ident))
                } else {
                    quote!(#i => #p::Ok(#name::#ident))
                }
            });
            quote! {
                const __VARIANTS: &[&str] = &[#(#names),*];
                match #p::unit_variant(value, #type_name, __VARIANTS)? {
                    #(#arms,)*
                }
            }
        }
    };

    let generics = add_bounds(&input.generics, quote!(#krate::FromValkey));
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::FromValkey for #name #ty_generics #where_clause {
            fn from_valkey(value: #krate::Value) -> #krate::Result<Self> {
                #body
            }
            #extra
        }
    })
}

fn reject_rename_all(attrs: &ContainerAttrs, what: &str) -> syn::Result<()> {
    if let Some((_, span)) = attrs.rename_all {
        return Err(Error::new(
            span,
            format!("`rename_all` applies to named fields and enum variants, not to {what}"),
        ));
    }
    Ok(())
}

fn single_field<'f, 'a>(
    fields: &'f [NamedField<'a>],
    span: Option<Span>,
    name: &Ident,
) -> syn::Result<&'f NamedField<'a>> {
    match fields {
        [field] => Ok(field),
        _ => Err(Error::new(
            span.unwrap_or_else(|| name.span()),
            "`transparent` needs exactly one field",
        )),
    }
}

/// `<Ty as FromValkey>::from_valkey(expr)`, spanned at the field type so that a type that is not
/// `FromValkey` is reported there.
fn read_as(p: &TokenStream2, ty: &syn::Type, expr: TokenStream2) -> TokenStream2 {
    quote_spanned!(ty.span()=> <#ty as #p::FromValkey>::from_valkey(#expr))
}

fn named_struct_body(
    p: &TokenStream2,
    name: &Ident,
    type_name: &str,
    fields: &[NamedField<'_>],
    attrs: &ContainerAttrs,
) -> TokenStream2 {
    let slots: Vec<Ident> = (0..fields.len())
        .map(|i| Ident::new(&format!("__field{i}"), Span::call_site()))
        .collect();
    let decls = fields.iter().zip(&slots).map(|(f, slot)| {
        let ty = &f.field.ty;
        quote!(let mut #slot: #p::Option<#ty> = #p::None;)
    });
    let arms = fields.iter().zip(&slots).map(|(f, slot)| {
        let wire = syn::LitByteStr::new(f.wire_name.as_bytes(), Span::call_site());
        let field_name = f.ident.to_string();
        let read = read_as(p, &f.field.ty, quote!(__value));
        quote! {
            #p::Some(#wire) => {
                #slot = #p::Some(#read.map_err(|e| #p::field_error(e, #type_name, #field_name))?);
            }
        }
    });
    let wire_names = fields.iter().map(|f| f.wire_name.as_str());
    let unknown = if attrs.deny_unknown_fields.is_some() {
        quote! {
            _ => {
                const __FIELDS: &[&str] = &[#(#wire_names),*];
                return #p::Err(#p::unknown_field(#type_name, &__key, __FIELDS));
            }
        }
    } else {
        quote!(_ => {})
    };
    let inits = fields.iter().zip(&slots).map(|(f, slot)| {
        let ident = f.ident;
        let ty = &f.field.ty;
        let wire = &f.wire_name;
        let missing = if f.default {
            quote_spanned!(f.field.ty.span()=> <#ty as ::core::default::Default>::default())
        } else {
            quote! {
                match <#ty as #p::FromValkey>::from_missing() {
                    #p::Some(v) => v,
                    #p::None => return #p::Err(#p::missing_field(#type_name, #wire)),
                }
            }
        };
        quote! {
            #ident: match #slot {
                #p::Some(v) => v,
                #p::None => #missing,
            }
        }
    });
    let expected = format!("a map ({type_name})");
    quote! {
        #(#decls)*
        #p::read_pairs(value, #expected, |__key, __value| {
            match #p::key_bytes(&__key) {
                #(#arms)*
                #unknown
            }
            #p::Ok(())
        })?;
        #p::Ok(#name { #(#inits),* })
    }
}

/// The unit variants of an enum with their wire names; any other variant is an error.
fn unit_variants<'a>(
    e: &'a syn::DataEnum,
    attrs: &ContainerAttrs,
    derive: &str,
) -> syn::Result<Vec<(&'a Ident, String)>> {
    let mut out: Vec<(&'a Ident, String)> = Vec::new();
    for v in &e.variants {
        if !matches!(v.fields, Fields::Unit) {
            return Err(Error::new(
                v.fields.span(),
                format!(
                    "{derive} can be derived for enums of unit variants only (read from a \
                     string); `{}` has fields",
                    v.ident
                ),
            ));
        }
        let fa = field_attrs(&v.attrs, true)?;
        let wire = match (&fa.rename, attrs.rename_all) {
            (Some(lit), _) => lit.value(),
            (None, Some((rule, _))) => rule.apply_to_variant(&v.ident.to_string()),
            (None, None) => v.ident.to_string(),
        };
        if let Some((other, _)) = out.iter().find(|(_, w)| *w == wire) {
            return Err(Error::new(
                v.ident.span(),
                format!(
                    "variants `{other}` and `{}` both read the name \"{wire}\"",
                    v.ident
                ),
            ));
        }
        out.push((&v.ident, wire));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// ToValkeyArgs

fn to_valkey_args(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let attrs = container_attrs(input)?;
    let krate = crate_path(&attrs);
    let p = quote!(#krate::convert::__private);
    let name = &input.ident;
    if let Some(span) = attrs.deny_unknown_fields {
        return Err(Error::new(
            span,
            "`deny_unknown_fields` applies to reading (FromValkey), not to ToValkeyArgs",
        ));
    }

    let mut pairs = false;
    let (num_args, write_args, trait_bound) = match &input.data {
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span(),
                "ToValkeyArgs cannot be derived for unions; use a struct or an enum",
            ))
        }
        Data::Enum(e) => {
            if let Some(span) = attrs.transparent {
                return Err(Error::new(
                    span,
                    "`transparent` applies to structs, not enums",
                ));
            }
            let variants = unit_variants(e, &attrs, "ToValkeyArgs")?;
            let arms = variants.iter().map(|(ident, wire)| {
                let wire = syn::LitByteStr::new(wire.as_bytes(), Span::call_site());
                quote!(#name::#ident => #wire)
            });
            // A unit enum is exactly one argument: derive `ToValkeyArg`, which gives
            // `ToValkeyArgs` and lets the enum be a field of a derived struct.
            let generics = add_bounds(&input.generics, quote!(#krate::ToValkeyArg));
            let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
            let body = if variants.is_empty() {
                quote!(match *self {})
            } else {
                quote! {
                    let name: &[u8] = match self { #(#arms,)* };
                    f(name)
                }
            };
            return Ok(quote! {
                #[automatically_derived]
                impl #impl_generics #krate::ToValkeyArg for #name #ty_generics #where_clause {
                    #[inline]
                    fn with_bytes<R>(&self, f: impl ::core::ops::FnOnce(&[u8]) -> R) -> R {
                        #body
                    }
                }
            });
        }
        Data::Struct(s) => match &s.fields {
            Fields::Named(fields) if attrs.transparent.is_some() => {
                let fields = named_fields(fields, &attrs)?;
                let field = single_field(&fields, attrs.transparent, name)?;
                let ident = field.ident;
                (
                    quote!(#p::ToValkeyArgs::num_args(&self.#ident)),
                    quote!(#p::ToValkeyArgs::write_args(&self.#ident, out);),
                    quote!(#krate::ToValkeyArgs),
                )
            }
            Fields::Named(fields) => {
                let fields = named_fields(fields, &attrs)?;
                let counts = fields.iter().map(|f| {
                    let ident = f.ident;
                    let ty = &f.field.ty;
                    quote_spanned! {ty.span()=>
                        if <#ty as #p::FieldArg>::is_present(&self.#ident) { 2 } else { 0 }
                    }
                });
                let writes = fields.iter().map(|f| {
                    let ident = f.ident;
                    let ty = &f.field.ty;
                    let wire = syn::LitByteStr::new(f.wire_name.as_bytes(), Span::call_site());
                    quote_spanned!(ty.span()=> <#ty as #p::FieldArg>::write_field(&self.#ident, #wire, out);)
                });
                pairs = true;
                (
                    quote!(0 #(+ #counts)*),
                    quote!(#(#writes)*),
                    quote!(#krate::ToValkeyArg),
                )
            }
            Fields::Unnamed(fields) => {
                check_tuple_fields(fields)?;
                reject_rename_all(&attrs, "tuple structs")?;
                let idx: Vec<syn::Index> =
                    (0..fields.unnamed.len()).map(syn::Index::from).collect();
                (
                    quote!(0 #(+ #p::ToValkeyArgs::num_args(&self.#idx))*),
                    quote!(#(#p::ToValkeyArgs::write_args(&self.#idx, out);)*),
                    quote!(#krate::ToValkeyArgs),
                )
            }
            Fields::Unit => return Err(Error::new(
                name.span(),
                "ToValkeyArgs cannot be derived for a unit struct: it has no arguments to write",
            )),
        },
    };

    let generics = add_bounds(&input.generics, trait_bound);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    // A struct writes `field value` pairs: it is what HSET-like commands' `(Arg, Arg)` groups take.
    let pairs = pairs.then(|| {
        let parts = quote!(#krate::cmd::parts);
        quote! {
            #[automatically_derived]
            impl #impl_generics #parts::Elements<(#parts::Arg, #parts::Arg)>
                for #name #ty_generics #where_clause {}
        }
    });
    Ok(quote! {
        #pairs

        #[automatically_derived]
        impl #impl_generics #krate::ToValkeyArgs for #name #ty_generics #where_clause {
            #[inline]
            fn num_args(&self) -> usize {
                #num_args
            }
            #[inline]
            fn write_args(&self, out: &mut #krate::convert::ArgWriter<'_>) {
                #write_args
            }
        }

        // So that `cmd.arg(&value)` works without giving the value away.
        #[automatically_derived]
        impl #impl_generics #krate::ToValkeyArgs for &#name #ty_generics #where_clause {
            #[inline]
            fn num_args(&self) -> usize {
                <#name #ty_generics as #krate::ToValkeyArgs>::num_args(*self)
            }
            #[inline]
            fn write_args(&self, out: &mut #krate::convert::ArgWriter<'_>) {
                <#name #ty_generics as #krate::ToValkeyArgs>::write_args(*self, out)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::RenameRule::{self, *};

    const RULES: [RenameRule; 7] = [Lower, Upper, Pascal, Camel, Snake, ScreamingSnake, Kebab];

    #[test]
    fn fields_rename_from_snake_case() {
        let expected = [
            "used_memory_rss",
            "USED_MEMORY_RSS",
            "UsedMemoryRss",
            "usedMemoryRss",
            "used_memory_rss",
            "USED_MEMORY_RSS",
            "used-memory-rss",
        ];
        for (rule, want) in RULES.into_iter().zip(expected) {
            assert_eq!(rule.apply_to_field("used_memory_rss"), want);
        }
        assert_eq!(Camel.apply_to_field("a"), "a");
        assert_eq!(Pascal.apply_to_field("a"), "A");
        assert_eq!(Kebab.apply_to_field("ip_v4"), "ip-v4");
        assert_eq!(Camel.apply_to_field("ip_v4"), "ipV4");
    }

    #[test]
    fn variants_rename_from_pascal_case() {
        let expected = [
            "allkeyslru",
            "ALLKEYSLRU",
            "AllKeysLru",
            "allKeysLru",
            "all_keys_lru",
            "ALL_KEYS_LRU",
            "all-keys-lru",
        ];
        for (rule, want) in RULES.into_iter().zip(expected) {
            assert_eq!(rule.apply_to_variant("AllKeysLru"), want);
        }
        assert_eq!(Snake.apply_to_variant("A"), "a");
        assert_eq!(Kebab.apply_to_variant("Ttl"), "ttl");
    }
}
