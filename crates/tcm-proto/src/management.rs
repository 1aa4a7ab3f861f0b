//! Typed results of the management actions that return structured data (TCM §8.3).
//!
//! A successful management reply carries a free-form `data` value whose shape depends on the
//! action. [`ManagementReply`] keeps that value as it came (the raw JSON stays reachable
//! through [`ManagementReply::data`]) and types it on request with
//! [`ManagementReply::result`]:
//!
//! | action | `data` | typed as |
//! |---|---|---|
//! | `creation`, `create_server` | `{vm_ip, container_id, model_name, inputs, outputs}` (`create_server` without `vm_ip`/`container_id`) | [`ManagementResult::Model`] |
//! | `create_vm` | `[vm_ip, vm_id]` | [`ManagementResult::Vm`] |
//! | `deletion` | `{vm_id, container_id}` | [`ManagementResult::Deleted`] |
//! | any other action | anything (an echo of the payload, `null`, ...) | [`ManagementResult::Untyped`] |
//!
//! Failed actions (`status:false`) never get here: they are
//! [`RequestError::Management`](crate::RequestError::Management) as before.
//!
//! ```
//! use serde_json::json;
//! use tcm_proto::management::{ManagementReply, ManagementResult};
//!
//! let reply = ManagementReply::new("create_vm", json!(["192.0.2.10", "vm-1"]));
//! let Ok(ManagementResult::Vm(vm)) = reply.result() else { panic!() };
//! assert_eq!((vm.vm_ip.as_str(), vm.vm_id.as_str()), ("192.0.2.10", "vm-1"));
//! assert_eq!(reply.data(), &json!(["192.0.2.10", "vm-1"]));
//! ```

use serde::Serialize;
use serde_json::{Map, Value};

use crate::tensor::DataType;

/// A successful management reply: the action that was run and the reply's `data`, as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagementReply {
    action: String,
    data: Value,
}

impl ManagementReply {
    /// Wraps the `data` of a successful reply to `action`.
    pub fn new(action: impl Into<String>, data: Value) -> Self {
        Self {
            action: action.into(),
            data,
        }
    }

    /// The action the reply answers, e.g. `creation`.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The reply's `data`, exactly as the server sent it.
    pub fn data(&self) -> &Value {
        &self.data
    }

    /// The reply's `data`, by value.
    pub fn into_data(self) -> Value {
        self.data
    }

    /// The typed result for the actions with a known success shape; every other action is
    /// [`ManagementResult::Untyped`]. Fails when a known action's data has another shape.
    pub fn result(&self) -> Result<ManagementResult, ShapeError> {
        ManagementResult::parse(&self.action, &self.data)
    }
}

/// The typed `data` of a successful management action.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum ManagementResult {
    /// `creation` or `create_server`: a Triton model being served.
    Model(ModelEndpoint),
    /// `create_vm`: the new virtual machine.
    Vm(CreatedVm),
    /// `deletion`: what was torn down.
    Deleted(Deletion),
    /// An action without a typed success shape; its `data` as sent.
    Untyped(Value),
}

impl ManagementResult {
    /// Types the `data` of a successful reply to `action`.
    pub fn parse(action: &str, data: &Value) -> Result<Self, ShapeError> {
        match action {
            "creation" | "create_server" => ModelEndpoint::parse(action, data).map(Self::Model),
            "create_vm" => CreatedVm::parse(data).map(Self::Vm),
            "deletion" => Deletion::parse(data).map(Self::Deleted),
            _ => Ok(Self::Untyped(data.clone())),
        }
    }
}

/// A model served by Triton, as `creation` and `create_server` report it: where to send
/// inferences (`vm_ip`, `container_id`, `model_name`) and the model's tensors.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ModelEndpoint {
    /// The VM's address; `creation` reports it, `create_server` does not.
    pub vm_ip: Option<String>,
    /// The container running Triton; `creation` reports it, `create_server` does not.
    pub container_id: Option<String>,
    /// The model's name, as an inference names it.
    pub model_name: String,
    /// The model's inputs.
    pub inputs: Vec<TensorSpec>,
    /// The model's outputs.
    pub outputs: Vec<TensorSpec>,
}

