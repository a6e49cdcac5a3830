//! `FrameReader`: a cursor over one complete frame (found by `Decoder::frame_len`). It builds
//! `Value`s whose payloads share the frame's memory, and offers typed primitives (strings,
//! integers, aggregate headers, skipping) so conversions can read replies without a `Value`.

use super::scan::{parse_int_line, plain_bulk, protocol_error, scan_element};
use super::{types, Limits, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::value::{ServerError, Value};
use bytes::Bytes;
use std::ops::Range;

/// Reads a complete, validated frame (from [`Decoder::frame_len`](super::Decoder::frame_len)).
///
/// The reader is a cursor: each `read_*` call consumes one value (or one aggregate header) and
/// moves past it. Typed primitives skip attributes (`|`), which carry no reply data.
///
/// Errors: a typed read of the wrong type returns a conversion error ([`Error::is_conversion`])
/// and an error element a server error ([`Error::server_error`]); in both cases the reader stays
/// before the value, so the caller may try another read. Bytes that are not valid RESP (the
/// frame was not validated) give a protocol error, never a panic; after one, the position is
/// unspecified.
///
/// ```
/// use bytes::BytesMut;
/// use valkey::resp::{Decoder, FrameReader};
///
/// let mut buf = BytesMut::from(&b"*2\r\n$3\r\nfoo\r\n$-1\r\n"[..]);
/// let len = Decoder::default().frame_len(&buf)?.expect("a complete frame");
/// let frame = buf.split_to(len).freeze();
/// let mut reader = FrameReader::new(&frame);
/// assert_eq!(reader.read_aggregate_header()?, (b'*', Some(2)));
/// assert_eq!(reader.read_bulk_slice()?, Some(&b"foo"[..]));
/// assert_eq!(reader.read_bulk_slice()?, None);
/// assert!(reader.is_at_end());
/// # Ok::<(), valkey::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct FrameReader<'a> {
    frame: &'a Bytes,
    pos: usize,
}

/// One value's header, parsed at the reader's position; ranges index the frame.
enum Item {
    Nil,
    SimpleString(Range<usize>),
    Error(Range<usize>),
    Int(i64),
    BulkString(Range<usize>),
    Verbatim {
        format: [u8; 3],
        text: Range<usize>,
    },
    BigNumber(Range<usize>),
    Double(f64),
    Boolean(bool),
    /// `* ~ > % |` with its count of entries (pairs for `%` and `|`); the children follow.
    Aggregate {
        type_byte: u8,
        count: usize,
    },
}

/// No limits: the reader checks structure, not size (the decoder already did).
const UNLIMITED: Limits = Limits {
    max_bulk_len: usize::MAX,
    max_depth: usize::MAX,
    max_elements: usize::MAX,
};

