//! Fetching the specs from a live server for `codegen dump`: `COMMAND DOCS` and `COMMAND INFO`
//! over RESP3 with the project's own client (raw `Cmd`s, so the dumper does not depend on the
//! builders it feeds), converted to JSON for [`crate::dump`].

use crate::dump::{self, Files};
use serde_json::{Map, Number, Value as Json};
use valkey::{Cmd, Value};

/// A reply as JSON: maps become objects (keys as text), sets and arrays become arrays.
pub fn to_json(v: Value) -> Result<Json, String> {
    Ok(match v {
        Value::Nil => Json::Null,
        Value::Int(i) => Json::Number(i.into()),
        Value::Double(d) => Number::from_f64(d).map(Json::Number).unwrap_or(Json::Null),
        Value::Boolean(b) => Json::Bool(b),
        Value::Array(a) | Value::Set(a) | Value::Push(a) => {
            Json::Array(a.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Value::Map(m) => {
            let mut o = Map::new();
            for (k, v) in m {
                let k = match to_json(k)? {
                    Json::String(s) => s,
                    other => other.to_string(),
                };
                o.insert(k, to_json(v)?);
            }
            Json::Object(o)
        }
        Value::Attribute { data, .. } => to_json(*data)?,
        Value::ServerError(e) => return Err(format!("server error in reply: {e:?}")),
        other => match other.as_bytes() {
            Some(b) => Json::String(
                String::from_utf8(b.to_vec()).map_err(|_| "a reply string is not UTF-8")?,
            ),
            None => return Err(format!("unexpected reply type {}", other.kind_name())),
        },
    })
}

fn server_version(info: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix("valkey_version:"))
        .map(|v| v.trim().to_string())
}

/// Dumps the specs of the server at `url` (`valkey://host:port`).
pub fn dump_url(url: &str) -> Result<Files, String> {
    let err = |e: valkey::Error| format!("{url}: {e}");
    let client = valkey::Client::open(url).map_err(err)?;
    let mut con = client.get_connection().map_err(err)?;
    let docs = con.send(Cmd::new("COMMAND").arg("DOCS")).map_err(err)?;
    let info = con.send(Cmd::new("COMMAND").arg("INFO")).map_err(err)?;
    let server: String = con
        .send(Cmd::new("INFO").arg("server").returning::<String>())
        .map_err(err)?;
    let version =
        server_version(&server).ok_or("INFO server has no valkey_version: not a Valkey server")?;
    dump::files_from_replies(&to_json(docs)?, &to_json(info)?, &version)
}

/// Starts a `valkey-server` (the test harness's), dumps its specs, and stops it.
pub fn dump_new_server() -> Result<Files, String> {
    let server =
        valkey_tests::Server::valkey().map_err(|e| format!("starting valkey-server: {e}"))?;
    dump_url(&server.url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn replies_convert_to_json() {
        let v = Value::Map(vec![
            (
                Value::BulkString(Bytes::from_static(b"get")),
                Value::Array(vec![
                    Value::Int(2),
                    Value::Set(vec![Value::SimpleString(Bytes::from_static(b"fast"))]),
                ]),
            ),
            (Value::BulkString(Bytes::from_static(b"n")), Value::Nil),
        ]);
        assert_eq!(
            to_json(v).unwrap(),
            serde_json::json!({"get": [2, ["fast"]], "n": null})
        );
        assert!(to_json(Value::BulkString(Bytes::from_static(b"\xff"))).is_err());
    }

    #[test]
    fn version_comes_from_info() {
        assert_eq!(
            server_version("# Server\r\nredis_version:7.2.4\r\nvalkey_version:9.1.2\r\n")
                .as_deref(),
            Some("9.1.2")
        );
        assert_eq!(server_version("redis_version:7.0.0\r\n"), None);
    }
}
