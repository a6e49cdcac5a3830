//! The test-server harness: finds and starts real `valkey-server` / `redis-server` processes on free
//! loopback ports, for integration tests and benchmarks.
