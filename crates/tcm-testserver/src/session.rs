//! Socket-free per-connection protocol logic: validation, auth, rate limits, the info fast path
//! and dispatch decisions. One call per inbound text frame returns the actions to perform.

use crate::auth::{self, AuthContext, AuthOutcome};
use crate::config::Config;
use crate::frames::{self, QueueStats};
use crate::validate::{self, Envelope, Rejection};
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the connection must do after a frame, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write this text frame.
    Send(String),
    /// Send a close frame with this code and reason, then stop processing.
    Close(u16, String),
    /// Drop the TCP connection without a close frame (the reference handler crashed).
    Drop,
}

/// The three job families and their queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobKind {
    /// `info` (queued path only: actions other than `queue`/`queue_stats`).
    Info,
    /// `management`.
    Management,
    /// `inference`.
    Inference,
}

impl JobKind {
    /// The envelope `type` / `dropped_type` text.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Info => "info",
            JobKind::Management => "management",
            JobKind::Inference => "inference",
        }
    }
}

/// A request handed to the dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Client uuid; responses are routed to whoever holds it at send time.
    pub uuid: String,
    /// Job family.
    pub kind: JobKind,
    /// Tenant key for fair scheduling.
    pub tenant: String,
    /// The request payload.
    pub payload: Map<String, Value>,
    /// Top-level fields as serialised JSON, client order, with `_correlation_id`/`_auth` set.
    pub fields: Vec<(String, String)>,
}

/// Result of handing a job to the dispatcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submit {
    /// Queued.
    Queued,
    /// The per-uuid queue is full: NACK `BACKPRESSURE_QUEUE_FULL`.
    QueueFull,
    /// The executor is full: NACK `BACKPRESSURE_EXECUTOR_FULL`.
    ExecutorFull,
}

/// Server-wide state a session needs; implemented by the server and by [`MemoryEnv`].
pub trait Env {
    /// Monotonic clock.
    fn now(&self) -> Instant;
    /// Unix time in seconds (token expiry).
    fn unix_time(&self) -> f64;
    /// Registers `uuid` (of `tenant`) for this connection; `false` if another connection holds it.
    fn register(&mut self, uuid: &str, tenant: &str) -> bool;
    /// Records a token failure of `uuid`; returns the failures in the last 60 s including this one.
    fn record_auth_failure(&mut self, uuid: &str) -> usize;
    /// Takes one token from the tenant's bucket; `false` when empty.
    fn tenant_allow(&mut self, tenant: &str) -> bool;
    /// Current queue counters.
    fn queue_stats(&self) -> QueueStats;
    /// Whether the server is draining (§14).
    fn draining(&self) -> bool;
    /// A fresh 16-lowercase-hex correlation id.
    fn correlation_id(&mut self) -> String;
    /// Hands a job to the dispatcher.
    fn submit(&mut self, job: Job) -> Submit;
}

/// The protocol state of one connection.
#[derive(Debug)]
pub struct Session {
    config: Arc<Config>,
    auth: Option<(String, Option<AuthContext>)>,
    closed: bool,
    rate_window: VecDeque<Instant>,
}

fn err(text: &str) -> Action {
    Action::Send(frames::error_message(text))
}

fn close(code: u16) -> Action {
    Action::Close(code, String::new())
}

impl Session {
    /// A new, unauthenticated session.
    pub fn new(config: Arc<Config>) -> Self {
        Session {
            config,
            auth: None,
            closed: false,
            rate_window: VecDeque::new(),
        }
    }

    /// The authenticated uuid, if any.
    pub fn uuid(&self) -> Option<&str> {
        self.auth.as_ref().map(|(u, _)| u.as_str())
    }

    /// The auth context, if authenticated with one.
    pub fn context(&self) -> Option<&AuthContext> {
        self.auth.as_ref().and_then(|(_, c)| c.as_ref())
    }

    /// Drops the auth context but keeps the uuid (Q12: after a failed asynchronous send, later
    /// management and inference frames are Forbidden).
    pub fn forget_auth_context(&mut self) {
        if let Some((_, ctx)) = self.auth.as_mut() {
            *ctx = None;
        }
    }

