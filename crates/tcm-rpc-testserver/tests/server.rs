//! The server as a client sees it: handshake, session frame, the 15 methods, heartbeats and
//! scripted server → client calls.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use tcm_rpc_testserver::{
    CallReply, Direction, HandshakeOutcome, Plan, RejectMode, Reply, RpcServerConfig, ScriptStep,
    SessionFrame, SessionFrameWrite,
};

#[test]
fn the_url_names_the_rpc_path_on_the_bound_port() {
    let s = server();
    assert_eq!(s.url(), format!("ws://{}/ws/v0/rpc/", s.addr()));
    assert_ne!(s.addr().port(), 0);
}

#[test]
fn a_bad_or_missing_key_is_refused_with_403_and_recorded() {
    let s = server();
    assert_eq!(connect(&s, Some("invalid_api_key")).err(), Some(403));
    assert_eq!(connect(&s, None).err(), Some(403));
    let hs = s.handshakes();
    assert_eq!(hs.len(), 2);
    assert!(hs.iter().all(|h| h.outcome == HandshakeOutcome::Forbidden));
    assert!(hs[0].carried_key("invalid_api_key"));
    assert_eq!(hs[1].header("authorization"), None);
    assert_eq!(s.stats().rejected_keys, 2);
    assert_eq!(s.stats().sessions, 0);
}

#[test]
fn other_paths_get_404_for_upgrades_and_plain_http() {
    let s = server();
    assert_eq!(
        connect_path(s.addr(), "/ws/v0/rpc", Some(KEY)).err(),
        Some(404)
    );
    assert_eq!(connect_path(s.addr(), "/ws", Some(KEY)).err(), Some(404));
    let mut tcp = TcpStream::connect(s.addr()).unwrap();
    tcp.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    tcp.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
    assert_eq!(s.handshakes()[0].outcome, HandshakeOutcome::NotFound);
}

#[test]
fn the_accept_then_close_variant_closes_before_the_session_frame() {
    let s = server_with(RpcServerConfig {
        reject: RejectMode::AcceptThenClose(Some(1008)),
        ..RpcServerConfig::default()
    });
    let mut c = connect(&s, Some("wrong")).expect("the upgrade is accepted");
    assert_eq!(c.recv(WAIT), Got::Close(Some(1008)));
    s.set_reject_mode(RejectMode::AcceptThenClose(None));
    let mut c = connect(&s, Some("wrong")).expect("the upgrade is accepted");
    assert_eq!(c.recv(WAIT), Got::Dropped);
    assert_eq!(
        s.handshakes()[1].outcome,
        HandshakeOutcome::ClosedBeforeSession
    );
    // A good key still gets a session.
    session(&s).close();
}

#[test]
fn a_good_key_gets_the_session_frame_first_and_the_handshake_is_recorded() {
    let s = server();
    let mut c = connect(&s, Some(KEY)).unwrap();
    let Got::Frame(f) = c.recv(WAIT) else {
        panic!("no session frame")
    };
    let sid = f["result"]["session_id"].as_str().unwrap().to_string();
    assert_eq!(f, json!({"jsonrpc": "2.0", "result": {"session_id": sid}}));
    assert_eq!(sid.len(), 36);
    assert_eq!(s.session_ids(), vec![sid]);
    let h = &s.handshakes()[0];
    assert_eq!(h.outcome, HandshakeOutcome::Accepted);
    assert!(h.carried_key(KEY));
    assert_eq!(h.header("Sec-WebSocket-Version"), Some("13"));
    assert!(!format!("{h:?}").contains(KEY), "Debug redacts the key");
}

#[test]
fn session_frame_knobs_change_its_shape_and_timing() {
    let s = server();
    s.set_session_frame(SessionFrame::WithId(Value::Null), Duration::ZERO);
    let f = connect(&s, Some(KEY)).unwrap().frame();
    assert_eq!(f["id"], Value::Null);
    assert!(f.as_object().unwrap().contains_key("id"));

    s.set_session_frame(SessionFrame::Malformed, Duration::ZERO);
    let mut c = connect(&s, Some(KEY)).unwrap();
    assert!(matches!(c.recv(WAIT), Got::Text(t) if t.contains("session_id")));

    s.set_session_frame(SessionFrame::Omitted, Duration::ZERO);
    let mut c = connect(&s, Some(KEY)).unwrap();
    assert_eq!(c.recv(Duration::from_millis(200)), Got::Timeout);
    let r = c.ok(
        "create_variable",
        json!({"data": "x", "role": "r", "requires_grad": false}),
    );
    assert!(r["variable_id"].is_string(), "the session works without it");

    s.set_session_frame(SessionFrame::Standard, Duration::from_millis(300));
    let start = Instant::now();
    let mut c = connect(&s, Some(KEY)).unwrap();
    let _ = c.frame();
    assert!(start.elapsed() >= Duration::from_millis(280));
}

