//! Server-frame decoding on arbitrary text: never panics, and the typed accessors of every
//! decoded frame hold up. The body is `tcm_fuzz::server_frame::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcm_fuzz::server_frame::run(data));
