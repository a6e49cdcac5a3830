//! `FromValkey` impls for std types and `Value`. Each impl accepts the RESP2 and the RESP3 shape of
//! the same data (a map or a flat key/value array, a double or its decimal text, a boolean or 0/1),
//! and its errors say what was expected and what came, with the path (`[3]`, `["age"]`) to it.

use super::FromValkey;
use crate::error::{Error, Result};
use crate::resp::{types, FrameReader};
use crate::value::{ShowBytes, Value};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};

/// The reply a RESP3 attribute describes (attributes are out-of-band; conversions ignore them).
#[inline]
pub(crate) fn strip_attributes(value: Value) -> Value {
    match value {
        Value::Attribute { data, .. } => strip_attributes(*data),
        other => other,
    }
}

/// How many bytes of a string a conversion error shows before cutting it short.
const SHOWN_BYTES: usize = 64;

/// A short description of a value for error messages: `bulk string "abc"`, `integer 5`,
/// `array of 3 elements`.
pub(crate) fn describe(value: &Value) -> String {
    fn text(kind: &str, bytes: &[u8]) -> String {
        if bytes.len() > SHOWN_BYTES {
            format!(
                "{kind} {}... ({} bytes)",
                ShowBytes(&bytes[..SHOWN_BYTES]),
                bytes.len()
            )
        } else {
            format!("{kind} {}", ShowBytes(bytes))
        }
    }
    match value {
        Value::Nil => "nil".to_string(),
        Value::Int(i) => format!("integer {i}"),
        Value::BulkString(b) => text("bulk string", b),
        Value::SimpleString(b) => text("simple string", b),
        Value::ServerError(e) => text("error", e.as_bytes()),
        Value::Array(a) => describe_count("array", a.len(), "element"),
        Value::Map(m) => describe_count("map", m.len(), "entry"),
        Value::Set(s) => describe_count("set", s.len(), "element"),
        Value::Double(d) => {
            let mut buf = super::args::FloatBuf::new();
            let text = std::str::from_utf8(buf.format(*d)).unwrap_or("?");
            format!("double {text}")
        }
        Value::Boolean(b) => format!("boolean {b}"),
        Value::BigNumber(b) => text("big number", b),
        Value::VerbatimString { text: t, .. } => text("verbatim string", t),
        Value::Attribute { data, .. } => describe(data),
        Value::Push(p) => describe_count("push", p.len(), "element"),
    }
}

/// `array of 1 element`, `map of 2 entries`.
fn describe_count(kind: &str, n: usize, unit: &str) -> String {
    match (n, unit) {
        (1, _) => format!("{kind} of 1 {unit}"),
        (_, "entry") => format!("{kind} of {n} entries"),
        _ => format!("{kind} of {n} {unit}s"),
    }
}

/// The error for a value that does not fit: the server's own error when the value is an error
/// reply (its code kept), otherwise `expected {expected}, got {what came}`.
#[cold]
pub(crate) fn unexpected(expected: &str, value: Value) -> Error {
    match strip_attributes(value) {
        Value::ServerError(e) => Error::from_server(e),
        other => Error::conversion(format!("expected {expected}, got {}", describe(&other))),
    }
}

/// The bytes of a string-like reply (bulk, simple, verbatim text, big number), or the value back.
#[inline]
fn into_string_bytes(value: Value) -> std::result::Result<Bytes, Value> {
    match value {
        Value::BulkString(b) | Value::SimpleString(b) | Value::BigNumber(b) => Ok(b),
        Value::VerbatimString { text, .. } => Ok(text),
        Value::Attribute { data, .. } => into_string_bytes(*data),
        other => Err(other),
    }
}

/// The text of a string reply, or of a number the server may send as text in the other protocol
/// (an integer as its digits, a RESP3 double as RESP2 would write it).
#[inline]
fn into_text_bytes(value: Value) -> std::result::Result<Bytes, Value> {
    match into_string_bytes(value) {
        Ok(b) => Ok(b),
        Err(Value::Int(i)) => Ok(Bytes::from(i.to_string())),
        Err(Value::Double(d)) => {
            let mut buf = super::args::FloatBuf::new();
            Ok(Bytes::copy_from_slice(buf.format(d)))
        }
        Err(other) => Err(other),
    }
}

