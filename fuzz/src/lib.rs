//! Bodies of the fuzz targets, one function per target.
//!
//! The `fuzz_targets/*.rs` binaries only hand libFuzzer's input to these functions, so the same
//! code runs in two ways: under `cargo +nightly fuzz run <target>` (coverage-guided, with the
//! libFuzzer runtime), and on stable through `tests/replay.rs`, which calls each function on
//! every committed seed (`seeds/<target>/`) and every corpus file (`corpus/<target>/`).
//!
//! Every function panics on a broken property and never allocates without bound: sequences of
//! operations, strings and lists taken from the input are capped.

pub mod connection;
pub mod input;
pub mod jsonrpc;
pub mod server_frame;
pub mod testserver_frame;

/// A target body: one input, panics on a broken property.
pub type Target = fn(&[u8]);

/// The targets, by name, as `fuzz_targets/<name>.rs` and `seeds/<name>/` call them.
pub const TARGETS: [(&str, Target); 4] = [
    ("server_frame", server_frame::run),
    ("connection", connection::run),
    ("jsonrpc", jsonrpc::run),
    ("testserver_frame", testserver_frame::run),
];
