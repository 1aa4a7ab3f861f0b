//! Whole requests: choosing SHM or JSON for a connection, converting a request's tensors into
//! regions, and [`ShmInputs`], the guard that keeps those regions alive until the reply.

use serde_json::Value;
use tcm_proto::{Capabilities, InferenceRequest, PipelineStep, Protocol, TensorInput};

use crate::error::ShmError;
use crate::pool::RegionPool;
use crate::tensor::{ShmTensor, Source};

/// How a request's tensors travel: in shared-memory regions or as JSON values in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputTransport {
    /// Put the tensors into regions and send references.
    Shm,
    /// Send the tensors as JSON values.
    Json,
}

/// Decides how to send tensors on a connection that wants SHM.
///
/// SHM needs the `shm` capability in `capabilities` (the `auth.ok` of the connection; it is only
/// granted if `shm` was also requested in `Config::capabilities`) and the HTTP protocol (the
/// server refuses SHM on gRPC streams, TCM §9.7). Otherwise the tensors go as JSON when
/// `fallback_to_json` is set, and the request fails with [`ShmError::NotNegotiated`] or
/// [`ShmError::GrpcUnsupported`] when it is not.
pub fn choose_transport(
    capabilities: &Capabilities,
    protocol: Protocol,
    fallback_to_json: bool,
) -> Result<InputTransport, ShmError> {
    let refusal = if !capabilities.shm() {
        ShmError::NotNegotiated
    } else if protocol == Protocol::Grpc {
        ShmError::GrpcUnsupported
    } else {
        return Ok(InputTransport::Shm);
    };
    if fallback_to_json {
        Ok(InputTransport::Json)
    } else {
        Err(refusal)
    }
}

/// The shared-memory regions of one request, given up together when this value drops: owned
/// regions are unlinked, leased ones return to their [`RegionPool`].
///
/// Keep it alive until the request has finished (its `Event::Finished` arrived, or the blocking
/// or async call returned): the server opens the regions only when it runs the request, and the
/// connection may send the request again on a retry. Dropping it earlier makes the server answer
/// `Shared memory key not found` (owned regions) or lets another call overwrite the tensors
/// (leased ones). If the request ended without a reply (a deadline, a dropped connection), the
/// server may still read the regions: [`retire`](Self::retire) them instead.
#[derive(Debug, Default)]
#[must_use = "dropping the guard unlinks the regions before the server can read them"]
pub struct ShmInputs {
    tensors: Vec<ShmTensor>,
}

impl ShmInputs {
    /// An empty guard.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes ownership of `tensor` and returns the input that references it.
    pub fn push(&mut self, tensor: ShmTensor) -> TensorInput {
        let input = tensor.as_input();
        self.tensors.push(tensor);
        input
    }

    /// The tensors held.
    pub fn tensors(&self) -> &[ShmTensor] {
        &self.tensors
    }

    /// The keys of the regions held.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.tensors.iter().map(ShmTensor::key)
    }

    /// Number of regions held.
    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    /// Whether no region is held (a request sent as JSON).
    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    /// Gives every region up for good: owned ones are unlinked, leased ones retired (unlinked,
    /// their keys never lent again), so no later call can write to a region the server may
    /// still read for this request.
    pub fn retire(self) {
        for tensor in self.tensors {
            tensor.retire();
        }
    }
}

/// Prepares `request` for a connection that wants SHM: its tensors are moved into regions when
/// [`choose_transport`] says SHM, and the request is returned unchanged (with an empty guard)
/// when it says JSON. Keep the guard until the request has finished.
///
/// Errors are those of [`choose_transport`] and [`to_shm_request`]; a region that cannot be
/// created is an error even with `fallback_to_json`, which only covers a missing capability or
/// a gRPC request.
pub fn prepare_request(
    request: InferenceRequest,
    capabilities: &Capabilities,
    fallback_to_json: bool,
) -> Result<(InferenceRequest, ShmInputs), ShmError> {
    match choose_transport(capabilities, request.protocol, fallback_to_json)? {
        InputTransport::Shm => to_shm_request(&request),
        InputTransport::Json => Ok((request, ShmInputs::new())),
    }
}

/// [`prepare_request`] with the regions leased from `pool` (reused across calls) rather than
/// created and unlinked for this request alone.
pub fn prepare_request_in(
    pool: &RegionPool,
    request: InferenceRequest,
    capabilities: &Capabilities,
    fallback_to_json: bool,
) -> Result<(InferenceRequest, ShmInputs), ShmError> {
    match choose_transport(capabilities, request.protocol, fallback_to_json)? {
        InputTransport::Shm => convert(Source::Pool(pool), &request, ConvertOptions::default()),
        InputTransport::Json => Ok((request, ShmInputs::new())),
    }
}

