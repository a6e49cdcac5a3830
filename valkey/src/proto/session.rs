//! Connection session state, IO-free: which commands a shared connection refuses (and what to
//! use instead), and what a dedicated connection must track about the commands it ran (database,
//! name, credentials, READONLY, WATCH, MULTI, subscriptions) to restore it after a reconnect, or
//! to say loudly that it was lost.

use crate::cmd::{CommandMeta, Session};
use crate::config::{ConnectionInfo, Password};
use crate::error::{Error, ErrorKind, Result};
use crate::value::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Refuses, before anything is sent, a command whose effect on the connection would reach the
/// other tasks sharing it, naming what to use instead.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn refuse_shared(meta: &CommandMeta) -> Result<()> {
    let instead = match meta.session {
        Session::None => return Ok(()),
        Session::PubSub => {
            "it turns the connection into a subscriber, whose messages would be taken as other \
             tasks' replies; use `Client::get_async_pubsub` (or `get_pubsub`), a subscriber on \
             a connection of its own, or `MultiplexedConnection::subscriber` (RESP3), which \
             shares this one"
        }
        Session::Monitor => {
            "it turns the connection into a stream of events for everyone sharing it; use \
             `Client::get_async_monitor` (or `get_monitor`)"
        }
        Session::Transaction => {
            "other tasks' commands would be queued inside it; use `transaction(..)` (MULTI and \
             EXEC written contiguously) or `watch(..)` for optimistic locking"
        }
        Session::Watch => {
            "WATCH belongs to one connection and would be voided by other tasks' transactions; \
             use `watch(keys, options, |con| ..)`, which watches on a connection of its own"
        }
        Session::Database => {
            "it would switch the database of every task sharing the connection and be lost on \
             a reconnect; set the database in the URL (`valkey://host/3`) or with \
             `ConnectionInfo::with_db`"
        }
        Session::ReplyMode => {
            "it leaves commands without replies, which no typed executor can return; batch \
             writes in a pipeline instead"
        }
        Session::Connection => {
            "it changes who the connection is (or how the server treats it) for every task \
             sharing it, and would be lost on a reconnect; set the user, password, protocol \
             and client name in the `ConnectionInfo`, or use a dedicated connection"
        }
        Session::NextCommand => {
            "it applies to the next command on the connection, which may be another task's; \
             send it in a pipeline together with that command"
        }
        Session::OwnWrites => {
            "it waits for the writes made on its own connection and would block every task \
             sharing it; use `pipe_durable(..)`, which runs the writes and the WAIT together on \
             a connection of their own"
        }
    };
    Err(refused(meta, instead))
}

/// Refuses, on any connection, the classes this client cannot run as a plain command.
pub(crate) fn refuse_anywhere(meta: &CommandMeta) -> Result<()> {
    let why = match (meta.session, meta.name) {
        (Session::ReplyMode, _) => {
            "it leaves commands without replies, which no typed executor can return; batch \
             writes in a pipeline instead"
        }
        (Session::Monitor, _) => {
            "it turns the connection into a stream of events, which `send` cannot return; use \
             `Client::get_monitor` (or `get_async_monitor`)"
        }
        _ => return Ok(()),
    };
    Err(refused(meta, why))
}

fn refused(meta: &CommandMeta, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidInput,
        format!("{} cannot run here: {why}; nothing was sent", meta.name),
    )
}

/// What answers a command: one reply, or a confirmation per channel (the (un)subscribe
/// commands, whose confirmations are push messages in RESP3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expect {
    /// One reply frame.
    Reply,
    /// `count` confirmations of `kind` (`subscribe`, `punsubscribe`, ...).
    Confirmations {
        /// The confirmation's first element, lowercase.
        kind: &'static str,
        /// How many.
        count: usize,
    },
}

/// The three kinds of subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Channels (`SUBSCRIBE`).
    Channel,
    /// Patterns (`PSUBSCRIBE`).
    Pattern,
    /// Shard channels (`SSUBSCRIBE`).
    Shard,
}

