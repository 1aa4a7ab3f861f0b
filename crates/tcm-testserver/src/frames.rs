//! Builders for every server → client frame, serialised compactly with the reference key order.

use serde_json::Value;

/// A JSON object whose keys are written in insertion order (the reference server's order).
#[derive(Debug, Default, Clone)]
pub struct OrderedObject {
    fields: Vec<(String, String)>,
}

impl OrderedObject {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field whose value is any JSON value.
    pub fn value(mut self, key: &str, v: &Value) -> Self {
        self.fields.push((key.to_string(), to_json(v)));
        self
    }

    /// Appends a string field.
    pub fn str(mut self, key: &str, v: &str) -> Self {
        self.fields
            .push((key.to_string(), to_json(&Value::from(v))));
        self
    }

    /// Appends a field holding an already-serialised JSON text.
    pub fn raw(mut self, key: &str, json: String) -> Self {
        self.fields.push((key.to_string(), json));
        self
    }

    /// Compact serialisation.
    pub fn finish(self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&to_json(&Value::from(k.as_str())));
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }
}

/// Compact JSON text of a value; non-finite floats cannot occur in `Value`, so this never fails.
pub fn to_json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

/// `{"type":"auth.ok"}` or `{"type":"auth.ok","payload":{"capability":[...]}}`.
pub fn auth_ok(capability: Option<&[String]>) -> String {
    let o = OrderedObject::new().str("type", "auth.ok");
    match capability {
        None => o.finish(),
        Some(caps) => o
            .raw(
                "payload",
                OrderedObject::new()
                    .value("capability", &Value::from(caps.to_vec()))
                    .finish(),
            )
            .finish(),
    }
}

/// An untagged error `{"type":"error","payload":{"message":...}}`.
pub fn error_message(message: &str) -> String {
    OrderedObject::new()
        .str("type", "error")
        .raw(
            "payload",
            OrderedObject::new().str("message", message).finish(),
        )
        .finish()
}

/// A coded error with optional extra string fields after the message.
pub fn coded_error(code: &str, message: &str, extra: &[(&str, &str)]) -> String {
    let mut p = OrderedObject::new()
        .str("code", code)
        .str("message", message);
    for (k, v) in extra {
        p = p.str(k, v);
    }
    OrderedObject::new()
        .str("type", "error")
        .raw("payload", p.finish())
        .finish()
}

/// `BACKPRESSURE_QUEUE_FULL` NACK for a dropped request of `dropped_type`.
pub fn queue_full(dropped_type: &str) -> String {
    coded_error(
        "BACKPRESSURE_QUEUE_FULL",
        "Request dropped due to backpressure (per-user queue full).",
        &[("dropped_type", dropped_type)],
    )
}

/// `BACKPRESSURE_EXECUTOR_FULL` NACK.
pub fn executor_full(dropped_type: &str) -> String {
    coded_error(
        "BACKPRESSURE_EXECUTOR_FULL",
        "Request dropped due to backpressure (executor queue full).",
        &[("dropped_type", dropped_type)],
    )
}

/// Advisory `BACKPRESSURE_INSUFFICIENT_BUDGET` frame (nothing is dropped).
pub fn insufficient_budget(job_type: &str, tenant_id: &str) -> String {
    coded_error(
        "BACKPRESSURE_INSUFFICIENT_BUDGET",
        "Request delayed due to tenant budget (DRR cost-aware fairness).",
        &[("job_type", job_type), ("tenant_id", tenant_id)],
    )
}

/// `BACKPRESSURE_TENANT_LIMIT_REACHED`, followed by close 1008.
pub fn tenant_limit() -> String {
    coded_error(
        "BACKPRESSURE_TENANT_LIMIT_REACHED",
        "Tenant quota exceeded (messages per second).",
        &[],
    )
}

/// `SYSTEM_SHUTDOWN` sent by the read loop while draining, followed by close 1012.
pub fn shutdown_rejected() -> String {
    coded_error(
        "SYSTEM_SHUTDOWN",
        "Server is shutting down; request rejected.",
        &[],
    )
}

/// `SYSTEM_SHUTDOWN` NACK for a request still waiting in a queue when draining starts.
pub fn shutdown_dropped(dropped_type: &str) -> String {
    coded_error(
        "SYSTEM_SHUTDOWN",
        "Request dropped: system is shutting down.",
        &[("dropped_type", dropped_type)],
    )
}

