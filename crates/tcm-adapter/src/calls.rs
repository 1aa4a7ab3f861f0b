//! The requests of a client's calls and the reading of their responses: what every adapter's
//! `Client` does around sending a request and waiting for its reply.
//!
//! A reply of the wrong kind is an `Err` with the text the adapters put in their
//! `Error::UnexpectedResponse`.

use serde_json::{Map, Value};
use tcm_proto::{
    InferenceRequest, InfoRequest, ManagementRequest, Outputs, PipelineStep, Protocol, QueueStats,
    Request, Response,
};

/// The result of a completed inference: the model the server reported and typed outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct InferenceOutput {
    /// The model name the server reported, if any.
    pub model_name: Option<String>,
    /// Output tensors (HTTP) or per-step outputs (pipeline), with typed accessors.
    pub outputs: Outputs,
}

/// An info request with any action.
pub fn info(action: &str) -> Request {
    Request::Info(InfoRequest {
        action: action.to_owned().into(),
    })
}

/// The `data` of an info reply.
pub fn info_data(response: Response) -> Result<Value, &'static str> {
    match response {
        Response::Info { data, .. } => Ok(data),
        _ => Err("expected an info response"),
    }
}

/// The queue counters in the `data` of a `queue_stats` info reply.
pub fn queue_stats(data: &Value) -> Result<QueueStats, &'static str> {
    QueueStats::from_data(data).ok_or("not a queue_stats object")
}

/// A management request: `action` plus the other payload keys.
pub fn management(action: &str, payload: Map<String, Value>) -> Request {
    Request::Management(ManagementRequest {
        action: action.to_owned(),
        payload,
    })
}

/// The `data` of a management reply.
pub fn management_data(response: Response) -> Result<Value, &'static str> {
    match response {
        Response::Management { data } => Ok(data),
        _ => Err("expected a management response"),
    }
}

/// An inference request as it is sent.
pub fn inference(request: InferenceRequest) -> Request {
    Request::Inference(request.into())
}

/// The model name and outputs of an inference reply.
pub fn inference_output(response: Response) -> Result<InferenceOutput, &'static str> {
    match response {
        Response::Inference {
            model_name,
            outputs,
        } => Ok(InferenceOutput {
            model_name,
            outputs,
        }),
        _ => Err("expected an inference response"),
    }
}

/// A pipeline: `target` (which names the server) over HTTP with these steps.
pub fn pipeline(mut target: InferenceRequest, steps: Vec<PipelineStep>) -> InferenceRequest {
    target.protocol = Protocol::Http;
    target.pipeline = Some(steps);
    target
}

/// A gRPC streaming inference request as it is sent.
pub fn stream(mut request: InferenceRequest) -> Request {
    request.protocol = Protocol::Grpc;
    inference(request)
}