/// [`to_shm_request_with`] with the regions leased from `pool`: each tensor is one copy into a
/// region that is already mapped once the pool is warm. The guard returns them to the pool.
pub fn to_shm_request_in(
    pool: &RegionPool,
    request: &InferenceRequest,
    options: ConvertOptions,
) -> Result<(InferenceRequest, ShmInputs), ShmError> {
    convert(Source::Pool(pool), request, options)
}

/// Options of [`to_shm_request_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ConvertOptions {
    /// Build the request even if SHM and JSON inputs end up in one input list. The server then
    /// uses only the SHM inputs and drops the JSON ones without a word (TCM §9.7, Q16).
    pub allow_mixed: bool,
}

impl ConvertOptions {
    /// Sets [`allow_mixed`](Self::allow_mixed).
    pub fn allow_mixed(mut self, allow: bool) -> Self {
        self.allow_mixed = allow;
        self
    }
}

/// Copies `request` with every typed [`TensorInput::Tensor`] (in `inputs` and in each pipeline
/// step) written to its own region and replaced by its reference. Returns the new request and
/// the guard owning the regions; keep the guard until the request has finished.
///
/// Existing SHM references and raw SHM objects are kept as they are. Fails, removing any region
/// already made, on a `BYTES` or empty tensor, on a region that cannot be created, on a gRPC
/// request (the server refuses SHM there), and when an input list would mix SHM inputs with
/// JSON ones (raw JSON objects): the server would silently drop the JSON inputs, so the model
/// would run without them. [`to_shm_request_with`] can allow the mix.
///
/// Bind the guard to a named variable (`let (request, _regions) = ...`): the pattern `_` drops
/// it, and unlinks the regions, at once.
pub fn to_shm_request(
    request: &InferenceRequest,
) -> Result<(InferenceRequest, ShmInputs), ShmError> {
    to_shm_request_with(request, ConvertOptions::default())
}

/// [`to_shm_request`] with options.
pub fn to_shm_request_with(
    request: &InferenceRequest,
    options: ConvertOptions,
) -> Result<(InferenceRequest, ShmInputs), ShmError> {
    convert(Source::Own, request, options)
}

fn convert(
    source: Source<'_>,
    request: &InferenceRequest,
    options: ConvertOptions,
) -> Result<(InferenceRequest, ShmInputs), ShmError> {
    if request.protocol == Protocol::Grpc {
        return Err(ShmError::GrpcUnsupported);
    }
    let mut guard = ShmInputs::new();
    let inputs = convert_inputs(source, &request.inputs, &mut guard, options)?;
    let pipeline = match &request.pipeline {
        None => None,
        Some(steps) => Some(
            steps
                .iter()
                .map(|step| {
                    Ok(PipelineStep {
                        name: step.name.clone(),
                        model_name: step.model_name.clone(),
                        inputs: convert_inputs(source, &step.inputs, &mut guard, options)?,
                        protocol: step.protocol,
                    })
                })
                .collect::<Result<Vec<_>, ShmError>>()?,
        ),
    };
    // Every field but the (large) inputs, copied; the inputs are the converted ones.
    let mut converted = InferenceRequest::for_container(request.container_id.clone(), "");
    converted.vm_ip = request.vm_ip.clone();
    converted.vm_id = request.vm_id.clone();
    converted.model_name = request.model_name.clone();
    converted.protocol = request.protocol;
    converted.inputs = inputs;
    converted.allow_transient = request.allow_transient;
    converted.output_name = request.output_name.clone();
    converted.pipeline = pipeline;
    Ok((converted, guard))
}

fn convert_inputs(
    source: Source<'_>,
    inputs: &[TensorInput],
    guard: &mut ShmInputs,
    options: ConvertOptions,
) -> Result<Vec<TensorInput>, ShmError> {
    let mut out = Vec::with_capacity(inputs.len());
    let mut json_inputs = Vec::new();
    for input in inputs {
        let converted = match input {
            TensorInput::Tensor(t) => guard.push(ShmTensor::write_from(
                source,
                t.name(),
                t.shape(),
                t.data(),
            )?),
            other => {
                if !other.is_shm() {
                    json_inputs.push(raw_name(other));
                }
                other.clone()
            }
        };
        out.push(converted);
    }
    let any_shm = out.iter().any(TensorInput::is_shm);
    if any_shm && !json_inputs.is_empty() && !options.allow_mixed {
        return Err(ShmError::MixedInputs { json_inputs });
    }
    Ok(out)
}

fn raw_name(input: &TensorInput) -> String {
    match input {
        TensorInput::Raw(Value::Object(m)) => m
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned(),
        _ => "?".to_owned(),
    }
}
