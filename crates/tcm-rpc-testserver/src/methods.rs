//! The 15 client → server methods (Tellurio §7) over the session [`Registry`], each returning
//! its result and the default script of server → client calls that precedes it (§7.1).

use serde_json::{Map, Value, json};
use tcm_proto::jsonrpc::RpcError;
use tcm_proto::jsonrpc::message::INVALID_PARAMS;

use crate::functions;
use crate::log::CallReply;
use crate::registry::{Model, Optimizer, Registry, Variable, uuid4, variable_ref, variable_refs};
use crate::script::ScriptStep;

/// The client → server methods this server implements.
pub const CLIENT_METHODS: [&str; 15] = [
    "create_variable",
    "update_variable",
    "append_grad",
    "get_variable",
    "run_function",
    "get_backprop_ids",
    "run_backward",
    "create_model",
    "clear_model_usage",
    "set_model_singleton",
    "create_optimizer",
    "clear_grad",
    "run_step",
    "add_param_group",
    "run_optimizer_tgd",
];

/// A method's outcome: the result to reply with and the calls to make before replying. When
/// the result depends on the client's replies to those calls (an evaluator's `run_callable`),
/// `then` computes the next stage from them instead, and `result` is not used.
#[derive(Debug)]
pub(crate) struct Handled {
    pub(crate) result: Value,
    pub(crate) script: Vec<ScriptStep>,
    pub(crate) then: Option<Then>,
}

impl Handled {
    pub(crate) fn reply(result: Value) -> Self {
        Self {
            result,
            script: Vec::new(),
            then: None,
        }
    }

    /// The result after `script`.
    pub(crate) fn after(script: Vec<ScriptStep>, result: Value) -> Self {
        Self {
            result,
            script,
            then: None,
        }
    }

    /// `script`, then `next` with the replies to its calls.
    pub(crate) fn then(
        script: Vec<ScriptStep>,
        next: impl FnOnce(&mut Registry, &[CallReply]) -> Result<Handled, RpcError> + Send + 'static,
    ) -> Self {
        Self {
            result: Value::Null,
            script,
            then: Some(Then(Box::new(next))),
        }
    }
}

/// The next stage of a method: given the registry and the client's replies to the calls of the
/// previous stage's script (in order), the next [`Handled`].
pub(crate) struct Then(
    #[allow(clippy::type_complexity)]
    Box<dyn FnOnce(&mut Registry, &[CallReply]) -> Result<Handled, RpcError> + Send>,
);

impl Then {
    pub(crate) fn run(
        self,
        reg: &mut Registry,
        replies: &[CallReply],
    ) -> Result<Handled, RpcError> {
        (self.0)(reg, replies)
    }
}

impl std::fmt::Debug for Then {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Then(..)")
    }
}

/// Checks `params.run_uuid`: absent or `null` is −32602 `Missing key: 'run_uuid'`, any other
/// non-string value −32602 too (the dispatcher's answer for bad params).
pub(crate) fn check_run_uuid(params: &Value) -> Result<(), RpcError> {
    match params.get("run_uuid") {
        None | Some(Value::Null) => Err(RpcError::missing_key("run_uuid")),
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err(RpcError::with_data(
            INVALID_PARAMS,
            "Invalid params: 'run_uuid' must be a string.",
            json!({"invalid_key": "run_uuid"}),
        )),
    }
}

/// Runs `method` on the registry. `Err` carries the JSON-RPC error to send: −32601 for an
/// unknown method, −32602 for a missing param, −32603 with `data.exception` otherwise.
pub(crate) fn handle(
    reg: &mut Registry,
    method: &str,
    params: &Value,
) -> Result<Handled, RpcError> {
    if !CLIENT_METHODS.contains(&method) {
        return Err(RpcError::method_not_found(method));
    }
    check_run_uuid(params)?;
    let p = Params(params);
    match method {
        "create_variable" => create_variable(reg, p),
        "update_variable" => update_variable(reg, p),
        "append_grad" => append_grad(reg, p),
        "get_variable" => get_variable(reg, p),
        "run_function" => run_function(reg, p),
        "get_backprop_ids" => get_backprop_ids(reg, p),
        "run_backward" => run_backward(reg, p),
        "create_model" => create_model(reg, p),
        "clear_model_usage" => clear_model_usage(reg, p),
        "set_model_singleton" => set_model_singleton(reg, p),
        "create_optimizer" => create_optimizer(reg, p),
        "clear_grad" => clear_grad(reg, p),
        "run_step" => run_step(reg, p),
        "add_param_group" => add_param_group(reg, p),
        _ => run_optimizer_tgd(reg, p),
    }
}