// `from_frame` fast paths: the hot types read the common shape straight from the frame (no
// `Value`, no per-element `Bytes`). Anything else, errors included, goes through `from_valkey`
// on the same data, so both paths accept the same replies and fail with the same messages.

/// Whether a type byte starts a string-like value (what `read_bulk_slice` reads).
#[inline]
fn is_string_type(type_byte: u8) -> bool {
    matches!(
        type_byte,
        types::BULK_STRING | types::SIMPLE_STRING | types::VERBATIM_STRING | types::BIG_NUMBER
    )
}

/// Rebuilds the value a string payload came from, for the slow path (errors, unusual shapes).
#[cold]
fn string_value(type_byte: u8, payload: &[u8]) -> Value {
    let bytes = Bytes::copy_from_slice(payload);
    match type_byte {
        types::SIMPLE_STRING => Value::SimpleString(bytes),
        types::BIG_NUMBER => Value::BigNumber(bytes),
        types::VERBATIM_STRING => Value::VerbatimString {
            format: *b"txt",
            text: bytes,
        },
        _ => Value::BulkString(bytes),
    }
}

/// Reads a string-like value and converts its payload with `fast`; a nil, or a payload `fast`
/// refuses, goes through `T::from_valkey` for its result (and error message).
#[inline]
fn string_from_frame<T: FromValkey>(
    frame: &mut FrameReader<'_>,
    type_byte: u8,
    fast: impl FnOnce(&[u8]) -> Option<T>,
) -> Result<T> {
    match frame.read_bulk_slice()? {
        Some(payload) => match fast(payload) {
            Some(v) => Ok(v),
            None => T::from_valkey(string_value(type_byte, payload)),
        },
        None => T::from_valkey(Value::Nil),
    }
}

/// The slow path: the whole value, then `from_valkey`.
#[inline]
fn via_value<T: FromValkey>(frame: &mut FrameReader<'_>) -> Result<T> {
    T::from_valkey(frame.read_value()?)
}

impl FromValkey for Value {
    fn from_valkey(value: Value) -> Result<Self> {
        Ok(value)
    }
}

impl FromValkey for () {
    /// Accepts any reply that is not an error (`OK`, `QUEUED`, an integer, nil, ...).
    fn from_valkey(value: Value) -> Result<Self> {
        match strip_attributes(value) {
            Value::ServerError(e) => Err(Error::from_server(e)),
            _ => Ok(()),
        }
    }

    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        match frame.peek_type()? {
            types::SIMPLE_ERROR | types::BULK_ERROR => via_value(frame),
            _ => frame.skip_value(),
        }
    }
}

impl FromValkey for String {
    fn from_valkey(value: Value) -> Result<Self> {
        match into_text_bytes(value) {
            Ok(bytes) => string_from_bytes(&bytes, || describe(&Value::BulkString(bytes.clone()))),
            Err(other) => Err(unexpected("a string", other)),
        }
    }

    #[inline]
    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        if let Some(payload) = frame.try_plain_bulk() {
            return match std::str::from_utf8(payload) {
                Ok(s) => Ok(s.to_owned()),
                Err(_) => String::from_valkey(string_value(types::BULK_STRING, payload)),
            };
        }
        match frame.peek_type()? {
            t if is_string_type(t) => {
                string_from_frame(frame, t, |b| std::str::from_utf8(b).ok().map(str::to_owned))
            }
            _ => via_value(frame),
        }
    }
}

/// Checks UTF-8 and copies into a `String`; `what` describes the value for the error message.
#[inline]
pub(crate) fn string_from_bytes(bytes: &[u8], what: impl FnOnce() -> String) -> Result<String> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Ok(s.to_owned()),
        Err(e) => Err(Error::conversion(format!(
            "expected a UTF-8 string, got {} (invalid UTF-8 at byte {}); read it as Vec<u8> or Bytes",
            what(),
            e.valid_up_to()
        ))),
    }
}

impl FromValkey for Bytes {
    /// Shares the reply's buffer: no copy.
    fn from_valkey(value: Value) -> Result<Self> {
        into_text_bytes(value).map_err(|other| unexpected("a string", other))
    }

    #[inline]
    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        if let Some(bytes) = frame.try_plain_bulk_bytes() {
            return Ok(bytes);
        }
        match frame.peek_type()? {
            t if is_string_type(t) => match frame.read_bulk_bytes()? {
                Some(bytes) => Ok(bytes),
                None => Self::from_valkey(Value::Nil),
            },
            _ => via_value(frame),
        }
    }
}

