//! Inference inputs from the command line: payload files in the three layouts the official CLI
//! accepts, `--input` specifications (values on the command line or in a tensor file), and
//! payload inputs as typed tensors for shared memory.

use std::path::Path;

use serde_json::Value;
use tcm_proto::{DataType, Tensor, TensorData, TensorInput};

use crate::failure::Failure;
use crate::tensor_file::{self, Declared};

/// Reads the inputs of a payload file: a JSON list of inputs, an object with `inputs`
/// (legacy), an object with `request.inputs` (canonical), or a full inference envelope with
/// `payload.request.inputs`. Inputs are sent as written, so both tensor shapes (SDK and
/// internal) work.
pub fn from_payload(text: &str, path: &str) -> Result<Vec<TensorInput>, Failure> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Failure::Usage(format!("{path}: invalid JSON: {e}")))?;
    let list = match &value {
        Value::Array(items) => Some(items),
        Value::Object(obj) => obj
            .get("payload")
            .and_then(|p| p.get("request"))
            .and_then(|r| r.get("inputs"))
            .and_then(Value::as_array)
            .or_else(|| {
                obj.get("request")
                    .and_then(|r| r.get("inputs"))
                    .and_then(Value::as_array)
            })
            .or_else(|| obj.get("inputs").and_then(Value::as_array)),
        _ => None,
    };
    let Some(list) = list else {
        return Err(Failure::Usage(format!(
            "{path}: expected a JSON list of inputs, an object with `inputs`, or an object with `request.inputs`"
        )));
    };
    list.iter()
        .map(|item| match item {
            Value::Object(_) => Ok(TensorInput::Raw(item.clone())),
            _ => Err(Failure::Usage(format!(
                "{path}: every input must be a JSON object"
            ))),
        })
        .collect()
}

/// Parses an `--input` specification:
///
/// - `name:shape:dtype=values`, e.g. `INPUT0:2,2:FP32=1,2,3,4`: the shape is a comma list (`-`
///   or empty for a scalar), the values are comma-separated;
/// - `name=@FILE`: the values, shape and datatype of a NumPy `.npy` file;
/// - `name:shape:dtype=@FILE`: raw little-endian values of that shape and datatype, or a
///   `.npy` file of that datatype, reshaped.
pub fn parse_spec(spec: &str) -> Result<Tensor, Failure> {
    let bad = |why: &str| {
        Failure::Usage(format!(
            "--input '{spec}': {why} (expected name:shape:dtype=values, e.g. INPUT0:4:FP32=1,2,3,4, or name=@file.npy)"
        ))
    };
    let (head, values) = spec.split_once('=').ok_or_else(|| bad("missing '='"))?;
    let mut parts = head.splitn(3, ':');
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("missing name"))?;
    let shape_text = parts.next();
    if let (Some(path), None) = (values.strip_prefix('@'), shape_text) {
        return tensor_file::read(name, Path::new(path), None);
    }
    let shape_text = shape_text.ok_or_else(|| bad("missing shape"))?;
    let dtype_text = parts.next().ok_or_else(|| bad("missing datatype"))?;
    let shape: Vec<usize> = if shape_text.is_empty() || shape_text == "-" {
        Vec::new()
    } else {
        shape_text
            .split([',', 'x'])
            .map(|d| {
                d.trim()
                    .parse::<usize>()
                    .map_err(|_| bad("shape must be non-negative integers"))
            })
            .collect::<Result<_, _>>()?
    };
    let dtype = DataType::parse(dtype_text).ok_or_else(|| bad("unknown datatype"))?;
    if let Some(path) = values.strip_prefix('@') {
        let declared = Declared { shape, dtype };
        return tensor_file::read(name, Path::new(path), Some(&declared));
    }
    let items: Vec<Value> = if values.trim().is_empty() {
        Vec::new()
    } else {
        values
            .split(',')
            .map(|s| text_value(dtype, s.trim()))
            .collect()
    };
    let data = typed_values(dtype, &items)
        .ok_or_else(|| bad(&format!("values must be {}", value_kind(dtype))))?;
    Tensor::new(name, shape, data).map_err(|e| bad(&e.to_string()))
}

