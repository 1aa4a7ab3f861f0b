//! The server frames the decode benches read: one of each kind the hot path sees.

/// Each frame's name and text.
pub const FRAMES: [(&str, &str); 8] = [
    (
        "auth_ok",
        r#"{"type":"auth.ok","payload":{"capability":["json","shm"]}}"#,
    ),
    (
        "info_response",
        r#"{"type":"info_response","payload":{"job_id":"j1","request_type":"queue","status":"success","data":{"info_users":0,"management_users":0,"inference_users":0,"total_users":0,"total_queued":0,"info_total_queued":0,"management_total_queued":0,"inference_total_queued":0,"executor_info_pending":0,"executor_management_pending":0,"executor_inference_pending":0,"executor_info_available":100,"executor_management_available":50,"executor_inference_available":200}}}"#,
    ),
    (
        "management",
        r#"{"uuid":"l1","type":"management","request_id":"m7","_correlation_id":"0c194f77ffc1a829","_auth":{"sub":null,"tenant_id":null,"roles":["inference","management"],"capability":["json"]},"payload":{"status":false,"data":"Job action not found: 'bogus'"}}"#,
    ),
    (
        "inference_completed",
        r#"{"type":"inference","uuid":"c","payload":{"data":{"OUTPUT0":[1.0,2.0,3.0,4.0]},"status":"COMPLETED","model_name":"identity"}}"#,
    ),
    (
        "inference_failed_typed",
        r#"{"type":"inference","uuid":"c","payload":{"data":{"code":"TRITON_NETWORK","message":"[TritonThread] TRITON_NETWORK: model='identity' retriable=True reason=refused","retriable":true},"status":"FAILED","model_name":"identity"}}"#,
    ),
    (
        "stream_ongoing",
        r#"{"type":"inference","uuid":"g","payload":{"data":"tok0 ","status":"ONGOING","model_name":null}}"#,
    ),
    (
        "error_nack",
        r#"{"type":"error","payload":{"code":"BACKPRESSURE_QUEUE_FULL","message":"Request dropped due to backpressure (per-user queue full).","dropped_type":"inference"}}"#,
    ),
    (
        "alert",
        r#"{"type":"alert","error_type":"TritonServerStateChanged","message":"m","timestamp":1767225600.123}"#,
    ),
];
