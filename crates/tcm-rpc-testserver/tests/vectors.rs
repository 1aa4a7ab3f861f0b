//! Replays the Tellurio conversation vectors (`shared/vectors/tellurio/`) against the server,
//! with `tcm_vectors::play_client` playing the client.
//!
//! The vectors were written for client tests: most server frames are scripted there, so each
//! one is set up here with the server's own scripting API (plans, connect scripts, faults).
//! Vectors played with the server's default behaviour are marked "defaults".

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use tcm_rpc_testserver::{CallReply, Fault, Plan, Reply, RpcServerHandle, ScriptStep};
use tcm_vectors::{ClientTarget, Conversation, IgnoreServerActions, play_client};

/// Vectors this server cannot reproduce faithfully, with the reason. Empty: every vector is
/// played below.
const NOT_PLAYED: &[(&str, &str)] = &[];

/// Vectors played below.
const PLAYED: &[&str] = &[
    "backward-sequence",
    "call-unknown-method",
    "connect-bad-key-rejected",
    "disconnect-fails-pending",
    "late-response-after-timeout",
    "long-running-heartbeat-extends",
    "long-running-heartbeat-stops-timeout",
    "response-without-result-or-error",
    "run-callable",
    "server-error-frame-no-reply",
    "server-notifications-no-reply",
    "server-parse-error-reply",
    "server-request-create-and-update-variable",
    "server-request-internal-error",
    "server-request-invalid-version",
    "server-request-missing-param",
    "server-request-unknown-method",
    "session-and-create-variable",
    "short-call-ignores-heartbeat",
];

