//! Conversions between Rust types and the wire: `ToValkeyArg`/`ToValkeyArgs` write command
//! arguments straight into the connection's buffer; `FromValkey` reads a reply into a user type.

mod args;
mod from;

pub use args::{write_array_header, ArgWriter};
#[allow(unused_imports)]
pub use from::*;

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
pub trait FromValkey: Sized {
    /// Converts a decoded reply. A top-level error reply never reaches this: it is an `Err` before.
    fn from_valkey(value: Value) -> Result<Self>;

    /// Reads the reply straight from a complete frame, without building a `Value` first.
    /// The default builds the `Value`; hot types override it.
    #[doc(hidden)]
    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        Self::from_valkey(frame.read_value()?)
    }
}
