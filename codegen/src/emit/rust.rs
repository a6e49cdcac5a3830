//! The shape's typed values as Rust tokens: types, the values builders store (their expression
//! and their type), element shapes and time conversions. Nothing here parses text.

use crate::shape::{ElementKind, ElementShape, Part, TimeConv, Ty};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// A name as an identifier.
pub fn ident(s: &str) -> syn::Ident {
    format_ident!("{}", s)
}

/// A type.
pub fn ty(t: &Ty) -> TokenStream {
    match t {
        Ty::Param(p) | Ty::Named(p) => {
            let p = ident(p);
            quote!(#p)
        }
        Ty::I64 => quote!(i64),
        Ty::F64 => quote!(f64),
        Ty::Bool => quote!(bool),
        Ty::Option(inner) => {
            let inner = ty(inner);
            quote!(Option<#inner>)
        }
    }
}

/// A type as the docs name it (`GeoUnit`, `Option<i64>`).
pub fn ty_name(t: &Ty) -> String {
    match t {
        Ty::Param(p) | Ty::Named(p) => p.clone(),
        Ty::I64 => "i64".into(),
        Ty::F64 => "f64".into(),
        Ty::Bool => "bool".into(),
        Ty::Option(inner) => format!("Option<{}>", ty_name(inner)),
    }
}

fn token(t: &str) -> Literal {
    Literal::string(t)
}

/// The type of a stored value.
pub fn part_ty(p: &Part) -> TokenStream {
    match p {
        Part::Param(_, t) => ty(t),
        Part::Time(_, conv) => ty(&conv.number()),
        Part::Tok(_) => quote!(Tok),
        Part::Tokened(_, inner) => {
            let inner = part_ty(inner);
            quote!(Tokened<#inner>)
        }
        Part::EachTok(_, inner) => {
            let inner = part_ty(inner);
            quote!(EachTok<#inner>)
        }
        Part::Group(parts) => {
            let parts = parts.iter().map(part_ty);
            quote!(Block<(#(#parts,)*)>)
        }
        Part::Sole(inner) => {
            let inner = part_ty(inner);
            quote!(Sole<#inner>)
        }
        Part::Present => quote!(Present),
        Part::Unzip(_, t) => {
            let t = ty(t);
            quote!(Unzip<#t>)
        }
        Part::OptionOf(_, inner) | Part::If(_, inner) => {
            let inner = part_ty(inner);
            quote!(Option<#inner>)
        }
    }
}

/// The expression building a stored value from the parameters.
pub fn part_expr(p: &Part) -> TokenStream {
    match p {
        Part::Param(name, _) => {
            let name = ident(name);
            quote!(#name)
        }
        Part::Time(name, conv) => {
            let (name, tr, method) = (ident(name), ident(conv.trait_name()), ident(conv.method()));
            quote!(#tr::#method(#name))
        }
        Part::Tok(t) => {
            let t = token(t);
            quote!(Tok(#t))
        }
        Part::Tokened(t, inner) => {
            let (t, inner) = (token(t), part_expr(inner));
            quote!(Tokened(#t, #inner))
        }
        Part::EachTok(t, inner) => {
            let (t, inner) = (token(t), part_expr(inner));
            quote!(EachTok(#t, #inner))
        }
        Part::Group(parts) => {
            let parts = parts.iter().map(part_expr);
            quote!(Block((#(#parts,)*)))
        }
        Part::Sole(inner) => {
            let inner = part_expr(inner);
            quote!(Sole(#inner))
        }
        Part::Present => quote!(Present),
        Part::Unzip(name, _) => {
            let name = ident(name);
            quote!(Unzip(#name))
        }
        Part::OptionOf(param, inner) => {
            let (param, inner) = (ident(param), part_expr(inner));
            quote!(#param.map(|#param| #inner))
        }
        Part::If(param, inner) => {
            let (param, inner) = (ident(param), part_expr(inner));
            quote!(#param.then_some(#inner))
        }
    }
}

/// The shape of a repeated argument's element (`shape::Arg`, `(shape::Number, shape::Arg,)`).
pub fn element_shape(s: &ElementShape) -> TokenStream {
    fn kind(k: ElementKind) -> TokenStream {
        match k {
            ElementKind::Number => quote!(shape::Number),
            ElementKind::Integer => quote!(shape::Integer),
            ElementKind::Arg => quote!(shape::Arg),
        }
    }
    match s {
        ElementShape::One(k) => kind(*k),
        ElementShape::Tuple(ks) => {
            let ks = ks.iter().map(|k| kind(*k));
            quote!((#(#ks,)*))
        }
    }
}

/// A time conversion's trait (`IntoSeconds`).
pub fn time_trait(c: TimeConv) -> syn::Ident {
    ident(c.trait_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tokens as text without spaces (`>>` and `> >` print alike).
    fn flat(t: TokenStream) -> String {
        t.to_string().replace(' ', "")
    }

    #[test]
    fn parts_render_their_expression_and_type() {
        let ex = Part::OptionOf(
            "seconds".into(),
            Box::new(Part::Tokened(
                "EX".into(),
                Box::new(Part::Time("seconds".into(), TimeConv::Seconds)),
            )),
        );
        assert_eq!(
            flat(part_expr(&ex)),
            flat(quote!(seconds.map(|seconds| Tokened(
                "EX",
                IntoSeconds::into_seconds(seconds)
            ))))
        );
        assert_eq!(flat(part_ty(&ex)), flat(quote!(Option<Tokened<i64>>)));
        let limit = Part::Group(vec![
            Part::Tok("LIMIT".into()),
            Part::Param("offset".into(), Ty::I64),
            Part::Param("count".into(), Ty::I64),
        ]);
        assert_eq!(
            flat(part_expr(&limit)),
            flat(quote!(Block((Tok("LIMIT"), offset, count,))))
        );
        assert_eq!(flat(part_ty(&limit)), flat(quote!(Block<(Tok, i64, i64,)>)));
        let nx = Part::If(
            "given".into(),
            Box::new(Part::Sole(Box::new(Part::Tok("NX".into())))),
        );
        assert_eq!(
            flat(part_expr(&nx)),
            flat(quote!(given.then_some(Sole(Tok("NX")))))
        );
    }
}
