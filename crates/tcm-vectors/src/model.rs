//! Typed model of a conversation file (`vectors/README.md` §1).
//!
//! Top-level fields map onto [`Conversation`]; each step object maps onto a [`Step`]: one
//! [`StepKind`] (the action key and its options) plus the `conn`, `label` and `note` modifiers.
//! Unknown top-level fields, unknown actions and options that do not belong to the action are
//! rejected, so a typo in a vector shows up when it is loaded rather than as a puzzling run.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::LoadError;
use crate::matcher::MatchMode;

/// Protocol name of TCM conversations.
pub const PROTOCOL_TCM: &str = "tcm";
/// Protocol name of Tellurio JSON-RPC conversations.
pub const PROTOCOL_TELLURIO: &str = "tellurio-jsonrpc";

/// One recorded scenario: metadata plus the ordered steps.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conversation {
    /// Unique name, equal to the file name without `.json`.
    pub name: String,
    /// `tcm` or `tellurio-jsonrpc`.
    pub protocol: String,
    /// Where the frames come from (`observed`, `code`, `client-code`).
    pub provenance: String,
    /// Server configuration the scenario needs (README §3).
    pub server_profile: String,
    /// Prose; states the invariants of timing-sensitive vectors.
    pub description: String,
    /// The exact set or order of frames depends on timing; check invariants, not counts.
    #[serde(default)]
    pub timing_sensitive: bool,
    /// Tellurio only: settings of the client under test (empty object when absent).
    #[serde(default = "empty_object")]
    pub client_config: Value,
    /// Tellurio only: local state the client must hold before the steps.
    #[serde(default)]
    pub client_setup: Option<Value>,
    /// The ordered actions.
    pub steps: Vec<Step>,
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// One step: an action plus its modifiers.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The action and its options.
    pub kind: StepKind,
    /// Connection the step applies to (`conn` modifier, default `c1`; for `connect`, the name
    /// of the connection being opened).
    pub conn: String,
    /// Name other steps can refer to (`outcome.of`).
    pub label: Option<String>,
    /// Prose attached to the step.
    pub note: Option<String>,
}

/// An element of an `expect_unordered` list.
#[derive(Debug, Clone, PartialEq)]
pub struct UnorderedFrame {
    /// The frame to match (or emit).
    pub frame: Value,
    /// Written as `{"$optional": ...}`: matches zero or one frame.
    pub optional: bool,
}

/// What the client API must report (`outcome` step, client tests only).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Label of a `send` step, or a connection name for `connect_failed`.
    pub of: String,
    /// Kind of result the API reports.
    pub kind: OutcomeKind,
    /// Matched exactly against the JSON-RPC `result` or `error` member.
    #[serde(default)]
    pub value: Option<Value>,
    /// When the outcome must be reported, in ms from the referenced send.
    #[serde(default)]
    pub between_ms: Option<(u64, u64)>,
    /// Prose about the outcome.
    #[serde(default)]
    pub note: Option<String>,
}

/// The kinds of outcome a client API can report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// A JSON-RPC `result`.
    Result,
    /// A JSON-RPC `error` response.
    RpcError,
    /// The call failed locally or by protocol.
    Failed,
    /// The call timed out.
    Timeout,
    /// The connection was lost while the call was pending.
    Disconnected,
    /// The connection could not be established.
    ConnectFailed,
}

/// The action of a step (README §1.1). Direction is always from the client's side: `Send*` is
/// client → server, `Expect*` is server → client.
#[derive(Debug, Clone, PartialEq)]
pub enum StepKind {
    /// Open a WebSocket connection (`Step::conn` is its name).
    Connect {
        /// Connection name (same as `Step::conn`).
        name: String,
        /// Upgrade path; `None` means the protocol default (see [`Conversation::default_path`]).
        path: Option<String>,
        /// Headers the client sends in the upgrade request, in file order.
        headers: Vec<(String, String)>,
        /// HTTP status of the upgrade response (101 unless stated).
        expect_status: u16,
    },
    /// One text frame holding the compact serialisation of a JSON value.
    Send {
        /// The frame (may hold wildcards such as `<uuid4:NAME>`).
        frame: Value,
        /// How a server-role runner checks the client's frame.
        matching: MatchMode,
    },
    /// One text frame holding exactly this string.
    SendText(String),
    /// One binary frame holding the UTF-8 bytes of this string.
    SendBinary(String),
    /// A frame padded with `x` characters at `pad_path` to exactly `total_bytes`.
    SendPadded {
        /// The frame before padding.
        frame: Value,
        /// Object keys leading to the padding string.
        pad_path: Vec<String>,
        /// Exact size of the text frame in bytes.
        total_bytes: usize,
    },
    /// The next server frame matches.
    Expect {
        /// The expected frame.
        frame: Value,
        /// `exact` or `shape`.
        matching: MatchMode,
    },
    /// The next server frame is a text frame holding exactly this string.
    ExpectText(String),
    /// The next frames are these, in any order.
    ExpectUnordered {
        /// The frames, in the order they were observed.
        frames: Vec<UnorderedFrame>,
        /// `exact` or `shape`.
        matching: MatchMode,
    },
    /// The server closes the connection.
    ExpectClose {
        /// Close code; `None` means dropped without a close frame.
        code: Option<u16>,
        /// Exact close reason, when checked.
        reason: Option<String>,
    },
    /// No frame arrives for this many ms and the connection stays open.
    ExpectSilenceMs(u64),
    /// The player pauses this many ms.
    WaitMs(u64),
    /// The client closes the connection with this code; `None` drops TCP without a handshake.
    Close(Option<u16>),
    /// The client sends nothing on the connection for this many ms.
    NoSendMs(u64),
    /// An instruction to the server or its test setup (README §3.2).
    ServerAction(String),
    /// What the client API must report.
    Outcome(Outcome),
}