impl<'a> FrameReader<'a> {
    /// A reader over one complete frame.
    pub fn new(frame: &'a Bytes) -> FrameReader<'a> {
        FrameReader { frame, pos: 0 }
    }

    /// The offset of the next unread byte in the frame.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether the whole frame has been read.
    pub fn is_at_end(&self) -> bool {
        self.pos >= self.frame.len()
    }

    /// Reads the next value; bulk payloads are slices of the frame (no copy). Nil forms (`_`,
    /// `$-1`, `*-1`) become `Value::Nil`, error elements `Value::ServerError`, and an attribute
    /// becomes `Value::Attribute` wrapping the value after it.
    pub fn read_value(&mut self) -> Result<Value> {
        self.read_value_at(0)
    }

    /// The type byte of the next value (see [`types`](super::types)), without consuming it.
    /// Skips attributes first. For `$-1` and `*-1` this is `$` and `*`: use
    /// [`FrameReader::read_nil`] to test for nil.
    pub fn peek_type(&mut self) -> Result<u8> {
        self.skip_attributes()?;
        match self.frame.get(self.pos) {
            Some(&type_byte) => Ok(type_byte),
            None => Err(self.truncated()),
        }
    }

    /// Consumes the next value if it is nil (`_`, `$-1` or `*-1`) and returns `true`; otherwise
    /// returns `false` and stays before it. Skips attributes first.
    pub fn read_nil(&mut self) -> Result<bool> {
        self.skip_attributes()?;
        let nil_len = match self.frame.get(self.pos..).unwrap_or_default() {
            [b'_', b'\r', b'\n', ..] => 3,
            [b'$' | b'*', b'-', b'1', b'\r', b'\n', ..] => 5,
            [] => return Err(self.truncated()),
            _ => 0,
        };
        self.pos += nil_len;
        Ok(nil_len > 0)
    }

    /// Reads an aggregate header: the type byte (`*`, `~`, `>` or `%`) and `Some(count)` of
    /// the elements that follow (entries for a map: read `2 * count` values); the caller then
    /// reads the elements. A nil (`_`, `$-1`, `*-1`) is consumed and gives its type byte and
    /// `None`. Skips attributes first. The count is at most a third of the frame's remaining
    /// bytes, so `Vec::with_capacity(count)` is safe.
    pub fn read_aggregate_header(&mut self) -> Result<(u8, Option<usize>)> {
        self.skip_attributes()?;
        let (item, next) = self.item()?;
        let type_byte = self.frame[self.pos]; // item() found it
        let count = match item {
            Item::Aggregate { count, .. } => Some(count),
            Item::Nil => None,
            other => return Err(self.mismatch("an aggregate", other)),
        };
        self.pos = next;
        Ok((type_byte, count))
    }

    /// Reads a string-like value as a slice of the frame: a bulk string, simple string, big
    /// number (its digits) or verbatim string (its text, without the format). Nil gives `None`.
    /// Skips attributes first.
    pub fn read_bulk_slice(&mut self) -> Result<Option<&'a [u8]>> {
        Ok(self
            .read_string_range()?
            .map(|range| &self.frame.as_ref()[range]))
    }

