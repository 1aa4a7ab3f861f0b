//! Typed failures of key validation, tensor layout, region creation and request conversion.

use tcm_proto::DataType;

/// Why a shared-memory key was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key does not start with `/`.
    #[error("must start with '/'")]
    MissingLeadingSlash,
    /// The key is `/` alone.
    #[error("is empty after the leading '/'")]
    Empty,
    /// The key holds a `/` after the leading one.
    #[error("holds a '/' after the leading one")]
    InnerSlash,
    /// The name after the slash starts with `.` (as `.` and `..` do) or holds `..`; the
    /// server refuses such names.
    #[error("starts with '.' or holds '..'")]
    Dots,
    /// The key holds a NUL byte.
    #[error("holds a NUL byte")]
    Nul,
    /// The key is longer than [`MAX_KEY_LEN`](crate::MAX_KEY_LEN) bytes.
    #[error("is {0} bytes long, more than 255")]
    TooLong(usize),
}

/// Everything that can go wrong when putting tensors into shared memory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ShmError {
    /// A key that `shm_open` would refuse or that names another path.
    #[error("invalid shared-memory key {key:?}: {reason}")]
    InvalidKey {
        /// The key as given.
        key: String,
        /// The rule it breaks.
        reason: KeyError,
    },
    /// `BYTES` tensors have no fixed element size, so they cannot be laid out in a region.
    #[error("input '{name}': datatype BYTES is not supported over shared memory")]
    BytesUnsupported {
        /// The input name.
        name: String,
    },
    /// A datatype name that is not a Triton datatype.
    #[error("input '{name}': unknown datatype '{dtype}'")]
    UnknownDatatype {
        /// The input name.
        name: String,
        /// The datatype name as given.
        dtype: String,
    },
    /// The input name is empty; the server refuses it (`missing input name`).
    #[error("an input name must not be empty")]
    EmptyName,
    /// The shape's element count, or its size in bytes, overflows.
    #[error("input '{name}': shape {shape:?} of {dtype:?} overflows")]
    Overflow {
        /// The input name.
        name: String,
        /// The shape.
        shape: Vec<u64>,
        /// The datatype.
        dtype: DataType,
    },
    /// The shape holds a different number of elements than the data.
    #[error("input '{name}': shape {shape:?} holds {expected} elements but {actual} were given")]
    ShapeMismatch {
        /// The input name.
        name: String,
        /// The shape.
        shape: Vec<u64>,
        /// Elements the shape holds.
        expected: u64,
        /// Elements given.
        actual: u64,
    },
    /// shape × element size differs from the byte size given.
    #[error(
        "input '{name}': shape {shape:?} of {dtype:?} takes {expected} bytes but byte_size is {actual}"
    )]
    ByteSizeMismatch {
        /// The input name.
        name: String,
        /// The shape.
        shape: Vec<u64>,
        /// The datatype.
        dtype: DataType,
        /// shape × element size.
        expected: u64,
        /// The byte size given.
        actual: u64,
    },
    /// A tensor of zero bytes; the server refuses `byte_size` 0 and a region cannot be empty.
    #[error("input '{name}': a shared-memory tensor must hold at least one byte")]
    Empty {
        /// The input name (the key, for a bare region).
        name: String,
    },
    /// A non-zero offset; the server registers regions from offset 0, so it would overrun.
    #[error("input '{name}': offset {offset} is not supported (the server reads from offset 0)")]
    NonZeroOffset {
        /// The input name.
        name: String,
        /// The offset given.
        offset: u64,
    },
    /// A system call on the region failed.
    #[error("{op} of shared-memory region {key:?} failed: {source}")]
    Io {
        /// The operation: `shm_open`, `ftruncate` or `mmap`.
        op: &'static str,
        /// The region key.
        key: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The converted request would mix SHM and JSON inputs in one input list; the server would
    /// then silently drop the JSON ones (TCM §9.7).
    #[error(
        "the request mixes shared-memory and JSON inputs; the server would drop {json_inputs:?}"
    )]
    MixedInputs {
        /// Names of the JSON inputs the server would drop (`?` when an entry has no name).
        json_inputs: Vec<String>,
    },
    /// The server did not negotiate the `shm` capability and JSON fallback is off.
    #[error("the server did not negotiate the 'shm' capability and JSON fallback is off")]
    NotNegotiated,
    /// The request uses gRPC streaming, where the server refuses SHM inputs, and JSON fallback
    /// is off.
    #[error("shared-memory inputs are not supported for gRPC streaming and JSON fallback is off")]
    GrpcUnsupported,
}

impl ShmError {
    pub(crate) fn io(op: &'static str, key: &str, source: impl Into<std::io::Error>) -> Self {
        Self::Io {
            op,
            key: key.to_owned(),
            source: source.into(),
        }
    }
}
