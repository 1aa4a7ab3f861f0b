//! The step interpreter: plays one side of a conversation over real WebSocket connections.
//!
//! One interpreter serves both roles. Every step that carries traffic has a *producer*: the
//! client for `send*`, `close` and `no_send_ms`, the server for `expect*`. When the producer is
//! the role being played, the step is **emitted** (frames are built from the recorded ones with
//! wildcards replaced by concrete or bound values; closes and silences are performed); otherwise
//! it is **checked** against what the peer does. So:
//!
//! * [`play_client`] (testing a server): performs `send*`, checks `expect*`; `outcome` steps do
//!   not apply; `server_action` steps go to [`ServerActions`].
//! * [`play_server`] (testing a client): emits `expect*`, checks `send*`; the [`ClientDriver`] is
//!   told about `connect`, `send*` and `close` steps before the runner waits for the client,
//!   and checks `outcome` steps; `server_action` steps do not apply (the frames that follow
//!   them are the action's effect).
//!
//! # Waiting
//!
//! A checked frame or close must arrive within [`DEFAULT_WAIT`] (5 s) of the runner starting
//! to wait for it. An emitted silence (`expect_silence_ms` in the server role, `no_send_ms` in
//! the client role) lasts the recorded time plus [`QUIET_MARGIN`], so that a peer whose check
//! window started a little later never sees the next frame inside its window. `wait_ms` pauses
//! both roles.
//!
//! # Unsolicited TCM frames
//!
//! When checking a TCM server (client role), an `alert` frame or an `error` frame with code
//! `BACKPRESSURE_INSUFFICIENT_BUDGET` that does not match the awaited step is skipped wherever it
//! appears (README §1.2) and listed in [`Report::skipped_unsolicited`]. A step that lists such a
//! frame still matches it.
//!
//! # `expect_unordered`
//!
//! Emitted in the listed order, `$optional` elements included. When checked, each arriving frame
//! must be assignable, together with the frames before it, to distinct elements (a bipartite
//! matching); the step is complete once every non-optional element is covered.
//!
//! # Timing-sensitive conversations
//!
//! With `timing_sensitive: true` the steps record one run; the invariants in the descriptions
//! (`pipelined-info-x15-queue-full`, `pipelined-management-x12-queue-full`,
//! `inference-pipelined-x14-queue-full`, `rate-limit-tenant-closes-1008`) are: every request
//! yields exactly one answer (a `BACKPRESSURE_QUEUE_FULL` NACK or a response); which requests are
//! dropped, and so how many NACKs and responses there are and which responses, depends on
//! scheduling; NACKs and advisory frames carry no request id; the connection stays open (the
//! `expect_silence_ms` after the block). A checked `expect_unordered` block of such a
//! conversation therefore reads frames until it has as many *answers* as the block has
//! non-optional elements (the number of requests it answers), where a frame is
//!
//! 1. an answer if it matches any non-optional element (elements may be used more than once);
//! 2. else skipped if it matches an `$optional` element or is an unsolicited TCM frame;
//! 3. else an answer if it is of the *same kind* as a non-optional element: it matches that
//!    element in `shape` mode and has the same `type` and the same `payload.code` (this admits
//!    the response to a request that was dropped in the recorded run, e.g. `job_id: 12`, or
//!    `OUTPUT0: [12.0]`); such frames are listed in [`Report::notes`];
//! 4. else a failure.
//!
//! An answer identical to an earlier answer of the same block is a failure unless it is an
//! `error` frame or matches an element the block lists at least twice: answers that carry no
//! request id (NACKs, the management responses of `pipelined-management-x12-queue-full`) are
//! indistinguishable, any other answer arriving twice means a request was answered twice.
//!
//! The block's `$optional` elements may still arrive after it (the management response of
//! `rate-limit-tenant-closes-1008` may or may not get out before the close): later steps on that
//! connection skip them, with a note. Other steps of timing-sensitive conversations are checked
//! as usual.
//!
//! # End of the script
//!
//! Connections still open after the last step are closed: the client role closes them with
//! 1000, the server role waits up to [`DEFAULT_WAIT`] for the client to close them (after
//! [`ClientDriver::finish`]).

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::RunFailure;
use crate::matcher::{self, Bindings, MatchMode};
use crate::model::{Conversation, Outcome, Step, StepKind};
use crate::wire::{self, ConnectError, Incoming, WsConn};

