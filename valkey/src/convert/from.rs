//! `FromValkey` impls for std types and `Value`.

use super::FromValkey;
use crate::error::Result;
use crate::value::Value;

impl FromValkey for Value {
    fn from_valkey(value: Value) -> Result<Self> {
        Ok(value)
    }
}