/// The 14 queue counters of an info `queue`/`queue_stats` answer, in the reference order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Per-uuid info queues in existence.
    pub info_users: u64,
    /// Per-uuid management queues in existence.
    pub management_users: u64,
    /// Per-uuid inference queues in existence.
    pub inference_users: u64,
    /// Distinct uuids with any queue.
    pub total_users: u64,
    /// Requests waiting in all per-uuid queues.
    pub total_queued: u64,
    /// Info requests waiting.
    pub info_total_queued: u64,
    /// Management requests waiting.
    pub management_total_queued: u64,
    /// Inference requests waiting.
    pub inference_total_queued: u64,
    /// Info jobs running or waiting in the info pool.
    pub executor_info_pending: u64,
    /// Management jobs running or waiting in the management pool.
    pub executor_management_pending: u64,
    /// Inference jobs running or waiting in the inference pool.
    pub executor_inference_pending: u64,
    /// Free info executor slots.
    pub executor_info_available: u64,
    /// Free management executor slots.
    pub executor_management_available: u64,
    /// Free inference executor slots.
    pub executor_inference_available: u64,
}

impl QueueStats {
    fn to_object(self) -> String {
        let n = |v: u64| v.to_string();
        OrderedObject::new()
            .raw("info_users", n(self.info_users))
            .raw("management_users", n(self.management_users))
            .raw("inference_users", n(self.inference_users))
            .raw("total_users", n(self.total_users))
            .raw("total_queued", n(self.total_queued))
            .raw("info_total_queued", n(self.info_total_queued))
            .raw("management_total_queued", n(self.management_total_queued))
            .raw("inference_total_queued", n(self.inference_total_queued))
            .raw("executor_info_pending", n(self.executor_info_pending))
            .raw(
                "executor_management_pending",
                n(self.executor_management_pending),
            )
            .raw(
                "executor_inference_pending",
                n(self.executor_inference_pending),
            )
            .raw("executor_info_available", n(self.executor_info_available))
            .raw(
                "executor_management_available",
                n(self.executor_management_available),
            )
            .raw(
                "executor_inference_available",
                n(self.executor_inference_available),
            )
            .finish()
    }
}

/// `info_response` for the `queue`/`queue_stats` fast path.
pub fn info_stats(job_id: &Value, request_type: &str, stats: QueueStats) -> String {
    info_response(job_id, request_type, stats.to_object())
}

/// `info_response` for an action that is not implemented (Q7).
pub fn info_not_implemented(job_id: &Value, request_type: &str) -> String {
    let data = OrderedObject::new()
        .str(
            "message",
            &format!("Info type '{request_type}' not implemented yet"),
        )
        .finish();
    info_response(job_id, request_type, data)
}

fn info_response(job_id: &Value, request_type: &str, data: String) -> String {
    OrderedObject::new()
        .str("type", "info_response")
        .raw(
            "payload",
            OrderedObject::new()
                .value("job_id", job_id)
                .str("request_type", request_type)
                .str("status", "success")
                .raw("data", data)
                .finish(),
        )
        .finish()
}

/// An `inference` frame with the given status.
pub fn inference(uuid: &str, data: &Value, status: &str, model_name: Option<&str>) -> String {
    inference_raw(uuid, to_json(data), status, model_name)
}

/// An `inference` frame whose `data` is already serialised.
pub fn inference_raw(uuid: &str, data: String, status: &str, model_name: Option<&str>) -> String {
    let model = match model_name {
        Some(m) => to_json(&Value::from(m)),
        None => "null".to_string(),
    };
    OrderedObject::new()
        .str("type", "inference")
        .str("uuid", uuid)
        .raw(
            "payload",
            OrderedObject::new()
                .raw("data", data)
                .str("status", status)
                .raw("model_name", model)
                .finish(),
        )
        .finish()
}

/// An unsolicited `alert` frame (no payload, no uuid).
pub fn alert(error_type: &str, message: &str, timestamp: f64) -> String {
    OrderedObject::new()
        .str("type", "alert")
        .str("error_type", error_type)
        .str("message", message)
        .value("timestamp", &Value::from(timestamp))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_ok_has_both_shapes() {
        assert_eq!(auth_ok(None), r#"{"type":"auth.ok"}"#);
        assert_eq!(
            auth_ok(Some(&["json".into(), "shm".into()])),
            r#"{"type":"auth.ok","payload":{"capability":["json","shm"]}}"#
        );
    }

    #[test]
    fn queue_full_nack_is_exact() {
        assert_eq!(
            queue_full("info"),
            r#"{"type":"error","payload":{"code":"BACKPRESSURE_QUEUE_FULL","message":"Request dropped due to backpressure (per-user queue full).","dropped_type":"info"}}"#
        );
    }

    #[test]
    fn stats_keep_reference_key_order() {
        let s = info_stats(&Value::Null, "queue", QueueStats::default());
        assert!(s.starts_with(r#"{"type":"info_response","payload":{"job_id":null,"request_type":"queue","status":"success","data":{"info_users":0,"management_users":0"#));
    }
}
