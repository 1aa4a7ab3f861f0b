//! `tcm-testserver`: runs a TCM reference server until killed.
//!
//! Usage: `tcm-testserver [--bind ADDR] [--profile NAME] [--seed N] [--max-message-bytes N]`.
//! The first line on stdout is the WebSocket URL.

use std::io::Write;
use std::process::ExitCode;
use tcm_testserver::{Config, TestServer};

const USAGE: &str =
    "usage: tcm-testserver [--bind ADDR] [--profile NAME] [--seed N] [--max-message-bytes N]";

fn parse(args: &[String]) -> Result<Config, String> {
    let mut profile = "dev-simple".to_string();
    let mut bind = None;
    let mut seed = None;
    let mut max = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--bind" => bind = Some(value("--bind")?),
            "--profile" => profile = value("--profile")?,
            "--seed" => seed = Some(value("--seed")?),
            "--max-message-bytes" => max = Some(value("--max-message-bytes")?),
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    let mut cfg = Config::profile(&profile)
        .map_err(|e| format!("{e}; known profiles: {}", Config::PROFILES.join(", ")))?;
    if let Some(b) = bind {
        cfg.bind = b
            .parse()
            .map_err(|_| format!("invalid --bind address '{b}'"))?;
    }
    if let Some(s) = seed {
        cfg.seed = s.parse().map_err(|_| format!("invalid --seed '{s}'"))?;
    }
    if let Some(m) = max {
        cfg.max_message_bytes = m
            .parse()
            .map_err(|_| format!("invalid --max-message-bytes '{m}'"))?;
    }
    Ok(cfg)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let server = match TestServer::start(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("tcm-testserver: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", server.ws_url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