impl StepKind {
    /// The action key as written in the file (`expect`, `send_padded`, ...).
    pub fn action(&self) -> &'static str {
        match self {
            StepKind::Connect { .. } => "connect",
            StepKind::Send { .. } => "send",
            StepKind::SendText(_) => "send_text",
            StepKind::SendBinary(_) => "send_binary",
            StepKind::SendPadded { .. } => "send_padded",
            StepKind::Expect { .. } => "expect",
            StepKind::ExpectText(_) => "expect_text",
            StepKind::ExpectUnordered { .. } => "expect_unordered",
            StepKind::ExpectClose { .. } => "expect_close",
            StepKind::ExpectSilenceMs(_) => "expect_silence_ms",
            StepKind::WaitMs(_) => "wait_ms",
            StepKind::Close(_) => "close",
            StepKind::NoSendMs(_) => "no_send_ms",
            StepKind::ServerAction(_) => "server_action",
            StepKind::Outcome(_) => "outcome",
        }
    }
}

const ACTIONS: &[&str] = &[
    "connect",
    "send",
    "send_text",
    "send_binary",
    "send_padded",
    "expect",
    "expect_text",
    "expect_unordered",
    "expect_close",
    "expect_silence_ms",
    "wait_ms",
    "close",
    "no_send_ms",
    "server_action",
    "outcome",
];

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Step::from_value(&value).map_err(serde::de::Error::custom)
    }
}

impl Step {
    /// Parse one step object.
    pub fn from_value(value: &Value) -> Result<Step, String> {
        let obj = value
            .as_object()
            .ok_or_else(|| format!("a step must be an object, got {value}"))?;
        let actions: Vec<&str> = obj
            .keys()
            .map(String::as_str)
            .filter(|k| ACTIONS.contains(k))
            .collect();
        let action = match actions.as_slice() {
            [one] => *one,
            [] => return Err(format!("step has no known action key: {value}")),
            many => return Err(format!("step has several action keys {many:?}")),
        };
        let allowed: &[&str] = match action {
            "connect" => &["path", "headers", "expect_status"],
            "send" | "expect" | "expect_unordered" => &["match"],
            "expect_close" => &["reason"],
            _ => &[],
        };
        for key in obj.keys() {
            let known = key == action
                || allowed.contains(&key.as_str())
                || matches!(key.as_str(), "conn" | "label" | "note");
            if !known {
                return Err(format!("unknown key {key:?} in a {action} step"));
            }
        }
        let arg = &obj[action];
        let conn_modifier = opt_string(obj, "conn")?;
        let label = opt_string(obj, "label")?;
        let note = opt_string(obj, "note")?;
        let matching = match obj.get("match") {
            None => MatchMode::Exact,
            Some(v) => MatchMode::deserialize(v).map_err(|e| format!("bad match: {e}"))?,
        };
        let kind = match action {
            "connect" => {
                let name = as_string(arg, "connect")?;
                let path = opt_string(obj, "path")?;
                let mut headers = Vec::new();
                if let Some(h) = obj.get("headers") {
                    let h = h
                        .as_object()
                        .ok_or_else(|| "connect headers must be an object".to_string())?;
                    for (k, v) in h {
                        headers.push((k.clone(), as_string(v, "header value")?));
                    }
                }
                let expect_status = match obj.get("expect_status") {
                    None => 101,
                    Some(v) => v
                        .as_u64()
                        .and_then(|n| u16::try_from(n).ok())
                        .ok_or_else(|| format!("bad expect_status {v}"))?,
                };
                StepKind::Connect {
                    name,
                    path,
                    headers,
                    expect_status,
                }
            }
            "send" => StepKind::Send {
                frame: arg.clone(),
                matching,
            },
            "send_text" => StepKind::SendText(as_string(arg, action)?),
            "send_binary" => StepKind::SendBinary(as_string(arg, action)?),
            "send_padded" => {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields)]
                struct Padded {
                    frame: Value,
                    pad_path: Vec<String>,
                    total_bytes: usize,
                }
                let p = Padded::deserialize(arg).map_err(|e| format!("bad send_padded: {e}"))?;
                if p.pad_path.is_empty() {
                    return Err("send_padded pad_path is empty".into());
                }
                StepKind::SendPadded {
                    frame: p.frame,
                    pad_path: p.pad_path,
                    total_bytes: p.total_bytes,
                }
            }
            "expect" => StepKind::Expect {
                frame: arg.clone(),
                matching,
            },
            "expect_text" => StepKind::ExpectText(as_string(arg, action)?),
            "expect_unordered" => {
                let list = arg
                    .as_array()
                    .ok_or_else(|| "expect_unordered takes an array".to_string())?;
                let frames = list.iter().map(unordered_frame).collect::<Result<_, _>>()?;
                StepKind::ExpectUnordered { frames, matching }
            }
            "expect_close" => StepKind::ExpectClose {
                code: opt_code(arg)?,
                reason: opt_string(obj, "reason")?,
            },
            "expect_silence_ms" => StepKind::ExpectSilenceMs(as_ms(arg, action)?),
            "wait_ms" => StepKind::WaitMs(as_ms(arg, action)?),
            "close" => StepKind::Close(opt_code(arg)?),
            "no_send_ms" => StepKind::NoSendMs(as_ms(arg, action)?),
            "server_action" => StepKind::ServerAction(as_string(arg, action)?),
            "outcome" => StepKind::Outcome(
                Outcome::deserialize(arg).map_err(|e| format!("bad outcome: {e}"))?,
            ),
            other => return Err(format!("unhandled action {other}")),
        };
        let conn = match &kind {
            StepKind::Connect { name, .. } => {
                if let Some(c) = &conn_modifier
                    && c != name
                {
                    return Err(format!("connect {name:?} carries conn {c:?}"));
                }
                name.clone()
            }
            _ => conn_modifier.unwrap_or_else(|| "c1".to_string()),
        };
        Ok(Step {
            kind,
            conn,
            label,
            note,
        })
    }
}

