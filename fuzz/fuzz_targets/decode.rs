//! Any bytes from a server: fed whole and in pieces through the connections' read buffer, the
//! frames and the error (if any) agree; every complete frame reads as a `Value` and converts to
//! common types without panicking.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use std::collections::HashMap;
use valkey::proto::ReadBuffer;
use valkey::resp::{FrameReader, Limits};
use valkey::{FromValkey, Value};

fn feed(bytes: &[u8], piece: usize, limits: Limits) -> (Vec<Bytes>, bool) {
    let mut buf = ReadBuffer::new(limits);
    let mut frames = Vec::new();
    for mut chunk in bytes.chunks(piece.max(1)) {
        while !chunk.is_empty() {
            let spare = buf.spare();
            let n = spare.len().min(chunk.len());
            spare[..n].copy_from_slice(&chunk[..n]);
            buf.advance(n);
            chunk = &chunk[n..];
        }
        loop {
            match buf.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

fn convert<T: FromValkey>(frame: &Bytes) {
    let _ = valkey::proto::decode_reply::<T>(frame);
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, bytes)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_depth: 16,
        max_bulk_len: 1 << 20,
        ..Limits::default()
    };
    let whole = feed(bytes, bytes.len(), limits);
    let pieces = feed(bytes, piece as usize % 17 + 1, limits);
    assert_eq!(whole, pieces, "whole and in pieces of {}", piece % 17 + 1);
    for frame in &whole.0 {
        let mut reader = FrameReader::new(frame);
        let value = reader
            .read_value()
            .expect("a complete frame reads as a value");
        assert!(reader.is_at_end(), "the value is the whole frame");
        let _ = format!("{value:?}");
        convert::<Value>(frame);
        convert::<String>(frame);
        convert::<i64>(frame);
        convert::<f64>(frame);
        convert::<Option<Vec<Bytes>>>(frame);
        convert::<Vec<(String, i64)>>(frame);
        convert::<HashMap<String, Value>>(frame);
        convert::<()>(frame);
    }
});
