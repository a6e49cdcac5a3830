//! Sans-IO RESP2/RESP3 codec: no sockets here. Decoding is two steps: `Decoder::frame_len` checks
//! that a complete, valid frame is buffered (incomplete is not an error; malformed or oversized
//! is), then `FrameReader` parses the validated frame, sharing bulk payloads with the buffer.

mod encode;
mod reader;
mod scan;

pub use encode::encode_value;
pub use reader::FrameReader;
pub use scan::{parse_i64, Decoder};

/// The deepest nesting any decoder or reader accepts, whatever [`Limits::max_depth`] says.
///
/// [`FrameReader`] reads nested values recursively; this bound keeps its stack use small (a few
/// hundred KiB at worst) on every thread, including tokio workers with their 2 MiB stacks.
pub const MAX_DEPTH: usize = 256;

/// Limits enforced while decoding, before anything is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string accepted (default 512 MiB, the server's `proto-max-bulk-len`). Also
    /// bounds the length of simple strings, errors, doubles and big numbers (one line each).
    pub max_bulk_len: usize,
    /// Deepest nesting of non-empty aggregates accepted (default 64; values above [`MAX_DEPTH`]
    /// act as `MAX_DEPTH`). An attribute counts as one level.
    pub max_depth: usize,
    /// Most elements in one aggregate (default 2^32 - 1). For maps and attributes this counts
    /// entries (key/value pairs), as the header does.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_depth: 64,
            max_elements: u32::MAX as usize,
        }
    }
}

/// Type bytes: the first byte of every RESP value, as returned by [`FrameReader::peek_type`].
pub mod types {
    /// Simple string `+OK`.
    pub const SIMPLE_STRING: u8 = b'+';
    /// Simple error `-ERR ...`.
    pub const SIMPLE_ERROR: u8 = b'-';
    /// Integer `:42`.
    pub const INTEGER: u8 = b':';
    /// Bulk string `$3\r\nfoo`; `$-1` is the RESP2 nil.
    pub const BULK_STRING: u8 = b'$';
    /// Array `*2`; `*-1` is the RESP2 nil array.
    pub const ARRAY: u8 = b'*';
    /// RESP3 null `_`.
    pub const NULL: u8 = b'_';
    /// RESP3 double `,1.5`.
    pub const DOUBLE: u8 = b',';
    /// RESP3 boolean `#t` / `#f`.
    pub const BOOLEAN: u8 = b'#';
    /// RESP3 bulk error `!21\r\n...`.
    pub const BULK_ERROR: u8 = b'!';
    /// RESP3 verbatim string `=15\r\ntxt:...`.
    pub const VERBATIM_STRING: u8 = b'=';
    /// RESP3 big number `(3492890328409238509324850943850943825024385`.
    pub const BIG_NUMBER: u8 = b'(';
    /// RESP3 map `%2` (two key/value pairs follow).
    pub const MAP: u8 = b'%';
    /// RESP3 set `~3`.
    pub const SET: u8 = b'~';
    /// RESP3 push `>3` (out-of-band message).
    pub const PUSH: u8 = b'>';
    /// RESP3 attribute `|1` (a map describing the value that follows it).
    pub const ATTRIBUTE: u8 = b'|';

    /// A short name of the type a type byte introduces (the names of `Value::kind_name`).
    pub fn name(type_byte: u8) -> &'static str {
        match type_byte {
            SIMPLE_STRING => "simple string",
            SIMPLE_ERROR | BULK_ERROR => "error",
            INTEGER => "integer",
            BULK_STRING => "bulk string",
            ARRAY => "array",
            NULL => "nil",
            DOUBLE => "double",
            BOOLEAN => "boolean",
            VERBATIM_STRING => "verbatim string",
            BIG_NUMBER => "big number",
            MAP => "map",
            SET => "set",
            PUSH => "push",
            ATTRIBUTE => "attribute",
            _ => "unknown type",
        }
    }
}
