//! The command generator: read Valkey's command JSON, normalize it into an IR, apply the validated
//! overrides, emit Rust with `quote`, format it.

pub mod dump;
pub mod spec;
