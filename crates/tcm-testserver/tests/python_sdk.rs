//! Conformance, part 1: the official Python SDK (`tcm-client==2.0.0`) against the server.
//!
//! The interpreter is `$TCM_PYTHON`, else `<repo>/.venv/bin/python` (created by
//! `scripts/python-env.sh`). Without it the test fails when `CI` is set and is skipped otherwise.

use std::path::PathBuf;
use std::process::Command;
use tcm_testserver::{Config, TestServer};

fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("TCM_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    venv.exists().then_some(venv)
}

fn sdk_importable(py: &PathBuf) -> bool {
    Command::new(py)
        .args(["-c", "import tcm_client.sdk"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn official_python_sdk_gets_the_documented_answers() {
    let py = python().filter(sdk_importable);
    let Some(py) = py else {
        let msg =
            "no Python with tcm-client 2.0.0: run `bash scripts/python-env.sh` or set TCM_PYTHON";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("SKIPPED official_python_sdk_gets_the_documented_answers: {msg}");
        return;
    };
    let server =
        TestServer::start(Config::profile("dev-simple").expect("profile")).expect("server starts");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("conformance/sdk_conformance.py");
    let examples = std::env::var_os("TCM_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
        })
        .join("tcm/payload_examples");
    let out = Command::new(&py)
        .arg(&script)
        .arg(server.ws_url())
        .arg(&examples)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stats = server.stats();
    server.stop();
    assert!(
        out.status.success(),
        "SDK conformance failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
    assert_eq!(stats.auth_successes, 3, "one auth per SDK connection");
}