    /// The next value's payload if it is a plain bulk string (`$16\r\n...\r\n`, the common
    /// case), consumed; `None` (nothing consumed) for anything else, which the general reads
    /// handle. The fast path of the string conversions.
    #[inline(always)]
    pub fn try_plain_bulk(&mut self) -> Option<&'a [u8]> {
        let (range, next) = plain_bulk(self.frame, self.pos, usize::MAX)?;
        self.pos = next;
        Some(&self.frame.as_ref()[range])
    }

    /// [`FrameReader::try_plain_bulk`] as `Bytes` sharing the frame's memory (no copy).
    #[inline(always)]
    pub fn try_plain_bulk_bytes(&mut self) -> Option<Bytes> {
        let (range, next) = plain_bulk(self.frame, self.pos, usize::MAX)?;
        self.pos = next;
        Some(self.frame.slice(range))
    }

    /// Like [`FrameReader::read_bulk_slice`], as `Bytes` sharing the frame's memory (no copy).
    pub fn read_bulk_bytes(&mut self) -> Result<Option<Bytes>> {
        Ok(self
            .read_string_range()?
            .map(|range| self.frame.slice(range)))
    }

    /// Reads an integer (`:`). Other types, strings holding digits included, are a mismatch:
    /// parse those with [`parse_i64`](super::parse_i64). Skips attributes first.
    pub fn read_int(&mut self) -> Result<i64> {
        self.skip_attributes()?;
        match self.item()? {
            (Item::Int(value), next) => {
                self.pos = next;
                Ok(value)
            }
            (other, _) => Err(self.mismatch("an integer", other)),
        }
    }

    /// Reads a RESP3 double (`,`), `inf`, `-inf` and `nan` included. Skips attributes first.
    pub fn read_double(&mut self) -> Result<f64> {
        self.skip_attributes()?;
        match self.item()? {
            (Item::Double(value), next) => {
                self.pos = next;
                Ok(value)
            }
            (other, _) => Err(self.mismatch("a double", other)),
        }
    }

    /// Reads a RESP3 boolean (`#t` / `#f`). Skips attributes first.
    pub fn read_bool(&mut self) -> Result<bool> {
        self.skip_attributes()?;
        match self.item()? {
            (Item::Boolean(value), next) => {
                self.pos = next;
                Ok(value)
            }
            (other, _) => Err(self.mismatch("a boolean", other)),
        }
    }

    /// Reads an error element (`-` or `!`) as a [`ServerError`] sharing the frame's memory, e.g.
    /// to keep it as `Value::ServerError`. Skips attributes first.
    pub fn read_error(&mut self) -> Result<ServerError> {
        self.skip_attributes()?;
        match self.item()? {
            (Item::Error(range), next) => {
                self.pos = next;
                Ok(ServerError::new(self.frame.slice(range)))
            }
            (other, _) => Err(self.mismatch("an error", other)),
        }
    }

    /// Skips the next value, whatever it is (aggregates with all their elements, an attribute
    /// with the value it describes), without allocating.
    pub fn skip_value(&mut self) -> Result<()> {
        self.skip_elements(1)
    }

    /// Skips any attributes (`|`) before the next value. The typed primitives do this
    /// themselves; [`FrameReader::read_value`] keeps attributes instead.
    #[inline]
    pub fn skip_attributes(&mut self) -> Result<()> {
        if self.frame.get(self.pos) == Some(&types::ATTRIBUTE) {
            self.skip_attributes_slow()
        } else {
            Ok(())
        }
    }

    #[cold]
    fn skip_attributes_slow(&mut self) -> Result<()> {
        while self.frame.get(self.pos) == Some(&types::ATTRIBUTE) {
            let (Item::Aggregate { count, .. }, next) = self.item()? else {
                debug_assert!(false, "`|` always parses as an aggregate");
                break;
            };
            self.pos = next;
            self.skip_elements(2 * count as u64)?;
        }
        Ok(())
    }

    fn read_value_at(&mut self, depth: usize) -> Result<Value> {
        let start = self.pos;
        let (item, next) = self.item()?;
        self.pos = next;
        let frame = self.frame;
        Ok(match item {
            Item::Nil => Value::Nil,
            Item::SimpleString(range) => Value::SimpleString(frame.slice(range)),
            Item::Error(range) => Value::ServerError(ServerError::new(frame.slice(range))),
            Item::Int(value) => Value::Int(value),
            Item::BulkString(range) => Value::BulkString(frame.slice(range)),
            Item::Verbatim { format, text } => Value::VerbatimString {
                format,
                text: frame.slice(text),
            },
            Item::BigNumber(range) => Value::BigNumber(frame.slice(range)),
            Item::Double(value) => Value::Double(value),
            Item::Boolean(value) => Value::Boolean(value),
            Item::Aggregate { type_byte, count } => {
                if count == 0 && type_byte != types::ATTRIBUTE {
                    return Ok(empty_aggregate(type_byte));
                }
                let depth = depth + 1;
                if depth > MAX_DEPTH {
                    return Err(protocol_error(
                        frame,
                        start,
                        format_args!("aggregates nested deeper than {MAX_DEPTH}"),
                    ));
                }
                match type_byte {
                    types::MAP => Value::Map(self.read_pairs(count, depth)?),
                    types::ATTRIBUTE => {
                        let attributes = self.read_pairs(count, depth)?;
                        let data = Box::new(self.read_value_at(depth)?);
                        Value::Attribute { data, attributes }
                    }
                    _ => {
                        let mut values = Vec::with_capacity(count);
                        for _ in 0..count {
                            values.push(self.read_value_at(depth)?);
                        }
                        match type_byte {
                            types::SET => Value::Set(values),
                            types::PUSH => Value::Push(values),
                            _ => Value::Array(values),
                        }
                    }
                }
            }
        })
    }

    fn read_pairs(&mut self, count: usize, depth: usize) -> Result<Vec<(Value, Value)>> {
        let mut pairs = Vec::with_capacity(count);
        for _ in 0..count {
            let key = self.read_value_at(depth)?;
            let value = self.read_value_at(depth)?;
            pairs.push((key, value));
        }
        Ok(pairs)
    }

    /// The payload range of a string-like value (consumed), or `None` for nil (consumed).
    #[inline]
    fn read_string_range(&mut self) -> Result<Option<Range<usize>>> {
        // The frame is complete and checked: the common bulk string needs no general parse.
        if let Some((range, next)) = plain_bulk(self.frame, self.pos, usize::MAX) {
            self.pos = next;
            return Ok(Some(range));
        }
        self.skip_attributes()?;
        let (item, next) = self.item()?;
        let range = match item {
            Item::BulkString(range) | Item::SimpleString(range) | Item::BigNumber(range) => {
                Some(range)
            }
            Item::Verbatim { text, .. } => Some(text),
            Item::Nil => None,
            other => return Err(self.mismatch("a string", other)),
        };
        self.pos = next;
        Ok(range)
    }

    /// Skips `pending` values, iteratively (no recursion, whatever the nesting).
    fn skip_elements(&mut self, mut pending: u64) -> Result<()> {
        let buf: &[u8] = self.frame;
        let mut pos = self.pos;
        while pending > 0 {
            if pos >= buf.len() {
                return Err(self.truncated());
            }
            let mut line_from = 0;
            let Some(extent) = scan_element(buf, pos, &UNLIMITED, &mut line_from)? else {
                return Err(self.truncated());
            };
            pending = (pending - 1).saturating_add(extent.children);
            pos = extent.next;
            // Every element takes at least 3 bytes: fail now rather than after a long loop.
            if pending > ((buf.len() - pos) / 3) as u64 {
                return Err(self.truncated());
            }
        }
        self.pos = pos;
        Ok(())
    }

    /// Parses the header (and, for strings and scalars, the payload) of the value at the
    /// position, without moving; returns it and the position after it (after the header, for
    /// aggregates).
    #[inline(always)]
    fn item(&self) -> Result<(Item, usize)> {
        let buf: &'a [u8] = self.frame.as_ref();
        let start = self.pos;
        let Some(&type_byte) = buf.get(start) else {
            return Err(self.truncated());
        };
        match type_byte {
            b'$' | b'!' | b'=' => {
                let (len, body) = self.int_line(start + 1, "a length")?;
                if len == -1 && type_byte == b'$' {
                    return Ok((Item::Nil, body));
                }
                let end = usize::try_from(len)
                    .ok()
                    .and_then(|len| body.checked_add(len))
                    .filter(|&end| end.checked_add(2).is_some_and(|e| e <= buf.len()))
                    .ok_or_else(|| {
                        protocol_error(
                            buf,
                            start,
                            format_args!("invalid length {len} for the rest of the frame"),
                        )
                    })?;
                if &buf[end..end + 2] != b"\r\n" {
                    return Err(protocol_error(buf, end, format_args!("expected CRLF")));
                }
                let item = match type_byte {
                    b'$' => Item::BulkString(body..end),
                    b'!' => Item::Error(body..end),
                    _ => match buf.get(body..body + 4) {
                        Some(&[a, b, c, b':']) if end >= body + 4 => Item::Verbatim {
                            format: [a, b, c],
                            text: body + 4..end,
                        },
                        _ => {
                            return Err(protocol_error(
                                buf,
                                body,
                                format_args!("expected a format like `txt:`"),
                            ))
                        }
                    },
                };
                Ok((item, end + 2))
            }
            b'*' | b'~' | b'>' | b'%' | b'|' => {
                let (count, next) = self.int_line(start + 1, "an element count")?;
                if count == -1 && type_byte == b'*' {
                    return Ok((Item::Nil, next));
                }
                let children = match (u64::try_from(count), type_byte) {
                    (Ok(count), b'%' | b'|') => count.checked_mul(2),
                    (Ok(count), _) => Some(count),
                    (Err(_), _) => None,
                };
                // Each child takes at least 3 bytes; this bounds allocations by the frame size.
                let fits = children.is_some_and(|c| c <= ((buf.len() - next) / 3) as u64);
                if !fits {
                    return Err(protocol_error(
                        buf,
                        start,
                        format_args!("element count {count} does not fit in the rest of the frame"),
                    ));
                }
                let count = count as usize; // fits: bounded by the frame's length
                Ok((Item::Aggregate { type_byte, count }, next))
            }
            b':' => {
                let (value, next) = self.int_line(start + 1, "an integer")?;
                Ok((Item::Int(value), next))
            }
            b'+' | b'-' | b',' | b'(' | b'#' | b'_' => {
                let content = start + 1;
                let Some(cr) = buf[content..].iter().position(|&b| b == b'\r') else {
                    return Err(self.truncated());
                };
                let cr = content + cr;
                if buf.get(cr + 1) != Some(&b'\n') {
                    return Err(protocol_error(buf, cr + 1, format_args!("expected LF")));
                }
                let line = &buf[content..cr];
                let item = match type_byte {
                    b'+' => Item::SimpleString(content..cr),
                    b'-' => Item::Error(content..cr),
                    b'(' => Item::BigNumber(content..cr),
                    b',' => Item::Double(parse_double(line).ok_or_else(|| {
                        protocol_error(buf, content, format_args!("expected a double"))
                    })?),
                    b'#' => match line {
                        b"t" => Item::Boolean(true),
                        b"f" => Item::Boolean(false),
                        _ => {
                            return Err(protocol_error(
                                buf,
                                content,
                                format_args!("expected `t` or `f`"),
                            ))
                        }
                    },
                    _ if line.is_empty() => Item::Nil,
                    _ => return Err(protocol_error(buf, content, format_args!("expected CRLF"))),
                };
                Ok((item, cr + 2))
            }
            _ => Err(protocol_error(
                buf,
                start,
                format_args!("unknown type byte"),
            )),
        }
    }

    #[inline]
    fn int_line(&self, at: usize, what: &str) -> Result<(i64, usize)> {
        parse_int_line(self.frame, at, what)?.ok_or_else(|| self.truncated())
    }

    #[cold]
    fn truncated(&self) -> Error {
        protocol_error(
            self.frame,
            self.pos,
            format_args!("the frame ends before the value is complete"),
        )
    }

    /// The error for a typed read that found `found`: the server's error for an error element,
    /// a conversion error otherwise.
    #[cold]
    fn mismatch(&self, expected: &str, found: Item) -> Error {
        if let Item::Error(range) = found {
            return Error::from_server(ServerError::new(self.frame.slice(range)));
        }
        let type_byte = self.frame.get(self.pos).copied().unwrap_or(0);
        let found = match (found, type_byte) {
            (Item::Nil, _) => "nil",
            (_, type_byte) => types::name(type_byte),
        };
        Error::conversion(format!(
            "expected {expected}, got {found} (at byte {} of the reply)",
            self.pos
        ))
    }
}