impl FromValkey for Box<str> {
    fn from_valkey(value: Value) -> Result<Self> {
        String::from_valkey(value).map(String::into_boxed_str)
    }
}

impl<T: FromValkey> FromValkey for Box<T> {
    fn from_valkey(value: Value) -> Result<Self> {
        T::from_valkey(value).map(Box::new)
    }
    fn from_missing() -> Option<Self> {
        T::from_missing().map(Box::new)
    }
}

impl FromValkey for bool {
    /// RESP3 booleans, the integers 0 and 1 (RESP2's booleans), and the text `0`/`1`.
    fn from_valkey(value: Value) -> Result<Self> {
        match strip_attributes(value) {
            Value::Boolean(b) => Ok(b),
            Value::Int(0) => Ok(false),
            Value::Int(1) => Ok(true),
            other => match other.as_bytes() {
                Some(b"0") => Ok(false),
                Some(b"1") => Ok(true),
                _ => Err(unexpected("a boolean (or 0/1)", other)),
            },
        }
    }
}

// Integers: from Int (range-checked: too large is an error, never a wrap), decimal text, a RESP3
// boolean (RESP2 sends it as 0/1), and a double that is integral (RESP3 sends a score `3` as
// double 3.0, RESP2 as the text "3"). A fraction is an error, not a truncation.
macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl FromValkey for $t {
            fn from_valkey(value: Value) -> Result<Self> {
                int_from_value::<$t>(value, stringify!($t), &<$t>::MIN, &<$t>::MAX)
            }

            #[inline]
            fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
                int_from_frame(frame)
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, i128, isize, u16, u32, u64, u128, usize);

impl FromValkey for u8 {
    fn from_valkey(value: Value) -> Result<Self> {
        int_from_value::<u8>(value, "u8", &u8::MIN, &u8::MAX)
    }
    #[inline]
    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        int_from_frame(frame)
    }
    fn vec_from_bytes(bytes: &[u8]) -> Option<Vec<Self>> {
        Some(bytes.to_vec())
    }
}

