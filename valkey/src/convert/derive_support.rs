//! Support for the code `#[derive(FromValkey, ToValkeyArgs)]` generates: not a public API (it is
//! `#[doc(hidden)]` and may change in any release), only what the generated code calls.

pub use super::from::{read_exact, read_pairs};
pub use super::{ArgWriter, FromValkey, ToValkeyArg, ToValkeyArgs};
pub use crate::error::{Error, Result};
pub use crate::value::Value;
pub use std::option::Option::{self, None, Some};
pub use std::result::Result::{Err, Ok};

use super::from::{describe, strip_attributes, unexpected};
use crate::value::ShowBytes;

/// The bytes of a map key, when it is a string (other keys match no field).
#[inline]
pub fn key_bytes(key: &Value) -> Option<&[u8]> {
    key.as_bytes()
}

/// `missing field "age" in User`.
#[cold]
pub fn missing_field(type_name: &str, field: &str) -> Error {
    Error::conversion(format!("missing field \"{field}\" in {type_name}"))
}

/// `unknown field "x" in User (it denies unknown fields)`.
#[cold]
pub fn unknown_field(type_name: &str, key: &Value, expected: &[&str]) -> Error {
    let key = match key.as_bytes() {
        Some(b) => ShowBytes(b).to_string(),
        None => describe(key),
    };
    Error::conversion(format!(
        "unknown field {key} in {type_name}, expected one of {}",
        quoted_list(expected)
    ))
}

/// Prefixes a field's conversion error with `Type.field`.
#[cold]
pub fn field_error(error: Error, type_name: &str, field: &str) -> Error {
    error.context(format_args!("{type_name}.{field}"))
}

/// Prefixes a tuple struct element's conversion error with `Type.0`.
#[cold]
pub fn index_error(error: Error, type_name: &str, index: usize) -> Error {
    error.context(format_args!("{type_name}.{index}"))
}

/// Reads a string reply and returns the index of the name in `variants` that it equals.
pub fn unit_variant(value: Value, type_name: &str, variants: &[&str]) -> Result<usize> {
    let value = strip_attributes(value);
    if let Some(text) = value.as_bytes() {
        if let Some(i) = variants.iter().position(|v| v.as_bytes() == text) {
            return Ok(i);
        }
    }
    Err(unexpected(
        &format!("one of {} ({type_name})", quoted_list(variants)),
        value,
    ))
}

fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    quoted.join(", ")
}

#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a field of `#[derive(ToValkeyArgs)]`: each field is written as one `name value` pair",
    label = "not a single argument (nor an `Option` of one)",
    note = "write a collection with a hand-written `ToValkeyArgs` impl, or store it in one argument (e.g. `valkey::Json`)"
)]
/// A struct field written by `#[derive(ToValkeyArgs)]` as `name value`: any single argument, or
/// an `Option` of one (`None` skips the field and its name).
pub trait FieldArg {
    /// Whether the field writes anything.
    fn is_present(&self) -> bool;
    /// Writes `name value` when present.
    fn write_field(&self, name: &[u8], out: &mut ArgWriter<'_>);
}

impl<T: ToValkeyArg + ?Sized> FieldArg for T {
    #[inline]
    fn is_present(&self) -> bool {
        true
    }
    #[inline]
    fn write_field(&self, name: &[u8], out: &mut ArgWriter<'_>) {
        out.write_bytes(name);
        out.write(self);
    }
}

impl<T: ToValkeyArg> FieldArg for Option<T> {
    #[inline]
    fn is_present(&self) -> bool {
        self.is_some()
    }
    #[inline]
    fn write_field(&self, name: &[u8], out: &mut ArgWriter<'_>) {
        if let Some(v) = self {
            out.write_bytes(name);
            out.write(v);
        }
    }
}
