//! Tensors: Triton datatypes, typed tensor data written as nested JSON lists, SHM references,
//! and typed access to inference outputs.
//!
//! The server requires a value nested exactly like its declared shape (TCM §9.2), so
//! [`Tensor`] keeps flat, typed data plus a shape and writes the nesting while serialising,
//! without building an intermediate `serde_json::Value`.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A Triton datatype name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// `BOOL`
    Bool,
    /// `INT8`
    Int8,
    /// `INT16`
    Int16,
    /// `INT32`
    Int32,
    /// `INT64`
    Int64,
    /// `UINT8`
    Uint8,
    /// `UINT16`
    Uint16,
    /// `UINT32`
    Uint32,
    /// `UINT64`
    Uint64,
    /// `FP16`
    Fp16,
    /// `FP32`
    Fp32,
    /// `FP64`
    Fp64,
    /// `BYTES` (strings)
    Bytes,
}

impl DataType {
    /// Every datatype, for iteration in tests and tools.
    pub const ALL: [DataType; 13] = [
        Self::Bool,
        Self::Int8,
        Self::Int16,
        Self::Int32,
        Self::Int64,
        Self::Uint8,
        Self::Uint16,
        Self::Uint32,
        Self::Uint64,
        Self::Fp16,
        Self::Fp32,
        Self::Fp64,
        Self::Bytes,
    ];

    /// The Triton name, e.g. `FP32`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Bool => "BOOL",
            Self::Int8 => "INT8",
            Self::Int16 => "INT16",
            Self::Int32 => "INT32",
            Self::Int64 => "INT64",
            Self::Uint8 => "UINT8",
            Self::Uint16 => "UINT16",
            Self::Uint32 => "UINT32",
            Self::Uint64 => "UINT64",
            Self::Fp16 => "FP16",
            Self::Fp32 => "FP32",
            Self::Fp64 => "FP64",
            Self::Bytes => "BYTES",
        }
    }

    /// Parses a Triton name (`FP32`) or a model-config name (`TYPE_FP32`, `TYPE_STRING`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.strip_prefix("TYPE_").unwrap_or(s);
        Some(match s {
            "BOOL" => Self::Bool,
            "INT8" => Self::Int8,
            "INT16" => Self::Int16,
            "INT32" => Self::Int32,
            "INT64" => Self::Int64,
            "UINT8" => Self::Uint8,
            "UINT16" => Self::Uint16,
            "UINT32" => Self::Uint32,
            "UINT64" => Self::Uint64,
            "FP16" => Self::Fp16,
            "FP32" => Self::Fp32,
            "FP64" => Self::Fp64,
            "BYTES" | "STRING" => Self::Bytes,
            _ => return None,
        })
    }

    /// Bytes per element in raw (SHM) layout; `None` for variable-size `BYTES`.
    pub fn element_size(self) -> Option<usize> {
        Some(match self {
            Self::Bool | Self::Int8 | Self::Uint8 => 1,
            Self::Int16 | Self::Uint16 | Self::Fp16 => 2,
            Self::Int32 | Self::Uint32 | Self::Fp32 => 4,
            Self::Int64 | Self::Uint64 | Self::Fp64 => 8,
            Self::Bytes => return None,
        })
    }
}

impl Serialize for DataType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for DataType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown datatype '{s}'")))
    }
}

/// Flat, row-major tensor values of one datatype.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// `BOOL`
    Bool(Vec<bool>),
    /// `INT8`
    Int8(Vec<i8>),
    /// `INT16`
    Int16(Vec<i16>),
    /// `INT32`
    Int32(Vec<i32>),
    /// `INT64`
    Int64(Vec<i64>),
    /// `UINT8`
    Uint8(Vec<u8>),
    /// `UINT16`
    Uint16(Vec<u16>),
    /// `UINT32`
    Uint32(Vec<u32>),
    /// `UINT64`
    Uint64(Vec<u64>),
    /// `FP16`, given as `f32` values (JSON carries numbers, the server narrows).
    Fp16(Vec<f32>),
    /// `FP32`
    Fp32(Vec<f32>),
    /// `FP64`
    Fp64(Vec<f64>),
    /// `BYTES`, as UTF-8 strings.
    Bytes(Vec<String>),
}

