//! The sans-IO protocol core shared by the sync and async connections: the handshake as data,
//! turning a reply frame into the caller's type, telling push frames from replies, and the
//! server-version check made before a command is sent.

mod handshake;
mod readbuf;
pub(crate) mod session;

pub use handshake::{Handshake, ServerFlavor, ServerInfo};
pub use readbuf::ReadBuffer;

use crate::cmd::{Command, CommandMeta, Version};
use crate::convert::FromValkey;
use crate::error::{Error, ErrorKind, Result};
use crate::resp::FrameReader;
use crate::value::{ServerError, Value};
use bytes::Bytes;

/// Whether a complete frame is an out-of-band push (RESP3 `>`), never a reply to a command.
#[inline]
pub fn is_push(frame: &[u8]) -> bool {
    frame.first() == Some(&b'>')
}

/// Reads a complete reply frame into `T`. An error reply becomes `Err` with the server's code;
/// a leading attribute is skipped.
#[inline]
pub fn decode_reply<T: FromValkey>(frame: &Bytes) -> Result<T> {
    match frame.first() {
        Some(b'-' | b'!') => match FrameReader::new(frame).read_value()? {
            Value::ServerError(e) => Err(Error::from_server(e)),
            other => T::from_valkey(other),
        },
        // An attribute rides along with its reply: `Value` keeps it, other types skip it.
        Some(b'|') => {
            let value = FrameReader::new(frame).read_value()?;
            if let Value::Attribute { data, .. } = &value {
                if let Value::ServerError(e) = &**data {
                    return Err(Error::from_server(e.clone()));
                }
            }
            T::from_valkey(value)
        }
        _ => T::from_frame(&mut FrameReader::new(frame)),
    }
}

/// Decodes a reply frame into a `Value`, keeping an error reply as `Value::ServerError`.
pub fn decode_value(frame: &Bytes) -> Result<Value> {
    FrameReader::new(frame).read_value()
}

/// Checks, before sending, that the connected server can run `cmd` with the arguments given.
///
/// Valkey's specs give Redis's versions for commands older than Valkey (up to 7.2) and Valkey's
/// own versions (8.0 and later) after. A Redis server is therefore compared directly only for
/// versions up to 7.2; anything newer is Valkey-only and refused on Redis older than 8, and not
/// judged on later Redis (whose 8.x is another line). An unknown server is never blocked.
pub fn check_supported<C: Command + ?Sized>(cmd: &C, server: &ServerInfo) -> Result<()> {
    let Some(meta) = cmd.meta() else {
        return Ok(());
    };
    let Some(have) = server.version else {
        return Ok(());
    };
    let need = match cmd.min_version() {
        Some(v) if v > meta.since => v,
        _ => meta.since,
    };
    if need <= have {
        return Ok(());
    }
    let valkey_era = need >= Version::new(8, 0, 0);
    let refuse = match server.flavor {
        ServerFlavor::Valkey => true,
        ServerFlavor::Redis => !valkey_era || have < Version::new(8, 0, 0),
        ServerFlavor::Unknown => false,
    };
    if !refuse {
        return Ok(());
    }
    Err(crate::cmd::name_argument_needing(
        cmd,
        unsupported(meta, need, valkey_era, server),
    ))
}

fn unsupported(meta: &CommandMeta, need: Version, valkey_era: bool, server: &ServerInfo) -> Error {
    let what = if need > meta.since {
        format!("an argument given to {} needs", meta.name)
    } else {
        format!("{} needs", meta.name)
    };
    let product = if valkey_era {
        "Valkey"
    } else {
        "server version"
    };
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{what} {product} {need} or later, but the connected server is {} {}; \
             the command was not sent",
            server.flavor,
            server.version.map(|v| v.to_string()).unwrap_or_default()
        ),
    )
}

/// An auth-classified error from a server error seen during the handshake.
pub(crate) fn auth_error(e: ServerError, during: &str, addr: &crate::config::Addr) -> Error {
    let code = e.code().to_string();
    let kind = match code.as_str() {
        "WRONGPASS" | "NOAUTH" | "NOPERM" | "ERR" if is_auth_message(&e) => ErrorKind::Auth,
        "NOPERM" => ErrorKind::NoPermission,
        _ => ErrorKind::Server,
    };
    let hint = if kind == ErrorKind::Auth {
        "; check the user name and password"
    } else {
        ""
    };
    Error::from_server(e)
        .with_kind(kind)
        .context(format!("{during} with {} failed{hint}", addr.endpoint()))
}

fn is_auth_message(e: &ServerError) -> bool {
    let m = e.as_bytes();
    let code = e.code();
    code == "WRONGPASS"
        || code == "NOAUTH"
        || code == "NOPERM"
        || m.windows(8).any(|w| w.eq_ignore_ascii_case(b"password"))
        || m.windows(4).any(|w| w == b"AUTH")
}