/// Integers from the frame: an integer reply or decimal text, range-checked.
#[inline]
fn int_from_frame<T>(frame: &mut FrameReader<'_>) -> Result<T>
where
    T: FromValkey + TryFrom<i64> + std::str::FromStr,
{
    match frame.peek_type()? {
        types::INTEGER => {
            let i = frame.read_int()?;
            match T::try_from(i) {
                Ok(v) => Ok(v),
                Err(_) => T::from_valkey(Value::Int(i)),
            }
        }
        t if is_string_type(t) => string_from_frame(frame, t, |b| {
            std::str::from_utf8(b).ok().and_then(|s| s.parse().ok())
        }),
        _ => via_value(frame),
    }
}

/// Integers from a whole value: the generic part is only the range check, so each of the twelve
/// integer types adds little code (the reading below is compiled once).
fn int_from_value<T>(
    value: Value,
    name: &str,
    min: &dyn std::fmt::Display,
    max: &dyn std::fmt::Display,
) -> Result<T>
where
    T: TryFrom<i128> + TryFrom<u128>,
{
    let value = strip_attributes(value);
    let fits = match whole_number(&value) {
        Some(WholeNumber::Signed(i)) => T::try_from(i).ok(),
        Some(WholeNumber::Unsigned(u)) => T::try_from(u).ok(),
        Some(WholeNumber::Beyond) => None,
        None => return Err(unexpected("an integer", value)),
    };
    fits.ok_or_else(|| {
        Error::conversion(format!(
            "expected an integer in {name}'s range {min}..={max}, got {}",
            describe(&value)
        ))
    })
}

/// A value read as a whole number, before any type's range is applied.
enum WholeNumber {
    Signed(i128),
    Unsigned(u128),
    /// A whole number beyond both i128 and u128: out of every integer type's range.
    Beyond,
}

/// An integer, a boolean (0/1), a whole double or decimal text as a whole number; `None` when the
/// value is not one (`1.5`, `abc`, an array).
fn whole_number(value: &Value) -> Option<WholeNumber> {
    match value {
        Value::Int(i) => Some(WholeNumber::Signed(i128::from(*i))),
        Value::Boolean(b) => Some(WholeNumber::Signed(i128::from(*b))),
        Value::Double(d) if d.is_finite() && d.fract() == 0.0 => {
            // 2^127 and 2^128 are exact in f64, so these bounds are too.
            Some(
                if *d >= 340_282_366_920_938_463_463_374_607_431_768_211_456.0 {
                    WholeNumber::Beyond
                } else if *d >= 0.0 {
                    WholeNumber::Unsigned(*d as u128)
                } else if *d >= -170_141_183_460_469_231_731_687_303_715_884_105_728.0 {
                    WholeNumber::Signed(*d as i128)
                } else {
                    WholeNumber::Beyond
                },
            )
        }
        other => {
            let text = std::str::from_utf8(other.as_bytes()?).ok()?;
            match text.parse::<i128>() {
                Ok(i) => Some(WholeNumber::Signed(i)),
                Err(e) => match e.kind() {
                    std::num::IntErrorKind::PosOverflow => Some(
                        text.parse::<u128>()
                            .map_or(WholeNumber::Beyond, WholeNumber::Unsigned),
                    ),
                    std::num::IntErrorKind::NegOverflow => Some(WholeNumber::Beyond),
                    _ => None,
                },
            }
        }
    }
}

// Floats: a RESP3 double, an integer, or decimal text as the server writes it (`3.5`, `1e+300`,
// `inf`, `-inf`, `nan`).
macro_rules! from_float {
    ($($t:ty),*) => {$(
        impl FromValkey for $t {
            fn from_valkey(value: Value) -> Result<Self> {
                match strip_attributes(value) {
                    Value::Double(d) => Ok(d as $t),
                    Value::Int(i) => Ok(i as $t),
                    other => match other.as_bytes().and_then(|b| std::str::from_utf8(b).ok()) {
                        Some(text) => match text.parse::<$t>() {
                            Ok(v) => Ok(v),
                            Err(_) => Err(unexpected("a number", other)),
                        },
                        None => Err(unexpected("a number", other)),
                    },
                }
            }

            #[inline]
            fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
                match frame.peek_type()? {
                    types::DOUBLE => Ok(frame.read_double()? as $t),
                    types::INTEGER => Ok(frame.read_int()? as $t),
                    t if is_string_type(t) => string_from_frame(frame, t, |b| {
                        std::str::from_utf8(b).ok().and_then(|s| s.parse().ok())
                    }),
                    _ => via_value(frame),
                }
            }
        }
    )*};
}
from_float!(f32, f64);

impl<T: FromValkey> FromValkey for Option<T> {
    /// Nil (RESP2 nil bulk or nil array, RESP3 null) is `None`. An empty array is not nil: it is
    /// `Some` of whatever `T` reads from it (an empty `Vec`, or an error for a scalar), except
    /// for a derived struct, where an empty map or array is `None`.
    #[inline]
    fn from_valkey(value: Value) -> Result<Self> {
        match strip_attributes(value) {
            Value::Nil => Ok(None),
            Value::Map(m) if T::EMPTY_IS_NONE && m.is_empty() => Ok(None),
            Value::Array(a) if T::EMPTY_IS_NONE && a.is_empty() => Ok(None),
            other => T::from_valkey(other).map(Some),
        }
    }
    #[inline]
    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        if T::EMPTY_IS_NONE {
            return Self::from_valkey(frame.read_value()?);
        }
        if frame.read_nil()? {
            Ok(None)
        } else {
            T::from_frame(frame).map(Some)
        }
    }
    fn from_missing() -> Option<Self> {
        Some(None)
    }
}

impl<T: FromValkey> FromValkey for Result<T, Error> {
    /// An error reply inside an aggregate (EXEC, a pipeline's replies) becomes `Err` with the
    /// server's code; a value that does not convert into `T` becomes `Err` too (a conversion error
    /// for that item only), so the other items stay usable.
    fn from_valkey(value: Value) -> Result<Self> {
        match strip_attributes(value) {
            Value::ServerError(e) => Ok(Err(Error::from_server(e))),
            other => Ok(T::from_valkey(other)),
        }
    }
    fn from_missing() -> Option<Self> {
        T::from_missing().map(Ok)
    }
}

