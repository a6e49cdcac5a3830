//! Argument writing: `ArgWriter` appends RESP bulk strings to a command buffer, and the
//! `ToValkeyArg`/`ToValkeyArgs` impls for std types (no allocation per argument).

use super::{ToValkeyArg, ToValkeyArgs};
use bytes::Bytes;

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
        self.buf.reserve(arg.len() + 16);
        self.buf.push(b'$');
        write_decimal(self.buf, arg.len() as u64, false);
        self.buf.extend_from_slice(b"\r\n");
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
