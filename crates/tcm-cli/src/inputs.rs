//! Inference inputs from the command line: payload files in the three layouts the official CLI
//! accepts, and `--input name:shape:dtype=values` specifications.

use serde_json::Value;
use tcm_proto::{DataType, Tensor, TensorData, TensorInput};

use crate::failure::Failure;

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

/// Parses `name:shape:dtype=values`, e.g. `INPUT0:2,2:FP32=1,2,3,4`. The shape is a comma list
/// (`-` or empty for a scalar); values are comma-separated.
pub fn parse_spec(spec: &str) -> Result<Tensor, Failure> {
    let bad = |why: &str| {
        Failure::Usage(format!(
            "--input '{spec}': {why} (expected name:shape:dtype=values, e.g. INPUT0:4:FP32=1,2,3,4)"
        ))
    };
    let (head, values) = spec.split_once('=').ok_or_else(|| bad("missing '='"))?;
    let mut parts = head.splitn(3, ':');
    let name = parts
        .next()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| bad("missing name"))?;
    let shape_text = parts.next().ok_or_else(|| bad("missing shape"))?;
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
    let items: Vec<&str> = if values.trim().is_empty() {
        Vec::new()
    } else {
        values.split(',').map(str::trim).collect()
    };
    fn nums<T: std::str::FromStr>(items: &[&str]) -> Option<Vec<T>> {
        items.iter().map(|s| s.parse().ok()).collect()
    }
    let data = match dtype {
        DataType::Bool => TensorData::Bool(
            items
                .iter()
                .map(|s| match *s {
                    "true" | "1" => Some(true),
                    "false" | "0" => Some(false),
                    _ => None,
                })
                .collect::<Option<_>>()
                .ok_or_else(|| bad("BOOL values are true/false"))?,
        ),
        DataType::Int8 => TensorData::Int8(nums(&items).ok_or_else(|| bad("values must be INT8"))?),
        DataType::Int16 => {
            TensorData::Int16(nums(&items).ok_or_else(|| bad("values must be INT16"))?)
        }
        DataType::Int32 => {
            TensorData::Int32(nums(&items).ok_or_else(|| bad("values must be INT32"))?)
        }
        DataType::Int64 => {
            TensorData::Int64(nums(&items).ok_or_else(|| bad("values must be INT64"))?)
        }
        DataType::Uint8 => {
            TensorData::Uint8(nums(&items).ok_or_else(|| bad("values must be UINT8"))?)
        }
        DataType::Uint16 => {
            TensorData::Uint16(nums(&items).ok_or_else(|| bad("values must be UINT16"))?)
        }
        DataType::Uint32 => {
            TensorData::Uint32(nums(&items).ok_or_else(|| bad("values must be UINT32"))?)
        }
        DataType::Uint64 => {
            TensorData::Uint64(nums(&items).ok_or_else(|| bad("values must be UINT64"))?)
        }
        DataType::Fp16 => {
            TensorData::Fp16(nums(&items).ok_or_else(|| bad("values must be numbers"))?)
        }
        DataType::Fp32 => {
            TensorData::Fp32(nums(&items).ok_or_else(|| bad("values must be numbers"))?)
        }
        DataType::Fp64 => {
            TensorData::Fp64(nums(&items).ok_or_else(|| bad("values must be numbers"))?)
        }
        DataType::Bytes => TensorData::Bytes(items.iter().map(|s| (*s).to_owned()).collect()),
    };
    Tensor::new(name, shape, data).map_err(|e| bad(&e.to_string()))
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
