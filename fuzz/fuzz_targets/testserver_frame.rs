//! Feeds arbitrary text to the test server's per-frame session logic, before and after auth,
//! and to the inference path. The property: nothing panics, and every answer is JSON.
//! The body is `tcm_fuzz::testserver_frame::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcm_fuzz::testserver_frame::run(data));