fn empty_aggregate(type_byte: u8) -> Value {
    match type_byte {
        types::MAP => Value::Map(Vec::new()),
        types::SET => Value::Set(Vec::new()),
        types::PUSH => Value::Push(Vec::new()),
        _ => Value::Array(Vec::new()),
    }
}

/// Parses a RESP3 double's text (`1.5`, `-2e10`, `inf`, `-inf`, `nan`).
fn parse_double(line: &[u8]) -> Option<f64> {
    std::str::from_utf8(line).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::Decoder;

    fn frame(bytes: &'static [u8]) -> Bytes {
        let frame = Bytes::from_static(bytes);
        assert_eq!(
            Decoder::default().frame_len(&frame).unwrap(),
            Some(frame.len()),
            "test frames are complete and valid"
        );
        frame
    }

    fn value_of(bytes: &'static [u8]) -> Value {
        let frame = frame(bytes);
        let mut reader = FrameReader::new(&frame);
        let value = reader.read_value().unwrap();
        assert!(reader.is_at_end());
        value
    }

    fn bulk(s: &'static str) -> Value {
        Value::BulkString(Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn reads_every_type() {
        assert_eq!(value_of(b"$-1\r\n"), Value::Nil);
        assert_eq!(value_of(b"*-1\r\n"), Value::Nil);
        assert_eq!(value_of(b"_\r\n"), Value::Nil);
        assert_eq!(value_of(b"$0\r\n\r\n"), bulk(""));
        assert_eq!(value_of(b"$4\r\na\r\nb\r\n"), bulk("a\r\nb"));
        assert_eq!(
            value_of(b"+OK\r\n"),
            Value::SimpleString(Bytes::from_static(b"OK"))
        );
        assert_eq!(
            value_of(b"-WRONGTYPE no\r\n"),
            Value::ServerError(ServerError::new("WRONGTYPE no"))
        );
        assert_eq!(
            value_of(b"!5\r\nERR\r\n\r\n"),
            Value::ServerError(ServerError::new("ERR\r\n"))
        );
        assert_eq!(value_of(b":-42\r\n"), Value::Int(-42));
        assert_eq!(value_of(b",-1.5e3\r\n"), Value::Double(-1500.0));
        assert_eq!(value_of(b",inf\r\n"), Value::Double(f64::INFINITY));
        assert!(matches!(value_of(b",nan\r\n"), Value::Double(d) if d.is_nan()));
        assert_eq!(value_of(b"#t\r\n"), Value::Boolean(true));
        assert_eq!(
            value_of(b"(123\r\n"),
            Value::BigNumber(Bytes::from_static(b"123"))
        );
        assert_eq!(
            value_of(b"=7\r\nmkd:# a\r\n"),
            Value::VerbatimString {
                format: *b"mkd",
                text: Bytes::from_static(b"# a")
            }
        );
        assert_eq!(
            value_of(b"*3\r\n:1\r\n*0\r\n$-1\r\n"),
            Value::Array(vec![Value::Int(1), Value::Array(vec![]), Value::Nil])
        );
        assert_eq!(
            value_of(b"%1\r\n+k\r\n~1\r\n:1\r\n"),
            Value::Map(vec![(
                Value::SimpleString(Bytes::from_static(b"k")),
                Value::Set(vec![Value::Int(1)])
            )])
        );
        assert_eq!(value_of(b"%0\r\n"), Value::Map(vec![]));
        assert_eq!(
            value_of(b">2\r\n+a\r\n:1\r\n"),
            Value::Push(vec![
                Value::SimpleString(Bytes::from_static(b"a")),
                Value::Int(1)
            ])
        );
        assert_eq!(
            value_of(b"*2\r\n|1\r\n+ttl\r\n:5\r\n$1\r\nv\r\n:2\r\n"),
            Value::Array(vec![
                Value::Attribute {
                    data: Box::new(bulk("v")),
                    attributes: vec![(
                        Value::SimpleString(Bytes::from_static(b"ttl")),
                        Value::Int(5)
                    )],
                },
                Value::Int(2)
            ])
        );
        assert_eq!(
            value_of(b"|0\r\n:1\r\n"),
            Value::Attribute {
                data: Box::new(Value::Int(1)),
                attributes: vec![]
            }
        );
    }

    #[test]
    fn bulk_payloads_share_the_frame() {
        let frame = frame(b"*2\r\n$3\r\nfoo\r\n+bar\r\n");
        let base = frame.as_ptr() as usize;
        let Value::Array(values) = FrameReader::new(&frame).read_value().unwrap() else {
            panic!("expected an array");
        };
        assert_eq!(values[0].as_bytes().unwrap().as_ptr() as usize, base + 8);
        assert_eq!(values[1].as_bytes().unwrap().as_ptr() as usize, base + 14);
        let mut reader = FrameReader::new(&frame);
        reader.read_aggregate_header().unwrap();
        let bytes = reader.read_bulk_bytes().unwrap().unwrap();
        assert_eq!(bytes.as_ptr() as usize, base + 8);
    }

    #[test]
    fn typed_primitives() {
        let frame = frame(
            b"*9\r\n$3\r\nfoo\r\n+OK\r\n=8\r\ntxt:text\r\n(99\r\n$-1\r\n:7\r\n,2.5\r\n#f\r\n-ERR e\r\n",
        );
        let mut r = FrameReader::new(&frame);
        assert_eq!(r.peek_type().unwrap(), b'*');
        assert_eq!(r.read_aggregate_header().unwrap(), (b'*', Some(9)));
        assert_eq!(r.peek_type().unwrap(), b'$');
        assert_eq!(r.read_bulk_slice().unwrap(), Some(&b"foo"[..]));
        assert_eq!(r.read_bulk_slice().unwrap(), Some(&b"OK"[..]));
        assert_eq!(r.read_bulk_slice().unwrap(), Some(&b"text"[..]));
        assert_eq!(r.read_bulk_bytes().unwrap().as_deref(), Some(&b"99"[..]));
        assert!(r.read_nil().unwrap());
        assert!(!r.read_nil().unwrap());
        assert_eq!(r.read_int().unwrap(), 7);
        assert_eq!(r.read_double().unwrap(), 2.5);
        assert!(!r.read_bool().unwrap());
        assert_eq!(r.peek_type().unwrap(), b'-');
        assert_eq!(r.read_error().unwrap().code(), "ERR");
        assert!(r.is_at_end());
        assert!(r.peek_type().unwrap_err().is_protocol());
    }

    #[test]
    fn nil_forms_as_aggregate_headers_and_strings() {
        for bytes in [&b"*-1\r\n"[..], b"$-1\r\n", b"_\r\n"] {
            let frame = Bytes::from_static(bytes);
            let mut r = FrameReader::new(&frame);
            assert_eq!(r.read_aggregate_header().unwrap(), (bytes[0], None));
            assert!(r.is_at_end());
            let mut r = FrameReader::new(&frame);
            assert_eq!(r.read_bulk_slice().unwrap(), None);
            assert!(r.is_at_end());
        }
    }

    #[test]
    fn a_type_mismatch_leaves_the_reader_in_place() {
        let frame = frame(b"*2\r\n:5\r\n-WRONGTYPE bad\r\n");
        let mut r = FrameReader::new(&frame);
        let err = r.read_bulk_slice().unwrap_err();
        assert!(err.is_conversion(), "{err}");
        assert!(
            err.to_string().contains("expected a string, got array"),
            "{err}"
        );
        assert_eq!(r.position(), 0);
        r.read_aggregate_header().unwrap();
        assert!(r.read_bulk_bytes().unwrap_err().is_conversion());
        assert!(r.read_aggregate_header().unwrap_err().is_conversion());
        assert!(r.read_error().unwrap_err().is_conversion());
        assert_eq!(r.read_int().unwrap(), 5);
        // An error element gives the server's error, still unconsumed.
        let err = r.read_int().unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
        let err = r.read_bulk_slice().unwrap_err();
        assert_eq!(err.code(), Some("WRONGTYPE"));
        assert_eq!(
            r.read_value().unwrap(),
            Value::ServerError(ServerError::new("WRONGTYPE bad"))
        );
    }

    #[test]
    fn typed_reads_skip_attributes() {
        let frame =
            frame(b"|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*1\r\n|0\r\n:3\r\n");
        let mut r = FrameReader::new(&frame);
        assert_eq!(r.peek_type().unwrap(), b'*');
        assert_eq!(r.read_aggregate_header().unwrap(), (b'*', Some(1)));
        assert_eq!(r.read_int().unwrap(), 3);
        assert!(r.is_at_end());
    }

    #[test]
    fn skip_value_skips_whole_values() {
        let frame = Bytes::from_static(
            b"*3\r\n%1\r\n*1\r\n:1\r\n$2\r\nab\r\n|1\r\n+a\r\n+b\r\n~0\r\n_\r\n+after\r\n",
        );
        let mut r = FrameReader::new(&frame);
        r.skip_value().unwrap();
        assert_eq!(r.read_bulk_slice().unwrap(), Some(&b"after"[..]));
        assert!(r.is_at_end());
    }

    #[test]
    fn invalid_frames_are_errors_not_panics() {
        let cases: &[&[u8]] = &[
            b"",
            b"$5\r\nab\r\n",
            b"$2\r\nabcd",
            b"*99999999999\r\n",
            b"*2\r\n:1\r\n",
            b"%9223372036854775807\r\n",
            b"=2\r\nab\r\n",
            b",x\r\n",
            b"#x\r\n",
            b"_x\r\n",
            b"+abc",
            b"+abc\rx",
            b"?",
            b"$-5\r\n",
        ];
        for bytes in cases {
            let frame = Bytes::from_static(bytes);
            assert!(FrameReader::new(&frame)
                .read_value()
                .unwrap_err()
                .is_protocol());
            assert!(FrameReader::new(&frame).skip_value().is_err());
            let mut r = FrameReader::new(&frame);
            assert!(r.read_aggregate_header().is_err() || r.read_value().is_err());
        }
        // Nesting beyond MAX_DEPTH is refused instead of exhausting the stack.
        let mut deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        deep.extend_from_slice(b":1\r\n");
        let deep = Bytes::from(deep);
        let err = FrameReader::new(&deep).read_value().unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
        FrameReader::new(&deep).skip_value().unwrap();
    }
}
