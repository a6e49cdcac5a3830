//! Conversions between Rust types and the wire: `ToValkeyArg`/`ToValkeyArgs` write command
//! arguments straight into the connection's buffer; `FromValkey` reads a reply into a user type.
//!
//! # Reading replies
//!
//! Every conversion accepts the RESP2 and the RESP3 shape of the same data, so code does not
//! change with the protocol:
//!
//! | into | from |
//! |---|---|
//! | integers | an integer; decimal text (`"42"`); a RESP3 boolean (0/1); a double only when integral (`3.0`, as RESP3 sends a score that RESP2 sends as `"3"`). Out of range is an error, never a wrap; a fraction is an error, never a truncation |
//! | `f32`, `f64` | a double; an integer; decimal text incl. `inf`, `-inf`, `nan` |
//! | `bool` | a RESP3 boolean; the integers 0 and 1; the text `"0"`/`"1"`. Other integers are an error |
//! | `()` | anything that is not an error reply (`OK`, `QUEUED`, nil, ...) |
//! | `String` | a bulk, simple or verbatim string (without its format) or big number, UTF-8 checked; an integer or double as its text |
//! | `Vec<u8>`, `Bytes` | as `String`, unchecked; `Bytes` shares the reply's buffer (no copy) |
//! | `Option<T>` | nil is `None`. An empty array is **not** `None`: it is `Some` of what `T` reads from it (`Some(vec![])` for `Option<Vec<T>>`) |
//! | `Vec<T>`, `VecDeque<T>`, sets | an array, set or push; a map as its flat form `[k1, v1, k2, v2]` |
//! | `Vec<(K, V)>` | a map (one pair per entry), a flat `[k1, v1, ...]` array, or an array of `[k, v]` pairs |
//! | `HashMap`, `BTreeMap` | a map, a flat `[k1, v1, ...]` array, or an array of `[k, v]` pairs |
//! | tuples (up to 12) | an array (or set) of exactly that many elements |
//! | `Result<T, Error>` | an error reply inside an aggregate (EXEC, pipelines) becomes `Err` with the server's code, a value that does not fit `T` becomes that item's conversion `Err` |
//!
//! RESP3 attributes are skipped (the conversion reads the value they describe). An error reply
//! where a non-`Result` type is expected converts into that server error (its code kept).
//! Conversion errors name what was expected, what came, and where: `[3]: expected an integer,
//! got bulk string "abc"`, `User.age: ...`, `["name"]: ...`.
//!
//! # Deriving
//!
//! ```
//! use valkey::{FromValkey, ToValkeyArgs, Value};
//!
//! #[derive(FromValkey, ToValkeyArgs, Debug, PartialEq)]
//! #[valkey(rename_all = "kebab-case")]
//! struct Profile {
//!     display_name: String,
//!     visits: u64,
//!     #[valkey(rename = "lang")]
//!     language: Option<String>, // may be missing; `None` is not written
//!     #[valkey(default)]
//!     score: f64, // missing reads as 0.0
//! }
//!
//! // HSET profile:1 <profile> writes `display-name ann visits 3 score 1.5`...
//! let profile = Profile { display_name: "ann".into(), visits: 3, language: None, score: 1.5 };
//! assert_eq!(profile.num_args(), 6);
//!
//! // ...and HGETALL reads it back, as a RESP2 flat array or a RESP3 map alike.
//! let bulk = |s: &str| Value::BulkString(s.to_owned().into());
//! let resp2 = Value::Array(vec![
//!     bulk("display-name"), bulk("ann"), bulk("visits"), bulk("3"), bulk("score"), bulk("1.5"),
//! ]);
//! assert_eq!(Profile::from_valkey(resp2)?, profile);
//!
//! let resp3 = Value::Map(vec![(bulk("visits"), bulk("x"))]);
//! assert_eq!(
//!     Profile::from_valkey(resp3).unwrap_err().to_string(),
//!     r#"Profile.visits: expected an integer, got bulk string "x""#,
//! );
//!
//! // Enums of unit variants read (and write) their names.
//! #[derive(FromValkey, ToValkeyArgs, Debug, PartialEq)]
//! #[valkey(rename_all = "lowercase")]
//! enum KeyType { String, List, Set, ZSet, Hash, Stream }
//! assert_eq!(KeyType::from_valkey(Value::SimpleString("zset".into()))?, KeyType::ZSet);
//! # Ok::<(), valkey::Error>(())
//! ```
//!
//! Attributes: on the type `rename_all = "lowercase" | "UPPERCASE" | "snake_case" |
//! "kebab-case" | "camelCase" | "PascalCase" | "SCREAMING_SNAKE_CASE"`, `deny_unknown_fields`
//! (unknown fields are ignored by default), `transparent` (read the one field's value);
//! on a field `rename = "..."` and `default`; on a variant `rename = "..."`. A named struct
//! reads a map, a tuple struct an array of its length, a one-field tuple struct its field's
//! value. The generated code names the library `::valkey`, which is what the package
//! `valkey-typed` is called in code unless it is renamed in `Cargo.toml`; a crate that renames
//! it says so with `#[valkey(crate = "new_name")]`.
//!
//! # Writing arguments
//!
//! Numbers are written in decimal; floats as the shortest text that reads back to the same value
//! (`0.1`, `1e300`), infinities as `inf`/`-inf`. NaN is written as `nan`, which the server rejects
//! with an error reply for every command (it is never stored). `bool` is `1`/`0`. `Vec<u8>`,
//! `&[u8]` and `[u8; N]` are one binary argument; other collections, maps (`key value` pairs),
//! tuples and `Option` (`None` writes nothing) write each element in order.

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

    /// Whether an empty map (or empty array) means "nothing there" for `Option<Self>`, as nil
    /// does: true for `#[derive(FromValkey)]` structs with named fields, so that
    /// `Option<User>` from `HGETALL` of a missing key is `None` (the server has no empty hash).
    #[doc(hidden)]
    const EMPTY_IS_NONE: bool = false;

    /// Reads a string reply as `Vec<Self>`. Only `u8` does (so `Vec<u8>` reads a bulk string as
    /// its bytes while `Vec<T>` reads arrays); `None` for every other type.
    #[doc(hidden)]
    fn vec_from_bytes(bytes: &[u8]) -> Option<Vec<Self>> {
        let _ = bytes;
        None
    }
}
