//! Client → server frames: the envelope `{uuid, type, payload}` and the typed requests that go
//! in it (TCM §3.1, §5.1, §7, §8, §9).
//!
//! Frames are written as compact JSON straight from borrowed data, with no intermediate
//! `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::tensor::{TensorInput, write_str};

/// A secret string (a token or API key). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The client block of an auth payload. Only simple-mode servers read it (TCM §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ClientIdentity {
    /// Subject.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Roles, e.g. `inference`, `management`.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Credentials sent in the auth frame: an optional token and an optional client block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthContext {
    /// A JWT or opaque token.
    pub token: Option<Secret>,
    /// The client block.
    pub client: Option<ClientIdentity>,
}

impl AuthContext {
    /// No credentials: `{}` is a valid auth payload on a simple-mode server.
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// A token only.
    pub fn with_token(token: impl Into<String>) -> Self {
        Self {
            token: Some(Secret::new(token)),
            client: None,
        }
    }
}

/// The transport the server uses to reach Triton: HTTP (one reply) or gRPC (a stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// One COMPLETED or FAILED frame.
    #[default]
    Http,
    /// START, ONGOING chunks, then COMPLETED or FAILED.
    Grpc,
}

/// An info request (TCM §7). `queue_stats` is answered on the server's fast path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoRequest {
    /// The action, e.g. `queue_stats` (borrowed for the common actions, so a pending info
    /// request allocates nothing for it).
    pub action: Cow<'static, str>,
}

impl InfoRequest {
    /// The `queue_stats` request.
    pub fn queue_stats() -> Self {
        Self {
            action: Cow::Borrowed("queue_stats"),
        }
    }

    /// Whether the server answers this action inline, overtaking queued work and never
    /// dropping it (TCM §7).
    pub fn is_fast_path(&self) -> bool {
        self.action == "queue_stats" || self.action == "queue"
    }
}

/// A management request (TCM §8): an action and the rest of its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagementRequest {
    /// The action, e.g. `creation`.
    pub action: String,
    /// The payload keys other than `action`.
    pub payload: Map<String, Value>,
}

/// One step of a pipeline (TCM §9.5). Steps run independently; outputs are not chained.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PipelineStep {
    /// Key of this step's outputs in the reply; defaults to the model name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The model.
    pub model_name: String,
    /// Inputs of the step.
    pub inputs: Vec<TensorInput>,
    /// Must be HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
}

/// An inference request (TCM §9.1). Build it with [`new`](Self::new) (or
/// [`for_container`](Self::for_container), [`target`](Self::target)), which take the routing
/// fields the server needs, then the `with_*` methods.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InferenceRequest {
    /// The Triton host; required unless the server knows the container.
    pub vm_ip: Option<String>,
    /// Accepted and ignored by the server.
    pub vm_id: Option<String>,
    /// The container.
    pub container_id: String,
    /// The model; not needed on the pipeline path.
    pub model_name: Option<String>,
    /// HTTP (one reply) or gRPC (a stream).
    pub protocol: Protocol,
    /// `request.inputs`.
    pub inputs: Vec<TensorInput>,
    /// `request.allow_transient`: let the server reach an unregistered Triton.
    pub allow_transient: bool,
    /// gRPC only: the streamed output tensor (server default `output`).
    pub output_name: Option<String>,
    /// A non-empty list runs the pipeline path.
    pub pipeline: Option<Vec<PipelineStep>>,
}

impl InferenceRequest {
    /// An HTTP inference of `model_name` on the Triton at `vm_ip`, in container
    /// `container_id`, with no inputs yet.
    pub fn new(
        vm_ip: impl Into<String>,
        container_id: impl Into<String>,
        model_name: impl Into<String>,
    ) -> Self {
        let mut request = Self::target(vm_ip, container_id);
        request.model_name = Some(model_name.into());
        request
    }

    /// An HTTP inference of `model_name` in a container the server already knows (registered
    /// with a management `creation`), so no `vm_ip` is needed.
    pub fn for_container(container_id: impl Into<String>, model_name: impl Into<String>) -> Self {
        let mut request = Self::routed(None, container_id.into());
        request.model_name = Some(model_name.into());
        request
    }

    /// A request naming only the server (`vm_ip`, `container_id`), as a pipeline's target
    /// (see [`into_pipeline`](Self::into_pipeline)).
    pub fn target(vm_ip: impl Into<String>, container_id: impl Into<String>) -> Self {
        Self::routed(Some(vm_ip.into()), container_id)
    }

    fn routed(vm_ip: Option<String>, container_id: impl Into<String>) -> Self {
        Self {
            vm_ip,
            vm_id: None,
            container_id: container_id.into(),
            model_name: None,
            protocol: Protocol::Http,
            inputs: Vec::new(),
            allow_transient: false,
            output_name: None,
            pipeline: None,
        }
    }