impl TensorData {
    /// The datatype of the values.
    pub fn datatype(&self) -> DataType {
        match self {
            Self::Bool(_) => DataType::Bool,
            Self::Int8(_) => DataType::Int8,
            Self::Int16(_) => DataType::Int16,
            Self::Int32(_) => DataType::Int32,
            Self::Int64(_) => DataType::Int64,
            Self::Uint8(_) => DataType::Uint8,
            Self::Uint16(_) => DataType::Uint16,
            Self::Uint32(_) => DataType::Uint32,
            Self::Uint64(_) => DataType::Uint64,
            Self::Fp16(_) => DataType::Fp16,
            Self::Fp32(_) => DataType::Fp32,
            Self::Fp64(_) => DataType::Fp64,
            Self::Bytes(_) => DataType::Bytes,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::Bool(v) => v.len(),
            Self::Int8(v) => v.len(),
            Self::Int16(v) => v.len(),
            Self::Int32(v) => v.len(),
            Self::Int64(v) => v.len(),
            Self::Uint8(v) => v.len(),
            Self::Uint16(v) => v.len(),
            Self::Uint32(v) => v.len(),
            Self::Uint64(v) => v.len(),
            Self::Fp16(v) | Self::Fp32(v) => v.len(),
            Self::Fp64(v) => v.len(),
            Self::Bytes(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a tensor could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TensorError {
    /// The shape's element count differs from the data length.
    #[error("shape {shape:?} holds {expected} elements but {actual} were given")]
    ShapeMismatch {
        /// The shape.
        shape: Vec<usize>,
        /// Elements the shape holds.
        expected: usize,
        /// Elements given.
        actual: usize,
    },
    /// The element count overflows `usize`.
    #[error("shape {0:?} overflows")]
    Overflow(Vec<usize>),
}

/// A named tensor with a shape and flat typed data, sent in the SDK input shape
/// `{name, shape, datatype, data}` with `data` nested like `shape`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    name: String,
    shape: Vec<usize>,
    data: TensorData,
}

/// Number of elements a shape holds, or `None` on overflow.
pub fn element_count(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d))
}

impl Tensor {
    /// Builds a tensor, checking that the shape holds exactly the given elements.
    pub fn new(
        name: impl Into<String>,
        shape: Vec<usize>,
        data: TensorData,
    ) -> Result<Self, TensorError> {
        let expected = element_count(&shape).ok_or_else(|| TensorError::Overflow(shape.clone()))?;
        if expected != data.len() {
            return Err(TensorError::ShapeMismatch {
                shape,
                expected,
                actual: data.len(),
            });
        }
        Ok(Self {
            name: name.into(),
            shape,
            data,
        })
    }

    /// A one-dimensional tensor holding `data`.
    pub fn vector(name: impl Into<String>, data: TensorData) -> Self {
        Self {
            name: name.into(),
            shape: vec![data.len()],
            data,
        }
    }

    /// The tensor name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// The data.
    pub fn data(&self) -> &TensorData {
        &self.data
    }
}

/// Serialises `items` (row-major) as lists nested like `shape`.
struct Nested<'a, T> {
    shape: &'a [usize],
    items: &'a [T],
}

impl<T: Serialize> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.shape.split_first() {
            None => match self.items.first() {
                // A rank-0 tensor is its single element.
                Some(item) => item.serialize(s),
                None => s.serialize_unit(),
            },
            Some((&outer, inner)) => {
                let stride = element_count(inner).unwrap_or(0);
                let mut seq = s.serialize_seq(Some(outer))?;
                for i in 0..outer {
                    let start = i * stride;
                    let chunk = self.items.get(start..start + stride).unwrap_or(&[]);
                    seq.serialize_element(&Nested {
                        shape: inner,
                        items: chunk,
                    })?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for Tensor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(4))?;
        map.serialize_entry("name", &self.name)?;
        map.serialize_entry("shape", &self.shape)?;
        map.serialize_entry("datatype", &self.data.datatype())?;
        let shape = &self.shape;
        macro_rules! nested {
            ($v:expr) => {
                map.serialize_entry("data", &Nested { shape, items: $v })?
            };
        }
        match &self.data {
            TensorData::Bool(v) => nested!(v),
            TensorData::Int8(v) => nested!(v),
            TensorData::Int16(v) => nested!(v),
            TensorData::Int32(v) => nested!(v),
            TensorData::Int64(v) => nested!(v),
            TensorData::Uint8(v) => nested!(v),
            TensorData::Uint16(v) => nested!(v),
            TensorData::Uint32(v) => nested!(v),
            TensorData::Uint64(v) => nested!(v),
            TensorData::Fp16(v) | TensorData::Fp32(v) => nested!(v),
            TensorData::Fp64(v) => nested!(v),
            TensorData::Bytes(v) => nested!(v),
        }
        map.end()
    }
}

