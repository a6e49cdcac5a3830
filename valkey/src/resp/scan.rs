//! Frame scanning: `Decoder::frame_len` finds where the first complete frame in a buffer ends,
//! validating it and enforcing `Limits` on headers before any payload is waited for. The scan is
//! resumable (position + a stack of remaining element counts), so a frame arriving in many reads
//! costs linear time in total. The line and integer parsers here are shared with `FrameReader`.

use super::{FrameReader, Limits, MAX_DEPTH};
use crate::error::{Error, Result};
use crate::value::{ShowBytes, Value};
use bytes::BytesMut;
use std::fmt;
use std::ops::Range;

/// Incremental frame decoder: finds complete frames in a growing buffer without copying them.
///
/// Use [`Decoder::frame_len`] on the connection's read buffer after every read; when it returns
/// `Some(n)`, split the first `n` bytes off and read them with a [`FrameReader`] (or call
/// [`Decoder::decode`], which does both and builds a [`Value`]).
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    limits: Limits,
    /// Start of the first element of the frame in progress not yet scanned to its end.
    pos: usize,
    /// Where the search for the CR ending the line-typed element at `pos` resumes. A value left
    /// over from an earlier element is always before `pos`, and then means "from the start".
    line_from: usize,
    /// Child elements still expected by each open aggregate, innermost last.
    open: Vec<u64>,
}

impl Decoder {
    /// A decoder enforcing `limits`.
    pub fn new(limits: Limits) -> Decoder {
        Decoder {
            limits,
            ..Decoder::default()
        }
    }

    /// The limits this decoder enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Forgets a partly scanned frame, so that the next call to [`Decoder::frame_len`] starts
    /// a new frame at the start of its buffer. Needed only when the caller throws away buffered
    /// bytes that `frame_len` has seen without returning a frame (e.g. on reconnect).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.line_from = 0;
        self.open.clear();
    }

    /// Whether `buf` starts with a complete frame: `Ok(Some(len))` when the first `len` bytes are
    /// one valid frame, `Ok(None)` when more bytes are needed, `Err` (protocol) when malformed or
    /// over a limit.
    ///
    /// Resumable: after `Ok(None)`, call again with the same buffer, grown; the scan continues
    /// where it stopped. After `Ok(Some(len))` or `Err`, the decoder starts over: the next call
    /// expects a new frame at `buf[0]` (the caller removes the `len` bytes first). An attribute
    /// (`|`) and the value it describes form one frame.
    pub fn frame_len(&mut self, buf: &[u8]) -> Result<Option<usize>> {
        if self.pos > buf.len() {
            // The caller dropped bytes we had scanned; the old state means nothing now.
            self.reset();
        }
        let result = self.scan(buf);
        if !matches!(result, Ok(None)) {
            self.reset();
        }
        result
    }

    /// Splits one complete frame off the front of `buf` and decodes it into a `Value`.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Value>> {
        match self.frame_len(buf)? {
            None => Ok(None),
            Some(n) => {
                let frame = buf.split_to(n).freeze();
                let mut reader = FrameReader::new(&frame);
                let value = reader.read_value()?;
                debug_assert!(reader.is_at_end(), "frame_len and FrameReader disagree");
                Ok(Some(value))
            }
        }
    }

    fn scan(&mut self, buf: &[u8]) -> Result<Option<usize>> {
        let max_depth = self.limits.max_depth.min(MAX_DEPTH);
        loop {
            let start = self.pos;
            if start >= buf.len() {
                return Ok(None);
            }
            let Some(extent) = scan_element(buf, start, &self.limits, &mut self.line_from)? else {
                return Ok(None);
            };
            self.pos = extent.next;
            if extent.children > 0 {
                if self.open.len() >= max_depth {
                    return Err(protocol_error(
                        buf,
                        start,
                        format_args!("aggregates nested deeper than the limit of {max_depth}"),
                    ));
                }
                self.open.push(extent.children);
                continue;
            }
            // An element is complete: count it off its parent, closing every aggregate it completes.
            loop {
                let Some(remaining) = self.open.last_mut() else {
                    return Ok(Some(self.pos));
                };
                debug_assert!(*remaining > 0);
                *remaining -= 1;
                if *remaining > 0 {
                    break;
                }
                self.open.pop();
            }
        }
    }
}

