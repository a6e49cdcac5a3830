//! TCP keepalive on a connected socket (std and tokio have no setter for it), through socket2:
//! `SO_KEEPALIVE` plus the idle time before the first probe and the interval between probes.

/// Applies `info.keepalive` to a freshly connected TCP socket (sync or async alike).
#[cfg(any(unix, windows))]
pub(crate) fn configure_tcp<'s, S>(
    socket: &'s S,
    info: &crate::config::ConnectionInfo,
) -> crate::error::Result<()>
where
    socket2::SockRef<'s>: From<&'s S>,
{
    let Some(idle) = info.keepalive else {
        return Ok(());
    };
    let idle = idle.max(std::time::Duration::from_secs(1));
    let keepalive = socket2::TcpKeepalive::new().with_time(idle);
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
    let keepalive = keepalive.with_interval(idle);
    socket2::SockRef::from(socket)
        .set_tcp_keepalive(&keepalive)
        .map_err(|e| crate::error::Error::io("could not set TCP keepalive", e))
}

/// Keepalive is left to the platform's defaults here.
#[cfg(not(any(unix, windows)))]
pub(crate) fn configure_tcp<S>(
    _socket: &S,
    _info: &crate::config::ConnectionInfo,
) -> crate::error::Result<()> {
    Ok(())
}
