//! Opening an async socket (TCP or Unix) and running the shared handshake over it.

use crate::config::{Addr, ConnectionInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::proto::{self, Handshake, ReadBuffer, ServerInfo};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The read half of a connection's socket.
pub(crate) type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection's socket.
pub(crate) type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Opens a socket and runs the handshake, all within the connect timeout.
pub(crate) async fn establish(
    info: &ConnectionInfo,
) -> Result<(BoxRead, BoxWrite, ReadBuffer, ServerInfo)> {
    let fut = async {
        let (mut r, mut w) = connect(info).await?;
        let mut rbuf = ReadBuffer::new(info.limits);
        let server = handshake(info, &mut r, &mut w, &mut rbuf).await?;
        Ok((r, w, rbuf, server))
    };
    match info.connect_timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| Error::connect_timeout(&info.addr, t))?,
        None => fut.await,
    }
}

/// Connects to the server in `info` (TCP or Unix, and TLS).
async fn connect(info: &ConnectionInfo) -> Result<(BoxRead, BoxWrite)> {
    {
        match &info.addr {
            #[cfg(not(feature = "tls"))]
            Addr::Tcp { tls: true, .. } => Err(Error::invalid_config(
                "TLS (valkeys://, rediss://) needs the `tls` feature of valkey-typed",
            )),
            #[cfg(feature = "tls")]
            Addr::Tcp {
                host,
                port,
                tls: true,
            } => {
                let s = tcp_connect(host, *port, info).await?;
                let config = crate::tls::client_config(&info.tls)?;
                let name = crate::tls::server_name(host, &info.tls)?;
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, s)
                    .await
                    .map_err(|e| {
                        crate::tls::handshake_error(&info.addr, e, |e| {
                            Error::io(
                                format!("TLS handshake with {} failed", info.addr.endpoint()),
                                e,
                            )
                        })
                    })?;
                let (r, w) = tokio::io::split(tls);
                Ok((Box::new(r) as BoxRead, Box::new(w) as BoxWrite))
            }
            Addr::Tcp { host, port, .. } => {
                let s = tcp_connect(host, *port, info).await?;
                let (r, w) = s.into_split();
                Ok((Box::new(r) as BoxRead, Box::new(w) as BoxWrite))
            }
            #[cfg(unix)]
            Addr::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path).await.map_err(|e| {
                    Error::io(format!("could not connect to {}", info.addr.endpoint()), e)
                })?;
                let (r, w) = s.into_split();
                Ok((Box::new(r) as BoxRead, Box::new(w) as BoxWrite))
            }
            #[cfg(not(unix))]
            Addr::Unix(_) => Err(Error::invalid_config("Unix sockets need a Unix platform")),
        }
    }
}

/// A TCP connection to `host:port` with the socket options `info` asks for.
async fn tcp_connect(
    host: &str,
    port: u16,
    info: &ConnectionInfo,
) -> Result<tokio::net::TcpStream> {
    let s = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| Error::io(format!("could not connect to {}", info.addr.endpoint()), e))?;
    crate::keepalive::configure_tcp(&s, info)?;
    s.set_nodelay(info.tcp_nodelay)
        .map_err(|e| Error::io("could not set TCP_NODELAY", e))?;
    Ok(s)
}

/// Runs the handshake over a fresh socket.
async fn handshake(
    info: &ConnectionInfo,
    r: &mut BoxRead,
    w: &mut BoxWrite,
    rbuf: &mut ReadBuffer,
) -> Result<ServerInfo> {
    let mut hs = Handshake::new(info);
    let mut out = Vec::new();
    loop {
        out.clear();
        let n = hs.next_batch(&mut out);
        if n == 0 {
            break;
        }
        w.write_all(&out).await.map_err(|e| {
            Error::io(
                format!("writing the handshake to {} failed", info.addr.endpoint()),
                e,
            )
        })?;
        let mut replies = Vec::with_capacity(n);
        while replies.len() < n {
            match rbuf.next_frame()? {
                Some(f) if proto::is_push(&f) => {}
                Some(f) => replies.push(proto::decode_value(&f)?),
                None => {
                    let got = r.read(rbuf.spare()).await.map_err(|e| {
                        Error::io(
                            format!(
                                "reading the handshake reply from {} failed",
                                info.addr.endpoint()
                            ),
                            e,
                        )
                    })?;
                    if got == 0 {
                        return Err(Error::new(
                            ErrorKind::Io,
                            format!(
                                "{} closed the connection during the handshake",
                                info.addr.endpoint()
                            ),
                        ));
                    }
                    rbuf.advance(got);
                }
            }
        }
        hs.on_replies(replies)?;
    }
    Ok(hs.server_info().clone())
}
