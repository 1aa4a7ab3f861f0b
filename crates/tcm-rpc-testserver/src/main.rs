//! `tcm-rpc-testserver`: runs the reference Tellurio JSON-RPC server until killed.
//!
//! The first line of stdout is the WebSocket URL. Options (later ones win; flags after
//! `--config` override the file):
//!
//! ```text
//! --config FILE               a JSON set-up (see tcm_rpc_testserver::spec): plans, scripts, faults
//! --bind ADDR                 default 127.0.0.1:0
//! --api-key KEY               default test-key
//! --reject 403|close[:CODE]   refuse bad keys with 403, or accept then close (no CODE: drop)
//! --session-frame-write with-upgrade|separate
//! --session-delay-ms N
//! --work-ms N                 work time of the long-running methods (default 100)
//! --heartbeat-ms N            heartbeat interval while working; 0 sends none (default 40)
//! --max-heartbeats N
//! --fault NAME[=VALUE]        a "next request" fault, e.g. never_answer_next,
//!                             delay_next_response_ms=2000, close_on_next_request=1000
//! --record FILE               every handshake, frame and server → client call as JSON lines
//! ```

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};
use tcm_rpc_testserver::ServerSpec;

const USAGE: &str = "usage: tcm-rpc-testserver [--config FILE] [--bind ADDR] [--api-key KEY] \
[--reject 403|close[:CODE]] [--session-frame-write with-upgrade|separate] [--session-delay-ms N] \
[--work-ms N] [--heartbeat-ms N] [--max-heartbeats N] [--fault NAME[=VALUE]]... [--record FILE]";

/// Builds the set-up: flags become keys of a JSON document merged over the `--config` file, so
/// both are read by the same rules.
fn parse(args: impl Iterator<Item = String>) -> Result<ServerSpec, String> {
    let mut doc = serde_json::Map::new();
    let mut faults: Vec<Value> = Vec::new();
    let mut args = args;
    while let Some(a) = args.next() {
        if a == "-h" || a == "--help" {
            return Err(USAGE.into());
        }
        let mut value = || args.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        let number = |v: String| {
            v.parse::<u64>()
                .map(Value::from)
                .map_err(|_| format!("{a} needs a number, got {v}"))
        };
        match a.as_str() {
            "--config" => {
                let path = value()?;
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {path}: {e}"))?;
                let file: Value =
                    serde_json::from_str(&text).map_err(|e| format!("{path}: not JSON: {e}"))?;
                let Value::Object(o) = file else {
                    return Err(format!("{path}: must hold a JSON object"));
                };
                for (k, v) in o {
                    if k == "faults" {
                        faults.extend(v.as_array().cloned().unwrap_or_default());
                    } else {
                        doc.insert(k, v);
                    }
                }
            }
            "--bind" => {
                doc.insert("bind".into(), value()?.into());
            }
            "--api-key" => {
                doc.insert("api_key".into(), value()?.into());
            }
            "--reject" => {
                let v = value()?;
                let mode = match v.split_once(':') {
                    _ if v == "403" => json!("403"),
                    _ if v == "close" => json!({"accept_then_close": null}),
                    Some(("close", c)) => json!({"accept_then_close": number(c.to_string())?}),
                    _ => return Err(format!("bad --reject {v}\n{USAGE}")),
                };
                doc.insert("reject".into(), mode);
            }
            "--session-frame-write" => {
                doc.insert("session_frame_write".into(), value()?.into());
            }
            "--session-delay-ms" => {
                doc.insert("session_delay_ms".into(), number(value()?)?);
            }
            "--work-ms" => {
                doc.insert("work_ms".into(), number(value()?)?);
            }
            "--heartbeat-ms" => {
                doc.insert("heartbeat_ms".into(), number(value()?)?);
            }
            "--max-heartbeats" => {
                doc.insert("max_heartbeats".into(), number(value()?)?);
            }
            "--fault" => {
                let v = value()?;
                faults.push(match v.split_once('=') {
                    Some((name, n)) => json!({ name: number(n.to_string())? }),
                    None => json!(v),
                });
            }
            "--record" => {
                doc.insert("record_file".into(), value()?.into());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    doc.insert("faults".into(), Value::Array(faults));
    ServerSpec::from_value(&Value::Object(doc)).map_err(|e| format!("{e}\n{USAGE}"))
}

fn main() {
    let spec = match parse(std::env::args().skip(1)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let server = match spec.start() {
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
        std::thread::sleep(Duration::from_secs(3600));
    }
}
