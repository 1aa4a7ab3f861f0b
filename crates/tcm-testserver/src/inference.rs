//! Inference requests: validation order, HTTP, gRPC streaming and pipelines, typed errors (§9).

use crate::config::{Config, ErrorStyle};
use crate::frames::{self, OrderedObject};
use crate::models::{self, StreamResponse, Transport};
use crate::tensor::{self, ClientMappings, Data, InputError, ShmMappings, Tensor};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A typed Triton error as it appears in FAILED frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TritonError {
    /// Error code, e.g. `TRITON_NETWORK`.
    pub code: String,
    /// Model named in the message.
    pub model: String,
    /// Whether a client may retry.
    pub retriable: bool,
    /// Reason text (possibly itself a nested message).
    pub reason: String,
    /// Only for `TRITON_CIRCUIT_OPEN`.
    pub retry_after_seconds: Option<u64>,
}

impl TritonError {
    /// An error with the retriability of its code (§9.8 table).
    pub fn new(code: &str, model: &str, reason: impl Into<String>) -> Self {
        TritonError {
            code: code.to_string(),
            model: model.to_string(),
            retriable: code_is_retriable(code),
            reason: reason.into(),
            retry_after_seconds: (code == "TRITON_CIRCUIT_OPEN").then_some(30),
        }
    }

    /// `[TritonThread] <CODE>: model='<m>' retriable=<True|False> reason=<reason>`.
    pub fn message(&self) -> String {
        format!(
            "[TritonThread] {}: model='{}' retriable={} reason={}",
            self.code,
            self.model,
            if self.retriable { "True" } else { "False" },
            self.reason
        )
    }

    /// The FAILED `data` object.
    pub fn to_data(&self) -> String {
        let mut o = OrderedObject::new()
            .str("code", &self.code)
            .str("message", &self.message())
            .value("retriable", &Value::from(self.retriable));
        if let Some(s) = self.retry_after_seconds {
            o = o.value("retry_after_seconds", &Value::from(s));
        }
        o.finish()
    }
}

/// Whether a typed error code is retriable.
pub fn code_is_retriable(code: &str) -> bool {
    matches!(
        code,
        "TRITON_TIMEOUT" | "TRITON_NETWORK" | "TRITON_OVERLOADED" | "TRITON_CIRCUIT_OPEN"
    )
}

/// An error raised inside the Triton layer, before deployment-dependent classification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A plain exception text (Triton client error, numpy error, ...).
    Plain(String),
    /// An already typed error.
    Typed(TritonError),
}

/// How a request failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// FAILED with a string `data` and `model_name: null`.
    Text(String),
    /// A typed error reported as is (not re-classified), with the frame's `model_name`.
    Direct(TritonError),
    /// A backend error, classified per [`ErrorStyle`] for the requested model.
    Backend(String, Backend),
}

fn classify_text(msg: &str) -> &'static str {
    let m = msg.to_lowercase();
    if m.contains("circuit_open") {
        "TRITON_CIRCUIT_OPEN"
    } else if m.contains("timed out")
        || m.contains("deadline")
        || m.contains("[408]")
        || m.contains("[504]")
    {
        "TRITON_TIMEOUT"
    } else if m.contains("[401]")
        || m.contains("[403]")
        || m.contains("unauthenticated")
        || m.contains("permission_denied")
    {
        "TRITON_AUTH_FAILED"
    } else if m.contains("[429]") || m.contains("[503]") || m.contains("resource_exhausted") {
        "TRITON_OVERLOADED"
    } else if m.contains("connection refused")
        || m.contains("connection reset")
        || m.contains("unavailable")
        || m.contains("[500]")
        || m.contains("[502]")
    {
        "TRITON_NETWORK"
    } else if m.contains("[404]") || m.contains("not found") || m.contains("not_found") {
        "TRITON_MODEL_MISSING"
    } else {
        "TRITON_INFERENCE_FAILED"
    }
}

