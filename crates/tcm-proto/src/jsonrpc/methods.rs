//! Typed params of the ten server → client methods, and builders for client → server calls
//! (Tellurio §6, §7).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::message::{INVALID_PARAMS, RpcError};

/// `heartbeat`: refreshes the deadline of the client call `id`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Heartbeat {
    /// The client request id.
    pub id: String,
}

/// `create_variable`: create and register a Variable or Parameter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CreateVariable {
    /// The server's id for it.
    pub variable_id: String,
    /// `__variable__` or `__parameter__`.
    #[serde(default)]
    pub obj_type: Option<String>,
    /// The data.
    pub data: Value,
    /// The role text.
    #[serde(default)]
    pub role: Option<String>,
    /// Whether it requires gradients.
    #[serde(default)]
    pub requires_grad: bool,
    /// Whether to retain gradients.
    #[serde(default, rename = "_retain_grad")]
    pub retain_grad: bool,
    /// Gradient references.
    #[serde(default, rename = "_grad")]
    pub grad: Vec<Value>,
    /// Output number.
    #[serde(default, rename = "_output_nr")]
    pub output_nr: i64,
    /// The producing node id.
    #[serde(default, rename = "_grad_fn")]
    pub grad_fn: Option<String>,
    /// Whether it is a leaf.
    #[serde(default)]
    pub is_leaf: Option<bool>,
}

/// `update_variable`: set one field of a variable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UpdateVariable {
    /// The variable.
    pub variable_id: String,
    /// The field, e.g. `data`, `_grad`, `_grad_fn`.
    pub field: String,
    /// The new value.
    pub value: Value,
}

/// `append_grad`: append a gradient to a variable.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AppendGrad {
    /// The variable.
    pub variable_id: String,
    /// Id to register the gradient under.
    pub gradient_id: String,
    /// `{data, role, requires_grad}`.
    pub gradient: Value,
}

/// `create_node`: create a graph node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CreateNode {
    /// The node id.
    pub node_id: String,
    /// The node name, e.g. `AddBackward`.
    pub name: String,
}

/// `create_edge`: connect two nodes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CreateEdge {
    /// From node.
    pub from_node_id: String,
    /// To node (may be null).
    pub to_node_id: Option<String>,
    /// Output number.
    pub output_nr: i64,
}

/// `update_model`: set an attribute of a registered model.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UpdateModel {
    /// The model.
    pub model_id: String,
    /// The field, e.g. `_usage`.
    pub field: String,
    /// The new value.
    pub value: Value,
}

/// `run_callable`: call a user function registered under `callable_id`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunCallable {
    /// The callable.
    pub callable_id: String,
    /// Positional arguments.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Keyword arguments.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
}

/// `clear_backward` / `clear_step`: clear the pending flags of variables.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClearVariables {
    /// The variables.
    pub variable_ids: Vec<String>,
}

/// A server → client call with typed params.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMethod {
    /// `heartbeat`
    Heartbeat(Heartbeat),
    /// `create_variable`
    CreateVariable(CreateVariable),
    /// `update_variable`
    UpdateVariable(UpdateVariable),
    /// `append_grad`
    AppendGrad(AppendGrad),
    /// `create_node`
    CreateNode(CreateNode),
    /// `create_edge`
    CreateEdge(CreateEdge),
    /// `update_model`
    UpdateModel(UpdateModel),
    /// `run_callable`
    RunCallable(RunCallable),
    /// `clear_backward`
    ClearBackward(ClearVariables),
    /// `clear_step`
    ClearStep(ClearVariables),
}

/// The names of the server → client methods this client understands.
pub const SERVER_METHODS: [&str; 10] = [
    "heartbeat",
    "create_variable",
    "update_variable",
    "append_grad",
    "create_node",
    "create_edge",
    "update_model",
    "run_callable",
    "clear_backward",
    "clear_step",
];

fn typed<T: for<'de> Deserialize<'de>>(params: &Value) -> Result<T, RpcError> {
    T::deserialize(params).map_err(|e| {
        let text = e.to_string();
        // serde_json says "missing field `name`".
        match text
            .strip_prefix("missing field `")
            .and_then(|r| r.split_once('`'))
        {
            Some((key, _)) => RpcError::missing_key(key),
            None => RpcError::with_data(
                INVALID_PARAMS,
                format!("Invalid params: {text}"),
                json!({ "error": text }),
            ),
        }
    })
}

