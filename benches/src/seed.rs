//! The nine operations of the seed benchmark (valkey-py's `benchmarks/basic_operations.py`), their
//! keys and values, shared by `basic_operations` and `compare`.

/// One operation of the seed benchmark, in the order it runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedOp {
    /// `SET set_str:<i> <value>` (a string of the data size).
    SetStr,
    /// `SET set_int:<i> <10^(size-1)>`.
    SetInt,
    /// `GET set_str:<i>`.
    GetStr,
    /// `GET set_int:<i>`.
    GetInt,
    /// `INCR incr_key`.
    Incr,
    /// `LPUSH lpush_key <10^(size-1)>`.
    Lpush,
    /// `LRANGE lpush_key <i> <i+299>`: 300 elements (the seed's `i+300` would give 301).
    Lrange300,
    /// `LPOP lpush_key`.
    Lpop,
    /// `HSET hmset_key str_value string int_value 123456 float_value 123456.0` (the seed's
    /// `hmset`; HMSET is deprecated and HSET takes several fields).
    Hmset,
}

impl SeedOp {
    /// All nine, in the seed's order.
    pub const ALL: [SeedOp; 9] = [
        SeedOp::SetStr,
        SeedOp::SetInt,
        SeedOp::GetStr,
        SeedOp::GetInt,
        SeedOp::Incr,
        SeedOp::Lpush,
        SeedOp::Lrange300,
        SeedOp::Lpop,
        SeedOp::Hmset,
    ];

    /// The seed's name for it.
    pub fn name(self) -> &'static str {
        match self {
            SeedOp::SetStr => "set_str",
            SeedOp::SetInt => "set_int",
            SeedOp::GetStr => "get_str",
            SeedOp::GetInt => "get_int",
            SeedOp::Incr => "incr",
            SeedOp::Lpush => "lpush",
            SeedOp::Lrange300 => "lrange_300",
            SeedOp::Lpop => "lpop",
            SeedOp::Hmset => "hmset",
        }
    }

    /// The server command it sends, as `INFO commandstats` names it.
    pub fn server_command(self) -> &'static str {
        match self {
            SeedOp::SetStr | SeedOp::SetInt => "set",
            SeedOp::GetStr | SeedOp::GetInt => "get",
            SeedOp::Incr => "incr",
            SeedOp::Lpush => "lpush",
            SeedOp::Lrange300 => "lrange",
            SeedOp::Lpop => "lpop",
            SeedOp::Hmset => "hset",
        }
    }

    /// The key prefix of its per-request keys, or its one key.
    pub fn key_prefix(self) -> &'static str {
        match self {
            SeedOp::SetStr | SeedOp::GetStr => "set_str",
            SeedOp::SetInt | SeedOp::GetInt => "set_int",
            SeedOp::Incr => "incr_key",
            SeedOp::Lpush | SeedOp::Lrange300 | SeedOp::Lpop => LIST_KEY,
            SeedOp::Hmset => HASH_KEY,
        }
    }
}

/// The list `lpush`, `lrange_300` and `lpop` work on.
pub const LIST_KEY: &str = "lpush_key";
/// The hash `hmset` writes.
pub const HASH_KEY: &str = "hmset_key";
/// How many elements `lrange_300` reads.
pub const LRANGE_LEN: i64 = 300;
/// The fields `hmset` writes (field, value).
pub const HASH_FIELDS: [(&str, &str); 3] = [
    ("str_value", "string"),
    ("int_value", "123456"),
    ("float_value", "123456.0"),
];

/// The values of one run, from the data size (`-s`).
#[derive(Clone, Debug)]
pub struct SeedData {
    /// `"a"` padded with `'0'` to the data size.
    pub str_value: bytes::Bytes,
    /// `10^(size-1)`, saturating at `i64::MAX` for huge sizes.
    pub int_value: i64,
}

impl SeedData {
    /// The values for a data size of `size` bytes (at least 1).
    pub fn new(size: usize) -> SeedData {
        let size = size.max(1);
        let mut s = vec![b'0'; size];
        s[0] = b'a';
        let int_value = 10i64.checked_pow(size as u32 - 1).unwrap_or(i64::MAX);
        SeedData {
            str_value: s.into(),
            int_value,
        }
    }
}

/// `prefix:0` .. `prefix:(n-1)`, made before a run so that formatting keys is not measured.
pub fn keys(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_follow_the_seed() {
        let d = SeedData::new(2);
        assert_eq!(&d.str_value[..], b"a0");
        assert_eq!(d.int_value, 10);
        let d = SeedData::new(1);
        assert_eq!((&d.str_value[..], d.int_value), (&b"a"[..], 1));
        assert_eq!(SeedData::new(40).int_value, i64::MAX);
        assert_eq!(keys("set_str", 2), ["set_str:0", "set_str:1"]);
    }
}
