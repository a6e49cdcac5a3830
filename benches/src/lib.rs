//! Shared code of the benchmark binaries.
