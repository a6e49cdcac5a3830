//! Argument writing: `ArgWriter` appends RESP bulk strings to a command buffer, and the
//! `ToValkeyArg`/`ToValkeyArgs` impls for std types (no allocation per argument).

use super::{ToValkeyArg, ToValkeyArgs};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::{self, Write as _};

/// Writes command arguments as RESP bulk strings (`$len\r\n...\r\n`) into a buffer.
///
/// The caller writes the array header (`*N\r\n`) first, from [`ToValkeyArgs::num_args`] /
/// `Command::num_args`.
pub struct ArgWriter<'a> {
    buf: &'a mut Vec<u8>,
    written: usize,
    spans: Option<&'a mut Vec<(u32, u32)>>,
}

impl<'a> ArgWriter<'a> {
    /// A writer appending to `buf`.
    pub fn new(buf: &'a mut Vec<u8>) -> ArgWriter<'a> {
        ArgWriter {
            buf,
            written: 0,
            spans: None,
        }
    }

    /// A writer that also records where each argument's payload lies in `buf` (for `Cmd`).
    pub(crate) fn recording(buf: &'a mut Vec<u8>, spans: &'a mut Vec<(u32, u32)>) -> ArgWriter<'a> {
        ArgWriter {
            buf,
            written: 0,
            spans: Some(spans),
        }
    }

    /// Appends one argument.
    #[inline]
    pub fn write_bytes(&mut self, arg: &[u8]) {
        // The header is assembled on the stack and appended in one copy: `$<len>\r\n`.
        let mut header = [0u8; 24];
        let digits = {
            let mut tmp = [0u8; 21];
            let d = format_decimal(&mut tmp, arg.len() as u64, false);
            header[1..1 + d.len()].copy_from_slice(d);
            d.len()
        };
        header[0] = b'$';
        header[1 + digits] = b'\r';
        header[2 + digits] = b'\n';
        self.buf.reserve(arg.len() + digits + 5);
        self.buf.extend_from_slice(&header[..3 + digits]);
        if let Some(spans) = self.spans.as_deref_mut() {
            let start = self.buf.len();
            spans.push((start as u32, (start + arg.len()) as u32));
        }
        self.buf.extend_from_slice(arg);
        self.buf.extend_from_slice(b"\r\n");
        self.written += 1;
    }

    /// Appends one argument given by any [`ToValkeyArg`].
    #[inline]
    pub fn write<A: ToValkeyArg + ?Sized>(&mut self, arg: &A) {
        arg.with_bytes(|b| self.write_bytes(b));
    }

    /// How many arguments were written so far.
    pub fn written(&self) -> usize {
        self.written
    }
}

/// Writes the RESP array header for a command of `n` arguments.
#[inline]
pub fn write_array_header(buf: &mut Vec<u8>, n: usize) {
    buf.push(b'*');
    write_decimal(buf, n as u64, false);
    buf.extend_from_slice(b"\r\n");
}

/// Appends the decimal digits of `v` (with a `-` when `negative`).
#[inline]
pub(crate) fn write_decimal(buf: &mut Vec<u8>, v: u64, negative: bool) {
    let mut tmp = [0u8; 21];
    let s = format_decimal(&mut tmp, v, negative);
    buf.extend_from_slice(s);
}

/// Formats into `tmp` (right-aligned) and returns the digits.
#[inline]
pub(crate) fn format_decimal(tmp: &mut [u8; 21], mut v: u64, negative: bool) -> &[u8] {
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        tmp[i] = b'-';
    }
    &tmp[i..]
}

macro_rules! int_arg {
    (unsigned: $($t:ty),*; signed: $($s:ty),*) => {
        $(impl ToValkeyArg for $t {
            #[inline]
            fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                let mut tmp = [0u8; 21];
                f(format_decimal(&mut tmp, *self as u64, false))
            }
        })*
        $(impl ToValkeyArg for $s {
            #[inline]
            fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
                let mut tmp = [0u8; 21];
                f(format_decimal(&mut tmp, (*self as i64).unsigned_abs(), *self < 0))
            }
        })*
    };
}
int_arg!(unsigned: u16, u32, u64, usize; signed: i8, i16, i32, i64, isize);

