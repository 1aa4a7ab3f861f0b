//! Every vector file loads into typed steps.

use std::path::Path;

use tcm_vectors::{Conversation, StepKind, tcm_conversations_dir, tellurio_dir};

fn load_all(dir: &Path) -> Vec<Conversation> {
    let mut failures = Vec::new();
    let mut loaded = Vec::new();
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            match Conversation::load(&path) {
                Ok(c) => loaded.push(c),
                Err(e) => failures.push(e.to_string()),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unparseable conversation files:\n{}",
        failures.join("\n")
    );
    loaded
}

#[test]
fn every_tcm_conversation_loads() {
    let convs = load_all(&tcm_conversations_dir());
    assert!(convs.len() >= 100, "only {} TCM conversations", convs.len());
    assert!(convs.iter().all(|c| c.protocol == "tcm"));
}

#[test]
fn every_tellurio_conversation_loads() {
    let convs = load_all(&tellurio_dir());
    assert!(!convs.is_empty());
    assert!(convs.iter().all(|c| c.protocol == "tellurio-jsonrpc"));
}

#[test]
fn load_dir_sorts_by_name() {
    let convs = Conversation::load_dir(&tcm_conversations_dir()).expect("load_dir");
    let names: Vec<&str> = convs.iter().map(|c| c.name.as_str()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn steps_are_typed() {
    let conv =
        Conversation::load(tcm_conversations_dir().join("pipelined-info-x15-queue-full.json"))
            .expect("load");
    assert!(conv.timing_sensitive);
    assert!(matches!(&conv.steps[0].kind, StepKind::Connect { name, .. } if name == "c1"));
    let StepKind::ExpectUnordered { frames, .. } = &conv.steps[18].kind else {
        panic!("step 18 is {:?}", conv.steps[18].kind);
    };
    assert_eq!(frames.iter().filter(|f| f.optional).count(), 1);
    assert_eq!(conv.steps[19].kind, StepKind::ExpectSilenceMs(2000));

    let bad_key =
        Conversation::load(tellurio_dir().join("connect-bad-key-rejected.json")).expect("load");
    let StepKind::Connect {
        path,
        headers,
        expect_status,
        ..
    } = &bad_key.steps[0].kind
    else {
        panic!("not a connect step");
    };
    assert_eq!(path.as_deref(), Some("/ws/v0/rpc/"));
    assert_eq!(headers[0].0, "Authorization");
    assert_eq!(*expect_status, 403);
}

#[test]
fn unknown_actions_and_keys_are_rejected() {
    use serde_json::json;
    use tcm_vectors::Step;
    assert!(Step::from_value(&json!({"sned": {}})).is_err());
    assert!(Step::from_value(&json!({"send": {}, "expect": {}})).is_err());
    assert!(Step::from_value(&json!({"send": {}, "reason": "x"})).is_err());
    let close = Step::from_value(&json!({"expect_close": null, "conn": "c2"})).expect("parse");
    assert_eq!(close.conn, "c2");
    assert_eq!(
        close.kind,
        StepKind::ExpectClose {
            code: None,
            reason: None
        }
    );
}
