//! Matching a received JSON frame against a recorded one (README §2), and the reverse:
//! turning a recorded frame into a concrete one to emit.
//!
//! * [`MatchMode::Exact`]: deep equality after wildcard substitution. Objects are unordered maps
//!   with identical key sets, arrays are compared element by element, numbers by numeric value
//!   (`1 == 1.0 == 1e0`), strings exactly.
//! * [`MatchMode::Shape`]: identical key sets and array lengths, and the same JSON type at every
//!   leaf; leaf values are only compared where the recorded value is a wildcard.
//!
//! Wildcards (see [`crate::wildcard`]) are checked in both modes. `<uuid4:NAME>` binds the
//! received UUID to `NAME` in [`Bindings`], `<ref:NAME>` requires the bound value.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::{Number, Value};

use crate::wildcard::{self, Wildcard};

/// How a recorded frame is compared with a received one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchMode {
    /// Deep equality after wildcard substitution.
    #[default]
    Exact,
    /// Same keys, array lengths and leaf types.
    Shape,
}

/// Values bound by `<uuid4:NAME>` wildcards, looked up by `<ref:NAME>`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bindings {
    values: BTreeMap<String, Value>,
}

impl Bindings {
    /// No bindings.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value bound to `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// Bind (or rebind) `name`.
    pub fn bind(&mut self, name: &str, value: Value) {
        self.values.insert(name.to_string(), value);
    }

    /// All bindings, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of bound names.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing is bound.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// Where and how a received frame differs from the recorded one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// JSON path of the first difference (`$.payload.data[0]`).
    pub path: String,
    /// What the recorded frame requires there.
    pub expected: String,
    /// What the received frame holds there.
    pub actual: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: expected {}, got {}",
            self.path, self.expected, self.actual
        )
    }
}

impl std::error::Error for Mismatch {}

/// Longest rendering of a value in a mismatch message.
const RENDER_LIMIT: usize = 160;

/// Compact JSON of `v`, cut to a readable length.
pub fn render(v: &Value) -> String {
    let s = v.to_string();
    if s.len() <= RENDER_LIMIT {
        return s;
    }
    let mut cut = RENDER_LIMIT;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}... ({} bytes)", &s[..cut], s.len())
}

/// Check `actual` against the recorded `expected` frame. On success, bindings made by
/// `<uuid4:NAME>` wildcards are added to `bindings`; on failure `bindings` is left unchanged.
pub fn check(
    expected: &Value,
    actual: &Value,
    mode: MatchMode,
    bindings: &mut Bindings,
) -> Result<(), Mismatch> {
    let mut work = bindings.clone();
    let mut path = String::from("$");
    walk(expected, actual, mode, &mut work, &mut path)?;
    *bindings = work;
    Ok(())
}

/// Numeric equality: integers exactly, anything else by `f64` value.
pub fn numbers_equal(a: &Number, b: &Number) -> bool {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return x == y;
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return x == y;
    }
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// Deep equality of two concrete values with numbers compared by value.
pub fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => numbers_equal(x, y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| values_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| values_equal(v, w)))
        }
        _ => a == b,
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn push_key(path: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        && !key.starts_with(|c: char| c.is_ascii_digit());
    if plain {
        path.push('.');
        path.push_str(key);
    } else {
        path.push('[');
        path.push_str(&Value::String(key.to_string()).to_string());
        path.push(']');
    }
}

