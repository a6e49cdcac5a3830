//! The read buffer both connections share: large reads into one zero-initialized `BytesMut`,
//! complete frames split off it without copying (each frame is a `Bytes` sharing the buffer).

use crate::error::Result;
use crate::resp::{Decoder, Limits};
use bytes::{Bytes, BytesMut};

/// The smallest spare room offered to a read; below it the buffer grows.
const MIN_SPARE: usize = 16 * 1024;
/// The usual size of a buffer chunk.
const CHUNK: usize = 64 * 1024;

/// Bytes read from the socket and not yet taken as frames.
///
/// `buf[..filled]` holds data; `buf[filled..]` is zeroed spare room, so reads go straight into
/// initialized memory and zeroing happens only when the buffer grows, not per read.
#[derive(Debug)]
pub struct ReadBuffer {
    buf: BytesMut,
    filled: usize,
    decoder: Decoder,
}

impl ReadBuffer {
    /// An empty buffer decoding under `limits`.
    pub fn new(limits: Limits) -> ReadBuffer {
        ReadBuffer {
            buf: BytesMut::new(),
            filled: 0,
            decoder: Decoder::new(limits),
        }
    }

    /// The next complete frame, if one is buffered. Malformed input is an error; the connection
    /// must then be dropped.
    #[inline]
    pub fn next_frame(&mut self) -> Result<Option<Bytes>> {
        if self.filled == 0 {
            return Ok(None);
        }
        match self.decoder.frame_len(&self.buf[..self.filled])? {
            Some(n) => {
                self.filled -= n;
                Ok(Some(self.buf.split_to(n).freeze()))
            }
            None => Ok(None),
        }
    }

    /// Room to read into; call [`ReadBuffer::advance`] with how much was read.
    #[inline]
    pub fn spare(&mut self) -> &mut [u8] {
        if self.buf.len() - self.filled < MIN_SPARE {
            self.grow();
        }
        &mut self.buf[self.filled..]
    }

    /// Marks `n` bytes of [`ReadBuffer::spare`] as read.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        debug_assert!(self.filled + n <= self.buf.len());
        self.filled += n;
    }

    /// Whether any unparsed bytes are buffered.
    pub fn has_data(&self) -> bool {
        self.filled > 0
    }

    /// Drops everything buffered (after the connection broke).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.filled = 0;
        self.decoder = Decoder::new(self.decoder.limits());
    }

    #[cold]
    fn grow(&mut self) {
        // Grow by at least a chunk, doubling for large frames so a big reply costs O(n) copies.
        let extra = CHUNK.max(self.filled);
        self.buf.truncate(self.filled);
        self.buf.reserve(extra);
        let cap = self.buf.capacity();
        self.buf.resize(cap, 0);
    }
}
