//! ONNX model files: the inputs/outputs report of `model-analyze` (the same JSON as the official
//! `tcm-client-cli model-analyze`) and a zero-filled inference payload for a model.
//!
//! Only the few `onnx.proto` messages on the path from the model to its graph's inputs and
//! outputs are declared; protobuf decoding skips every other field (nodes, weights, ...)
//! without keeping it.

use std::path::Path;

use serde::Serialize;
use tcm_proto::{DataType, Tensor, TensorData};

use crate::failure::Failure;

/// `onnx.ModelProto`, reduced to its graph.
#[derive(Clone, PartialEq, prost::Message)]
struct ModelProto {
    #[prost(int64, tag = "1")]
    ir_version: i64,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

/// `onnx.GraphProto`, reduced to its inputs and outputs.
#[derive(Clone, PartialEq, prost::Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

/// `onnx.ValueInfoProto`.
#[derive(Clone, PartialEq, prost::Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
}

/// `onnx.TypeProto`, reduced to the `tensor_type` member of its `value` oneof (a sequence,
/// map or sparse tensor reads as element type 0 without a shape, as in the `onnx` package).
#[derive(Clone, PartialEq, prost::Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TensorTypeProto>,
}

/// `onnx.TypeProto.Tensor`.
#[derive(Clone, PartialEq, prost::Message)]
struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    elem_type: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

/// `onnx.TensorShapeProto`.
#[derive(Clone, PartialEq, prost::Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<Dimension>,
}

/// `onnx.TensorShapeProto.Dimension`: a value or a symbolic name.
#[derive(Clone, PartialEq, prost::Message)]
struct Dimension {
    #[prost(int64, optional, tag = "1")]
    dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    dim_param: Option<String>,
}

/// The report of `model-analyze`: the official CLI's fields, in its order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The path as given.
    pub path: String,
    /// The logical model name as given.
    pub name: String,
    /// The graph's inputs.
    pub inputs: Vec<Io>,
    /// The graph's outputs.
    pub outputs: Vec<Io>,
}

/// One graph input or output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Io {
    /// The tensor's name.
    pub name: String,
    /// `FP32`, `FP64`, `INT64`, `INT32`, `INT8`, `UINT8`, `BOOL`, or the ONNX element type's
    /// number for any other type (the official CLI's mapping).
    pub dtype: String,
    /// The dimensions; `-1` for a symbolic or unknown one.
    pub shape: Vec<i64>,
    /// The ONNX element type (`TensorProto.DataType`).
    #[serde(skip)]
    pub elem_type: i32,
}

/// The official CLI's names of ONNX element types.
fn report_dtype(elem_type: i32) -> String {
    match elem_type {
        1 => "FP32".to_owned(),
        11 => "FP64".to_owned(),
        7 => "INT64".to_owned(),
        6 => "INT32".to_owned(),
        3 => "INT8".to_owned(),
        2 => "UINT8".to_owned(),
        9 => "BOOL".to_owned(),
        other => other.to_string(),
    }
}

/// The Triton datatype of an ONNX element type, for the types Triton has.
fn triton_dtype(elem_type: i32) -> Option<DataType> {
    Some(match elem_type {
        1 => DataType::Fp32,
        2 => DataType::Uint8,
        3 => DataType::Int8,
        4 => DataType::Uint16,
        5 => DataType::Int16,
        6 => DataType::Int32,
        7 => DataType::Int64,
        8 => DataType::Bytes,
        9 => DataType::Bool,
        10 => DataType::Fp16,
        11 => DataType::Fp64,
        12 => DataType::Uint32,
        13 => DataType::Uint64,
        _ => return None,
    })
}

fn io(value: &ValueInfoProto) -> Io {
    let tensor = value.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
    let elem_type = tensor.map_or(0, |t| t.elem_type);
    let shape = tensor
        .and_then(|t| t.shape.as_ref())
        .map(|s| {
            s.dim
                .iter()
                // As the official CLI: a dimension without a value (or with value 0) is -1.
                .map(|d| d.dim_value.filter(|v| *v != 0).unwrap_or(-1))
                .collect()
        })
        .unwrap_or_default();
    Io {
        name: value.name.clone(),
        dtype: report_dtype(elem_type),
        shape,
        elem_type,
    }
}

/// Decodes an ONNX model's bytes into the report; `path` names the file in messages.
pub fn analyze_bytes(bytes: &[u8], path: &str, name: &str) -> Result<Report, Failure> {
    let model = <ModelProto as prost::Message>::decode(bytes).map_err(|e| {
        Failure::Usage(format!(
            "{path}: not an ONNX model (truncated or not a protobuf ModelProto: {e})"
        ))
    })?;
    let Some(graph) = model.graph else {
        return Err(Failure::Usage(format!(
            "{path}: not an ONNX model (no graph)"
        )));
    };
    Ok(Report {
        path: path.to_owned(),
        name: name.to_owned(),
        inputs: graph.input.iter().map(io).collect(),
        outputs: graph.output.iter().map(io).collect(),
    })
}

/// Reads and decodes an ONNX model file.
pub fn analyze(path: &Path, name: &str) -> Result<Report, Failure> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path)
        .map_err(|e| Failure::Usage(format!("cannot read ONNX model {shown}: {e}")))?;
    analyze_bytes(&bytes, &shown, name)
}