#[test]
fn each_of_the_15_methods_answers_with_the_expected_fields() {
    let s = server();
    let mut c = session(&s);
    let a = c.ok(
        "create_variable",
        json!({"data": ["Tellurio", "is", "great!"], "role": "text variable", "requires_grad": true, "obj_type": "__variable__"}),
    );
    assert_eq!(a["message"], "Variable created successfully.");
    let a = c.ok(
        "create_variable",
        json!({"data": "a", "role": "input", "requires_grad": true, "obj_type": "__variable__"}),
    )["variable_id"]
        .clone();
    let b = c.ok(
        "create_variable",
        json!({"data": "b", "role": "input", "requires_grad": false, "obj_type": "__parameter__"}),
    )["variable_id"]
        .clone();

    let r = c.ok(
        "update_variable",
        json!({"variable_id": b, "field": "data", "value": "bb"}),
    );
    assert_eq!(r, json!({"variable_id": b, "field": "data", "value": "bb"}));

    let v = c.ok("get_variable", json!({"variable_id": b}));
    assert_eq!(
        (
            v["data"].clone(),
            v["role"].clone(),
            v["requires_grad"].clone()
        ),
        (json!("bb"), json!("input"), json!(false))
    );

    let (resp, seen) = c.call(
        "run_function",
        json!({"function_name": "Add", "grad_enabled": true, "args": [vref(&a), vref(&b)], "kwargs": {}}),
    );
    let out = &resp["result"]["data"];
    for k in [
        "variable_id",
        "data",
        "role",
        "requires_grad",
        "_retain_grad",
        "_grad",
        "_output_nr",
        "_grad_fn",
        "is_leaf",
    ] {
        assert!(out.get(k).is_some(), "run_function output lacks {k}: {out}");
    }
    assert_eq!(out["data"], "abb");
    let node = seen
        .iter()
        .find(|f| f["method"] == "create_node")
        .expect("create_node before the result");
    assert_eq!(node["params"]["node_id"], out["_grad_fn"]);
    assert_eq!(node["params"]["name"], "AddBackward0");
    assert!(
        seen.iter()
            .any(|f| f["method"] == "heartbeat" && f["params"]["id"] == resp["id"])
    );
    assert_eq!(
        seen.iter().filter(|f| f["method"] == "create_edge").count(),
        2
    );

    let out_id = out["variable_id"].clone();
    let ids = c.ok("get_backprop_ids", json!({"variables": vref(&out_id)}));
    assert_eq!(ids, json!({"variable_ids": [a]}));

    let (resp, seen) = c.call(
        "run_backward",
        json!({"variables": vref(&out_id), "grad_variables": null, "retain_graph": null, "create_graph": false, "inputs": null}),
    );
    assert_eq!(
        resp["result"]["message"],
        "Backward pass executed successfully."
    );
    let calls: Vec<&str> = seen
        .iter()
        .filter(|f| f.get("id").is_some())
        .filter_map(|f| f["method"].as_str())
        .collect();
    assert_eq!(calls, ["append_grad", "clear_backward"]);
    let grad = seen[seen.len() - 2]["params"]["gradient_id"].clone();

    let r = c.ok(
        "append_grad",
        json!({"variable_id": b, "gradient": vref(&grad)}),
    );
    assert_eq!(r, json!({"variable_id": b, "gradient_id": grad}));

    let m = c.ok("create_model", json!({"class_type": "AsyncOpenAI", "provider": "openai", "config": {"api_key": "sk-provider"}, "usage": {}}));
    let model = m["model_id"].clone();
    assert!(model.is_string());
    assert_eq!(
        c.ok("clear_model_usage", json!({"model_id": model})),
        json!({"model_id": model})
    );
    let r = c.ok("set_model_singleton", json!({"model_id": model, "model_name": "gpt-4o", "client_args": {}, "completion_args": {"temperature": 0}}));
    assert_eq!(
        r,
        json!({"model_id": model, "completion_args": {"temperature": 0}})
    );

    let o = c.ok(
        "create_optimizer",
        json!({"optimizer_name": "TGD", "params": [vref(&a)], "defaults": {"momentum": 1}}),
    );
    let opt = o["optimizer_id"].clone();
    assert!(opt.is_string());
    assert_eq!(o["defaults"], json!({"momentum": 1}));
    assert_eq!(o["state"], json!([]));
    assert_eq!(
        o["param_groups"],
        json!([{"momentum": 1, "params": [vref(&a)]}])
    );

    let (resp, seen) = c.call("run_step", json!({"optimizer_id": opt}));
    assert_eq!(
        resp["result"]["message"],
        "Optimizer step executed successfully."
    );
    let state = resp["result"]["state"].as_array().unwrap();
    assert_eq!(state[0]["key"], vref(&a));
    assert_eq!(
        state[0]["value"]["momentum_buffer"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let methods: Vec<&str> = seen
        .iter()
        .filter(|f| f.get("id").is_some())
        .filter_map(|f| f["method"].as_str())
        .collect();
    assert_eq!(methods.last(), Some(&"clear_step"));
    assert!(methods.contains(&"update_variable") && methods.contains(&"create_variable"));

    assert_eq!(
        c.ok("clear_grad", json!({"optimizer_id": opt})),
        json!({"message": "Gradients cleared successfully."})
    );
    let g = c.ok("add_param_group", json!({"optimizer_id": opt, "messages": [], "param_group": {"params": [vref(&b)], "momentum": 0}}));
    assert_eq!(
        g,
        json!({"param_group": {"momentum": 0, "params": [vref(&b)]}})
    );

    let (resp, seen) = c.call(
        "run_optimizer_tgd",
        json!({"params": [vref(&a)], "grads": [[]], "momentum_buffer_list": [], "model_client": {"__model_client__": true, "model_id": model}, "messages": [], "inputs": {}, "constraints": [], "momentum": 0, "completion_args": {}}),
    );
    assert_eq!(
        resp["result"]["message"],
        "Functional TGD optimization step executed successfully."
    );
    assert_eq!(resp["result"]["momentum_buffer_list"], json!([[]]));
    assert!(
        seen.iter()
            .any(|f| f["method"] == "update_model" && f["params"]["field"] == "_usage")
    );
    c.close();
    // Every scripted call was answered and recorded.
    assert!(
        s.client_calls()
            .iter()
            .all(|c| c.reply == CallReply::Result(json!({"message": "Ok"})))
    );
}

#[test]
fn requests_without_run_uuid_get_32602_and_unknown_methods_32601() {
    let s = server();
    let mut c = session(&s);
    c.send(&json!({"jsonrpc": "2.0", "method": "create_variable", "params": {"data": "x", "role": "r", "requires_grad": false}, "id": "r1"}));
    assert_eq!(
        c.frame(),
        json!({"jsonrpc": "2.0", "id": "r1", "error": {"code": -32602, "message": "Missing key: 'run_uuid'", "data": {"missing_key": "run_uuid"}}})
    );
    let (resp, _) = c.call("invalid_method", json!({"param": "value"}));
    assert_eq!(
        resp["error"],
        json!({"code": -32601, "message": "Method 'invalid_method' not found.", "data": {"method": "invalid_method"}})
    );
}

#[test]
fn other_failures_are_internal_errors_with_an_exception_text() {
    let s = server();
    let mut c = session(&s);
    let (resp, _) = c.call(
        "update_variable",
        json!({"variable_id": "nope", "field": "data", "value": 1}),
    );
    assert_eq!(
        resp["error"],
        json!({"code": -32603, "message": "Internal error", "data": {"exception": "Variable with id 'nope' not found in registry."}})
    );
    let (resp, _) = c.call("clear_grad", json!({"optimizer_id": "o"}));
    assert_eq!(resp["error"]["code"], -32603);
    // Client frames that are not requests get the dispatcher's errors.
    c.send_text("{oops");
    let f = c.frame();
    assert_eq!(
        (f["id"].clone(), f["error"]["code"].clone()),
        (Value::Null, json!(-32700))
    );
    c.send_text("[]");
    assert_eq!(c.frame()["error"]["code"], -32600);
}

#[test]
fn a_long_running_call_gets_heartbeats_then_its_result() {
    let s = server();
    s.plan_next(
        "run_function",
        Plan::new()
            .work(Duration::from_millis(250))
            .heartbeats_every(Duration::from_millis(50)),
    );
    let mut c = session(&s);
    let a = c.ok(
        "create_variable",
        json!({"data": "a", "role": "r", "requires_grad": false}),
    )["variable_id"]
        .clone();
    let start = Instant::now();
    let (resp, seen) = c.call(
        "run_function",
        json!({"function_name": "Id", "grad_enabled": false, "args": [vref(&a)], "kwargs": {}}),
    );
    assert!(start.elapsed() >= Duration::from_millis(240));
    assert_eq!(resp["result"]["data"]["data"], "a");
    let beats: Vec<&Value> = seen.iter().filter(|f| f["method"] == "heartbeat").collect();
    assert_eq!(beats.len(), 4, "at 50, 100, 150, 200 ms: {seen:?}");
    for b in beats {
        assert_eq!(
            b,
            &json!({"jsonrpc": "2.0", "method": "heartbeat", "params": {"id": resp["id"]}})
        );
    }
}

#[test]
fn heartbeats_can_stop_after_n() {
    let s = server();
    s.plan_next(
        "run_backward",
        Plan::new()
            .work(Duration::from_millis(300))
            .heartbeats_every(Duration::from_millis(30))
            .max_heartbeats(2)
            .script(vec![])
            .result(json!({"message": "Backward pass executed successfully."})),
    );
    let mut c = session(&s);
    let (resp, seen) = c.call("run_backward", json!({"variables": []}));
    assert_eq!(
        resp["result"]["message"],
        "Backward pass executed successfully."
    );
    assert_eq!(
        seen.iter().filter(|f| f["method"] == "heartbeat").count(),
        2
    );
}

#[test]
fn scripted_calls_are_sent_in_order_and_replies_recorded_even_errors() {
    let s = server();
    s.set_plan(
        "run_function",
        Plan::new()
            .no_heartbeats()
            .script(vec![
                ScriptStep::call_with_id(
                    "srv-a",
                    "create_node",
                    json!({"node_id": "n1", "name": "AddBackward"}),
                ),
                ScriptStep::call(
                    "update_variable",
                    json!({"variable_id": "missing", "field": "data", "value": "x"}),
                ),
                ScriptStep::Heartbeat,
                ScriptStep::notify("no_such_method", json!({})),
            ])
            .result(json!({"data": {"variable_id": "v-out"}})),
    );
    let mut c = session(&s);
    let (resp, seen) = c.call_with("run_function", json!({"function_name": "Add", "args": []}), &mut |f| {
        if f["method"] == "update_variable" {
            json!({"code": -32603, "message": "Internal error", "data": {"exception": "unknown"}})
        } else {
            json!({"message": "Ok"})
        }
    });
    assert_eq!(resp["result"], json!({"data": {"variable_id": "v-out"}}));
    let methods: Vec<&str> = seen.iter().filter_map(|f| f["method"].as_str()).collect();
    assert_eq!(
        methods,
        [
            "create_node",
            "update_variable",
            "heartbeat",
            "no_such_method"
        ]
    );
    assert_eq!(seen[0]["id"], "srv-a");
    let calls = s.client_calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].reply, CallReply::Result(json!({"message": "Ok"})));
    assert_eq!(calls[1].reply.error().map(|e| e.code), Some(-32603));
    assert_eq!(
        calls[1].reply.error().and_then(|e| e.exception()),
        Some("unknown")
    );
}

