//! Conversions between Rust types and the wire: `ToValkeyArg`/`ToValkeyArgs` write command
//! arguments straight into the connection's buffer; `FromValkey` reads a reply into a user type.

mod args;
mod from;
#[cfg(feature = "json")]
mod json;

#[doc(hidden)]
#[path = "derive_support.rs"]
pub mod __private;

pub use args::{write_array_header, ArgWriter};
pub use from::{read_exact, read_pairs};
#[cfg(feature = "json")]
pub use json::Json;

use crate::error::Result;
use crate::resp::FrameReader;
use crate::value::Value;

/// A value that is exactly one command argument (a string, bytes, a number).
///
/// Implemented for `str`, `String`, `[u8]`, `Vec<u8>`, `Bytes`, the integer types (except `u8`,
/// so that `Vec<u8>` stays one binary argument), `f32`/`f64`, `bool` (`1`/`0`) and references to them.
pub trait ToValkeyArg {
    /// Calls `f` with the argument's bytes. Numbers format into a stack buffer; nothing allocates.
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R;
}

/// Zero or more command arguments: any [`ToValkeyArg`], and collections, tuples, maps and `Option`s
/// of them (a `HashMap` writes `key value` pairs, `None` writes nothing).
pub trait ToValkeyArgs {
    /// How many arguments `write_args` writes. Called before writing, for the RESP array header.
    fn num_args(&self) -> usize;
    /// Writes the arguments.
    fn write_args(&self, out: &mut ArgWriter<'_>);
}

/// A type a reply can be read into.
///
/// Implemented for the std types (integers, floats, `bool`, `String`, `Vec<u8>`, `Bytes`, `Option`,
/// `Vec`, `VecDeque`, maps, sets, tuples), `Value`, and, through `#[derive(FromValkey)]`, user types.
/// RESP2 and RESP3 shapes of the same data both convert (a map and a flat key/value array).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read from a reply: it does not implement `FromValkey`",
    label = "not `FromValkey`",
    note = "derive it with `#[derive(valkey::FromValkey)]`, or implement `FromValkey` for it"
)]
pub trait FromValkey: Sized {
    /// Converts a decoded reply. A top-level error reply never reaches this: it is an `Err` before.
    fn from_valkey(value: Value) -> Result<Self>;

    /// Reads the reply straight from a complete frame, without building a `Value` first.
    /// The default builds the `Value`; hot types override it.
    #[doc(hidden)]
    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        Self::from_valkey(frame.read_value()?)
    }

    /// Whether a sequence of `Self` reads a flat `[k1, v1, k2, v2, ...]` array (RESP2) or the
    /// entries of a map (RESP3) as one item per key/value pair. True for 2-tuples only.
    #[doc(hidden)]
    const READS_PAIRS: bool = false;

    /// Reads one key/value pair (a map entry, or two neighbours of a flat array) into `Self`.
    /// Used when [`FromValkey::READS_PAIRS`] is true; 2-tuples read it without building an array.
    #[doc(hidden)]
    fn from_pair(key: Value, value: Value) -> Result<Self> {
        Self::from_valkey(Value::Array(vec![key, value]))
    }

    /// The value of a struct field that the reply does not have: `Some(None)` for `Option`,
    /// `None` (an error: the field is required) for everything else.
    #[doc(hidden)]
    fn from_missing() -> Option<Self> {
        None
    }

    /// Reads a string reply as `Vec<Self>`. Only `u8` does (so `Vec<u8>` reads a bulk string as
    /// its bytes while `Vec<T>` reads arrays); `None` for every other type.
    #[doc(hidden)]
    fn vec_from_bytes(bytes: &[u8]) -> Option<Vec<Self>> {
        let _ = bytes;
        None
    }
}
