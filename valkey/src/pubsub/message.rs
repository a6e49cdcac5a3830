//! IO-free pub/sub frames: a decoded reply becomes a typed [`Message`], a [`Confirmation`] of a
//! (un)subscribe, a pong, or something else, the same way in RESP2 (arrays) and RESP3 (pushes).

use crate::convert::FromValkey;
use crate::error::{Error, Result};
use crate::value::{ServerError, Value};
use bytes::Bytes;
use std::fmt;

/// Which command a message was delivered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// `message`: published to a channel subscribed with `SUBSCRIBE`.
    Message,
    /// `pmessage`: published to a channel matching a pattern subscribed with `PSUBSCRIBE`.
    PMessage,
    /// `smessage`: published with `SPUBLISH` to a shard channel subscribed with `SSUBSCRIBE`.
    SMessage,
}

/// One published message. The payload stays bytes (shared with the read buffer, never copied)
/// until read into a type with [`Message::payload_as`].
#[derive(Clone, PartialEq, Eq)]
pub struct Message {
    kind: MessageKind,
    channel: Bytes,
    pattern: Option<Bytes>,
    payload: Bytes,
}

impl Message {
    /// A message (for tests and for handlers called by hand).
    pub fn new(kind: MessageKind, channel: Bytes, pattern: Option<Bytes>, payload: Bytes) -> Self {
        Message {
            kind,
            channel,
            pattern,
            payload,
        }
    }

    /// Which subscription delivered it.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }

    /// The channel it was published to.
    pub fn channel(&self) -> &Bytes {
        &self.channel
    }

    /// The pattern that matched the channel (`pmessage` only).
    pub fn pattern(&self) -> Option<&Bytes> {
        self.pattern.as_ref()
    }

    /// The payload, exactly as published.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Reads the payload into any [`FromValkey`] type (`String`, `i64`, `Vec<u8>`, a `Json<T>`, ...),
    /// as if it were a bulk-string reply.
    pub fn payload_as<T: FromValkey>(&self) -> Result<T> {
        T::from_valkey(Value::BulkString(self.payload.clone()))
    }

    /// The payload, taken out.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Message");
        d.field("kind", &self.kind).field(
            "channel",
            &crate::value::ShowBytes(&self.channel).to_string(),
        );
        if let Some(p) = &self.pattern {
            d.field("pattern", &crate::value::ShowBytes(p).to_string());
        }
        d.field("payload_len", &self.payload.len()).finish()
    }
}

pub use crate::proto::session::Family;

/// The server's confirmation of one channel, pattern or shard channel (un)subscribed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confirmation {
    /// Which kind of subscription.
    pub family: Family,
    /// `true` for a subscribe, `false` for an unsubscribe.
    pub subscribed: bool,
    /// The channel or pattern (`None` when unsubscribing from everything while subscribed to
    /// nothing).
    pub channel: Option<Bytes>,
    /// How many subscriptions the connection has now (shard channels count apart in Valkey).
    pub count: i64,
}

/// What one frame read by a subscriber is.
#[derive(Debug)]
pub(crate) enum Frame {
    Message(Message),
    Confirmation(Confirmation),
    /// A PING's answer: `["pong", payload]` in RESP2 subscribed mode, `+PONG` otherwise.
    Pong,
    /// An error reply (a refused subscribe, a PING refused, ...).
    Error(ServerError),
    /// Anything else (another push: invalidations, ...): ignored by subscribers.
    Other,
}

fn bytes_of(v: Value, what: &str) -> Result<Bytes> {
    match v {
        Value::BulkString(b) | Value::SimpleString(b) => Ok(b),
        Value::VerbatimString { text, .. } => Ok(text),
        other => Err(Error::protocol(format!(
            "pub/sub: the {what} is a {}, not a string",
            other.kind_name()
        ))),
    }
}

