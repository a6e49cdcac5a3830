//! Static metadata of a server command, generated from its spec: flags, versions, key specs,
//! tips. Routing and version checks read it; nothing here does IO.

/// A server version, e.g. `7.2.4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
    /// Patch.
    pub patch: u16,
}

impl Version {
    /// `major.minor.patch`.
    pub const fn new(major: u16, minor: u16, patch: u16) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `"7.2.4"` (missing parts are 0). `None` when it is not a version.
    pub fn parse(s: &str) -> Option<Version> {
        let mut parts = s.trim().split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map(str::parse).transpose().ok()?.unwrap_or(0);
        let patch = parts.next().map(str::parse).transpose().ok()?.unwrap_or(0);
        Some(Version::new(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Command flags from the spec (`command_flags`), as bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CommandFlags(pub u32);

macro_rules! flags {
    ($($(#[$doc:meta])* $name:ident = $bit:expr, $spec:literal;)*) => {
        impl CommandFlags {
            $($(#[$doc])* pub const $name: CommandFlags = CommandFlags(1 << $bit);)*
            /// The flag named as in the spec (`"READONLY"`), if known.
            pub fn from_spec_name(name: &str) -> Option<CommandFlags> {
                match name {
                    $($spec => Some(CommandFlags::$name),)*
                    _ => None,
                }
            }
        }
    };
}

flags! {
    /// Writes data.
    WRITE = 0, "WRITE";
    /// Only reads data.
    READONLY = 1, "READONLY";
    /// May use more memory; refused under OOM.
    DENYOOM = 2, "DENYOOM";
    /// Administrative.
    ADMIN = 3, "ADMIN";
    /// Pub/sub related.
    PUBSUB = 4, "PUBSUB";
    /// Not allowed in scripts.
    NOSCRIPT = 5, "NOSCRIPT";
    /// May block the client.
    BLOCKING = 6, "BLOCKING";
    /// Allowed while the server is loading.
    LOADING = 7, "LOADING";
    /// Allowed on a stale replica.
    STALE = 8, "STALE";
    /// Not propagated to MONITOR.
    SKIP_MONITOR = 9, "SKIP_MONITOR";
    /// Not logged in the slowlog.
    SKIP_SLOWLOG = 10, "SKIP_SLOWLOG";
    /// Fast (O(1) or O(log N)).
    FAST = 11, "FAST";
    /// Allowed before authentication.
    NO_AUTH = 12, "NO_AUTH";
    /// May replicate even when not written.
    MAY_REPLICATE = 13, "MAY_REPLICATE";
    /// Sentinel command.
    SENTINEL = 14, "SENTINEL";
    /// Only in sentinel mode.
    ONLY_SENTINEL = 15, "ONLY_SENTINEL";
    /// Not allowed in MULTI.
    NO_MULTI = 16, "NO_MULTI";
    /// Moves keys (keys positions found at run time). The server calls it `movablekeys`.
    MOVABLE_KEYS = 17, "MOVABLEKEYS";
    /// Allowed while the cluster is busy.
    ALLOW_BUSY = 18, "ALLOW_BUSY";
    /// Does not trigger key-miss notifications.
    NO_MANDATORY_KEYS = 19, "NO_MANDATORY_KEYS";
    /// Not counted for async loading.
    NO_ASYNC_LOADING = 20, "NO_ASYNC_LOADING";
    /// Touches keys across slots.
    TOUCHES_ARBITRARY_KEYS = 21, "TOUCHES_ARBITRARY_KEYS";
    /// Comes from a module.
    MODULE = 22, "MODULE";
    /// Allowed on a cluster node during slot migration after `ASKING`.
    ASKING = 23, "ASKING";
    /// Not logged in the command log (Valkey 8.1+).
    SKIP_COMMANDLOG = 24, "SKIP_COMMANDLOG";
}

impl CommandFlags {
    /// Whether every flag in `other` is set.
    pub const fn contains(self, other: CommandFlags) -> bool {
        self.0 & other.0 == other.0
    }
    /// Both sets of flags.
    pub const fn union(self, other: CommandFlags) -> CommandFlags {
        CommandFlags(self.0 | other.0)
    }
}

/// Where the search for a key spec's keys starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BeginSearch {
    /// At a fixed argument index (1 = first argument after the command name).
    Index(i32),
    /// After the first (or, with a negative `start_from`, last) occurrence of `keyword`, searching
    /// from `start_from`.
    Keyword {
        /// The token to look for, uppercase.
        keyword: &'static str,
        /// Where to start searching; negative counts from the end.
        start_from: i32,
    },
    /// The spec cannot say; the client applies the server's own rule for this command.
    Unknown,
}

/// How to find the keys once the search began.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindKeys {
    /// Keys from the begin index to `last_key` (relative; -1 = last argument, with `limit`
    /// dividing the remaining arguments), every `step` arguments.
    Range {
        /// Index of the last key relative to the first; negative counts from the end.
        last_key: i32,
        /// Distance between keys.
        step: i32,
        /// With `last_key == -1`: use only 1/limit of the remaining arguments (0 = all).
        limit: i32,
    },
    /// A count argument gives the number of keys.
    KeyNum {
        /// Index of the count, relative to the begin index.
        key_num_idx: i32,
        /// Index of the first key, relative to the begin index.
        first_key: i32,
        /// Distance between keys.
        step: i32,
    },
    /// The spec cannot say.
    Unknown,
}

/// One key spec of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Key spec flags as in the spec (`RW`, `ACCESS`, `INSERT`, `INCOMPLETE`, ...).
    pub flags: &'static [&'static str],
    /// Where the search begins.
    pub begin_search: BeginSearch,
    /// How the keys are found.
    pub find_keys: FindKeys,
}

/// One argument's metadata (only what run-time checks need).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgMeta {
    /// The argument's name in the spec (`condition`, `expiration`, ...).
    pub name: &'static str,
    /// The token written for it, if any.
    pub token: Option<&'static str>,
    /// The server version that added it, when newer than the command.
    pub since: Option<Version>,
}

/// Everything the client knows about a command without asking the server.
#[derive(Debug, PartialEq)]
pub struct CommandMeta {
    /// Full name, uppercase: `"GET"`, `"CLIENT KILL"`.
    pub name: &'static str,
    /// The spec's group (`string`, `list`, `server`, ...).
    pub group: &'static str,
    /// The version of Valkey (or Redis, for commands older than Valkey) that added it.
    pub since: Version,
    /// The arity from `COMMAND INFO` (negative: at least that many).
    pub arity: i32,
    /// Command flags.
    pub flags: CommandFlags,
    /// ACL categories, e.g. `["@write", "@string", "@slow"]`.
    pub acl_categories: &'static [&'static str],
    /// Tips, e.g. `["request_policy:all_shards", "nondeterministic_output"]`.
    pub tips: &'static [&'static str],
    /// Key specs, in the spec's order.
    pub key_specs: &'static [KeySpec],
    /// Arguments that carry their own `since`.
    pub args: &'static [ArgMeta],
    /// What the command does to its own connection's session.
    pub session: Session,
    /// Where a blocking command's server-side timeout is (`None`: never blocks).
    pub blocking: Option<BlockingRule>,
    /// The arguments `Debug` output hides (passwords), for builders and raw [`super::Cmd`]s
    /// alike.
    pub redact: &'static [super::Redact],
}

/// What a command does to the session of the connection it runs on (generated from the
/// overlay). Shared connections refuse every class but [`Session::None`]: the effect would
/// reach the other tasks sharing the connection, or be lost on a reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Session {
    /// No effect on the connection (almost every command).
    None,
    /// `SUBSCRIBE` and the other (un)subscribe commands: the connection becomes a subscriber
    /// and its confirmations arrive as push messages.
    PubSub,
    /// `MONITOR`: the connection becomes a stream of events.
    Monitor,
    /// `MULTI`, `EXEC`, `DISCARD`: later commands are queued, not run.
    Transaction,
    /// `WATCH`, `UNWATCH`: a later `EXEC` depends on this connection's watches.
    Watch,
    /// `SELECT`: later commands use another database.
    Database,
    /// `CLIENT REPLY`: later commands get no reply.
    ReplyMode,
    /// `AUTH`, `HELLO`, `RESET`, `QUIT`, `CLIENT SETNAME`, `READONLY`, `READWRITE`,
    /// `CLIENT TRACKING`, `CLIENT NO-EVICT`, `CLIENT NO-TOUCH`: who the connection is and how
    /// the server treats it.
    Connection,
    /// `ASKING`, `CLIENT CACHING`: applies to the next command on the connection.
    NextCommand,
    /// `WAIT`, `WAITAOF`: about the writes made earlier on the same connection.
    OwnWrites,
}

