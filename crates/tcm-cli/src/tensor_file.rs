//! Tensor values from binary files: NumPy `.npy` files (shape and datatype from the file's
//! header) and raw little-endian bytes (shape and datatype given by the user).
//!
//! A file is read as `.npy` when it starts with NumPy's magic string, whatever its name.

use std::path::Path;

use tcm_proto::{DataType, Tensor, TensorData};

use crate::failure::Failure;

const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// What the user said about a tensor read from a file: nothing (`NAME=@FILE`, `.npy` only), or
/// a shape and datatype (`NAME:SHAPE:DTYPE=@FILE`), which a `.npy` file must agree with.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    /// The shape.
    pub shape: Vec<usize>,
    /// The datatype.
    pub dtype: DataType,
}

/// Reads the tensor `name` from `path`.
pub fn read(name: &str, path: &Path, declared: Option<&Declared>) -> Result<Tensor, Failure> {
    let shown = path.display();
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Usage(format!("cannot read tensor file {shown}: {e}")))?;
    let bad = |why: String| Failure::Usage(format!("{shown}: {why}"));
    let (shape, data) = if bytes.starts_with(NPY_MAGIC) {
        let (shape, data) = npy(&bytes).map_err(bad)?;
        match declared {
            None => (shape, data),
            Some(d) if d.dtype != data.datatype() => {
                return Err(bad(format!(
                    "the file holds {} values, not {}",
                    data.datatype().as_str(),
                    d.dtype.as_str()
                )));
            }
            // A declared shape may reshape the file's values (same element count).
            Some(d) => (d.shape.clone(), data),
        }
    } else {
        let Some(d) = declared else {
            return Err(bad(
                "not a .npy file; for raw little-endian bytes give the shape and datatype: NAME:SHAPE:DTYPE=@FILE".into(),
            ));
        };
        (d.shape.clone(), raw(&bytes, d).map_err(bad)?)
    };
    Tensor::new(name, shape, data).map_err(|e| bad(e.to_string()))
}

/// Decodes a `.npy` file: C-ordered, one of Triton's fixed-size datatypes.
fn npy(bytes: &[u8]) -> Result<(Vec<usize>, TensorData), String> {
    let file = npyz::NpyFile::new(bytes).map_err(|e| format!("invalid .npy file: {e}"))?;
    if file.order() != npyz::Order::C {
        return Err("Fortran-ordered .npy files are not supported; save with order='C'".into());
    }
    let shape = file
        .shape()
        .iter()
        .map(|d| usize::try_from(*d).map_err(|_| "shape too large".to_owned()))
        .collect::<Result<Vec<_>, _>>()?;
    let npyz::DType::Plain(ty) = file.dtype() else {
        return Err("structured .npy arrays are not supported".into());
    };
    let code = ty.to_string();
    // The type string is an endianness character then a kind and a size, e.g. `<f4`.
    let kind = code.get(1..).unwrap_or_default();
    let read = |e: std::io::Error| format!("invalid .npy data: {e}");
    let data = match kind {
        "b1" => TensorData::Bool(file.into_vec().map_err(read)?),
        "i1" => TensorData::Int8(file.into_vec().map_err(read)?),
        "i2" => TensorData::Int16(file.into_vec().map_err(read)?),
        "i4" => TensorData::Int32(file.into_vec().map_err(read)?),
        "i8" => TensorData::Int64(file.into_vec().map_err(read)?),
        "u1" => TensorData::Uint8(file.into_vec().map_err(read)?),
        "u2" => TensorData::Uint16(file.into_vec().map_err(read)?),
        "u4" => TensorData::Uint32(file.into_vec().map_err(read)?),
        "u8" => TensorData::Uint64(file.into_vec().map_err(read)?),
        "f4" => TensorData::Fp32(file.into_vec().map_err(read)?),
        "f8" => TensorData::Fp64(file.into_vec().map_err(read)?),
        _ => {
            return Err(format!(
                "NumPy type '{code}' has no Triton datatype here (bool, int8..64, uint8..64, float32, float64)"
            ));
        }
    };
    Ok((shape, data))
}