impl Family {
    pub(crate) const ALL: [Family; 3] = [Family::Channel, Family::Pattern, Family::Shard];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// The command that subscribes (`true`) or unsubscribes.
    pub(crate) fn command(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Family::Channel, true) => "SUBSCRIBE",
            (Family::Channel, false) => "UNSUBSCRIBE",
            (Family::Pattern, true) => "PSUBSCRIBE",
            (Family::Pattern, false) => "PUNSUBSCRIBE",
            (Family::Shard, true) => "SSUBSCRIBE",
            (Family::Shard, false) => "SUNSUBSCRIBE",
        }
    }

    /// The first element of the server's confirmation of that command (`psubscribe`).
    pub(crate) fn confirmation(self, subscribe: bool) -> &'static str {
        match (self, subscribe) {
            (Family::Channel, true) => "subscribe",
            (Family::Channel, false) => "unsubscribe",
            (Family::Pattern, true) => "psubscribe",
            (Family::Pattern, false) => "punsubscribe",
            (Family::Shard, true) => "ssubscribe",
            (Family::Shard, false) => "sunsubscribe",
        }
    }

    /// Which family and direction `matches` picks out (of the six commands or confirmations).
    fn find(matches: impl Fn(Family, bool) -> bool) -> Option<(Family, bool)> {
        Family::ALL
            .into_iter()
            .flat_map(|f| [(f, true), (f, false)])
            .find(|&(f, s)| matches(f, s))
    }

    /// The family and direction of an (un)subscribe command, by its (uppercase) name.
    pub(crate) fn of_command(name: &str) -> Option<(Family, bool)> {
        Family::find(|f, s| f.command(s) == name)
    }

    /// The family and direction of a confirmation, by its first element (any case).
    pub(crate) fn of_confirmation(kind: &[u8]) -> Option<(Family, bool)> {
        Family::find(|f, s| kind.eq_ignore_ascii_case(f.confirmation(s).as_bytes()))
    }
}

fn pubsub_kind(name: &str) -> Option<(Family, bool, &'static str)> {
    let (family, subscribe) = Family::of_command(name)?;
    Some((family, subscribe, family.confirmation(subscribe)))
}

/// Whether a reply frame is a pub/sub message (`message`, `pmessage`, `smessage`) or a
/// subscription confirmation, as a subscribed RESP2 connection sends them (arrays), or a RESP3
/// push. Returns the kind (the first element).
pub(crate) fn pubsub_frame_kind(frame: &[u8]) -> Option<&'static str> {
    let body = match frame.first() {
        Some(b'*' | b'>') => frame,
        _ => return None,
    };
    let header_end = body.iter().position(|&b| b == b'\n')? + 1;
    let rest = &body[header_end..];
    let len_end = rest.iter().position(|&b| b == b'\r')?;
    if !matches!(rest.first(), Some(b'$' | b'+')) {
        return None;
    }
    let word = if rest[0] == b'+' {
        &rest[1..len_end]
    } else {
        let n: usize = std::str::from_utf8(&rest[1..len_end]).ok()?.parse().ok()?;
        rest.get(len_end + 2..len_end + 2 + n)?
    };
    const MESSAGES: [&str; 3] = ["message", "pmessage", "smessage"];
    MESSAGES
        .into_iter()
        .find(|k| word.eq_ignore_ascii_case(k.as_bytes()))
        .or_else(|| Family::of_confirmation(word).map(|(f, s)| f.confirmation(s)))
}

/// Whether a pub/sub frame kind is a message (rather than a confirmation).
pub(crate) fn is_message_kind(kind: &str) -> bool {
    matches!(kind, "message" | "pmessage" | "smessage")
}

/// What a dedicated connection's commands did to its session, beyond what it was opened with.
#[derive(Debug)]
pub(crate) struct SessionState {
    /// The settings a reconnect uses: the configured ones, updated by SELECT, AUTH,
    /// CLIENT SETNAME, READONLY/READWRITE.
    pub(crate) info: Arc<ConnectionInfo>,
    /// What the connection was opened with (a pool resets back to it).
    configured: Arc<ConnectionInfo>,
    watching: bool,
    in_multi: bool,
    channels: BTreeSet<Vec<u8>>,
    patterns: BTreeSet<Vec<u8>>,
    shard_channels: BTreeSet<Vec<u8>>,
    /// Modes a reconnect cannot restore (`CLIENT TRACKING`, `CLIENT NO-EVICT`, ...).
    modes: BTreeSet<&'static str>,
}

