//! A server set-up written as JSON: configuration, plans, connect script and faults, so that the
//! binary (and tests in other languages) can script the server without Rust.
//!
//! ```json
//! {
//!   "api_key": "test-key",
//!   "bind": "127.0.0.1:0",
//!   "reject": "403",
//!   "session_frame": "standard",
//!   "session_frame_write": "with_upgrade",
//!   "session_delay_ms": 0,
//!   "work_ms": 100, "heartbeat_ms": 40, "max_heartbeats": null,
//!   "client_reply_timeout_ms": 5000,
//!   "max_message_bytes": 67108864,
//!   "record_file": "record.jsonl",
//!   "plans": [
//!     {"method": "run_function", "once": true, "work_ms": 2500, "heartbeat_ms": 300},
//!     {"method": "create_model", "reply": {"error": {"code": -32603, "message": "Internal error",
//!                                                     "data": {"exception": "no quota"}}}}
//!   ],
//!   "connect_script": [{"call": "create_node", "params": {"node_id": "n1", "name": "X"}}],
//!   "faults": ["never_answer_next", {"delay_next_response_ms": 2000}]
//! }
//! ```
//!
//! Every key is optional. `reject`: `"403"`, `{"accept_then_close": CODE}` (`null` drops).
//! `session_frame`: `"standard"`, `"omitted"`, `"malformed"`, `{"with_id": V}`, `{"raw": TEXT}`.
//! `session_frame_write`: `"with_upgrade"` or `"separate"`. `heartbeat_ms`: `null` or `0` sends
//! none. A plan: `method`, `once` (one-shot, queued in order; default: every request),
//! `work_ms`, `heartbeat_ms`, `max_heartbeats`, `script`, `reply`. Script steps:
//! `{"call": M, "params": P, "id": V?}`, `{"notify": M, "params": P}`, `"heartbeat"`,
//! `{"raw": TEXT}`, `{"raw_call": TEXT, "id": V}`, `{"pause_ms": N}`. Replies: `"default"`,
//! `{"result": V}`, `{"error": {"code", "message", "data"?}}`, `{"raw": TEXT}`, `"never"`,
//! `{"close": CODE}`, `"drop"`. Faults (the "next request" kind, queued at start):
//! `"drop_on_next_request"`, `{"close_on_next_request": CODE}`, `{"delay_next_response_ms": N}`,
//! `"never_answer_next"`, `"duplicate_next_response"`, `"wrong_version_next_response"`,
//! `"empty_next_response"`.

use std::time::Duration;

use serde_json::{Map, Value};
use tcm_proto::jsonrpc::RpcError;

use crate::config::{RejectMode, RpcServerConfig, SessionFrame, SessionFrameWrite};
use crate::faults::Fault;
use crate::script::{Plan, Reply, ScriptStep};
use crate::server::{RpcServerHandle, RpcTestServer, ServerError};

/// Why a set-up could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct SpecError {
    /// Where in the document (e.g. `plans[0].script[2]`).
    pub path: String,
    /// What is wrong there.
    pub reason: String,
}

fn bad(path: &str, reason: impl Into<String>) -> SpecError {
    SpecError {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// One plan of a set-up.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlanSpec {
    /// The method it applies to.
    pub method: String,
    /// One-shot (`plan_next`) rather than standing (`set_plan`).
    pub once: bool,
    /// The plan.
    pub plan: Plan,
}

/// A whole set-up: the configuration and what to install on the started server.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ServerSpec {
    /// The configuration.
    pub config: RpcServerConfig,
    /// Plans, in document order.
    pub plans: Vec<PlanSpec>,
    /// The script run after every session frame.
    pub connect_script: Option<Vec<ScriptStep>>,
    /// "Next request" faults injected at start, in order.
    pub faults: Vec<Fault>,
}

