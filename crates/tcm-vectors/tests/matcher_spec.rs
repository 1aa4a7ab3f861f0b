//! The matching rules of the vectors' README §2, one rule per test.

use serde_json::{Value, json};
use tcm_vectors::matcher::{
    Bindings, MatchMode, check, instantiate, instantiate_binding, is_unsolicited_tcm,
};
use tcm_vectors::wildcard;

fn exact(expected: Value, actual: Value) -> Result<(), String> {
    check(&expected, &actual, MatchMode::Exact, &mut Bindings::new()).map_err(|m| m.to_string())
}

fn shape(expected: Value, actual: Value) -> Result<(), String> {
    check(&expected, &actual, MatchMode::Shape, &mut Bindings::new()).map_err(|m| m.to_string())
}

const UUID: &str = "3f2b8c1e-9d4a-4b6e-8f0a-1c2d3e4f5a6b";

#[test]
fn numbers_are_compared_by_value() {
    assert_eq!(exact(json!(1), json!(1.0)), Ok(()));
    assert_eq!(
        exact(
            json!({"v": [1.0]}),
            serde_json::from_str("{\"v\":[1e0]}").unwrap()
        ),
        Ok(())
    );
    assert_eq!(exact(json!(0.5), json!(0.5)), Ok(()));
    assert_eq!(
        exact(json!(1), json!(2)),
        Err("$: expected 1, got 2".into())
    );
    assert_eq!(exact(json!(u64::MAX), json!(u64::MAX)), Ok(()));
    assert!(exact(json!(u64::MAX), json!(u64::MAX - 1)).is_err());
}

#[test]
fn a_number_never_equals_its_string() {
    assert_eq!(
        exact(json!(1), json!("1")),
        Err("$: expected 1, got \"1\"".into())
    );
}

#[test]
fn strings_booleans_and_null_compare_exactly() {
    assert_eq!(exact(json!("ok"), json!("ok")), Ok(()));
    assert!(exact(json!("ok"), json!("OK")).is_err());
    assert!(exact(json!(true), json!(false)).is_err());
    assert!(exact(json!(null), json!(false)).is_err());
    assert_eq!(exact(json!(null), json!(null)), Ok(()));
}

