//! A RESP3 subscriber that shares the async connection with ordinary commands: its
//! (un)subscribe commands are queued like any other, answered by confirmation pushes counted per
//! channel (never taken as another caller's reply); message pushes go to its bounded queue.
//! After a reconnect the connection resubscribes everything before any other command and puts
//! `Disconnected` and `Gap` events in the queue.

use super::multiplexed::MultiplexedConnection;
use crate::error::{Error, ErrorKind, Result};
use crate::pubsub::message::{classify, Frame};
use crate::pubsub::{Confirmation, Disconnected, Event, Family, Gap};
use bytes::Bytes;
use std::collections::{BTreeSet, VecDeque};
use std::task::Waker;
use std::time::SystemTime;

/// Messages a shared subscriber holds for its consumer before it drops the newest ones (and
/// reports the gap).
pub const SHARED_SUBSCRIBER_CAPACITY: usize = 65_536;

/// What the connection keeps for its shared subscriber, under the connection's lock.
#[derive(Debug, Default)]
pub(crate) struct SubState {
    events: VecDeque<Event>,
    waker: Option<Waker>,
    /// What is subscribed (asked for), per family: what a reconnect restores.
    subscribed: [BTreeSet<Bytes>; 3],
    /// Messages dropped because the consumer fell behind: since when, and how many.
    overflow: Option<(SystemTime, u64)>,
    /// When the connection was lost, until the resubscription is confirmed.
    lost: Option<(SystemTime, String)>,
}

impl SubState {
    fn push(&mut self, event: Event, wake: &mut Vec<Waker>) {
        self.events.push_back(event);
        if let Some(w) = self.waker.take() {
            wake.push(w);
        }
    }

    /// A message arrived: queued, or dropped (and counted) while the consumer is behind.
    pub(crate) fn message(&mut self, frame: &Bytes, wake: &mut Vec<Waker>) {
        let Ok(Frame::Message(m)) = crate::proto::decode_value(frame).and_then(classify) else {
            return;
        };
        if self.events.len() >= SHARED_SUBSCRIBER_CAPACITY {
            let (_, n) = self.overflow.get_or_insert((SystemTime::now(), 0));
            *n += 1;
            return;
        }
        if let Some(gap) = self.overflow_gap() {
            self.push(gap, wake);
        }
        self.push(Event::Message(m), wake);
    }

    /// The next event, or records `waker` to be woken when one comes.
    pub(crate) fn pop(&mut self, waker: &Waker) -> Option<Event> {
        let e = self.take();
        if e.is_none() {
            match &self.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => self.waker = Some(waker.clone()),
            }
        }
        e
    }

    /// The next event, if one is there (a pending overflow gap once the queue is drained).
    pub(crate) fn take(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.overflow_gap()
    }

    /// The gap of the messages dropped while the consumer was behind, if any (once).
    fn overflow_gap(&mut self) -> Option<Event> {
        let (since, n) = self.overflow.take()?;
        Some(Event::Gap(Gap {
            lost_at: since,
            resubscribed_at: SystemTime::now(),
            cause: format!("the consumer fell behind: {n} messages were dropped"),
        }))
    }

    /// Whether anything is subscribed.
    pub(crate) fn any(&self) -> bool {
        self.subscribed.iter().any(|s| !s.is_empty())
    }

    /// The connection failed: the consumer learns it now.
    pub(crate) fn disconnected(&mut self, error: &Error, wake: &mut Vec<Waker>) {
        if !self.any() || self.lost.is_some() {
            return;
        }
        let at = SystemTime::now();
        self.lost = Some((at, error.to_string()));
        let error = error.duplicate();
        self.push(Event::Disconnected(Disconnected { at, error }), wake);
    }

    /// The commands that restore every subscription on a new socket (`subscribe`), or end
    /// them all (when the subscriber is dropped), with how many confirmations each gets.
    pub(crate) fn commands(&self, subscribe: bool) -> Vec<(&'static str, usize, Vec<u8>)> {
        Family::ALL
            .into_iter()
            .filter_map(|family| {
                let set = &self.subscribed[family.index()];
                if set.is_empty() {
                    return None;
                }
                let mut cmd = crate::Cmd::new(family.command(subscribe));
                if subscribe {
                    set.iter().for_each(|ch| {
                        cmd.push_arg(&ch.as_ref());
                    });
                }
                let mut buf = Vec::new();
                crate::cmd::encode(&cmd, &mut buf).ok()?;
                Some((family.confirmation(subscribe), set.len(), buf))
            })
            .collect()
    }

    /// Every subscription is confirmed again: the gap is over.
    pub(crate) fn resubscribed(&mut self, wake: &mut Vec<Waker>) {
        if let Some((lost_at, cause)) = self.lost.take() {
            let gap = Gap {
                lost_at,
                resubscribed_at: SystemTime::now(),
                cause,
            };
            self.push(Event::Gap(gap), wake);
        }
    }
}

