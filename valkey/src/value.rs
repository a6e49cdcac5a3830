//! `Value`: one reply from the server, covering every RESP2 and RESP3 type.
//! Strings stay bytes (`Bytes`, shared with the read buffer, never copied) until a caller asks
//! for something else through `FromValkey`.

use bytes::Bytes;
use std::fmt;

/// A reply, or part of one, as the server sent it.
///
/// RESP2 replies use only `SimpleString`, `ServerError`, `Int`, `BulkString`, `Array` and `Nil`.
/// RESP3 adds the rest. Conversions into user types (`FromValkey`) accept the RESP2 and RESP3 shapes
/// of the same data alike (a map and a flat key/value array both read into a `HashMap`).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// RESP2 nil bulk / nil array, RESP3 null (`_`).
    Nil,
    /// Integer (`:`).
    Int(i64),
    /// Bulk string (`$`), binary-safe.
    BulkString(Bytes),
    /// Simple string (`+`), e.g. `OK`, `PONG`, `QUEUED`.
    SimpleString(Bytes),
    /// An error reply (`-` or RESP3 bulk error `!`). Inside arrays (EXEC, some multi-replies) errors
    /// are kept as values; a top-level error reply becomes `Err(Error)`.
    ServerError(ServerError),
    /// Array (`*`).
    Array(Vec<Value>),
    /// RESP3 map (`%`), in the order the server sent it.
    Map(Vec<(Value, Value)>),
    /// RESP3 set (`~`), in the order the server sent it.
    Set(Vec<Value>),
    /// RESP3 double (`,`), including `inf`, `-inf` and `nan`.
    Double(f64),
    /// RESP3 boolean (`#t` / `#f`).
    Boolean(bool),
    /// RESP3 big number (`(`), as its decimal text.
    BigNumber(Bytes),
    /// RESP3 verbatim string (`=`): a three-letter format (`txt`, `mkd`) and the text.
    VerbatimString {
        /// The format, e.g. `txt`.
        format: [u8; 3],
        /// The text, without the format prefix.
        text: Bytes,
    },
    /// RESP3 attribute (`|`): out-of-band data attached to the reply that follows it.
    Attribute {
        /// The reply the attributes describe.
        data: Box<Value>,
        /// The attributes.
        attributes: Vec<(Value, Value)>,
    },
    /// RESP3 push (`>`): an out-of-band message (pub/sub, invalidation, MONITOR). Never a reply to a
    /// command; the connection routes it to the push handler.
    Push(Vec<Value>),
}

impl Value {
    /// A short name of the value's type, used in conversion error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Int(_) => "integer",
            Value::BulkString(_) => "bulk string",
            Value::SimpleString(_) => "simple string",
            Value::ServerError(_) => "error",
            Value::Array(_) => "array",
            Value::Map(_) => "map",
            Value::Set(_) => "set",
            Value::Double(_) => "double",
            Value::Boolean(_) => "boolean",
            Value::BigNumber(_) => "big number",
            Value::VerbatimString { .. } => "verbatim string",
            Value::Attribute { .. } => "attribute",
            Value::Push(_) => "push",
        }
    }

    /// The bytes of a string-like value (bulk, simple, verbatim, big number), if it is one.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::BulkString(b) | Value::SimpleString(b) | Value::BigNumber(b) => Some(b),
            Value::VerbatimString { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this is `Nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }
}

/// Shows strings as text where they are UTF-8 (escaped otherwise), so that test failures and logs
/// are readable.
impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("Nil"),
            Value::Int(i) => write!(f, "Int({i})"),
            Value::BulkString(b) => write!(f, "BulkString({})", ShowBytes(b)),
            Value::SimpleString(b) => write!(f, "SimpleString({})", ShowBytes(b)),
            Value::ServerError(e) => write!(f, "ServerError({e:?})"),
            Value::Array(a) => f.debug_tuple("Array").field(a).finish(),
            Value::Map(m) => f.debug_tuple("Map").field(m).finish(),
            Value::Set(s) => f.debug_tuple("Set").field(s).finish(),
            Value::Double(d) => write!(f, "Double({d})"),
            Value::Boolean(b) => write!(f, "Boolean({b})"),
            Value::BigNumber(b) => write!(f, "BigNumber({})", ShowBytes(b)),
            Value::VerbatimString { format, text } => {
                write!(
                    f,
                    "VerbatimString({}:{})",
                    ShowBytes(format),
                    ShowBytes(text)
                )
            }
            Value::Attribute { data, attributes } => f
                .debug_struct("Attribute")
                .field("data", data)
                .field("attributes", attributes)
                .finish(),
            Value::Push(p) => f.debug_tuple("Push").field(p).finish(),
        }
    }
}

/// Bytes shown as an escaped string literal, e.g. `"abc\x00"`.
pub(crate) struct ShowBytes<'a>(pub &'a [u8]);

impl fmt::Display for ShowBytes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                write!(f, "{}", c.escape_debug())?;
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        f.write_str("\"")
    }
}

/// An error reply from the server: its code (the first word, e.g. `WRONGTYPE`, `MOVED`, `NOAUTH`)
/// and the whole message.
#[derive(Clone, PartialEq, Eq)]
pub struct ServerError {
    message: Bytes,
}

impl ServerError {
    /// Wraps the text of an error reply (without the leading `-`).
    pub fn new(message: impl Into<Bytes>) -> ServerError {
        ServerError {
            message: message.into(),
        }
    }

    /// The error code: the first word of the message (`ERR`, `WRONGTYPE`, `MOVED`, ...).
    pub fn code(&self) -> &str {
        let end = self
            .message
            .iter()
            .position(|&b| b == b' ')
            .unwrap_or(self.message.len());
        std::str::from_utf8(&self.message[..end]).unwrap_or("ERR")
    }

    /// The message after the code.
    pub fn detail(&self) -> String {
        let text = String::from_utf8_lossy(&self.message);
        match text.split_once(' ') {
            Some((_, rest)) => rest.to_string(),
            None => String::new(),
        }
    }

    /// The whole message as the server sent it, code included.
    pub fn message(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }

    /// The raw bytes of the message.
    pub fn as_bytes(&self) -> &[u8] {
        &self.message
    }
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", ShowBytes(&self.message))
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.message))
    }
}