    /// Whether the session has ended (closed or dropped); later frames are ignored.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Handles one inbound text frame.
    pub fn on_text(&mut self, text: &str, env: &mut dyn Env) -> Vec<Action> {
        if self.closed {
            return Vec::new();
        }
        let mut out = match validate::validate(text, self.config.max_message_bytes) {
            Err(Rejection::TooLarge) => vec![
                err(&validate::too_large_text(self.config.max_message_bytes)),
                close(1009),
            ],
            Err(Rejection::Crash) => vec![Action::Drop],
            Err(Rejection::Invalid(t)) if self.auth.is_none() => vec![err(&t), close(1008)],
            Err(Rejection::Invalid(t)) => vec![err(&t)],
            Ok(e) if self.auth.is_none() => self.first_frame(e, env),
            Ok(e) => self.later_frame(e, env),
        };
        if out
            .iter()
            .any(|a| matches!(a, Action::Close(..) | Action::Drop))
        {
            self.closed = true;
        } else if self.auth.is_some() && env.draining() {
            out.push(Action::Send(frames::shutdown_rejected()));
            out.push(close(1012));
            self.closed = true;
        }
        out
    }

    /// Handles a non-text frame (binary): the reference handler crashes.
    pub fn on_binary(&mut self) -> Vec<Action> {
        if self.closed {
            return Vec::new();
        }
        self.closed = true;
        vec![Action::Drop]
    }

    fn first_frame(&mut self, e: Envelope, env: &mut dyn Env) -> Vec<Action> {
        if e.kind != "auth" {
            return vec![err("First message must be type 'auth'"), close(1008)];
        }
        let cfg = &self.config;
        match auth::authenticate(&e.payload, &cfg.auth, cfg.shm_available, env.unix_time()) {
            AuthOutcome::Crash => vec![Action::Drop],
            AuthOutcome::ConfigurationError(t) => vec![err(&t), close(1008)],
            AuthOutcome::TokenRejected(t) => {
                let n = env.record_auth_failure(&e.uuid);
                let limit = cfg.rate_limits.auth_failures_per_minute_per_client as usize;
                if limit > 0 && n > limit {
                    vec![
                        err("Too many failed auth attempts for this client"),
                        close(1008),
                    ]
                } else {
                    vec![err(&t), close(1008)]
                }
            }
            AuthOutcome::Accepted {
                context,
                reply_capability,
            } => {
                if !env.register(&e.uuid, &context.tenant_key()) {
                    return vec![
                        err(&format!("UUID '{}' is already connected", e.uuid)),
                        close(1008),
                    ];
                }
                // Q11: the empty uuid is accepted but gets no auth context.
                let context = (!e.uuid.is_empty()).then_some(context);
                self.auth = Some((e.uuid, context));
                vec![Action::Send(frames::auth_ok(reply_capability.as_deref()))]
            }
        }
    }

