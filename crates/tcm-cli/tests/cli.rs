//! The `tcm` binary against the reference server: each subcommand, each error path and exit
//! code, and the payload layouts of the shared vectors.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;
use tcm_testserver::{Config, TestServer, TestServerHandle};

fn server() -> TestServerHandle {
    let mut config = Config::profile("dev-simple").expect("profile");
    config.bind = ([127, 0, 0, 1], 0).into();
    TestServer::start(config).expect("server starts")
}

fn tcm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tcm"))
        .args(args)
        .env_remove("TCM_WS_URI")
        .env_remove("TCM_CLIENT_TOKEN")
        .output()
        .expect("tcm runs")
}

fn on(server: &TestServerHandle, args: &[&str]) -> Output {
    let url = server.ws_url();
    let mut all = vec!["--uri", url.as_str(), "--timeout", "5"];
    all.extend_from_slice(args);
    tcm(&all)
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited")
}

fn stdout_json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}): {}",
            String::from_utf8_lossy(&o.stdout)
        )
    })
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn payload_example(name: &str) -> PathBuf {
    let dir = std::env::var_os("TCM_VECTORS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors")
        });
    dir.join("tcm/payload_examples").join(name)
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("tcm-cli-test-{}-{name}", std::process::id()));
    std::fs::write(&path, text).expect("write temp file");
    path
}

const IDENTITY: [&str; 7] = [
    "--vm-ip",
    "127.0.0.1",
    "--container-id",
    "c1",
    "--model-name",
    "identity",
    "--allow-transient",
];

#[test]
fn without_a_subcommand_it_prints_help_and_exits_2() {
    let o = tcm(&[]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("Usage: tcm"), "{}", stderr(&o));
}