#[derive(Clone, Copy)]
struct Params<'a>(&'a Value);

impl<'a> Params<'a> {
    fn req(self, key: &str) -> Result<&'a Value, RpcError> {
        self.0.get(key).ok_or_else(|| RpcError::missing_key(key))
    }

    fn opt(self, key: &str) -> Option<&'a Value> {
        self.0.get(key).filter(|v| !v.is_null())
    }

    fn string(self, key: &str) -> Result<&'a str, RpcError> {
        self.req(key)?
            .as_str()
            .ok_or_else(|| internal(format!("'{key}' must be a string.")))
    }
}

pub(crate) fn internal(text: impl Into<String>) -> RpcError {
    RpcError::internal(text)
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
        _ => false,
    }
}

fn known_refs(reg: &Registry, v: &Value) -> Result<Vec<String>, RpcError> {
    let ids = variable_refs(v);
    for id in &ids {
        reg.variable(id).map_err(internal)?;
    }
    Ok(ids)
}

fn create_variable(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let data = p.req("data")?.clone();
    let role = p.req("role")?.clone();
    let requires_grad = truthy(Some(p.req("requires_grad")?));
    let mut v = Variable::leaf(data, role, requires_grad);
    if let Some(t) = p.opt("obj_type").and_then(Value::as_str) {
        v.obj_type = t.to_string();
    }
    let id = reg.add_variable(v);
    Ok(Handled::reply(
        json!({"variable_id": id, "message": "Variable created successfully."}),
    ))
}

fn update_variable(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.string("variable_id")?;
    let field = p.string("field")?;
    let value = p.req("value")?;
    if field == "_grad_fn" {
        if let Some(node) = value.as_str() {
            if !reg.nodes.contains_key(node) {
                return Err(internal(format!(
                    "Node with id '{node}' not found in registry when updating _grad_fn for variable '{id}'."
                )));
            }
        }
    }
    let grads = if field == "_grad" {
        known_refs(reg, value)?
    } else {
        Vec::new()
    };
    let v = reg.variable_mut(id).map_err(internal)?;
    match field {
        "data" | "_data" => v.data = value.clone(),
        "role" => v.role = value.clone(),
        "requires_grad" => v.requires_grad = truthy(Some(value)),
        "_retain_grad" => v.retain_grad = truthy(Some(value)),
        "is_leaf" => v.is_leaf = truthy(Some(value)),
        "_output_nr" => v.output_nr = value.as_i64().unwrap_or(0),
        "_grad_fn" => v.grad_fn = value.as_str().map(String::from),
        "_grad" => v.grad = grads,
        other => {
            v.extra.insert(other.to_string(), value.clone());
        }
    }
    Ok(Handled::reply(
        json!({"variable_id": id, "field": field, "value": value}),
    ))
}

fn append_grad(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.string("variable_id")?;
    let gradient = p.req("gradient")?;
    reg.variable(id).map_err(internal)?;
    let gradient_id = match variable_refs(gradient).first() {
        Some(g) => {
            reg.variable(g).map_err(internal)?;
            g.clone()
        }
        None => {
            let data = gradient.get("data").cloned().unwrap_or(Value::Null);
            let role = gradient.get("role").cloned().unwrap_or(Value::Null);
            let rg = truthy(gradient.get("requires_grad"));
            reg.add_variable(Variable::leaf(data, role, rg))
        }
    };
    reg.variable_mut(id)
        .map_err(internal)?
        .grad
        .push(gradient_id.clone());
    Ok(Handled::reply(
        json!({"variable_id": id, "gradient_id": gradient_id}),
    ))
}

fn get_variable(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.string("variable_id")?;
    let v = reg.variable(id).map_err(internal)?;
    let mut out = v.to_json(id);
    if let Value::Object(o) = &mut out {
        o.insert("obj_type".into(), v.obj_type.clone().into());
    }
    Ok(Handled::reply(out))
}

fn run_function(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let name = p.string("function_name")?;
    let grad_enabled = p.opt("grad_enabled").is_none_or(|v| truthy(Some(v)));
    let args = p.opt("args").cloned().unwrap_or_else(|| json!([]));
    let kwargs = p.opt("kwargs").cloned().unwrap_or_else(|| json!({}));
    let inputs = known_refs(reg, &json!([args, kwargs]))?;
    functions::run(reg, name, grad_enabled, &args, &kwargs, inputs)
}