impl ServerMethod {
    /// Parses a server call. `Ok(None)` for an unknown method; `Err` with -32602 when a required
    /// param is missing or mistyped.
    pub fn parse(method: &str, params: &Value) -> Result<Option<Self>, RpcError> {
        Ok(Some(match method {
            "heartbeat" => Self::Heartbeat(typed(params)?),
            "create_variable" => Self::CreateVariable(typed(params)?),
            "update_variable" => Self::UpdateVariable(typed(params)?),
            "append_grad" => Self::AppendGrad(typed(params)?),
            "create_node" => Self::CreateNode(typed(params)?),
            "create_edge" => Self::CreateEdge(typed(params)?),
            "update_model" => Self::UpdateModel(typed(params)?),
            "run_callable" => Self::RunCallable(typed(params)?),
            "clear_backward" => Self::ClearBackward(typed(params)?),
            "clear_step" => Self::ClearStep(typed(params)?),
            _ => return Ok(None),
        }))
    }

    /// The method name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Heartbeat(_) => "heartbeat",
            Self::CreateVariable(_) => "create_variable",
            Self::UpdateVariable(_) => "update_variable",
            Self::AppendGrad(_) => "append_grad",
            Self::CreateNode(_) => "create_node",
            Self::CreateEdge(_) => "create_edge",
            Self::UpdateModel(_) => "update_model",
            Self::RunCallable(_) => "run_callable",
            Self::ClearBackward(_) => "clear_backward",
            Self::ClearStep(_) => "clear_step",
        }
    }
}

/// The result most server methods reply with: `{"message":"Ok"}`.
pub fn ok_result() -> Value {
    json!({ "message": "Ok" })
}

/// A client → server call: a method and named params (`run_uuid` is added when sent).
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// The method.
    pub method: String,
    /// Named params.
    pub params: Map<String, Value>,
}

