//! The per-session in-memory registry: variables, graph nodes, models and optimizers, as the
//! client → server methods create and change them. A new connection starts empty.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// A fresh lowercase hyphenated UUID v4 (from a process-wide splitmix64 sequence seeded by the
/// clock; unique, not cryptographic).
pub fn uuid4() -> String {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x5eed);
    let _ = STATE.compare_exchange(0, seed | 1, Ordering::SeqCst, Ordering::SeqCst);
    let next = || {
        let mut z = STATE
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::SeqCst)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let (a, b) = (next(), next());
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_be_bytes());
    bytes[8..].copy_from_slice(&b.to_be_bytes());
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// A variable or parameter as the server knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Variable {
    /// `__variable__` or `__parameter__`.
    pub obj_type: String,
    /// The data (usually text).
    pub data: Value,
    /// The role text.
    pub role: Value,
    /// Whether it requires gradients.
    pub requires_grad: bool,
    /// Whether gradients are retained on a non-leaf.
    pub retain_grad: bool,
    /// Ids of its gradients.
    pub grad: Vec<String>,
    /// Output number within its producing node.
    pub output_nr: i64,
    /// The producing node, if any.
    pub grad_fn: Option<String>,
    /// Whether it is a leaf.
    pub is_leaf: bool,
    /// The variables it was computed from (for `get_backprop_ids`).
    pub inputs: Vec<String>,
    /// Other fields set by `update_variable`.
    pub extra: Map<String, Value>,
}

impl Variable {
    /// A leaf variable.
    pub fn leaf(data: Value, role: Value, requires_grad: bool) -> Self {
        Self {
            obj_type: "__variable__".into(),
            data,
            role,
            requires_grad,
            retain_grad: false,
            grad: Vec::new(),
            output_nr: 0,
            grad_fn: None,
            is_leaf: true,
            inputs: Vec::new(),
            extra: Map::new(),
        }
    }

    /// The variable object the client reads (`run_function` outputs, `get_variable`).
    pub fn to_json(&self, id: &str) -> Value {
        json!({
            "variable_id": id,
            "data": self.data,
            "role": self.role,
            "requires_grad": self.requires_grad,
            "_retain_grad": self.retain_grad,
            "_grad": self.grad.iter().map(|g| variable_ref(g)).collect::<Vec<_>>(),
            "_output_nr": self.output_nr,
            "_grad_fn": self.grad_fn,
            "is_leaf": self.is_leaf,
        })
    }
}

/// `{"__variable__": true, "variable_id": id}`.
pub fn variable_ref(id: &str) -> Value {
    json!({"__variable__": true, "variable_id": id})
}

/// A graph node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Its name, e.g. `AddBackward0` or `AccumulateGrad`.
    pub name: String,
}

/// A language-model client created by `create_model`. The provider config (which holds the
/// provider's API key) is deliberately not kept.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The class type.
    pub class_type: Value,
    /// The provider.
    pub provider: Value,
    /// Accumulated usage.
    pub usage: Value,
}

/// An optimizer created by `create_optimizer`.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    /// Its name, e.g. `TGD`.
    pub name: Value,
    /// Default hyper-parameters.
    pub defaults: Value,
    /// Param groups: each an object whose `params` is a list of variable refs.
    pub param_groups: Vec<Value>,
    /// Per-parameter state as `{key, value}` entries.
    pub state: Vec<Value>,
}

/// Everything one session has created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    /// Variables and parameters by id.
    pub variables: BTreeMap<String, Variable>,
    /// Graph nodes by id.
    pub nodes: BTreeMap<String, Node>,
    /// The `AccumulateGrad` node of each leaf that has one, by variable id.
    pub accumulators: BTreeMap<String, String>,
    /// Models by id.
    pub models: BTreeMap<String, Model>,
    /// Optimizers by id.
    pub optimizers: BTreeMap<String, Optimizer>,
}

impl Registry {
    /// The variable, or the registry's not-found text.
    pub fn variable(&self, id: &str) -> Result<&Variable, String> {
        self.variables
            .get(id)
            .ok_or_else(|| format!("Variable with id '{id}' not found in registry."))
    }

    /// The variable for change, or the registry's not-found text.
    pub fn variable_mut(&mut self, id: &str) -> Result<&mut Variable, String> {
        self.variables
            .get_mut(id)
            .ok_or_else(|| format!("Variable with id '{id}' not found in registry."))
    }

    /// Registers a variable under a fresh id.
    pub fn add_variable(&mut self, v: Variable) -> String {
        let id = uuid4();
        self.variables.insert(id.clone(), v);
        id
    }

    /// The leaf variables requiring gradients that `roots` were computed from, in first-seen
    /// order (a root that is itself such a leaf counts).
    pub fn backprop_ids(&self, roots: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<String> = roots.iter().rev().cloned().collect();
        while let Some(id) = stack.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            let Some(v) = self.variables.get(&id) else {
                continue;
            };
            if v.requires_grad && (v.is_leaf || v.retain_grad) {
                out.push(id.clone());
            }
            stack.extend(v.inputs.iter().rev().cloned());
        }
        out
    }
}

/// Collects the variable ids referenced (`__variable__` / `__parameter__` refs) anywhere in `v`.
pub fn variable_refs(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(v, &mut out, &|o| {
        let is_ref = o
            .get("__variable__")
            .is_some_and(|b| b == &Value::Bool(true))
            || o.get("__parameter__")
                .is_some_and(|b| b == &Value::Bool(true));
        if is_ref {
            o.get("variable_id")
                .and_then(Value::as_str)
                .map(String::from)
        } else {
            None
        }
    });
    out
}

/// Collects the callable ids referenced (`__callable__` refs) anywhere in `v`.
pub fn callable_refs(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect(v, &mut out, &|o| {
        if o.get("__callable__")
            .is_some_and(|b| b == &Value::Bool(true))
        {
            o.get("callable_id")
                .and_then(Value::as_str)
                .map(String::from)
        } else {
            None
        }
    });
    out
}

fn collect(v: &Value, out: &mut Vec<String>, pick: &dyn Fn(&Map<String, Value>) -> Option<String>) {
    match v {
        Value::Object(o) => {
            if let Some(id) = pick(o) {
                out.push(id);
                return;
            }
            for x in o.values() {
                collect(x, out, pick);
            }
        }
        Value::Array(a) => {
            for x in a {
                collect(x, out, pick);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_v4_and_distinct() {
        let a = uuid4();
        let b = uuid4();
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
    }

    #[test]
    fn backprop_ids_walk_to_the_leaves_requiring_grad() {
        let mut r = Registry::default();
        r.variables
            .insert("a".into(), Variable::leaf(json!("a"), json!("in"), true));
        r.variables
            .insert("b".into(), Variable::leaf(json!("b"), json!("in"), false));
        let mut out = Variable::leaf(json!("ab"), json!("sum"), true);
        out.is_leaf = false;
        out.inputs = vec!["a".into(), "b".into()];
        r.variables.insert("out".into(), out);
        assert_eq!(r.backprop_ids(&["out".into()]), vec!["a".to_string()]);
    }

    #[test]
    fn refs_are_found_anywhere() {
        let v = json!([{"__variable__": true, "variable_id": "x"}, {"k": {"__parameter__": true, "variable_id": "y"}}, {"__callable__": true, "callable_id": "c"}]);
        assert_eq!(variable_refs(&v), vec!["x", "y"]);
        assert_eq!(callable_refs(&v), vec!["c"]);
    }
}