fn get_backprop_ids(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let roots = known_refs(reg, p.req("variables")?)?;
    Ok(Handled::reply(
        json!({"variable_ids": reg.backprop_ids(&roots)}),
    ))
}

fn run_backward(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let roots = known_refs(reg, p.req("variables")?)?;
    let targets = match p.opt("inputs") {
        Some(inputs) if !variable_refs(inputs).is_empty() => known_refs(reg, inputs)?,
        _ => reg.backprop_ids(&roots),
    };
    let mut script = Vec::new();
    for id in &targets {
        let role = reg
            .variables
            .get(id)
            .and_then(|v| v.role.as_str().map(String::from))
            .unwrap_or_default();
        let gradient = json!({"data": "feedback", "role": format!("feedback to {role}"), "requires_grad": false});
        let gid = reg.add_variable(Variable::leaf(
            gradient["data"].clone(),
            gradient["role"].clone(),
            false,
        ));
        reg.variable_mut(id)
            .map_err(internal)?
            .grad
            .push(gid.clone());
        script.push(ScriptStep::call(
            "append_grad",
            json!({"variable_id": id, "gradient_id": gid, "gradient": gradient}),
        ));
    }
    script.push(ScriptStep::call(
        "clear_backward",
        json!({"variable_ids": targets}),
    ));
    Ok(Handled::after(
        script,
        json!({"message": "Backward pass executed successfully."}),
    ))
}

fn create_model(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let model = Model {
        class_type: p.req("class_type")?.clone(),
        provider: p.req("provider")?.clone(),
        usage: p.opt("usage").cloned().unwrap_or_else(|| json!({})),
    };
    let id = uuid4();
    reg.models.insert(id.clone(), model);
    Ok(Handled::reply(json!({"model_id": id})))
}

fn model_not_found(id: &str) -> RpcError {
    internal(format!("Model with id '{id}' not found in registry."))
}

fn clear_model_usage(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.string("model_id")?;
    let m = reg.models.get_mut(id).ok_or_else(|| model_not_found(id))?;
    m.usage = json!({});
    Ok(Handled::reply(json!({"model_id": id})))
}

fn set_model_singleton(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.req("model_id")?;
    let name = p.req("model_name")?;
    p.req("client_args")?;
    let completion_args = p.req("completion_args")?;
    if let Some(s) = id.as_str() {
        reg.models.entry(s.to_string()).or_insert_with(|| Model {
            class_type: name.clone(),
            provider: Value::Null,
            usage: json!({}),
        });
    }
    Ok(Handled::reply(
        json!({"model_id": id, "completion_args": completion_args}),
    ))
}

fn is_group(v: &Value) -> bool {
    v.get("params").is_some() && v.get("__variable__").is_none() && v.get("__parameter__").is_none()
}

/// One param group: the defaults, overridden by the group's own keys, with `params` as refs.
fn param_group(reg: &Registry, defaults: &Value, group: &Value) -> Result<Value, RpcError> {
    let mut out = defaults.as_object().cloned().unwrap_or_default();
    let params = match group {
        Value::Object(g) if is_group(group) => {
            for (k, v) in g {
                if k != "params" {
                    out.insert(k.clone(), v.clone());
                }
            }
            g.get("params").cloned().unwrap_or(Value::Null)
        }
        other => other.clone(),
    };
    let ids = known_refs(reg, &params)?;
    let refs: Vec<Value> = ids.iter().map(|id| variable_ref(id)).collect();
    out.insert("params".into(), Value::Array(refs));
    Ok(Value::Object(out))
}

/// `params` of `create_optimizer`: a list of refs (one group) or a list of group objects.
fn group_list(params: &Value) -> Vec<Value> {
    match params {
        Value::Array(items) if !items.is_empty() && items.iter().all(is_group) => items.clone(),
        other => vec![other.clone()],
    }
}

fn create_optimizer(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let name = p.req("optimizer_name")?.clone();
    let params = p.req("params")?;
    let defaults = p.req("defaults")?.clone();
    let groups = group_list(params)
        .iter()
        .map(|g| param_group(reg, &defaults, g))
        .collect::<Result<Vec<_>, _>>()?;
    let id = uuid4();
    reg.optimizers.insert(
        id.clone(),
        Optimizer {
            name,
            defaults: defaults.clone(),
            param_groups: groups.clone(),
            state: Vec::new(),
        },
    );
    Ok(Handled::reply(json!({
        "optimizer_id": id,
        "defaults": defaults,
        "state": [],
        "param_groups": groups,
    })))
}