    fn later_frame(&mut self, e: Envelope, env: &mut dyn Env) -> Vec<Action> {
        let Some((uuid, context)) = self.auth.clone() else {
            return Vec::new();
        };
        if e.uuid != uuid {
            return vec![
                err(&format!(
                    "UUID mismatch. Expected '{uuid}', got '{}'",
                    e.uuid
                )),
                close(1008),
            ];
        }
        let limit = self.config.rate_limits.messages_per_second_per_client as usize;
        if limit > 0 {
            let now = env.now();
            while self
                .rate_window
                .front()
                .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
            {
                self.rate_window.pop_front();
            }
            self.rate_window.push_back(now);
            if self.rate_window.len() > limit {
                return vec![
                    err("Rate limit exceeded for this client (messages per second)"),
                    close(1008),
                ];
            }
        }
        if e.kind == "auth" {
            return Vec::new();
        }
        let correlation = env.correlation_id();
        let auth_json = context
            .as_ref()
            .map(AuthContext::to_json)
            .unwrap_or_else(|| "null".to_string());
        let mut fields: Vec<(String, String)> = e
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), frames::to_json(v)))
            .collect();
        for (key, value) in [
            (
                "_correlation_id",
                frames::to_json(&Value::from(correlation)),
            ),
            ("_auth", auth_json),
        ] {
            match fields.iter_mut().find(|(k, _)| k == key) {
                Some(slot) => slot.1 = value,
                None => fields.push((key.to_string(), value)),
            }
        }
        let kind = match e.kind.as_str() {
            "info" => {
                let action = info_action(&e.payload);
                if action == "queue" || action == "queue_stats" {
                    let job_id = e.payload.get("job_id").cloned().unwrap_or(Value::Null);
                    return vec![Action::Send(frames::info_stats(
                        &job_id,
                        &action,
                        env.queue_stats(),
                    ))];
                }
                JobKind::Info
            }
            "management" => JobKind::Management,
            _ => JobKind::Inference,
        };
        let tenant = context
            .as_ref()
            .map(AuthContext::tenant_key)
            .unwrap_or_else(|| "unknown".to_string());
        if self.config.rate_limits.messages_per_second_per_tenant > 0 && !env.tenant_allow(&tenant)
        {
            return vec![Action::Send(frames::tenant_limit()), close(1008)];
        }
        if kind != JobKind::Info {
            let role = kind.as_str();
            if !context.as_ref().is_some_and(|c| c.has_role(role)) {
                return vec![err(&format!("Forbidden: missing '{role}' role"))];
            }
        }
        let job = Job {
            uuid,
            kind,
            tenant,
            payload: e.payload,
            fields,
        };
        match env.submit(job) {
            Submit::Queued => Vec::new(),
            Submit::QueueFull => vec![Action::Send(frames::queue_full(kind.as_str()))],
            Submit::ExecutorFull => vec![Action::Send(frames::executor_full(kind.as_str()))],
        }
    }
}

