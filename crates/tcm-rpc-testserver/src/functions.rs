//! `run_function`: the forward pass of afnio's function kinds, and the backward graph of their
//! outputs as afnio documents it.
//!
//! - **Graph.** The outputs of function `F` share one node named `FBackward0` (as afnio's
//!   `SumBackward0`), numbered by `_output_nr`. The node gets one edge per input variable, in
//!   argument order: to the input's `_grad_fn` node; for a leaf that requires gradients, to that
//!   leaf's `AccumulateGrad` node (created once per leaf, the leaf's own `_grad_fn` stays
//!   `null`); otherwise to no node (`to_node_id: null`). Every node is sent with `create_node`
//!   before the edges that use it, and all of it before the reply.
//! - **Evaluators** (`DeterministicEvaluator`, `ExactMatchEvaluator`) return the pair
//!   `(score, explanation)`. `DeterministicEvaluator(prediction, target, eval_fn,
//!   eval_fn_purpose, success_fn, reduction_fn, reduction_fn_purpose)` (positional or by name)
//!   runs `eval_fn` through `run_callable` with `args: [prediction, target]` (the data, not
//!   the variables) once per sample: once for scalar data, once per pair for list data (a
//!   scalar target is paired with every prediction). Then `success_fn` with `args: [scores]`
//!   and, for list data, `reduction_fn` with `args: [scores]`; the score is the reduced value
//!   (list data without `reduction_fn`: the list of scores). `ExactMatchEvaluator(prediction,
//!   target, reduction_fn=sum, reduction_fn_purpose="summation")` scores 1 for equal data and 0
//!   otherwise on the server, and reduces with a `reduction_fn` callable when one is passed.
//!   A callable whose reply is not a result fails the request with −32603.
//! - **Other functions** (`Add`, `Sum`, `Split`, `ChatCompletion`, any name) return one
//!   variable: the inputs' data concatenated when all are text, else the list of their data,
//!   with their roles joined by " and ". afnio passes callables only to evaluators; callables in
//!   other functions' arguments are not run.

use serde_json::{Value, json};
use tcm_proto::jsonrpc::RpcError;

use crate::log::CallReply;
use crate::methods::{Handled, internal};
use crate::registry::{Node, Registry, Variable, uuid4};
use crate::script::ScriptStep;

/// Runs function `name` on `args`/`kwargs`, whose variable references are `inputs` (all
/// known).
pub(crate) fn run(
    reg: &mut Registry,
    name: &str,
    grad_enabled: bool,
    args: &Value,
    kwargs: &Value,
    inputs: Vec<String>,
) -> Result<Handled, RpcError> {
    let call = Call {
        name: name.to_string(),
        grad_enabled,
        args: args.as_array().cloned().unwrap_or_default(),
        kwargs: kwargs.clone(),
        inputs,
    };
    match name {
        "DeterministicEvaluator" => Evaluation::deterministic(reg, call).map(Evaluation::start),
        "ExactMatchEvaluator" => Evaluation::exact_match(reg, call).map(Evaluation::start),
        _ => Ok(plain(reg, &call)),
    }
}

/// One `run_function` request.
struct Call {
    name: String,
    grad_enabled: bool,
    args: Vec<Value>,
    kwargs: Value,
    inputs: Vec<String>,
}

impl Call {
    /// Argument `key` by name, else at `position`; `None` when not passed.
    fn arg(&self, position: usize, key: &str) -> Option<&Value> {
        self.kwargs.get(key).or_else(|| self.args.get(position))
    }
}

/// The variable id of a `__variable__`/`__parameter__` reference.
fn ref_id(v: &Value) -> Option<&str> {
    let tagged = v
        .get("__variable__")
        .is_some_and(|b| b == &Value::Bool(true))
        || v.get("__parameter__")
            .is_some_and(|b| b == &Value::Bool(true));
    if tagged {
        v.get("variable_id").and_then(Value::as_str)
    } else {
        None
    }
}

/// The callable id of a `__callable__` reference.
fn callable_id(v: Option<&Value>) -> Option<String> {
    let v = v?;
    if v.get("__callable__")
        .is_some_and(|b| b == &Value::Bool(true))
    {
        v.get("callable_id")
            .and_then(Value::as_str)
            .map(String::from)
    } else {
        None
    }
}

/// A variable reference's data, or the value itself.
fn data_of(reg: &Registry, v: &Value) -> Value {
    match ref_id(v).and_then(|id| reg.variables.get(id)) {
        Some(var) => var.data.clone(),
        None => v.clone(),
    }
}

