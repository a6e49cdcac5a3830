//! What to do when a cluster node did not run a command: the error replies that redirect
//! (`MOVED`, `ASK`) or ask to wait (`TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, ...), read into a
//! decision, and the bounded retry schedule the executors follow. A command that may have run
//! (`Unclear`) is never retried here.

use super::topology::NodeAddr;
use crate::error::{Error, ErrorKind};
use std::time::Duration;

/// A redirect or wait request read from a node's error reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redirect {
    /// `MOVED slot host:port`: the slot lives there now; update the map and retry there.
    Moved {
        /// The slot.
        slot: u16,
        /// Where it lives.
        addr: NodeAddr,
    },
    /// `ASK slot host:port`: this one command goes there, after `ASKING`; the map is unchanged.
    Ask {
        /// The slot.
        slot: u16,
        /// Where to ask.
        addr: NodeAddr,
    },
    /// `TRYAGAIN`: a multi-key command during a slot migration; retry shortly.
    TryAgain,
    /// `CLUSTERDOWN`: the cluster cannot serve the slot now (a failover is under way).
    ClusterDown,
    /// `LOADING`, `MASTERDOWN`, `BUSY`: the node is not ready; retry shortly.
    NotReady,
}

impl Redirect {
    /// Reads `err` (a server error reply from the node at `from`) into a redirect; `None` for
    /// any other error. A `MOVED`/`ASK` with an empty host means `from`'s host.
    pub fn from_error(err: &Error, from: &NodeAddr) -> Option<Redirect> {
        let server = err.server_error()?;
        Redirect::parse(&server.message(), from)
    }

    /// Reads an error reply's text (`MOVED 3999 127.0.0.1:6381`).
    pub fn parse(message: &str, from: &NodeAddr) -> Option<Redirect> {
        let mut words = message.split_ascii_whitespace();
        let code = words.next()?;
        let target = |words: &mut std::str::SplitAsciiWhitespace<'_>| {
            let slot: u16 = words
                .next()?
                .parse()
                .ok()
                .filter(|&s| s < crate::routing::SLOT_COUNT)?;
            let mut addr = NodeAddr::parse(words.next()?)?;
            if addr.host.is_empty() {
                addr.host.clone_from(&from.host);
            }
            Some((slot, addr))
        };
        match code {
            "MOVED" => target(&mut words).map(|(slot, addr)| Redirect::Moved { slot, addr }),
            "ASK" => target(&mut words).map(|(slot, addr)| Redirect::Ask { slot, addr }),
            "TRYAGAIN" => Some(Redirect::TryAgain),
            "CLUSTERDOWN" => Some(Redirect::ClusterDown),
            "LOADING" | "MASTERDOWN" | "BUSY" => Some(Redirect::NotReady),
            _ => None,
        }
    }
}

/// What an executor does after a failed attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Give the error to the caller.
    Fail,
    /// The map changed (`MOVED`): apply it and retry at once.
    Moved {
        /// The slot.
        slot: u16,
        /// Its new primary.
        addr: NodeAddr,
    },
    /// Send `ASKING` and the command to `addr`, once; the map is unchanged.
    Ask {
        /// Where.
        addr: NodeAddr,
    },
    /// Wait `delay`, refreshing the topology first when `refresh` says so, then retry.
    Retry {
        /// How long to wait.
        delay: Duration,
        /// Whether the topology may have changed (a node unreachable, the cluster down).
        refresh: bool,
    },
}

/// Bounded retries with exponential backoff: at most `max_attempts` attempts, and no new
/// attempt once `max_wait` has passed since the first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (bounds `MOVED`/`ASK` loops too).
    pub max_attempts: u32,
    /// The first wait.
    pub base_delay: Duration,
    /// The longest wait between two attempts: short, so that a command goes out soon after a
    /// promotion.
    pub max_delay: Duration,
    /// How long a command may keep retrying, from its first attempt.
    pub max_wait: Duration,
    /// A node whose connection had replies due and read nothing for this long makes the
    /// async cluster connection read the topology again (each period while it lasts), so that
    /// a hung primary's replacement is found without waiting for the liveness deadline; the
    /// connections to nodes the new topology no longer has are then closed (their commands
    /// fail as `Unclear`). Blocking commands run on dedicated connections and are not watched.
    /// Zero turns the watch off.
    pub refresh_when_slow: Duration,
    /// Opt-in: a read-only command (its spec's `READONLY` flag: `GET`, `MGET`, `HGETALL`, ...;
    /// not a blocking one) whose reply was lost (`Unclear`: the node failed or fell silent after
    /// it was sent) is sent again, within the same bounds, instead of failing: reading twice
    /// changes nothing. Off by default: every `Unclear` goes to the caller. Commands that write
    /// are never re-sent.
    pub resend_unclear_reads: bool,
}

