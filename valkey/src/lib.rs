//! A typed Valkey client. Every server command has a generated builder in [`cmd`] whose reply type
//! is known; one command value runs on every executor (sync and async connections, pipelines,
//! transactions).
#![warn(missing_docs)]

pub mod cmd;
pub mod convert;
pub mod error;
pub mod resp;
pub mod routing;
pub mod value;

pub use cmd::{Cmd, Command};
pub use convert::{FromValkey, ToValkeyArg, ToValkeyArgs};
pub use error::{Error, ErrorKind, Result};
pub use valkey_typed_macros::{FromValkey, ToValkeyArgs};
pub use value::{ServerError, Value};
