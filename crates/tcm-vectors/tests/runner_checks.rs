//! The runner detects what it should: each test plays the server role from one script and the
//! client role from a slightly different one, and looks at which side fails and why.

use std::net::TcpListener;

use serde_json::{Value, json};
use tcm_vectors::{
    Bindings, ClientDriver, ClientTarget, Conversation, IgnoreServerActions, Outcome,
    PassiveClient, Report, RunFailure, ServerActions, Step, play_client, play_server,
};

fn conv(protocol: &str, timing_sensitive: bool, steps: Value) -> Conversation {
    serde_json::from_value(json!({
        "name": "t",
        "protocol": protocol,
        "provenance": "code",
        "server_profile": "dev-simple",
        "description": "test",
        "timing_sensitive": timing_sensitive,
        "steps": steps,
    }))
    .expect("a valid conversation")
}

fn tcm(steps: Value) -> Conversation {
    conv("tcm", false, steps)
}

type Outcomes = (Result<Report, RunFailure>, Result<Report, RunFailure>);

/// Play `server` in the server role and `client` in the client role against each other.
fn pair_with(
    server: &Conversation,
    client: &Conversation,
    driver: &mut (dyn ClientDriver + Send),
    actions: &mut dyn ServerActions,
) -> Outcomes {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::scope(|s| {
        let srv = s.spawn(move || play_server(server, listener, driver));
        let cli = play_client(client, &ClientTarget { addr }, actions);
        (cli, srv.join().expect("server role panicked"))
    })
}

fn pair(server: &Conversation, client: &Conversation) -> Outcomes {
    pair_with(server, client, &mut PassiveClient, &mut IgnoreServerActions)
}

fn client_failure(server: &Conversation, client: &Conversation) -> RunFailure {
    match pair(server, client).0 {
        Ok(r) => panic!("the client role passed: {r:?}"),
        Err(f) => f,
    }
}

const AUTH: &str = "raw-1";

fn auth_send() -> Value {
    json!({"send": {"uuid": AUTH, "type": "auth", "payload": {}}})
}

#[test]
fn a_wrong_server_frame_fails_the_client_role_at_that_step_with_a_path() {
    let server = tcm(json!([{"connect": "c1"}, auth_send(),
        {"expect": {"type": "auth.ok", "payload": {"capability": ["json"]}}}]));
    let client = tcm(json!([{"connect": "c1"}, auth_send(),
        {"expect": {"type": "auth.ok", "payload": {"capability": ["json", "shm"]}}}]));
    let f = client_failure(&server, &client);
    assert_eq!(f.step, 2);
    assert_eq!(f.action, "expect");
    assert_eq!(f.conversation, "t");
    assert!(f.actual.contains("$.payload.capability"), "{f}");
}

#[test]
fn a_wrong_client_frame_fails_the_server_role() {
    let server = tcm(json!([{"connect": "c1"},
        {"send": {"uuid": AUTH, "type": "auth", "payload": {"token": "t"}}}]));
    let client = tcm(json!([{"connect": "c1"}, auth_send()]));
    let (_, srv) = pair(&server, &client);
    let f = srv.expect_err("the server role should fail");
    assert_eq!((f.step, f.action), (1, "send"));
    assert!(f.actual.contains("keys"), "{f}");
}

#[test]
fn unsolicited_tcm_frames_are_skipped_by_the_client_role() {
    let alert = json!({"type": "alert", "payload": {"t": 1}});
    let budget = json!({"type": "error", "payload": {"code": "BACKPRESSURE_INSUFFICIENT_BUDGET"}});
    let server = tcm(json!([{"connect": "c1"}, auth_send(),
        {"expect": alert}, {"expect": {"type": "auth.ok"}}, {"expect": budget},
        {"expect_silence_ms": 100}]));
    let client = tcm(json!([{"connect": "c1"}, auth_send(),
        {"expect": {"type": "auth.ok"}}, {"expect_silence_ms": 100}]));
    let (cli, srv) = pair(&server, &client);
    let report = cli.expect("client role");
    srv.expect("server role");
    let skipped: Vec<&Value> = report
        .skipped_unsolicited
        .iter()
        .map(|s| &s.frame)
        .collect();
    assert_eq!(skipped, [&alert, &budget]);
    assert_eq!(report.skipped_unsolicited[1].step, 3);
}

