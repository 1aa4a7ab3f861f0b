//! The built-in models and Triton's own request checks, with Triton's error texts.

use crate::tensor::{DType, Data, Tensor};

/// Transport used to reach the model; it changes the prefix of Triton's error texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Triton's HTTP endpoint (`[400] ...`).
    Http,
    /// Triton's gRPC endpoint (streaming).
    Grpc,
}

/// One model input of the built-in repository: a rank-1 tensor of variable length (`[-1]`).
#[derive(Debug, Clone, Copy)]
pub struct InputSpec {
    /// Input name.
    pub name: &'static str,
    /// Expected datatype.
    pub dtype: DType,
}

/// A model of the built-in repository.
#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    /// Model name.
    pub name: &'static str,
    /// Inputs, all shaped `[-1]`.
    pub inputs: &'static [InputSpec],
    /// Decoupled models stream over gRPC and refuse HTTP.
    pub decoupled: bool,
}

const fn inp(name: &'static str, dtype: DType) -> InputSpec {
    InputSpec { name, dtype }
}

/// The repository: `identity` and `add` (FP32, as in the protocol document), their INT32
/// twins `identity_int32` and `add_int32`, an identity twin for every other fixed-size datatype
/// (`identity_bool`, `identity_int8` … `identity_uint64`, `identity_fp16`, `identity_fp64`, for
/// round trips of every datatype, e.g. through shared memory), and the decoupled `stream`.
pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        name: "identity",
        inputs: &[inp("INPUT0", DType::F32)],
        decoupled: false,
    },
    ModelSpec {
        name: "add",
        inputs: &[inp("INPUT0", DType::F32), inp("INPUT1", DType::F32)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_int32",
        inputs: &[inp("INPUT0", DType::I32)],
        decoupled: false,
    },
    ModelSpec {
        name: "add_int32",
        inputs: &[inp("INPUT0", DType::I32), inp("INPUT1", DType::I32)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_bool",
        inputs: &[inp("INPUT0", DType::Bool)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_int8",
        inputs: &[inp("INPUT0", DType::I8)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_int16",
        inputs: &[inp("INPUT0", DType::I16)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_int64",
        inputs: &[inp("INPUT0", DType::I64)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_uint8",
        inputs: &[inp("INPUT0", DType::U8)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_uint16",
        inputs: &[inp("INPUT0", DType::U16)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_uint32",
        inputs: &[inp("INPUT0", DType::U32)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_uint64",
        inputs: &[inp("INPUT0", DType::U64)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_fp16",
        inputs: &[inp("INPUT0", DType::F16)],
        decoupled: false,
    },
    ModelSpec {
        name: "identity_fp64",
        inputs: &[inp("INPUT0", DType::F64)],
        decoupled: false,
    },
    ModelSpec {
        name: "stream",
        inputs: &[inp("INPUT0", DType::F32)],
        decoupled: true,
    },
];

/// Looks a model up by name.
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|m| m.name == name)
}

fn bad_request(t: Transport, text: &str) -> String {
    match t {
        Transport::Http => format!("[400] [request id: <id_unknown>] {text}"),
        Transport::Grpc => {
            format!("[StatusCode.INVALID_ARGUMENT] [request id: <id_unknown>] {text}")
        }
    }
}

/// Triton's admission checks for a request; `Err` is Triton's error text.
pub fn check_request(
    model: &str,
    inputs: &[Tensor],
    t: Transport,
) -> Result<&'static ModelSpec, String> {
    let Some(spec) = find(model) else {
        return Err(match t {
            Transport::Http => format!("[404] Request for unknown model: '{model}' is not found"),
            Transport::Grpc => format!("Request for unknown model: '{model}' is not found"),
        });
    };
    for i in inputs {
        if !spec.inputs.iter().any(|s| s.name == i.name) {
            return Err(match t {
                Transport::Http => format!(
                    "[400] unexpected inference input '{}' for model '{model}'",
                    i.name
                ),
                Transport::Grpc => format!(
                    "[StatusCode.INVALID_ARGUMENT] unexpected inference input '{}' for model '{model}'",
                    i.name
                ),
            });
        }
    }
    if inputs.len() != spec.inputs.len() {
        let got: Vec<String> = inputs.iter().map(|i| format!("'{}'", i.name)).collect();
        let missing: Vec<String> = spec
            .inputs
            .iter()
            .filter(|s| !inputs.iter().any(|i| i.name == s.name))
            .map(|s| format!("'{}'", s.name))
            .collect();
        return Err(bad_request(
            t,
            &format!(
                "expected {} inputs but got {} inputs for model '{model}'. Got input(s) [{}], but missing required input(s) [{}]. Please provide all required input(s).",
                spec.inputs.len(),
                inputs.len(),
                got.join(", "),
                missing.join(", ")
            ),
        ));
    }
    for i in inputs {
        let Some(s) = spec.inputs.iter().find(|s| s.name == i.name) else {
            continue;
        };
        if s.dtype != i.dtype {
            return Err(bad_request(
                t,
                &format!(
                    "inference input '{}' data-type is '{}', but model '{model}' expects '{}'",
                    i.name,
                    i.dtype.name(),
                    s.dtype.name()
                ),
            ));
        }
        if i.shape.len() != 1 {
            let got: Vec<String> = i.shape.iter().map(usize::to_string).collect();
            return Err(bad_request(
                t,
                &format!(
                    "unexpected shape for input '{}' for model '{model}'. Expected [-1], got [{}]. ",
                    i.name,
                    got.join(",")
                ),
            ));
        }
    }
    if spec.decoupled && t == Transport::Http {
        return Err(bad_request(
            t,
            "ModelInfer RPC doesn't support models with decoupled transaction policy",
        ));
    }
    Ok(spec)
}

fn input<'a>(inputs: &'a [Tensor], name: &str) -> Option<&'a Tensor> {
    inputs.iter().find(|i| i.name == name)
}

/// Runs a non-decoupled model on checked inputs; `Err` is the backend's error text.
pub fn execute(spec: &ModelSpec, inputs: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let a = input(inputs, "INPUT0").ok_or_else(|| "missing INPUT0".to_string())?;
    let data = match spec.name {
        n if n == "identity" || n.starts_with("identity_") => a.data.clone(),
        "add" | "add_int32" => {
            let b = input(inputs, "INPUT1").ok_or_else(|| "missing INPUT1".to_string())?;
            add(&a.data, &b.data).ok_or_else(|| {
                format!(
                    "[500] Failed to process the request(s) for model '{}', message: ValueError: operands could not be broadcast together with shapes ({},) ({},) ",
                    spec.name,
                    a.data.len(),
                    b.data.len()
                )
            })?
        }
        other => return Err(format!("model '{other}' cannot be executed over HTTP")),
    };
    let shape = vec![data.len()];
    Ok(vec![Tensor {
        name: "OUTPUT0".to_string(),
        dtype: a.dtype,
        shape,
        data,
    }])
}

fn add(a: &Data, b: &Data) -> Option<Data> {
    fn zip<T: Copy>(x: &[T], y: &[T], f: impl Fn(T, T) -> T) -> Option<Vec<T>> {
        match (x.len(), y.len()) {
            (n, m) if n == m => Some(x.iter().zip(y).map(|(p, q)| f(*p, *q)).collect()),
            (1, _) => Some(y.iter().map(|q| f(x[0], *q)).collect()),
            (_, 1) => Some(x.iter().map(|p| f(*p, y[0])).collect()),
            _ => None,
        }
    }
    match (a, b) {
        (Data::Float(x), Data::Float(y)) => {
            zip(x, y, |p, q| f64::from((p as f32) + (q as f32))).map(Data::Float)
        }
        (Data::Int(x), Data::Int(y)) => {
            zip(x, y, |p, q| i64::from((p as i32).wrapping_add(q as i32))).map(Data::Int)
        }
        _ => None,
    }
}

/// One response of the decoupled `stream` model.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamResponse {
    /// A chunk carrying the BYTES tensor `output`.
    Chunk(String),
    /// The final response carrying only the BOOL tensor `done`.
    Done,
}

/// The responses of `stream` for `INPUT0`: `int(INPUT0[0])` chunks `"tok<i> "`, then `Done`.
pub fn stream_responses(inputs: &[Tensor]) -> Result<Vec<StreamResponse>, String> {
    let a = input(inputs, "INPUT0").ok_or_else(|| "missing INPUT0".to_string())?;
    let n = match &a.data {
        Data::Float(v) => v.first().map(|x| *x as i64),
        Data::Int(v) => v.first().copied(),
        _ => None,
    }
    .ok_or_else(|| "index 0 is out of bounds for axis 0 with size 0".to_string())?;
    let n = n.clamp(0, 10_000);
    let mut out: Vec<StreamResponse> = (0..n)
        .map(|i| StreamResponse::Chunk(format!("tok{i} ")))
        .collect();
    out.push(StreamResponse::Done);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, dtype: DType, data: Data) -> Tensor {
        Tensor {
            name: name.into(),
            dtype,
            shape: vec![data.len()],
            data,
        }
    }

    #[test]
    fn add_sums_element_wise() {
        let spec = find("add").unwrap();
        let out = execute(
            spec,
            &[
                t("INPUT0", DType::F32, Data::Float(vec![1.0, 2.0])),
                t("INPUT1", DType::F32, Data::Float(vec![10.0, 20.0])),
            ],
        )
        .unwrap();
        assert_eq!(out[0].data, Data::Float(vec![11.0, 22.0]));
    }

    #[test]
    fn missing_input_uses_tritons_text() {
        let e = check_request(
            "add",
            &[t("INPUT0", DType::F32, Data::Float(vec![1.0]))],
            Transport::Http,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "[400] [request id: <id_unknown>] expected 2 inputs but got 1 inputs for model 'add'. Got input(s) ['INPUT0'], but missing required input(s) ['INPUT1']. Please provide all required input(s)."
        );
    }

    #[test]
    fn stream_emits_n_chunks_then_done() {
        let r = stream_responses(&[t("INPUT0", DType::F32, Data::Float(vec![2.0]))]).unwrap();
        assert_eq!(
            r,
            vec![
                StreamResponse::Chunk("tok0 ".into()),
                StreamResponse::Chunk("tok1 ".into()),
                StreamResponse::Done
            ]
        );
    }
}
