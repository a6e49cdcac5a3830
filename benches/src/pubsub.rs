//! The IO-free parts of `compare`'s pub/sub workloads: the payloads (each carries its sequence
//! number), the subscriber's check that no message is lost, duplicated or out of order, and the
//! one-line job the benchmark hands its publisher process.

use std::fmt;

/// Digits of the sequence number at the start of every payload (so 16 bytes is the smallest
/// payload).
pub const SEQ_DIGITS: usize = 16;

/// The payload of message `seq`: the number in [`SEQ_DIGITS`] zero-padded decimal digits, then
/// filler up to `size` bytes.
///
/// # Panics
///
/// If `size` is smaller than [`SEQ_DIGITS`] or `seq` has more digits.
pub fn payload(seq: u64, size: usize) -> Vec<u8> {
    assert!(
        size >= SEQ_DIGITS,
        "a payload needs {SEQ_DIGITS} bytes for its number"
    );
    assert!(
        seq < 10u64.pow(SEQ_DIGITS as u32),
        "{seq} has too many digits"
    );
    let mut p = format!("{seq:0width$}", width = SEQ_DIGITS).into_bytes();
    p.extend((SEQ_DIGITS..size).map(|i| b'a' + (i % 26) as u8));
    p
}

/// The sequence number a payload starts with, if it starts with one.
pub fn payload_seq(p: &[u8]) -> Option<u64> {
    let digits = p.get(..SEQ_DIGITS)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u64, |n, d| n.wrapping_mul(10) + u64::from(d - b'0')),
    )
}

/// What the subscriber checks of every message: the channel, the payload's size and that its
/// sequence number is the next one, so a message lost, duplicated or out of order fails the run.
#[derive(Debug)]
pub struct SeqCheck {
    channel: Vec<u8>,
    size: usize,
    total: u64,
    next: u64,
    failure: Option<SeqError>,
}

impl SeqCheck {
    /// Expects messages 0 to `total - 1` on `channel`, each `size` bytes.
    pub fn new(channel: &str, size: usize, total: u64) -> SeqCheck {
        SeqCheck {
            channel: channel.as_bytes().to_vec(),
            size,
            total,
            next: 0,
            failure: None,
        }
    }

    /// Checks one received message; the first failure is also kept (see [`SeqCheck::failure`]).
    pub fn check(&mut self, channel: &[u8], payload: &[u8]) -> Result<(), SeqError> {
        let r = self.verify(channel, payload);
        if let Err(e) = &r {
            self.failure.get_or_insert_with(|| e.clone());
        }
        r
    }

    fn verify(&mut self, channel: &[u8], payload: &[u8]) -> Result<(), SeqError> {
        let at = self.next;
        if channel != self.channel.as_slice() {
            return Err(SeqError::Channel {
                at,
                got: String::from_utf8_lossy(channel).into_owned(),
            });
        }
        if payload.len() != self.size {
            return Err(SeqError::Size {
                at,
                got: payload.len(),
            });
        }
        let got = payload_seq(payload).ok_or(SeqError::NoNumber { at })?;
        if at >= self.total {
            return Err(SeqError::Extra { got });
        }
        if got != at {
            return Err(SeqError::Order { want: at, got });
        }
        self.next += 1;
        Ok(())
    }

    /// Whether every message has come.
    pub fn done(&self) -> bool {
        self.next >= self.total
    }

    /// The first message found wrong, if any (so that a caller can tell a failed check from a
    /// failed client after the error went through the client's own error type).
    pub fn failure(&self) -> Option<&SeqError> {
        self.failure.as_ref()
    }

    /// Messages expected in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Messages received (and found in order) so far.
    pub fn received(&self) -> u64 {
        self.next
    }
}

/// How a received message differs from the one expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeqError {
    /// On another channel.
    Channel { at: u64, got: String },
    /// Not the payload size published.
    Size { at: u64, got: usize },
    /// A payload that does not start with a sequence number.
    NoNumber { at: u64 },
    /// Not the next number: `got > want` means messages were lost (or reordered), `got < want`
    /// a duplicate (or a reordering).
    Order { want: u64, got: u64 },
    /// A message after the last one expected.
    Extra { got: u64 },
}

impl fmt::Display for SeqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SeqError::Channel { at, got } => {
                write!(f, "message {at} came on channel {got:?}")
            }
            SeqError::Size { at, got } => write!(f, "message {at} has {got} bytes"),
            SeqError::NoNumber { at } => write!(f, "message {at} has no sequence number"),
            SeqError::Order { want, got } if got > want => write!(
                f,
                "expected message {want}, got {got}: {} lost or out of order",
                got - want
            ),
            SeqError::Order { want, got } => write!(
                f,
                "expected message {want}, got {got} again: duplicated or out of order"
            ),
            SeqError::Extra { got } => write!(f, "message {got} after the last one"),
        }
    }
}

impl std::error::Error for SeqError {}

/// What the benchmark asks its publisher process for, as one line on the child's stdin:
/// `n` messages of `size` bytes to `channel`, `batch` PUBLISH commands per pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishJob {
    pub channel: String,
    pub n: u64,
    pub size: usize,
    pub batch: usize,
}