impl ToValkeyArg for i128 {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = StackBuf::new();
        let _ = write!(buf, "{self}");
        f(buf.as_bytes())
    }
}
impl ToValkeyArg for u128 {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = StackBuf::new();
        let _ = write!(buf, "{self}");
        f(buf.as_bytes())
    }
}

/// `1` or `0`, as the server's boolean-ish arguments take them (e.g. `DEBUG SET-ACTIVE-EXPIRE`,
/// script arguments).
impl ToValkeyArg for bool {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(if *self { b"1" } else { b"0" })
    }
}

/// The shortest text that parses back to the same number (`3.5`, `0.1`, `1e300`), `inf` and
/// `-inf` for the infinities. NaN is written as `nan`, which the server rejects with an error
/// reply ("not a valid float") for every command: it is never stored silently.
impl ToValkeyArg for f64 {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = FloatBuf::new();
        f(buf.format(*self))
    }
}

/// As for `f64`, with the shortest text of the `f32` (`0.1f32` is `0.1`, not `0.10000000149`).
impl ToValkeyArg for f32 {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        let mut buf = FloatBuf::new();
        f(buf.format(*self))
    }
}

/// A small stack buffer that `write!` formats into (numbers are at most a few dozen bytes).
pub(crate) struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    pub(crate) fn new() -> StackBuf {
        StackBuf {
            buf: [0; 64],
            len: 0,
        }
    }
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dest = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Formats floats as the server parses them (`strtod`): shortest round-trip digits, plain
/// notation for ordinary magnitudes, exponent notation (`1e300`, `1.5e-7`) for the rest.
pub(crate) struct FloatBuf(StackBuf);

impl FloatBuf {
    pub(crate) fn new() -> FloatBuf {
        FloatBuf(StackBuf::new())
    }

    pub(crate) fn format<F: Float>(&mut self, v: F) -> &[u8] {
        let wide = v.widen();
        if wide.is_nan() {
            return b"nan";
        }
        if wide.is_infinite() {
            return if wide > 0.0 { b"inf" } else { b"-inf" };
        }
        self.0.len = 0;
        let magnitude = wide.abs();
        // The longest plain form here is about 24 bytes, the longest exponent form 24: both fit.
        let _ = if magnitude == 0.0 || (1e-5..1e16).contains(&magnitude) {
            write!(self.0, "{v}")
        } else {
            write!(self.0, "{v:e}")
        };
        self.0.as_bytes()
    }
}

/// `f32` and `f64`, for [`FloatBuf`].
pub(crate) trait Float: fmt::Display + fmt::LowerExp + Copy {
    fn widen(self) -> f64;
}
impl Float for f64 {
    fn widen(self) -> f64 {
        self
    }
}
impl Float for f32 {
    fn widen(self) -> f64 {
        self as f64
    }
}

impl ToValkeyArg for str {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
}
impl ToValkeyArg for String {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self.as_bytes())
    }
}
impl ToValkeyArg for [u8] {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
impl ToValkeyArg for Vec<u8> {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
impl ToValkeyArg for Bytes {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
impl<const N: usize> ToValkeyArg for [u8; N] {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        f(self)
    }
}
impl<T: ToValkeyArg + ?Sized> ToValkeyArg for &T {
    #[inline]
    fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        (**self).with_bytes(f)
    }
}

impl<T: ToValkeyArg + ?Sized> ToValkeyArgs for T {
    #[inline]
    fn num_args(&self) -> usize {
        1
    }
    #[inline]
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        out.write(self)
    }
}

