//! The command generator: read Valkey's command JSON, normalize it into an IR, apply the validated
//! overrides, emit Rust with `quote`, format it.
//!
//! - [`dump`] / `live`: `COMMAND DOCS` + `COMMAND INFO` of a live server → `commands-json/*.json`
//!   (Valkey's upstream schema, sorted keys, `_server.json` with the version);
//! - [`spec`] (read): serde structs mirroring that schema;
//! - [`ir`] (normalize): command paths, argument trees with kinds and flags, parsed versions;
//! - [`overlay`] (overrides): `commands-json/_overlay.json`, the project's reply types and the few
//!   things the spec cannot say, validated against the specs;
//! - [`shape`]: each builder's parameters, methods, typestate slots, write order and reply type,
//!   as typed values (`Ty`, `Part`), never Rust text;
//! - [`emit`] (emit + format): Rust per command group into `valkey/src/cmd/generated/`, the
//!   lookup table, and the invocations the live tests use (one minimal invocation per command,
//!   sent by the conformance test and encoded by the key test, plus the overlay's key examples;
//!   every builder path — each option and oneof choice added to the minimal invocation — for
//!   the path test).
//!
//! [`replies`] checks the overlay's reply types against the `reply_schema` of Valkey's own
//! command JSON (kept outside the project). Special cases live in the overlay, never in the
//! emitter.

pub mod dump;
pub mod emit;
pub mod ir;
#[cfg(feature = "dump")]
pub mod live;
pub mod names;
pub mod overlay;
pub mod replies;
pub mod shape;
pub mod spec;