#[test]
fn a_listed_unsolicited_frame_is_matched_not_skipped() {
    let alert = json!({"type": "alert", "payload": {"t": "<any:number>"}});
    let script = tcm(json!([{"connect": "c1"}, auth_send(),
        {"expect": {"type": "auth.ok"}}, {"server_action": "triton_server_state_change"},
        {"expect": alert}]));
    let (cli, srv) = pair(&script, &script);
    assert!(cli.expect("client role").skipped_unsolicited.is_empty());
    assert_eq!(srv.expect("server role").not_applicable, [3]);
}

#[test]
fn tellurio_frames_are_never_skipped() {
    let server = conv(
        "tellurio-jsonrpc",
        false,
        json!([{"connect": "c1"},
        {"expect": {"type": "alert"}}, {"expect": {"jsonrpc": "2.0", "result": {}}}]),
    );
    let client = conv(
        "tellurio-jsonrpc",
        false,
        json!([{"connect": "c1"},
        {"expect": {"jsonrpc": "2.0", "result": {}}}]),
    );
    assert_eq!(client_failure(&server, &client).step, 1);
}

#[test]
fn unordered_frames_match_in_any_order_with_optional_elements() {
    let a = json!({"type": "r", "n": 1});
    let b = json!({"type": "r", "n": 2});
    let opt = json!({"type": "note"});
    let client = tcm(json!([{"connect": "c1"},
        {"expect_unordered": [a, {"$optional": opt}, b]}, {"expect_silence_ms": 100}]));
    for emitted in [json!([b, a]), json!([b, opt, a]), json!([a, b])] {
        let server = tcm(json!([{"connect": "c1"},
            {"expect_unordered": emitted}, {"expect_silence_ms": 100}]));
        let (cli, srv) = pair(&server, &client);
        cli.unwrap_or_else(|f| panic!("{emitted}: {f}"));
        srv.expect("server role");
    }
    let twice = tcm(json!([{"connect": "c1"}, {"expect_unordered": [a, a]}]));
    let f = client_failure(&twice, &client);
    assert!(f.actual.contains("matches no remaining element"), "{f}");
}

#[test]
fn timing_sensitive_blocks_check_one_answer_per_request() {
    let nack = json!({"type": "error", "payload": {"code": "BACKPRESSURE_QUEUE_FULL", "dropped_type": "info"}});
    let resp =
        |n: u64| json!({"type": "info_response", "payload": {"job_id": n, "status": "success"}});
    let budget = json!({"type": "error", "payload": {"code": "BACKPRESSURE_INSUFFICIENT_BUDGET"}});
    let recorded = conv(
        "tcm",
        true,
        json!([{"connect": "c1"},
        {"expect_unordered": [nack, resp(0), {"$optional": budget}, resp(1)]},
        {"expect_silence_ms": 200}]),
    );
    let emitting = |frames: Value| {
        tcm(json!([{"connect": "c1"}, {"expect_unordered": frames}, {"expect_silence_ms": 200}]))
    };
    // Another run: nothing dropped, so three responses, one not in the recording.
    let (cli, _) = pair(
        &emitting(json!([resp(0), budget, resp(2), resp(1)])),
        &recorded,
    );
    let report = cli.expect("three answers of the recorded kinds");
    assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
    assert!(report.notes[0].contains("accepted by kind"));
    // Two NACKs: an element may be used more than once.
    pair(&emitting(json!([nack, nack, resp(1)])), &recorded)
        .0
        .expect("two NACKs");
    // A frame of another kind fails.
    let other = json!({"type": "error", "payload": {"code": "BACKPRESSURE_QUEUE_FULL", "job_id": 3, "dropped_type": "info"}});
    let f = client_failure(&emitting(json!([nack, other, resp(1)])), &recorded);
    assert!(f.actual.contains("not of any listed kind"), "{f}");
    // The same response twice: a request answered twice.
    let f = client_failure(&emitting(json!([resp(0), resp(0), resp(1)])), &recorded);
    assert!(f.actual.contains("second identical answer"), "{f}");
    // One answer too many shows up in the silence that follows.
    let f = client_failure(
        &emitting(json!([nack, resp(0), resp(1), resp(2)])),
        &recorded,
    );
    assert_eq!(f.action, "expect_silence_ms");
}