fn conversation(name: &str) -> Conversation {
    let path = tcm_vectors::tellurio_dir().join(format!("{name}.json"));
    Conversation::load(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Starts a server (key `test-key`, the `tellurio-fake` profile), lets `setup` script it, and
/// plays the vector's client side against it.
fn play(name: &str, setup: impl FnOnce(&RpcServerHandle)) -> RpcServerHandle {
    let conv = conversation(name);
    assert_eq!(conv.server_profile, "tellurio-fake");
    let server = common::server();
    setup(&server);
    let target = ClientTarget {
        addr: server.addr(),
    };
    if let Err(f) = play_client(&conv, &target, &mut IgnoreServerActions) {
        panic!("{name}: {f}\nframes: {:#?}", server.frames());
    }
    server
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn every_tellurio_vector_is_either_played_or_listed_with_a_reason() {
    let on_disk: BTreeSet<String> = Conversation::load_dir(&tcm_vectors::tellurio_dir())
        .expect("vectors load")
        .into_iter()
        .map(|c| c.name)
        .collect();
    let known: BTreeSet<String> = PLAYED
        .iter()
        .chain(NOT_PLAYED.iter().map(|(n, _)| n))
        .map(|s| s.to_string())
        .collect();
    assert_eq!(on_disk, known);
}

// Defaults: the session frame, the method's own result, the unknown-method error, 403.

#[test]
fn session_and_create_variable() {
    play("session-and-create-variable", |_| {});
}

#[test]
fn call_unknown_method() {
    play("call-unknown-method", |_| {});
}

#[test]
fn connect_bad_key_rejected() {
    play("connect-bad-key-rejected", |_| {});
}

// Plans: scripted timing, server calls and results around one request.

#[test]
fn backward_sequence() {
    play("backward-sequence", |s| {
        // The vector's variables live in `client_setup`, unknown to this session's registry.
        s.plan_next(
            "get_backprop_ids",
            Plan::new().result(json!({"variable_ids": ["v-a"]})),
        );
        s.plan_next(
            "run_backward",
            Plan::new()
                .work(ms(150))
                .heartbeats_every(ms(100))
                .script(vec![
                    ScriptStep::call_with_id(
                        "srv-10",
                        "append_grad",
                        json!({"variable_id": "v-a", "gradient_id": "g-1", "gradient": {"data": "make it shorter", "role": "feedback to sum", "requires_grad": false}}),
                    ),
                    ScriptStep::call_with_id(
                        "srv-11",
                        "clear_backward",
                        json!({"variable_ids": ["v-a"]}),
                    ),
                ])
                .result(json!({"message": "Backward pass executed successfully."})),
        );
    });
}

#[test]
fn disconnect_fails_pending() {
    play("disconnect-fails-pending", |s| {
        s.plan_next(
            "create_variable",
            Plan::new().work(ms(100)).reply(Reply::Close(1000)),
        );
    });
}

#[test]
fn late_response_after_timeout() {
    play("late-response-after-timeout", |s| {
        s.plan_next(
            "create_variable",
            Plan::new().work(ms(1500)).result(
                json!({"variable_id": "var-late", "message": "Variable created successfully."}),
            ),
        );
    });
}

#[test]
fn long_running_heartbeat_extends() {
    play("long-running-heartbeat-extends", |s| {
        // Heartbeats at 300, 600, ... 2400 ms (eight), then the node, then the result.
        s.plan_next(
            "run_function",
            Plan::new()
                .work(ms(2500))
                .heartbeats_every(ms(300))
                .script(vec![ScriptStep::call_with_id(
                    "srv-1",
                    "create_node",
                    json!({"node_id": "node-1", "name": "AddBackward"}),
                )])
                .result(json!({"data": {"variable_id": "v-out", "data": "ab", "role": "sum", "requires_grad": true, "_retain_grad": false, "_grad": [], "_output_nr": 0, "_grad_fn": "node-1", "is_leaf": false}})),
        );
    });
}

#[test]
fn long_running_heartbeat_stops_timeout() {
    play("long-running-heartbeat-stops-timeout", |s| {
        s.plan_next(
            "run_backward",
            Plan::new()
                .work(ms(3000))
                .heartbeats_every(ms(300))
                .max_heartbeats(5)
                .reply(Reply::Never),
        );
    });
}

#[test]
fn short_call_ignores_heartbeat() {
    play("short-call-ignores-heartbeat", |s| {
        s.plan_next(
            "create_variable",
            Plan::new()
                .work(ms(2000))
                .heartbeats_every(ms(450))
                .max_heartbeats(2)
                .reply(Reply::Never),
        );
    });
}

// Faults.

#[test]
fn response_without_result_or_error() {
    play("response-without-result-or-error", |s| {
        assert_eq!(s.inject(Fault::EmptyNextResponse), Ok(None));
    });
}

// Connect scripts: server-initiated traffic right after the session frame.

fn on_connect(steps: Vec<ScriptStep>) -> impl FnOnce(&RpcServerHandle) {
    move |s| s.set_connect_script(Some(steps))
}

#[test]
fn run_callable() {
    let server = play(
        "run-callable",
        on_connect(vec![
            ScriptStep::call_with_id(
                "srv-6",
                "run_callable",
                json!({"callable_id": "7d3f3c9e-1c2b-4d5e-8f60-00000000c001", "args": [2, 3], "kwargs": {}}),
            ),
            ScriptStep::call_with_id(
                "srv-8",
                "run_callable",
                json!({"callable_id": "00000000-0000-4000-8000-0000000000ff", "args": [], "kwargs": {}}),
            ),
        ]),
    );
    // The server recorded both replies, the error included. The last reply may be recorded a
    // moment after the conversation's final step: wait for it, within a bound.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut calls = server.client_calls();
    while calls.len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(10));
        calls = server.client_calls();
    }
    assert_eq!(
        calls.len(),
        2,
        "both run_callable replies recorded: {calls:?}"
    );
    assert_eq!(
        calls[0].reply,
        CallReply::Result(json!({"message": "Ok", "data": 5}))
    );
    assert_eq!(calls[1].reply.error().map(|e| e.code), Some(-32603));
}

#[test]
fn server_error_frame_no_reply() {
    play(
        "server-error-frame-no-reply",
        on_connect(vec![ScriptStep::Raw(
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Invalid Request"}}).to_string(),
        )]),
    );
}

#[test]
fn server_notifications_no_reply() {
    play(
        "server-notifications-no-reply",
        on_connect(vec![
            ScriptStep::notify("heartbeat", json!({"id": "not-a-pending-id"})),
            ScriptStep::notify("no_such_method", json!({"x": 1})),
            ScriptStep::Pause(ms(500)),
            ScriptStep::call_with_id(
                "srv-2",
                "create_node",
                json!({"node_id": "node-3", "name": "Y"}),
            ),
        ]),
    );
}

#[test]
fn server_parse_error_reply() {
    play(
        "server-parse-error-reply",
        on_connect(vec![
            ScriptStep::Raw("{not json".into()),
            ScriptStep::call_with_id(
                "srv-7",
                "create_node",
                json!({"node_id": "node-4", "name": "Z"}),
            ),
        ]),
    );
}

#[test]
fn server_request_create_and_update_variable() {
    play(
        "server-request-create-and-update-variable",
        on_connect(vec![
            ScriptStep::call_with_id(
                "srv-1",
                "create_variable",
                json!({"variable_id": "var-1", "obj_type": "__variable__", "data": "hello", "role": "greeting", "requires_grad": false, "_retain_grad": false, "_grad": [], "_output_nr": 0, "_grad_fn": null, "is_leaf": true}),
            ),
            ScriptStep::call_with_id(
                "test-id-123",
                "update_variable",
                json!({"variable_id": "var-1", "field": "data", "value": "new value"}),
            ),
        ]),
    );
}

#[test]
fn server_request_internal_error() {
    play(
        "server-request-internal-error",
        on_connect(vec![ScriptStep::call_with_id(
            "srv-4",
            "update_variable",
            json!({"variable_id": "missing-var", "field": "data", "value": "x"}),
        )]),
    );
}

#[test]
fn server_request_invalid_version() {
    play(
        "server-request-invalid-version",
        on_connect(vec![ScriptStep::RawCall {
            id: json!("srv-v"),
            text: json!({"jsonrpc": "1.0", "id": "srv-v", "method": "create_node", "params": {"node_id": "node-2", "name": "X"}}).to_string(),
        }]),
    );
}

#[test]
fn server_request_missing_param() {
    play(
        "server-request-missing-param",
        on_connect(vec![ScriptStep::call_with_id(
            "srv-3",
            "create_node",
            json!({"node_id": "node-9"}),
        )]),
    );
}

#[test]
fn server_request_unknown_method() {
    play(
        "server-request-unknown-method",
        on_connect(vec![ScriptStep::call_with_id(
            "srv-5",
            "no_such_method",
            json!({"a": 1}),
        )]),
    );
}
