//! Specification of the region layout, its lifetime and the validation rules, checked against
//! what another process sees in `/dev/shm`.

use std::path::PathBuf;

use tcm_proto::{DataType, ShmReference, Tensor, TensorData, TensorInput};
use tcm_shm::{
    KeyError, MAX_KEY_LEN, ShmError, ShmRegion, ShmTensor, f32_to_f16_bits, generate_key,
    validate_key, validate_reference,
};

/// Where the server looks for a key: `/dev/shm/<key without its leading slash>`.
fn path_of(key: &str) -> PathBuf {
    PathBuf::from("/dev/shm").join(key.trim_start_matches('/'))
}

/// The region's bytes as another process reads them.
fn read_back(tensor: &ShmTensor) -> Vec<u8> {
    std::fs::read(path_of(tensor.key())).expect("the region is readable through /dev/shm")
}

fn le<T, const N: usize>(values: &[T], f: impl Fn(&T) -> [u8; N]) -> Vec<u8> {
    values.iter().flat_map(f).collect()
}

fn chunks<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    bytes
        .chunks_exact(N)
        .map(|c| c.try_into().expect("chunk of N bytes"))
}

/// Checks the reference a tensor yields against the expected metadata.
fn assert_reference(tensor: &ShmTensor, name: &str, shape: &[u64], dtype: &str, bytes: u64) {
    let r = tensor.reference();
    assert_eq!(r.name, name);
    assert_eq!(r.shm_key, tensor.key());
    assert_eq!(r.offset, 0);
    assert_eq!(r.byte_size, bytes);
    assert_eq!(r.shape, shape);
    assert_eq!(r.dtype, dtype);
    validate_reference(&r).expect("references made by ShmTensor are valid");
}