#[test]
fn demo_runs_real_requests_against_a_bundled_server() {
    let o = tcm(&["demo"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v = stdout_json(&o);
    assert_eq!(
        v["identity"]["OUTPUT0"],
        serde_json::json!([1.0, 2.0, 3.0, 4.0])
    );
    assert_eq!(
        v["add"]["OUTPUT0"],
        serde_json::json!([11.0, 22.0, 33.0, 44.0])
    );
    assert_eq!(v["stream"], "tok0 tok1 tok2 ");
}

#[test]
fn queue_stats_once_and_as_a_load_run() {
    let s = server();
    let o = on(&s, &["queue-stats"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout_json(&o)["total_queued"].is_number());
    let o = on(&s, &["queue-stats", "--repeat", "60", "--concurrency", "8"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "",
        "no progress bar when stderr is not a terminal"
    );
    let summary = &stdout_json(&o)["queue_stats_summary"];
    assert_eq!(summary["succeeded"], 60);
    assert_eq!(summary["failed"], 0);
    for p in ["avg", "p50", "p90", "p95", "p99", "max"] {
        let v = &summary["latency_ms"][p];
        assert!(v.is_number(), "{p}");
        assert!(significant_digits(v) <= 3, "{p} = {v}");
    }
    assert!(significant_digits(&summary["throughput_per_s"]) <= 3);
    let o = on(&s, &["--output", "table", "queue-stats"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("total_queued"));
    let o = on(
        &s,
        &[
            "--output",
            "table",
            "queue-stats",
            "--repeat",
            "40",
            "--concurrency",
            "4",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("latency p99") && text.contains("latency histogram"),
        "{text}"
    );
    assert!(text.contains(" ms") || text.contains(" µs"), "{text}");
}

/// Significant digits of a JSON number as printed (`3.81` → 3, `1230.0` → 3, `0.0413` → 3).
#[test]
fn a_load_run_over_several_replicas_reports_each() {
    let (a, b) = (server(), server());
    let (ua, ub) = (a.ws_url(), b.ws_url());
    let o = tcm(&[
        "--uri",
        &ua,
        "--uri",
        &ub,
        "queue-stats",
        "--repeat",
        "40",
        "--concurrency",
        "4",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let summary = &stdout_json(&o)["queue_stats_summary"];
    assert_eq!(summary["succeeded"], 40);
    let replicas = summary["replicas"]
        .as_array()
        .expect("one entry per replica");
    assert_eq!(replicas.len(), 2);
    for (r, uri) in replicas.iter().zip([&ua, &ub]) {
        assert_eq!(r["uri"], uri.as_str());
        assert_eq!(r["succeeded"], 20, "calls alternate between the replicas");
        assert!(r["latency_ms"]["p50"].is_number());
    }
    let commas = format!("{ua},{ub}");
    let o = tcm(&[
        "--uri",
        &commas,
        "--output",
        "table",
        "queue-stats",
        "--repeat",
        "10",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("per replica"));
}

fn significant_digits(v: &Value) -> usize {
    let digits: String = v.to_string().chars().filter(char::is_ascii_digit).collect();
    digits.trim_start_matches('0').trim_end_matches('0').len()
}

#[test]
fn management_accepts_every_payload_example_and_reports_the_server_text() {
    let s = server();
    for name in [
        "management_creation.json",
        "management_create_vm.json",
        "management_deletion.json",
        "management_load_model.json",
    ] {
        let path = payload_example(name);
        let o = on(&s, &["management", "--payload", path.to_str().unwrap()]);
        // The dev server fails every backend call; unimplemented actions are not found.
        assert_eq!(code(&o), 1, "{name}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.contains("management action failed"), "{name}: {err}");
        assert!(
            err.contains("dev mode") || err.contains("Job action not found"),
            "{name}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
    }
    let body = temp_file("body.json", r#"{"action":"bogus"}"#);
    let o = on(&s, &["management", "--payload", body.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("Job action not found: 'bogus'"),
        "{}",
        stderr(&o)
    );
    let bad = temp_file("bad.json", "[1,2]");
    let o = on(&s, &["management", "--payload", bad.to_str().unwrap()]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("expected a JSON object"));
}

#[test]
fn inference_accepts_the_payload_layouts() {
    let s = server();
    let layouts = [
        (
            "list.json",
            r#"[{"name":"INPUT0","shape":[2],"datatype":"FP32","data":[1.5,2.5]}]"#,
        ),
        (
            "legacy.json",
            r#"{"inputs":[{"name":"INPUT0","dims":2,"type":"TYPE_FP32","value":[1.5,2.5]}]}"#,
        ),
        (
            "canonical.json",
            r#"{"request":{"inputs":[{"name":"INPUT0","shape":[2],"datatype":"FP32","data":[1.5,2.5]}]}}"#,
        ),
    ];
    for (name, text) in layouts {
        let path = temp_file(name, text);
        let mut args = vec!["inference-http", "--payload", path.to_str().unwrap()];
        args.extend_from_slice(&IDENTITY);
        let o = on(&s, &args);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        assert_eq!(
            stdout_json(&o)["outputs"]["OUTPUT0"],
            serde_json::json!([1.5, 2.5]),
            "{name}"
        );
    }
    // The repository's own examples name inputs the identity model does not have: the request
    // reaches the server and fails with its typed error (exit 1).
    for name in ["inference_inputs_sdk.json", "inference.json"] {
        let path = payload_example(name);
        let mut args = vec!["inference-http", "--payload", path.to_str().unwrap()];
        args.extend_from_slice(&IDENTITY);
        let o = on(&s, &args);
        assert_eq!(code(&o), 1, "{name}: {}", stderr(&o));
        assert!(stderr(&o).contains("TRITON_"), "{name}: {}", stderr(&o));
    }
}

#[test]
fn inference_with_typed_inputs_and_its_errors() {
    let s = server();
    let o = on(
        &s,
        &[
            "inference-http",
            "--input",
            "INPUT0:3:INT32=7,8,9",
            "--vm-ip",
            "127.0.0.1",
            "--container-id",
            "c",
            "--model-name",
            "identity_int32",
            "--allow-transient",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout_json(&o)["outputs"]["OUTPUT0"],
        serde_json::json!([7, 8, 9])
    );

    let o = on(
        &s,
        &[
            "inference-http",
            "--input",
            "INPUT0:1:FP32=1",
            "--vm-ip",
            "127.0.0.1",
            "--container-id",
            "c",
            "--model-name",
            "no_such_model",
            "--allow-transient",
        ],
    );
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("TRITON_MODEL_MISSING"),
        "{}",
        stderr(&o)
    );

    let o = on(&s, &["inference-http", "--input", "INPUT0:2:FP32=1"]);
    assert_eq!(
        code(&o),
        2,
        "missing required flags and a bad spec are usage errors"
    );
    let mut args = vec!["inference-http", "--input", "INPUT0:2:FP32=1"];
    args.extend_from_slice(&IDENTITY);
    assert_eq!(code(&on(&s, &args)), 2);
    let o = on(
        &s,
        &IDENTITY.iter().copied().chain(std::iter::empty()).fold(
            vec!["inference-http"],
            |mut v, a| {
                v.push(a);
                v
            },
        ),
    );
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no inputs"));
}

#[test]
fn stream_prints_frames_as_they_come() {
    let s = server();
    let o = on(
        &s,
        &[
            "stream",
            "--input",
            "INPUT0:1:FP32=3",
            "--vm-ip",
            "127.0.0.1",
            "--container-id",
            "c",
            "--model-name",
            "stream",
            "--allow-transient",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(
        lines.first().map(|l| l["status"].clone()),
        Some("START".into())
    );
    let chunks: Vec<&str> = lines
        .iter()
        .filter(|l| l["status"] == "ONGOING")
        .filter_map(|l| l["data"].as_str())
        .collect();
    assert_eq!(chunks, ["tok0 ", "tok1 ", "tok2 "]);
    assert_eq!(
        lines.last().map(|l| l["model_name"].clone()),
        Some("stream".into())
    );
}

#[test]
fn health_and_ready_follow_the_server() {
    let s = server();
    assert_eq!(code(&on(&s, &["health"])), 0);
    assert_eq!(code(&on(&s, &["ready"])), 0);
    s.set_ready(false);
    let o = on(&s, &["ready"]);
    assert_eq!(code(&o), 1);
    assert_eq!(stdout_json(&o)["status"], 503);
}

#[test]
fn connection_failures_exit_3_and_bad_urls_exit_2() {
    let o = tcm(&[
        "--uri",
        "ws://127.0.0.1:1/ws",
        "--timeout",
        "2",
        "queue-stats",
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let o = tcm(&["--uri", "http://127.0.0.1/ws", "queue-stats"]);
    assert_eq!(code(&o), 2);
    let s = server();
    let tls_url = s.ws_url().replace("ws://", "wss://");
    let o = tcm(&["--uri", &tls_url, "--timeout", "2", "queue-stats"]);
    assert_eq!(code(&o), 3, "TLS to a plain server: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn a_request_the_server_never_answers_times_out_with_exit_1() {
    let s = server();
    s.set_never_answer_inference(true);
    let url = s.ws_url();
    let mut args = vec![
        "--uri",
        url.as_str(),
        "--timeout",
        "0.5",
        "inference-http",
        "--input",
        "INPUT0:1:FP32=1",
    ];
    args.extend_from_slice(&IDENTITY);
    let o = tcm(&args);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
}

#[test]
fn the_token_is_never_printed() {
    let o = Command::new(env!("CARGO_BIN_EXE_tcm"))
        .args(["--help"])
        .env("TCM_CLIENT_TOKEN", "sekrit-token-value")
        .output()
        .expect("runs");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("sekrit"));
    let o = tcm(&[
        "--uri",
        "ws://127.0.0.1:1/ws",
        "--token",
        "sekrit-token-value",
        "queue-stats",
    ]);
    assert!(!stderr(&o).contains("sekrit"));
}

#[test]
fn shm_inputs_round_trip_and_need_the_capability() {
    let s = server();
    let o = on(
        &s,
        &[
            "inference-http",
            "--shm",
            "--input",
            "INPUT0:3:FP32=1,2,3",
            "--vm-ip",
            "127.0.0.1",
            "--container-id",
            "c",
            "--model-name",
            "identity",
            "--allow-transient",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout_json(&o)["outputs"]["OUTPUT0"],
        serde_json::json!([1.0, 2.0, 3.0])
    );
    // Asking for json only: shm is not negotiated, and the call says so.
    let o = on(
        &s,
        &[
            "--capability",
            "json",
            "inference-http",
            "--shm",
            "--input",
            "INPUT0:1:FP32=1",
            "--vm-ip",
            "127.0.0.1",
            "--container-id",
            "c",
            "--model-name",
            "identity",
            "--allow-transient",
        ],
    );
    assert_eq!(
        code(&o),
        0,
        "--shm adds the capability itself: {}",
        stderr(&o)
    );
    let mut args = vec![
        "inference-http",
        "--shm",
        "--protocol",
        "grpc",
        "--input",
        "INPUT0:1:FP32=1",
    ];
    args.extend_from_slice(&IDENTITY);
    let o = on(&s, &args);
    assert_eq!(code(&o), 2, "no shm over gRPC: {}", stderr(&o));
    assert_eq!(
        code(&tcm(&["stream", "--shm", "--help"])),
        2,
        "stream has no --shm"
    );
    // A payload file goes through shared memory too: its values are read as typed tensors.
    let path = temp_file(
        "shm-list.json",
        r#"[{"name":"INPUT0","shape":[2],"datatype":"FP32","data":[1.0,2.5]}]"#,
    );
    let mut args = vec![
        "inference-http",
        "--shm",
        "--payload",
        path.to_str().unwrap(),
    ];
    args.extend_from_slice(&IDENTITY);
    let o = on(&s, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout_json(&o)["outputs"]["OUTPUT0"],
        serde_json::json!([1.0, 2.5])
    );
}

#[test]
fn rpc_calls_a_method_on_a_tellurio_endpoint() {
    let s = tcm_rpc_testserver::RpcTestServer::start(
        tcm_rpc_testserver::RpcServerConfig::with_api_key("k-1"),
    )
    .expect("rpc server");
    let url = s.url();
    let base = [
        "rpc",
        "--url",
        url.as_str(),
        "--api-key",
        "k-1",
        "--run-uuid",
        "00000000-0000-4000-8000-000000000001",
    ];
    let mut args = base.to_vec();
    args.extend_from_slice(&[
        "create_variable",
        "--params",
        r#"{"data":"x","role":"r","requires_grad":false,"obj_type":"__variable__"}"#,
    ]);
    let o = tcm(&args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout_json(&o)["variable_id"].is_string());

    let mut args = base.to_vec();
    args.push("no_such_method");
    let o = tcm(&args);
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("-32601"), "{}", stderr(&o));

    let o = tcm(&[
        "rpc",
        "--url",
        &url,
        "--api-key",
        "wrong-key",
        "--run-uuid",
        "r",
        "create_variable",
    ]);
    assert_eq!(code(&o), 1, "a refused key: {}", stderr(&o));
    assert!(
        !stderr(&o).contains("wrong-key"),
        "the key is never printed"
    );
    let o = tcm(&["rpc", "--url", &url, "--api-key", "k-1", "create_variable"]);
    assert_eq!(code(&o), 2, "no run uuid is a usage error");
    let o = tcm(&[
        "rpc",
        "--url",
        &url,
        "--api-key",
        "k-1",
        "--run-uuid",
        "r",
        "create_variable",
        "--params",
        "[1]",
    ]);
    assert_eq!(code(&o), 2);
}

#[test]
fn serve_runs_a_reference_server_that_other_commands_can_use() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_tcm"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcm serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the URL line");
    let url = line.trim().to_owned();
    assert!(
        url.starts_with("ws://127.0.0.1:") && url.ends_with("/ws"),
        "{url}"
    );
    let o = tcm(&["--uri", &url, "queue-stats"]);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = tcm(&["serve", "--profile", "no-such-profile"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("known profiles"));
}

/// The Python of `scripts/python-env.sh` (`$TCM_PYTHON`, else `<repo>/.venv/bin/python`), with
/// the official CLI and the `onnx` package. Without it a test is skipped, or fails when `CI`
/// is set.
fn python(test: &str) -> Option<PathBuf> {
    let py = std::env::var_os("TCM_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python")
        });
    let usable = Command::new(&py)
        .args(["-c", "import onnx, tcm_client.cli"])
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        return Some(py);
    }
    let msg = "no Python with tcm-client 2.0.0 and onnx: run `bash scripts/python-env.sh` or set TCM_PYTHON";
    if std::env::var_os("CI").is_some() {
        panic!("{msg}");
    }
    eprintln!("SKIPPED {test}: {msg}");
    None
}

/// A fresh directory holding the ONNX models of `tests/fixtures/onnx_models.py` and the
/// official CLI's report of each (`NAME.onnx`, `NAME.official.json`).
fn onnx_models(py: &PathBuf, test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tcm-cli-onnx-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/onnx_models.py");
    let o = Command::new(py)
        .arg(&script)
        .arg(&dir)
        .output()
        .expect("python runs");
    assert!(o.status.success(), "{}", stderr(&o));
    dir
}

#[test]
fn model_analyze_reports_what_the_official_cli_reports() {
    let Some(py) = python("model_analyze_reports_what_the_official_cli_reports") else {
        return;
    };
    let dir = onnx_models(&py, "parity");
    for name in ["static", "symbolic", "multi"] {
        let model = dir.join(format!("{name}.onnx"));
        let o = tcm(&[
            "model-analyze",
            "--path",
            model.to_str().unwrap(),
            "--name",
            name,
        ]);
        assert_eq!(code(&o), 0, "{name}: {}", stderr(&o));
        let ours = stdout_json(&o);
        let text = std::fs::read(dir.join(format!("{name}.official.json"))).expect("report");
        let official: Value = serde_json::from_slice(&text).expect("official JSON");
        assert_eq!(ours["path"], official["path"], "{name}: path");
        assert_eq!(ours["name"], official["name"], "{name}: name");
        for list in ["inputs", "outputs"] {
            let (a, b) = (
                ours[list].as_array().unwrap(),
                official[list].as_array().unwrap(),
            );
            assert_eq!(a.len(), b.len(), "{name}: number of {list}");
            for (x, y) in a.iter().zip(b) {
                for field in ["name", "dtype", "shape"] {
                    assert_eq!(x[field], y[field], "{name}: {list} {} {field}", y["name"]);
                }
            }
        }
        assert_eq!(ours, official, "{name}: no other field");
    }
    // A model cut in the middle is refused with a usage error, not a panic.
    let bytes = std::fs::read(dir.join("multi.onnx")).expect("model");
    let cut = temp_file("cut.onnx", "");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let o = tcm(&[
        "model-analyze",
        "--path",
        cut.to_str().unwrap(),
        "--name",
        "m",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("not an ONNX model"), "{}", stderr(&o));
}

#[test]
fn model_analyze_refuses_missing_and_foreign_files() {
    let o = tcm(&[
        "model-analyze",
        "--path",
        "/nonexistent/m.onnx",
        "--name",
        "m",
    ]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cannot read ONNX model"),
        "{}",
        stderr(&o)
    );
    let text = temp_file("foreign.onnx", r#"{"this is": "JSON, not ONNX"}"#);
    let o = tcm(&[
        "model-analyze",
        "--path",
        text.to_str().unwrap(),
        "--name",
        "m",
    ]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("not an ONNX model"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn a_payload_template_takes_a_model_file_to_a_first_inference() {
    let Some(py) = python("a_payload_template_takes_a_model_file_to_a_first_inference") else {
        return;
    };
    let dir = onnx_models(&py, "template");
    let template = dir.join("payload.json");
    let o = tcm(&[
        "--output",
        "table",
        "model-analyze",
        "--path",
        dir.join("symbolic.onnx").to_str().unwrap(),
        "--name",
        "identity",
        "--payload-template",
        template.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("INPUT0"));
    let s = server();
    let mut args = vec!["inference-http", "--payload", template.to_str().unwrap()];
    args.extend_from_slice(&IDENTITY);
    let o = on(&s, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout_json(&o)["outputs"]["OUTPUT0"],
        serde_json::json!([0.0])
    );
}

/// Writes `values` as a one-dimensional FP32 `.npy` file.
fn npy_file(name: &str, values: &[f32]) -> PathBuf {
    use npyz::WriterBuilder;
    let path = temp_file(name, "");
    let mut bytes = Vec::new();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&[values.len() as u64])
        .writer(&mut bytes)
        .begin_nd()
        .expect("npy header");
    w.extend(values.iter().copied()).expect("npy data");
    w.finish().expect("npy end");
    std::fs::write(&path, bytes).expect("write npy");
    path
}

#[test]
fn a_150528_value_tensor_goes_from_a_npy_file_through_shared_memory() {
    let s = server();
    let values: Vec<f32> = (0..150_528u32).map(|i| (i as f32) * 0.25 - 7.5).collect();
    let npy = npy_file("image.npy", &values);
    let spec = format!("INPUT0=@{}", npy.display());
    let mut args = vec!["inference-http", "--shm", "--input", spec.as_str()];
    args.extend_from_slice(&IDENTITY);
    let o = on(&s, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = stdout_json(&o);
    let got = out["outputs"]["OUTPUT0"].as_array().expect("a list");
    assert_eq!(got.len(), values.len());
    for (i, (g, v)) in got.iter().zip(&values).enumerate() {
        assert_eq!(g.as_f64().map(|g| g as f32), Some(*v), "value {i}");
    }
    // Without --shm the JSON frame would be too large: the error says so and names --shm.
    let mut args = vec!["inference-http", "--input", spec.as_str()];
    args.extend_from_slice(&IDENTITY);
    let o = on(&s, &args);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--shm"), "{}", stderr(&o));
}

#[test]
fn raw_tensor_files_and_large_payload_files_go_through_shared_memory() {
    let s = server();
    let raw = temp_file("ints.bin", "");
    let ints: Vec<u8> = [5i32, -6, 7].iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&raw, ints).expect("write");
    let spec = format!("INPUT0:3:INT32=@{}", raw.display());
    let target = [
        "--vm-ip",
        "127.0.0.1",
        "--container-id",
        "c",
        "--model-name",
        "identity_int32",
        "--allow-transient",
    ];
    let mut args = vec!["inference-http", "--shm", "--input", spec.as_str()];
    args.extend_from_slice(&target);
    let o = on(&s, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout_json(&o)["outputs"]["OUTPUT0"],
        serde_json::json!([5, -6, 7])
    );
    let wrong = format!("INPUT0:4:INT32=@{}", raw.display());
    let mut args = vec!["inference-http", "--shm", "--input", wrong.as_str()];
    args.extend_from_slice(&target);
    assert_eq!(
        code(&on(&s, &args)),
        2,
        "a size that does not match the shape"
    );

    // 20,000 values in the legacy layout: too large for a JSON frame, fine through shm.
    let values: Vec<f64> = (0..20_000).map(|i| f64::from(i) / 8.0).collect();
    let payload = serde_json::json!({"inputs": [{"name": "INPUT0", "dims": [values.len()], "type": "TYPE_FP32", "value": values}]});
    let path = temp_file("big.json", &payload.to_string());
    let mut args = vec!["inference-http", "--payload", path.to_str().unwrap()];
    args.extend_from_slice(&IDENTITY);
    let o = on(&s, &args);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("exceeds the limit") && stderr(&o).contains("--shm"));
    args.push("--shm");
    let o = on(&s, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout_json(&o)["outputs"]["OUTPUT0"],
        serde_json::json!(values)
    );
}

#[test]
fn inference_reads_its_target_from_a_saved_creation_result() {
    let s = server();
    // `tcm management` prints a successful creation like this (the server's key names).
    let endpoint = temp_file(
        "endpoint.json",
        r#"{"vm_ip":"127.0.0.1","container_id":"c1","model_name":"identity",
            "inputs":[{"name":"INPUT0","type":"TYPE_FP32","dims":[-1]}],
            "outputs":[{"name":"OUTPUT0","type":"TYPE_FP32","dims":[-1]}]}"#,
    );
    let args = [
        "inference-http",
        "--endpoint",
        endpoint.to_str().unwrap(),
        "--allow-transient",
        "--input",
        "INPUT0:2:FP32=4,5",
    ];
    let o = on(&s, &args);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        stdout_json(&o)["outputs"]["OUTPUT0"],
        serde_json::json!([4.0, 5.0])
    );
    // Flags override the file.
    let mut args = args.to_vec();
    args.extend_from_slice(&["--model-name", "no_such_model"]);
    assert!(stderr(&on(&s, &args)).contains("TRITON_MODEL_MISSING"));
    let o = on(
        &s,
        &[
            "inference-http",
            "--input",
            "INPUT0:1:FP32=1",
            "--container-id",
            "c",
        ],
    );
    assert_eq!(code(&o), 2, "a model name is needed: {}", stderr(&o));
}

#[test]
fn completions_are_printed_for_bash_zsh_and_fish() {
    for (shell, marker) in [
        ("bash", "_tcm()"),
        ("zsh", "#compdef tcm"),
        ("fish", "complete -c tcm"),
    ] {
        let o = tcm(&["completions", shell]);
        assert_eq!(code(&o), 0, "{shell}: {}", stderr(&o));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains(marker), "{shell}");
        assert!(text.contains("model-analyze"), "{shell}: every subcommand");
    }
    let o = tcm(&["completions", "bash"]);
    let script = temp_file("tcm.bash", &String::from_utf8_lossy(&o.stdout));
    if let Ok(status) = Command::new("bash").arg("-n").arg(&script).status() {
        assert!(status.success(), "the bash script parses");
    }
    assert_eq!(code(&tcm(&["completions", "tcsh"])), 2);
}

#[test]
fn each_subcommand_help_lists_only_the_options_it_uses() {
    let help = |sub: &str| {
        let o = tcm(&[sub, "--help"]);
        assert_eq!(code(&o), 0, "{sub}");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let client_only = [
        "--uuid",
        "--token",
        "--sub",
        "--tenant-id",
        "--roles",
        "--capability",
    ];
    for sub in [
        "serve",
        "completions",
        "model-analyze",
        "health",
        "rpc",
        "demo",
    ] {
        let text = help(sub);
        for flag in client_only {
            assert!(!text.contains(flag), "`tcm {sub} --help` lists {flag}");
        }
    }
    assert!(!help("serve").contains("--uri") && !help("serve").contains("--output"));
    assert!(help("model-analyze").contains("--payload-template"));
    assert!(help("health").contains("--uri"));
    for sub in ["queue-stats", "management", "inference-http", "stream"] {
        let text = help(sub);
        for flag in client_only {
            assert!(text.contains(flag), "`tcm {sub} --help` lacks {flag}");
        }
    }
    // An option a subcommand does not use is refused, before or after the subcommand.
    for args in [["serve", "--uuid", "x"], ["--uuid", "x", "serve"]] {
        let o = tcm(&args);
        assert_eq!(code(&o), 2);
        assert!(
            stderr(&o).contains("--uuid is not used by `tcm serve`"),
            "{}",
            stderr(&o)
        );
    }
}