/// Classifies a decoded frame. A pub/sub frame of the wrong shape is a protocol error.
pub(crate) fn classify(value: Value) -> Result<Frame> {
    let items = match value {
        Value::Push(items) | Value::Array(items) => items,
        Value::SimpleString(s) if s.eq_ignore_ascii_case(b"PONG") => return Ok(Frame::Pong),
        Value::ServerError(e) => return Ok(Frame::Error(e)),
        _ => return Ok(Frame::Other),
    };
    let Some(kind) = items.first().and_then(Value::as_bytes) else {
        return Ok(Frame::Other);
    };
    let kind = kind.to_ascii_lowercase();
    let n = items.len();
    let mut it = items.into_iter().skip(1);
    let mut next = |what: &str| bytes_of(it.next().unwrap_or(Value::Nil), what);
    let message = |k: MessageKind, want: usize| {
        if n != want {
            return Err(Error::protocol(format!(
                "pub/sub: a {k:?} frame has {n} elements, expected {want}"
            )));
        }
        Ok(())
    };
    Ok(match kind.as_slice() {
        b"message" | b"smessage" => {
            let k = if kind == b"message" {
                MessageKind::Message
            } else {
                MessageKind::SMessage
            };
            message(k, 3)?;
            let channel = next("channel")?;
            Frame::Message(Message::new(k, channel, None, next("payload")?))
        }
        b"pmessage" => {
            message(MessageKind::PMessage, 4)?;
            let pattern = next("pattern")?;
            let channel = next("channel")?;
            Frame::Message(Message::new(
                MessageKind::PMessage,
                channel,
                Some(pattern),
                next("payload")?,
            ))
        }
        b"pong" => Frame::Pong,
        k => {
            let Some((family, subscribed)) = Family::of_confirmation(k) else {
                return Ok(Frame::Other);
            };
            if n != 3 {
                return Err(Error::protocol(format!(
                    "pub/sub: a confirmation has {n} elements, expected 3"
                )));
            }
            let mut it = it;
            let channel = match it.next() {
                Some(Value::Nil) | None => None,
                Some(v) => Some(bytes_of(v, "channel")?),
            };
            let count = match it.next() {
                Some(Value::Int(c)) => c,
                _ => return Err(Error::protocol("pub/sub: a confirmation without a count")),
            };
            Frame::Confirmation(Confirmation {
                family,
                subscribed,
                channel,
                count,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::decode_value;

    fn frame(bytes: &'static [u8]) -> Frame {
        classify(decode_value(&Bytes::from_static(bytes)).unwrap()).unwrap()
    }

    #[test]
    fn messages_in_both_protocols_and_binary_payloads() {
        for raw in [
            &b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\n\x00\r\n\r\n"[..],
            &b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$3\r\n\x00\r\n\r\n"[..],
        ] {
            let Frame::Message(m) = frame(raw) else {
                panic!("not a message")
            };
            assert_eq!(m.kind(), MessageKind::Message);
            assert_eq!(m.channel().as_ref(), b"ch");
            assert_eq!(m.payload().as_ref(), b"\x00\r\n");
            assert_eq!(m.payload_as::<Vec<u8>>().unwrap(), b"\x00\r\n");
        }
        let Frame::Message(m) =
            frame(b">4\r\n$8\r\npmessage\r\n$2\r\nc*\r\n$2\r\nch\r\n$2\r\n42\r\n")
        else {
            panic!()
        };
        assert_eq!(m.pattern().map(|p| p.as_ref()), Some(&b"c*"[..]));
        assert_eq!(m.payload_as::<i64>().unwrap(), 42);
        let Frame::Message(m) = frame(b"*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$0\r\n\r\n") else {
            panic!()
        };
        assert_eq!(m.kind(), MessageKind::SMessage);
    }

    #[test]
    fn confirmations_pongs_and_malformed_frames() {
        let Frame::Confirmation(c) = frame(b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n") else {
            panic!()
        };
        assert_eq!(
            c,
            Confirmation {
                family: Family::Channel,
                subscribed: false,
                channel: None,
                count: 0
            }
        );
        assert!(matches!(
            frame(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"),
            Frame::Pong
        ));
        assert!(matches!(frame(b"+PONG\r\n"), Frame::Pong));
        assert!(matches!(frame(b"-NOPERM no\r\n"), Frame::Error(_)));
        assert!(matches!(
            frame(b">2\r\n$10\r\ninvalidate\r\n*0\r\n"),
            Frame::Other
        ));
        let bad = decode_value(&Bytes::from_static(b"*2\r\n$7\r\nmessage\r\n$1\r\nc\r\n")).unwrap();
        assert!(classify(bad).unwrap_err().is_protocol());
        let bad = decode_value(&Bytes::from_static(
            b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n$1\r\nx\r\n",
        ))
        .unwrap();
        assert!(classify(bad).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_payload_and_channel_survive_both_protocols(
            channel in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            pattern in proptest::option::of(
                proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20)
            ),
            resp3 in proptest::prelude::any::<bool>(),
        ) {
            let bulk = |b: &[u8]| {
                let mut v = format!("${}\r\n", b.len()).into_bytes();
                v.extend_from_slice(b);
                v.extend_from_slice(b"\r\n");
                v
            };
            let mut raw = Vec::new();
            raw.push(if resp3 { b'>' } else { b'*' });
            match &pattern {
                Some(p) => {
                    raw.extend_from_slice(b"4\r\n");
                    raw.extend(bulk(b"pmessage"));
                    raw.extend(bulk(p));
                }
                None => {
                    raw.extend_from_slice(b"3\r\n");
                    raw.extend(bulk(b"message"));
                }
            }
            raw.extend(bulk(&channel));
            raw.extend(bulk(&payload));
            let Frame::Message(m) = classify(decode_value(&Bytes::from(raw)).unwrap()).unwrap()
            else {
                panic!("not a message")
            };
            proptest::prop_assert_eq!(m.channel().as_ref(), &channel[..]);
            proptest::prop_assert_eq!(m.payload().as_ref(), &payload[..]);
            proptest::prop_assert_eq!(m.pattern().map(|p| p.to_vec()), pattern);
        }
    }
}
