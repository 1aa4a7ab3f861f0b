//! Cross-adapter integration tests for the TCM client adapters.
//!
//! The scenarios live in `tests/matrix.rs` and run, unchanged, over the blocking, smol and
//! async-std clients against the reference test server on loopback.