/// A command-line value as the JSON value it stands for in a tensor of `dtype`.
fn text_value(dtype: DataType, s: &str) -> Value {
    match (dtype, s) {
        (DataType::Bytes, _) => Value::String(s.to_owned()),
        (DataType::Bool, "true" | "1") => Value::Bool(true),
        (DataType::Bool, "false" | "0") => Value::Bool(false),
        _ => serde_json::from_str::<serde_json::Number>(s)
            .map(Value::Number)
            .unwrap_or_else(|_| Value::String(s.to_owned())),
    }
}

fn value_kind(dtype: DataType) -> &'static str {
    match dtype {
        DataType::Bool => "true/false",
        DataType::Fp16 | DataType::Fp32 | DataType::Fp64 => "numbers",
        DataType::Bytes => "strings",
        other => other.as_str(),
    }
}

/// Flat JSON values (numbers, booleans, strings) as typed data of `dtype`; `None` when one
/// does not fit (a fraction or an out-of-range number for an integer type, ...).
fn typed_values(dtype: DataType, items: &[Value]) -> Option<TensorData> {
    fn ints<T: TryFrom<i64> + TryFrom<u64>>(items: &[Value]) -> Option<Vec<T>> {
        items
            .iter()
            .map(|v| match v {
                Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                    (Some(i), _) => T::try_from(i).ok(),
                    (None, Some(u)) => T::try_from(u).ok(),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
    let floats = || -> Option<Vec<f64>> { items.iter().map(Value::as_f64).collect() };
    Some(match dtype {
        DataType::Bool => {
            TensorData::Bool(items.iter().map(Value::as_bool).collect::<Option<_>>()?)
        }
        DataType::Int8 => TensorData::Int8(ints(items)?),
        DataType::Int16 => TensorData::Int16(ints(items)?),
        DataType::Int32 => TensorData::Int32(ints(items)?),
        DataType::Int64 => TensorData::Int64(ints(items)?),
        DataType::Uint8 => TensorData::Uint8(ints(items)?),
        DataType::Uint16 => TensorData::Uint16(ints(items)?),
        DataType::Uint32 => TensorData::Uint32(ints(items)?),
        DataType::Uint64 => TensorData::Uint64(ints(items)?),
        DataType::Fp16 => TensorData::Fp16(floats()?.into_iter().map(|v| v as f32).collect()),
        DataType::Fp32 => TensorData::Fp32(floats()?.into_iter().map(|v| v as f32).collect()),
        DataType::Fp64 => TensorData::Fp64(floats()?),
        DataType::Bytes => TensorData::Bytes(
            items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()?,
        ),
    })
}

/// A payload input as a typed tensor, for inputs that must be written to shared memory. Both
/// input shapes are read (`{name, shape, datatype, data}` and `{name, dims, type, value}`),
/// values nested like the shape or flat; an input that already is a shared-memory reference
/// stays as written.
pub fn typed(input: TensorInput, path: &str) -> Result<TensorInput, Failure> {
    let TensorInput::Raw(value) = input else {
        return Ok(input);
    };
    if TensorInput::Raw(value.clone()).is_shm() {
        return Ok(TensorInput::Raw(value));
    }
    let name = value.get("name").and_then(Value::as_str).unwrap_or("?");
    let bad = |why: &str| Failure::Usage(format!("{path}: input '{name}': {why}"));
    let field = |a: &str, b: &str| value.get(a).or_else(|| value.get(b));
    let shape: Vec<usize> = match field("shape", "dims") {
        Some(Value::Number(n)) => vec![n.as_u64().ok_or_else(|| bad("bad shape"))? as usize],
        Some(Value::Array(ds)) => ds
            .iter()
            .map(|d| d.as_u64().map(|d| d as usize))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("shape must be non-negative integers"))?,
        _ => return Err(bad("missing shape (`shape` or `dims`)")),
    };
    let dtype = field("datatype", "type")
        .and_then(Value::as_str)
        .and_then(DataType::parse)
        .ok_or_else(|| bad("missing or unknown datatype (`datatype` or `type`)"))?;
    let mut leaves = Vec::new();
    flatten(
        field("data", "value").ok_or_else(|| bad("missing values (`data` or `value`)"))?,
        &mut leaves,
    );
    let data = typed_values(dtype, &leaves)
        .ok_or_else(|| bad(&format!("values must be {}", value_kind(dtype))))?;
    Tensor::new(name, shape, data)
        .map(TensorInput::Tensor)
        .map_err(|e| bad(&e.to_string()))
}

fn flatten(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        leaf => out.push(leaf.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_into_typed_tensors() {
        let t = parse_spec("INPUT0:2,2:FP32=1,2,3,4").unwrap();
        assert_eq!(t.shape(), [2, 2]);
        assert_eq!(t.data(), &TensorData::Fp32(vec![1.0, 2.0, 3.0, 4.0]));
        let t = parse_spec("X:3:TYPE_INT32=7,8,9").unwrap();
        assert_eq!(t.data(), &TensorData::Int32(vec![7, 8, 9]));
        assert_eq!(parse_spec("E:0:FP32=").unwrap().shape(), [0]);
    }

    #[test]
    fn bad_specs_are_usage_errors() {
        for s in [
            "INPUT0",
            "INPUT0:2:FP32",
            ":2:FP32=1,2",
            "I:2:NOPE=1,2",
            "I:2:FP32=1",
            "I:a:FP32=1",
            "I:2:INT8=1,999",
        ] {
            assert!(matches!(parse_spec(s), Err(Failure::Usage(_))), "{s}");
        }
    }

    #[test]
    fn payload_inputs_become_typed_tensors_for_shared_memory() {
        let sdk =
            serde_json::json!({"name":"A","shape":[2,2],"datatype":"FP32","data":[[1,2],[3,4]]});
        let Ok(TensorInput::Tensor(t)) = typed(TensorInput::Raw(sdk), "p") else {
            panic!("typed");
        };
        assert_eq!(
            (t.shape(), t.data()),
            (
                &[2usize, 2][..],
                &TensorData::Fp32(vec![1.0, 2.0, 3.0, 4.0])
            )
        );
        let internal = serde_json::json!({"name":"B","dims":3,"type":"TYPE_INT32","value":[7,8,9]});
        let Ok(TensorInput::Tensor(t)) = typed(TensorInput::Raw(internal), "p") else {
            panic!("typed");
        };
        assert_eq!(t.data(), &TensorData::Int32(vec![7, 8, 9]));
        let shm = serde_json::json!({"name":"C","shm_key":"/k","offset":0,"byte_size":4,"shape":[1],"dtype":"FP32"});
        assert!(matches!(
            typed(TensorInput::Raw(shm), "p"),
            Ok(TensorInput::Raw(_))
        ));
        for bad in [
            serde_json::json!({"name":"D","shape":[3],"datatype":"FP32","data":[1,2]}),
            serde_json::json!({"name":"D","shape":[1],"datatype":"NOPE","data":[1]}),
            serde_json::json!({"name":"D","datatype":"FP32","data":[1]}),
            serde_json::json!({"name":"D","shape":[1],"datatype":"INT8","data":[300]}),
            serde_json::json!({"name":"D","shape":[1],"datatype":"FP32"}),
        ] {
            assert!(
                matches!(
                    typed(TensorInput::Raw(bad.clone()), "p"),
                    Err(Failure::Usage(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn payload_layouts_are_all_accepted() {
        let list = r#"[{"name":"INPUT0","shape":[1],"datatype":"FP32","data":[1.0]}]"#;
        let legacy = r#"{"inputs":[{"name":"INPUT0","dims":1,"type":"TYPE_FP32","value":[1.0]}]}"#;
        let canonical = r#"{"request":{"inputs":[{"name":"INPUT0","shape":[1],"datatype":"FP32","data":[1.0]}]}}"#;
        let envelope = r#"{"type":"inference","uuid":"u","payload":{"request":{"inputs":[{"name":"INPUT0","dims":1,"type":"FP32","value":[1.0]}]}}}"#;
        for text in [list, legacy, canonical, envelope] {
            assert_eq!(from_payload(text, "p").unwrap().len(), 1, "{text}");
        }
        assert!(from_payload(r#"{"x":1}"#, "p").is_err());
        assert!(from_payload("[1]", "p").is_err());
        assert!(from_payload("{", "p").is_err());
    }
}
