//! Client → server frames: the envelope `{uuid, type, payload}` and the typed requests that go
//! in it (TCM §3.1, §5.1, §7, §8, §9).
//!
//! Frames are written as compact JSON straight from borrowed data, with no intermediate
//! `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::tensor::TensorInput;

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
        Request::Info(r) => to_json(&Envelope {
            uuid,
            kind: "info",
            request_id: None,
            payload: InfoPayload {
                action: &r.action,
                job_id: tag,
            },
        }),
        Request::Management(r) => to_json(&Envelope {
            uuid,
            kind: "management",
            request_id: Some(tag),
            payload: ManagementPayload {
                action: &r.action,
                rest: &r.payload,
            },
        }),
        Request::Inference(r) => to_json(&Envelope {
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
        }),
    }
}