fn optimizer<'r>(reg: &'r mut Registry, id: &str) -> Result<&'r mut Optimizer, RpcError> {
    reg.optimizers
        .get_mut(id)
        .ok_or_else(|| internal(format!("Optimizer with id '{id}' not found in registry.")))
}

/// The parameters of the groups: the refs in each group's `params` (other keys, such as TGD's
/// `messages`, hold variables that are not optimized).
fn group_params(groups: &[Value]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| variable_refs(g.get("params").unwrap_or(&Value::Null)))
        .collect()
}

fn clear_grad(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.string("optimizer_id")?;
    let opt = optimizer(reg, id)?;
    let params = group_params(&opt.param_groups);
    for pid in params {
        if let Some(v) = reg.variables.get_mut(&pid) {
            v.grad.clear();
        }
    }
    Ok(Handled::reply(
        json!({"message": "Gradients cleared successfully."}),
    ))
}

fn improved(data: &Value) -> Value {
    match data {
        Value::String(s) => Value::String(format!("{s} (improved)")),
        other => other.clone(),
    }
}

fn momentum_of(v: Option<&Value>) -> f64 {
    v.and_then(Value::as_f64).unwrap_or(0.0)
}

/// Copies a variable for a momentum buffer: registers the copy and scripts its creation.
fn copy_variable(reg: &mut Registry, id: &str, script: &mut Vec<ScriptStep>) -> Option<String> {
    let src = reg.variables.get(id)?.clone();
    let copy = Variable::leaf(src.data.clone(), src.role.clone(), false);
    let cid = reg.add_variable(copy.clone());
    let mut params = copy.to_json(&cid);
    if let Value::Object(o) = &mut params {
        o.insert("obj_type".into(), "__variable__".into());
    }
    script.push(ScriptStep::call("create_variable", params));
    Some(cid)
}

/// The momentum pair `[paramRef, [gradRefs]]` of copies of `param` and its grads.
fn momentum_pair(
    reg: &mut Registry,
    param: &str,
    grads: &[String],
    script: &mut Vec<ScriptStep>,
) -> Value {
    let p = copy_variable(reg, param, script).unwrap_or_else(|| param.to_string());
    let g: Vec<Value> = grads
        .iter()
        .filter_map(|g| copy_variable(reg, g, script))
        .map(|g| variable_ref(&g))
        .collect();
    json!([variable_ref(&p), g])
}

/// Adds a step's token usage to the model a `{"__model_client__": true, "model_id": ...}`
/// reference names, if it is known, and scripts the `update_model` of its `_usage`.
fn bill_model(reg: &mut Registry, model_client: Option<&Value>, script: &mut Vec<ScriptStep>) {
    let Some(mid) = model_client
        .and_then(|m| m.get("model_id"))
        .and_then(Value::as_str)
    else {
        return;
    };
    let Some(m) = reg.models.get_mut(mid) else {
        return;
    };
    let mut usage: Map<String, Value> = m.usage.as_object().cloned().unwrap_or_default();
    for (k, add) in [
        ("prompt_tokens", 10),
        ("completion_tokens", 5),
        ("total_tokens", 15),
    ] {
        let now = usage.get(k).and_then(Value::as_i64).unwrap_or(0);
        usage.insert(k.into(), json!(now + add));
    }
    m.usage = Value::Object(usage);
    script.push(ScriptStep::call(
        "update_model",
        json!({"model_id": mid, "field": "_usage", "value": m.usage}),
    ));
}

/// Scripts the data update of each param, then `clear_step`.
fn step_params(reg: &mut Registry, params: &[String], script: &mut Vec<ScriptStep>) {
    for pid in params {
        if let Some(v) = reg.variables.get_mut(pid) {
            v.data = improved(&v.data);
            script.push(ScriptStep::call(
                "update_variable",
                json!({"variable_id": pid, "field": "data", "value": v.data}),
            ));
        }
    }
    script.push(ScriptStep::call(
        "clear_step",
        json!({"variable_ids": params}),
    ));
}

