//! [`ShmTensor`]: a named tensor written into its own region, and the raw layout of every
//! fixed-size Triton datatype.

use tcm_proto::{DataType, ShmReference, Tensor, TensorData, TensorInput};

use crate::error::ShmError;
use crate::pool::{Lease, RegionPool};
use crate::region::ShmRegion;

/// The size in bytes of a tensor of `shape` and `dtype` (shape × element size), checked for
/// overflow. `BYTES` has no fixed size and is refused.
pub fn byte_size(name: &str, shape: &[u64], dtype: DataType) -> Result<u64, ShmError> {
    let element = dtype
        .element_size()
        .ok_or_else(|| ShmError::BytesUnsupported {
            name: name.to_owned(),
        })?;
    element_count(name, shape, dtype)?
        .checked_mul(element as u64)
        .ok_or_else(|| overflow(name, shape, dtype))
}

fn element_count(name: &str, shape: &[u64], dtype: DataType) -> Result<u64, ShmError> {
    shape
        .iter()
        .try_fold(1u64, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| overflow(name, shape, dtype))
}

fn overflow(name: &str, shape: &[u64], dtype: DataType) -> ShmError {
    ShmError::Overflow {
        name: name.to_owned(),
        shape: shape.to_vec(),
        dtype,
    }
}

fn shape_u64(shape: &[usize]) -> Vec<u64> {
    shape.iter().map(|d| *d as u64).collect()
}