/// An element written as JSON text straight into a buffer, exactly as `serde_json` writes it
/// (integers with `itoa`, floats in their shortest round-trip form with `zmij`, non-finite
/// floats as `null`, strings escaped).
trait WriteJson: Sized {
    fn write_json(&self, out: &mut Vec<u8>, memo: &mut Memo);

    /// Writes `row`'s elements separated by commas: the hot loop of a tensor.
    fn write_row(row: &[Self], out: &mut Vec<u8>, memo: &mut Memo) {
        write_each(row, out, memo);
    }
}

/// Writes `row`'s elements one by one, separated by commas.
fn write_each<T: WriteJson>(row: &[T], out: &mut Vec<u8>, memo: &mut Memo) {
    if let Some((head, tail)) = row.split_first() {
        head.write_json(out, memo);
        for item in tail {
            out.push(b',');
            item.write_json(out, memo);
        }
    }
}

/// The texts of recently written `f32` values, so that a tensor with few distinct values (an
/// image made from 8-bit pixels, a mask, a constant fill) formats each value once and copies
/// its text after that. A direct-mapped table of [`Memo::SLOTS`] entries; it switches itself
/// off when the first [`Memo::TRIAL`] elements hit less than half the time, so that tensors of
/// mostly distinct values pay only for that trial.
struct Memo {
    slots: Vec<Slot>,
    hits: usize,
    misses: usize,
    on: bool,
}

/// One remembered `f32` text: its bits, its length (0 for an empty slot) and its bytes (at most
/// 15, as in `-1.17549435e-38`).
#[derive(Clone, Copy)]
struct Slot {
    bits: u32,
    len: u8,
    text: [u8; 15],
}

impl Memo {
    const SLOTS: usize = 4096;
    const TRIAL: usize = 4096;

    fn new() -> Self {
        Self {
            slots: Vec::new(),
            hits: 0,
            misses: 0,
            on: true,
        }
    }

    fn write_f32(&mut self, out: &mut Vec<u8>, v: f32) {
        if !self.on {
            out.extend_from_slice(zmij::Buffer::new().format_finite(v).as_bytes());
            return;
        }
        if self.slots.is_empty() {
            let empty = Slot {
                bits: 0,
                len: 0,
                text: [0; 15],
            };
            self.slots = vec![empty; Self::SLOTS];
        }
        let bits = v.to_bits();
        let i = (bits.wrapping_mul(0x9E37_79B1) >> 20) as usize % Self::SLOTS;
        let slot = &mut self.slots[i];
        if slot.len != 0 && slot.bits == bits {
            self.hits += 1;
            out.extend_from_slice(&slot.text[..usize::from(slot.len)]);
            return;
        }
        self.misses += 1;
        let mut buffer = zmij::Buffer::new();
        let text = buffer.format_finite(v).as_bytes();
        out.extend_from_slice(text);
        if let (Some(dst), Ok(len)) = (slot.text.get_mut(..text.len()), u8::try_from(text.len())) {
            dst.copy_from_slice(text);
            slot.bits = bits;
            slot.len = len;
        }
        if self.hits + self.misses >= Self::TRIAL && self.hits < self.misses {
            self.on = false;
            self.slots = Vec::new();
        }
    }
}