/// An `inference-http --payload` file for the model: each input zero-filled (`false`, `""`)
/// in its shape and datatype, symbolic dimensions set to 1, in the canonical
/// `{"request":{"inputs":[...]}}` layout.
pub fn payload_template(report: &Report) -> Result<Template, Failure> {
    let inputs = report
        .inputs
        .iter()
        .map(|input| {
            let dtype = triton_dtype(input.elem_type).ok_or_else(|| {
                Failure::Usage(format!(
                    "input '{}' has ONNX element type {}, which has no Triton datatype",
                    input.name, input.elem_type
                ))
            })?;
            let shape: Vec<usize> = input
                .shape
                .iter()
                .map(|d| usize::try_from(*d).ok().filter(|d| *d > 0).unwrap_or(1))
                .collect();
            let n = tcm_proto::tensor::element_count(&shape).ok_or_else(|| {
                Failure::Usage(format!("input '{}': shape {shape:?} overflows", input.name))
            })?;
            Tensor::new(input.name.clone(), shape, zeros(dtype, n))
                .map_err(|e| Failure::Usage(format!("input '{}': {e}", input.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Template {
        request: TemplateRequest { inputs },
    })
}

/// A payload file: `{"request": {"inputs": [...]}}`, each input `{name, shape, datatype, data}`.
#[derive(Debug, Serialize)]
pub struct Template {
    request: TemplateRequest,
}

#[derive(Debug, Serialize)]
struct TemplateRequest {
    inputs: Vec<Tensor>,
}

impl Template {
    /// The file's text: indented for small models, compact when the inputs hold many values.
    pub fn to_text(&self) -> Result<String, Failure> {
        let values: usize = self.request.inputs.iter().map(|t| t.data().len()).sum();
        let text = if values <= 4096 {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_string(self)
        };
        text.map(|t| t + "\n")
            .map_err(|e| Failure::Usage(format!("cannot encode the payload template: {e}")))
    }
}

fn zeros(dtype: DataType, n: usize) -> TensorData {
    match dtype {
        DataType::Bool => TensorData::Bool(vec![false; n]),
        DataType::Int8 => TensorData::Int8(vec![0; n]),
        DataType::Int16 => TensorData::Int16(vec![0; n]),
        DataType::Int32 => TensorData::Int32(vec![0; n]),
        DataType::Int64 => TensorData::Int64(vec![0; n]),
        DataType::Uint8 => TensorData::Uint8(vec![0; n]),
        DataType::Uint16 => TensorData::Uint16(vec![0; n]),
        DataType::Uint32 => TensorData::Uint32(vec![0; n]),
        DataType::Uint64 => TensorData::Uint64(vec![0; n]),
        DataType::Fp16 => TensorData::Fp16(vec![0.0; n]),
        DataType::Fp32 => TensorData::Fp32(vec![0.0; n]),
        DataType::Fp64 => TensorData::Fp64(vec![0.0; n]),
        DataType::Bytes => TensorData::Bytes(vec![String::new(); n]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use serde_json::{Value, json};

    fn value(name: &str, elem_type: i32, dims: &[Option<i64>]) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type,
                    shape: Some(TensorShapeProto {
                        dim: dims
                            .iter()
                            .map(|d| Dimension {
                                dim_value: *d,
                                dim_param: d.is_none().then(|| "batch".into()),
                            })
                            .collect(),
                    }),
                }),
            }),
        }
    }

    fn model(inputs: Vec<ValueInfoProto>, outputs: Vec<ValueInfoProto>) -> Vec<u8> {
        ModelProto {
            ir_version: 9,
            graph: Some(GraphProto {
                input: inputs,
                output: outputs,
            }),
        }
        .encode_to_vec()
    }

    #[test]
    fn a_model_reports_names_types_and_shapes() {
        let bytes = model(
            vec![value("x", 1, &[None, Some(4)]), value("b", 16, &[Some(2)])],
            vec![value("y", 11, &[])],
        );
        let r = analyze_bytes(&bytes, "m.onnx", "m").unwrap();
        assert_eq!(r.inputs[0].dtype, "FP32");
        assert_eq!(r.inputs[0].shape, [-1, 4]);
        assert_eq!(
            r.inputs[1].dtype, "16",
            "unmapped types print as their number"
        );
        assert_eq!(r.outputs[0].dtype, "FP64");
        assert!(r.outputs[0].shape.is_empty());
    }

    #[test]
    fn the_template_fills_zeros_with_symbolic_dimensions_as_one() {
        let bytes = model(
            vec![
                value("x", 1, &[None, Some(2)]),
                value("flag", 9, &[Some(1)]),
                value("text", 8, &[Some(1)]),
            ],
            vec![],
        );
        let r = analyze_bytes(&bytes, "m.onnx", "m").unwrap();
        let t: Value =
            serde_json::from_str(&payload_template(&r).unwrap().to_text().unwrap()).unwrap();
        assert_eq!(
            t,
            json!({"request": {"inputs": [
                {"name": "x", "shape": [1, 2], "datatype": "FP32", "data": [[0.0, 0.0]]},
                {"name": "flag", "shape": [1], "datatype": "BOOL", "data": [false]},
                {"name": "text", "shape": [1], "datatype": "BYTES", "data": [""]},
            ]}})
        );
        let r = analyze_bytes(&model(vec![value("b", 16, &[])], vec![]), "m", "m").unwrap();
        assert!(matches!(payload_template(&r), Err(Failure::Usage(_))));
    }

    #[test]
    fn truncated_and_foreign_bytes_are_usage_errors() {
        let bytes = model(vec![value("x", 1, &[Some(4)])], vec![]);
        for bad in [&bytes[..bytes.len() / 2], b"{\"not\": \"onnx\"}", b""] {
            let e = analyze_bytes(bad, "f", "m").expect_err("refused");
            assert!(matches!(e, Failure::Usage(_)));
            assert!(e.to_string().contains("not an ONNX model"), "{e}");
        }
    }
}