/// Text as Python's `str()` shows it: strings bare, everything else as JSON.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Registers the outputs `(data, role)` of `call` and scripts their backward node and edges.
/// Returns the reply's `data` (one variable object, or a list for several outputs) and the
/// script.
fn finish_outputs(
    reg: &mut Registry,
    call: &Call,
    outputs: Vec<(Value, Value)>,
) -> (Value, Vec<ScriptStep>) {
    let requires_grad = call.grad_enabled
        && call
            .inputs
            .iter()
            .any(|id| reg.variables.get(id).is_some_and(|v| v.requires_grad));
    let mut script = Vec::new();
    let node = requires_grad.then(|| backward_node(reg, call, &mut script));
    let many = outputs.len() != 1;
    let mut objects = Vec::with_capacity(outputs.len());
    for (nr, (data, role)) in outputs.into_iter().enumerate() {
        let mut out = Variable::leaf(data, role, requires_grad);
        out.inputs = call.inputs.clone();
        out.output_nr = nr as i64;
        if let Some(node) = &node {
            out.grad_fn = Some(node.clone());
            out.is_leaf = false;
        }
        let id = reg.add_variable(out.clone());
        objects.push(out.to_json(&id));
    }
    let data = if many {
        Value::Array(objects)
    } else {
        objects.pop().unwrap_or(Value::Null)
    };
    (data, script)
}

/// Creates `<Name>Backward0` and its edges (see the module docs); returns its id.
fn backward_node(reg: &mut Registry, call: &Call, script: &mut Vec<ScriptStep>) -> String {
    let node_id = uuid4();
    let name = format!("{}Backward0", call.name);
    reg.nodes
        .insert(node_id.clone(), Node { name: name.clone() });
    script.push(ScriptStep::call(
        "create_node",
        json!({"node_id": node_id, "name": name}),
    ));
    let mut edges = Vec::with_capacity(call.inputs.len());
    for input in &call.inputs {
        let Some(v) = reg.variables.get(input) else {
            continue;
        };
        let edge = match (&v.grad_fn, v.requires_grad) {
            (Some(node), _) => (Value::String(node.clone()), v.output_nr),
            (None, true) => (Value::String(accumulator(reg, input, script)), 0),
            (None, false) => (Value::Null, 0),
        };
        edges.push(edge);
    }
    for (to, nr) in edges {
        script.push(ScriptStep::call(
            "create_edge",
            json!({"from_node_id": node_id, "to_node_id": to, "output_nr": nr}),
        ));
    }
    node_id
}

/// The `AccumulateGrad` node of leaf `id`, created (and scripted) on first use.
fn accumulator(reg: &mut Registry, id: &str, script: &mut Vec<ScriptStep>) -> String {
    if let Some(node) = reg.accumulators.get(id) {
        return node.clone();
    }
    let node_id = uuid4();
    reg.nodes.insert(
        node_id.clone(),
        Node {
            name: "AccumulateGrad".into(),
        },
    );
    reg.accumulators.insert(id.to_string(), node_id.clone());
    script.push(ScriptStep::call(
        "create_node",
        json!({"node_id": node_id, "name": "AccumulateGrad"}),
    ));
    node_id
}

/// A function that is not an evaluator: one output from its inputs.
fn plain(reg: &mut Registry, call: &Call) -> Handled {
    let ins: Vec<&Variable> = call
        .inputs
        .iter()
        .filter_map(|id| reg.variables.get(id))
        .collect();
    let data = if !ins.is_empty() && ins.iter().all(|v| v.data.is_string()) {
        Value::String(ins.iter().filter_map(|v| v.data.as_str()).collect())
    } else {
        Value::Array(ins.iter().map(|v| v.data.clone()).collect())
    };
    let roles: Vec<String> = ins.iter().map(|v| shown(&v.role)).collect();
    let role = if roles.is_empty() {
        format!("output of {}", call.name)
    } else {
        roles.join(" and ")
    };
    let (data, script) = finish_outputs(reg, call, vec![(data, Value::String(role))]);
    Handled::after(script, json!({ "data": data }))
}

/// How an evaluator aggregates the scores of list data.
enum Reduction {
    /// No aggregation: the score is the list.
    None,
    /// The server sums the scores (`ExactMatchEvaluator`'s default).
    Sum,
    /// The user's function, run with `run_callable`.
    Callable(String),
}