fn mismatch(path: &str, expected: impl Into<String>, actual: impl Into<String>) -> Mismatch {
    Mismatch {
        path: path.to_string(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

fn key_list<'a>(keys: impl Iterator<Item = &'a String>) -> String {
    let mut keys: Vec<&String> = keys.collect();
    keys.sort();
    let quoted: Vec<String> = keys
        .iter()
        .map(|k| Value::String((*k).clone()).to_string())
        .collect();
    format!("[{}]", quoted.join(", "))
}

fn walk(
    expected: &Value,
    actual: &Value,
    mode: MatchMode,
    bindings: &mut Bindings,
    path: &mut String,
) -> Result<(), Mismatch> {
    if let Value::String(s) = expected
        && let Some(w) = wildcard::parse(s)
    {
        return check_wildcard(s, w, actual, bindings, path);
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            if e.len() != a.len() || e.keys().any(|k| !a.contains_key(k)) {
                return Err(mismatch(
                    path,
                    format!("keys {}", key_list(e.keys())),
                    format!("keys {}", key_list(a.keys())),
                ));
            }
            for (k, ev) in e {
                let len = path.len();
                push_key(path, k);
                let av = a.get(k).unwrap_or(&Value::Null);
                walk(ev, av, mode, bindings, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(mismatch(
                    path,
                    format!("an array of {} elements", e.len()),
                    format!("{} elements: {}", a.len(), render(actual)),
                ));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                walk(ev, av, mode, bindings, path)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => {
            let same_type = std::mem::discriminant(expected) == std::mem::discriminant(actual);
            let ok = match mode {
                MatchMode::Shape => same_type,
                MatchMode::Exact => values_equal(expected, actual),
            };
            if ok {
                Ok(())
            } else if mode == MatchMode::Shape {
                Err(mismatch(path, type_name(expected), render(actual)))
            } else {
                Err(mismatch(path, render(expected), render(actual)))
            }
        }
    }
}

fn check_wildcard(
    token: &str,
    w: Wildcard<'_>,
    actual: &Value,
    bindings: &mut Bindings,
    path: &str,
) -> Result<(), Mismatch> {
    if !wildcard::accepts(w, actual) {
        return Err(mismatch(path, token, render(actual)));
    }
    match w {
        Wildcard::Uuid4Bind(name) => bindings.bind(name, actual.clone()),
        Wildcard::Ref(name) => match bindings.get(name) {
            Some(bound) if values_equal(bound, actual) => {}
            Some(bound) => {
                return Err(mismatch(
                    path,
                    format!("{token} = {}", render(bound)),
                    render(actual),
                ));
            }
            None => {
                return Err(mismatch(path, format!("{token} (unbound)"), render(actual)));
            }
        },
        _ => {}
    }
    Ok(())
}

/// A concrete frame for `expected`: `<ref:NAME>` replaced by its bound value and every other
/// wildcard (and unbound refs) replaced by `gen(token)`. Used by a runner that emits recorded
/// frames; see [`instantiate_binding`] to also record the values chosen for `<uuid4:NAME>`.
pub fn instantiate(
    expected: &Value,
    bindings: &Bindings,
    generate: &mut impl FnMut(&str) -> Value,
) -> Value {
    let mut scratch = bindings.clone();
    build(expected, &mut scratch, false, generate)
}

/// Like [`instantiate`], and binds the value generated for each `<uuid4:NAME>` to `NAME`, so
/// that later `<ref:NAME>` wildcards (in either direction) refer to it.
pub fn instantiate_binding(
    expected: &Value,
    bindings: &mut Bindings,
    generate: &mut impl FnMut(&str) -> Value,
) -> Value {
    build(expected, bindings, true, generate)
}

fn build(
    v: &Value,
    bindings: &mut Bindings,
    bind: bool,
    generate: &mut impl FnMut(&str) -> Value,
) -> Value {
    match v {
        Value::String(s) => match wildcard::parse(s) {
            None => v.clone(),
            Some(Wildcard::Ref(name)) => bindings.get(name).cloned().unwrap_or_else(|| generate(s)),
            Some(Wildcard::Uuid4Bind(name)) => {
                let value = generate(s);
                if bind {
                    bindings.bind(name, value.clone());
                }
                value
            }
            Some(_) => generate(s),
        },
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|i| build(i, bindings, bind, generate))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, i)| (k.clone(), build(i, bindings, bind, generate)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Whether a TCM server frame is unsolicited (README §1.2): an `alert`, or an `error` whose
/// `payload.code` is `BACKPRESSURE_INSUFFICIENT_BUDGET`. Such frames may arrive between any
/// request and its response and are skipped unless a vector lists them.
pub fn is_unsolicited_tcm(frame: &Value) -> bool {
    match frame.get("type").and_then(Value::as_str) {
        Some("alert") => true,
        Some("error") => {
            frame
                .get("payload")
                .and_then(|p| p.get("code"))
                .and_then(Value::as_str)
                == Some("BACKPRESSURE_INSUFFICIENT_BUDGET")
        }
        _ => false,
    }
}