    /// Adds an input tensor (JSON or a shared-memory reference).
    pub fn with_input(mut self, input: impl Into<TensorInput>) -> Self {
        self.inputs.push(input.into());
        self
    }

    /// Adds input tensors.
    pub fn with_inputs(mut self, inputs: impl IntoIterator<Item = TensorInput>) -> Self {
        self.inputs.extend(inputs);
        self
    }

    /// Lets the server reach a Triton it has not registered (`request.allow_transient`).
    pub fn with_allow_transient(mut self, allow: bool) -> Self {
        self.allow_transient = allow;
        self
    }

    /// gRPC only: the streamed output tensor (server default `output`).
    pub fn with_output_name(mut self, name: impl Into<String>) -> Self {
        self.output_name = Some(name.into());
        self
    }

    /// Whether any input (or pipeline step input) is a shared-memory reference.
    pub fn uses_shm(&self) -> bool {
        self.inputs.iter().any(TensorInput::is_shm)
            || self
                .pipeline
                .iter()
                .flatten()
                .any(|s| s.inputs.iter().any(TensorInput::is_shm))
    }
}

/// A request to send on a connection. Build one with `.into()` from the typed requests.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `type:"info"`.
    Info(InfoRequest),
    /// `type:"management"`.
    Management(ManagementRequest),
    /// `type:"inference"` (boxed: it is much larger than the others, and requests wait in
    /// queues).
    Inference(Box<InferenceRequest>),
}

impl From<InfoRequest> for Request {
    fn from(r: InfoRequest) -> Self {
        Self::Info(r)
    }
}

impl From<ManagementRequest> for Request {
    fn from(r: ManagementRequest) -> Self {
        Self::Management(r)
    }
}

impl From<InferenceRequest> for Request {
    fn from(r: InferenceRequest) -> Self {
        Self::Inference(Box::new(r))
    }
}

impl Request {
    /// Whether sending the same request twice is harmless, so the policy may retry it.
    /// Management is never retried automatically (TCM §19.9).
    pub fn is_idempotent(&self) -> bool {
        !matches!(self, Self::Management(_))
    }
}

#[derive(Serialize)]
struct Envelope<'a, P: Serialize> {
    uuid: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<&'a str>,
    payload: P,
}

#[derive(Serialize)]
struct AuthPayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a ClientIdentity>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    capability: &'a [String],
}

#[derive(Serialize)]
struct InfoPayload<'a> {
    action: &'a str,
    job_id: &'a str,
}

struct ManagementPayload<'a> {
    action: &'a str,
    rest: &'a Map<String, Value>,
}

impl Serialize for ManagementPayload<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("action", self.action)?;
        for (k, v) in self.rest.iter().filter(|(k, _)| k.as_str() != "action") {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct InferencePayload<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    vm_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vm_ip: Option<&'a str>,
    container_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_name: Option<&'a str>,
    request: InferenceBody<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pipeline: Option<&'a [PipelineStep]>,
}

#[derive(Serialize)]
struct InferenceBody<'a> {
    protocol: Protocol,
    inputs: &'a [TensorInput],
    allow_transient: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_name: Option<&'a str>,
}

fn to_json<T: Serialize>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|e| e.to_string())
}

/// Encodes the auth frame. `capability` is omitted when empty (a legacy auth).
pub fn encode_auth(
    uuid: &str,
    auth: &AuthContext,
    capability: &[String],
) -> Result<String, String> {
    to_json(&Envelope {
        uuid,
        kind: "auth",
        request_id: None,
        payload: AuthPayload {
            token: auth.token.as_ref(),
            client: auth.client.as_ref(),
            capability,
        },
    })
}

/// Encodes a request. `tag` is the correlation value: the info `job_id` or the management
/// top-level `request_id`; inference carries none (the protocol has no field for it).
pub fn encode_request(uuid: &str, tag: &str, request: &Request) -> Result<String, String> {
    match request {
        Request::Info(r) => Ok(encode_info(uuid, tag, &r.action)),
        Request::Management(r) => to_json(&Envelope {
            uuid,
            kind: "management",
            request_id: Some(tag),
            payload: ManagementPayload {
                action: &r.action,
                rest: &r.payload,
            },
        }),
        Request::Inference(r) => Ok(encode_inference(uuid, r)),
    }
}

/// Writes an info frame straight into a buffer sized for it: the bytes of the `Envelope` with
/// an `InfoPayload` through `serde_json` (the path [`encode_info_via_serde`] keeps, tested
/// against this), without the serializer's work per key.
fn encode_info(uuid: &str, job_id: &str, action: &str) -> String {
    let capacity = 64 + uuid.len() + job_id.len() + action.len();
    let mut out = begin_frame(capacity, uuid, "info");
    out.extend_from_slice(b"\"action\":");
    write_str(&mut out, action);
    out.extend_from_slice(b",\"job_id\":");
    write_str(&mut out, job_id);
    finish_frame(out)
}

