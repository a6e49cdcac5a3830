//! The commands the benchmarks send with our client, built in this one place so that moving from
//! raw `Cmd`s to the generated builders (`valkey::cmd::set`, ...) is one edit here.
//!
//! Until the builders land these are raw commands read into fixed types with `returning`.

use crate::seed::HASH_FIELDS;
use bytes::Bytes;
use valkey::{Cmd, Command};

/// `SET key value`.
#[inline]
pub fn set(key: &str, value: &[u8]) -> impl Command<Output = ()> {
    Cmd::new("SET").arg(key).arg(value).returning::<()>()
}

/// `SET key <integer>`.
#[inline]
pub fn set_int(key: &str, value: i64) -> impl Command<Output = ()> {
    Cmd::new("SET").arg(key).arg(value).returning::<()>()
}

/// `GET key`, read as bytes.
#[inline]
pub fn get(key: &str) -> impl Command<Output = Option<Bytes>> {
    Cmd::new("GET").arg(key).returning::<Option<Bytes>>()
}

/// `INCR key`.
#[inline]
pub fn incr(key: &str) -> impl Command<Output = i64> {
    Cmd::new("INCR").arg(key).returning::<i64>()
}

/// `LPUSH key <integer>`.
#[inline]
pub fn lpush(key: &str, value: i64) -> impl Command<Output = i64> {
    Cmd::new("LPUSH").arg(key).arg(value).returning::<i64>()
}

/// `LRANGE key start stop`, read as bytes.
#[inline]
pub fn lrange(key: &str, start: i64, stop: i64) -> impl Command<Output = Vec<Bytes>> {
    Cmd::new("LRANGE")
        .arg(key)
        .arg(start)
        .arg(stop)
        .returning::<Vec<Bytes>>()
}

/// `LPOP key`, read as bytes.
#[inline]
pub fn lpop(key: &str) -> impl Command<Output = Option<Bytes>> {
    Cmd::new("LPOP").arg(key).returning::<Option<Bytes>>()
}

/// `HSET key` with the seed's three fields.
#[inline]
pub fn hset_fields(key: &str) -> impl Command<Output = i64> {
    let mut c = Cmd::new("HSET").arg(key);
    for (field, value) in HASH_FIELDS {
        c = c.arg(field).arg(value);
    }
    c.returning::<i64>()
}
