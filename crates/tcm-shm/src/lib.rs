//! Zero-copy tensor inputs for TCM over POSIX shared memory (TCM §9.7).
//!
//! A large tensor sent as JSON costs about 11 bytes and tens of nanoseconds per FP32 value and
//! must fit in a 64 KiB frame. Instead, this crate writes the tensor into a POSIX shared-memory
//! region (`shm_open` + `mmap`) in Triton's raw layout (row-major, little-endian) and sends only
//! a [`ShmReference`](tcm_proto::ShmReference) `{name, shm_key, offset, byte_size, shape, dtype}`;
//! the server reads the bytes from `/dev/shm`. The client, the server and Triton must share one
//! `/dev/shm` (same host or IPC namespace).
//!
//! - [`ShmRegion`]: one region, created with `O_EXCL`, unlinked when dropped;
//! - [`RegionPool`]: regions reused across calls, lent as [`Lease`]s (one pool per client;
//!   see its module for why reuse under one key is safe while the server caches mappings);
//! - [`ShmTensor`]: a named tensor in its own region, from typed slices or
//!   [`TensorData`](tcm_proto::TensorData);
//! - [`choose_transport`]: SHM, JSON or a typed error, from the negotiated capabilities;
//! - [`to_shm_request`]: a request with its tensors moved into regions, plus the
//!   [`ShmInputs`] guard that owns them;
//! - [`prepare_request`]: both steps at once; [`prepare_request_in`] and [`to_shm_request_in`]
//!   lease the regions from a pool, as the clients do;
//! - [`validate_key`], [`generate_key`], [`validate_reference`]: the rules, on their own.
//!
//! # Region lifetime
//!
//! The owner of a region unlinks it on drop, and the server opens it only when it runs the
//! request, so a region must live until the reply has arrived: keep the [`ShmInputs`] guard (or
//! the [`ShmTensor`]) alive until the request's `Event::Finished` (or until the blocking or
//! async call returns). A connection may also send a request again on a retry, which reads the
//! regions again.
//!
//! A [`RegionPool`] makes this cheap: a region is created (and mapped) once, then lent to one
//! call at a time under the same key, so a warm call costs one copy of the tensor. Dropping the
//! guard returns its leased regions to the pool; a request that may still be read after its call
//! ended without a reply has its regions retired ([`ShmInputs::retire`]) instead. The pool never
//! unlinks and re-creates a region under a key the server may have mapped (the server caches its
//! mappings per key and size, TCM §9.7) and never uses a retired key again.
//!
//! # Use from a client
//!
//! Request `shm` in `Config::capabilities` (e.g. `["json", "shm"]`): the connection refuses SHM
//! inputs unless `shm` was both requested and granted. Then, per inference:
//!
//! ```no_run
//! # fn send(_: tcm_proto::Request) {}
//! use tcm_proto::{Capabilities, InferenceRequest, Request, Tensor, TensorData};
//! use tcm_shm::prepare_request;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let capabilities = Capabilities::from_auth_ok(Some(vec!["json".into(), "shm".into()]));
//! let request = InferenceRequest::new("10.0.0.5", "triton-1", "identity")
//!     .with_input(Tensor::new("INPUT0", vec![4], TensorData::Fp32(vec![1.0; 4]))?);
//!
//! // SHM when negotiated (HTTP only), else JSON: `choose_transport` + `to_shm_request`.
//! let fallback_to_json = true;
//! let (request, regions) = prepare_request(request, &capabilities, fallback_to_json)?;
//! send(Request::Inference(request.into())); // ... and wait for the reply.
//! drop(regions); // Only now: the reply has arrived.
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod error;
mod key;
mod pool;
mod region;
mod request;
mod tensor;

pub use error::{KeyError, ShmError};
pub use key::{MAX_KEY_LEN, generate_key, validate_key};
pub use pool::{Lease, MIN_CLASS, PoolConfig, PoolStats, RegionPool, size_class};
pub use region::{DEFAULT_MODE, ShmRegion};
pub use request::{
    ConvertOptions, InputTransport, ShmInputs, choose_transport, prepare_request,
    prepare_request_in, to_shm_request, to_shm_request_in, to_shm_request_with,
};
pub use tensor::{Element, RegionGuard, ShmTensor, byte_size, f32_to_f16_bits, validate_reference};