macro_rules! write_int {
    ($($t:ty),*) => {$(
        impl WriteJson for $t {
            fn write_json(&self, out: &mut Vec<u8>, _: &mut Memo) {
                out.extend_from_slice(itoa::Buffer::new().format(*self).as_bytes());
            }
        }
    )*};
}
write_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl WriteJson for f32 {
    fn write_json(&self, out: &mut Vec<u8>, memo: &mut Memo) {
        if self.is_finite() {
            memo.write_f32(out, *self);
        } else {
            out.extend_from_slice(b"null");
        }
    }

    /// Once the memo is off, a loop with nothing in it but the formatting: called element by
    /// element through `write_json`, the same formatting took 1.7× as long (measured on
    /// 150,528 distinct values).
    fn write_row(row: &[f32], out: &mut Vec<u8>, memo: &mut Memo) {
        if memo.on {
            return write_each(row, out, memo);
        }
        let mut buffer = zmij::Buffer::new();
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if v.is_finite() {
                out.extend_from_slice(buffer.format_finite(*v).as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
        }
    }
}

impl WriteJson for f64 {
    fn write_json(&self, out: &mut Vec<u8>, _: &mut Memo) {
        if self.is_finite() {
            out.extend_from_slice(zmij::Buffer::new().format_finite(*self).as_bytes());
        } else {
            out.extend_from_slice(b"null");
        }
    }
}

impl WriteJson for bool {
    fn write_json(&self, out: &mut Vec<u8>, _: &mut Memo) {
        out.extend_from_slice(if *self { b"true" } else { b"false" });
    }
}

impl WriteJson for String {
    fn write_json(&self, out: &mut Vec<u8>, _: &mut Memo) {
        write_str(out, self);
    }
}

/// Writes `s` as a JSON string, as `serde_json` does: copied between quotes when nothing in it
/// needs escaping (the usual case: uuids, names, tags), through `serde_json` otherwise.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    if crate::json::needs_no_escape(s.as_bytes()) {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing to a `Vec` cannot fail, and a string always serialises.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Writes `items` (row-major) as lists nested like `shape`, as [`Nested`] serialises them.
fn write_nested<T: WriteJson>(out: &mut Vec<u8>, memo: &mut Memo, shape: &[usize], items: &[T]) {
    match shape.split_first() {
        None => match items.first() {
            Some(item) => item.write_json(out, memo),
            None => out.extend_from_slice(b"null"),
        },
        Some((&outer, [])) => {
            // The innermost lists: the elements themselves, the hot loop.
            let row = items.get(..outer).unwrap_or(items);
            out.push(b'[');
            T::write_row(row, out, memo);
            // Elements the shape has but the data lacks are `null`, as `Nested` writes them.
            for i in row.len()..outer {
                out.extend_from_slice(if i == 0 { b"null" } else { b",null" });
            }
            out.push(b']');
        }
        Some((&outer, inner)) => {
            let stride = element_count(inner).unwrap_or(0);
            out.push(b'[');
            for i in 0..outer {
                if i > 0 {
                    out.push(b',');
                }
                let start = i * stride;
                let chunk = items.get(start..start + stride).unwrap_or(&[]);
                write_nested(out, memo, inner, chunk);
            }
            out.push(b']');
        }
    }
}

impl Tensor {
    /// The most bytes [`write_json`](Self::write_json) writes for the data, to size the buffer
    /// once: the longest element text plus a separator per element.
    pub(crate) fn json_size_hint(&self) -> usize {
        let per_element = match &self.data {
            TensorData::Bool(_) => 6,
            TensorData::Int8(_) | TensorData::Uint8(_) => 5,
            TensorData::Int16(_) | TensorData::Uint16(_) => 7,
            TensorData::Int32(_) | TensorData::Uint32(_) => 12,
            TensorData::Int64(_) | TensorData::Uint64(_) => 21,
            TensorData::Fp16(_) | TensorData::Fp32(_) => 16,
            TensorData::Fp64(_) => 25,
            TensorData::Bytes(v) => return v.iter().map(|s| s.len() + 8).sum::<usize>() + 128,
        };
        let rows = self.shape.iter().rev().skip(1).product::<usize>().max(1);
        self.data.len() * per_element + rows * 4 + self.name.len() + 128
    }

    /// Writes the tensor as JSON straight into `out`: the same bytes as its `Serialize`
    /// implementation gives through `serde_json`, without the serializer's per-element
    /// machinery.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"name\":");
        write_str(out, &self.name);
        out.extend_from_slice(b",\"shape\":[");
        for (i, d) in self.shape.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(itoa::Buffer::new().format(*d).as_bytes());
        }
        out.extend_from_slice(b"],\"datatype\":\"");
        out.extend_from_slice(self.data.datatype().as_str().as_bytes());
        out.extend_from_slice(b"\",\"data\":");
        let shape = &self.shape;
        let memo = &mut Memo::new();
        match &self.data {
            TensorData::Bool(v) => write_nested(out, memo, shape, v),
            TensorData::Int8(v) => write_nested(out, memo, shape, v),
            TensorData::Int16(v) => write_nested(out, memo, shape, v),
            TensorData::Int32(v) => write_nested(out, memo, shape, v),
            TensorData::Int64(v) => write_nested(out, memo, shape, v),
            TensorData::Uint8(v) => write_nested(out, memo, shape, v),
            TensorData::Uint16(v) => write_nested(out, memo, shape, v),
            TensorData::Uint32(v) => write_nested(out, memo, shape, v),
            TensorData::Uint64(v) => write_nested(out, memo, shape, v),
            TensorData::Fp16(v) | TensorData::Fp32(v) => write_nested(out, memo, shape, v),
            TensorData::Fp64(v) => write_nested(out, memo, shape, v),
            TensorData::Bytes(v) => write_nested(out, memo, shape, v),
        }
        out.push(b'}');
    }
}