#[test]
fn close_codes_and_drops_are_told_apart() {
    let closing = |code: Value| tcm(json!([{"connect": "c1"}, {"expect_close": code}]));
    let f = client_failure(&closing(json!(1008)), &closing(json!(1000)));
    assert_eq!(f.actual, "close 1008 \"\"");
    let f = client_failure(&closing(json!(1008)), &closing(json!(null)));
    assert!(f.actual.contains("1008"), "{f}");
    let f = client_failure(&closing(json!(null)), &closing(json!(1008)));
    assert!(f.actual.contains("without a close frame"), "{f}");
    let (cli, srv) = pair(&closing(json!(null)), &closing(json!(null)));
    cli.expect("client role");
    srv.expect("server role");

    let with_reason = tcm(json!([{"connect": "c1"}, {"expect_close": 1009, "reason": "too big"}]));
    let other_reason = tcm(json!([{"connect": "c1"}, {"expect_close": 1009, "reason": "big"}]));
    client_failure(&with_reason, &other_reason);
    pair(&with_reason, &with_reason).0.expect("same reason");
}

#[test]
fn the_client_close_is_checked_by_the_server_role() {
    let server = tcm(json!([{"connect": "c1"}, {"close": 1000}]));
    let client = tcm(json!([{"connect": "c1"}, {"close": null}]));
    let (_, srv) = pair(&server, &client);
    let f = srv.expect_err("the server role should fail");
    assert_eq!(f.action, "close");
}

#[test]
fn a_frame_during_silence_fails() {
    let server = tcm(json!([{"connect": "c1"}, {"wait_ms": 100}, {"expect": {"type": "x"}}]));
    let client = tcm(json!([{"connect": "c1"}, {"expect_silence_ms": 1000}]));
    let f = client_failure(&server, &client);
    assert_eq!(f.action, "expect_silence_ms");
    assert!(f.actual.starts_with("after "), "{f}");
}

#[test]
fn upgrade_status_path_and_headers_are_checked() {
    let rejected = conv(
        "tellurio-jsonrpc",
        false,
        json!([
        {"connect": "c1", "headers": {"Authorization": "Api-Key bad"}, "expect_status": 403}]),
    );
    let accepted = conv(
        "tellurio-jsonrpc",
        false,
        json!([
        {"connect": "c1", "headers": {"Authorization": "Api-Key bad"}}]),
    );
    let f = client_failure(&rejected, &accepted);
    assert_eq!(f.actual, "status 403");
    pair(&rejected, &rejected)
        .0
        .expect("a rejection that was expected");

    let good = conv(
        "tellurio-jsonrpc",
        false,
        json!([
        {"connect": "c1", "headers": {"Authorization": "Api-Key test-key"}}]),
    );
    let (_, srv) = pair(&good, &accepted);
    let f = srv.expect_err("wrong header");
    assert!(f.expected.contains("Api-Key test-key"), "{f}");

    let other_path = tcm(json!([{"connect": "c1", "path": "/other"}]));
    let (_, srv) = pair(&tcm(json!([{"connect": "c1"}])), &other_path);
    assert!(srv.expect_err("wrong path").actual.contains("/other"));
}

#[test]
fn bound_ids_flow_from_client_sends_to_server_replies() {
    let script = conv(
        "tellurio-jsonrpc",
        false,
        json!([
        {"connect": "c1"},
        {"send": {"jsonrpc": "2.0", "method": "m", "id": "<uuid4:r1>"}, "label": "r1"},
        {"expect": {"jsonrpc": "2.0", "id": "<ref:r1>", "result": {"v": "<any:string>"}}},
        {"outcome": {"of": "r1", "kind": "result"}}]),
    );
    let (cli, srv) = pair(&script, &script);
    let (cli, srv) = (cli.expect("client role"), srv.expect("server role"));
    let id = cli.bindings.get("r1").expect("bound by the client role");
    assert_eq!(srv.bindings.get("r1"), Some(id));
    assert_eq!(cli.not_applicable, [3]);
}