/// The unit of a blocking command's timeout argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeUnit {
    /// Seconds (may be fractional): `BLPOP key 1.5`.
    Seconds,
    /// Milliseconds: `XREAD BLOCK 100`, `WAIT 1 100`.
    Milliseconds,
}

/// Where a blocking command's timeout argument is (generated from the overlay).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockingRule {
    /// Always blocks; the timeout is argument `index` (1 = first after the name; negative:
    /// from the end).
    At {
        /// Argument index.
        index: i32,
        /// Its unit.
        unit: TimeUnit,
    },
    /// Blocks only when `keyword` is given (searched from argument `from` up to `until`); the
    /// timeout follows it.
    After {
        /// The token before the timeout, uppercase.
        keyword: &'static str,
        /// Where the search starts.
        from: u32,
        /// Where the search stops.
        until: Option<&'static str>,
        /// Its unit.
        unit: TimeUnit,
    },
}

/// How long a command may keep the server silent on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Blocks {
    /// Until released (a timeout of `0`).
    Forever,
    /// At most this long (the server answers when it elapses).
    For(std::time::Duration),
}

impl Blocks {
    /// The liveness deadline for a command that may block this long: its own timeout plus
    /// `margin` (the connection's `response_timeout`), or none when it blocks until released
    /// or no margin is set.
    pub fn deadline(self, margin: Option<std::time::Duration>) -> Option<std::time::Duration> {
        match (self, margin) {
            (Blocks::For(d), Some(m)) => Some(d + m),
            _ => None,
        }
    }