mod frames;
mod unordered;

use frames::{Data, FrameSpec, cut};

/// How long a checked frame or close may take to arrive.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// Extra time an emitted silence lasts beyond the recorded one.
pub const QUIET_MARGIN: Duration = Duration::from_millis(300);
/// How long a side that starts a closing handshake waits for the answer.
const CLOSE_LINGER: Duration = Duration::from_secs(2);

/// The side of the conversation a runner plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The runner is the client (it tests a server).
    Client,
    /// The runner is the server (it tests a client).
    Server,
}

/// Where the server under test listens (client role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTarget {
    /// Address of the server's WebSocket listener.
    pub addr: SocketAddr,
}

/// Carries out `server_action` steps (README §3.2) for the server under test (client role).
pub trait ServerActions {
    /// Perform `action` (e.g. `sigterm`); an error fails the run at that step.
    fn server_action(&mut self, action: &str) -> Result<(), String>;
}

/// [`ServerActions`] that accepts every action and does nothing: for servers that need no
/// outside help, or for conversations without `server_action` steps.
#[derive(Debug, Clone, Copy, Default)]
pub struct IgnoreServerActions;

impl ServerActions for IgnoreServerActions {
    fn server_action(&mut self, _action: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Drives the client under test (server role): the runner tells it when the script expects the
/// client to act, and asks it to check what its API reported. Every method defaults to doing
/// nothing, which suits a client that acts on its own.
pub trait ClientDriver {
    /// `connect` step: the client should start connecting `step.conn` now. Must not wait for the
    /// handshake to finish: the runner accepts the connection after this returns.
    fn connect(&mut self, _index: usize, _step: &Step) -> Result<(), String> {
        Ok(())
    }

    /// `send`, `send_text`, `send_binary` or `send_padded` step: the client should now send this
    /// frame (e.g. the test makes its API issue the request). The runner then waits for it.
    fn send(&mut self, _index: usize, _step: &Step, _bindings: &Bindings) -> Result<(), String> {
        Ok(())
    }

    /// `close` step: the client should now close (or drop) the connection.
    fn close(&mut self, _index: usize, _step: &Step) -> Result<(), String> {
        Ok(())
    }

    /// `outcome` step: check what the client API reported; an error fails the run.
    fn outcome(
        &mut self,
        _index: usize,
        _outcome: &Outcome,
        _bindings: &Bindings,
    ) -> Result<(), String> {
        Ok(())
    }

    /// The script is over: the client should close its connections.
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// [`ClientDriver`] that does nothing: for a client that follows the script by itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassiveClient;

impl ClientDriver for PassiveClient {}

/// An unsolicited frame the runner skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct SkippedFrame {
    /// Index of the step that was waiting when the frame arrived.
    pub step: usize,
    /// Connection it arrived on.
    pub conn: String,
    /// The frame.
    pub frame: Value,
}

/// What a successful run did.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Name of the conversation.
    pub conversation: String,
    /// The role played.
    pub role: Role,
    /// Number of steps carried out (all of them, on success).
    pub steps_run: usize,
    /// Indices of steps that do not apply to the role (`outcome` in the client role,
    /// `server_action` in the server role).
    pub not_applicable: Vec<usize>,
    /// Unsolicited TCM frames that were skipped.
    pub skipped_unsolicited: Vec<SkippedFrame>,
    /// Things worth knowing that did not fail the run (frames accepted by kind in a
    /// timing-sensitive block, sends that failed because the peer had gone, ...).
    pub notes: Vec<String>,
    /// Final bindings of `<uuid4:NAME>` wildcards.
    pub bindings: Bindings,
}

/// Play the client side of `conv` against the server at `target`: perform the `send*` steps and
/// check the `expect*` steps.
pub fn play_client(
    conv: &Conversation,
    target: &ClientTarget,
    actions: &mut dyn ServerActions,
) -> Result<Report, RunFailure> {
    Player::new(conv, Side::Client { target, actions }).run()
}

/// Play the server side of `conv` on `listener`: accept the client's connections, emit the
/// `expect*` steps and check the `send*` steps, consulting `driver` along the way.
pub fn play_server(
    conv: &Conversation,
    listener: TcpListener,
    driver: &mut dyn ClientDriver,
) -> Result<Report, RunFailure> {
    Player::new(conv, Side::Server { listener, driver }).run()
}

/// A failure of step `index` of `conv`.
fn failure(
    conv: &Conversation,
    index: usize,
    step: &Step,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> RunFailure {
    RunFailure {
        conversation: conv.name.clone(),
        step: index,
        action: step.kind.action(),
        conn: step.conn.clone(),
        expected: expected.into(),
        actual: actual.into(),
    }
}

/// The role-specific resources.
enum Side<'a> {
    Client {
        target: &'a ClientTarget,
        actions: &'a mut dyn ServerActions,
    },
    Server {
        listener: TcpListener,
        driver: &'a mut dyn ClientDriver,
    },
}

struct Player<'a> {
    conv: &'a Conversation,
    role: Role,
    side: Side<'a>,
    conns: BTreeMap<String, WsConn>,
    bindings: Bindings,
    report: Report,
    index: usize,
    /// Per connection: the `$optional` elements of the last unordered block checked in a
    /// timing-sensitive conversation, which may still arrive after the block.
    late_optional: BTreeMap<String, (Vec<Value>, MatchMode)>,
}