/// An evaluator request, from its arguments to its `(score, explanation)` pair.
struct Evaluation {
    call: Call,
    /// `(prediction, target)` data per sample.
    pairs: Vec<(Value, Value)>,
    batched: bool,
    purpose: String,
    eval_fn: Option<String>,
    success_fn: Option<String>,
    reduction: Reduction,
    reduction_purpose: String,
}

impl Evaluation {
    fn deterministic(reg: &Registry, call: Call) -> Result<Self, RpcError> {
        let eval_fn = callable_id(call.arg(2, "eval_fn"))
            .ok_or_else(|| internal("DeterministicEvaluator: 'eval_fn' must be a callable."))?;
        let purpose = call.arg(3, "eval_fn_purpose").map(|v| data_of(reg, v));
        let purpose = purpose.as_ref().map(shown).unwrap_or_default();
        let success_fn = callable_id(call.arg(4, "success_fn"));
        let reduction = match callable_id(call.arg(5, "reduction_fn")) {
            Some(id) => Reduction::Callable(id),
            None => Reduction::None,
        };
        let reduction_purpose = call
            .arg(6, "reduction_fn_purpose")
            .map(|v| shown(&data_of(reg, v)))
            .unwrap_or_default();
        Self::new(
            reg,
            call,
            purpose,
            Some(eval_fn),
            success_fn,
            reduction,
            reduction_purpose,
        )
    }

    fn exact_match(reg: &Registry, call: Call) -> Result<Self, RpcError> {
        let reduction = match call.arg(2, "reduction_fn") {
            None => Reduction::Sum,
            Some(v) => match callable_id(Some(v)) {
                Some(id) => Reduction::Callable(id),
                None => Reduction::None,
            },
        };
        let reduction_purpose = call
            .arg(3, "reduction_fn_purpose")
            .map(|v| shown(&data_of(reg, v)))
            .unwrap_or_else(|| "summation".into());
        Self::new(
            reg,
            call,
            "exact match".into(),
            None,
            None,
            reduction,
            reduction_purpose,
        )
    }

    fn new(
        reg: &Registry,
        call: Call,
        purpose: String,
        eval_fn: Option<String>,
        success_fn: Option<String>,
        reduction: Reduction,
        reduction_purpose: String,
    ) -> Result<Self, RpcError> {
        let name = call.name.clone();
        let prediction = call
            .arg(0, "prediction")
            .and_then(ref_id)
            .and_then(|id| reg.variables.get(id))
            .ok_or_else(|| internal(format!("{name}: 'prediction' must be a Variable.")))?
            .data
            .clone();
        let target = call
            .arg(1, "target")
            .map(|v| data_of(reg, v))
            .unwrap_or(Value::Null);
        let (pairs, batched) = match (&prediction, &target) {
            (Value::Array(p), Value::Array(t)) => {
                if p.len() != t.len() {
                    return Err(internal(format!(
                        "{name}: prediction and target must have the same length, got {} and {}.",
                        p.len(),
                        t.len()
                    )));
                }
                (p.iter().cloned().zip(t.iter().cloned()).collect(), true)
            }
            (Value::Array(p), t) => (p.iter().map(|x| (x.clone(), t.clone())).collect(), true),
            (p, t) => (vec![(p.clone(), t.clone())], false),
        };
        Ok(Self {
            call,
            pairs,
            batched,
            purpose,
            eval_fn,
            success_fn,
            reduction,
            reduction_purpose,
        })
    }

    /// First stage: `eval_fn` per sample (or the server's exact match).
    fn start(self) -> Handled {
        match self.eval_fn.clone() {
            Some(f) => {
                let calls = self
                    .pairs
                    .iter()
                    .map(|(p, t)| run_callable(&f, json!([p, t])))
                    .collect();
                Handled::then(calls, move |_reg, replies| {
                    let scores = callable_results(&self.call.name, "eval_fn", replies)?;
                    Ok(self.scored(scores))
                })
            }
            None => {
                let scores = self
                    .pairs
                    .iter()
                    .map(|(p, t)| json!(i32::from(p == t)))
                    .collect();
                self.scored(scores)
            }
        }
    }

    /// Second stage: `success_fn` and `reduction_fn` on the scores.
    fn scored(self, scores: Vec<Value>) -> Handled {
        let mut calls = Vec::new();
        if let Some(f) = &self.success_fn {
            calls.push(run_callable(f, json!([scores])));
        }
        let reduce = match &self.reduction {
            Reduction::Callable(f) if self.batched => Some(f.clone()),
            _ => None,
        };
        if let Some(f) = &reduce {
            calls.push(run_callable(f, json!([scores])));
        }
        Handled::then(calls, move |reg, replies| {
            let results = callable_results(&self.call.name, "success_fn/reduction_fn", replies)?;
            let reduced = reduce.as_ref().and_then(|_| results.last().cloned());
            Ok(self.finish(reg, scores, reduced))
        })
    }

