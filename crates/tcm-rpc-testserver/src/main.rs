//! `tcm-rpc-testserver`: runs the reference Tellurio JSON-RPC server until killed.
//!
//! Usage: `tcm-rpc-testserver [--bind ADDR] [--api-key KEY]`. The first line of stdout is the
//! WebSocket URL.

use std::io::Write;
use std::net::SocketAddr;

use tcm_rpc_testserver::{RpcServerConfig, RpcTestServer};

const USAGE: &str = "usage: tcm-rpc-testserver [--bind ADDR] [--api-key KEY]";

fn parse(args: impl Iterator<Item = String>) -> Result<RpcServerConfig, String> {
    let mut cfg = RpcServerConfig::default();
    let mut args = args;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bind" => {
                let v = args.next().ok_or("--bind needs an address")?;
                cfg.bind = v
                    .parse::<SocketAddr>()
                    .map_err(|e| format!("bad --bind {v}: {e}"))?;
            }
            "--api-key" => cfg.api_key = args.next().ok_or("--api-key needs a value")?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    Ok(cfg)
}

fn main() {
    let cfg = match parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let server = match RpcTestServer::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout();
    let _ = writeln!(out, "{}", server.url());
    let _ = out.flush();
    loop {
        std::thread::park();
    }
}