/// Where one element ends: after its header for aggregates (whose `children` follow), after all
/// of it for everything else (`children == 0`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Extent {
    pub(crate) next: usize,
    pub(crate) children: u64,
}

/// Scans the element starting at `buf[start]` (which must exist): `Ok(None)` when incomplete.
/// `line_from` remembers how far the search for a line's CR got, so that a long simple string
/// arriving slowly is searched once.
#[inline]
pub(crate) fn scan_element(
    buf: &[u8],
    start: usize,
    limits: &Limits,
    line_from: &mut usize,
) -> Result<Option<Extent>> {
    let type_byte = buf[start];
    let leaf = |next| Ok(Some(Extent { next, children: 0 }));
    if let Some((_, next)) = plain_bulk(buf, start, limits.max_bulk_len) {
        return leaf(next);
    }
    match type_byte {
        b'$' | b'!' | b'=' => {
            let Some((len, body)) = parse_int_line(buf, start + 1, "a length")? else {
                return Ok(None);
            };
            if len < 0 {
                return if len == -1 && type_byte == b'$' {
                    leaf(body)
                } else {
                    Err(bad_length(buf, start, type_byte, len))
                };
            }
            let len = len as u64;
            if len > limits.max_bulk_len as u64 {
                return Err(protocol_error(
                    buf,
                    start,
                    format_args!(
                        "{} of {len} bytes is over the limit of {} bytes",
                        super::types::name(type_byte),
                        limits.max_bulk_len
                    ),
                ));
            }
            let end = usize::try_from(len)
                .ok()
                .and_then(|len| body.checked_add(len)?.checked_add(2))
                .ok_or_else(|| bad_length(buf, start, type_byte, len as i64))?;
            if buf.len() < end {
                return Ok(None);
            }
            if &buf[end - 2..end] != b"\r\n" {
                return Err(protocol_error(
                    buf,
                    end - 2,
                    format_args!(
                        "expected CRLF after the {len}-byte payload of a {}",
                        super::types::name(type_byte)
                    ),
                ));
            }
            if type_byte == b'=' && (len < 4 || buf[body + 3] != b':') {
                return Err(protocol_error(
                    buf,
                    body,
                    format_args!("expected a verbatim string to start with a format like `txt:`"),
                ));
            }
            leaf(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let Some((count, next)) = parse_int_line(buf, start + 1, "an element count")? else {
                return Ok(None);
            };
            if count < 0 {
                return if count == -1 && type_byte == b'*' {
                    leaf(next)
                } else {
                    Err(bad_length(buf, start, type_byte, count))
                };
            }
            let count = count as u64;
            if count > limits.max_elements as u64 {
                return Err(protocol_error(
                    buf,
                    start,
                    format_args!(
                        "{} of {count} elements is over the limit of {}",
                        super::types::name(type_byte),
                        limits.max_elements
                    ),
                ));
            }
            // count <= i64::MAX, so these cannot overflow.
            let children = match type_byte {
                b'%' => 2 * count,
                b'|' => 2 * count + 1, // the entries, then the value they describe
                _ => count,
            };
            Ok(Some(Extent { next, children }))
        }
        b':' => match parse_int_line(buf, start + 1, "an integer")? {
            Some((_, next)) => leaf(next),
            None => Ok(None),
        },
        b'+' | b'-' | b',' | b'(' | b'#' | b'_' => {
            let Some(cr) = find_line_end(buf, start, line_from, limits.max_bulk_len)? else {
                return Ok(None);
            };
            let line = &buf[start + 1..cr];
            let valid = match type_byte {
                b',' => is_valid_double(line),
                b'(' => is_valid_big_number(line),
                b'#' => line == b"t" || line == b"f",
                b'_' => line.is_empty(),
                _ => true,
            };
            if !valid {
                let expected = match type_byte {
                    b',' => "a double (digits with optional sign, fraction and exponent; inf, -inf or nan)",
                    b'(' => "a big number (digits with an optional sign)",
                    b'#' => "`t` or `f` in a boolean",
                    _ => "nothing between `_` and CRLF in a null",
                };
                return Err(protocol_error(
                    buf,
                    start + 1,
                    format_args!("expected {expected}"),
                ));
            }
            leaf(cr + 2)
        }
        _ => Err(protocol_error(
            buf,
            start,
            format_args!(
                "unknown type byte {}, expected one of + - : $ * _ , # ! = ( % ~ > |",
                ShowBytes(&[type_byte])
            ),
        )),
    }
}

/// Finds the CR ending the line-typed element at `start` and checks the LF after it.
/// `Ok(None)` when incomplete, having recorded in `line_from` where to resume.
#[inline]
fn find_line_end(
    buf: &[u8],
    start: usize,
    line_from: &mut usize,
    max_len: usize,
) -> Result<Option<usize>> {
    let content = start + 1;
    let from = (*line_from).clamp(content, buf.len());
    match buf[from..].iter().position(|&b| b == b'\r') {
        Some(offset) => {
            let cr = from + offset;
            if cr - content > max_len {
                return Err(line_too_long(buf, start, max_len));
            }
            match buf.get(cr + 1) {
                None => {
                    *line_from = cr;
                    Ok(None)
                }
                Some(b'\n') => Ok(Some(cr)),
                Some(_) => Err(protocol_error(
                    buf,
                    cr + 1,
                    format_args!("expected LF after CR"),
                )),
            }
        }
        None => {
            if buf.len() - content > max_len {
                return Err(line_too_long(buf, start, max_len));
            }
            *line_from = buf.len();
            Ok(None)
        }
    }
}

/// The common case of a bulk string's header and payload: `$<digits>\r\n<payload>\r\n` at
/// `start`, complete, no sign, at most 18 digits, within `max_len`: the payload's range and the
/// position after it. `None` for anything else (nil, incomplete, malformed, over the limit):
/// the caller then takes the general path, which says which.
#[inline(always)]
pub(crate) fn plain_bulk(
    buf: &[u8],
    start: usize,
    max_len: usize,
) -> Option<(Range<usize>, usize)> {
    if buf.get(start) != Some(&b'$') {
        return None;
    }
    let digits = start + 1;
    let mut i = digits;
    let mut len: usize = 0;
    while let Some(&b) = buf.get(i) {
        let d = b.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        len = len * 10 + usize::from(d);
        i += 1;
        if i - digits > 18 {
            return None;
        }
    }
    if i == digits || len > max_len || buf.get(i..i + 2) != Some(b"\r\n") {
        return None;
    }
    let body = i + 2;
    let end = body.checked_add(len)?;
    if buf.get(end..end.checked_add(2)?) != Some(b"\r\n") {
        return None;
    }
    Some((body..end, end + 2))
}

/// Parses a decimal integer (optional sign, at least one digit) ending with CRLF, starting at
/// `at`. Returns the value and the position after the CRLF, or `Ok(None)` when incomplete.
/// `what` names the number in error messages ("a length").
#[inline(always)]
pub(crate) fn parse_int_line(buf: &[u8], at: usize, what: &str) -> Result<Option<(i64, usize)>> {
    let mut i = at;
    let negative = match buf.get(i) {
        None => return Ok(None),
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        Some(_) => false,
    };
    let digits = i;
    let mut magnitude: u64 = 0;
    loop {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        let digit = b.wrapping_sub(b'0');
        if digit < 10 {
            magnitude = match magnitude
                .checked_mul(10)
                .and_then(|m| m.checked_add(u64::from(digit)))
            {
                Some(m) => m,
                None => return Err(int_overflow(buf, at, what)),
            };
            i += 1;
        } else if b == b'\r' && i > digits {
            break;
        } else {
            return Err(bad_digit(buf, at, i, what));
        }
    }
    match buf.get(i + 1) {
        None => return Ok(None),
        Some(b'\n') => {}
        Some(_) => {
            return Err(protocol_error(
                buf,
                i + 1,
                format_args!("expected LF after CR"),
            ))
        }
    }
    let value = if negative {
        if magnitude > 1 << 63 {
            return Err(int_overflow(buf, at, what));
        }
        (magnitude as i64).wrapping_neg()
    } else {
        i64::try_from(magnitude).map_err(|_| int_overflow(buf, at, what))?
    };
    Ok(Some((value, i + 2)))
}

/// Parses a whole byte string as an `i64`, accepting exactly what `str::parse::<i64>` accepts
/// (optional `+`/`-`, ASCII digits, no spaces), without UTF-8 checks. For conversions of RESP2
/// numbers sent as bulk strings.
#[inline]
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first()? {
        (b'-', rest) => (true, rest),
        (b'+', rest) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit >= 10 {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    if negative {
        if magnitude > 1 << 63 {
            return None;
        }
        Some((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// RESP3 double grammar: `[+|-]digits[.digits][(e|E)[+|-]digits]` (a side of the point may be
/// empty, not both), or `inf`/`infinity`/`nan` with an optional sign, any case. Everything it
/// accepts, `str::parse::<f64>` parses.
pub(crate) fn is_valid_double(s: &[u8]) -> bool {
    let s = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    if s.eq_ignore_ascii_case(b"inf")
        || s.eq_ignore_ascii_case(b"infinity")
        || s.eq_ignore_ascii_case(b"nan")
    {
        return true;
    }
    let count_digits = |from: usize| s[from..].iter().take_while(|b| b.is_ascii_digit()).count();
    let mut i = count_digits(0);
    let mut digits = i;
    if s.get(i) == Some(&b'.') {
        let fraction = count_digits(i + 1);
        digits += fraction;
        i += 1 + fraction;
    }
    if digits == 0 {
        return false;
    }
    if let Some(b'e' | b'E') = s.get(i) {
        i += 1;
        if let Some(b'+' | b'-') = s.get(i) {
            i += 1;
        }
        let exponent = count_digits(i);
        if exponent == 0 {
            return false;
        }
        i += exponent;
    }
    i == s.len()
}

/// RESP3 big number grammar: an optional sign and at least one digit.
fn is_valid_big_number(s: &[u8]) -> bool {
    let digits = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

/// A protocol error at byte `at` of the frame, with a short escaped excerpt of the bytes there.
#[cold]
#[inline(never)]
pub(crate) fn protocol_error(buf: &[u8], at: usize, what: fmt::Arguments<'_>) -> Error {
    const BEFORE: usize = 8;
    const AFTER: usize = 16;
    let at_clamped = at.min(buf.len());
    let from = at_clamped.saturating_sub(BEFORE);
    let to = at_clamped.saturating_add(AFTER).min(buf.len());
    Error::protocol(format!(
        "invalid RESP at byte {at}: {what} (bytes {from}..{to}: {})",
        ShowBytes(&buf[from..to])
    ))
}

#[cold]
fn bad_length(buf: &[u8], start: usize, type_byte: u8, len: i64) -> Error {
    protocol_error(
        buf,
        start + 1,
        format_args!(
            "invalid length {len} for a {}",
            super::types::name(type_byte)
        ),
    )
}

#[cold]
fn int_overflow(buf: &[u8], at: usize, what: &str) -> Error {
    protocol_error(buf, at, format_args!("{what} out of the range of i64"))
}

#[cold]
fn bad_digit(buf: &[u8], at: usize, i: usize, what: &str) -> Error {
    if i == at && buf.get(i) == Some(&b'?') {
        return protocol_error(
            buf,
            i,
            format_args!("streamed RESP3 values (`$?`, `*?`, ...) are not supported; servers do not send them"),
        );
    }
    protocol_error(
        buf,
        i,
        format_args!(
            "expected a digit or CRLF in {what}, found {}",
            ShowBytes(&buf[i..=i])
        ),
    )
}

#[cold]
fn line_too_long(buf: &[u8], start: usize, max_len: usize) -> Error {
    protocol_error(
        buf,
        start,
        format_args!(
            "{} line longer than the limit of {max_len} bytes",
            super::types::name(buf[start])
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_len(bytes: &[u8]) -> Result<Option<usize>> {
        Decoder::default().frame_len(bytes)
    }

    fn assert_protocol_error(bytes: &[u8], needle: &str) {
        let err = frame_len(bytes).expect_err("should be rejected");
        assert!(err.is_protocol(), "{err}");
        assert!(
            err.to_string().contains(needle),
            "error for {} should mention {needle:?}: {err}",
            ShowBytes(bytes)
        );
    }

    #[test]
    fn complete_frames_of_every_type() {
        let frames: &[&[u8]] = &[
            b"+OK\r\n",
            b"+\r\n",
            b"-ERR bad\r\n",
            b":0\r\n",
            b":-9223372036854775808\r\n",
            b":+12\r\n",
            b"$0\r\n\r\n",
            b"$5\r\na\r\nbc\r\n",
            b"$-1\r\n",
            b"*-1\r\n",
            b"*0\r\n",
            b"*2\r\n:1\r\n$1\r\nx\r\n",
            b"_\r\n",
            b",1.5\r\n",
            b",-inf\r\n",
            b",nan\r\n",
            b",1e-7\r\n",
            b"#t\r\n",
            b"!3\r\nERR\r\n",
            b"=8\r\ntxt:abcd\r\n",
            b"(-12345678901234567890123\r\n",
            b"%1\r\n+k\r\n:1\r\n",
            b"~2\r\n:1\r\n:2\r\n",
            b">2\r\n+message\r\n+hi\r\n",
            b"|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n",
            b"|0\r\n:1\r\n",
            b"*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n",
            b"*1\r\n*1\r\n*0\r\n",
        ];
        for frame in frames {
            assert_eq!(
                frame_len(frame).unwrap(),
                Some(frame.len()),
                "{}",
                ShowBytes(frame)
            );
            let mut trailing = frame.to_vec();
            trailing.extend_from_slice(b"+next\r\n");
            assert_eq!(frame_len(&trailing).unwrap(), Some(frame.len()));
            for cut in 0..frame.len() {
                assert_eq!(
                    frame_len(&frame[..cut]).unwrap(),
                    None,
                    "prefix {} of {}",
                    cut,
                    ShowBytes(frame)
                );
            }
        }
    }

    #[test]
    fn malformed_frames_say_what_is_wrong() {
        assert_protocol_error(b"?\r\n", "unknown type byte");
        assert_protocol_error(b"$x\r\n", "expected a digit");
        assert_protocol_error(b"$\r\n", "expected a digit");
        assert_protocol_error(b"$3\r\nabcd\r\n", "expected CRLF after the 3-byte payload");
        assert_protocol_error(b"$-2\r\n", "invalid length -2");
        assert_protocol_error(b"!-1\r\n", "invalid length -1");
        assert_protocol_error(b"%-1\r\n", "invalid length -1");
        assert_protocol_error(b"$3\rxabc\r\n", "expected LF after CR");
        assert_protocol_error(b"+OK\rx", "expected LF after CR");
        assert_protocol_error(b":12a\r\n", "expected a digit or CRLF in an integer");
        assert_protocol_error(b":-\r\n", "expected a digit");
        assert_protocol_error(b":9223372036854775808\r\n", "out of the range of i64");
        assert_protocol_error(b":-9223372036854775809\r\n", "out of the range of i64");
        assert_protocol_error(b":99999999999999999999999\r\n", "out of the range of i64");
        assert_protocol_error(b",1.5x\r\n", "expected a double");
        assert_protocol_error(b",\r\n", "expected a double");
        assert_protocol_error(b",.\r\n", "expected a double");
        assert_protocol_error(b",1e\r\n", "expected a double");
        assert_protocol_error(b",infinite\r\n", "expected a double");
        assert_protocol_error(b"#x\r\n", "`t` or `f`");
        assert_protocol_error(b"#tt\r\n", "`t` or `f`");
        assert_protocol_error(b"_x\r\n", "null");
        assert_protocol_error(b"(12a\r\n", "big number");
        assert_protocol_error(b"(\r\n", "big number");
        assert_protocol_error(b"=3\r\ntxt\r\n", "format like `txt:`");
        assert_protocol_error(b"=5\r\ntxtxa\r\n", "format like `txt:`");
        assert_protocol_error(b"$?\r\n", "streamed");
        assert_protocol_error(b"*?\r\n", "streamed");
        // Errors inside aggregates are found too, with the offset from the frame start.
        assert_protocol_error(b"*2\r\n:1\r\n%x\r\n", "at byte 9");
    }

    #[test]
    fn error_messages_show_offset_and_excerpt() {
        let err = frame_len(b"*1\r\n$2\r\nabc\r\n").unwrap_err().to_string();
        assert!(err.contains("at byte 10"), "{err}");
        assert!(
            err.contains("expected CRLF after the 2-byte payload"),
            "{err}"
        );
        assert!(
            err.contains(r#"(bytes 2..13: "\r\n$2\r\nabc\r\n")"#),
            "{err}"
        );
    }

    #[test]
    fn bulk_limit_is_checked_on_the_header_alone() {
        let mut decoder = Decoder::new(Limits {
            max_bulk_len: 10,
            ..Limits::default()
        });
        assert_eq!(decoder.frame_len(b"$10\r\n").unwrap(), None);
        decoder.reset();
        let err = decoder.frame_len(b"$11\r\n").unwrap_err();
        assert!(err.is_protocol());
        assert!(
            err.to_string().contains("over the limit of 10 bytes"),
            "{err}"
        );
        // The default limit: a 1 GiB header is refused before any payload.
        let err = frame_len(b"$1073741824\r\n").unwrap_err();
        assert!(err.to_string().contains("over the limit"), "{err}");
        // Same for bulk errors and verbatim strings, and for lines without a length header.
        assert!(decoder.frame_len(b"!11\r\n").is_err());
        assert!(decoder.frame_len(b"=11\r\n").is_err());
        assert!(decoder.frame_len(b"+0123456789\r\n").is_ok());
        assert!(decoder.frame_len(b"+0123456789a").is_err());
        assert!(decoder.frame_len(b"-0123456789a\r\n").is_err());
    }

    #[test]
    fn depth_limit() {
        let nested = |depth: usize| {
            let mut frame = b"*1\r\n".repeat(depth);
            frame.extend_from_slice(b":1\r\n");
            frame
        };
        let frame = nested(64);
        assert_eq!(frame_len(&frame).unwrap(), Some(frame.len()));
        let err = frame_len(&nested(65)).unwrap_err();
        assert!(
            err.to_string().contains("deeper than the limit of 64"),
            "{err}"
        );
        // Found before the innermost value arrives.
        assert!(frame_len(&b"*1\r\n".repeat(65)).is_err());
        // Attributes count as a level.
        let mut with_attribute = b"*1\r\n".repeat(63);
        with_attribute.extend_from_slice(b"|0\r\n:1\r\n");
        assert!(frame_len(&with_attribute).is_ok());
        with_attribute.splice(0..0, b"*1\r\n".iter().copied());
        assert!(frame_len(&with_attribute).is_err());
        // Empty aggregates nest nothing.
        let mut empty_innermost = b"*1\r\n".repeat(64);
        empty_innermost.extend_from_slice(b"*0\r\n");
        assert!(frame_len(&empty_innermost).unwrap().is_some());
        // MAX_DEPTH caps any configured limit.
        let mut decoder = Decoder::new(Limits {
            max_depth: usize::MAX,
            ..Limits::default()
        });
        assert!(decoder.frame_len(&nested(MAX_DEPTH)).unwrap().is_some());
        assert!(decoder.frame_len(&nested(MAX_DEPTH + 1)).is_err());
    }

    #[test]
    fn element_limit_is_checked_on_the_header_alone() {
        let mut decoder = Decoder::new(Limits {
            max_elements: 3,
            ..Limits::default()
        });
        for header in [&b"*4\r\n"[..], b"~4\r\n", b">4\r\n", b"%4\r\n", b"|4\r\n"] {
            let err = decoder.frame_len(header).unwrap_err();
            assert!(err.to_string().contains("over the limit of 3"), "{err}");
        }
        assert_eq!(decoder.frame_len(b"*3\r\n").unwrap(), None);
        decoder.reset();
        // Maps count entries, not keys and values.
        let map = b"%3\r\n:1\r\n:1\r\n:2\r\n:2\r\n:3\r\n:3\r\n";
        assert_eq!(decoder.frame_len(map).unwrap(), Some(map.len()));
        assert!(frame_len(b"*4294967296\r\n").is_err());
    }

    #[test]
    fn resumes_where_it_stopped() {
        let mut decoder = Decoder::default();
        let frame = b"*3\r\n$3\r\nfoo\r\n+a long simple string\r\n:7\r\n";
        assert_eq!(decoder.frame_len(&frame[..8]).unwrap(), None);
        assert_eq!(decoder.pos, 4, "the array header is consumed");
        assert_eq!(decoder.open, [3]);
        assert_eq!(decoder.frame_len(&frame[..20]).unwrap(), None);
        assert_eq!(decoder.pos, 13, "the bulk string is consumed");
        assert_eq!(decoder.open, [2]);
        assert_eq!(
            decoder.line_from, 20,
            "the CR search resumes after the bytes seen"
        );
        assert_eq!(decoder.frame_len(&frame[..35]).unwrap(), None);
        assert_eq!(decoder.pos, 13);
        assert_eq!(decoder.line_from, 34, "the CR is seen, its LF is not");
        assert_eq!(decoder.frame_len(&frame[..36]).unwrap(), None);
        assert_eq!(decoder.pos, 36);
        assert_eq!(decoder.open, [1]);
        assert_eq!(decoder.frame_len(frame).unwrap(), Some(frame.len()));
        // Fresh state for the next frame.
        assert_eq!((decoder.pos, decoder.line_from), (0, 0));
        assert!(decoder.open.is_empty());
        assert_eq!(decoder.frame_len(b":1\r\n").unwrap(), Some(4));
    }

    #[test]
    fn a_large_frame_arriving_byte_by_byte_is_scanned_once() {
        // 50k elements and a 200 KB simple string fed one byte at a time: linear time finishes
        // in well under a second, rescanning from the start would take minutes.
        let mut frame = b"*50001\r\n".to_vec();
        for i in 0..50_000 {
            frame.extend_from_slice(format!(":{i}\r\n").as_bytes());
        }
        frame.push(b'+');
        frame.extend(std::iter::repeat_n(b'x', 200_000));
        frame.extend_from_slice(b"\r\n");
        let mut decoder = Decoder::default();
        for end in 0..frame.len() {
            assert_eq!(decoder.frame_len(&frame[..end]).unwrap(), None);
        }
        assert_eq!(decoder.frame_len(&frame).unwrap(), Some(frame.len()));
    }

    #[test]
    fn a_shrunk_buffer_restarts_the_scan() {
        let mut decoder = Decoder::default();
        assert_eq!(decoder.frame_len(b"*2\r\n:1\r\n").unwrap(), None);
        assert_eq!(decoder.frame_len(b"+OK\r\n").unwrap(), Some(5));
    }

    #[test]
    fn errors_reset_the_decoder() {
        let mut decoder = Decoder::default();
        assert!(decoder.frame_len(b"*2\r\n?").is_err());
        assert_eq!(decoder.frame_len(b":1\r\n").unwrap(), Some(4));
    }

    #[test]
    fn decode_splits_frames_off_the_buffer() {
        let mut decoder = Decoder::default();
        let mut buf = BytesMut::from(&b"$-1\r\n*-1\r\n_\r\n*2\r\n$-1\r\n*-1\r\n+OK\r\n:1"[..]);
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Value::Nil));
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Value::Nil));
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Value::Nil));
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Value::Array(vec![Value::Nil, Value::Nil]))
        );
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Some(Value::SimpleString(bytes::Bytes::from_static(b"OK")))
        );
        assert_eq!(decoder.decode(&mut buf).unwrap(), None);
        assert_eq!(&buf[..], b":1", "an incomplete frame stays buffered");
        buf.extend_from_slice(b"\r\n");
        assert_eq!(decoder.decode(&mut buf).unwrap(), Some(Value::Int(1)));
        assert!(buf.is_empty());
    }

    #[test]
    fn parse_i64_matches_std() {
        for s in [
            "0",
            "-0",
            "+5",
            "-",
            "+",
            "",
            "12a",
            " 1",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "-9223372036854775809",
            "00012",
            "99999999999999999999",
        ] {
            assert_eq!(parse_i64(s.as_bytes()), s.parse::<i64>().ok(), "{s:?}");
        }
    }

    #[test]
    fn valid_doubles_parse_with_std() {
        for s in [
            "0",
            "-0.0",
            "1.",
            ".5",
            "1e5",
            "1E+5",
            "-1.5e-300",
            "inf",
            "-inf",
            "+INF",
            "Infinity",
            "nan",
            "-nan",
            "5e-324",
            "1.7976931348623157e308",
        ] {
            assert!(is_valid_double(s.as_bytes()), "{s}");
            assert!(s.parse::<f64>().is_ok(), "{s}");
        }
        for s in [
            "", ".", "e5", "1e", "1e+", "1.5.5", "--1", "1 ", "0x10", "in",
        ] {
            assert!(!is_valid_double(s.as_bytes()), "{s}");
        }
    }
}