/// A frame buffer of `capacity` bytes holding what the `Envelope` serialises before the
/// payload's first key: `{"uuid":…,"type":"<kind>","payload":{`.
fn begin_frame(capacity: usize, uuid: &str, kind: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity);
    out.extend_from_slice(b"{\"uuid\":");
    write_str(&mut out, uuid);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"payload\":{");
    out
}

/// Closes the payload and the envelope begun by [`begin_frame`], and gives the frame's text.
fn finish_frame(mut out: Vec<u8>) -> String {
    out.extend_from_slice(b"}}");
    // Every piece written is UTF-8: JSON punctuation, escaped strings and number texts.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Encodes an info request through `serde_json`'s serializer: the reference
/// [`encode_request`] is checked against.
#[doc(hidden)]
pub fn encode_info_via_serde(uuid: &str, job_id: &str, action: &str) -> Result<String, String> {
    to_json(&Envelope {
        uuid,
        kind: "info",
        request_id: None,
        payload: InfoPayload { action, job_id },
    })
}

/// Writes an inference frame straight into one buffer sized for it: the tensors' elements
/// without the serializer's per-element work, everything else through `serde_json`. The bytes
/// are exactly those of [`encode_inference_via_serde`].
fn encode_inference(uuid: &str, r: &InferenceRequest) -> String {
    let hint: usize = r
        .inputs
        .iter()
        .map(|input| match input {
            TensorInput::Tensor(t) => t.json_size_hint(),
            _ => 256,
        })
        .sum();
    let mut out = begin_frame(hint + 512, uuid, "inference");
    if let Some(vm_id) = &r.vm_id {
        out.extend_from_slice(b"\"vm_id\":");
        write_str(&mut out, vm_id);
        out.push(b',');
    }
    if let Some(vm_ip) = &r.vm_ip {
        out.extend_from_slice(b"\"vm_ip\":");
        write_str(&mut out, vm_ip);
        out.push(b',');
    }
    out.extend_from_slice(b"\"container_id\":");
    write_str(&mut out, &r.container_id);
    if let Some(model_name) = &r.model_name {
        out.extend_from_slice(b",\"model_name\":");
        write_str(&mut out, model_name);
    }
    out.extend_from_slice(b",\"request\":{\"protocol\":");
    write_json(&mut out, &r.protocol);
    out.extend_from_slice(b",\"inputs\":[");
    for (i, input) in r.inputs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match input {
            TensorInput::Tensor(t) => t.write_json(&mut out),
            other => write_json(&mut out, other),
        }
    }
    out.extend_from_slice(b"],\"allow_transient\":");
    out.extend_from_slice(if r.allow_transient { b"true" } else { b"false" });
    if let Some(output_name) = &r.output_name {
        out.extend_from_slice(b",\"output_name\":");
        write_str(&mut out, output_name);
    }
    out.push(b'}');
    if let Some(pipeline) = &r.pipeline {
        out.extend_from_slice(b",\"pipeline\":");
        write_json(&mut out, pipeline);
    }
    finish_frame(out)
}