fn run_step(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.string("optimizer_id")?.to_string();
    let opt = optimizer(reg, &id)?.clone();
    let params = group_params(&opt.param_groups);
    let momentum = momentum_of(opt.defaults.get("momentum"));
    let mut script = Vec::new();
    let mut state = opt.state.clone();
    if momentum > 0.0 {
        for pid in &params {
            let grads = reg
                .variables
                .get(pid)
                .map(|v| v.grad.clone())
                .unwrap_or_default();
            let pair = momentum_pair(reg, pid, &grads, &mut script);
            let key = variable_ref(pid);
            match state.iter_mut().find(|e| e.get("key") == Some(&key)) {
                Some(entry) => {
                    if let Some(Value::Array(buf)) = entry
                        .get_mut("value")
                        .and_then(|v| v.get_mut("momentum_buffer"))
                    {
                        buf.push(pair);
                    }
                }
                None => state.push(json!({"key": key, "value": {"momentum_buffer": [pair]}})),
            }
        }
    }
    bill_model(reg, opt.defaults.get("model_client"), &mut script);
    step_params(reg, &params, &mut script);
    optimizer(reg, &id)?.state = state.clone();
    Ok(Handled::after(
        script,
        json!({"message": "Optimizer step executed successfully.", "state": state}),
    ))
}

fn add_param_group(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let id = p.string("optimizer_id")?.to_string();
    let group = p.req("param_group")?;
    let defaults = optimizer(reg, &id)?.defaults.clone();
    let group = param_group(reg, &defaults, group)?;
    optimizer(reg, &id)?.param_groups.push(group.clone());
    Ok(Handled::reply(json!({"param_group": group})))
}

fn run_optimizer_tgd(reg: &mut Registry, p: Params<'_>) -> Result<Handled, RpcError> {
    let params = known_refs(reg, p.req("params")?)?;
    let grads: Vec<Vec<String>> = match p.opt("grads") {
        Some(Value::Array(per_param)) => per_param.iter().map(variable_refs).collect(),
        _ => params
            .iter()
            .map(|id| {
                reg.variables
                    .get(id)
                    .map(|v| v.grad.clone())
                    .unwrap_or_default()
            })
            .collect(),
    };
    let momentum = momentum_of(p.opt("momentum"));
    let mut buffers: Vec<Value> = match p.opt("momentum_buffer_list") {
        Some(Value::Array(b)) => b.clone(),
        _ => Vec::new(),
    };
    buffers.resize(params.len().max(buffers.len()), json!([]));
    let mut script = Vec::new();
    if momentum > 0.0 {
        for (i, pid) in params.iter().enumerate() {
            let g = grads.get(i).cloned().unwrap_or_default();
            let pair = momentum_pair(reg, pid, &g, &mut script);
            if let Some(Value::Array(buf)) = buffers.get_mut(i) {
                buf.push(pair);
            }
        }
    }
    bill_model(reg, p.opt("model_client"), &mut script);
    step_params(reg, &params, &mut script);
    Ok(Handled::after(
        script,
        json!({
            "message": "Functional TGD optimization step executed successfully.",
            "momentum_buffer_list": buffers,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUN: &str = "00000000-0000-4000-8000-000000000001";

    fn call(reg: &mut Registry, method: &str, mut params: Value) -> Result<Handled, RpcError> {
        params["run_uuid"] = json!(RUN);
        handle(reg, method, &params)
    }

    #[test]
    fn unknown_methods_win_over_a_missing_run_uuid() {
        let e = handle(&mut Registry::default(), "nope", &json!({})).unwrap_err();
        assert_eq!(e, RpcError::method_not_found("nope"));
        let e = handle(&mut Registry::default(), "create_variable", &json!({})).unwrap_err();
        assert_eq!(e, RpcError::missing_key("run_uuid"));
    }

    #[test]
    fn a_forward_and_backward_pass_reach_the_leaf() {
        let mut r = Registry::default();
        let a = call(
            &mut r,
            "create_variable",
            json!({"data": "a", "role": "x", "requires_grad": true}),
        )
        .unwrap();
        let a = a.result["variable_id"].as_str().unwrap().to_string();
        let out = call(&mut r, "run_function", json!({"function_name": "Add", "grad_enabled": true, "args": [variable_ref(&a)], "kwargs": {}})).unwrap();
        assert_eq!(
            out.script[0],
            ScriptStep::call(
                "create_node",
                json!({"node_id": out.result["data"]["_grad_fn"], "name": "AddBackward0"})
            )
        );
        let o = out.result["data"]["variable_id"]
            .as_str()
            .unwrap()
            .to_string();
        let ids = call(
            &mut r,
            "get_backprop_ids",
            json!({"variables": variable_ref(&o)}),
        )
        .unwrap();
        assert_eq!(ids.result, json!({"variable_ids": [a]}));
        let back = call(
            &mut r,
            "run_backward",
            json!({"variables": variable_ref(&o)}),
        )
        .unwrap();
        assert_eq!(back.script.len(), 2);
    }
}