/// A shared-memory input reference (TCM §9.7): the server reads `byte_size` bytes of the
/// POSIX region `shm_key` instead of JSON values. Needs the negotiated `shm` capability.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShmReference {
    /// Input tensor name.
    pub name: String,
    /// POSIX shared-memory key, e.g. `/tcm_input0`.
    pub shm_key: String,
    /// Offset into the region; the server only supports 0.
    pub offset: u64,
    /// Bytes of tensor data.
    pub byte_size: u64,
    /// Tensor shape.
    pub shape: Vec<u64>,
    /// Datatype name, e.g. `FP32`.
    pub dtype: String,
}

/// One entry of `request.inputs`.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorInput {
    /// Typed data, sent in the SDK shape.
    Tensor(Tensor),
    /// A shared-memory reference.
    Shm(ShmReference),
    /// Any JSON object, sent verbatim (either input shape, hand-built).
    Raw(Value),
}

impl TensorInput {
    /// Whether this input is a shared-memory reference (explicit, or a raw object carrying the
    /// five SHM keys, which is how the server detects them).
    pub fn is_shm(&self) -> bool {
        match self {
            Self::Shm(_) => true,
            Self::Tensor(_) => false,
            Self::Raw(Value::Object(m)) => m.contains_key("shm_key"),
            Self::Raw(_) => false,
        }
    }
}

impl Serialize for TensorInput {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Tensor(t) => t.serialize(s),
            Self::Shm(r) => r.serialize(s),
            Self::Raw(v) => v.serialize(s),
        }
    }
}

impl From<Tensor> for TensorInput {
    fn from(t: Tensor) -> Self {
        Self::Tensor(t)
    }
}

impl From<ShmReference> for TensorInput {
    fn from(r: ShmReference) -> Self {
        Self::Shm(r)
    }
}

/// Why an output could not be read as the requested type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The reply has no output of that name.
    #[error("no output named '{0}'")]
    Missing(String),
    /// The output is not a (nested) list of the requested element type.
    #[error("output '{name}' is not a list of {expected}")]
    WrongType {
        /// Output name.
        name: String,
        /// Requested element type.
        expected: &'static str,
    },
    /// The nested lists are ragged.
    #[error("output '{0}' is ragged (rows of different lengths)")]
    Ragged(String),
}

/// A flattened numeric output: row-major values and the shape read from the nesting.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputTensor<T> {
    /// The shape, from the nesting of the lists.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub values: Vec<T>,
}

/// Flattens a nested JSON list into values and a shape, converting leaves with `leaf`.
pub fn flatten<T>(
    name: &str,
    value: &Value,
    expected: &'static str,
    leaf: impl Fn(&Value) -> Option<T>,
) -> Result<OutputTensor<T>, OutputError> {
    fn walk<T>(
        v: &Value,
        depth: usize,
        shape: &mut Vec<usize>,
        out: &mut Vec<T>,
        leaf: &dyn Fn(&Value) -> Option<T>,
    ) -> Result<(), bool> {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                } else if shape.get(depth) != Some(&items.len()) {
                    return Err(true);
                }
                for item in items {
                    walk(item, depth + 1, shape, out, leaf)?;
                }
                Ok(())
            }
            scalar => {
                if depth != shape.len() && !shape.is_empty() {
                    return Err(true);
                }
                out.push(leaf(scalar).ok_or(false)?);
                Ok(())
            }
        }
    }
    let mut shape = Vec::new();
    let mut values = Vec::new();
    walk(value, 0, &mut shape, &mut values, &leaf).map_err(|ragged| {
        if ragged {
            OutputError::Ragged(name.to_owned())
        } else {
            OutputError::WrongType {
                name: name.to_owned(),
                expected,
            }
        }
    })?;
    Ok(OutputTensor { shape, values })
}