    /// Last stage: the `(score, explanation)` outputs.
    fn finish(self, reg: &mut Registry, scores: Vec<Value>, reduced: Option<Value>) -> Handled {
        let score = if !self.batched {
            scores.first().cloned().unwrap_or(Value::Null)
        } else {
            match (&self.reduction, reduced) {
                (_, Some(v)) => v,
                (Reduction::Sum, None) => sum(&scores),
                _ => Value::Array(scores.clone()),
            }
        };
        let explanation = self.explanation(&score);
        let outputs = vec![
            (score, json!("evaluation score")),
            (Value::String(explanation), json!("evaluation explanation")),
        ];
        let (data, script) = finish_outputs(reg, &self.call, outputs);
        Handled::after(script, json!({ "data": data }))
    }

    /// The explanation, in the words of afnio's documentation.
    fn explanation(&self, score: &Value) -> String {
        let purpose = &self.purpose;
        if !self.batched {
            let (p, t) = self.pairs.first().cloned().unwrap_or_default();
            return format!(
                "The evaluation function, designed for '{purpose}', compared the <DATA> field of \
                 the predicted variable ('{}') with the <DATA> field of the target variable \
                 ('{}'), resulting in a score: {}.",
                shown(&p),
                shown(&t),
                shown(score)
            );
        }
        let head = format!(
            "The evaluation function, designed for '{purpose}', compared the <DATA> fields of \
             the predicted variable and the target variable across all samples in the batch, \
             generating individual scores for each pair."
        );
        match self.reduction {
            Reduction::None => format!("{head} Resulting scores: {}.", shown(score)),
            _ => format!(
                "{head} These scores were then aggregated using the reduction function '{}', \
                 resulting in a final aggregated score: {}.",
                self.reduction_purpose,
                shown(score)
            ),
        }
    }
}

/// `run_callable` of `callable_id` with these positional arguments.
fn run_callable(callable_id: &str, args: Value) -> ScriptStep {
    ScriptStep::call(
        "run_callable",
        json!({"callable_id": callable_id, "args": args, "kwargs": {}}),
    )
}

/// The `data` of each `run_callable` reply, or the request's error.
fn callable_results(
    function: &str,
    what: &str,
    replies: &[CallReply],
) -> Result<Vec<Value>, RpcError> {
    replies
        .iter()
        .map(|r| match r {
            CallReply::Result(v) => Ok(v.get("data").cloned().unwrap_or(Value::Null)),
            other => Err(internal(format!(
                "{function}: the client's {what} failed: {}",
                failure_text(other)
            ))),
        })
        .collect()
}

fn failure_text(reply: &CallReply) -> String {
    match reply {
        CallReply::Error(e) => e
            .data
            .as_ref()
            .and_then(|d| d.get("exception"))
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| e.message.clone()),
        CallReply::Malformed => "a reply without result or error".into(),
        CallReply::NoReply => "no reply".into(),
        CallReply::Disconnected => "the client disconnected".into(),
        CallReply::Result(_) => "a result".into(),
    }
}

