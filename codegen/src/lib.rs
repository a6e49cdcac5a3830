//! The command generator: read Valkey's command JSON, normalize it into an IR, apply the validated
//! overrides, emit Rust with `quote`, format it.

pub mod dump;
pub mod emit;
pub mod ir;
#[cfg(feature = "dump")]
pub mod live;
pub mod names;
pub mod overlay;
pub mod shape;
pub mod spec;