#[test]
fn the_handle_calls_and_notifies_the_client_at_any_time() {
    let s = server();
    let mut c = session(&s);
    assert!(s.wait_for_session(WAIT));
    std::thread::scope(|scope| {
        let h = scope.spawn(|| s.call_client("create_node", json!({"node_id": "n", "name": "X"})));
        let req = c.frame();
        assert_eq!(req["method"], "create_node");
        c.send(&json!({"jsonrpc": "2.0", "id": req["id"], "result": {"message": "Ok"}}));
        assert_eq!(
            h.join().unwrap(),
            Ok(CallReply::Result(json!({"message": "Ok"})))
        );
    });
    s.notify_client("heartbeat", json!({"id": "x"})).unwrap();
    assert_eq!(
        c.frame(),
        json!({"jsonrpc": "2.0", "method": "heartbeat", "params": {"id": "x"}})
    );
    s.send_raw("raw text").unwrap();
    assert_eq!(c.recv(WAIT), Got::Text("raw text".into()));
    // Every frame is logged in both directions.
    let frames = s.frames();
    assert_eq!(
        frames.first().map(|f| f.direction),
        Some(Direction::ToClient)
    );
    assert!(frames.iter().any(|f| f.direction == Direction::FromClient
        && f.json().is_some_and(|v| v["result"]["message"] == "Ok")));
    assert_eq!(frames.last().map(|f| f.text.as_str()), Some("raw text"));
}