/// Reads a sequence reply (array, set, push; a map as its flat RESP2 form, or entry by entry
/// when `T` reads pairs) into a `Vec<T>`. Errors name the element's index.
pub(crate) fn read_vec<T: FromValkey>(value: Value, expected: &str) -> Result<Vec<T>> {
    let items = match strip_attributes(value) {
        Value::Array(items) | Value::Set(items) | Value::Push(items) => items,
        Value::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len() * if T::READS_PAIRS { 1 } else { 2 });
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if T::READS_PAIRS {
                    out.push(T::from_pair(k, v).map_err(|e| e.context(format_args!("[{i}]")))?);
                } else {
                    out.push(
                        T::from_valkey(k).map_err(|e| e.context(format_args!("[{}]", 2 * i)))?,
                    );
                    out.push(
                        T::from_valkey(v)
                            .map_err(|e| e.context(format_args!("[{}]", 2 * i + 1)))?,
                    );
                }
            }
            return Ok(out);
        }
        other => {
            if let Some(b) = other.as_bytes() {
                if let Some(v) = T::vec_from_bytes(b) {
                    return Ok(v);
                }
            }
            return Err(unexpected(expected, other));
        }
    };
    if T::READS_PAIRS && !items.first().is_some_and(is_sequence) {
        // RESP2's flat `[k1, v1, k2, v2]` (HGETALL, ZRANGE WITHSCORES, CONFIG GET).
        return read_flat_pairs(items, expected, |i, k, v| {
            T::from_pair(k, v).map_err(|e| e.context(format_args!("[{i}]")))
        });
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        out.push(T::from_valkey(item).map_err(|e| e.context(format_args!("[{i}]")))?);
    }
    Ok(out)
}

fn is_sequence(value: &Value) -> bool {
    matches!(value, Value::Array(_) | Value::Set(_))
}

/// Calls `f(pair_index, key, value)` for each neighbour pair of a flat array.
fn read_flat_pairs<T>(
    items: Vec<Value>,
    expected: &str,
    mut f: impl FnMut(usize, Value, Value) -> Result<T>,
) -> Result<Vec<T>> {
    if items.len() % 2 != 0 {
        return Err(Error::conversion(format!(
            "expected {expected} (an even number of elements: key, value, ...), got {}",
            describe_count("array", items.len(), "element")
        )));
    }
    let mut out = Vec::with_capacity(items.len() / 2);
    let mut iter = items.into_iter();
    let mut i = 0;
    while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
        out.push(f(i, k, v)?);
        i += 1;
    }
    Ok(out)
}

