//! Management jobs: the envelope echo and the dev-mode backend failures (§8).

use crate::frames::{self, OrderedObject};
use crate::session::Job;
use serde_json::{Map, Value};

/// The actions the job dispatcher knows.
pub const ACTIONS: [&str; 8] = [
    "creation",
    "deletion",
    "create_vm",
    "create_container",
    "create_server",
    "delete_server",
    "delete_container",
    "delete_vm",
];

fn dev(backend: &str, method: &str) -> String {
    format!(
        "'{backend}' does not implement '{method}' in dev mode. Use real services or extend DevBackend for this use case."
    )
}

fn unexpected(backend: &str, method: &str) -> String {
    format!("Unexpected error: {}", dev(backend, method))
}

fn has_vm_id(p: &Map<String, Value>) -> bool {
    p.get("vm_id").is_some_and(|v| !v.is_null())
        || p.get("openstack")
            .and_then(|o| o.get("vm_id"))
            .is_some_and(|v| !v.is_null())
}

/// Result `(status, data)` of a management payload on a server without cloud backends.
pub fn execute(payload: &Map<String, Value>) -> (bool, Value) {
    let action = match payload.get("action") {
        None | Some(Value::Null) => return (false, Value::from("Job action not found: None")),
        Some(Value::String(a)) => a.clone(),
        Some(other) => {
            return (
                false,
                Value::from(format!("Job action not found: {}", frames::to_json(other))),
            );
        }
    };
    let text = match action.as_str() {
        "creation" | "create_vm" => unexpected("OpenstackDevBackend", "create_vm"),
        "create_container" => {
            let docker = payload.get("docker").and_then(Value::as_object);
            let client_ip = ["vm_ip", "worker_ip"]
                .iter()
                .any(|k| payload.contains_key(*k) || docker.is_some_and(|d| d.contains_key(*k)));
            if client_ip {
                "Container creation failed: Refusing to use client-supplied vm_ip/worker_ip. Provide a valid vm_id for a managed VM.".to_string()
            } else {
                unexpected("DockerDevBackend", "create_container")
            }
        }
        "create_server" => unexpected("TritonDevBackend", "create_server"),
        "delete_server" => unexpected("TritonDevBackend", "delete_server"),
        "delete_container" => unexpected("DockerDevBackend", "delete_container"),
        "delete_vm" => unexpected("OpenstackDevBackend", "delete_vm"),
        "deletion" => {
            if has_vm_id(payload) {
                format!(
                    "Deletion failed: triton_delete_server: {}; delete_container: {}; delete_vm: {}",
                    dev("TritonDevBackend", "delete_server"),
                    dev("DockerDevBackend", "delete_container"),
                    dev("OpenstackDevBackend", "delete_vm")
                )
            } else {
                "Deletion missing required field: 'vm_id'".to_string()
            }
        }
        other => format!("Job action not found: '{other}'"),
    };
    (false, Value::from(text))
}

/// The management response: the inbound envelope with `payload` replaced by `{status, data}`.
pub fn response(job: &Job) -> String {
    let (status, data) = execute(&job.payload);
    let payload = OrderedObject::new()
        .value("status", &Value::from(status))
        .value("data", &data)
        .finish();
    job.fields
        .iter()
        .fold(OrderedObject::new(), |o, (k, v)| {
            if k == "payload" {
                o.raw(k, payload.clone())
            } else {
                o.raw(k, v.clone())
            }
        })
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(p: Value) -> Value {
        execute(p.as_object().unwrap()).1
    }

    #[test]
    fn unknown_and_missing_actions() {
        assert_eq!(
            run(json!({"action":"bogus"})),
            "Job action not found: 'bogus'"
        );
        assert_eq!(run(json!({})), "Job action not found: None");
        assert_eq!(
            run(json!({"action":"load_model"})),
            "Job action not found: 'load_model'"
        );
    }

    #[test]
    fn backend_actions_fail_with_dev_texts() {
        assert_eq!(
            run(json!({"action":"creation","openstack":{}})),
            "Unexpected error: 'OpenstackDevBackend' does not implement 'create_vm' in dev mode. Use real services or extend DevBackend for this use case."
        );
        assert_eq!(
            run(json!({"action":"delete_server"})),
            "Unexpected error: 'TritonDevBackend' does not implement 'delete_server' in dev mode. Use real services or extend DevBackend for this use case."
        );
    }
}
