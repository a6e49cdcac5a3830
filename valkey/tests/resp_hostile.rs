//! Hostile bytes against the read path every connection uses (`ReadBuffer` + `Decoder`): memory
//! stays bounded by what was received, never by what a header claims (`$9999999999`,
//! `*2147483647`), and bytes fed one at a time give exactly what the whole buffer gives — frames
//! or the error — for valid and random input alike. A counting allocator measures the memory.

use bytes::Bytes;
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use valkey::proto::ReadBuffer;
use valkey::resp::{encode_value, Limits};
use valkey::Value;

/// Counts the bytes live on the current thread, and their peak (tests run on several threads;
/// each measures only its own allocations).
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn note(delta: isize) {
    // `try_with`: the allocator also runs while thread-locals are torn down.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Old and new blocks may both be live during the copy: count the new one first.
        note(new_size as isize);
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        note(-(layout.size() as isize));
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result and the peak bytes live during it above the start.
fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let start = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(start));
    let out = f();
    let peak = PEAK.with(Cell::get) - start;
    (out, peak.max(0) as usize)
}

/// What feeding produced: the complete frames, then the error that ended it (if any).
#[derive(Debug, PartialEq)]
struct Fed {
    frames: Vec<Bytes>,
    error: Option<String>,
}

/// Feeds `bytes` in pieces of `piece` bytes through a `ReadBuffer`, taking every complete frame.
fn feed(bytes: &[u8], piece: usize, limits: Limits) -> Fed {
    let mut buf = ReadBuffer::new(limits);
    let mut fed = Fed {
        frames: Vec::new(),
        error: None,
    };
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
                Ok(Some(frame)) => fed.frames.push(frame),
                Ok(None) => break,
                Err(e) => {
                    // The message quotes the bytes buffered around the fault, which depend on
                    // the piece size; what went wrong and where must not.
                    let text = e.to_string();
                    let cut = text.find(" (bytes ").unwrap_or(text.len());
                    fed.error = Some(text[..cut].to_owned());
                    return fed;
                }
            }
        }
    }
    fed
}

/// A header claiming far more than is sent, then `body` bytes of filler: the peak memory while
/// feeding must not depend on the claim.
fn claim(header: &str, body: usize, filler: &[u8]) -> Vec<u8> {
    let mut v = header.as_bytes().to_vec();
    while v.len() < header.len() + body {
        v.extend_from_slice(filler);
    }
    v
}

/// Memory a read buffer may hold beyond the bytes received: its 64 KiB chunk and spare room,
/// the decoder's small state.
const SLACK: usize = 256 * 1024;

#[test]
fn headers_that_claim_huge_sizes_cost_only_what_arrives() {
    let limits = Limits::default();
    let cases: Vec<(&str, Vec<u8>, bool)> = vec![
        // Over the bulk limit: refused at the header.
        (
            "$9999999999",
            claim("$9999999999\r\n", 64 * 1024, b"a"),
            true,
        ),
        // Exactly the limit (512 MiB): accepted, waits for the body, allocates only what came.
        (
            "$536870912",
            claim("$536870912\r\n", 64 * 1024, b"a"),
            false,
        ),
        // An array of 2^31 - 1 elements, 16k of them sent.
        (
            "*2147483647",
            claim("*2147483647\r\n", 64 * 1024, b":1\r\n"),
            false,
        ),
        // The same as a map, a set and a push.
        (
            "%2147483647",
            claim("%2147483647\r\n", 64 * 1024, b":1\r\n"),
            false,
        ),
        (
            "~2147483647",
            claim("~2147483647\r\n", 64 * 1024, b"+x\r\n"),
            false,
        ),
        (
            ">2147483647",
            claim(">2147483647\r\n", 64 * 1024, b"$1\r\nx\r\n"),
            false,
        ),
        // Over u32: refused.
        (
            "*99999999999",
            claim("*99999999999\r\n", 1024, b":1\r\n"),
            true,
        ),
        // Nested headers, each claiming the most: refused at the depth limit.
        (
            "nested *2147483647",
            claim("", 64 * 1024, b"*2147483647\r\n"),
            true,
        ),
        // Negative lengths other than nil: refused.
        ("$-2", claim("$-2\r\n", 16, b"a"), true),
        ("*-7", claim("*-7\r\n", 16, b":1\r\n"), true),
        // A length line that never ends.
        ("$ digits", claim("$", 64 * 1024, b"9"), true),
    ];
    for (name, bytes, must_fail) in cases {
        for piece in [1, 7, 4096, bytes.len()] {
            let (fed, peak) = peak_during(|| feed(&bytes, piece, limits));
            assert!(
                fed.frames.is_empty(),
                "{name}: no frame is complete, got {:?}",
                fed.frames.len()
            );
            assert_eq!(
                fed.error.is_some(),
                must_fail,
                "{name} (pieces of {piece}): error {:?}",
                fed.error
            );
            assert!(
                peak <= bytes.len() + SLACK,
                "{name} (pieces of {piece}): peak {peak} bytes live for {} bytes received",
                bytes.len()
            );
        }
    }
}