#[test]
fn a_connect_script_runs_after_the_session_frame() {
    let s = server();
    s.set_connect_script(Some(vec![
        ScriptStep::call_with_id(
            "srv-6",
            "run_callable",
            json!({"callable_id": "c1", "args": [2, 3], "kwargs": {}}),
        ),
        ScriptStep::Raw("{not json".into()),
    ]));
    let mut c = session(&s);
    let req = c.frame();
    assert_eq!(req["id"], "srv-6");
    c.send(&json!({"jsonrpc": "2.0", "id": "srv-6", "result": {"message": "Ok", "data": 5}}));
    assert_eq!(c.recv(WAIT), Got::Text("{not json".into()));
    let calls = s.client_calls();
    assert_eq!(
        calls[0].reply,
        CallReply::Result(json!({"message": "Ok", "data": 5}))
    );
}

#[test]
fn a_plan_can_replace_the_reply_or_close_instead() {
    let s = server();
    s.plan_next(
        "create_model",
        Plan::new().reply(Reply::Error(tcm_proto_error())),
    );
    s.plan_next("create_model", Plan::new().reply(Reply::Close(1000)));
    let mut c = session(&s);
    let (resp, _) = c.call("create_model", json!({"class_type": "X", "provider": "p"}));
    assert_eq!(resp["error"]["code"], -32603);
    c.request("create_model", json!({"class_type": "X", "provider": "p"}));
    assert_eq!(c.recv(WAIT), Got::Close(Some(1000)));
}