/// Decodes raw little-endian values of the declared shape and datatype.
fn raw(bytes: &[u8], d: &Declared) -> Result<TensorData, String> {
    let count = tcm_proto::tensor::element_count(&d.shape).ok_or("shape overflows")?;
    let size = d
        .dtype
        .element_size()
        .ok_or("BYTES tensors cannot be read from raw files")?;
    let expected = count.checked_mul(size).ok_or("shape overflows")?;
    if bytes.len() != expected {
        return Err(format!(
            "{} bytes, but {count} {} values take {expected}",
            bytes.len(),
            d.dtype.as_str()
        ));
    }
    macro_rules! le {
        ($variant:ident, $t:ty) => {
            TensorData::$variant(
                bytes
                    .chunks_exact(size_of::<$t>())
                    .map(|c| <$t>::from_le_bytes(c.try_into().unwrap_or_default()))
                    .collect(),
            )
        };
    }
    Ok(match d.dtype {
        DataType::Bool => TensorData::Bool(
            bytes
                .iter()
                .map(|b| match b {
                    0 => Ok(false),
                    1 => Ok(true),
                    other => Err(format!("BOOL bytes are 0 or 1, found {other}")),
                })
                .collect::<Result<_, _>>()?,
        ),
        DataType::Int8 => TensorData::Int8(bytes.iter().map(|b| *b as i8).collect()),
        DataType::Uint8 => TensorData::Uint8(bytes.to_vec()),
        DataType::Int16 => le!(Int16, i16),
        DataType::Int32 => le!(Int32, i32),
        DataType::Int64 => le!(Int64, i64),
        DataType::Uint16 => le!(Uint16, u16),
        DataType::Uint32 => le!(Uint32, u32),
        DataType::Uint64 => le!(Uint64, u64),
        DataType::Fp32 => le!(Fp32, f32),
        DataType::Fp64 => le!(Fp64, f64),
        DataType::Fp16 => TensorData::Fp16(
            bytes
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
        ),
        DataType::Bytes => return Err("BYTES tensors cannot be read from raw files".into()),
    })
}

/// Widens an IEEE 754 half-precision value.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 if frac == 0.0 => f32::INFINITY,
        31 => f32::NAN,
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("tcm-tensor-file-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn npy_bytes(shape: &[u64], values: &[f32]) -> Vec<u8> {
        let mut out = Vec::new();
        use npyz::WriterBuilder;
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(shape)
            .writer(&mut out)
            .begin_nd()
            .unwrap();
        w.extend(values.iter().copied()).unwrap();
        w.finish().unwrap();
        out
    }

    #[test]
    fn npy_files_carry_their_shape_and_datatype() {
        let p = temp("a.npy", &npy_bytes(&[2, 2], &[1.0, 2.0, 3.0, 4.0]));
        let t = read("X", &p, None).unwrap();
        assert_eq!(t.shape(), [2, 2]);
        assert_eq!(t.data(), &TensorData::Fp32(vec![1.0, 2.0, 3.0, 4.0]));
        let reshaped = Declared {
            shape: vec![4],
            dtype: DataType::Fp32,
        };
        assert_eq!(read("X", &p, Some(&reshaped)).unwrap().shape(), [4]);
        let wrong = Declared {
            shape: vec![4],
            dtype: DataType::Int32,
        };
        assert!(matches!(
            read("X", &p, Some(&wrong)),
            Err(Failure::Usage(_))
        ));
        let bad_count = Declared {
            shape: vec![5],
            dtype: DataType::Fp32,
        };
        assert!(matches!(
            read("X", &p, Some(&bad_count)),
            Err(Failure::Usage(_))
        ));
    }

    #[test]
    fn raw_files_are_little_endian_values_of_the_declared_type() {
        let bytes: Vec<u8> = [1i32, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect();
        let p = temp("r.bin", &bytes);
        let d = Declared {
            shape: vec![3],
            dtype: DataType::Int32,
        };
        assert_eq!(
            read("X", &p, Some(&d)).unwrap().data(),
            &TensorData::Int32(vec![1, -2, 3])
        );
        let short = Declared {
            shape: vec![4],
            dtype: DataType::Int32,
        };
        let e = read("X", &p, Some(&short)).unwrap_err();
        assert!(e.to_string().contains("12 bytes"), "{e}");
        assert!(matches!(read("X", &p, None), Err(Failure::Usage(_))));
        let half = temp("h.bin", &[0x00, 0x3c, 0x00, 0xc0]);
        let d = Declared {
            shape: vec![2],
            dtype: DataType::Fp16,
        };
        assert_eq!(
            read("X", &half, Some(&d)).unwrap().data(),
            &TensorData::Fp16(vec![1.0, -2.0])
        );
    }

    #[test]
    fn missing_and_corrupt_files_are_usage_errors() {
        let missing = std::path::Path::new("/nonexistent/x.npy");
        assert!(matches!(read("X", missing, None), Err(Failure::Usage(_))));
        let mut cut = npy_bytes(&[4], &[1.0, 2.0, 3.0, 4.0]);
        cut.truncate(cut.len() - 3);
        let p = temp("cut.npy", &cut);
        assert!(matches!(read("X", &p, None), Err(Failure::Usage(_))));
        let p = temp("hdr.npy", b"\x93NUMPY\x01\x00garbage");
        assert!(matches!(read("X", &p, None), Err(Failure::Usage(_))));
    }
}
