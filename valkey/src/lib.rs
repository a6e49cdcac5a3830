//! A typed Valkey client. Every server command has a generated builder in [`cmd`] whose reply type
//! is known; one command value runs on every executor (sync and async connections, pipelines,
//! transactions).
#![warn(missing_docs)]

// Lets `#[derive(FromValkey)]`'s `::valkey::...` paths resolve inside this crate too.
extern crate self as valkey;

pub mod cmd;
pub mod convert;
pub mod error;
pub mod resp;
pub mod value;

pub use cmd::{Cmd, Command};
#[cfg(feature = "json")]
pub use convert::Json;
pub use convert::{FromValkey, ToValkeyArg, ToValkeyArgs};
pub use error::{Error, ErrorKind, Result};
pub use valkey_typed_macros::{FromValkey, ToValkeyArgs};
pub use value::{ServerError, Value};