impl ServerSpec {
    /// Reads a set-up from JSON text.
    pub fn from_json(text: &str) -> Result<Self, SpecError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| bad("$", format!("not JSON: {e}")))?;
        Self::from_value(&doc)
    }

    /// Reads a set-up from a JSON value.
    pub fn from_value(doc: &Value) -> Result<Self, SpecError> {
        let o = doc
            .as_object()
            .ok_or_else(|| bad("$", "must be an object"))?;
        let mut spec = Self::default();
        let cfg = &mut spec.config;
        for (key, v) in o {
            let path = key.as_str();
            match path {
                "api_key" => cfg.api_key = string(path, v)?,
                "bind" => {
                    cfg.bind = string(path, v)?
                        .parse()
                        .map_err(|e| bad(path, format!("not an address: {e}")))?
                }
                "reject" => cfg.reject = reject(path, v)?,
                "session_frame" => cfg.session_frame = session_frame(path, v)?,
                "session_frame_write" => cfg.session_frame_write = frame_write(path, v)?,
                "session_delay_ms" => cfg.session_delay = millis(path, v)?,
                "work_ms" => cfg.long_running.work = millis(path, v)?,
                "heartbeat_ms" => cfg.long_running.heartbeat_interval = interval(path, v)?,
                "max_heartbeats" => cfg.long_running.max_heartbeats = opt_u32(path, v)?,
                "client_reply_timeout_ms" => cfg.client_reply_timeout = millis(path, v)?,
                "max_message_bytes" => {
                    cfg.max_message_bytes =
                        usize::try_from(uint(path, v)?).map_err(|_| bad(path, "too large"))?
                }
                "plans" => {
                    for (i, p) in array(path, v)?.iter().enumerate() {
                        spec.plans.push(plan(&format!("plans[{i}]"), p)?);
                    }
                }
                "record_file" => cfg.record_file = Some(string(path, v)?.into()),
                "connect_script" => spec.connect_script = Some(script(path, v)?),
                "faults" => {
                    for (i, f) in array(path, v)?.iter().enumerate() {
                        spec.faults.push(fault(&format!("faults[{i}]"), f)?);
                    }
                }
                other => return Err(bad(other, "unknown key")),
            }
        }
        Ok(spec)
    }
}

impl ServerSpec {
    /// Starts a server with this set-up: the configuration, then the plans, the connect script
    /// and the faults.
    pub fn start(self) -> Result<RpcServerHandle, ServerError> {
        let server = RpcTestServer::start(self.config)?;
        for p in self.plans {
            if p.once {
                server.plan_next(&p.method, p.plan);
            } else {
                server.set_plan(&p.method, p.plan);
            }
        }
        if self.connect_script.is_some() {
            server.set_connect_script(self.connect_script);
        }
        for f in self.faults {
            // "Next request" faults are queued without a session; they cannot fail.
            let _ = server.inject(f);
        }
        Ok(server)
    }
}

fn string(path: &str, v: &Value) -> Result<String, SpecError> {
    v.as_str()
        .map(String::from)
        .ok_or_else(|| bad(path, "must be a string"))
}

fn uint(path: &str, v: &Value) -> Result<u64, SpecError> {
    v.as_u64()
        .ok_or_else(|| bad(path, "must be a non-negative integer"))
}

fn millis(path: &str, v: &Value) -> Result<Duration, SpecError> {
    uint(path, v).map(Duration::from_millis)
}

/// `null` or `0`: none.
fn interval(path: &str, v: &Value) -> Result<Option<Duration>, SpecError> {
    if v.is_null() {
        return Ok(None);
    }
    let d = millis(path, v)?;
    Ok((!d.is_zero()).then_some(d))
}

fn opt_u32(path: &str, v: &Value) -> Result<Option<u32>, SpecError> {
    if v.is_null() {
        return Ok(None);
    }
    u32::try_from(uint(path, v)?)
        .map(Some)
        .map_err(|_| bad(path, "too large"))
}

fn code(path: &str, v: &Value) -> Result<u16, SpecError> {
    u16::try_from(uint(path, v)?).map_err(|_| bad(path, "not a close code"))
}

fn array<'a>(path: &str, v: &'a Value) -> Result<&'a Vec<Value>, SpecError> {
    v.as_array().ok_or_else(|| bad(path, "must be a list"))
}

/// A one-key object `{"name": value}`, or a bare string `"name"` (with a `null` value).
fn tagged<'a>(
    path: &str,
    v: &'a Value,
) -> Result<(&'a str, &'a Value, &'a Map<String, Value>), SpecError> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    let empty = EMPTY.get_or_init(Map::new);
    match v {
        Value::String(s) => Ok((s.as_str(), &Value::Null, empty)),
        Value::Object(o) => {
            let (k, x) = o
                .iter()
                .find(|(k, _)| !matches!(k.as_str(), "params" | "id"))
                .ok_or_else(|| bad(path, "needs a kind"))?;
            Ok((k.as_str(), x, o))
        }
        _ => Err(bad(path, "must be a string or an object")),
    }
}