#[test]
fn a_large_body_costs_a_small_multiple_of_itself() {
    // 8 MiB of a 512 MiB bulk string: the buffer grows with what arrives (doubling, so at most
    // about three times it while a grown copy is made), never to the claimed size.
    let bytes = claim("$536870912\r\n", 8 << 20, &[b'z'; 4096]);
    let (fed, peak) = peak_during(|| feed(&bytes, 64 * 1024, Limits::default()));
    assert_eq!(
        fed,
        Fed {
            frames: vec![],
            error: None
        }
    );
    assert!(
        peak <= 3 * bytes.len() + SLACK,
        "peak {peak} bytes live for {} bytes received",
        bytes.len()
    );
}

/// Arbitrary nested values (all RESP3 types), encoded.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(Value::Int),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(|b| Value::BulkString(b.into())),
        "[a-zA-Z0-9 ]{0,12}".prop_map(|s| Value::SimpleString(s.into())),
        any::<bool>().prop_map(Value::Boolean),
        (-1e9f64..1e9).prop_map(Value::Double),
        Just(Value::Nil),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Set),
            prop::collection::vec((inner.clone(), inner), 0..4).prop_map(Value::Map),
        ]
    })
}

fn encoded(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        encode_value(v, &mut out);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Valid frames back to back: one byte at a time, any piece size and the whole buffer all
    /// give the same frames and no error.
    #[test]
    fn valid_frames_fed_one_byte_at_a_time_agree(
        values in prop::collection::vec(value(), 1..6),
        piece in 2usize..64,
    ) {
        let bytes = encoded(&values);
        let whole = feed(&bytes, bytes.len(), Limits::default());
        prop_assert_eq!(whole.error.as_ref(), None);
        prop_assert_eq!(whole.frames.len(), values.len());
        prop_assert_eq!(&feed(&bytes, 1, Limits::default()), &whole);
        prop_assert_eq!(&feed(&bytes, piece, Limits::default()), &whole);
    }

    /// Any bytes — valid frames with bytes flipped, cut or inserted, or RESP-looking soup — give
    /// the same frames and the same error (or none) whether fed whole or one byte at a time;
    /// nothing panics.
    #[test]
    fn any_bytes_fed_one_byte_at_a_time_agree(
        values in prop::collection::vec(value(), 1..4),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 0..6),
        soup in prop::collection::vec(prop::sample::select(vec![
            &b"*"[..], b"$", b"%", b"~", b">", b"|", b":", b"+", b"-", b"_", b",", b"#", b"(",
            b"=", b"!", b"1", b"2", b"-1", b"0", b"9999999999", b"\r\n", b"\r", b"\n", b"x",
        ]), 0..40),
    ) {
        let mut bytes = encoded(&values);
        for (at, byte, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ => bytes.truncate(i),
            }
        }
        bytes.extend(soup.concat());
        let limits = Limits { max_depth: 8, max_bulk_len: 1 << 20, ..Limits::default() };
        let whole = feed(&bytes, bytes.len(), limits);
        prop_assert_eq!(&feed(&bytes, 1, limits), &whole);
    }
}