#[test]
fn fp32_values_are_written_row_major_little_endian_and_read_back() {
    let values = [1.5f32, -2.25, 0.1, f32::MAX, f32::MIN_POSITIVE, -0.0];
    let t = ShmTensor::from_f32("INPUT0", &[2, 3], &values).unwrap();
    let bytes = read_back(&t);
    assert_eq!(bytes, le(&values, |v| v.to_le_bytes()));
    let back: Vec<f32> = chunks(&bytes).map(f32::from_le_bytes).collect();
    assert_eq!(
        back.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        values.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    assert_reference(&t, "INPUT0", &[2, 3], "FP32", 24);
}

#[test]
fn fp64_values_round_trip() {
    let values = [std::f64::consts::PI, -1e300, 0.0, 42.0];
    let t = ShmTensor::from_f64("x", &[4], &values).unwrap();
    let back: Vec<f64> = chunks(&read_back(&t)).map(f64::from_le_bytes).collect();
    assert_eq!(back, values);
    assert_reference(&t, "x", &[4], "FP64", 32);
}

#[test]
fn fp16_is_written_as_raw_half_precision_bits() {
    // 1.0, -2.0, 65504 (max), smallest subnormal, +inf.
    let bits = [0x3c00u16, 0xc000, 0x7bff, 0x0001, 0x7c00];
    let t = ShmTensor::from_f16_bits("h", &[5], &bits).unwrap();
    let back: Vec<u16> = chunks(&read_back(&t)).map(u16::from_le_bytes).collect();
    assert_eq!(back, bits);
    assert_reference(&t, "h", &[5], "FP16", 10);
}

#[test]
fn fp16_tensor_data_is_rounded_from_f32() {
    let data = TensorData::Fp16(vec![1.0, -2.0, 0.5, 65504.0, 1e9]);
    let t = ShmTensor::write("h", &[5], &data).unwrap();
    let back: Vec<u16> = chunks(&read_back(&t)).map(u16::from_le_bytes).collect();
    assert_eq!(back, [0x3c00, 0xc000, 0x3800, 0x7bff, 0x7c00]);
    assert_eq!(t.dtype(), DataType::Fp16);
}

#[test]
fn signed_integers_round_trip() {
    let i8s = [i8::MIN, -1, 0, i8::MAX];
    let t = ShmTensor::from_i8("a", &[4], &i8s).unwrap();
    assert_eq!(read_back(&t), le(&i8s, |v| v.to_le_bytes()));
    assert_reference(&t, "a", &[4], "INT8", 4);

    let i16s = [i16::MIN, -300, 300, i16::MAX];
    let t = ShmTensor::from_i16("a", &[2, 2], &i16s).unwrap();
    let back: Vec<i16> = chunks(&read_back(&t)).map(i16::from_le_bytes).collect();
    assert_eq!(back, i16s);
    assert_reference(&t, "a", &[2, 2], "INT16", 8);

    let i32s = [i32::MIN, -70_000, 70_000, i32::MAX];
    let t = ShmTensor::from_i32("a", &[4, 1], &i32s).unwrap();
    let back: Vec<i32> = chunks(&read_back(&t)).map(i32::from_le_bytes).collect();
    assert_eq!(back, i32s);
    assert_reference(&t, "a", &[4, 1], "INT32", 16);

    let i64s = [i64::MIN, -1, 1 << 40, i64::MAX];
    let t = ShmTensor::from_i64("a", &[1, 4], &i64s).unwrap();
    let back: Vec<i64> = chunks(&read_back(&t)).map(i64::from_le_bytes).collect();
    assert_eq!(back, i64s);
    assert_reference(&t, "a", &[1, 4], "INT64", 32);
}

#[test]
fn unsigned_integers_round_trip() {
    let u8s = [0u8, 1, 200, u8::MAX];
    let t = ShmTensor::from_u8("b", &[4], &u8s).unwrap();
    assert_eq!(read_back(&t), u8s);
    assert_reference(&t, "b", &[4], "UINT8", 4);

    let u16s = [0u16, 1, 60_000, u16::MAX];
    let t = ShmTensor::from_u16("b", &[4], &u16s).unwrap();
    let back: Vec<u16> = chunks(&read_back(&t)).map(u16::from_le_bytes).collect();
    assert_eq!(back, u16s);
    assert_reference(&t, "b", &[4], "UINT16", 8);

    let u32s = [0u32, 1, 4_000_000_000, u32::MAX];
    let t = ShmTensor::from_u32("b", &[4], &u32s).unwrap();
    let back: Vec<u32> = chunks(&read_back(&t)).map(u32::from_le_bytes).collect();
    assert_eq!(back, u32s);
    assert_reference(&t, "b", &[4], "UINT32", 16);

    let u64s = [0u64, 1, 1 << 63, u64::MAX];
    let t = ShmTensor::from_u64("b", &[4], &u64s).unwrap();
    let back: Vec<u64> = chunks(&read_back(&t)).map(u64::from_le_bytes).collect();
    assert_eq!(back, u64s);
    assert_reference(&t, "b", &[4], "UINT64", 32);
}

#[test]
fn bool_is_one_byte_per_value() {
    let t = ShmTensor::from_bool("m", &[3], &[true, false, true]).unwrap();
    assert_eq!(read_back(&t), [1, 0, 1]);
    assert_reference(&t, "m", &[3], "BOOL", 3);
}

#[test]
fn every_fixed_size_tensor_data_variant_is_written_like_its_typed_slice() {
    let cases: Vec<(TensorData, Vec<u8>)> = vec![
        (TensorData::Bool(vec![true, false]), vec![1, 0]),
        (
            TensorData::Int8(vec![-1, 2]),
            le(&[-1i8, 2], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Int16(vec![-1, 2]),
            le(&[-1i16, 2], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Int32(vec![-1, 2]),
            le(&[-1i32, 2], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Int64(vec![-1, 2]),
            le(&[-1i64, 2], |v| v.to_le_bytes()),
        ),
        (TensorData::Uint8(vec![1, 2]), vec![1, 2]),
        (
            TensorData::Uint16(vec![1, 2]),
            le(&[1u16, 2], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Uint32(vec![1, 2]),
            le(&[1u32, 2], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Uint64(vec![1, 2]),
            le(&[1u64, 2], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Fp16(vec![1.0, 2.0]),
            le(&[0x3c00u16, 0x4000], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Fp32(vec![1.0, 2.0]),
            le(&[1.0f32, 2.0], |v| v.to_le_bytes()),
        ),
        (
            TensorData::Fp64(vec![1.0, 2.0]),
            le(&[1.0f64, 2.0], |v| v.to_le_bytes()),
        ),
    ];
    assert_eq!(cases.len(), DataType::ALL.len() - 1, "all but BYTES");
    for (data, expected) in cases {
        let dtype = data.datatype();
        let t = ShmTensor::write("v", &[2], &data).unwrap();
        assert_eq!(read_back(&t), expected, "{dtype:?}");
        assert_eq!(t.dtype(), dtype);
        assert_reference(&t, "v", &[2], dtype.as_str(), expected.len() as u64);
        let from_tensor = ShmTensor::from_tensor(&Tensor::vector("v", data)).unwrap();
        assert_eq!(read_back(&from_tensor), expected, "{dtype:?} via Tensor");
    }
}

#[test]
fn raw_little_endian_bytes_are_copied_verbatim() {
    let bytes = le(&[7i32, -7], |v| v.to_le_bytes());
    let t = ShmTensor::from_le_bytes("r", &[2], DataType::Int32, &bytes).unwrap();
    assert_eq!(read_back(&t), bytes);
    assert_reference(&t, "r", &[2], "INT32", 8);
}

#[test]
fn the_input_is_the_reference() {
    let t = ShmTensor::from_f32("INPUT0", &[1], &[1.0]).unwrap();
    assert_eq!(t.as_input(), TensorInput::Shm(t.reference()));
    let reference = t.reference();
    let (input, region) = t.into_input();
    assert_eq!(input, TensorInput::Shm(reference.clone()));
    assert_eq!(region.key(), reference.shm_key);
    assert!(
        path_of(region.key()).exists(),
        "the region outlives the tensor"
    );
}

#[test]
fn the_region_is_unlinked_when_its_owner_drops() {
    let t = ShmTensor::from_f32("INPUT0", &[2], &[1.0, 2.0]).unwrap();
    let path = path_of(t.key());
    assert!(path.exists());
    drop(t);
    assert!(!path.exists(), "{} still exists after drop", path.display());

    let t = ShmTensor::from_i32("INPUT0", &[1], &[3]).unwrap();
    let (_input, region) = t.into_input();
    let path = path_of(region.key());
    assert!(path.exists());
    drop(region);
    assert!(!path.exists());
}

#[test]
fn a_region_with_an_explicit_key_is_created_once_and_removed_on_drop() {
    let key = generate_key();
    let mut region = ShmRegion::create(&key, 16).unwrap();
    assert_eq!(region.key(), key);
    assert_eq!(region.len(), 16);
    assert_eq!(region.as_slice(), [0; 16], "a new region is zero-filled");
    region.as_mut_slice()[0] = 0xab;
    assert_eq!(std::fs::read(path_of(&key)).unwrap()[0], 0xab);

    let again = ShmRegion::create(&key, 16).unwrap_err();
    assert!(
        matches!(&again, ShmError::Io { op: "shm_open", source, .. } if source.kind() == std::io::ErrorKind::AlreadyExists),
        "{again:?}"
    );
    assert!(
        path_of(&key).exists(),
        "a failed create leaves the owner's region alone"
    );

    drop(region);
    assert!(!path_of(&key).exists());
}

#[test]
fn generated_keys_are_valid_and_distinct() {
    let pid = std::process::id();
    let keys: Vec<String> = (0..100).map(|_| generate_key()).collect();
    for key in &keys {
        validate_key(key).unwrap();
        assert!(key.starts_with(&format!("/tcm-{pid}-")), "{key}");
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len());
}

#[test]
fn keys_breaking_the_naming_rules_are_refused() {
    let long = format!("/{}", "k".repeat(MAX_KEY_LEN));
    let longest = format!("/{}", "k".repeat(MAX_KEY_LEN - 1));
    let cases: [(&str, KeyError); 10] = [
        ("tcm", KeyError::MissingLeadingSlash),
        ("", KeyError::MissingLeadingSlash),
        ("/", KeyError::Empty),
        ("/a/b", KeyError::InnerSlash),
        ("//a", KeyError::InnerSlash),
        ("/..", KeyError::Dots),
        ("/a..b", KeyError::Dots),
        ("/.", KeyError::Dots),
        ("/.hidden", KeyError::Dots),
        ("/a\0b", KeyError::Nul),
    ];
    for (key, reason) in cases {
        match validate_key(key) {
            Err(ShmError::InvalidKey { key: k, reason: r }) => {
                assert_eq!((k.as_str(), r), (key, reason));
            }
            other => panic!("{key:?}: {other:?}"),
        }
        assert!(matches!(
            ShmRegion::create(key, 8),
            Err(ShmError::InvalidKey { .. })
        ));
    }
    assert!(matches!(
        validate_key(&long),
        Err(ShmError::InvalidKey {
            reason: KeyError::TooLong(256),
            ..
        })
    ));
    validate_key(&longest).expect("255 bytes including the slash is the limit");
    validate_key("/tcm_demo_input0").unwrap();
}

#[test]
fn bytes_tensors_are_not_supported() {
    let data = TensorData::Bytes(vec!["a".into()]);
    assert!(matches!(
        ShmTensor::write("s", &[1], &data),
        Err(ShmError::BytesUnsupported { name }) if name == "s"
    ));
    assert!(matches!(
        ShmTensor::from_le_bytes("s", &[1], DataType::Bytes, b"a"),
        Err(ShmError::BytesUnsupported { .. })
    ));
}

#[test]
fn shapes_whose_size_overflows_are_refused_before_any_region_is_made() {
    let huge = [usize::MAX, 2];
    assert!(matches!(
        ShmTensor::from_f32("x", &huge, &[1.0]),
        Err(ShmError::Overflow {
            dtype: DataType::Fp32,
            ..
        })
    ));
    // The element count fits; times 8 bytes it does not.
    let wide = [1usize << 62];
    assert!(matches!(
        ShmTensor::from_f64("x", &wide, &[1.0]),
        Err(ShmError::Overflow {
            dtype: DataType::Fp64,
            ..
        })
    ));
}

#[test]
fn data_that_does_not_fill_the_shape_is_refused() {
    match ShmTensor::from_f32("x", &[2, 3], &[1.0; 5]) {
        Err(ShmError::ShapeMismatch {
            name,
            shape,
            expected,
            actual,
        }) => {
            assert_eq!(
                (name.as_str(), shape, expected, actual),
                ("x", vec![2, 3], 6, 5)
            );
        }
        other => panic!("{other:?}"),
    }
    match ShmTensor::from_le_bytes("x", &[2], DataType::Fp32, &[0; 7]) {
        Err(ShmError::ByteSizeMismatch {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (8, 7)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_tensors_and_names_are_refused() {
    assert!(matches!(
        ShmTensor::from_f32("x", &[0], &[]),
        Err(ShmError::Empty { .. })
    ));
    assert!(matches!(
        ShmTensor::from_f32("", &[1], &[1.0]),
        Err(ShmError::EmptyName)
    ));
    assert!(matches!(
        ShmRegion::create(&generate_key(), 0),
        Err(ShmError::Empty { .. })
    ));
}

#[test]
fn hand_built_references_are_checked_like_the_server_would_need_them() {
    let good = ShmReference {
        name: "INPUT__0".into(),
        shm_key: "/tcm_demo_input0".into(),
        offset: 0,
        byte_size: 602_112,
        shape: vec![1, 3, 224, 224],
        dtype: "FP32".into(),
    };
    validate_reference(&good).unwrap();

    let with = |f: fn(&mut ShmReference)| {
        let mut r = good.clone();
        f(&mut r);
        validate_reference(&r).unwrap_err()
    };
    assert!(matches!(
        with(|r| r.byte_size = 602_111),
        ShmError::ByteSizeMismatch {
            expected: 602_112,
            actual: 602_111,
            ..
        }
    ));
    assert!(matches!(
        with(|r| r.offset = 4),
        ShmError::NonZeroOffset { offset: 4, .. }
    ));
    assert!(matches!(
        with(|r| r.shm_key = "no-slash".into()),
        ShmError::InvalidKey { .. }
    ));
    assert!(matches!(
        with(|r| r.dtype = "BYTES".into()),
        ShmError::BytesUnsupported { .. }
    ));
    assert!(matches!(
        with(|r| r.dtype = "FP8".into()),
        ShmError::UnknownDatatype { .. }
    ));
    assert!(matches!(
        with(|r| r.shape = vec![u64::MAX, 2]),
        ShmError::Overflow { .. }
    ));
    assert!(matches!(with(|r| r.name.clear()), ShmError::EmptyName));
    assert!(matches!(
        with(|r| {
            r.shape = vec![0];
            r.byte_size = 0;
        }),
        ShmError::Empty { .. }
    ));
}

#[test]
fn f32_to_f16_rounds_to_nearest_even() {
    assert_eq!(f32_to_f16_bits(0.0), 0x0000);
    assert_eq!(f32_to_f16_bits(-0.0), 0x8000);
    assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
    assert_eq!(f32_to_f16_bits(0.1), 0x2e66);
    assert_eq!(f32_to_f16_bits(65504.0), 0x7bff);
    assert_eq!(
        f32_to_f16_bits(65520.0),
        0x7c00,
        "halfway past max rounds to infinity"
    );
    assert_eq!(f32_to_f16_bits(f32::INFINITY), 0x7c00);
    assert_eq!(f32_to_f16_bits(f32::NEG_INFINITY), 0xfc00);
    assert_eq!(f32_to_f16_bits(f32::NAN) & 0x7c00, 0x7c00);
    assert_ne!(f32_to_f16_bits(f32::NAN) & 0x03ff, 0, "NaN stays NaN");
    // 1 + 2^-11 is halfway between 1 and the next half; ties go to the even 1.0.
    assert_eq!(f32_to_f16_bits(1.0 + 2f32.powi(-11)), 0x3c00);
    assert_eq!(f32_to_f16_bits(1.0 + 3.0 * 2f32.powi(-11)), 0x3c02);
    // Subnormals: 2^-24 is the smallest; 2^-25 ties to zero; just above rounds up.
    assert_eq!(f32_to_f16_bits(2f32.powi(-24)), 0x0001);
    assert_eq!(f32_to_f16_bits(2f32.powi(-25)), 0x0000);
    assert_eq!(f32_to_f16_bits(2f32.powi(-25) * 1.5), 0x0001);
    assert_eq!(f32_to_f16_bits(2f32.powi(-14)), 0x0400, "smallest normal");
}

/// Widens half-precision bits exactly, as the server does.
fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let man = f32::from(h & 0x03ff);
    match exp {
        0 => sign * man * 2f32.powi(-24),
        0x1f if man == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        e => sign * (1.0 + man / 1024.0) * 2f32.powi(e - 15),
    }
}

#[test]
fn every_half_precision_value_survives_widening_and_narrowing() {
    for h in 0..=u16::MAX {
        let wide = f16_to_f32(h);
        if wide.is_nan() {
            assert!(f16_to_f32(f32_to_f16_bits(wide)).is_nan());
        } else {
            assert_eq!(f32_to_f16_bits(wide), h, "{h:#06x} ({wide})");
        }
    }
}
