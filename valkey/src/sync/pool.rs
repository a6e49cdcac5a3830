//! A blocking connection pool (valkey-py's `BlockingConnectionPool`): at most `max_size`
//! connections, a checkout waits up to `wait_timeout` for one to come back, and a connection idle
//! longer than `health_check_interval` is PINGed before it is handed out.

use super::Connection;
use crate::config::ConnectionInfo;
use crate::error::{Error, ErrorKind, Result};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Pool settings.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolConfig {
    /// Most connections open at once (default 16).
    pub max_size: usize,
    /// How long a checkout waits for a free connection (default 5 s; `None`: forever).
    pub wait_timeout: Option<Duration>,
    /// A connection idle longer than this is checked with PING on checkout (default 30 s).
    pub health_check_interval: Option<Duration>,
}

impl Default for PoolConfig {
    fn default() -> PoolConfig {
        PoolConfig {
            max_size: 16,
            wait_timeout: Some(Duration::from_secs(5)),
            health_check_interval: Some(Duration::from_secs(30)),
        }
    }
}

impl PoolConfig {
    /// Sets `max_size`.
    pub fn max_size(mut self, n: usize) -> PoolConfig {
        self.max_size = n;
        self
    }
    /// Sets `wait_timeout`.
    pub fn wait_timeout(mut self, t: Option<Duration>) -> PoolConfig {
        self.wait_timeout = t;
        self
    }
    /// Sets `health_check_interval`.
    pub fn health_check_interval(mut self, t: Option<Duration>) -> PoolConfig {
        self.health_check_interval = t;
        self
    }
}

struct Shared {
    info: Arc<ConnectionInfo>,
    config: PoolConfig,
    state: Mutex<State>,
    returned: Condvar,
}

struct State {
    idle: Vec<Connection>,
    /// Connections open or being opened, idle ones included.
    total: usize,
}

/// A pool of blocking connections. Cheap to clone; clones share the connections.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
}

impl Pool {
    /// A pool for `info` with `config`. No connection is opened until the first checkout.
    pub fn new(info: ConnectionInfo, config: PoolConfig) -> Result<Pool> {
        if config.max_size == 0 {
            return Err(Error::invalid_config(
                "a pool's max_size must be at least 1",
            ));
        }
        Ok(Pool {
            shared: Arc::new(Shared {
                info: Arc::new(info),
                config,
                state: Mutex::new(State {
                    idle: Vec::new(),
                    total: 0,
                }),
                returned: Condvar::new(),
            }),
        })
    }

    /// Checks out a connection, opening one if the pool is below `max_size`, else waiting up to
    /// `wait_timeout` for one to be returned. The whole checkout (the wait, opening a
    /// connection, resetting or checking one) stays within `wait_timeout`.
    pub fn get(&self) -> Result<PooledConnection> {
        let deadline = self.shared.config.wait_timeout.map(|t| Instant::now() + t);
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let mut state = self.lock();
        loop {
            if let Some(mut con) = state.idle.pop() {
                drop(state);
                if self.healthy(&mut con, left()) {
                    return Ok(self.wrap(con));
                }
                state = self.lock();
                state.total -= 1;
                continue;
            }
            if state.total < self.shared.config.max_size {
                state.total += 1;
                drop(state);
                return match Connection::with_info_within(Arc::clone(&self.shared.info), left()) {
                    Ok(con) => Ok(self.wrap(con)),
                    Err(e) => {
                        self.lock().total -= 1;
                        self.shared.returned.notify_one();
                        Err(e)
                    }
                };
            }
            state = match deadline {
                None => self
                    .shared
                    .returned
                    .wait(state)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return Err(Error::new(
                            ErrorKind::PoolTimeout,
                            format!(
                                "no connection to {} within {:?} (wait_timeout): all {} \
                                 connections of the pool are in use and none was returned; \
                                 return connections sooner or raise max_size / wait_timeout",
                                self.shared.info.addr.endpoint(),
                                self.shared.config.wait_timeout.unwrap_or_default(),
                                self.shared.config.max_size,
                            ),
                        ));
                    }
                    self.shared
                        .returned
                        .wait_timeout(state, d - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Connections open now (in use and idle).
    pub fn size(&self) -> usize {
        self.lock().total
    }

    /// Idle connections now.
    pub fn idle(&self) -> usize {
        self.lock().idle.len()
    }

    /// Whether an idle connection can be handed out: still open (checked without waiting),
    /// its session back to the configured one, and answering PING after a long idle time.
    fn healthy(&self, con: &mut Connection, left: Option<Duration>) -> bool {
        if !con.is_alive() {
            return false;
        }
        if con.is_dirty() {
            return con.reset_session(left).is_ok();
        }
        match self.shared.config.health_check_interval {
            Some(interval) if con.idle_for() >= interval => con.ping_within(left),
            _ => true,
        }
    }

    fn wrap(&self, con: Connection) -> PooledConnection {
        PooledConnection {
            con: Some(con),
            pool: self.clone(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("addr", &self.shared.info.addr)
            .field("config", &self.shared.config)
            .finish()
    }
}

/// A connection checked out of a [`Pool`]; it goes back to the pool when dropped (or is closed,
/// if it broke or is dropped during a panic). Session changes made with it (`SELECT`, `WATCH`,
/// an open `MULTI`, subscriptions, ...) are reset before the next user gets it.
pub struct PooledConnection {
    con: Option<Connection>,
    pool: Pool,
}

impl Deref for PooledConnection {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.con.as_ref().expect("present until drop")
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Connection {
        self.con.as_mut().expect("present until drop")
    }
}

impl std::fmt::Debug for PooledConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PooledConnection").field(&self.con).finish()
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        let Some(con) = self.con.take() else { return };
        let mut state = self.pool.lock();
        // A connection dropped while its thread panics may be mid-transaction or still
        // WATCHing: it is closed rather than handed to the next user.
        if con.is_open() && !std::thread::panicking() {
            state.idle.push(con);
        } else {
            state.total -= 1;
        }
        drop(state);
        self.pool.shared.returned.notify_one();
    }
}