/// The info action: `payload.action`, else `payload.request_type`, else `unknown`.
pub fn info_action(payload: &Map<String, Value>) -> String {
    ["action", "request_type"]
        .iter()
        .filter_map(|k| payload.get(*k))
        .find(|v| match v {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        })
        .map(|v| match v {
            Value::String(s) => s.clone(),
            Value::Bool(true) => "True".to_string(),
            other => frames::to_json(other),
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// An in-memory [`Env`] for unit tests and fuzzing: records submitted jobs, never drains unless told.
#[derive(Debug)]
pub struct MemoryEnv {
    /// Uuids currently registered.
    pub registered: HashSet<String>,
    /// Token failures per uuid.
    pub auth_failures: HashMap<String, usize>,
    /// Remaining tenant tokens (missing tenant = full bucket of `tenant_capacity`).
    pub tenant_tokens: HashMap<String, u32>,
    /// Bucket capacity per tenant.
    pub tenant_capacity: u32,
    /// Jobs handed to the dispatcher.
    pub submitted: Vec<Job>,
    /// Per-(uuid, kind) queue capacity; submissions beyond it are `QueueFull`.
    pub queue_capacity: HashMap<JobKind, usize>,
    /// Whether the server is draining.
    pub draining: bool,
    /// The clock.
    pub clock: Instant,
    counter: u64,
}

impl Default for MemoryEnv {
    fn default() -> Self {
        MemoryEnv {
            registered: HashSet::new(),
            auth_failures: HashMap::new(),
            tenant_tokens: HashMap::new(),
            tenant_capacity: 1,
            submitted: Vec::new(),
            queue_capacity: HashMap::from([
                (JobKind::Info, 10),
                (JobKind::Management, 5),
                (JobKind::Inference, 10),
            ]),
            draining: false,
            clock: Instant::now(),
            counter: 0,
        }
    }
}

impl Env for MemoryEnv {
    fn now(&self) -> Instant {
        self.clock
    }
    fn unix_time(&self) -> f64 {
        1_700_000_000.0
    }
    fn register(&mut self, uuid: &str, _tenant: &str) -> bool {
        self.registered.insert(uuid.to_string())
    }
    fn record_auth_failure(&mut self, uuid: &str) -> usize {
        let n = self.auth_failures.entry(uuid.to_string()).or_insert(0);
        *n += 1;
        *n
    }
    fn tenant_allow(&mut self, tenant: &str) -> bool {
        let t = self
            .tenant_tokens
            .entry(tenant.to_string())
            .or_insert(self.tenant_capacity);
        if *t == 0 {
            return false;
        }
        *t -= 1;
        true
    }
    fn queue_stats(&self) -> QueueStats {
        QueueStats::default()
    }
    fn draining(&self) -> bool {
        self.draining
    }
    fn correlation_id(&mut self) -> String {
        self.counter += 1;
        format!("{:016x}", self.counter)
    }
    fn submit(&mut self, job: Job) -> Submit {
        let cap = self
            .queue_capacity
            .get(&job.kind)
            .copied()
            .unwrap_or(usize::MAX);
        let queued = self
            .submitted
            .iter()
            .filter(|j| j.kind == job.kind && j.uuid == job.uuid)
            .count();
        if queued >= cap {
            return Submit::QueueFull;
        }
        self.submitted.push(job);
        Submit::Queued
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn session(cfg: Config) -> (Session, MemoryEnv) {
        (Session::new(Arc::new(cfg)), MemoryEnv::default())
    }

    fn authed(cfg: Config) -> (Session, MemoryEnv) {
        let (mut s, mut env) = session(cfg);
        let out = s.on_text(r#"{"uuid":"c1","type":"auth","payload":{}}"#, &mut env);
        assert_eq!(out, vec![Action::Send(r#"{"type":"auth.ok"}"#.into())]);
        (s, env)
    }

    fn sent(a: &[Action]) -> Vec<String> {
        a.iter()
            .filter_map(|a| match a {
                Action::Send(t) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn oversize_first_frame_gets_an_error_then_1009() {
        let (mut s, mut env) = session(Config::default());
        let big = format!(
            r#"{{"uuid":"a","type":"auth","payload":{{"pad":"{}"}}}}"#,
            "x".repeat(70_000)
        );
        let out = s.on_text(&big, &mut env);
        assert_eq!(
            out,
            vec![
                Action::Send(
                    r#"{"type":"error","payload":{"message":"Message too large (>65536 bytes)"}}"#
                        .into()
                ),
                Action::Close(1009, String::new())
            ]
        );
        assert!(s.is_closed());
    }

    #[test]
    fn oversize_frame_after_auth_also_closes_1009() {
        let (mut s, mut env) = authed(Config::default());
        let big = format!(
            r#"{{"uuid":"c1","type":"info","payload":{{"pad":"{}"}}}}"#,
            "x".repeat(70_000)
        );
        assert_eq!(
            s.on_text(&big, &mut env).last(),
            Some(&Action::Close(1009, String::new()))
        );
    }

    #[test]
    fn binary_frames_drop_the_connection_before_and_after_auth() {
        let (mut s, _) = session(Config::default());
        assert_eq!(s.on_binary(), vec![Action::Drop]);
        let (mut s, _) = authed(Config::default());
        assert_eq!(s.on_binary(), vec![Action::Drop]);
    }

    #[test]
    fn json_scalars_drop_the_connection_but_strings_and_arrays_do_not() {
        let (mut s, mut env) = authed(Config::default());
        let out = s.on_text("\"hello\"", &mut env);
        assert_eq!(
            sent(&out),
            vec![frames::error_message("Missing required field: 'uuid'")]
        );
        let out = s.on_text("[1,2]", &mut env);
        assert_eq!(sent(&out).len(), 1);
        assert!(!s.is_closed());
        assert_eq!(s.on_text("123", &mut env), vec![Action::Drop]);
        assert!(s.is_closed());
    }

    #[test]
    fn preauth_errors_close_1008() {
        let (mut s, mut env) = session(Config::default());
        let out = s.on_text(r#"{"uuid":"a","type":"info","payload":{}}"#, &mut env);
        assert_eq!(out[1], Action::Close(1008, String::new()));
        assert_eq!(
            sent(&out),
            vec![frames::error_message("First message must be type 'auth'")]
        );
    }

    #[test]
    fn duplicate_uuid_is_rejected() {
        let (_s, mut env) = authed(Config::default());
        let mut second = Session::new(Arc::new(Config::default()));
        let out = second.on_text(r#"{"uuid":"c1","type":"auth","payload":{}}"#, &mut env);
        assert_eq!(
            sent(&out),
            vec![frames::error_message("UUID 'c1' is already connected")]
        );
    }

    #[test]
    fn second_auth_is_silently_ignored() {
        let (mut s, mut env) = authed(Config::default());
        assert!(
            s.on_text(r#"{"uuid":"c1","type":"auth","payload":{}}"#, &mut env)
                .is_empty()
        );
    }

    #[test]
    fn uuid_mismatch_closes_1008() {
        let (mut s, mut env) = authed(Config::default());
        let out = s.on_text(r#"{"uuid":"x","type":"info","payload":{}}"#, &mut env);
        assert_eq!(
            sent(&out),
            vec![frames::error_message(
                "UUID mismatch. Expected 'c1', got 'x'"
            )]
        );
        assert_eq!(out[1], Action::Close(1008, String::new()));
    }

    #[test]
    fn fast_path_info_is_answered_inline_with_job_id() {
        let (mut s, mut env) = authed(Config::default());
        let out = s.on_text(
            r#"{"uuid":"c1","type":"info","payload":{"action":"queue","job_id":{"k":1}}}"#,
            &mut env,
        );
        let v: Value = serde_json::from_str(&sent(&out)[0]).unwrap();
        assert_eq!(v["payload"]["job_id"], serde_json::json!({"k":1}));
        assert_eq!(v["payload"]["request_type"], "queue");
        assert!(env.submitted.is_empty());
    }

    #[test]
    fn management_jobs_carry_correlation_and_auth_in_client_order() {
        let (mut s, mut env) = authed(Config::default());
        let out = s.on_text(r#"{"uuid":"c1","type":"management","_auth":1,"request_id":"R","payload":{"action":"x"}}"#, &mut env);
        assert!(out.is_empty());
        let keys: Vec<&str> = env.submitted[0]
            .fields
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "uuid",
                "type",
                "_auth",
                "request_id",
                "payload",
                "_correlation_id"
            ]
        );
    }

    #[test]
    fn missing_role_is_forbidden_and_the_connection_stays_open() {
        let (mut s, mut env) = session(Config::default());
        s.on_text(
            r#"{"uuid":"v","type":"auth","payload":{"client":{"roles":["viewer"]}}}"#,
            &mut env,
        );
        let out = s.on_text(r#"{"uuid":"v","type":"inference","payload":{}}"#, &mut env);
        assert_eq!(
            sent(&out),
            vec![frames::error_message("Forbidden: missing 'inference' role")]
        );
        assert!(!s.is_closed());
    }

    #[test]
    fn full_queue_is_nacked() {
        let (mut s, mut env) = authed(Config::default());
        let mut nacks = 0;
        for _ in 0..12 {
            let out = s.on_text(
                r#"{"uuid":"c1","type":"management","payload":{"action":"x"}}"#,
                &mut env,
            );
            nacks += sent(&out).len();
        }
        assert_eq!(nacks, 7);
    }

    #[test]
    fn client_rate_limit_closes_on_the_third_frame() {
        let mut cfg = Config::default();
        cfg.rate_limits.messages_per_second_per_client = 2;
        let (mut s, mut env) = authed(cfg);
        let f = r#"{"uuid":"c1","type":"info","payload":{"action":"queue_stats"}}"#;
        assert_eq!(s.on_text(f, &mut env).len(), 1);
        assert_eq!(s.on_text(f, &mut env).len(), 1);
        let out = s.on_text(f, &mut env);
        assert_eq!(
            sent(&out),
            vec![frames::error_message(
                "Rate limit exceeded for this client (messages per second)"
            )]
        );
    }

    #[test]
    fn draining_sends_shutdown_after_the_frame_is_processed() {
        let (mut s, mut env) = authed(Config::default());
        env.draining = true;
        let out = s.on_text(
            r#"{"uuid":"c1","type":"info","payload":{"action":"queue_stats"}}"#,
            &mut env,
        );
        assert_eq!(out.len(), 3);
        assert_eq!(out[1], Action::Send(frames::shutdown_rejected()));
        assert_eq!(out[2], Action::Close(1012, String::new()));
    }

    #[test]
    fn arbitrary_garbage_never_panics() {
        let (mut s, mut env) = authed(Config::default());
        for t in [
            "",
            "{",
            "}",
            "[]",
            "{}",
            "null",
            "\u{0}",
            "{\"uuid\":null}",
            "[\"uuid\",\"type\",\"payload\"]",
        ] {
            let _ = s.on_text(t, &mut env);
        }
    }
}