impl<'a> Player<'a> {
    fn new(conv: &'a Conversation, side: Side<'a>) -> Self {
        let role = match side {
            Side::Client { .. } => Role::Client,
            Side::Server { .. } => Role::Server,
        };
        Player {
            conv,
            role,
            side,
            conns: BTreeMap::new(),
            bindings: Bindings::new(),
            report: Report {
                conversation: conv.name.clone(),
                role,
                steps_run: 0,
                not_applicable: Vec::new(),
                skipped_unsolicited: Vec::new(),
                notes: Vec::new(),
                bindings: Bindings::new(),
            },
            index: 0,
            late_optional: BTreeMap::new(),
        }
    }

    fn run(mut self) -> Result<Report, RunFailure> {
        for (index, step) in self.conv.steps.iter().enumerate() {
            self.index = index;
            self.step(step)?;
            self.report.steps_run += 1;
        }
        self.index = self.conv.steps.len();
        self.finish()?;
        self.report.bindings = self.bindings.clone();
        Ok(self.report)
    }

    fn fail(
        &self,
        step: &Step,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> RunFailure {
        failure(self.conv, self.index, step, expected, actual)
    }

    fn note(&mut self, text: String) {
        self.report
            .notes
            .push(format!("step {}: {text}", self.index));
    }

    /// The one place where steps are interpreted. Each traffic step names its producer (the
    /// first argument of the method it goes to); that method emits the step when the producer is
    /// the role played and checks it otherwise.
    fn step(&mut self, step: &Step) -> Result<(), RunFailure> {
        use Role::{Client, Server};
        match &step.kind {
            StepKind::Connect {
                path,
                headers,
                expect_status,
                ..
            } => {
                let path = path.as_deref().unwrap_or(self.conv.default_path());
                self.connect(step, path, headers, *expect_status)
            }
            StepKind::Send { frame, matching } => {
                self.frame(Client, step, FrameSpec::Json(frame, *matching))
            }
            StepKind::SendText(t) => self.frame(Client, step, FrameSpec::Text(t)),
            StepKind::SendBinary(t) => self.frame(Client, step, FrameSpec::Binary(t)),
            StepKind::SendPadded {
                frame,
                pad_path,
                total_bytes,
            } => self.frame(
                Client,
                step,
                FrameSpec::Padded {
                    frame,
                    pad_path,
                    total_bytes: *total_bytes,
                },
            ),
            StepKind::Expect { frame, matching } => {
                self.frame(Server, step, FrameSpec::Json(frame, *matching))
            }
            StepKind::ExpectText(t) => self.frame(Server, step, FrameSpec::Text(t)),
            StepKind::ExpectUnordered { frames, matching } => {
                self.unordered(Server, step, frames, *matching)
            }
            StepKind::ExpectClose { code, reason } => {
                self.closing(Server, step, *code, reason.as_deref())
            }
            StepKind::Close(code) => self.closing(Client, step, *code, None),
            StepKind::ExpectSilenceMs(ms) => self.quiet(Server, step, *ms),
            StepKind::NoSendMs(ms) => self.quiet(Client, step, *ms),
            StepKind::WaitMs(ms) => {
                std::thread::sleep(Duration::from_millis(*ms));
                Ok(())
            }
            StepKind::ServerAction(action) => match &mut self.side {
                Side::Client { actions, .. } => actions
                    .server_action(action)
                    .map_err(|e| self.fail(step, format!("server action {action}"), e)),
                Side::Server { .. } => {
                    self.report.not_applicable.push(self.index);
                    Ok(())
                }
            },
            StepKind::Outcome(outcome) => match &mut self.side {
                Side::Server { driver, .. } => driver
                    .outcome(self.index, outcome, &self.bindings)
                    .map_err(|e| {
                        self.fail(
                            step,
                            format!("outcome {:?} of {}", outcome.kind, outcome.of),
                            e,
                        )
                    }),
                Side::Client { .. } => {
                    self.report.not_applicable.push(self.index);
                    Ok(())
                }
            },
        }
    }

    /// Tell the client driver (server role) that the client should now perform `step`.
    fn prompt_client(&mut self, step: &Step) -> Result<(), RunFailure> {
        let index = self.index;
        let result = match &mut self.side {
            Side::Server { driver, .. } => match step.kind {
                StepKind::Close(_) => driver.close(index, step),
                StepKind::Connect { .. } => driver.connect(index, step),
                StepKind::NoSendMs(_) => Ok(()),
                _ => driver.send(index, step, &self.bindings),
            },
            Side::Client { .. } => Ok(()),
        };
        result.map_err(|e| self.fail(step, "the client driver to act", e))
    }

    fn conn(&mut self, step: &Step) -> Result<&mut WsConn, RunFailure> {
        let (conv, index) = (self.conv, self.index);
        self.conns.get_mut(&step.conn).ok_or_else(|| {
            failure(
                conv,
                index,
                step,
                "an open connection",
                "no such open connection",
            )
        })
    }

    fn take_conn(&mut self, step: &Step) -> Result<WsConn, RunFailure> {
        self.conns
            .remove(&step.conn)
            .ok_or_else(|| self.fail(step, "an open connection", "no such open connection"))
    }

    /// Skip a server frame that did not match the awaited step, if it may be skipped: an
    /// unsolicited TCM frame (README §1.2), or in a timing-sensitive conversation a late
    /// `$optional` frame of the last unordered block on the connection. Returns whether it was.
    fn try_skip(&mut self, step: &Step, got: &Data) -> bool {
        if self.role != Role::Client {
            return false;
        }
        let Some(frame) = got.json() else {
            return false;
        };
        if self.conv.is_tcm() && matcher::is_unsolicited_tcm(&frame) {
            self.report.skipped_unsolicited.push(SkippedFrame {
                step: self.index,
                conn: step.conn.clone(),
                frame,
            });
            return true;
        }
        let late = self
            .late_optional
            .get(&step.conn)
            .is_some_and(|(frames, mode)| {
                frames
                    .iter()
                    .any(|f| matcher::check(f, &frame, *mode, &mut self.bindings.clone()).is_ok())
            });
        if late {
            self.note(format!(
                "late optional frame of the previous unordered block: {}",
                got.describe()
            ));
        }
        late
    }

    /// Describe a non-data arrival for a failure message.
    fn lost(&mut self, step: &Step, incoming: Incoming) -> String {
        match incoming {
            Incoming::Text(t) => cut(&t),
            Incoming::Binary(b) => Data::Binary(b).describe(),
            Incoming::Close(c) => {
                self.conns.remove(&step.conn);
                match c {
                    Some((code, reason)) => format!("close {code} {reason:?}"),
                    None => "close frame without a code".into(),
                }
            }
            Incoming::Dropped(why) => {
                self.conns.remove(&step.conn);
                why
            }
            Incoming::Failed(why) => why,
            Incoming::Timeout => format!("nothing within {} ms", DEFAULT_WAIT.as_millis()),
        }
    }

    fn connect(
        &mut self,
        step: &Step,
        path: &str,
        headers: &[(String, String)],
        expect_status: u16,
    ) -> Result<(), RunFailure> {
        let wanted = if expect_status == 101 {
            format!("upgrade of {path}")
        } else {
            format!("upgrade of {path} answered with status {expect_status}")
        };
        match &mut self.side {
            Side::Client { target, .. } => {
                let addr = target.addr;
                match WsConn::connect(addr, path, headers, DEFAULT_WAIT) {
                    Ok(conn) if expect_status == 101 => {
                        self.conns.insert(step.conn.clone(), conn);
                        Ok(())
                    }
                    Ok(conn) => {
                        conn.drop_tcp();
                        Err(self.fail(step, wanted, "status 101"))
                    }
                    Err(ConnectError::Status(s)) if s == expect_status => Ok(()),
                    Err(ConnectError::Status(s)) => {
                        Err(self.fail(step, wanted, format!("status {s}")))
                    }
                    Err(ConnectError::Other(e)) => Err(self.fail(step, wanted, e)),
                }
            }
            Side::Server { .. } => {
                self.prompt_client(step)?;
                let Side::Server { listener, .. } = &self.side else {
                    return Err(self.fail(step, wanted, "a runner without a listener"));
                };
                let (conn, request) =
                    wire::accept(listener, Instant::now() + DEFAULT_WAIT, expect_status)
                        .map_err(|e| self.fail(step, wanted.clone(), e))?;
                if request.path != path {
                    return Err(self.fail(step, wanted, format!("upgrade of {}", request.path)));
                }
                for (name, value) in headers {
                    let lower = name.to_ascii_lowercase();
                    let found = request
                        .headers
                        .iter()
                        .any(|(k, v)| *k == lower && v == value);
                    if !found {
                        let sent: Vec<&str> = request
                            .headers
                            .iter()
                            .filter(|(k, _)| *k == lower)
                            .map(|(_, v)| v.as_str())
                            .collect();
                        return Err(self.fail(
                            step,
                            format!("header {name}: {value}"),
                            format!("{name} values {sent:?}"),
                        ));
                    }
                }
                if let Some(conn) = conn {
                    self.conns.insert(step.conn.clone(), conn);
                }
                Ok(())
            }
        }
    }

    fn emit(&mut self, step: &Step, spec: &FrameSpec<'_>) -> Result<(), RunFailure> {
        let data = spec
            .build(&mut self.bindings)
            .map_err(|e| self.fail(step, spec.describe(), e))?;
        let conn = self.conn(step)?;
        let sent = match data {
            Data::Text(t) => conn.send_text(t),
            Data::Binary(b) => conn.send_binary(b),
        };
        if let Err(e) = sent {
            // The peer may legitimately have gone (it closes on an oversize frame, say); the
            // next checked step decides whether that is right.
            self.note(format!("sending failed: {e}"));
        }
        Ok(())
    }

    fn frame(
        &mut self,
        producer: Role,
        step: &Step,
        spec: FrameSpec<'_>,
    ) -> Result<(), RunFailure> {
        if producer == self.role {
            return self.emit(step, &spec);
        }
        self.prompt_client(step)?;
        let deadline = Instant::now() + DEFAULT_WAIT;
        loop {
            let incoming = self.conn(step)?.recv(deadline);
            let got = match incoming {
                Incoming::Text(t) => Data::Text(t),
                Incoming::Binary(b) => Data::Binary(b),
                other => {
                    let actual = self.lost(step, other);
                    return Err(self.fail(step, spec.describe(), actual));
                }
            };
            match spec.check(&got, &mut self.bindings) {
                Ok(()) => return Ok(()),
                Err(why) => {
                    if self.try_skip(step, &got) {
                        continue;
                    }
                    let actual = format!("{} ({why})", got.describe());
                    return Err(self.fail(step, spec.describe(), actual));
                }
            }
        }
    }

    fn closing(
        &mut self,
        producer: Role,
        step: &Step,
        code: Option<u16>,
        reason: Option<&str>,
    ) -> Result<(), RunFailure> {
        if producer == self.role {
            let conn = self.take_conn(step)?;
            match code {
                Some(code) => {
                    if let Err(e) = conn.close(code, reason.unwrap_or(""), CLOSE_LINGER) {
                        self.note(format!("closing failed: {e}"));
                    }
                }
                None => conn.drop_tcp(),
            }
            return Ok(());
        }
        self.prompt_client(step)?;
        let wanted = match (code, reason) {
            (Some(c), Some(r)) => format!("close {c} {r:?}"),
            (Some(c), None) => format!("close {c}"),
            (None, _) => "the connection dropped without a close frame".to_string(),
        };
        let deadline = Instant::now() + DEFAULT_WAIT;
        loop {
            let incoming = self.conn(step)?.recv(deadline);
            match incoming {
                Incoming::Text(t) => {
                    let data = Data::Text(t);
                    if self.try_skip(step, &data) {
                        continue;
                    }
                    return Err(self.fail(step, wanted, data.describe()));
                }
                Incoming::Close(Some((got, got_reason)))
                    if Some(got) == code && reason.is_none_or(|r| r == got_reason) =>
                {
                    let mut conn = self.take_conn(step)?;
                    conn.drain(Instant::now() + CLOSE_LINGER);
                    return Ok(());
                }
                Incoming::Dropped(_) if code.is_none() => {
                    self.conns.remove(&step.conn);
                    return Ok(());
                }
                other => {
                    let actual = self.lost(step, other);
                    return Err(self.fail(step, wanted, actual));
                }
            }
        }
    }

    fn quiet(&mut self, producer: Role, step: &Step, ms: u64) -> Result<(), RunFailure> {
        let span = Duration::from_millis(ms);
        if producer == self.role {
            std::thread::sleep(span + QUIET_MARGIN);
            return Ok(());
        }
        let wanted = format!("no frame for {ms} ms and the connection open");
        let start = Instant::now();
        loop {
            let incoming = self.conn(step)?.recv(start + span);
            match incoming {
                Incoming::Timeout => return Ok(()),
                Incoming::Text(t) => {
                    let data = Data::Text(t);
                    if self.try_skip(step, &data) {
                        continue;
                    }
                    let after = start.elapsed().as_millis();
                    return Err(self.fail(
                        step,
                        wanted,
                        format!("after {after} ms: {}", data.describe()),
                    ));
                }
                other => {
                    let after = start.elapsed().as_millis();
                    let actual = self.lost(step, other);
                    return Err(self.fail(step, wanted, format!("after {after} ms: {actual}")));
                }
            }
        }
    }

    /// Close what the script left open: the client closes with 1000, the server waits for it.
    fn finish(&mut self) -> Result<(), RunFailure> {
        let conns = std::mem::take(&mut self.conns);
        match &mut self.side {
            Side::Client { .. } => {
                for (_, conn) in conns {
                    let _ = conn.close(1000, "", CLOSE_LINGER);
                }
            }
            Side::Server { driver, .. } => {
                if let Err(e) = driver.finish() {
                    self.report.notes.push(format!("end: client driver: {e}"));
                }
                let deadline = Instant::now() + DEFAULT_WAIT;
                for (name, mut conn) in conns {
                    loop {
                        match conn.recv(deadline) {
                            Incoming::Text(t) => self.report.notes.push(format!(
                                "end: {name}: frame after the last step: {}",
                                cut(&t)
                            )),
                            Incoming::Binary(b) => self.report.notes.push(format!(
                                "end: {name}: frame after the last step: {}",
                                Data::Binary(b).describe()
                            )),
                            Incoming::Close(_) => continue,
                            Incoming::Timeout => {
                                self.report
                                    .notes
                                    .push(format!("end: {name}: the client did not close"));
                                conn.drop_tcp();
                                break;
                            }
                            Incoming::Dropped(_) | Incoming::Failed(_) => break,
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