impl PublishJob {
    /// `publish <channel> <n> <size> <batch>`, newline-terminated.
    pub fn to_line(&self) -> String {
        format!(
            "publish {} {} {} {}\n",
            self.channel, self.n, self.size, self.batch
        )
    }

    /// Parses [`PublishJob::to_line`]'s output (trailing newline optional).
    pub fn parse(line: &str) -> Result<PublishJob, String> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let [verb, channel, n, size, batch] = words[..] else {
            return Err(format!(
                "expected 'publish CHANNEL N SIZE BATCH', got {line:?}"
            ));
        };
        if verb != "publish" {
            return Err(format!("unknown publisher job {verb:?}"));
        }
        let num = |what: &str, v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("publisher job: {what} {v:?} is not a number"))
        };
        let job = PublishJob {
            channel: channel.to_owned(),
            n: num("count", n)?,
            size: num("size", size)? as usize,
            batch: num("batch", batch)? as usize,
        };
        if job.size < SEQ_DIGITS || job.batch == 0 {
            return Err(format!(
                "publisher job: size must be ≥ {SEQ_DIGITS} and batch ≥ 1, got {line:?}"
            ));
        }
        Ok(job)
    }

    /// The sequence numbers of each pipeline, in order.
    pub fn batches(&self) -> impl Iterator<Item = std::ops::Range<u64>> + '_ {
        let b = self.batch as u64;
        (0..self.n.div_ceil(b)).map(move |i| i * b..((i + 1) * b).min(self.n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_number() {
        let p = payload(42, 16);
        assert_eq!(p, b"0000000000000042");
        assert_eq!(payload_seq(&p), Some(42));
        let p = payload(9_999_999_999_999_999, 1024);
        assert_eq!(p.len(), 1024);
        assert_eq!(payload_seq(&p), Some(9_999_999_999_999_999));
        assert_eq!(&p[16..19], b"qrs");
        assert_eq!(payload_seq(b"00000000000000x1"), None);
        assert_eq!(payload_seq(b"123"), None);
    }

    #[test]
    fn in_order_passes_and_ends() {
        let mut c = SeqCheck::new("ch", 20, 3);
        for i in 0..3 {
            assert!(!c.done());
            c.check(b"ch", &payload(i, 20)).unwrap();
        }
        assert!(c.done());
        assert_eq!((c.received(), c.total()), (3, 3));
        assert_eq!(c.failure(), None);
        assert_eq!(
            c.check(b"ch", &payload(3, 20)),
            Err(SeqError::Extra { got: 3 })
        );
    }

    #[test]
    fn loss_duplicate_reorder_and_garbage_fail() {
        let mut c = SeqCheck::new("ch", 16, 10);
        c.check(b"ch", &payload(0, 16)).unwrap();
        let lost = c.check(b"ch", &payload(3, 16)).unwrap_err();
        assert_eq!(lost, SeqError::Order { want: 1, got: 3 });
        assert_eq!(
            lost.to_string(),
            "expected message 1, got 3: 2 lost or out of order"
        );
        let dup = c.check(b"ch", &payload(0, 16)).unwrap_err();
        assert_eq!(
            dup.to_string(),
            "expected message 1, got 0 again: duplicated or out of order"
        );
        assert_eq!(
            c.check(b"other", &payload(1, 16)),
            Err(SeqError::Channel {
                at: 1,
                got: "other".into()
            })
        );
        assert_eq!(
            c.check(b"ch", &payload(1, 17)),
            Err(SeqError::Size { at: 1, got: 17 })
        );
        assert_eq!(
            c.check(b"ch", b"xxxxxxxxxxxxxxxx"),
            Err(SeqError::NoNumber { at: 1 })
        );
        // Nothing wrong was counted; the first failure is kept.
        assert_eq!(c.received(), 1);
        assert_eq!(c.failure(), Some(&SeqError::Order { want: 1, got: 3 }));
        c.check(b"ch", &payload(1, 16)).unwrap();
    }

    #[test]
    fn jobs_round_trip_and_batch() {
        let job = PublishJob {
            channel: "bench:pubsub".into(),
            n: 250,
            size: 1024,
            batch: 100,
        };
        assert_eq!(job.to_line(), "publish bench:pubsub 250 1024 100\n");
        assert_eq!(PublishJob::parse(&job.to_line()), Ok(job.clone()));
        assert_eq!(
            job.batches().collect::<Vec<_>>(),
            [0..100, 100..200, 200..250]
        );
        let empty = PublishJob { n: 0, ..job };
        assert_eq!(empty.batches().count(), 0);
        assert!(PublishJob::parse("publish ch 10 8 1").is_err(), "size < 16");
        assert!(PublishJob::parse("publish ch 10 16 0").is_err(), "batch 0");
        assert!(PublishJob::parse("publish ch x 16 1").is_err());
        assert!(PublishJob::parse("subscribe ch 1 16 1").is_err());
        assert!(PublishJob::parse("publish ch 1 16").is_err());
    }
}