impl ModelEndpoint {
    fn parse(action: &str, data: &Value) -> Result<Self, ShapeError> {
        let what = if action == "create_server" {
            "an object {model_name, inputs, outputs}"
        } else {
            "an object {vm_ip, container_id, model_name, inputs, outputs}"
        };
        let obj = data
            .as_object()
            .ok_or_else(|| ShapeError::new(action, what))?;
        let specs = |key: &str| -> Result<Vec<TensorSpec>, ShapeError> {
            match obj.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| TensorSpec::parse(action, key, item))
                    .collect(),
                Some(_) => Err(ShapeError::new(action, format!("`{key}` to be a list"))),
            }
        };
        Ok(Self {
            vm_ip: optional_string(action, obj, "vm_ip")?,
            container_id: optional_string(action, obj, "container_id")?,
            model_name: optional_string(action, obj, "model_name")?
                .ok_or_else(|| ShapeError::new(action, "a string `model_name`"))?,
            inputs: specs("inputs")?,
            outputs: specs("outputs")?,
        })
    }
}

/// One tensor of a served model, as Triton's model configuration declares it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct TensorSpec {
    /// The tensor's name.
    pub name: String,
    /// The datatype as the server wrote it, e.g. `TYPE_FP32`.
    #[serde(rename = "type")]
    pub type_name: String,
    /// The dimensions; `-1` is a variable dimension.
    pub dims: Vec<i64>,
}

impl TensorSpec {
    /// The datatype, when it is one of Triton's (`TYPE_FP32`, `FP32`, `TYPE_STRING`, ...).
    pub fn datatype(&self) -> Option<DataType> {
        DataType::parse(&self.type_name)
    }

    fn parse(action: &str, list: &str, item: &Value) -> Result<Self, ShapeError> {
        let bad = || {
            ShapeError::new(
                action,
                format!("each of `{list}` to be {{name, type, dims}}"),
            )
        };
        let obj = item.as_object().ok_or_else(bad)?;
        let name = obj.get("name").and_then(Value::as_str).ok_or_else(bad)?;
        // Triton's own configuration names the key `data_type`; the manager forwards `type`.
        let type_name = ["type", "data_type", "datatype"]
            .iter()
            .find_map(|k| obj.get(*k).and_then(Value::as_str))
            .ok_or_else(bad)?;
        // `dims` may be an integer n, meaning [n], as in inference inputs (TCM §9.2).
        let dims = match obj.get("dims").or_else(|| obj.get("shape")) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Number(n)) => vec![n.as_i64().ok_or_else(bad)?],
            Some(Value::Array(ds)) => ds
                .iter()
                .map(|d| d.as_i64().ok_or_else(bad))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(bad()),
        };
        Ok(Self {
            name: name.to_owned(),
            type_name: type_name.to_owned(),
            dims,
        })
    }
}

/// The virtual machine `create_vm` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CreatedVm {
    /// The VM's address.
    pub vm_ip: String,
    /// The VM's OpenStack id, which later actions name.
    pub vm_id: String,
}

impl CreatedVm {
    fn parse(data: &Value) -> Result<Self, ShapeError> {
        match data.as_array().map(Vec::as_slice) {
            Some([Value::String(ip), Value::String(id)]) => Ok(Self {
                vm_ip: ip.clone(),
                vm_id: id.clone(),
            }),
            _ => Err(ShapeError::new("create_vm", "a list [vm_ip, vm_id]")),
        }
    }
}

/// What `deletion` tore down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Deletion {
    /// The deleted VM.
    pub vm_id: String,
    /// The deleted container, when one was named.
    pub container_id: Option<String>,
}

impl Deletion {
    fn parse(data: &Value) -> Result<Self, ShapeError> {
        let obj = data
            .as_object()
            .ok_or_else(|| ShapeError::new("deletion", "an object {vm_id, container_id}"))?;
        Ok(Self {
            vm_id: optional_string("deletion", obj, "vm_id")?
                .ok_or_else(|| ShapeError::new("deletion", "a string `vm_id`"))?,
            container_id: optional_string("deletion", obj, "container_id")?,
        })
    }
}