fn unordered_frame(v: &Value) -> Result<UnorderedFrame, String> {
    if let Some(obj) = v.as_object()
        && let Some(inner) = obj.get("$optional")
    {
        if obj.len() != 1 {
            return Err("an $optional element must have no other keys".into());
        }
        return Ok(UnorderedFrame {
            frame: inner.clone(),
            optional: true,
        });
    }
    Ok(UnorderedFrame {
        frame: v.clone(),
        optional: false,
    })
}

fn as_string(v: &Value, what: &str) -> Result<String, String> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{what} must be a string, got {v}"))
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, String> {
    obj.get(key).map(|v| as_string(v, key)).transpose()
}

fn as_ms(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{what} must be a non-negative integer, got {v}"))
}

fn opt_code(v: &Value) -> Result<Option<u16>, String> {
    if v.is_null() {
        return Ok(None);
    }
    v.as_u64()
        .and_then(|n| u16::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| format!("close code must be an integer or null, got {v}"))
}

impl Conversation {
    /// Load one conversation file; its `name` must equal the file stem.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let conv: Conversation = serde_json::from_str(&text).map_err(|source| LoadError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |message: String| LoadError::Invalid {
            path: path.to_path_buf(),
            message,
        };
        if let Some(stem) = path.file_stem().and_then(|s| s.to_str())
            && stem != conv.name
        {
            return Err(invalid(format!(
                "name {:?} differs from the file name",
                conv.name
            )));
        }
        if conv.protocol != PROTOCOL_TCM && conv.protocol != PROTOCOL_TELLURIO {
            return Err(invalid(format!("unknown protocol {:?}", conv.protocol)));
        }
        Ok(conv)
    }

    /// Load every `*.json` file of a directory (not recursive), sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Conversation>, LoadError> {
        let io = |source| LoadError::Io {
            path: dir.to_path_buf(),
            source,
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let p = entry.map_err(io)?.path();
            if p.extension().is_some_and(|e| e == "json") {
                paths.push(p);
            }
        }
        let mut convs = paths
            .iter()
            .map(Conversation::load)
            .collect::<Result<Vec<_>, _>>()?;
        convs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(convs)
    }

    /// Upgrade path used when a `connect` step names none: `/ws` for TCM, `/ws/v0/rpc/` for
    /// Tellurio.
    pub fn default_path(&self) -> &'static str {
        if self.protocol == PROTOCOL_TELLURIO {
            "/ws/v0/rpc/"
        } else {
            "/ws"
        }
    }

    /// Whether TCM's unsolicited frames (README §1.2) may be skipped in this conversation.
    pub fn is_tcm(&self) -> bool {
        self.protocol == PROTOCOL_TCM
    }

    /// The `server_action` steps' actions, in order (empty when the server needs no outside
    /// help to play the conversation).
    pub fn server_actions(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| match &s.kind {
                StepKind::ServerAction(a) => Some(a.as_str()),
                _ => None,
            })
            .collect()
    }

    /// Names of the connections the conversation opens, in order of first appearance.
    pub fn connections(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for s in &self.steps {
            if !names.contains(&s.conn.as_str()) {
                names.push(&s.conn);
            }
        }
        names
    }
}