impl Call {
    /// A call with arbitrary params.
    pub fn new(method: impl Into<String>, params: Value) -> Self {
        let params = match params {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Self {
            method: method.into(),
            params,
        }
    }

    /// `create_variable`.
    pub fn create_variable(data: Value, role: &str, requires_grad: bool) -> Self {
        Self::new(
            "create_variable",
            json!({"data": data, "role": role, "requires_grad": requires_grad, "obj_type": "__variable__"}),
        )
    }

    /// `update_variable`.
    pub fn update_variable(variable_id: &str, field: &str, value: Value) -> Self {
        Self::new(
            "update_variable",
            json!({"variable_id": variable_id, "field": field, "value": value}),
        )
    }

    /// `run_function` (long-running).
    pub fn run_function(
        function_name: &str,
        grad_enabled: bool,
        args: Value,
        kwargs: Value,
    ) -> Self {
        Self::new(
            "run_function",
            json!({"function_name": function_name, "grad_enabled": grad_enabled, "args": args, "kwargs": kwargs}),
        )
    }

    /// `run_backward` (long-running).
    pub fn run_backward(
        variables: Value,
        grad_variables: Value,
        retain_graph: bool,
        create_graph: bool,
        inputs: Value,
    ) -> Self {
        Self::new(
            "run_backward",
            json!({"variables": variables, "grad_variables": grad_variables, "retain_graph": retain_graph, "create_graph": create_graph, "inputs": inputs}),
        )
    }

    /// `run_step` (long-running).
    pub fn run_step(optimizer_id: &str) -> Self {
        Self::new("run_step", json!({"optimizer_id": optimizer_id}))
    }

    /// `get_backprop_ids`.
    pub fn get_backprop_ids(variables: Value) -> Self {
        Self::new("get_backprop_ids", json!({"variables": variables}))
    }

    /// `create_model`. The provider config may hold an API key: never log these params.
    pub fn create_model(class_type: &str, provider: &str, config: Value, usage: Value) -> Self {
        Self::new(
            "create_model",
            json!({"class_type": class_type, "provider": provider, "config": config, "usage": usage}),
        )
    }

    /// `create_optimizer`.
    pub fn create_optimizer(optimizer_name: &str, params: Value, defaults: Value) -> Self {
        Self::new(
            "create_optimizer",
            json!({"optimizer_name": optimizer_name, "params": params, "defaults": defaults}),
        )
    }

    /// `clear_grad`.
    pub fn clear_grad(optimizer_id: &str) -> Self {
        Self::new("clear_grad", json!({"optimizer_id": optimizer_id}))
    }

    /// `append_grad`: `gradient` is a variable reference (see [`variable_ref`]).
    pub fn append_grad(variable_id: &str, gradient: Value) -> Self {
        Self::new(
            "append_grad",
            json!({"variable_id": variable_id, "gradient": gradient}),
        )
    }

    /// `get_variable`.
    pub fn get_variable(variable_id: &str) -> Self {
        Self::new("get_variable", json!({"variable_id": variable_id}))
    }

    /// `clear_model_usage`.
    pub fn clear_model_usage(model_id: &str) -> Self {
        Self::new("clear_model_usage", json!({"model_id": model_id}))
    }

    /// `set_model_singleton`. `client_args` may hold a provider key: never log these params.
    pub fn set_model_singleton(
        model_id: &str,
        model_name: &str,
        client_args: Value,
        completion_args: Value,
    ) -> Self {
        Self::new(
            "set_model_singleton",
            json!({"model_id": model_id, "model_name": model_name, "client_args": client_args, "completion_args": completion_args}),
        )
    }

    /// `add_param_group`.
    pub fn add_param_group(optimizer_id: &str, messages: Value, param_group: Value) -> Self {
        Self::new(
            "add_param_group",
            json!({"optimizer_id": optimizer_id, "messages": messages, "param_group": param_group}),
        )
    }

    /// `run_optimizer_tgd` (long-running): the functional TGD step; `args` holds its named
    /// arguments (`params`, `grads`, `momentum_buffer_list`, `model_client`, `messages`,
    /// `inputs`, `constraints`, `momentum`, `completion_args`).
    pub fn run_optimizer_tgd(args: Value) -> Self {
        Self::new("run_optimizer_tgd", args)
    }
}

/// A serialised variable reference `{"__variable__": true, "variable_id": id}`.
pub fn variable_ref(id: &str) -> Value {
    json!({"__variable__": true, "variable_id": id})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_param_is_reported_once() {
        let e = ServerMethod::parse("create_node", &json!({"node_id": "n"})).unwrap_err();
        assert_eq!(e, RpcError::missing_key("name"));
        assert_eq!(e.message, "Missing key: 'name'");
    }

    #[test]
    fn run_callable_defaults_args_and_kwargs() {
        let Some(ServerMethod::RunCallable(c)) =
            ServerMethod::parse("run_callable", &json!({"callable_id": "c"})).unwrap()
        else {
            panic!()
        };
        assert!(c.args.is_empty() && c.kwargs.is_empty());
    }

    #[test]
    fn every_client_method_has_a_builder() {
        let calls = [
            Call::create_variable(json!("x"), "r", false),
            Call::update_variable("v", "data", json!("y")),
            Call::append_grad("v", variable_ref("g")),
            Call::get_variable("v"),
            Call::run_function("Add", true, json!([]), json!({})),
            Call::get_backprop_ids(json!([])),
            Call::run_backward(json!(null), json!(null), false, false, json!(null)),
            Call::create_model("c", "p", json!({}), json!({})),
            Call::clear_model_usage("m"),
            Call::set_model_singleton("m", "n", json!({}), json!({})),
            Call::create_optimizer("TGD", json!([]), json!({})),
            Call::clear_grad("o"),
            Call::run_step("o"),
            Call::add_param_group("o", json!([]), json!({})),
            Call::run_optimizer_tgd(json!({"momentum": 0})),
        ];
        let names: std::collections::HashSet<_> = calls.iter().map(|c| c.method.as_str()).collect();
        assert_eq!(
            names.len(),
            15,
            "the fifteen client methods of the protocol"
        );
    }

    #[test]
    fn unknown_methods_are_none() {
        assert_eq!(ServerMethod::parse("nope", &json!({})), Ok(None));
        for m in SERVER_METHODS {
            assert!(
                ServerMethod::parse(m, &json!({})).is_err(),
                "{m} has required params"
            );
        }
    }
}