/// The typed error a failure is reported as, with the frame's `model_name`; `None` for strings.
pub fn typed_error(f: &Failure, style: ErrorStyle) -> Option<(TritonError, String)> {
    match f {
        Failure::Text(_) => None,
        Failure::Direct(e) => Some((e.clone(), e.model.clone())),
        Failure::Backend(model, b) => Some(match style {
            ErrorStyle::Flat => match b {
                Backend::Plain(r) => (
                    TritonError::new("TRITON_INFERENCE_FAILED", model, r.clone()),
                    model.clone(),
                ),
                Backend::Typed(e) => (e.clone(), e.model.clone()),
            },
            ErrorStyle::DevNested => {
                let inner = match b {
                    Backend::Plain(r) => {
                        TritonError::new("TRITON_INFERENCE_FAILED", model, r.clone())
                    }
                    Backend::Typed(e) => e.clone(),
                };
                let inner_msg = inner.message();
                (
                    TritonError::new(classify_text(&inner_msg), model, inner_msg),
                    model.clone(),
                )
            }
        }),
    }
}

/// Turns a failure into the FAILED frame's `(data JSON, model_name)`.
pub fn failure_frame(f: &Failure, style: ErrorStyle) -> (String, Option<String>) {
    match (f, typed_error(f, style)) {
        (_, Some((e, model))) => (e.to_data(), Some(model)),
        (Failure::Text(t), None) => (frames::to_json(&Value::from(t.as_str())), None),
        (_, None) => ("null".to_string(), None),
    }
}

/// Circuit breakers of registered Triton servers (§9.8): three consecutive retriable failures
/// open the circuit for 30 s; transient clients never trip it.
#[derive(Debug, Default)]
pub struct CircuitBreakers {
    state: Mutex<HashMap<(String, String), BreakerState>>,
}

/// Consecutive retriable failures, and the end of the open period if open.
type BreakerState = (u32, Option<Instant>);

/// Failures that open a circuit.
pub const CIRCUIT_THRESHOLD: u32 = 3;
/// How long a circuit stays open.
pub const CIRCUIT_OPEN_FOR: Duration = Duration::from_secs(30);

impl CircuitBreakers {
    /// Remaining open time in whole seconds (at least 1), if the circuit is open.
    pub fn open_remaining(&self, key: &(String, String)) -> Option<u64> {
        let mut m = self.state.lock().ok()?;
        let (_, until) = m.get(key)?;
        let until = (*until)?;
        let now = Instant::now();
        if now >= until {
            m.remove(key);
            return None;
        }
        Some((until - now).as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Records a retriable failure; true if it opened the circuit.
    pub fn failure(&self, key: &(String, String)) -> bool {
        let Ok(mut m) = self.state.lock() else {
            return false;
        };
        let entry = m.entry(key.clone()).or_insert((0, None));
        entry.0 += 1;
        if entry.0 >= CIRCUIT_THRESHOLD {
            *entry = (0, Some(Instant::now() + CIRCUIT_OPEN_FOR));
            return true;
        }
        false
    }

    /// Records a success or a non-retriable failure: the count starts again.
    pub fn reset(&self, key: &(String, String)) {
        if let Ok(mut m) = self.state.lock() {
            if m.get(key).is_some_and(|(_, until)| until.is_none()) {
                m.remove(key);
            }
        }
    }
}

fn circuit_open(model: &str, seconds: u64) -> Failure {
    let mut e = TritonError::new(
        "TRITON_CIRCUIT_OPEN",
        model,
        format!("CIRCUIT_OPEN: retry_after={seconds}s"),
    );
    e.retry_after_seconds = Some(seconds);
    Failure::Direct(e)
}

/// Builds a FAILED frame for `uuid`.
pub fn failed_frame(uuid: &str, f: &Failure, style: ErrorStyle) -> String {
    let (data, model) = failure_frame(f, style);
    frames::inference_raw(uuid, data, "FAILED", model.as_deref())
}

/// Python `str()` of a JSON value used where the server formats a value into a text.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => frames::to_json(other),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Bool(true)) => true,
    }
}

