//! The JSON-RPC classifier on arbitrary text, and an `RpcSession` driven by arbitrary frames,
//! calls, replies, heartbeats, time steps and closes. The body is `tcm_fuzz::jsonrpc::run`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tcm_fuzz::jsonrpc::run(data));
