//! TCP keepalive on a connected socket (std and tokio have no setter for it): `SO_KEEPALIVE`
//! plus the idle time before the first probe, through `setsockopt` on Linux and macOS; other
//! platforms keep their defaults.

use std::io;
use std::time::Duration;

#[cfg(any(target_os = "linux", target_os = "macos"))]
mod sys {
    use std::os::raw::{c_int, c_void};

    extern "C" {
        pub fn setsockopt(
            fd: c_int,
            level: c_int,
            name: c_int,
            value: *const c_void,
            len: u32,
        ) -> c_int;
    }

    #[cfg(target_os = "linux")]
    pub const SOL_SOCKET: c_int = 1;
    #[cfg(target_os = "linux")]
    pub const SO_KEEPALIVE: c_int = 9;
    #[cfg(target_os = "linux")]
    pub const TCP_KEEPIDLE: c_int = 4;
    #[cfg(target_os = "linux")]
    pub const TCP_KEEPINTVL: c_int = 5;

    #[cfg(target_os = "macos")]
    pub const SOL_SOCKET: c_int = 0xffff;
    #[cfg(target_os = "macos")]
    pub const SO_KEEPALIVE: c_int = 0x0008;
    #[cfg(target_os = "macos")]
    pub const TCP_KEEPIDLE: c_int = 0x10; // TCP_KEEPALIVE
    #[cfg(target_os = "macos")]
    pub const TCP_KEEPINTVL: c_int = 0x101;

    pub const IPPROTO_TCP: c_int = 6;

    pub fn set(fd: c_int, level: c_int, name: c_int, value: c_int) -> std::io::Result<()> {
        // SAFETY: `value` lives for the call and its size is passed; `fd` is an open socket
        // borrowed from its owner for the duration of the call.
        let r = unsafe {
            setsockopt(
                fd,
                level,
                name,
                &value as *const c_int as *const c_void,
                std::mem::size_of::<c_int>() as u32,
            )
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

/// Applies `info.keepalive` to a freshly connected socket (sync or async alike).
#[cfg(unix)]
pub(crate) fn configure_tcp(
    socket: &impl std::os::fd::AsRawFd,
    info: &crate::config::ConnectionInfo,
) -> crate::error::Result<()> {
    match info.keepalive {
        Some(idle) => enable(socket, idle)
            .map_err(|e| crate::error::Error::io("could not set TCP keepalive", e)),
        None => Ok(()),
    }
}

/// Keepalive is left to the platform's defaults here.
#[cfg(not(unix))]
pub(crate) fn configure_tcp<S>(
    _socket: &S,
    _info: &crate::config::ConnectionInfo,
) -> crate::error::Result<()> {
    Ok(())
}

/// Turns keepalive on for `socket`, probing after `idle` without traffic (and then every
/// `idle`, at least 1 s).
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub(crate) fn enable(socket: &impl std::os::fd::AsRawFd, idle: Duration) -> io::Result<()> {
    let fd = socket.as_raw_fd();
    let secs = idle.as_secs().clamp(1, i32::MAX as u64) as i32;
    sys::set(fd, sys::SOL_SOCKET, sys::SO_KEEPALIVE, 1)?;
    sys::set(fd, sys::IPPROTO_TCP, sys::TCP_KEEPIDLE, secs)?;
    sys::set(fd, sys::IPPROTO_TCP, sys::TCP_KEEPINTVL, secs)
}

/// Keepalive is left to the platform's defaults here.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
pub(crate) fn enable<S>(_socket: &S, _idle: Duration) -> io::Result<()> {
    Ok(())
}