#[test]
fn objects_are_unordered_maps_with_identical_key_sets() {
    let a: Value = serde_json::from_str(r#"{"type":"auth","uuid":"u"}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"uuid":"u","type":"auth"}"#).unwrap();
    assert_eq!(exact(a, b), Ok(()));
    assert_eq!(
        exact(
            json!({"payload": {"a": 1}}),
            json!({"payload": {"a": 1, "b": 2}})
        ),
        Err(r#"$.payload: expected keys ["a"], got keys ["a", "b"]"#.into())
    );
    assert_eq!(
        exact(json!({"a": 1, "b": null}), json!({"a": 1})),
        Err(r#"$: expected keys ["a", "b"], got keys ["a"]"#.into())
    );
}

#[test]
fn arrays_compare_element_by_element() {
    assert_eq!(exact(json!([1, 2]), json!([1, 2])), Ok(()));
    assert_eq!(
        exact(
            json!({"payload": {"data": [1]}}),
            json!({"payload": {"data": [2]}})
        ),
        Err("$.payload.data[0]: expected 1, got 2".into())
    );
    assert_eq!(
        exact(json!([1, 2]), json!([2, 1])),
        Err("$[0]: expected 1, got 2".into())
    );
    assert!(exact(json!([1]), json!([1, 1])).is_err());
}

#[test]
fn mismatch_paths_quote_keys_that_are_not_identifiers() {
    assert_eq!(
        exact(json!({"a-b": {"c d": 1}}), json!({"a-b": {"c d": 2}})),
        Err(r#"$["a-b"]["c d"]: expected 1, got 2"#.into())
    );
    assert_eq!(
        exact(
            json!({"_auth": {"roles": ["x"]}}),
            json!({"_auth": {"roles": ["y"]}})
        ),
        Err(r#"$._auth.roles[0]: expected "x", got "y""#.into())
    );
}

#[test]
fn mismatch_exposes_its_parts() {
    let err = check(
        &json!({"payload": {"data": [1]}}),
        &json!({"payload": {"data": [2]}}),
        MatchMode::Exact,
        &mut Bindings::new(),
    )
    .unwrap_err();
    assert_eq!(err.path, "$.payload.data[0]");
    assert_eq!(err.expected, "1");
    assert_eq!(err.actual, "2");
}

#[test]
fn any_matches_every_value_but_the_key_must_be_present() {
    for v in [
        json!(null),
        json!(1),
        json!("s"),
        json!([1]),
        json!({"a": 1}),
        json!(false),
    ] {
        assert_eq!(exact(json!({"k": "<any>"}), json!({"k": v})), Ok(()));
    }
    assert!(exact(json!({"k": "<any>"}), json!({})).is_err());
}

#[test]
fn typed_any_wildcards_check_the_type() {
    assert_eq!(exact(json!("<any:string>"), json!("")), Ok(()));
    assert_eq!(
        exact(json!("<any:string>"), json!(1)),
        Err("$: expected <any:string>, got 1".into())
    );
    assert_eq!(exact(json!("<any:number>"), json!(1.5)), Ok(()));
    assert_eq!(exact(json!("<any:number>"), json!(7)), Ok(()));
    assert!(exact(json!("<any:number>"), json!("7")).is_err());
    assert_eq!(exact(json!("<any:bool>"), json!(false)), Ok(()));
    assert!(exact(json!("<any:bool>"), json!(0)).is_err());
}

#[test]
fn any_int_accepts_integral_values_only() {
    assert_eq!(exact(json!("<any:int>"), json!(0)), Ok(()));
    assert_eq!(exact(json!("<any:int>"), json!(-3)), Ok(()));
    assert_eq!(exact(json!("<any:int>"), json!(4.0)), Ok(()));
    assert!(exact(json!("<any:int>"), json!(4.5)).is_err());
    assert!(exact(json!("<any:int>"), json!("4")).is_err());
}

#[test]
fn hex16_is_sixteen_lowercase_hex_digits() {
    assert_eq!(exact(json!("<hex16>"), json!("0123456789abcdef")), Ok(()));
    assert!(exact(json!("<hex16>"), json!("0123456789ABCDEF")).is_err());
    assert!(exact(json!("<hex16>"), json!("0123456789abcde")).is_err());
    assert!(exact(json!("<hex16>"), json!("0123456789abcdefa")).is_err());
    assert!(exact(json!("<hex16>"), json!("0123456789abcdeg")).is_err());
}

#[test]
fn uuid4_is_a_lowercase_hyphenated_version_4_uuid() {
    assert_eq!(exact(json!("<uuid4>"), json!(UUID)), Ok(()));
    assert!(exact(json!("<uuid4>"), json!(UUID.to_uppercase())).is_err());
    assert!(exact(json!("<uuid4>"), json!(UUID.replace('-', ""))).is_err());
    // Version nibble 1, and a variant nibble outside 8..b.
    assert!(
        exact(
            json!("<uuid4>"),
            json!("3f2b8c1e-9d4a-1b6e-8f0a-1c2d3e4f5a6b")
        )
        .is_err()
    );
    assert!(
        exact(
            json!("<uuid4>"),
            json!("3f2b8c1e-9d4a-4b6e-cf0a-1c2d3e4f5a6b")
        )
        .is_err()
    );
}

#[test]
fn uuid4_name_binds_and_ref_name_requires_the_bound_value() {
    let mut b = Bindings::new();
    let req = json!({"id": "<uuid4:r1>", "method": "m"});
    check(
        &req,
        &json!({"id": UUID, "method": "m"}),
        MatchMode::Exact,
        &mut b,
    )
    .unwrap();
    assert_eq!(b.get("r1"), Some(&json!(UUID)));

    let resp = json!({"id": "<ref:r1>", "result": 1});
    assert_eq!(
        check(
            &resp,
            &json!({"id": UUID, "result": 1}),
            MatchMode::Exact,
            &mut b
        ),
        Ok(())
    );
    let other = "00000000-0000-4000-8000-000000000000";
    let err = check(
        &resp,
        &json!({"id": other, "result": 1}),
        MatchMode::Exact,
        &mut b,
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        err,
        format!("$.id: expected <ref:r1> = \"{UUID}\", got \"{other}\"")
    );
}

#[test]
fn an_unbound_ref_never_matches() {
    let err = exact(json!("<ref:nope>"), json!("x")).unwrap_err();
    assert_eq!(err, "$: expected <ref:nope> (unbound), got \"x\"");
}

#[test]
fn a_failed_check_binds_nothing() {
    let mut b = Bindings::new();
    let expected = json!({"id": "<uuid4:r1>", "n": 1});
    assert!(
        check(
            &expected,
            &json!({"id": UUID, "n": 2}),
            MatchMode::Exact,
            &mut b
        )
        .is_err()
    );
    assert!(b.is_empty());
}

#[test]
fn only_whole_strings_are_wildcards() {
    assert_eq!(
        exact(
            json!("Method '<m>' not found."),
            json!("Method '<m>' not found.")
        ),
        Ok(())
    );
    assert!(exact(json!("id <any>"), json!("id 5")).is_err());
    assert!(wildcard::parse("<id>").is_none());
}

#[test]
fn shape_mode_compares_keys_lengths_and_leaf_types() {
    assert_eq!(
        shape(
            json!({"a": 1, "b": ["x", true, null]}),
            json!({"a": 2.5, "b": ["y", false, null]})
        ),
        Ok(())
    );
    assert_eq!(
        shape(json!({"a": 1}), json!({"a": "1"})),
        Err("$.a: expected a number, got \"1\"".into())
    );
    assert!(shape(json!({"a": 1}), json!({"a": 1, "b": 1})).is_err());
    assert!(shape(json!([1, 2]), json!([1])).is_err());
    assert!(shape(json!({"a": {}}), json!({"a": []})).is_err());
}

#[test]
fn shape_mode_still_checks_wildcards() {
    assert_eq!(
        shape(json!({"c": "<hex16>"}), json!({"c": "0123456789abcdef"})),
        Ok(())
    );
    assert!(shape(json!({"c": "<hex16>"}), json!({"c": "not hex"})).is_err());
}

#[test]
fn instantiate_replaces_wildcards_and_uses_bindings() {
    let mut b = Bindings::new();
    b.bind("r1", json!(UUID));
    let frame = json!({"id": "<ref:r1>", "n": "<any:int>", "c": "<hex16>", "s": "plain"});
    let out = instantiate(&frame, &b, &mut wildcard::generate);
    assert_eq!(out["id"], json!(UUID));
    assert_eq!(out["s"], json!("plain"));
    // The concrete frame matches the recorded one.
    assert_eq!(check(&frame, &out, MatchMode::Exact, &mut b), Ok(()));

    let mut calls = Vec::new();
    let custom = instantiate(&json!(["<any:string>", "<ref:zz>"]), &b, &mut |t: &str| {
        calls.push(t.to_string());
        json!("made")
    });
    assert_eq!(custom, json!(["made", "made"]));
    assert_eq!(calls, ["<any:string>", "<ref:zz>"]);
}

#[test]
fn instantiate_binding_records_generated_uuids() {
    let mut b = Bindings::new();
    let out = instantiate_binding(
        &json!({"id": "<uuid4:r2>"}),
        &mut b,
        &mut wildcard::generate,
    );
    let id = out["id"].as_str().expect("a string");
    assert!(wildcard::is_uuid4(id), "{id}");
    assert_eq!(b.get("r2"), Some(&out["id"]));
}

#[test]
fn fresh_values_fit_their_wildcards() {
    for _ in 0..100 {
        assert!(wildcard::is_uuid4(&wildcard::fresh_uuid4()));
        assert!(wildcard::is_hex16(&wildcard::fresh_hex16()));
    }
    assert_ne!(wildcard::fresh_uuid4(), wildcard::fresh_uuid4());
}

#[test]
fn unsolicited_tcm_frames_are_alerts_and_budget_advisories() {
    assert!(is_unsolicited_tcm(&json!({"type": "alert", "payload": {}})));
    assert!(is_unsolicited_tcm(&json!({
        "type": "error",
        "payload": {"code": "BACKPRESSURE_INSUFFICIENT_BUDGET", "message": "m"}
    })));
    assert!(!is_unsolicited_tcm(&json!({
        "type": "error",
        "payload": {"code": "BACKPRESSURE_QUEUE_FULL"}
    })));
    assert!(!is_unsolicited_tcm(
        &json!({"type": "info_response", "payload": {}})
    ));
    assert!(!is_unsolicited_tcm(&json!([1])));
}
