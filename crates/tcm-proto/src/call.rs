//! Typed calls: each kind of call is described once, here, with the request it sends and how its
//! reply is read. Clients issue any [`Call`] through one generic method; their convenience
//! methods (`queue_stats()`, `infer(..)`, …) are one line each on top of it.
//!
//! Adding a call kind (say, a new info action with a typed result) means a type here with a
//! [`Call`] implementation, and at most a one-line convenience method per client.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::envelope::{InferenceRequest, InfoRequest, ManagementRequest, PipelineStep, Request};
use crate::event::{QueueStats, Response};
use crate::management::ManagementReply;
use crate::outputs::Outputs;

/// A reply that is not of the kind its call expects (the server answered an info request with
/// something else, say). The request itself succeeded, so this is not a request error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected response: expected {expected}")]
pub struct UnexpectedResponse {
    /// What the call expected, e.g. `an info response`.
    pub expected: &'static str,
}

impl UnexpectedResponse {
    fn expected(expected: &'static str) -> Self {
        Self { expected }
    }
}

/// One kind of call: the request it sends and the typed result its reply holds.
pub trait Call {
    /// The typed result.
    type Output;
    /// What reading the reply needs to remember of the call (`()` for most calls; the action
    /// of a management call).
    type Memo: Send + 'static;

    /// The request to send, and what to remember for reading its reply.
    fn into_request(self) -> (Request, Self::Memo);

    /// Reads the successful reply to the request.
    fn read(memo: Self::Memo, response: Response) -> Result<Self::Output, UnexpectedResponse>;
}

/// Any request, answered with the raw [`Response`].
impl Call for Request {
    type Output = Response;
    type Memo = ();

    fn into_request(self) -> (Request, ()) {
        (self, ())
    }

    fn read((): (), response: Response) -> Result<Response, UnexpectedResponse> {
        Ok(response)
    }
}

/// An info request with any action, answered with the reply's `data`.
impl Call for InfoRequest {
    type Output = Value;
    type Memo = ();

    fn into_request(self) -> (Request, ()) {
        (Request::Info(self), ())
    }

    fn read((): (), response: Response) -> Result<Value, UnexpectedResponse> {
        match response {
            Response::Info { data, .. } => Ok(data.into_value()),
            _ => Err(UnexpectedResponse::expected("an info response")),
        }
    }
}

/// The server's queue counters (the info fast path, TCM §7), typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetQueueStats;

impl Call for GetQueueStats {
    type Output = QueueStats;
    type Memo = ();

    fn into_request(self) -> (Request, ()) {
        (Request::Info(InfoRequest::queue_stats()), ())
    }

    fn read((): (), response: Response) -> Result<QueueStats, UnexpectedResponse> {
        match response {
            // Typed at decoding: no JSON tree on this path.
            Response::Info { data, .. } => data
                .queue_stats()
                .ok_or(UnexpectedResponse::expected("a queue_stats object")),
            _ => Err(UnexpectedResponse::expected("an info response")),
        }
    }
}

/// A management request, answered with a [`ManagementReply`]: the reply's `data` as sent,
/// typed on request for the actions with a known success shape. Never retried automatically.
impl Call for ManagementRequest {
    type Output = ManagementReply;
    type Memo = String;

    fn into_request(self) -> (Request, String) {
        let action = self.action.clone();
        (Request::Management(self), action)
    }

    fn read(action: String, response: Response) -> Result<ManagementReply, UnexpectedResponse> {
        match response {
            Response::Management { data } => Ok(ManagementReply::new(action, data)),
            _ => Err(UnexpectedResponse::expected("a management response")),
        }
    }
}

/// The result of a completed inference: the model the server reported and typed outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceOutput {
    /// The model name the server reported, if any.
    pub model_name: Option<String>,
    /// Output tensors (HTTP) or per-step outputs (pipeline), with typed accessors.
    pub outputs: Outputs,
}

/// An inference (HTTP, or a pipeline), answered with typed outputs. A gRPC stream's chunks
/// arrive before its final reply, whose outputs are empty: use a client's stream call for it.
impl Call for InferenceRequest {
    type Output = InferenceOutput;
    type Memo = ();

    fn into_request(self) -> (Request, ()) {
        (Request::Inference(Box::new(self)), ())
    }

    fn read((): (), response: Response) -> Result<InferenceOutput, UnexpectedResponse> {
        match response {
            Response::Inference {
                model_name,
                outputs,
            } => Ok(InferenceOutput {
                model_name,
                outputs,
            }),
            _ => Err(UnexpectedResponse::expected("an inference response")),
        }
    }
}

impl InfoRequest {
    /// An info request with any action.
    pub fn new(action: impl Into<Cow<'static, str>>) -> Self {
        Self {
            action: action.into(),
        }
    }
}

impl ManagementRequest {
    /// A management request: `action` plus the other payload keys.
    pub fn new(action: impl Into<String>, payload: Map<String, Value>) -> Self {
        Self {
            action: action.into(),
            payload,
        }
    }
}

impl InferenceRequest {
    /// A pipeline (TCM §9.5): `target` names the server (`vm_ip`, `container_id`); the steps
    /// run independently over HTTP and their outputs come back per step name.
    pub fn into_pipeline(mut self, steps: Vec<PipelineStep>) -> Self {
        self.protocol = crate::envelope::Protocol::Http;
        self.pipeline = Some(steps);
        self
    }

    /// The same request as a gRPC stream (TCM §9.4).
    pub fn into_stream(mut self) -> Self {
        self.protocol = crate::envelope::Protocol::Grpc;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_of_another_kind_is_an_unexpected_response() {
        let management = Response::Management { data: Value::Null };
        assert_eq!(
            InfoRequest::read((), management.clone()),
            Err(UnexpectedResponse::expected("an info response"))
        );
        assert!(InferenceRequest::read((), management.clone()).is_err());
        let info = Response::Info {
            request_type: None,
            data: serde_json::json!({"total_queued": 1}).into(),
        };
        assert!(ManagementRequest::read("deletion".into(), info.clone()).is_err());
        assert_eq!(GetQueueStats::read((), info).map(|s| s.total_queued), Ok(1));
        let not_stats = Response::Info {
            request_type: None,
            data: serde_json::json!({"x": 1}).into(),
        };
        assert!(GetQueueStats::read((), not_stats).is_err());
    }

    #[test]
    fn a_management_reply_remembers_its_action_for_typing() {
        let request = ManagementRequest::new("create_vm", serde_json::Map::new());
        let (_, memo) = request.into_request();
        let data = serde_json::json!(["192.0.2.10", "vm-1"]);
        let reply = ManagementRequest::read(memo, Response::Management { data: data.clone() });
        let reply = reply.expect("a management reply");
        assert_eq!(reply.action(), "create_vm");
        assert_eq!(reply.data(), &data);
        assert!(matches!(
            reply.result(),
            Ok(crate::management::ManagementResult::Vm(_))
        ));
    }
}