impl Default for RetryPolicy {
    /// Waits from 5 ms doubling up to 100 ms, for at most 20 s (a failover with the default
    /// `cluster-node-timeout` of 15 s fits) and 500 attempts; a topology refresh after 1 s
    /// without a reply.
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 500,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(100),
            max_wait: Duration::from_secs(20),
            refresh_when_slow: Duration::from_secs(1),
            resend_unclear_reads: false,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt + 1` (attempt 1 is the first).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        (self.base_delay * factor).min(self.max_delay)
    }

    /// What to do after attempt `attempt` (1 = the first) failed with `err` at `from`,
    /// `elapsed` after the first attempt began.
    ///
    /// `MOVED` and `ASK` are followed while attempts remain; `TRYAGAIN`, `CLUSTERDOWN`,
    /// `LOADING` wait and retry, and a command that was never sent (`NotSent`: the node was
    /// unreachable; `Closed`: its node's connection was closed before the command was
    /// written) waits and retries after a topology refresh. Everything else, and above all
    /// `Unclear` (the command may have run), goes to the caller.
    pub fn decide(
        &self,
        err: &Error,
        from: &NodeAddr,
        attempt: u32,
        elapsed: Duration,
    ) -> Decision {
        self.decide_for(err, from, attempt, elapsed, false)
    }

    /// [`RetryPolicy::decide`] for a command that reads only (and does not block) when
    /// `read_only`: with [`RetryPolicy::resend_unclear_reads`], its `Unclear` is retried after a
    /// topology refresh.
    pub fn decide_for(
        &self,
        err: &Error,
        from: &NodeAddr,
        attempt: u32,
        elapsed: Duration,
        read_only: bool,
    ) -> Decision {
        if attempt >= self.max_attempts || elapsed >= self.max_wait {
            return Decision::Fail;
        }
        let delay = self.delay(attempt);
        match Redirect::from_error(err, from) {
            Some(Redirect::Moved { slot, addr }) => Decision::Moved { slot, addr },
            Some(Redirect::Ask { addr, .. }) => Decision::Ask { addr },
            Some(Redirect::TryAgain | Redirect::NotReady) => Decision::Retry {
                delay,
                refresh: false,
            },
            Some(Redirect::ClusterDown) => Decision::Retry {
                delay,
                refresh: true,
            },
            None if matches!(err.kind(), ErrorKind::NotSent | ErrorKind::Closed) => {
                Decision::Retry {
                    delay,
                    refresh: true,
                }
            }
            None if read_only && self.resend_unclear_reads && err.is_unclear() => Decision::Retry {
                delay,
                refresh: true,
            },
            None => Decision::Fail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::ServerError;

    fn server(msg: &str) -> Error {
        Error::from_server(ServerError::new(msg.to_owned()))
    }

    fn here() -> NodeAddr {
        NodeAddr::new("10.1.1.1", 7000)
    }

    #[test]
    fn redirects_parse() {
        assert_eq!(
            Redirect::from_error(&server("MOVED 3999 127.0.0.1:6381"), &here()),
            Some(Redirect::Moved {
                slot: 3999,
                addr: NodeAddr::new("127.0.0.1", 6381)
            })
        );
        assert_eq!(
            Redirect::from_error(&server("ASK 1 ::1:7001"), &here()),
            Some(Redirect::Ask {
                slot: 1,
                addr: NodeAddr::new("::1", 7001)
            })
        );
        // An unknown endpoint: the host of the node that answered.
        assert_eq!(
            Redirect::parse("MOVED 5 :7002", &here()),
            Some(Redirect::Moved {
                slot: 5,
                addr: NodeAddr::new("10.1.1.1", 7002)
            })
        );
        assert_eq!(
            Redirect::from_error(
                &server("TRYAGAIN Multiple keys request during rehashing of slot"),
                &here()
            ),
            Some(Redirect::TryAgain)
        );
        assert_eq!(
            Redirect::parse("CLUSTERDOWN The cluster is down", &here()),
            Some(Redirect::ClusterDown)
        );
        assert_eq!(
            Redirect::parse("LOADING Valkey is loading the dataset in memory", &here()),
            Some(Redirect::NotReady)
        );
        assert_eq!(Redirect::parse("MOVED x 1:2", &here()), None);
        assert_eq!(Redirect::parse("MOVED 99999 1:2", &here()), None);
        assert_eq!(Redirect::parse("MOVED 16384 1:2", &here()), None);
        assert_eq!(Redirect::parse("ERR wrong", &here()), None);
        assert_eq!(
            Redirect::from_error(&Error::new(ErrorKind::Io, "x"), &here()),
            None
        );
    }

    #[test]
    fn unclear_reads_are_resent_only_when_asked() {
        let unclear = Error::new(ErrorKind::Unclear, "connection lost after sending");
        let asked = RetryPolicy {
            resend_unclear_reads: true,
            ..RetryPolicy::default()
        };
        let retried = |p: &RetryPolicy, read_only| {
            matches!(
                p.decide_for(&unclear, &here(), 1, Duration::ZERO, read_only),
                Decision::Retry { refresh: true, .. }
            )
        };
        assert!(retried(&asked, true));
        assert!(!retried(&asked, false), "a write is never re-sent");
        assert!(!retried(&RetryPolicy::default(), true), "off by default");
        // Within the same bounds as every retry.
        assert_eq!(
            asked.decide_for(&unclear, &here(), asked.max_attempts, Duration::ZERO, true),
            Decision::Fail
        );
    }

    #[test]
    fn decisions_never_resend_what_may_have_run() {
        let p = RetryPolicy::default();
        let unclear = Error::new(ErrorKind::Unclear, "connection lost after sending");
        assert_eq!(
            p.decide(&unclear, &here(), 1, Duration::ZERO),
            Decision::Fail
        );
        let closed = Error::new(ErrorKind::Closed, "closed before it was written");
        assert!(matches!(
            p.decide(&closed, &here(), 1, Duration::ZERO),
            Decision::Retry { refresh: true, .. }
        ));
        let io = Error::new(ErrorKind::Io, "reset");
        assert_eq!(p.decide(&io, &here(), 1, Duration::ZERO), Decision::Fail);
        let not_sent = Error::new(ErrorKind::NotSent, "refused");
        assert_eq!(
            p.decide(&not_sent, &here(), 1, Duration::ZERO),
            Decision::Retry {
                delay: Duration::from_millis(5),
                refresh: true
            }
        );
        assert_eq!(
            p.decide(&server("MOVED 1 h:1"), &here(), 3, Duration::ZERO),
            Decision::Moved {
                slot: 1,
                addr: NodeAddr::new("h", 1)
            }
        );
        assert_eq!(
            p.decide(&server("ASK 1 h:1"), &here(), 3, Duration::ZERO),
            Decision::Ask {
                addr: NodeAddr::new("h", 1)
            }
        );
        assert_eq!(
            p.decide(&server("TRYAGAIN"), &here(), 2, Duration::ZERO),
            Decision::Retry {
                delay: Duration::from_millis(10),
                refresh: false
            }
        );
        assert_eq!(
            p.decide(&server("WRONGTYPE x"), &here(), 1, Duration::ZERO),
            Decision::Fail
        );
        // Bounded: the last attempt's error goes to the caller, as does one past the time budget.
        assert_eq!(
            p.decide(&server("TRYAGAIN"), &here(), p.max_attempts, Duration::ZERO),
            Decision::Fail
        );
        assert_eq!(
            p.decide(&server("TRYAGAIN"), &here(), 2, p.max_wait),
            Decision::Fail
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1), Duration::from_millis(5));
        assert_eq!(p.delay(2), Duration::from_millis(10));
        assert_eq!(p.delay(5), Duration::from_millis(80));
        assert_eq!(p.delay(6), Duration::from_millis(100));
        assert_eq!(p.delay(1000), Duration::from_millis(100));
    }
}