/// Checks a reference before sending it: a valid key, a known fixed-size datatype, offset 0,
/// and `byte_size` equal to shape × element size (and not zero).
///
/// Use it on references built by hand; those made by [`ShmTensor`] always pass.
pub fn validate_reference(reference: &ShmReference) -> Result<(), ShmError> {
    let name = reference.name.as_str();
    if name.is_empty() {
        return Err(ShmError::EmptyName);
    }
    crate::key::validate_key(&reference.shm_key)?;
    let dtype = DataType::parse(&reference.dtype).ok_or_else(|| ShmError::UnknownDatatype {
        name: name.to_owned(),
        dtype: reference.dtype.clone(),
    })?;
    if reference.offset != 0 {
        return Err(ShmError::NonZeroOffset {
            name: name.to_owned(),
            offset: reference.offset,
        });
    }
    let expected = byte_size(name, &reference.shape, dtype)?;
    if expected != reference.byte_size {
        return Err(ShmError::ByteSizeMismatch {
            name: name.to_owned(),
            shape: reference.shape.clone(),
            dtype,
            expected,
            actual: reference.byte_size,
        });
    }
    if expected == 0 {
        return Err(ShmError::Empty {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// A value with a fixed little-endian layout of `N` bytes, for the typed slice API.
pub trait Element: Copy + sealed::Sealed {
    /// The Triton datatype this value is written as.
    const DATATYPE: DataType;
}

mod sealed {
    pub trait Sealed {
        fn write_le(values: &[Self], out: &mut [u8])
        where
            Self: Sized;
    }
}

/// Copies `values` into `out` (exactly `size_of_val(values)` bytes) as they are in memory,
/// which on a little-endian target is their little-endian layout: one `memcpy`.
#[cfg(target_endian = "little")]
fn write_native<T: Copy>(values: &[T], out: &mut [u8]) {
    // SAFETY: only called for the integer and float types and `bool` (see `element!`), which
    // have no padding and whose every byte is initialised, so their memory may be read as
    // `size_of_val(values)` bytes; the pointer and length come from one live slice.
    let bytes = unsafe {
        std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), std::mem::size_of_val(values))
    };
    out.copy_from_slice(bytes);
}

/// Writes `values` into `out` (exactly `values.len() * N` bytes) with `encode`.
fn write_with<T: Copy, const N: usize>(
    values: &[T],
    out: &mut [u8],
    encode: impl Fn(T) -> [u8; N],
) {
    for (chunk, value) in out.chunks_exact_mut(N).zip(values) {
        chunk.copy_from_slice(&encode(*value));
    }
}

macro_rules! element {
    ($($t:ty => $dtype:ident),* $(,)?) => {$(
        impl sealed::Sealed for $t {
            fn write_le(values: &[Self], out: &mut [u8]) {
                #[cfg(target_endian = "little")]
                write_native(values, out);
                #[cfg(not(target_endian = "little"))]
                write_with(values, out, <$t>::to_le_bytes);
            }
        }
        impl Element for $t {
            const DATATYPE: DataType = DataType::$dtype;
        }
    )*};
}

element! {
    i8 => Int8, i16 => Int16, i32 => Int32, i64 => Int64,
    u8 => Uint8, u16 => Uint16, u32 => Uint32, u64 => Uint64,
    f32 => Fp32, f64 => Fp64,
}

impl sealed::Sealed for bool {
    fn write_le(values: &[Self], out: &mut [u8]) {
        // A `bool` is one byte holding 0 or 1 on every target: its memory is its layout.
        #[cfg(target_endian = "little")]
        write_native(values, out);
        #[cfg(not(target_endian = "little"))]
        write_with(values, out, |b| [u8::from(b)]);
    }
}

impl Element for bool {
    const DATATYPE: DataType = DataType::Bool;
}

/// The IEEE 754 half-precision bits nearest to `value` (round to nearest, ties to even;
/// overflow gives infinity, NaN stays NaN).
pub fn f32_to_f16_bits(value: f32) -> u16 {
    let bits = value.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let man = bits & 0x007f_ffff;
    if exp == 0xff {
        // Infinity, or NaN with a quiet bit so the payload never becomes zero.
        let nan = if man == 0 {
            0
        } else {
            0x0200 | (man >> 13) as u16
        };
        return sign | 0x7c00 | nan;
    }
    // The exponent rebased for half precision.
    let half_exp = exp - 127 + 15;
    if half_exp >= 0x1f {
        return sign | 0x7c00;
    }
    if half_exp <= 0 {
        // Subnormal half (or zero): shift the full significand into place, rounding.
        if half_exp < -10 {
            return sign;
        }
        let full = man | 0x0080_0000;
        let shift = (14 - half_exp) as u32;
        let half_man = full >> shift;
        let rest = full & ((1 << shift) - 1);
        let halfway = 1 << (shift - 1);
        let round_up = rest > halfway || (rest == halfway && half_man & 1 == 1);
        return sign | (half_man + u32::from(round_up)) as u16;
    }
    let half = ((half_exp as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    let round_up = rest > 0x1000 || (rest == 0x1000 && half & 1 == 1);
    // A carry out of the significand correctly bumps the exponent (up to infinity).
    sign | (half + u32::from(round_up)) as u16
}

/// Where a tensor's bytes live: a region of its own, or one leased from a [`RegionPool`].
///
/// Dropping it unlinks an owned region and returns a leased one to its pool; keep it until the
/// reply to every request that references it has arrived.
#[derive(Debug)]
pub enum RegionGuard {
    /// A region of its own, unlinked on drop.
    Owned(ShmRegion),
    /// A region leased from a pool, returned on drop.
    Leased(Lease),
}

impl RegionGuard {
    /// The region's key.
    pub fn key(&self) -> &str {
        self.region().key()
    }

    /// The region (for a leased one, the whole region, which may be larger than the tensor).
    pub fn region(&self) -> &ShmRegion {
        match self {
            Self::Owned(region) => region,
            Self::Leased(lease) => lease.region(),
        }
    }

    /// Gives the region up for good: an owned region is unlinked, a leased one retired (unlinked,
    /// its key never lent again). For a region the server may still read after the call that
    /// sent it has ended without its reply.
    pub fn retire(self) {
        match self {
            Self::Owned(region) => drop(region),
            Self::Leased(lease) => lease.retire(),
        }
    }
}

/// Where [`ShmTensor::create`] gets its region.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Source<'a> {
    /// A new region under a fresh key, unlinked with the tensor.
    Own,
    /// A lease from a pool, returned with the tensor.
    Pool(&'a RegionPool),
}

impl Source<'_> {
    fn region(self, len: usize) -> Result<RegionGuard, ShmError> {
        Ok(match self {
            Self::Own => RegionGuard::Owned(ShmRegion::create_unique(len)?),
            Self::Pool(pool) => RegionGuard::Leased(pool.lease(len)?),
        })
    }
}

/// A named tensor in shared memory, written row-major and little-endian: in a region of its
/// own (the `from_*` and [`write`](Self::write) constructors) or in one leased from a
/// [`RegionPool`] (the `*_in` constructors).
///
/// It owns its region: dropping it unlinks an owned region and returns a leased one to its
/// pool. Send [`reference`](Self::reference) (or [`as_input`](Self::as_input)) in a request and
/// keep the tensor alive until the reply has arrived, e.g. by moving it into an
/// [`ShmInputs`](crate::ShmInputs).
#[derive(Debug)]
pub struct ShmTensor {
    name: String,
    shape: Vec<u64>,
    dtype: DataType,
    byte_size: u64,
    region: RegionGuard,
}

impl ShmTensor {
    /// Checks the layout, takes a region from `source` and lets `fill` write the bytes.
    fn create(
        source: Source<'_>,
        name: &str,
        shape: &[usize],
        dtype: DataType,
        elements: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<Self, ShmError> {
        if name.is_empty() {
            return Err(ShmError::EmptyName);
        }
        let shape = shape_u64(shape);
        let bytes = byte_size(name, &shape, dtype)?;
        let expected = element_count(name, &shape, dtype)?;
        if expected != elements as u64 {
            return Err(ShmError::ShapeMismatch {
                name: name.to_owned(),
                shape,
                expected,
                actual: elements as u64,
            });
        }
        if bytes == 0 {
            return Err(ShmError::Empty {
                name: name.to_owned(),
            });
        }
        let len = usize::try_from(bytes).map_err(|_| overflow(name, &shape, dtype))?;
        let mut region = source.region(len)?;
        match &mut region {
            RegionGuard::Owned(region) => fill(region.as_mut_slice()),
            RegionGuard::Leased(lease) => fill(lease.as_mut_slice()),
        }
        Ok(Self {
            name: name.to_owned(),
            shape,
            dtype,
            byte_size: bytes,
            region,
        })
    }

    /// Writes typed values: the datatype follows from `T` (`f32` → FP32, `bool` → BOOL, ...).
    pub fn from_slice<T: Element>(
        name: &str,
        shape: &[usize],
        values: &[T],
    ) -> Result<Self, ShmError> {
        Self::slice_from(Source::Own, name, shape, values)
    }

    /// [`from_slice`](Self::from_slice) into a region leased from `pool`: on a little-endian
    /// target, one copy of the values' bytes into a region that is already mapped.
    pub fn from_slice_in<T: Element>(
        pool: &RegionPool,
        name: &str,
        shape: &[usize],
        values: &[T],
    ) -> Result<Self, ShmError> {
        Self::slice_from(Source::Pool(pool), name, shape, values)
    }

    fn slice_from<T: Element>(
        source: Source<'_>,
        name: &str,
        shape: &[usize],
        values: &[T],
    ) -> Result<Self, ShmError> {
        Self::create(source, name, shape, T::DATATYPE, values.len(), |out| {
            T::write_le(values, out)
        })
    }

    /// Writes FP32 values.
    pub fn from_f32(name: &str, shape: &[usize], values: &[f32]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes FP64 values.
    pub fn from_f64(name: &str, shape: &[usize], values: &[f64]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes FP16 values given as their IEEE 754 half-precision bits.
    pub fn from_f16_bits(name: &str, shape: &[usize], bits: &[u16]) -> Result<Self, ShmError> {
        Self::create(
            Source::Own,
            name,
            shape,
            DataType::Fp16,
            bits.len(),
            |out| write_with(bits, out, u16::to_le_bytes),
        )
    }

    /// Writes `f32` values as FP16, rounding each to the nearest half-precision value.
    pub fn from_f32_as_f16(name: &str, shape: &[usize], values: &[f32]) -> Result<Self, ShmError> {
        Self::f16_from(Source::Own, name, shape, values)
    }

    fn f16_from(
        source: Source<'_>,
        name: &str,
        shape: &[usize],
        values: &[f32],
    ) -> Result<Self, ShmError> {
        Self::create(source, name, shape, DataType::Fp16, values.len(), |out| {
            write_with(values, out, |v| f32_to_f16_bits(v).to_le_bytes())
        })
    }

    /// Writes INT8 values.
    pub fn from_i8(name: &str, shape: &[usize], values: &[i8]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes INT16 values.
    pub fn from_i16(name: &str, shape: &[usize], values: &[i16]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes INT32 values.
    pub fn from_i32(name: &str, shape: &[usize], values: &[i32]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes INT64 values.
    pub fn from_i64(name: &str, shape: &[usize], values: &[i64]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes UINT8 values.
    pub fn from_u8(name: &str, shape: &[usize], values: &[u8]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes UINT16 values.
    pub fn from_u16(name: &str, shape: &[usize], values: &[u16]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes UINT32 values.
    pub fn from_u32(name: &str, shape: &[usize], values: &[u32]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes UINT64 values.
    pub fn from_u64(name: &str, shape: &[usize], values: &[u64]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Writes BOOL values, one byte each (0 or 1).
    pub fn from_bool(name: &str, shape: &[usize], values: &[bool]) -> Result<Self, ShmError> {
        Self::from_slice(name, shape, values)
    }

    /// Copies bytes already in the raw layout of `dtype` (row-major, little-endian); their
    /// length must be shape × element size.
    pub fn from_le_bytes(
        name: &str,
        shape: &[usize],
        dtype: DataType,
        bytes: &[u8],
    ) -> Result<Self, ShmError> {
        if name.is_empty() {
            return Err(ShmError::EmptyName);
        }
        let shape64 = shape_u64(shape);
        let expected = byte_size(name, &shape64, dtype)?;
        if expected != bytes.len() as u64 {
            return Err(ShmError::ByteSizeMismatch {
                name: name.to_owned(),
                shape: shape64,
                dtype,
                expected,
                actual: bytes.len() as u64,
            });
        }
        let element = dtype.element_size().unwrap_or(1);
        Self::create(
            Source::Own,
            name,
            shape,
            dtype,
            bytes.len() / element,
            |out| out.copy_from_slice(bytes),
        )
    }

    /// Writes [`TensorData`] of any fixed-size datatype. `TensorData::Fp16` holds `f32` values,
    /// which are rounded to half precision; `BYTES` is refused.
    pub fn write(name: &str, shape: &[usize], data: &TensorData) -> Result<Self, ShmError> {
        Self::write_from(Source::Own, name, shape, data)
    }

    /// [`write`](Self::write) into a region leased from `pool`.
    pub fn write_in(
        pool: &RegionPool,
        name: &str,
        shape: &[usize],
        data: &TensorData,
    ) -> Result<Self, ShmError> {
        Self::write_from(Source::Pool(pool), name, shape, data)
    }

    pub(crate) fn write_from(
        source: Source<'_>,
        name: &str,
        shape: &[usize],
        data: &TensorData,
    ) -> Result<Self, ShmError> {
        match data {
            TensorData::Bool(v) => Self::slice_from(source, name, shape, v),
            TensorData::Int8(v) => Self::slice_from(source, name, shape, v),
            TensorData::Int16(v) => Self::slice_from(source, name, shape, v),
            TensorData::Int32(v) => Self::slice_from(source, name, shape, v),
            TensorData::Int64(v) => Self::slice_from(source, name, shape, v),
            TensorData::Uint8(v) => Self::slice_from(source, name, shape, v),
            TensorData::Uint16(v) => Self::slice_from(source, name, shape, v),
            TensorData::Uint32(v) => Self::slice_from(source, name, shape, v),
            TensorData::Uint64(v) => Self::slice_from(source, name, shape, v),
            TensorData::Fp16(v) => Self::f16_from(source, name, shape, v),
            TensorData::Fp32(v) => Self::slice_from(source, name, shape, v),
            TensorData::Fp64(v) => Self::slice_from(source, name, shape, v),
            TensorData::Bytes(_) => Err(ShmError::BytesUnsupported {
                name: name.to_owned(),
            }),
        }
    }

    /// Writes a [`Tensor`] under its own name and shape.
    pub fn from_tensor(tensor: &Tensor) -> Result<Self, ShmError> {
        Self::write(tensor.name(), tensor.shape(), tensor.data())
    }

    /// [`from_tensor`](Self::from_tensor) into a region leased from `pool`.
    pub fn from_tensor_in(pool: &RegionPool, tensor: &Tensor) -> Result<Self, ShmError> {
        Self::write_in(pool, tensor.name(), tensor.shape(), tensor.data())
    }

    /// The input name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shape.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// The datatype.
    pub fn dtype(&self) -> DataType {
        self.dtype
    }

    /// The region key.
    pub fn key(&self) -> &str {
        self.region.key()
    }

    /// The tensor's size in bytes: shape × element size, the `byte_size` sent. A leased
    /// region may be larger.
    pub fn byte_size(&self) -> u64 {
        self.byte_size
    }

    /// The region holding the bytes (its first [`byte_size`](Self::byte_size) bytes).
    pub fn region(&self) -> &ShmRegion {
        self.region.region()
    }

    /// Whether the region is leased from a pool (and returns to it on drop).
    pub fn is_leased(&self) -> bool {
        matches!(self.region, RegionGuard::Leased(_))
    }

    /// The reference to send: `{name, shm_key, offset: 0, byte_size, shape, dtype}`.
    pub fn reference(&self) -> ShmReference {
        ShmReference {
            name: self.name.clone(),
            shm_key: self.region.key().to_owned(),
            offset: 0,
            byte_size: self.byte_size,
            shape: self.shape.clone(),
            dtype: self.dtype.as_str().to_owned(),
        }
    }

    /// The reference as a request input. The tensor must outlive the request.
    pub fn as_input(&self) -> TensorInput {
        TensorInput::Shm(self.reference())
    }

    /// Splits into the request input and the region, which must be kept until the reply.
    #[must_use = "dropping the region unlinks (or returns) it before the server can read it"]
    pub fn into_input(self) -> (TensorInput, RegionGuard) {
        (self.as_input(), self.region)
    }

    /// Gives the region up for good (see [`RegionGuard::retire`]).
    pub fn retire(self) {
        self.region.retire();
    }
}