/// Runs one inference request and emits its frames through `emit`. `cancelled` is polled
/// between stream chunks (the per-uuid cancel flag). Shared-memory inputs are read through the
/// registered Triton client's cached mappings in `shm`.
pub fn run(
    uuid: &str,
    payload: &Map<String, Value>,
    cfg: &Config,
    breakers: &CircuitBreakers,
    shm: &ShmMappings,
    emit: &mut dyn FnMut(String),
    cancelled: &dyn Fn() -> bool,
) {
    let empty = Map::new();
    let request = payload
        .get("request")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let fail =
        |emit: &mut dyn FnMut(String), f: Failure| emit(failed_frame(uuid, &f, cfg.error_style));
    if let Some(other) = payload
        .get("request")
        .filter(|r| !r.is_null() && !r.is_object())
    {
        return fail(
            emit,
            Failure::Text(format!(
                "Unexpected error: '{}' object has no attribute 'get'",
                tensor::py_type(other)
            )),
        );
    }
    let protocol = request
        .get("protocol")
        .filter(|p| truthy(Some(p)))
        .map(py_str)
        .unwrap_or_else(|| "http".to_string())
        .to_lowercase();
    if protocol != "http" && protocol != "grpc" {
        return fail(
            emit,
            Failure::Text(format!("Unsupported inference protocol: '{protocol}'")),
        );
    }
    let pipeline = payload
        .get("pipeline")
        .and_then(Value::as_array)
        .filter(|p| !p.is_empty());
    if let (Some(steps), "http") = (pipeline, protocol.as_str()) {
        return match run_pipeline(payload, steps, cfg, shm) {
            Ok(data) => emit(frames::inference_raw(
                uuid,
                data,
                "COMPLETED",
                payload.get("model_name").and_then(Value::as_str),
            )),
            Err(f) => fail(emit, f),
        };
    }
    let inputs = match request
        .get("inputs")
        .filter(|v| !v.is_null())
        .or_else(|| payload.get("inputs").filter(|v| !v.is_null()))
    {
        Some(v) => v,
        None => {
            return fail(
                emit,
                Failure::Text("Missing required field 'request.inputs'".into()),
            );
        }
    };
    for key in ["vm_ip", "container_id", "model_name"] {
        if !truthy(payload.get(key)) {
            return fail(
                emit,
                Failure::Text(format!("Missing required field '{key}'")),
            );
        }
    }
    let vm_ip = payload.get("vm_ip").map(py_str).unwrap_or_default();
    let container_id = payload.get("container_id").map(py_str).unwrap_or_default();
    let model = payload.get("model_name").map(py_str).unwrap_or_default();
    let Some(entries) = inputs.as_array() else {
        return fail(
            emit,
            Failure::Text(format!(
                "Unexpected error: 'inputs' must be a list, got {}",
                py_str(inputs)
            )),
        );
    };
    let target = Target {
        registered: cfg
            .registered_servers
            .iter()
            .any(|(ip, c)| *ip == vm_ip && *c == container_id),
        allow_transient: truthy(request.get("allow_transient")),
        reachable: cfg.reachable_hosts.contains(&vm_ip),
        vm_ip,
    };
    if protocol == "http" {
        let key = (target.vm_ip.clone(), container_id.clone());
        let guarded = target.registered;
        if let Some(seconds) = guarded.then(|| breakers.open_remaining(&key)).flatten() {
            return fail(emit, circuit_open(&model, seconds));
        }
        // A registered server's Triton client lives on and keeps its mappings; a transient one
        // is made for this request alone.
        let mappings = target
            .registered
            .then(|| shm.client(&target.vm_ip, &container_id));
        match run_http(&model, entries, &target, cfg, mappings.as_deref()) {
            Ok(data) => {
                if guarded {
                    breakers.reset(&key);
                }
                emit(frames::inference_raw(uuid, data, "COMPLETED", Some(&model)))
            }
            Err(f) => {
                let retriable = typed_error(&f, cfg.error_style).is_some_and(|(e, _)| e.retriable);
                if guarded && retriable && breakers.failure(&key) {
                    return fail(emit, circuit_open(&model, CIRCUIT_OPEN_FOR.as_secs()));
                }
                if guarded && !retriable {
                    breakers.reset(&key);
                }
                fail(emit, f)
            }
        }
    } else {
        let output_name = request
            .get("output_name")
            .map(py_str)
            .unwrap_or_else(|| "output".into());
        run_grpc(
            uuid,
            &model,
            entries,
            &target,
            &output_name,
            cfg,
            emit,
            cancelled,
        );
    }
}