/// Writes `value` through `serde_json` into the frame buffer.
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing to a `Vec` cannot fail, and the request types always serialise.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Encodes an inference request through `serde_json`'s serializer: the reference the direct
/// writer is checked and measured against.
#[doc(hidden)]
pub fn encode_inference_via_serde(uuid: &str, r: &InferenceRequest) -> Result<String, String> {
    to_json(&Envelope {
        uuid,
        kind: "inference",
        request_id: None,
        payload: InferencePayload {
            vm_id: r.vm_id.as_deref(),
            vm_ip: r.vm_ip.as_deref(),
            container_id: &r.container_id,
            model_name: r.model_name.as_deref(),
            request: InferenceBody {
                protocol: r.protocol,
                inputs: &r.inputs,
                allow_transient: r.allow_transient,
                output_name: r.output_name.as_deref(),
            },
            pipeline: r.pipeline.as_deref(),
        },
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::tensor::{ShmReference, Tensor, TensorData};

    fn both(r: &InferenceRequest) -> (String, String) {
        (
            encode_inference("u-1", r),
            encode_inference_via_serde("u-1", r).expect("serialises"),
        )
    }

    #[test]
    fn the_direct_writer_writes_the_serializer_bytes_for_every_datatype_and_shape() {
        let tensors = vec![
            Tensor::new(
                "B",
                vec![2, 2],
                TensorData::Bool(vec![true, false, false, true]),
            ),
            Tensor::new("I8", vec![3], TensorData::Int8(vec![i8::MIN, 0, i8::MAX])),
            Tensor::new("I16", vec![1, 2], TensorData::Int16(vec![-300, 300])),
            Tensor::new(
                "I32",
                vec![2, 1],
                TensorData::Int32(vec![i32::MIN, i32::MAX]),
            ),
            Tensor::new("I64", vec![1], TensorData::Int64(vec![i64::MIN])),
            Tensor::new("U8", vec![2], TensorData::Uint8(vec![0, 255])),
            Tensor::new("U16", vec![1], TensorData::Uint16(vec![65535])),
            Tensor::new("U32", vec![1], TensorData::Uint32(vec![u32::MAX])),
            Tensor::new("U64", vec![1], TensorData::Uint64(vec![u64::MAX])),
            Tensor::new("F16", vec![2], TensorData::Fp16(vec![0.5, -1.25])),
            Tensor::new(
                "F32",
                vec![1, 2, 3],
                TensorData::Fp32(vec![0.1, -0.0, 1e-45, 3.4e38, f32::NAN, f32::INFINITY]),
            ),
            Tensor::new("F64", vec![2], TensorData::Fp64(vec![0.1 + 0.2, 1e300])),
            Tensor::new(
                "S\"\\é",
                vec![2],
                TensorData::Bytes(vec!["a\"b\n".into(), "\u{1}é".into()]),
            ),
            Tensor::new("scalar", vec![], TensorData::Fp32(vec![2.5])),
            Tensor::new("empty", vec![2, 0], TensorData::Int32(vec![])),
            Tensor::new("none", vec![0], TensorData::Fp64(vec![])),
        ];
        let mut r = InferenceRequest::new("10.0.0.1", "ctr", "model\"x").with_output_name("out");
        r.vm_id = Some("vm".into());
        for t in tensors {
            r = r.with_input(t.expect("a valid tensor"));
        }
        r = r
            .with_input(ShmReference {
                name: "SHM".into(),
                shm_key: "/k".into(),
                offset: 0,
                byte_size: 8,
                shape: vec![2],
                dtype: "FP32".into(),
            })
            .with_input(TensorInput::Raw(json!({"name": "R", "data": [1]})));
        let (direct, serde) = both(&r);
        assert_eq!(direct, serde);
        let pipeline =
            InferenceRequest::target("10.0.0.1", "ctr").into_pipeline(vec![PipelineStep {
                name: Some("s".into()),
                model_name: "m".into(),
                inputs: vec![Tensor::vector("X", TensorData::Fp32(vec![1.0])).into()],
                protocol: None,
            }]);
        let (direct, serde) = both(&pipeline);
        assert_eq!(direct, serde);
    }

    #[test]
    fn repeated_and_distinct_fp32_values_are_written_as_the_serializer_writes_them() {
        let repeated: Vec<f32> = (0..20_000)
            .map(|i| (i % 300) as f32 / 255.0 - 0.5)
            .collect();
        let distinct: Vec<f32> = (0..20_000u32)
            .map(|i| f32::from_bits(i.wrapping_mul(2_654_435_761) >> 2))
            .collect();
        for values in [repeated, distinct] {
            let tensor = Tensor::new("X", vec![4, 5_000], TensorData::Fp32(values));
            let r = InferenceRequest::for_container("c", "m").with_input(tensor.expect("valid"));
            let (direct, serde) = both(&r);
            assert!(direct == serde, "the frames differ");
        }
    }

    proptest! {
        /// Whatever FP32 values and shape, the direct writer's frame is the serializer's.
        #[test]
        fn fp32_tensors_are_written_as_the_serializer_writes_them(
            bits in proptest::collection::vec(any::<u32>(), 0..64),
            split in 1usize..4,
        ) {
            let values: Vec<f32> = bits.iter().map(|b| f32::from_bits(*b)).collect();
            let n = values.len();
            let shape = if n % split == 0 { vec![split, n / split] } else { vec![n] };
            let tensor = Tensor::new("X", shape, TensorData::Fp32(values)).expect("valid");
            let r = InferenceRequest::for_container("c", "m").with_input(tensor);
            let (direct, serde) = both(&r);
            prop_assert_eq!(direct, serde);
        }

        /// Whatever the uuid, action and tag (quotes, backslashes, control characters,
        /// non-ASCII, any length), the info frame is the serializer's, byte for byte.
        #[test]
        fn info_frames_are_written_as_the_serializer_writes_them(
            uuid in "\\PC{0,40}|[\"\\\\\u{0}-\u{1f}a-z]{0,20}",
            action in "[a-z_]{1,20}|\\PC{0,12}",
            tag in "j[0-9]{1,20}|\\PC{0,9}",
        ) {
            let request = Request::Info(InfoRequest { action: action.clone().into() });
            prop_assert_eq!(
                encode_request(&uuid, &tag, &request),
                encode_info_via_serde(&uuid, &tag, &action)
            );
        }
    }
}
