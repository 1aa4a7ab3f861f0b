//! A `tcm_proto::Connection` driven by an arbitrary sequence of requests, cancels, server
//! frames, pongs, closes, time steps and dial results, with its invariants checked after every
//! step and at the end. The body is `tcm_fuzz::connection::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcm_fuzz::connection::run(data));