struct Target {
    vm_ip: String,
    registered: bool,
    allow_transient: bool,
    reachable: bool,
}

fn budget_check(model: &str, entries: &[Value], cfg: &Config) -> Result<(), Failure> {
    if let Some(limit) = cfg.payload_limit_bytes() {
        let est: u64 = entries
            .iter()
            .map(|e| tensor::estimated_bytes(&tensor::normalize_entry(e)))
            .fold(0u64, u64::saturating_add);
        if est > limit {
            return Err(Failure::Direct(TritonError::new(
                "TRITON_INFERENCE_FAILED",
                model,
                format!("413 Payload Too Large: estimated_bytes={est} limit_bytes={limit}"),
            )));
        }
    }
    Ok(())
}

fn no_session(model: &str) -> Failure {
    Failure::Direct(TritonError::new(
        "TRITON_INFERENCE_FAILED",
        model,
        "No active Triton session for this instance",
    ))
}

/// Converts request inputs into tensors: SHM inputs when any is present (JSON ones are then
/// dropped), read through the Triton client's `mappings` (`None`: a transient client), JSON
/// inputs otherwise.
pub fn convert_inputs(
    model: &str,
    entries: &[Value],
    cfg: &Config,
    mappings: Option<&ClientMappings>,
) -> Result<Vec<Tensor>, Failure> {
    let shm: Vec<&Value> = entries.iter().filter(|e| tensor::is_shm_input(e)).collect();
    let result: Result<Vec<Tensor>, InputError> = if shm.is_empty() {
        entries
            .iter()
            .map(|e| tensor::tensor_from_json(&tensor::normalize_entry(e)))
            .collect()
    } else {
        shm.iter()
            .map(|e| tensor::tensor_from_shm(e, &cfg.shm_dir, mappings))
            .collect()
    };
    result.map_err(|e| match e {
        InputError::Plain(t) => Failure::Backend(model.to_string(), Backend::Plain(t)),
        InputError::ShapeMismatch(t) => Failure::Backend(
            model.to_string(),
            Backend::Typed(TritonError::new("TRITON_SHAPE_MISMATCH", "unknown", t)),
        ),
        InputError::Shm(code, t) => Failure::Backend(
            model.to_string(),
            Backend::Typed(TritonError::new(code, model, t)),
        ),
        InputError::ShmCast(t) => Failure::Text(format!("Unexpected error: {t}")),
    })
}

fn outputs_json(outputs: &[Tensor]) -> String {
    outputs
        .iter()
        .fold(OrderedObject::new(), |o, t| o.value(&t.name, &t.to_json()))
        .finish()
}

fn run_http(
    model: &str,
    entries: &[Value],
    target: &Target,
    cfg: &Config,
    mappings: Option<&ClientMappings>,
) -> Result<String, Failure> {
    budget_check(model, entries, cfg)?;
    if !target.registered && !target.allow_transient {
        return Err(no_session(model));
    }
    let inputs = convert_inputs(model, entries, cfg, mappings)?;
    if !target.reachable {
        return Err(Failure::Backend(
            model.to_string(),
            Backend::Plain("[Errno 111] Connection refused".into()),
        ));
    }
    let backend = |t: String| Failure::Backend(model.to_string(), Backend::Plain(t));
    let spec = models::check_request(model, &inputs, Transport::Http).map_err(backend)?;
    let outputs = models::execute(spec, &inputs).map_err(backend)?;
    Ok(outputs_json(&outputs))
}