    /// While a command blocks this long, how often its server is PINGed on another connection
    /// (`every`; the connection's `margin` when not given) and within what each PING must be
    /// answered (`margin`, the liveness deadline), so that a frozen server fails the wait
    /// instead of leaving it waiting: only when the wait may outlast one period and its answer
    /// (`BLPOP k 0` always), never without a margin.
    pub(crate) fn liveness_probe(
        self,
        every: Option<std::time::Duration>,
        margin: Option<std::time::Duration>,
    ) -> Option<(std::time::Duration, std::time::Duration)> {
        let within = margin?;
        let every = every.filter(|e| !e.is_zero()).unwrap_or(within);
        match self.deadline(Some(within)) {
            Some(d) if d <= every + within => None,
            _ => Some((every, within)),
        }
    }
}

impl BlockingRule {
    /// How long the command with these arguments (command name first) may block; `None`
    /// when these arguments do not block. A timeout that does not parse counts as `Forever`
    /// (the server will refuse it; until then nothing is cut short).
    pub fn blocks(&self, args: &[&[u8]]) -> Option<Blocks> {
        let (value, unit) = match *self {
            BlockingRule::At { index, unit } => {
                let i = if index < 0 {
                    args.len().checked_sub(index.unsigned_abs() as usize)?
                } else {
                    index as usize
                };
                (*args.get(i)?, unit)
            }
            BlockingRule::After {
                keyword,
                from,
                until,
                unit,
            } => {
                let rest = args.get(from as usize..)?;
                let stop = until.map_or(rest.len(), |u| {
                    rest.iter()
                        .position(|a| a.eq_ignore_ascii_case(u.as_bytes()))
                        .unwrap_or(rest.len())
                });
                let at = rest[..stop]
                    .iter()
                    .position(|a| a.eq_ignore_ascii_case(keyword.as_bytes()))?;
                (*rest.get(at + 1)?, unit)
            }
        };
        let number = std::str::from_utf8(value)
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|n| n.is_finite() && *n >= 0.0);
        Some(match number {
            Some(n) if n > 0.0 => {
                let secs = match unit {
                    TimeUnit::Seconds => n,
                    TimeUnit::Milliseconds => n / 1000.0,
                };
                Blocks::For(std::time::Duration::from_secs_f64(secs.min(1e12)))
            }
            _ => Blocks::Forever,
        })
    }
}

impl CommandMeta {
    /// Whether the command may block the connection (it then needs a dedicated connection).
    pub fn is_blocking(&self) -> bool {
        self.flags.contains(CommandFlags::BLOCKING)
    }
    /// Whether the command only reads.
    pub fn is_readonly(&self) -> bool {
        self.flags.contains(CommandFlags::READONLY)
    }
    /// The request policy tip (`all_nodes`, `all_shards`, `multi_shard`, `special`), if any.
    pub fn request_policy(&self) -> Option<&'static str> {
        self.tips
            .iter()
            .find_map(|t| t.strip_prefix("request_policy:"))
    }
    /// The response policy tip (`one_succeeded`, `all_succeeded`, `agg_sum`, ...), if any.
    pub fn response_policy(&self) -> Option<&'static str> {
        self.tips
            .iter()
            .find_map(|t| t.strip_prefix("response_policy:"))
    }
}

#[cfg(test)]
mod blocks_tests {
    use super::Blocks;
    use std::time::Duration;

    #[test]
    fn only_waits_that_may_outlast_a_probe_are_probed() {
        let s = Duration::from_secs;
        assert_eq!(
            Blocks::Forever.liveness_probe(None, Some(s(10))),
            Some((s(10), s(10)))
        );
        assert_eq!(
            Blocks::Forever.liveness_probe(Some(s(1)), Some(s(10))),
            Some((s(1), s(10)))
        );
        assert_eq!(
            Blocks::Forever.liveness_probe(Some(s(0)), Some(s(3))),
            Some((s(3), s(3)))
        );
        assert_eq!(Blocks::Forever.liveness_probe(Some(s(1)), None), None);
        // 5 s + 10 s of deadline ends before a PING at 10 s could be answered late (20 s).
        assert_eq!(Blocks::For(s(5)).liveness_probe(None, Some(s(10))), None);
        assert_eq!(
            Blocks::For(s(11)).liveness_probe(None, Some(s(10))),
            Some((s(10), s(10)))
        );
        assert_eq!(
            Blocks::For(s(2)).liveness_probe(Some(s(1)), Some(s(1))),
            Some((s(1), s(1)))
        );
    }
}
