//! Scripts and plans: the server → client traffic a request triggers before its reply, and
//! per-method overrides of timing, script and reply.

use std::time::Duration;

use serde_json::Value;
use tcm_proto::jsonrpc::RpcError;

/// One step of a script run on a connection (before a reply, or right after the session frame).
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptStep {
    /// A server → client request; the server waits for the reply and records it. With no id the
    /// server picks `srv-<n>`.
    Call {
        /// The request id (any JSON value); `None` picks one.
        id: Option<Value>,
        /// The method.
        method: String,
        /// The params.
        params: Value,
    },
    /// A server → client notification (no reply awaited).
    Notify {
        /// The method.
        method: String,
        /// The params.
        params: Value,
    },
    /// A `heartbeat` notification for the request being served (ignored in a connect script).
    Heartbeat,
    /// A text frame sent verbatim (no reply awaited).
    Raw(String),
    /// A text frame sent verbatim, then the reply carrying `id` is awaited and recorded.
    RawCall {
        /// The id the reply will carry.
        id: Value,
        /// The frame.
        text: String,
    },
    /// Wait this long.
    Pause(Duration),
}

impl ScriptStep {
    /// A call with a server-chosen id.
    pub fn call(method: &str, params: Value) -> Self {
        Self::Call {
            id: None,
            method: method.into(),
            params,
        }
    }

    /// A call with this id.
    pub fn call_with_id(id: impl Into<Value>, method: &str, params: Value) -> Self {
        Self::Call {
            id: Some(id.into()),
            method: method.into(),
            params,
        }
    }

    /// A notification.
    pub fn notify(method: &str, params: Value) -> Self {
        Self::Notify {
            method: method.into(),
            params,
        }
    }
}

/// How a request is finally answered.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Reply {
    /// The method's own result (or error) from the in-memory registry.
    #[default]
    Default,
    /// This result instead.
    Result(Value),
    /// This error instead.
    Error(RpcError),
    /// This text verbatim instead of a response.
    Raw(String),
    /// No reply at all.
    Never,
    /// Close the connection with this code instead of replying.
    Close(u16),
    /// Drop the connection (no close frame) instead of replying.
    Drop,
}

/// What the server does with a request of a given method: work (with heartbeats), run a script,
/// then reply. Plans override the defaults (short methods: reply at once; long-running methods:
/// the configured [`LongRunning`](crate::LongRunning) timing and the method's own script).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Time spent "working" before the script; `None` keeps the default for the method.
    pub work: Option<Duration>,
    /// Heartbeat interval while working; `None` keeps the default, `Some(None)` sends none.
    pub heartbeat_interval: Option<Option<Duration>>,
    /// Stop heartbeats after this many; `None` keeps the default.
    pub max_heartbeats: Option<Option<u32>>,
    /// The script; `None` keeps the method's default script.
    pub script: Option<Vec<ScriptStep>>,
    /// The reply.
    pub reply: Reply,
}

impl Plan {
    /// A plan that changes nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Work for `d` before the script.
    pub fn work(mut self, d: Duration) -> Self {
        self.work = Some(d);
        self
    }

    /// Heartbeats every `d` while working.
    pub fn heartbeats_every(mut self, d: Duration) -> Self {
        self.heartbeat_interval = Some(Some(d));
        self
    }

    /// No heartbeats.
    pub fn no_heartbeats(mut self) -> Self {
        self.heartbeat_interval = Some(None);
        self
    }

    /// At most `n` heartbeats.
    pub fn max_heartbeats(mut self, n: u32) -> Self {
        self.max_heartbeats = Some(Some(n));
        self
    }

    /// Replace the script.
    pub fn script(mut self, steps: Vec<ScriptStep>) -> Self {
        self.script = Some(steps);
        self
    }

    /// Replace the reply.
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }

    /// Reply with this result.
    pub fn result(self, result: Value) -> Self {
        self.reply(Reply::Result(result))
    }
}

/// A plan with every default filled in, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Resolved {
    pub(crate) work: Duration,
    pub(crate) heartbeat_interval: Option<Duration>,
    pub(crate) max_heartbeats: Option<u32>,
    pub(crate) script: Vec<ScriptStep>,
    pub(crate) reply: Reply,
}

impl Resolved {
    /// Whether the request can be answered on the spot (no work, no script).
    pub(crate) fn immediate(&self) -> bool {
        self.work.is_zero() && self.script.is_empty()
    }
}

/// Plans registered through the handle: one-shot plans are used first, in order.
#[derive(Debug, Default)]
pub(crate) struct Plans {
    always: std::collections::HashMap<String, Plan>,
    once: std::collections::HashMap<String, std::collections::VecDeque<Plan>>,
}

impl Plans {
    pub(crate) fn set(&mut self, method: &str, plan: Plan) {
        self.always.insert(method.to_string(), plan);
    }

    pub(crate) fn push_once(&mut self, method: &str, plan: Plan) {
        self.once
            .entry(method.to_string())
            .or_default()
            .push_back(plan);
    }

    pub(crate) fn clear(&mut self) {
        self.always.clear();
        self.once.clear();
    }

    /// The plan for the next request of `method`, if any.
    pub(crate) fn take(&mut self, method: &str) -> Option<Plan> {
        if let Some(p) = self.once.get_mut(method).and_then(|q| q.pop_front()) {
            return Some(p);
        }
        self.always.get(method).cloned()
    }
}