#[allow(clippy::too_many_arguments)]
fn run_grpc(
    uuid: &str,
    model: &str,
    entries: &[Value],
    target: &Target,
    output_name: &str,
    cfg: &Config,
    emit: &mut dyn FnMut(String),
    cancelled: &dyn Fn() -> bool,
) {
    let fail =
        |emit: &mut dyn FnMut(String), f: Failure| emit(failed_frame(uuid, &f, cfg.error_style));
    if entries.iter().any(|e| e.get("shm_key").is_some()) {
        return fail(
            emit,
            Failure::Direct(TritonError::new(
                "TRITON_INFERENCE_FAILED",
                model,
                "SHM references are not supported for gRPC streaming yet",
            )),
        );
    }
    if let Err(f) = budget_check(model, entries, cfg) {
        return fail(emit, f);
    }
    if !target.registered {
        if !target.allow_transient {
            return fail(emit, no_session(model));
        }
        if !target.reachable {
            return fail(
                emit,
                Failure::Direct(TritonError::new(
                    "TRITON_INFERENCE_FAILED",
                    model,
                    format!(
                        "Failed to create transient Triton gRPC client: [StatusCode.UNAVAILABLE] failed to connect to all addresses; last error: UNKNOWN: ipv4:{}:8001: Failed to connect to remote host: Connection refused",
                        target.vm_ip
                    ),
                )),
            );
        }
    }
    emit(frames::inference(uuid, &Value::Null, "START", None));
    let backend = |t: String| Failure::Backend(model.to_string(), Backend::Plain(t));
    // SHM inputs were refused above: no mapping is needed.
    let inputs = match convert_inputs(model, entries, cfg, None) {
        Ok(i) => i,
        Err(f) => return fail(emit, f),
    };
    let spec = match models::check_request(model, &inputs, Transport::Grpc) {
        Ok(s) => s,
        Err(t) => return fail(emit, backend(t)),
    };
    // Each response is the list of tensors it carries.
    let responses: Vec<Vec<Tensor>> = if spec.decoupled {
        match models::stream_responses(&inputs) {
            Ok(r) => r
                .into_iter()
                .map(|r| match r {
                    StreamResponse::Chunk(text) => vec![Tensor {
                        name: "output".into(),
                        dtype: tensor::DType::Bytes,
                        shape: vec![1],
                        data: Data::Bytes(vec![text]),
                    }],
                    StreamResponse::Done => vec![Tensor {
                        name: "done".into(),
                        dtype: tensor::DType::Bool,
                        shape: vec![1],
                        data: Data::Bool(vec![true]),
                    }],
                })
                .collect(),
            Err(t) => return fail(emit, backend(t)),
        }
    } else {
        match models::execute(spec, &inputs) {
            Ok(o) => vec![o],
            Err(t) => return fail(emit, backend(t)),
        }
    };
    let mut chunks = 0usize;
    for response in responses {
        if cancelled() {
            return fail(emit, backend("Stream aborted: client disconnected".into()));
        }
        match response.iter().find(|t| t.name == output_name) {
            None if chunks == 0 => {
                return fail(
                    emit,
                    backend(format!(
                        "STREAM_DECODE_ERROR: output_name='{output_name}' error='NoneType' object is not subscriptable"
                    )),
                );
            }
            None => break,
            Some(t) => match &t.data {
                Data::Bytes(v) => {
                    let text = v.first().cloned().unwrap_or_default();
                    emit(frames::inference(uuid, &Value::from(text), "ONGOING", None));
                    chunks += 1;
                    std::thread::sleep(cfg.stream_chunk_interval);
                }
                _ => {
                    return fail(
                        emit,
                        backend(format!(
                            "STREAM_DECODE_ERROR: output_name='{output_name}' error='{}' object has no attribute 'decode'",
                            t.dtype.numpy_name()
                        )),
                    );
                }
            },
        }
    }
    emit(frames::inference(
        uuid,
        &Value::Null,
        "COMPLETED",
        Some(model),
    ));
}