pub(crate) fn reject(path: &str, v: &Value) -> Result<RejectMode, SpecError> {
    match tagged(path, v)? {
        ("403", _, _) => Ok(RejectMode::Http403),
        ("accept_then_close", Value::Null, _) => Ok(RejectMode::AcceptThenClose(None)),
        ("accept_then_close", c, _) => Ok(RejectMode::AcceptThenClose(Some(code(path, c)?))),
        (other, _, _) => Err(bad(path, format!("unknown reject mode {other:?}"))),
    }
}

fn session_frame(path: &str, v: &Value) -> Result<SessionFrame, SpecError> {
    match tagged(path, v)? {
        ("standard", _, _) => Ok(SessionFrame::Standard),
        ("omitted", _, _) => Ok(SessionFrame::Omitted),
        ("malformed", _, _) => Ok(SessionFrame::Malformed),
        ("with_id", id, _) => Ok(SessionFrame::WithId(id.clone())),
        ("raw", t, _) => Ok(SessionFrame::Raw(string(path, t)?)),
        (other, _, _) => Err(bad(path, format!("unknown session frame {other:?}"))),
    }
}

pub(crate) fn frame_write(path: &str, v: &Value) -> Result<SessionFrameWrite, SpecError> {
    match v.as_str().map(|s| s.replace('-', "_")).as_deref() {
        Some("with_upgrade") => Ok(SessionFrameWrite::WithUpgrade),
        Some("separate") => Ok(SessionFrameWrite::Separate),
        _ => Err(bad(path, "must be \"with_upgrade\" or \"separate\"")),
    }
}

fn plan(path: &str, v: &Value) -> Result<PlanSpec, SpecError> {
    let o = v
        .as_object()
        .ok_or_else(|| bad(path, "must be an object"))?;
    let mut method = None;
    let mut once = false;
    let mut plan = Plan::new();
    for (key, x) in o {
        let at = format!("{path}.{key}");
        match key.as_str() {
            "method" => method = Some(string(&at, x)?),
            "once" => {
                once = x
                    .as_bool()
                    .ok_or_else(|| bad(&at, "must be true or false"))?
            }
            "work_ms" => plan.work = Some(millis(&at, x)?),
            "heartbeat_ms" => plan.heartbeat_interval = Some(interval(&at, x)?),
            "max_heartbeats" => plan.max_heartbeats = Some(opt_u32(&at, x)?),
            "script" => plan.script = Some(script(&at, x)?),
            "reply" => plan.reply = reply(&at, x)?,
            _ => return Err(bad(&at, "unknown key")),
        }
    }
    let method = method.ok_or_else(|| bad(path, "needs a method"))?;
    Ok(PlanSpec { method, once, plan })
}

fn script(path: &str, v: &Value) -> Result<Vec<ScriptStep>, SpecError> {
    array(path, v)?
        .iter()
        .enumerate()
        .map(|(i, s)| step(&format!("{path}[{i}]"), s))
        .collect()
}

fn step(path: &str, v: &Value) -> Result<ScriptStep, SpecError> {
    let (kind, x, o) = tagged(path, v)?;
    let params = o
        .get("params")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));
    let id = o.get("id").cloned();
    match kind {
        "call" => Ok(ScriptStep::Call {
            id,
            method: string(path, x)?,
            params,
        }),
        "notify" => Ok(ScriptStep::notify(&string(path, x)?, params)),
        "heartbeat" => Ok(ScriptStep::Heartbeat),
        "raw" => Ok(ScriptStep::Raw(string(path, x)?)),
        "raw_call" => Ok(ScriptStep::RawCall {
            id: id.ok_or_else(|| bad(path, "a raw_call needs the id its reply carries"))?,
            text: string(path, x)?,
        }),
        "pause_ms" => Ok(ScriptStep::Pause(millis(path, x)?)),
        other => Err(bad(path, format!("unknown step {other:?}"))),
    }
}