fn tcm_proto_error() -> tcm_proto::jsonrpc::RpcError {
    tcm_proto::jsonrpc::RpcError::internal("quota exceeded")
}

#[test]
fn sessions_are_separate_and_stop_closes_clients_with_1000() {
    let s = server();
    let mut c1 = session(&s);
    let v = c1.ok(
        "create_variable",
        json!({"data": "x", "role": "r", "requires_grad": false}),
    )["variable_id"]
        .clone();
    let mut c2 = session(&s);
    let (resp, _) = c2.call("get_variable", json!({"variable_id": v}));
    assert_eq!(
        resp["error"]["code"], -32603,
        "a new socket is a new session"
    );
    assert_eq!(s.stats().sessions, 2);
    s.stop();
    assert_eq!(c1.recv(WAIT), Got::Close(Some(1000)));
    assert_eq!(c2.recv(WAIT), Got::Close(Some(1000)));
}

#[test]
fn hostile_frames_get_errors_and_the_session_survives() {
    let s = server_with(RpcServerConfig {
        max_message_bytes: 4096,
        ..RpcServerConfig::default()
    });
    let mut c = session(&s);
    // Params that are not an object, odd ids, binary frames, deep nesting, wrong types.
    c.send_text(r#"{"jsonrpc":"2.0","method":"create_variable","params":[1,2],"id":7}"#);
    assert_eq!(c.frame()["error"]["code"], -32602);
    c.send_text(r#"{"jsonrpc":"2.0","method":"get_variable","params":{"variable_id":5,"run_uuid":"r"},"id":0}"#);
    let f = c.frame();
    assert_eq!(
        (f["id"].clone(), f["error"]["code"].clone()),
        (json!(0), json!(-32603))
    );
    c.send_text(&format!("{}{}", "[".repeat(200), "]".repeat(200)));
    assert!(c.frame()["error"].is_object());
    c.send_text(r#"{"jsonrpc":"2.0","method":7,"id":"m"}"#);
    assert_eq!(c.frame()["error"]["code"], -32600);
    c.send_text(r#"{"jsonrpc":"2.0","id":"nobody","result":1}"#);
    c.send_text(r#"{"jsonrpc":"2.0","method":"create_variable","params":{"run_uuid":"r"}}"#);
    assert_eq!(
        c.recv(Duration::from_millis(200)),
        Got::Timeout,
        "responses and notifications get nothing"
    );
    let r = c.ok(
        "create_variable",
        json!({"data": "still", "role": "r", "requires_grad": false}),
    );
    assert!(r["variable_id"].is_string());
    // A message above the limit closes with 1009.
    c.send_text(&format!("\"{}\"", "x".repeat(5000)));
    assert_eq!(c.recv(WAIT), Got::Close(Some(1009)));
    // The server still serves others.
    session(&s).close();
}

#[test]
fn the_binary_prints_its_url_first_and_serves_until_killed() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tcm-rpc-testserver"))
        .args(["--bind", "127.0.0.1:0", "--api-key", "bin-key"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a line");
    let url = line.trim();
    let addr: std::net::SocketAddr = url
        .strip_prefix("ws://")
        .and_then(|r| r.strip_suffix("/ws/v0/rpc/"))
        .expect("ws://ADDR/ws/v0/rpc/")
        .parse()
        .expect("an address");
    assert!(!line.contains("bin-key"));
    assert_eq!(
        connect_path(addr, "/ws/v0/rpc/", Some(KEY)).err(),
        Some(403)
    );
    let mut c = connect_path(addr, "/ws/v0/rpc/", Some("bin-key")).expect("upgrade");
    assert!(c.frame()["result"]["session_id"].is_string());
    child.kill().expect("kill");
    let _ = child.wait();
}

#[test]
fn bad_arguments_exit_with_usage() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcm-rpc-testserver"))
        .args(["--bind", "nonsense"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bind"));
}

#[test]
fn now_operations_target_the_newest_live_session() {
    let s = server();
    let mut old = session(&s);
    let new = session(&s);
    s.send_raw("to-new").unwrap();
    new.close();
    let deadline = Instant::now() + WAIT;
    while s.send_raw("probe").is_ok() && s.frames().last().is_some_and(|f| f.conn == 2) {
        assert!(
            Instant::now() < deadline,
            "the closed session stays the target"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    s.send_raw("to-old").unwrap();
    let mut got = old.recv(WAIT);
    while got == Got::Text("probe".into()) {
        got = old.recv(WAIT);
    }
    assert_eq!(got, Got::Text("to-old".into()));
}

#[test]
fn heartbeats_can_be_paused_while_a_call_is_working() {
    let s = server();
    s.plan_next(
        "run_step",
        Plan::new()
            .work(Duration::from_millis(400))
            .heartbeats_every(Duration::from_millis(20))
            .script(vec![])
            .result(json!({"message": "Optimizer step executed successfully.", "state": []})),
    );
    let mut c = session(&s);
    let id = c.request("run_step", json!({"optimizer_id": "o"}));
    assert_eq!(c.frame()["method"], "heartbeat");
    s.pause_heartbeats(true);
    let start = Instant::now();
    let mut late_beats = 0;
    let resp = loop {
        let f = c.frame();
        if f["method"] == "heartbeat" {
            if start.elapsed() > Duration::from_millis(150) {
                late_beats += 1;
            }
        } else {
            break f;
        }
    };
    assert_eq!(resp["id"], json!(id));
    assert_eq!(late_beats, 0, "no heartbeat once paused");
}

/// A child process killed when dropped, so a failing test leaves no server behind.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary with `args`; returns it and the address from its first line.
fn spawn_binary(args: &[&str]) -> (Running, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tcm-rpc-testserver"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a line");
    let addr = line
        .trim()
        .strip_prefix("ws://")
        .and_then(|r| r.strip_suffix("/ws/v0/rpc/"))
        .expect("ws://ADDR/ws/v0/rpc/")
        .parse()
        .expect("an address");
    (Running(child), addr)
}

#[test]
fn the_binary_takes_a_set_up_file_and_flags_and_writes_a_json_lines_record() {
    let dir = std::env::temp_dir().join(format!("rpc-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let setup = dir.join("setup.json");
    let record = dir.join("record.jsonl");
    std::fs::write(
        &setup,
        json!({
            "api_key": "file-key",
            "plans": [{"method": "create_variable", "once": true,
                       "reply": {"result": {"variable_id": "planned", "message": "m"}}}],
            "connect_script": [{"call": "create_node", "params": {"node_id": "n1", "name": "X"}}]
        })
        .to_string(),
    )
    .expect("write set-up");
    let (child, addr) = spawn_binary(&[
        "--config",
        setup.to_str().expect("utf-8 path"),
        "--api-key",
        "flag-key",
        "--fault",
        "duplicate_next_response",
        "--record",
        record.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(
        connect_path(addr, "/ws/v0/rpc/", Some("file-key")).err(),
        Some(403),
        "the flag after --config wins"
    );
    let mut c = connect_path(addr, "/ws/v0/rpc/", Some("flag-key")).expect("upgrade");
    assert!(c.frame()["result"]["session_id"].is_string());
    let call = c.frame();
    assert_eq!(call["method"], "create_node");
    c.send(&json!({"jsonrpc": "2.0", "id": call["id"], "result": {"message": "Ok"}}));
    let id = c.request(
        "create_variable",
        json!({"data": "d", "role": "r", "requires_grad": false}),
    );
    let (first, second) = (c.frame(), c.frame());
    assert_eq!(first["id"], id);
    assert_eq!(first, second, "the fault duplicated the planned reply");
    assert_eq!(first["result"]["variable_id"], "planned");

    // The call's line is written once the reply is in; wait for it.
    let deadline = Instant::now() + WAIT;
    let mut events: Vec<Value> = Vec::new();
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        // Complete lines only: the server may be writing the next one.
        let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
        events = complete
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect();
        if events.iter().filter(|e| e["event"] == "frame").count() >= 6
            && events.iter().any(|e| e["event"] == "call")
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&dir);
    let text = events.iter().map(Value::to_string).collect::<String>();
    assert!(
        !text.contains("flag-key") && !text.contains("file-key"),
        "keys redacted"
    );
    let outcomes: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "handshake")
        .map(|e| &e["outcome"])
        .collect();
    assert_eq!(outcomes, [&json!("forbidden"), &json!("accepted")]);
    let call = events
        .iter()
        .find(|e| e["event"] == "call")
        .expect("the connect script's call");
    assert_eq!(call["method"], "create_node");
    assert_eq!(call["reply"], json!({"result": {"message": "Ok"}}));
    let directions: Vec<&str> = events
        .iter()
        .filter(|e| e["event"] == "frame")
        .filter_map(|e| e["direction"].as_str())
        .collect();
    assert_eq!(
        directions,
        [
            "to_client",
            "to_client",
            "from_client",
            "from_client",
            "to_client",
            "to_client"
        ]
    );
}

#[test]
fn the_binary_refuses_a_broken_set_up_naming_the_place() {
    let dir = std::env::temp_dir().join(format!("rpc-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let setup = dir.join("setup.json");
    std::fs::write(
        &setup,
        r#"{"plans": [{"method": "x", "reply": "sometimes"}]}"#,
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tcm-rpc-testserver"))
        .args(["--config", setup.to_str().expect("utf-8 path")])
        .output()
        .expect("runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("plans[0].reply"));
}

/// Reads raw bytes after sending an upgrade request: everything the first read returns.
fn first_read_after_upgrade(addr: std::net::SocketAddr) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(WAIT)).expect("timeout");
    write!(
        tcp,
        "GET /ws/v0/rpc/ HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Api-Key {KEY}\r\n\r\n"
    )
    .expect("send");
    let mut buf = vec![0u8; 4096];
    let n = tcp.read(&mut buf).expect("read");
    buf.truncate(n);
    buf
}

#[test]
fn by_default_the_session_frame_leaves_with_the_upgrade_response() {
    let s = server();
    let bytes = first_read_after_upgrade(s.addr());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    let head_end = text.find("\r\n\r\n").expect("a complete head") + 4;
    assert!(
        text[head_end..].contains("\"session_id\""),
        "the session frame is already there: {text:?}"
    );
}

#[test]
fn a_delayed_session_frame_follows_the_upgrade_response_separately() {
    let s = server_with(RpcServerConfig {
        session_frame_write: SessionFrameWrite::Separate,
        session_delay: Duration::from_millis(300),
        ..RpcServerConfig::default()
    });
    let bytes = first_read_after_upgrade(s.addr());
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(
        text.ends_with("\r\n\r\n"),
        "nothing after the head yet: {text:?}"
    );
}