fn run_pipeline(
    payload: &Map<String, Value>,
    steps: &[Value],
    cfg: &Config,
    shm: &ShmMappings,
) -> Result<String, Failure> {
    let pipe = |reason: &str| {
        Failure::Direct(TritonError::new(
            "TRITON_INFERENCE_FAILED",
            "pipeline",
            reason,
        ))
    };
    if !truthy(payload.get("vm_ip")) || !truthy(payload.get("container_id")) {
        return Err(pipe("Missing 'vm_ip' or 'container_id' for pipeline"));
    }
    let vm_ip = payload.get("vm_ip").map(py_str).unwrap_or_default();
    let container_id = payload.get("container_id").map(py_str).unwrap_or_default();
    if !cfg
        .registered_servers
        .iter()
        .any(|(ip, c)| *ip == vm_ip && *c == container_id)
    {
        return Err(pipe("No active Triton session for this instance"));
    }
    let mappings = shm.client(&vm_ip, &container_id);
    let mut out = OrderedObject::new();
    for step in steps {
        let empty = Map::new();
        let s = step.as_object().unwrap_or(&empty);
        let protocol = s
            .get("protocol")
            .map(py_str)
            .unwrap_or_else(|| "http".into())
            .to_lowercase();
        if protocol != "http" {
            return Err(pipe("Pipelines currently support only HTTP steps"));
        }
        let model = s
            .get("model_name")
            .map(py_str)
            .unwrap_or_else(|| "None".into());
        let entries = s
            .get("inputs")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        budget_check(&model, &entries, cfg)?;
        let inputs = convert_inputs(&model, &entries, cfg, Some(&mappings))?;
        let backend = |t: String| Failure::Backend(model.clone(), Backend::Plain(t));
        let spec = models::check_request(&model, &inputs, Transport::Http).map_err(backend)?;
        let outputs = models::execute(spec, &inputs).map_err(backend)?;
        let key = s.get("name").map(py_str).unwrap_or_else(|| model.clone());
        out = out.raw(&key, outputs_json(&outputs));
    }
    Ok(out.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames_of(payload: Value, cfg: &Config) -> Vec<Value> {
        let mut out = Vec::new();
        run(
            "u",
            payload.as_object().unwrap(),
            cfg,
            &CircuitBreakers::default(),
            &ShmMappings::default(),
            &mut |f| out.push(serde_json::from_str(&f).unwrap()),
            &|| false,
        );
        out
    }

    fn req(model: &str, ip: &str, inputs: Value) -> Value {
        json!({"vm_ip": ip, "container_id": "c", "model_name": model, "request": {"protocol": "http", "allow_transient": true, "inputs": inputs}})
    }

    #[test]
    fn identity_returns_its_input() {
        let f = frames_of(
            req(
                "identity",
                "127.0.0.1",
                json!([{"name":"INPUT0","shape":[2],"datatype":"FP32","data":[1.5,0.1]}]),
            ),
            &Config::default(),
        );
        assert_eq!(
            f,
            vec![
                json!({"type":"inference","uuid":"u","payload":{"data":{"OUTPUT0":[1.5,0.10000000149011612]},"status":"COMPLETED","model_name":"identity"}})
            ]
        );
    }

    #[test]
    fn int32_add_uses_the_int32_model() {
        let f = frames_of(
            req(
                "add_int32",
                "127.0.0.1",
                json!([{"name":"INPUT0","dims":[2],"type":"INT32","value":[1,2]},{"name":"INPUT1","dims":[2],"type":"INT32","value":[3,4]}]),
            ),
            &Config::default(),
        );
        assert_eq!(f[0]["payload"]["data"], json!({"OUTPUT0":[4,6]}));
    }

    #[test]
    fn unreachable_host_is_network_in_dev_style_and_inference_failed_in_flat_style() {
        let p = req(
            "identity",
            "127.0.0.2",
            json!([{"name":"INPUT0","dims":[1],"type":"FP32","value":[1]}]),
        );
        let dev = frames_of(p.clone(), &Config::default());
        assert_eq!(dev[0]["payload"]["data"]["code"], "TRITON_NETWORK");
        assert_eq!(dev[0]["payload"]["data"]["retriable"], true);
        let flat = frames_of(
            p,
            &Config {
                error_style: ErrorStyle::Flat,
                ..Config::default()
            },
        );
        assert_eq!(
            flat[0]["payload"]["data"]["code"],
            "TRITON_INFERENCE_FAILED"
        );
        assert_eq!(flat[0]["payload"]["data"]["retriable"], false);
    }

    #[test]
    fn flat_style_reports_shape_mismatch_for_model_unknown() {
        let p = req(
            "identity",
            "127.0.0.1",
            json!([{"name":"INPUT0","dims":[3],"type":"FP32","value":[1,2,3,4]}]),
        );
        let flat = frames_of(
            p,
            &Config {
                error_style: ErrorStyle::Flat,
                ..Config::default()
            },
        );
        assert_eq!(flat[0]["payload"]["model_name"], "unknown");
        assert_eq!(flat[0]["payload"]["data"]["code"], "TRITON_SHAPE_MISMATCH");
    }

    #[test]
    fn a_registered_server_opens_its_circuit_on_the_third_retriable_failure() {
        let cfg = Config {
            registered_servers: vec![("10.0.0.9".into(), "c".into())],
            ..Config::default()
        };
        let breakers = CircuitBreakers::default();
        let p = json!({"vm_ip":"10.0.0.9","container_id":"c","model_name":"identity","request":{"inputs":[{"name":"INPUT0","dims":[1],"type":"FP32","value":[1]}]}});
        let mut codes = Vec::new();
        for _ in 0..4 {
            let mut out = Vec::new();
            run(
                "u",
                p.as_object().unwrap(),
                &cfg,
                &breakers,
                &ShmMappings::default(),
                &mut |f| out.push(serde_json::from_str::<Value>(&f).unwrap()),
                &|| false,
            );
            codes.push(out[0]["payload"]["data"].clone());
        }
        assert_eq!(codes[0]["code"], "TRITON_NETWORK");
        assert_eq!(codes[1]["code"], "TRITON_NETWORK");
        assert_eq!(codes[2]["code"], "TRITON_CIRCUIT_OPEN");
        assert_eq!(codes[2]["retry_after_seconds"], 30);
        assert_eq!(codes[3]["code"], "TRITON_CIRCUIT_OPEN");
        assert!(codes[3]["retry_after_seconds"].as_u64().unwrap() >= 1);
        assert!(
            codes[3]["message"]
                .as_str()
                .unwrap()
                .contains("reason=CIRCUIT_OPEN: retry_after=")
        );
    }

    #[test]
    fn zero_chunk_stream_fails_after_start() {
        let p = json!({"vm_ip":"127.0.0.1","container_id":"c","model_name":"stream","request":{"protocol":"grpc","allow_transient":true,"inputs":[{"name":"INPUT0","dims":[1],"type":"FP32","value":[0]}]}});
        let f = frames_of(p, &Config::default());
        assert_eq!(f.len(), 2);
        assert_eq!(f[0]["payload"]["status"], "START");
        assert_eq!(f[1]["payload"]["status"], "FAILED");
    }

    #[test]
    fn validation_failures_are_strings_in_order() {
        let f = frames_of(json!({"request":{"protocol":"WS"}}), &Config::default());
        assert_eq!(
            f[0]["payload"]["data"],
            "Unsupported inference protocol: 'ws'"
        );
        let f = frames_of(json!({"request":{}}), &Config::default());
        assert_eq!(
            f[0]["payload"]["data"],
            "Missing required field 'request.inputs'"
        );
        let f = frames_of(json!({"request":{"inputs":[]}}), &Config::default());
        assert_eq!(f[0]["payload"]["data"], "Missing required field 'vm_ip'");
    }
}
