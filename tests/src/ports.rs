//! Free loopback ports for test servers. The kernel picks a free port (bind to port 0); a
//! process-wide set makes sure this process never hands the same port out twice, and the server
//! start retries with new ports when another process took one in between.

use crate::error::{HarnessError, Result};
use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::{Mutex, OnceLock};

fn handed_out() -> &'static Mutex<HashSet<u16>> {
    static PORTS: OnceLock<Mutex<HashSet<u16>>> = OnceLock::new();
    PORTS.get_or_init(|| Mutex::new(HashSet::new()))
}

/// A loopback port that is free now and that this process has not handed out before.
///
/// Another process may still take it before the server binds it; [`crate::Server::start`]
/// handles that by retrying with new ports.
pub fn free_port() -> Result<u16> {
    let mut last_err = None;
    for _ in 0..200 {
        match TcpListener::bind((Ipv4Addr::LOCALHOST, 0)) {
            Ok(listener) => {
                let port = listener
                    .local_addr()
                    .map_err(|e| HarnessError::io("reading a bound port", e))?
                    .port();
                let mut set = handed_out().lock().unwrap_or_else(|p| p.into_inner());
                if set.insert(port) {
                    return Ok(port);
                }
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(match last_err {
        Some(e) => HarnessError::io("finding a free loopback port", e),
        None => HarnessError::new("finding a free loopback port: every port offered was used"),
    })
}
