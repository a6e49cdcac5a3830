//! The commands the benchmarks send with our client, built in this one place: the generated typed
//! builders (`valkey::cmd::set`, ...), which allocate nothing per command, with the reply types
//! the benchmarks read.

use crate::seed::HASH_FIELDS;
use bytes::Bytes;
use valkey::{cmd, Command};

/// `SET key value`.
#[inline]
pub fn set<'a>(key: &'a str, value: &'a [u8]) -> impl Command<Output = ()> + 'a {
    cmd::set(key, value)
}

/// `SET key <integer>`.
#[inline]
pub fn set_int(key: &str, value: i64) -> impl Command<Output = ()> + '_ {
    cmd::set(key, value)
}

/// `GET key`, read as bytes.
#[inline]
pub fn get(key: &str) -> impl Command<Output = Option<Bytes>> + '_ {
    cmd::get::<_, Option<Bytes>>(key)
}

/// `INCR key`.
#[inline]
pub fn incr(key: &str) -> impl Command<Output = i64> + '_ {
    cmd::incr(key)
}

/// `LPUSH key <integer>`.
#[inline]
pub fn lpush(key: &str, value: i64) -> impl Command<Output = i64> + '_ {
    cmd::lpush(key, value)
}

/// `LRANGE key start stop`, read as bytes.
#[inline]
pub fn lrange(key: &str, start: i64, stop: i64) -> impl Command<Output = Vec<Bytes>> + '_ {
    cmd::lrange::<_, Vec<Bytes>>(key, start, stop)
}

/// `LPOP key`, read as bytes.
#[inline]
pub fn lpop(key: &str) -> impl Command<Output = Option<Bytes>> + '_ {
    cmd::lpop::<_, Option<Bytes>>(key)
}

/// `HSET key` with the seed's three fields.
#[inline]
pub fn hset_fields(key: &str) -> impl Command<Output = i64> + '_ {
    cmd::hset(key, HASH_FIELDS)
}