fn reply(path: &str, v: &Value) -> Result<Reply, SpecError> {
    match tagged(path, v)? {
        ("default", _, _) => Ok(Reply::Default),
        ("result", r, _) => Ok(Reply::Result(r.clone())),
        ("error", e, _) => {
            let code = e
                .get("code")
                .and_then(Value::as_i64)
                .ok_or_else(|| bad(path, "an error needs an integer code"))?;
            let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
            Ok(Reply::Error(match e.get("data") {
                Some(d) => RpcError::with_data(code, message, d.clone()),
                None => RpcError::new(code, message),
            }))
        }
        ("raw", t, _) => Ok(Reply::Raw(string(path, t)?)),
        ("never", _, _) => Ok(Reply::Never),
        ("close", c, _) => Ok(Reply::Close(code(path, c)?)),
        ("drop", _, _) => Ok(Reply::Drop),
        (other, _, _) => Err(bad(path, format!("unknown reply {other:?}"))),
    }
}

/// A "next request" fault: `"name"` or `{"name": value}`.
pub(crate) fn fault(path: &str, v: &Value) -> Result<Fault, SpecError> {
    match tagged(path, v)? {
        ("drop_on_next_request", _, _) => Ok(Fault::DropOnNextRequest),
        ("close_on_next_request", c, _) => Ok(Fault::CloseOnNextRequest(code(path, c)?)),
        ("delay_next_response_ms", d, _) => Ok(Fault::DelayNextResponse(millis(path, d)?)),
        ("never_answer_next", _, _) => Ok(Fault::NeverAnswerNext),
        ("duplicate_next_response", _, _) => Ok(Fault::DuplicateNextResponse),
        ("wrong_version_next_response", _, _) => Ok(Fault::WrongVersionNextResponse),
        ("empty_next_response", _, _) => Ok(Fault::EmptyNextResponse),
        (other, _, _) => Err(bad(path, format!("unknown fault {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_full_document_becomes_config_plans_script_and_faults() {
        let spec = ServerSpec::from_value(&json!({
            "api_key": "k", "reject": {"accept_then_close": 1008},
            "session_frame": {"with_id": null}, "session_frame_write": "separate",
            "work_ms": 250, "heartbeat_ms": 0, "max_heartbeats": 3,
            "plans": [{"method": "run_step", "once": true, "work_ms": 10,
                       "script": ["heartbeat", {"call": "clear_step", "params": {"variable_ids": []}},
                                  {"pause_ms": 5}],
                       "reply": {"close": 1001}}],
            "connect_script": [{"notify": "heartbeat", "params": {"id": "x"}}],
            "faults": ["never_answer_next", {"delay_next_response_ms": 20}]
        }))
        .unwrap();
        assert_eq!(spec.config.api_key, "k");
        assert_eq!(spec.config.reject, RejectMode::AcceptThenClose(Some(1008)));
        assert_eq!(spec.config.session_frame, SessionFrame::WithId(Value::Null));
        assert_eq!(spec.config.session_frame_write, SessionFrameWrite::Separate);
        assert_eq!(spec.config.long_running.heartbeat_interval, None);
        assert_eq!(spec.config.long_running.max_heartbeats, Some(3));
        let p = &spec.plans[0];
        assert!(p.once);
        assert_eq!(p.plan.reply, Reply::Close(1001));
        assert_eq!(p.plan.script.as_ref().map(Vec::len), Some(3));
        assert_eq!(
            spec.faults[1],
            Fault::DelayNextResponse(Duration::from_millis(20))
        );
        assert_eq!(spec.connect_script.map(|s| s.len()), Some(1));
    }

    #[test]
    fn mistakes_name_their_place() {
        let e = ServerSpec::from_json(r#"{"plans": [{"method": "x", "script": [{"jump": 1}]}]}"#)
            .unwrap_err();
        assert_eq!(e.path, "plans[0].script[0]");
        let e = ServerSpec::from_json(r#"{"work_ms": -1}"#).unwrap_err();
        assert_eq!(e.path, "work_ms");
        assert!(ServerSpec::from_json("{").is_err());
        assert_eq!(
            ServerSpec::from_json(r#"{"wat": 1}"#).unwrap_err().path,
            "wat"
        );
    }
}