impl SessionState {
    /// The state of a connection opened with `info`.
    pub(crate) fn new(info: Arc<ConnectionInfo>) -> SessionState {
        SessionState {
            configured: Arc::clone(&info),
            info,
            watching: false,
            in_multi: false,
            channels: BTreeSet::new(),
            patterns: BTreeSet::new(),
            shard_channels: BTreeSet::new(),
            modes: BTreeSet::new(),
        }
    }

    /// Whether the connection is subscribed to anything.
    pub(crate) fn subscribed(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty() && self.shard_channels.is_empty())
    }

    /// Whether later commands depend on this very socket's session (WATCH, MULTI).
    pub(crate) fn is_bound(&self) -> bool {
        self.watching || self.in_multi
    }

    /// Whether the session differs from what the connection was opened with.
    pub(crate) fn is_dirty(&self) -> bool {
        !Arc::ptr_eq(&self.info, &self.configured)
            || self.watching
            || self.in_multi
            || self.subscribed()
            || !self.modes.is_empty()
    }

    /// Back to what the connection was opened with (after `RESET` and a new handshake).
    pub(crate) fn reset(&mut self) {
        *self = SessionState::new(Arc::clone(&self.configured));
    }

    /// What answers `meta` with these arguments (command name first).
    pub(crate) fn expect(&self, meta: &CommandMeta, args: &[&[u8]]) -> Expect {
        let Some((family, subscribe, kind)) = pubsub_kind(meta.name) else {
            return Expect::Reply;
        };
        let given = args.len().saturating_sub(1);
        let count = if subscribe || given > 0 {
            given
        } else {
            // Unsubscribing from everything confirms each subscription (or one, if none).
            self.set(family).len().max(1)
        };
        Expect::Confirmations { kind, count }
    }

    fn set(&self, family: Family) -> &BTreeSet<Vec<u8>> {
        match family {
            Family::Channel => &self.channels,
            Family::Pattern => &self.patterns,
            Family::Shard => &self.shard_channels,
        }
    }

    fn set_mut(&mut self, family: Family) -> &mut BTreeSet<Vec<u8>> {
        match family {
            Family::Channel => &mut self.channels,
            Family::Pattern => &mut self.patterns,
            Family::Shard => &mut self.shard_channels,
        }
    }

    /// Records what a command that succeeded did to the session.
    pub(crate) fn after(&mut self, meta: &CommandMeta, args: &[&[u8]]) {
        let arg = |i: usize| args.get(i).copied().unwrap_or_default();
        let text = |i: usize| String::from_utf8_lossy(arg(i)).into_owned();
        match meta.name {
            "SELECT" => {
                if let Ok(db) = text(1).parse() {
                    Arc::make_mut(&mut self.info).db = db;
                }
            }
            "CLIENT SETNAME" => {
                let name = text(2);
                Arc::make_mut(&mut self.info).client_name = (!name.is_empty()).then_some(name);
            }
            "AUTH" => {
                let info = Arc::make_mut(&mut self.info);
                if args.len() >= 3 {
                    info.username = Some(text(1));
                    info.password = Some(Password::new(text(2)));
                } else {
                    info.username = None;
                    info.password = Some(Password::new(text(1)));
                }
            }
            "HELLO" => {
                let info = Arc::make_mut(&mut self.info);
                let mut i = 1;
                if let Some(p) = args
                    .get(1)
                    .filter(|a| a.first().is_some_and(u8::is_ascii_digit))
                {
                    info.protocol = if p == b"2" {
                        crate::config::Protocol::Resp2
                    } else {
                        crate::config::Protocol::Resp3
                    };
                    i = 2;
                }
                while i < args.len() {
                    if args[i].eq_ignore_ascii_case(b"AUTH") && i + 2 < args.len() {
                        info.username = Some(text(i + 1));
                        info.password = Some(Password::new(text(i + 2)));
                        i += 3;
                    } else if args[i].eq_ignore_ascii_case(b"SETNAME") && i + 1 < args.len() {
                        info.client_name = Some(text(i + 1));
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
            }
            "READONLY" => Arc::make_mut(&mut self.info).readonly = true,
            "READWRITE" => Arc::make_mut(&mut self.info).readonly = false,
            "WATCH" => self.watching = true,
            "UNWATCH" => self.watching = false,
            "MULTI" => self.in_multi = true,
            "EXEC" | "DISCARD" => {
                self.in_multi = false;
                self.watching = false;
            }
            "CLIENT TRACKING" | "CLIENT NO-EVICT" | "CLIENT NO-TOUCH" => {
                let name = meta.name;
                if arg(2).eq_ignore_ascii_case(b"off") {
                    self.modes.remove(name);
                } else {
                    self.modes.insert(name);
                }
            }
            name => {
                if let Some((family, subscribe, _)) = pubsub_kind(name) {
                    let set = self.set_mut(family);
                    if args.len() <= 1 {
                        set.clear();
                    }
                    for ch in &args[1..] {
                        if subscribe {
                            set.insert(ch.to_vec());
                        } else {
                            set.remove(*ch);
                        }
                    }
                }
            }
        }
    }

    /// A transaction (MULTI ... EXEC written together) was answered: no watches remain.
    pub(crate) fn exec_done(&mut self) {
        self.in_multi = false;
        self.watching = false;
    }

    /// A failed command may still have changed the session: EXEC and DISCARD end the
    /// transaction whatever they answered.
    pub(crate) fn after_error(&mut self, meta: &CommandMeta) {
        if matches!(meta.name, "EXEC" | "DISCARD") {
            self.in_multi = false;
            self.watching = false;
        }
    }

    /// The connection broke and was re-opened (with `info`, so the database, name, credentials
    /// and READONLY are back): what could not be restored is dropped, and reported as the error
    /// the interrupted work must see. `None` when nothing was lost.
    pub(crate) fn lost_on_reconnect(&mut self) -> Option<Error> {
        let mut lost = Vec::new();
        if self.in_multi {
            lost.push("an open MULTI (the server discarded the queued commands)");
        }
        if self.subscribed() {
            lost.push("the subscriptions");
        }
        let modes: Vec<&str> = self.modes.iter().copied().collect();
        let modes = modes.join(", ");
        if !self.modes.is_empty() {
            lost.push(&modes);
        }
        let watch_only = lost.is_empty() && self.watching;
        let err = if watch_only {
            Some(Error::new(
                ErrorKind::WatchConflict,
                "the connection was lost after WATCH, and the watches with it; the command was \
                 not sent (start the transaction again)",
            ))
        } else if lost.is_empty() {
            None
        } else {
            Some(Error::new(
                ErrorKind::SessionLost,
                format!(
                    "the connection was lost and re-opened without {}; the command was not sent",
                    lost.join(" and ")
                ),
            ))
        };
        self.watching = false;
        self.in_multi = false;
        self.channels.clear();
        self.patterns.clear();
        self.shard_channels.clear();
        self.modes.clear();
        err
    }
}

/// Turns collected confirmations into the reply value of a (un)subscribe command.
pub(crate) fn confirmations_value(confirmations: Vec<Value>) -> Value {
    Value::Array(confirmations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str) -> &'static CommandMeta {
        let mut parts = name.split(' ');
        let first = parts.next().unwrap();
        crate::cmd::lookup(first.as_bytes(), parts.next().map(str::as_bytes)).unwrap()
    }

    #[test]
    fn shared_connections_refuse_session_commands_and_name_the_alternative() {
        assert!(refuse_shared(meta("GET")).is_ok());
        let e = refuse_shared(meta("SELECT")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains("with_db"), "{e}");
        assert!(refuse_shared(meta("MULTI"))
            .unwrap_err()
            .to_string()
            .contains("transaction("));
        assert!(refuse_shared(meta("WAIT"))
            .unwrap_err()
            .to_string()
            .contains("pipe_durable"));
        for name in [
            "SUBSCRIBE",
            "SSUBSCRIBE",
            "MONITOR",
            "CLIENT REPLY",
            "WATCH",
            "AUTH",
            "HELLO",
            "ASKING",
            "WAITAOF",
        ] {
            assert!(refuse_shared(meta(name)).is_err(), "{name}");
        }
        assert!(refuse_anywhere(meta("CLIENT REPLY")).is_err());
        assert!(refuse_anywhere(meta("HELLO")).is_ok());
        assert!(refuse_anywhere(meta("SELECT")).is_ok());
    }

    #[test]
    fn confirmations_are_counted_per_channel() {
        let mut s = SessionState::new(Arc::new(ConnectionInfo::tcp("h", 1)));
        let sub = meta("SUBSCRIBE");
        assert_eq!(
            s.expect(sub, &[b"SUBSCRIBE", b"a", b"b"]),
            Expect::Confirmations {
                kind: "subscribe",
                count: 2
            }
        );
        s.after(sub, &[b"SUBSCRIBE", b"a", b"b"]);
        let unsub = meta("UNSUBSCRIBE");
        assert_eq!(
            s.expect(unsub, &[b"UNSUBSCRIBE"]),
            Expect::Confirmations {
                kind: "unsubscribe",
                count: 2
            }
        );
        s.after(unsub, &[b"UNSUBSCRIBE"]);
        assert!(!s.subscribed());
        assert_eq!(
            s.expect(unsub, &[b"UNSUBSCRIBE"]),
            Expect::Confirmations {
                kind: "unsubscribe",
                count: 1
            }
        );
        assert_eq!(s.expect(meta("GET"), &[b"GET", b"k"]), Expect::Reply);
    }

    #[test]
    fn restorable_state_moves_into_the_reconnect_settings() {
        let mut s = SessionState::new(Arc::new(ConnectionInfo::tcp("h", 1)));
        assert!(!s.is_dirty());
        s.after(meta("SELECT"), &[b"SELECT", b"3"]);
        s.after(meta("CLIENT SETNAME"), &[b"CLIENT", b"SETNAME", b"me"]);
        s.after(meta("READONLY"), &[b"READONLY"]);
        s.after(
            meta("HELLO"),
            &[b"HELLO", b"2", b"AUTH", b"u", b"pw", b"SETNAME", b"n2"],
        );
        assert_eq!(s.info.protocol, crate::config::Protocol::Resp2);
        assert_eq!(s.info.username.as_deref(), Some("u"));
        assert_eq!(s.info.client_name.as_deref(), Some("n2"));
        s.after(meta("CLIENT SETNAME"), &[b"CLIENT", b"SETNAME", b"me"]);
        assert_eq!(s.info.db, 3);
        assert_eq!(s.info.client_name.as_deref(), Some("me"));
        assert!(s.info.readonly);
        assert!(s.is_dirty());
        assert!(s.lost_on_reconnect().is_none(), "all of it is restored");
        s.reset();
        assert!(!s.is_dirty());
        assert_eq!(s.info.db, 0);
    }

    #[test]
    fn what_cannot_be_restored_fails_loudly_once() {
        let mut s = SessionState::new(Arc::new(ConnectionInfo::tcp("h", 1)));
        s.after(meta("WATCH"), &[b"WATCH", b"k"]);
        let e = s.lost_on_reconnect().unwrap();
        assert!(e.is_watch_conflict());
        assert!(s.lost_on_reconnect().is_none());
        s.after(meta("MULTI"), &[b"MULTI"]);
        s.after(meta("SUBSCRIBE"), &[b"SUBSCRIBE", b"a"]);
        let e = s.lost_on_reconnect().unwrap();
        assert_eq!(e.kind(), ErrorKind::SessionLost);
        assert!(e.to_string().contains("MULTI"), "{e}");
        assert!(e.to_string().contains("subscriptions"), "{e}");
        s.after(meta("MULTI"), &[b"MULTI"]);
        s.after_error(meta("EXEC"));
        assert!(!s.is_dirty());
    }

    #[test]
    fn pubsub_frames_are_recognised_in_both_protocols() {
        assert_eq!(
            pubsub_frame_kind(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\np\r\n"),
            Some("message")
        );
        assert_eq!(
            pubsub_frame_kind(b">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"),
            Some("subscribe")
        );
        assert_eq!(pubsub_frame_kind(b"*2\r\n$3\r\nfoo\r\n$1\r\nc\r\n"), None);
        assert_eq!(pubsub_frame_kind(b"$7\r\nmessage\r\n"), None);
        assert_eq!(pubsub_frame_kind(b"*1\r\n$99\r\nmess"), None);
    }
}
