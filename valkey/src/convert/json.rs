//! `Json<T>` (feature `json`): a value stored as JSON text. As an argument it writes `T`
//! serialized with serde_json; as a reply it parses a string reply (`GET`, `HGET`) as JSON.

use super::from::{strip_attributes, unexpected};
use super::{FromValkey, ToValkeyArg};
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
/// Writing serializes on every write. A type whose `Serialize` can fail (a map with non-string
/// keys, a custom impl returning an error) has no JSON form: such an argument is written as the
/// text `null`, and an error is logged through `tracing`. Check with [`Json::to_json`] first when
/// that can happen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The wrapped value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: serde::Serialize> Json<T> {
    /// The JSON text this argument writes, or the serialization error.
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

impl<T: serde::Serialize> ToValkeyArg for Json<T> {
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match serde_json::to_vec(&self.0) {
            Ok(text) => f(&text),
            Err(e) => {
                tracing::error!(error = %e, "Json argument cannot be serialized; writing null");
                f(b"null")
            }
        }
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
            Error::with_source(
                crate::error::ErrorKind::TypeConversion,
                "expected JSON text, got a string that does not parse as it",
                e,
            )
        })
    }
}