/// Python's `sum` over numbers (non-numbers count as 0).
fn sum(scores: &[Value]) -> Value {
    if scores.iter().all(|s| s.is_i64() || s.is_u64()) {
        json!(scores.iter().filter_map(Value::as_i64).sum::<i64>())
    } else {
        json!(scores.iter().filter_map(Value::as_f64).sum::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::variable_ref;

    fn leaf(reg: &mut Registry, data: Value, requires_grad: bool) -> String {
        reg.add_variable(Variable::leaf(data, json!("r"), requires_grad))
    }

    fn methods_of(script: &[ScriptStep]) -> Vec<(String, Value)> {
        script
            .iter()
            .filter_map(|s| match s {
                ScriptStep::Call { method, params, .. } => Some((method.clone(), params.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_leaf_needing_grad_gets_one_accumulate_grad_node_reused_across_calls() {
        let mut reg = Registry::default();
        let a = leaf(&mut reg, json!("a"), true);
        let b = leaf(&mut reg, json!("b"), false);
        let args = json!([variable_ref(&a), variable_ref(&b)]);
        let h = run(
            &mut reg,
            "Add",
            true,
            &args,
            &json!({}),
            vec![a.clone(), b.clone()],
        )
        .unwrap();
        let calls = methods_of(&h.script);
        let names: Vec<&str> = calls.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(
            names,
            ["create_node", "create_node", "create_edge", "create_edge"]
        );
        assert_eq!(calls[0].1["name"], "AddBackward0");
        assert_eq!(calls[1].1["name"], "AccumulateGrad");
        assert_eq!(calls[2].1["to_node_id"], calls[1].1["node_id"]);
        assert_eq!(calls[3].1["to_node_id"], Value::Null);
        assert_eq!(h.result["data"]["role"], "r and r");
        let again = run(&mut reg, "Add", true, &args, &json!({}), vec![a, b]).unwrap();
        let calls2 = methods_of(&again.script);
        assert_eq!(calls2.len(), 3, "no second AccumulateGrad: {calls2:?}");
        assert_eq!(calls2[1].1["to_node_id"], calls[1].1["node_id"]);
    }

    #[test]
    fn without_grad_there_is_no_node() {
        let mut reg = Registry::default();
        let a = leaf(&mut reg, json!("a"), true);
        let h = run(
            &mut reg,
            "Add",
            false,
            &json!([variable_ref(&a)]),
            &json!({}),
            vec![a],
        )
        .unwrap();
        assert!(h.script.is_empty());
        assert_eq!(h.result["data"]["_grad_fn"], Value::Null);
    }

    #[test]
    fn a_deterministic_evaluator_runs_eval_fn_per_pair_then_reduces() {
        let mut reg = Registry::default();
        let p = leaf(&mut reg, json!(["green", "blue"]), true);
        let f = json!({"__callable__": true, "callable_id": "f"});
        let s = json!({"__callable__": true, "callable_id": "s"});
        let args = json!([
            variable_ref(&p),
            ["red", "blue"],
            f,
            "exact match",
            null,
            s,
            "summation"
        ]);
        let h = run(
            &mut reg,
            "DeterministicEvaluator",
            true,
            &args,
            &json!({}),
            vec![p],
        )
        .unwrap();
        let calls = methods_of(&h.script);
        assert_eq!(calls[0].1["args"], json!(["green", "red"]));
        assert_eq!(calls[1].1["args"], json!(["blue", "blue"]));
        let ok = |d: Value| CallReply::Result(json!({"message": "Ok", "data": d}));
        let then = h.then.expect("waits for eval_fn");
        let h = then.run(&mut reg, &[ok(json!(0)), ok(json!(1))]).unwrap();
        let calls = methods_of(&h.script);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].1["callable_id"], "s");
        assert_eq!(calls[0].1["args"], json!([[0, 1]]));
        let h = h
            .then
            .expect("waits for reduction_fn")
            .run(&mut reg, &[ok(json!(1))])
            .unwrap();
        let data = h.result["data"].as_array().expect("a pair").clone();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["data"], 1);
        assert_eq!(data[0]["_grad_fn"], data[1]["_grad_fn"]);
        assert_eq!(
            (data[0]["_output_nr"].clone(), data[1]["_output_nr"].clone()),
            (json!(0), json!(1))
        );
        assert!(data[1]["data"].as_str().unwrap().contains("'summation'"));
    }

    #[test]
    fn a_failing_eval_fn_fails_the_request() {
        let mut reg = Registry::default();
        let p = leaf(&mut reg, json!("x"), false);
        let f = json!({"__callable__": true, "callable_id": "f"});
        let args = json!([variable_ref(&p), "x", f, "p", null, null, null]);
        let h = run(
            &mut reg,
            "DeterministicEvaluator",
            true,
            &args,
            &json!({}),
            vec![p],
        )
        .unwrap();
        let e = h
            .then
            .unwrap()
            .run(&mut reg, &[CallReply::NoReply])
            .unwrap_err();
        assert_eq!(e.code, tcm_proto::jsonrpc::message::INTERNAL_ERROR);
    }

    #[test]
    fn exact_match_scores_on_the_server_and_sums_by_default() {
        let mut reg = Registry::default();
        let p = leaf(&mut reg, json!(["a", "b"]), false);
        let args = json!([variable_ref(&p), ["a", "c"]]);
        let h = run(
            &mut reg,
            "ExactMatchEvaluator",
            true,
            &args,
            &json!({}),
            vec![p],
        )
        .unwrap();
        assert!(h.script.is_empty());
        let h = h.then.unwrap().run(&mut reg, &[]).unwrap();
        assert_eq!(h.result["data"][0]["data"], 1);
    }
}