/// Calls `f(key, value)` for each key/value pair of a map-like reply: a RESP3 map, a RESP2 flat
/// `[k1, v1, k2, v2]` array, or an array of `[k, v]` pairs (RESP3 `ZRANGE ... WITHSCORES`).
/// `expected` names the target type for the error when the reply is none of these.
pub fn read_pairs(
    value: Value,
    expected: &str,
    mut f: impl FnMut(Value, Value) -> Result<()>,
) -> Result<()> {
    match strip_attributes(value) {
        Value::Map(entries) => {
            for (k, v) in entries {
                f(k, v)?;
            }
            Ok(())
        }
        Value::Array(items) if items.first().is_some_and(is_sequence) => {
            for (i, item) in items.into_iter().enumerate() {
                let pair = match strip_attributes(item) {
                    Value::Array(p) | Value::Set(p) if p.len() == 2 => p,
                    other => {
                        return Err(
                            unexpected("a [key, value] pair", other).context(format_args!("[{i}]"))
                        )
                    }
                };
                let mut pair = pair.into_iter();
                if let (Some(k), Some(v)) = (pair.next(), pair.next()) {
                    f(k, v)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => read_flat_pairs(items, expected, |_, k, v| f(k, v)).map(drop),
        other => Err(unexpected(expected, other)),
    }
}

/// The context naming a map entry in errors: `["age"]` for a string key, `[entry 3]` otherwise.
pub(crate) fn key_context(key: &Value, index: usize) -> String {
    match key.as_bytes() {
        Some(b) if b.len() <= SHOWN_BYTES => format!("[{}]", ShowBytes(b)),
        _ => format!("[entry {index}]"),
    }
}

/// Reads a map-like reply entry by entry into `K`/`V` and hands each to `insert`.
fn read_map<K: FromValkey, V: FromValkey>(
    value: Value,
    expected: &str,
    mut insert: impl FnMut(K, V),
) -> Result<()> {
    let mut index = 0;
    read_pairs(value, expected, |k, v| {
        let v = V::from_valkey(v).map_err(|e| e.context(key_context(&k, index)))?;
        let k = K::from_valkey(k).map_err(|e| e.context(format_args!("key of entry {index}")))?;
        insert(k, v);
        index += 1;
        Ok(())
    })
}

/// Reads a map reply straight from the frame: a RESP3 map or a RESP2 flat `[k1, v1, ...]` array.
/// Other shapes (an array of pairs, nil), and any error, start over through `from_valkey`, so
/// results and messages are those of the `Value` path.
#[inline]
fn map_from_frame<K: FromValkey, V: FromValkey, M: FromValkey>(
    frame: &mut FrameReader<'_>,
    new: impl FnOnce(usize) -> M,
    mut insert: impl FnMut(&mut M, K, V),
) -> Result<M> {
    let start = frame.clone();
    let fast = || -> Result<Option<M>> {
        let (type_byte, count) = match frame.peek_type()? {
            types::MAP | types::ARRAY => frame.read_aggregate_header()?,
            _ => return Ok(None),
        };
        let Some(count) = count else {
            return Ok(None);
        };
        let pairs = if type_byte == types::MAP {
            count
        } else if count % 2 != 0
            || (count > 0 && matches!(frame.peek_type()?, types::ARRAY | types::SET))
        {
            return Ok(None);
        } else {
            count / 2
        };
        let mut map = new(pairs);
        for _ in 0..pairs {
            let k = K::from_frame(frame)?;
            let v = V::from_frame(frame)?;
            insert(&mut map, k, v);
        }
        Ok(Some(map))
    };
    match fast() {
        Ok(Some(map)) => Ok(map),
        _ => {
            *frame = start;
            via_value(frame)
        }
    }
}

fn map_len_hint(value: &Value) -> usize {
    match value {
        Value::Map(m) => m.len(),
        Value::Array(a) => a.len() / 2,
        _ => 0,
    }
}

impl<T: FromValkey> FromValkey for Vec<T> {
    /// An array, set or push reply, element by element; a map as its flat form `[k1, v1, ...]`
    /// (or one pair per entry for `Vec<(K, V)>`). `Vec<u8>` reads a string reply as its bytes.
    #[inline]
    fn from_valkey(value: Value) -> Result<Self> {
        read_vec(value, "an array")
    }

    #[inline]
    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        if let Some(payload) = frame.try_plain_bulk() {
            // A string read as a sequence (`Vec<u8>` from a bulk string).
            return match T::vec_from_bytes(payload) {
                Some(v) => Ok(v),
                None => Self::from_valkey(string_value(types::BULK_STRING, payload)),
            };
        }
        match frame.peek_type()? {
            // Pairs decide between flat and nested forms from the first element: `from_valkey`.
            types::ARRAY | types::SET | types::PUSH if !T::READS_PAIRS => {
                let Some(count) = frame.read_aggregate_header()?.1 else {
                    return Self::from_valkey(Value::Nil);
                };
                let mut out = Vec::with_capacity(count);
                for i in 0..count {
                    out.push(T::from_frame(frame).map_err(|e| e.context(format_args!("[{i}]")))?);
                }
                Ok(out)
            }
            t if is_string_type(t) => string_from_frame(frame, t, T::vec_from_bytes),
            _ => via_value(frame),
        }
    }
}

impl<T: FromValkey> FromValkey for Box<[T]> {
    fn from_valkey(value: Value) -> Result<Self> {
        read_vec(value, "an array").map(Vec::into_boxed_slice)
    }
}

impl<T: FromValkey> FromValkey for VecDeque<T> {
    fn from_valkey(value: Value) -> Result<Self> {
        read_vec(value, "an array").map(VecDeque::from)
    }
}

impl<T: FromValkey + Eq + Hash, S: BuildHasher + Default> FromValkey for HashSet<T, S> {
    /// A set or an array (duplicates collapse).
    fn from_valkey(value: Value) -> Result<Self> {
        read_vec::<T>(value, "a set").map(|v| v.into_iter().collect())
    }
}

impl<T: FromValkey + Ord> FromValkey for BTreeSet<T> {
    /// A set or an array (duplicates collapse).
    fn from_valkey(value: Value) -> Result<Self> {
        read_vec::<T>(value, "a set").map(|v| v.into_iter().collect())
    }
}

impl<K, V, S> FromValkey for HashMap<K, V, S>
where
    K: FromValkey + Eq + Hash,
    V: FromValkey,
    S: BuildHasher + Default,
{
    /// A RESP3 map or a RESP2 flat `[k1, v1, k2, v2]` array (or an array of `[k, v]` pairs).
    /// A repeated key keeps the last value.
    fn from_valkey(value: Value) -> Result<Self> {
        let mut map = HashMap::with_capacity_and_hasher(map_len_hint(&value), S::default());
        read_map(value, "a map", |k, v| {
            map.insert(k, v);
        })?;
        Ok(map)
    }

    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        map_from_frame(
            frame,
            |n| HashMap::with_capacity_and_hasher(n, S::default()),
            |map, k, v| {
                map.insert(k, v);
            },
        )
    }
}

impl<K: FromValkey + Ord, V: FromValkey> FromValkey for BTreeMap<K, V> {
    /// A RESP3 map or a RESP2 flat `[k1, v1, k2, v2]` array (or an array of `[k, v]` pairs).
    /// A repeated key keeps the last value.
    fn from_valkey(value: Value) -> Result<Self> {
        let mut map = BTreeMap::new();
        read_map(value, "a map", |k, v| {
            map.insert(k, v);
        })?;
        Ok(map)
    }

    fn from_frame(frame: &mut FrameReader<'_>) -> Result<Self> {
        map_from_frame(
            frame,
            |_| BTreeMap::new(),
            |map, k, v| {
                map.insert(k, v);
            },
        )
    }
}

/// Takes the elements of an array (or set, or push) of exactly `n` elements.
pub fn read_exact(value: Value, n: usize, expected: &str) -> Result<Vec<Value>> {
    match strip_attributes(value) {
        Value::Array(items) | Value::Set(items) | Value::Push(items) if items.len() == n => {
            Ok(items)
        }
        other => Err(unexpected(expected, other)),
    }
}

macro_rules! from_tuple {
    ($n:literal; $($name:ident $idx:tt),+) => {
        impl<$($name: FromValkey),+> FromValkey for ($($name,)+) {
            /// An array of exactly this many elements.
            fn from_valkey(value: Value) -> Result<Self> {
                let items = read_exact(value, $n, concat!("an array of ", $n, " elements"))?;
                let mut items = items.into_iter();
                Ok(($(
                    $name::from_valkey(items.next().unwrap_or(Value::Nil))
                        .map_err(|e| e.context(format_args!("[{}]", $idx)))?,
                )+))
            }
        }
    };
}
from_tuple!(1; A 0);
from_tuple!(3; A 0, B 1, C 2);
from_tuple!(4; A 0, B 1, C 2, D 3);
from_tuple!(5; A 0, B 1, C 2, D 3, E 4);
from_tuple!(6; A 0, B 1, C 2, D 3, E 4, F 5);
from_tuple!(7; A 0, B 1, C 2, D 3, E 4, F 5, G 6);
from_tuple!(8; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
from_tuple!(9; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
from_tuple!(10; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
from_tuple!(11; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
from_tuple!(12; A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

impl<A: FromValkey, B: FromValkey> FromValkey for (A, B) {
    /// An array of exactly two elements; in a `Vec<(A, B)>`, also one entry of a map or one
    /// key/value pair of a flat array.
    fn from_valkey(value: Value) -> Result<Self> {
        let items = read_exact(value, 2, "an array of 2 elements")?;
        let mut items = items.into_iter();
        let a = items.next().unwrap_or(Value::Nil);
        let b = items.next().unwrap_or(Value::Nil);
        Ok((
            A::from_valkey(a).map_err(|e| e.context("[0]"))?,
            B::from_valkey(b).map_err(|e| e.context("[1]"))?,
        ))
    }

    const READS_PAIRS: bool = true;

    fn from_pair(key: Value, value: Value) -> Result<Self> {
        let v = B::from_valkey(value).map_err(|e| match key.as_bytes() {
            Some(k) if k.len() <= SHOWN_BYTES => e.context(format_args!("[{}]", ShowBytes(k))),
            _ => e.context("value"),
        })?;
        let k = A::from_valkey(key).map_err(|e| e.context("key"))?;
        Ok((k, v))
    }
}