#[derive(Default)]
struct Recorder {
    calls: Vec<String>,
}

impl ClientDriver for Recorder {
    fn connect(&mut self, index: usize, step: &Step) -> Result<(), String> {
        self.calls.push(format!("{index} connect {}", step.conn));
        Ok(())
    }
    fn send(&mut self, index: usize, _step: &Step, _b: &Bindings) -> Result<(), String> {
        self.calls.push(format!("{index} send"));
        Ok(())
    }
    fn close(&mut self, index: usize, _step: &Step) -> Result<(), String> {
        self.calls.push(format!("{index} close"));
        Ok(())
    }
    fn outcome(&mut self, index: usize, o: &Outcome, _b: &Bindings) -> Result<(), String> {
        self.calls.push(format!("{index} outcome {}", o.of));
        if o.of == "bad" {
            return Err("the API reported something else".into());
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        self.calls.push("finish".into());
        Ok(())
    }
}

impl ServerActions for Recorder {
    fn server_action(&mut self, action: &str) -> Result<(), String> {
        self.calls.push(action.to_string());
        if action == "sigterm" {
            return Err("cannot".into());
        }
        Ok(())
    }
}

#[test]
fn the_driver_and_server_actions_are_consulted_at_their_steps() {
    let script = tcm(
        json!([{"connect": "c1"}, auth_send(), {"server_action": "sigterm_hold"},
        {"outcome": {"of": "x", "kind": "result"}}, {"close": 1000}]),
    );
    let mut driver = Recorder::default();
    let mut actions = Recorder::default();
    let (cli, srv) = pair_with(&script, &script, &mut driver, &mut actions);
    cli.expect("client role");
    srv.expect("server role");
    assert_eq!(
        driver.calls,
        ["0 connect c1", "1 send", "3 outcome x", "4 close", "finish"]
    );
    assert_eq!(actions.calls, ["sigterm_hold"]);

    let bad = tcm(json!([{"connect": "c1"}, {"outcome": {"of": "bad", "kind": "failed"}}]));
    let (_, srv) = pair_with(
        &bad,
        &bad,
        &mut Recorder::default(),
        &mut IgnoreServerActions,
    );
    assert_eq!(srv.expect_err("outcome check").step, 1);

    let term = tcm(json!([{"connect": "c1"}, {"server_action": "sigterm"}]));
    let (cli, _) = pair_with(&term, &term, &mut PassiveClient, &mut Recorder::default());
    assert_eq!(cli.expect_err("server action").actual, "cannot");
}

#[test]
fn a_late_optional_frame_of_a_timing_sensitive_block_is_skipped() {
    let resp = json!({"type": "management", "request_id": "M1", "payload": {"status": false}});
    let limit = json!({"type": "error", "payload": {"code": "BACKPRESSURE_TENANT_LIMIT_REACHED"}});
    let recorded = conv(
        "tcm",
        true,
        json!([{"connect": "c1"},
        {"expect_unordered": [{"$optional": resp}, limit]}, {"expect_close": 1008}]),
    );
    let late = tcm(json!([{"connect": "c1"},
        {"expect": limit}, {"expect": resp}, {"expect_close": 1008}]));
    let report = pair(&late, &recorded).0.expect("late optional frame");
    assert!(
        report.notes.iter().any(|n| n.contains("late optional")),
        "{:?}",
        report.notes
    );
    let never = tcm(json!([{"connect": "c1"}, {"expect": limit}, {"expect_close": 1008}]));
    pair(&never, &recorded).0.expect("optional frame absent");
}

#[test]
fn unordered_matching_is_not_greedy() {
    // The first frame fits both elements; only one assignment covers both frames.
    let client = tcm(json!([{"connect": "c1"},
        {"expect_unordered": [{"type": "r", "n": "<any:int>"}, {"type": "r", "n": 1}]}]));
    let server = tcm(json!([{"connect": "c1"},
        {"expect_unordered": [{"type": "r", "n": 1}, {"type": "r", "n": 2}]}]));
    let (cli, srv) = pair(&server, &client);
    cli.expect("client role");
    srv.expect("server role");
}
