//! RESP3 encoding of `Value`s, for tests, tools and round-trip property tests. (Commands are
//! encoded by `cmd::encode`, not here.) Decoding what this writes gives the same value back.

use crate::value::Value;

/// Encodes a value as RESP3 (RESP2 types where the value is one of those) into `out`.
///
/// `Nil` is written as the RESP3 null `_`. An error whose message contains CR or LF is written
/// as a bulk error (`!`) so it survives intact; a simple string cannot be, so CR and LF in one
/// are replaced by spaces (as the server does for error messages). Doubles are written with the
/// shortest text that parses back to the same value (`inf`, `-inf`, `nan` for the specials).
pub fn encode_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Nil => out.extend_from_slice(b"_\r\n"),
        Value::Int(i) => {
            out.push(b':');
            write_int(out, *i);
            out.extend_from_slice(b"\r\n");
        }
        Value::BulkString(bytes) => write_blob(out, b'$', bytes),
        Value::SimpleString(bytes) => write_line(out, b'+', bytes),
        Value::ServerError(err) => {
            let message = err.as_bytes();
            if message.iter().any(|&b| b == b'\r' || b == b'\n') {
                write_blob(out, b'!', message);
            } else {
                write_line(out, b'-', message);
            }
        }
        Value::Array(values) => write_values(out, b'*', values),
        Value::Set(values) => write_values(out, b'~', values),
        Value::Push(values) => write_values(out, b'>', values),
        Value::Map(pairs) => write_pairs(out, b'%', pairs),
        Value::Attribute { data, attributes } => {
            write_pairs(out, b'|', attributes);
            encode_value(data, out);
        }
        Value::Double(d) => {
            out.push(b',');
            if d.is_nan() {
                out.extend_from_slice(b"nan");
            } else if d.is_infinite() {
                out.extend_from_slice(if *d > 0.0 { b"inf" } else { b"-inf" });
            } else {
                // Debug prints the shortest text that round-trips, with an exponent for very
                // large or small magnitudes (`1e300`), which RESP3's grammar allows.
                out.extend_from_slice(format!("{d:?}").as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        Value::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
        Value::BigNumber(digits) => write_line(out, b'(', digits),
        Value::VerbatimString { format, text } => {
            out.push(b'=');
            write_int(out, text.len() as i64 + 4);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(format);
            out.push(b':');
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn write_header(out: &mut Vec<u8>, type_byte: u8, len: usize) {
    out.push(type_byte);
    write_int(out, len as i64);
    out.extend_from_slice(b"\r\n");
}

fn write_values(out: &mut Vec<u8>, type_byte: u8, values: &[Value]) {
    write_header(out, type_byte, values.len());
    for value in values {
        encode_value(value, out);
    }
}

fn write_pairs(out: &mut Vec<u8>, type_byte: u8, pairs: &[(Value, Value)]) {
    write_header(out, type_byte, pairs.len());
    for (key, value) in pairs {
        encode_value(key, out);
        encode_value(value, out);
    }
}

fn write_blob(out: &mut Vec<u8>, type_byte: u8, bytes: &[u8]) {
    out.reserve(bytes.len() + 16);
    write_header(out, type_byte, bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn write_line(out: &mut Vec<u8>, type_byte: u8, bytes: &[u8]) {
    out.push(type_byte);
    out.extend(bytes.iter().map(|&b| match b {
        b'\r' | b'\n' => b' ',
        b => b,
    }));
    out.extend_from_slice(b"\r\n");
}

fn write_int(out: &mut Vec<u8>, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut magnitude = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ServerError;
    use bytes::Bytes;

    fn encoded(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode_value(value, &mut out);
        out
    }

    #[test]
    fn encodes_every_type() {
        let cases: Vec<(Value, &[u8])> = vec![
            (Value::Nil, b"_\r\n"),
            (Value::Int(i64::MIN), b":-9223372036854775808\r\n"),
            (Value::Int(0), b":0\r\n"),
            (
                Value::BulkString(Bytes::from_static(b"a\r\nb")),
                b"$4\r\na\r\nb\r\n",
            ),
            (Value::SimpleString(Bytes::from_static(b"OK")), b"+OK\r\n"),
            (
                Value::SimpleString(Bytes::from_static(b"a\r\nb")),
                b"+a  b\r\n",
            ),
            (Value::ServerError(ServerError::new("ERR x")), b"-ERR x\r\n"),
            (
                Value::ServerError(ServerError::new("ERR\nx")),
                b"!5\r\nERR\nx\r\n",
            ),
            (Value::Double(1.5), b",1.5\r\n"),
            (Value::Double(1e300), b",1e300\r\n"),
            (Value::Double(f64::NEG_INFINITY), b",-inf\r\n"),
            (Value::Double(f64::NAN), b",nan\r\n"),
            (Value::Boolean(false), b"#f\r\n"),
            (Value::BigNumber(Bytes::from_static(b"-123")), b"(-123\r\n"),
            (
                Value::VerbatimString {
                    format: *b"txt",
                    text: Bytes::from_static(b"hi"),
                },
                b"=6\r\ntxt:hi\r\n",
            ),
            (
                Value::Map(vec![(Value::Int(1), Value::Array(vec![]))]),
                b"%1\r\n:1\r\n*0\r\n",
            ),
            (Value::Set(vec![Value::Boolean(true)]), b"~1\r\n#t\r\n"),
            (Value::Push(vec![Value::Nil]), b">1\r\n_\r\n"),
            (
                Value::Attribute {
                    data: Box::new(Value::Int(2)),
                    attributes: vec![(Value::Int(0), Value::Int(1))],
                },
                b"|1\r\n:0\r\n:1\r\n:2\r\n",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(
                encoded(&value),
                expected,
                "{value:?} encoded as {:?}",
                String::from_utf8_lossy(&encoded(&value))
            );
        }
    }
}