/// `None` writes nothing; `Some(v)` writes `v`'s arguments.
impl<T: ToValkeyArgs> ToValkeyArgs for Option<T> {
    #[inline]
    fn num_args(&self) -> usize {
        self.as_ref().map_or(0, T::num_args)
    }
    #[inline]
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        if let Some(v) = self {
            v.write_args(out)
        }
    }
}

// Sequences write each element's arguments in order. (`[u8]`, `Vec<u8>` and `[u8; N]` are one
// binary argument instead: `u8` is deliberately not an argument type, so these never overlap.)
macro_rules! seq_args {
    ($([$($gen:tt)*] $ty:ty;)*) => {$(
        impl<$($gen)*> ToValkeyArgs for $ty {
            #[inline]
            fn num_args(&self) -> usize {
                self.iter().map(ToValkeyArgs::num_args).sum()
            }
            #[inline]
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                for item in self.iter() {
                    item.write_args(out);
                }
            }
        }
    )*};
}
seq_args! {
    [T: ToValkeyArgs] [T];
    [T: ToValkeyArgs] &[T];
    [T: ToValkeyArgs] Vec<T>;
    [T: ToValkeyArgs] &Vec<T>;
    [T: ToValkeyArgs, const N: usize] [T; N];
    [T: ToValkeyArgs, const N: usize] &[T; N];
    [T: ToValkeyArgs] VecDeque<T>;
    [T: ToValkeyArgs] &VecDeque<T>;
    [T: ToValkeyArgs, S] HashSet<T, S>;
    [T: ToValkeyArgs, S] &HashSet<T, S>;
    [T: ToValkeyArgs] BTreeSet<T>;
    [T: ToValkeyArgs] &BTreeSet<T>;
}

// Maps write `key value` pairs (HSET, MSET, XADD fields).
macro_rules! map_args {
    ($([$($gen:tt)*] $ty:ty;)*) => {$(
        impl<$($gen)*> ToValkeyArgs for $ty {
            #[inline]
            fn num_args(&self) -> usize {
                self.iter().map(|(k, v)| k.num_args() + v.num_args()).sum()
            }
            #[inline]
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                for (k, v) in self.iter() {
                    k.write_args(out);
                    v.write_args(out);
                }
            }
        }
    )*};
}
map_args! {
    [K: ToValkeyArgs, V: ToValkeyArgs, S] HashMap<K, V, S>;
    [K: ToValkeyArgs, V: ToValkeyArgs, S] &HashMap<K, V, S>;
    [K: ToValkeyArgs, V: ToValkeyArgs] BTreeMap<K, V>;
    [K: ToValkeyArgs, V: ToValkeyArgs] &BTreeMap<K, V>;
}

impl<T: ToValkeyArgs> ToValkeyArgs for &Option<T> {
    #[inline]
    fn num_args(&self) -> usize {
        (**self).num_args()
    }
    #[inline]
    fn write_args(&self, out: &mut ArgWriter<'_>) {
        (**self).write_args(out)
    }
}

// Tuples write each member's arguments in order: `("name", "ann")`, `(score, member)`.
macro_rules! tuple_args {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: ToValkeyArgs),+> ToValkeyArgs for ($($name,)+) {
            #[inline]
            fn num_args(&self) -> usize {
                0 $(+ self.$idx.num_args())+
            }
            #[inline]
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                $(self.$idx.write_args(out);)+
            }
        }
        impl<$($name: ToValkeyArgs),+> ToValkeyArgs for &($($name,)+) {
            #[inline]
            fn num_args(&self) -> usize {
                (**self).num_args()
            }
            #[inline]
            fn write_args(&self, out: &mut ArgWriter<'_>) {
                (**self).write_args(out)
            }
        }
    };
}
tuple_args!(A 0);
tuple_args!(A 0, B 1);
tuple_args!(A 0, B 1, C 2);
tuple_args!(A 0, B 1, C 2, D 3);
tuple_args!(A 0, B 1, C 2, D 3, E 4);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_args!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);