/// A subscriber on a shared RESP3 connection ([`MultiplexedConnection::subscriber`]).
///
/// Its messages, and `Disconnected`/`Gap` events when the connection is lost and restored, come
/// from [`SharedSubscriber::next`]. It holds at most [`SHARED_SUBSCRIBER_CAPACITY`] messages:
/// the connection keeps reading for its other users, so a consumer that falls further behind
/// loses the newest messages, and the next event it reads is a [`Gap`] saying how many and
/// since when (never a silent loss). Health: the connection's liveness deadline
/// (`response_timeout`) applies, with a `PING` sent when the connection has been idle that long.
/// Dropping it unsubscribes from everything.
pub struct SharedSubscriber {
    con: MultiplexedConnection,
}

impl SharedSubscriber {
    pub(crate) fn new(con: MultiplexedConnection) -> SharedSubscriber {
        SharedSubscriber { con }
    }

    /// Subscribes to channels; returns the server's confirmations.
    pub async fn subscribe(&self, channels: impl crate::ToValkeyArgs) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, true, &channels).await
    }

    /// Unsubscribes from channels (none given: from all).
    pub async fn unsubscribe(
        &self,
        channels: impl crate::ToValkeyArgs,
    ) -> Result<Vec<Confirmation>> {
        self.change(Family::Channel, false, &channels).await
    }

    /// Subscribes to patterns.
    pub async fn psubscribe(
        &self,
        patterns: impl crate::ToValkeyArgs,
    ) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, true, &patterns).await
    }

    /// Unsubscribes from patterns (none given: from all).
    pub async fn punsubscribe(
        &self,
        patterns: impl crate::ToValkeyArgs,
    ) -> Result<Vec<Confirmation>> {
        self.change(Family::Pattern, false, &patterns).await
    }

    /// Subscribes to shard channels.
    pub async fn ssubscribe(
        &self,
        channels: impl crate::ToValkeyArgs,
    ) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, true, &channels).await
    }

    /// Unsubscribes from shard channels (none given: from all).
    pub async fn sunsubscribe(
        &self,
        channels: impl crate::ToValkeyArgs,
    ) -> Result<Vec<Confirmation>> {
        self.change(Family::Shard, false, &channels).await
    }

    /// Sends a (un)subscribe and waits for its confirmations; an error names the command and
    /// the server.
    async fn change(
        &self,
        family: Family,
        subscribe: bool,
        names: &dyn crate::ToValkeyArgs,
    ) -> Result<Vec<Confirmation>> {
        let r = self.change_unnamed(family, subscribe, names).await;
        r.map_err(|e| {
            self.con
                .command_failed(e, || family.command(subscribe).into())
        })
    }

    async fn change_unnamed(
        &self,
        family: Family,
        subscribe: bool,
        names: &dyn crate::ToValkeyArgs,
    ) -> Result<Vec<Confirmation>> {
        let mut cmd = crate::Cmd::new(family.command(subscribe));
        cmd.push_arg(names);
        let given: Vec<Bytes> = cmd.args().skip(1).map(Bytes::copy_from_slice).collect();
        let frames = self
            .con
            .confirmed(family.confirmation(subscribe), &cmd, |sub| {
                let set = &mut sub.subscribed[family.index()];
                let count = if subscribe || !given.is_empty() {
                    given.len()
                } else {
                    set.len().max(1)
                };
                // What was asked for is what a reconnect restores, whatever this call's outcome.
                if subscribe {
                    set.extend(given.iter().cloned());
                } else if given.is_empty() {
                    set.clear();
                } else {
                    given.iter().for_each(|g| {
                        set.remove(g);
                    });
                }
                count
            })
            .await?;
        frames
            .iter()
            .map(
                |f| match crate::proto::decode_value(f).and_then(classify)? {
                    Frame::Confirmation(c) => Ok(c),
                    Frame::Error(e) => Err(Error::from_server(e)),
                    _ => Err(Error::protocol("expected a subscription confirmation")),
                },
            )
            .collect()
    }

    /// The next event: a message, or `Disconnected` / `Gap` around a lost connection. `None`
    /// once the connection is closed. Cancel-safe.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.con.poll_event(cx)).await
    }

    /// Everything received so far, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        self.con.take_event()
    }
}

impl Drop for SharedSubscriber {
    fn drop(&mut self) {
        self.con.drop_subscriber();
    }
}

impl std::fmt::Debug for SharedSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSubscriber")
            .field("con", &self.con)
            .finish()
    }
}

/// The refusal when a subscriber cannot share this connection.
pub(crate) fn cannot_share(why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!(
            "a subscriber cannot share this connection: {why}; use `Client::get_async_pubsub` \
             (a connection of its own)"
        ),
    )
}
