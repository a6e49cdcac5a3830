//! `Json<T>` (feature `json`): a value stored as JSON text. A reply (`GET`, `HGET`) is parsed as
//! JSON; an argument is serialized first, with its error, by [`Json::to_json`].

use super::from::{strip_attributes, unexpected};
use super::FromValkey;
use crate::error::{Error, Result};
use crate::value::Value;

/// A value written and read as JSON text.
///
/// ```
/// # #[cfg(feature = "json")] {
/// use valkey::{FromValkey, Json, Value};
/// let reply = Value::BulkString(r#"{"name":"ann","age":7}"#.into());
/// let Json(v): Json<serde_json::Value> = FromValkey::from_valkey(reply).unwrap();
/// assert_eq!(v["age"], 7);
/// # }
/// ```
///
/// To write one, serialize it first: `cmd::set("k", Json(&v).to_json()?)`. Serializing can fail
/// (a map with non-string keys, a custom `Serialize` returning an error), and an argument cannot
/// fail once it is being written, so `Json` is deliberately not an argument itself: nothing is
/// ever stored in place of a value that had no JSON form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::Serialize> Json<T> {
    /// The value serialized as JSON text (an argument: `Vec<u8>`), or why it cannot be.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.0).map_err(|e| {
            Error::with_source(
                crate::error::ErrorKind::InvalidInput,
                "cannot serialize the value as JSON",
                e,
            )
        })
    }
}

impl<T: serde::de::DeserializeOwned> FromValkey for Json<T> {
    /// Parses a string reply as JSON; a parse error says where in the text it failed.
    fn from_valkey(value: Value) -> Result<Self> {
        let value = strip_attributes(value);
        let Some(text) = value.as_bytes() else {
            return Err(unexpected("a JSON string", value));
        };
        serde_json::from_slice(text).map(Json).map_err(|e| {
            // Where it failed is said here; serde's own text is the source.
            let at = format!(
                "expected JSON text, got a string that does not parse as it (line {}, column {})",
                e.line(),
                e.column()
            );
            Error::with_source(crate::error::ErrorKind::TypeConversion, at, e)
        })
    }
}