fn optional_string(
    action: &str,
    obj: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ShapeError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ShapeError::new(action, format!("`{key}` to be a string"))),
    }
}

/// A successful reply whose `data` does not have its action's documented shape. The data
/// stays readable through [`ManagementReply::data`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected `{action}` result: expected {expected}")]
pub struct ShapeError {
    /// The action.
    pub action: String,
    /// What the data should have been.
    pub expected: String,
}

impl ShapeError {
    fn new(action: &str, expected: impl Into<String>) -> Self {
        Self {
            action: action.to_owned(),
            expected: expected.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn creation_data_becomes_a_model_endpoint_with_typed_tensors() {
        let data = json!({
            "vm_ip": "192.0.2.10", "container_id": "abc123", "model_name": "resnet",
            "inputs": [{"name": "INPUT__0", "type": "TYPE_FP32", "dims": [-1, 3, 224, 224]}],
            "outputs": [{"name": "OUTPUT__0", "type": "TYPE_FP32", "dims": 1000}]
        });
        let Ok(ManagementResult::Model(m)) = ManagementResult::parse("creation", &data) else {
            panic!("typed");
        };
        assert_eq!(m.vm_ip.as_deref(), Some("192.0.2.10"));
        assert_eq!(m.container_id.as_deref(), Some("abc123"));
        assert_eq!(m.model_name, "resnet");
        assert_eq!(m.inputs[0].dims, [-1, 3, 224, 224]);
        assert_eq!(m.inputs[0].datatype(), Some(DataType::Fp32));
        assert_eq!(m.outputs[0].dims, [1000]);
        // Serialised, the endpoint keeps the server's key names.
        assert_eq!(
            serde_json::to_value(&m).unwrap()["inputs"][0]["type"],
            "TYPE_FP32"
        );
    }

    #[test]
    fn create_server_data_has_no_address() {
        let data = json!({"model_name": "m", "inputs": [], "outputs": []});
        let reply = ManagementReply::new("create_server", data.clone());
        let Ok(ManagementResult::Model(m)) = reply.result() else {
            panic!("typed");
        };
        assert_eq!((m.vm_ip, m.container_id), (None, None));
        assert_eq!(reply.into_data(), data);
    }

    #[test]
    fn create_vm_and_deletion_are_typed() {
        assert_eq!(
            ManagementResult::parse("create_vm", &json!(["10.0.0.5", "vm-9"])),
            Ok(ManagementResult::Vm(CreatedVm {
                vm_ip: "10.0.0.5".into(),
                vm_id: "vm-9".into()
            }))
        );
        assert_eq!(
            ManagementResult::parse("deletion", &json!({"vm_id": "v", "container_id": "c"})),
            Ok(ManagementResult::Deleted(Deletion {
                vm_id: "v".into(),
                container_id: Some("c".into())
            }))
        );
    }

    #[test]
    fn other_actions_stay_untyped() {
        for (action, data) in [
            ("delete_vm", Value::Null),
            (
                "delete_server",
                json!({"action": "delete_server", "vm_id": "v"}),
            ),
        ] {
            assert_eq!(
                ManagementResult::parse(action, &data),
                Ok(ManagementResult::Untyped(data.clone()))
            );
        }
    }

    #[test]
    fn unexpected_shapes_are_typed_errors() {
        for (action, data) in [
            ("creation", json!("text")),
            ("creation", json!({"vm_ip": "x"})),
            (
                "creation",
                json!({"model_name": "m", "inputs": [{"name": "I"}]}),
            ),
            (
                "creation",
                json!({"model_name": "m", "inputs": [{"name": "I", "type": "TYPE_FP32", "dims": ["a"]}]}),
            ),
            ("creation", json!({"model_name": 5})),
            ("create_server", json!({"model_name": "m", "outputs": {}})),
            ("create_vm", json!(["only-ip"])),
            ("create_vm", json!({"vm_ip": "x", "vm_id": "y"})),
            ("deletion", json!({"container_id": "c"})),
            ("deletion", json!(null)),
        ] {
            let e = ManagementResult::parse(action, &data).expect_err(&data.to_string());
            assert_eq!(e.action, action);
            assert!(e.to_string().starts_with("unexpected"), "{e}");
        }
    }
}
