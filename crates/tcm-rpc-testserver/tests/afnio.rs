//! Conformance with the real afnio client (`afnio==0.3.7`, the client the JSON-RPC dialect
//! comes from): `conformance/afnio_conformance.py` drives afnio's own API against the server.
//!
//! The interpreter is `$TCM_AFNIO_PYTHON`, else `<repo>/.venv-afnio/bin/python` (created by
//! `scripts/python-env.sh`). Without it the tests fail when `CI` is set and are skipped
//! otherwise.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;
use tcm_rpc_testserver::{
    CallReply, Direction, Plan, RpcServerConfig, RpcServerHandle, RpcTestServer, SessionFrameWrite,
};

const KEY: &str = "test-key";

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TCM_AFNIO_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv-afnio/bin/python");
    venv.exists().then_some(venv)
}

fn afnio_importable(py: &PathBuf) -> bool {
    Command::new(py)
        .args(["-c", "import afnio.tellurio.websocket_client"])
        .status()
        .is_ok_and(|s| s.success())
}

/// The interpreter, or `None` (after saying so) when the test is to be skipped.
fn afnio_python(test: &str) -> Option<PathBuf> {
    let py = python().filter(afnio_importable);
    if py.is_none() {
        let msg =
            "no Python with afnio 0.3.7: run `bash scripts/python-env.sh` or set TCM_AFNIO_PYTHON";
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED {test}: {msg}");
    }
    py
}

fn run_driver(py: &PathBuf, server: &RpcServerHandle, extra: &[&str]) -> (Output, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/afnio_conformance.py");
    let out = Command::new(py)
        .arg(&script)
        .arg(server.url())
        .arg(KEY)
        .args(extra)
        .output()
        .expect("python runs");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[test]
fn afnio_runs_its_whole_api_against_the_server() {
    let Some(py) = afnio_python("afnio_runs_its_whole_api_against_the_server") else {
        return;
    };
    let server = RpcTestServer::start(RpcServerConfig::with_api_key(KEY)).expect("server starts");
    // The first run_function (afnio's Add) works 2.5 s, past the driver's 1 s client timeout,
    // and is kept alive by heartbeats.
    server.plan_next(
        "run_function",
        Plan::new()
            .work(Duration::from_millis(2500))
            .heartbeats_every(Duration::from_millis(300)),
    );
    let (out, text) = run_driver(&py, &server, &[]);
    assert!(out.status.success(), "afnio conformance failed:\n{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");

    // Every server → client request reached afnio's handlers and got a result.
    let calls = server.client_calls();
    for method in [
        "create_variable",
        "update_variable",
        "append_grad",
        "create_node",
        "create_edge",
        "update_model",
        "run_callable",
        "clear_backward",
        "clear_step",
    ] {
        let of: Vec<_> = calls.iter().filter(|c| c.method == method).collect();
        assert!(!of.is_empty(), "no {method} was sent: {calls:?}");
        for c in of {
            assert!(
                matches!(&c.reply, CallReply::Result(v) if v["message"] == "Ok"),
                "{method} was not accepted: {c:?}"
            );
        }
    }
    let heartbeats = server
        .frames()
        .iter()
        .filter(|f| f.direction == Direction::ToClient)
        .filter_map(|f| f.json())
        .filter(|v| v["method"] == "heartbeat")
        .count();
    assert!(
        heartbeats >= 7,
        "heartbeats through the long call: {heartbeats}"
    );
    let stats = server.stats();
    assert_eq!(stats.rejected_keys, 1, "the wrong key was refused once");
    assert_eq!(stats.sessions, 1);
    server.stop();
}

/// afnio's defect, kept visible: with the session frame in its own write after a delay, afnio's
/// listener dies and its calls time out. The default write (with the upgrade) avoids it, as
/// the first test shows.
#[test]
fn afnio_loses_its_listener_when_the_session_frame_comes_late() {
    let Some(py) = afnio_python("afnio_loses_its_listener_when_the_session_frame_comes_late")
    else {
        return;
    };
    let server = RpcTestServer::start(RpcServerConfig {
        session_frame_write: SessionFrameWrite::Separate,
        session_delay: Duration::from_millis(200),
        ..RpcServerConfig::with_api_key(KEY)
    })
    .expect("server starts");
    let (out, text) = run_driver(&py, &server, &["late-session-frame"]);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 passed, 0 failed"), "{text}");
    let requests: Vec<Value> = server
        .frames()
        .iter()
        .filter(|f| f.direction == Direction::FromClient)
        .filter_map(|f| f.json())
        .collect();
    assert_eq!(requests.len(), 1, "the request was sent: {requests:?}");
    let answered = server
        .frames()
        .iter()
        .filter(|f| f.direction == Direction::ToClient)
        .filter_map(|f| f.json())
        .any(|v| v["id"] == requests[0]["id"]);
    assert!(answered, "the server answered; afnio did not read it");
    server.stop();
}
