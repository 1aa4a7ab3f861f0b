//! The I/O thread of an [`RpcClient`](super::RpcClient): owns the socket and the
//! [`RpcSession`], carries out what the core asks for and routes its events.

use crate::wake::{Wake, wait_commands};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use serde_json::Value;
use tcm_adapter::dial::finish_dial;
use tcm_adapter::rpc_dispatch::{Calls, Routed, respond, route_event};
use tcm_adapter::rpc_error::rpc_connect_error;
use tcm_adapter::rpc_status::RpcStatus;
use tcm_adapter::rpc_worker::Job;
use tcm_adapter::socket::SocketSession;
use tcm_adapter::{ClientOptions, RpcClientEvent, RpcConnectError};
use tcm_proto::Endpoint;
use tcm_proto::jsonrpc::{Call, CallError, RpcError, RpcEvent, RpcSession};

use crate::error::TransportError;
use crate::socket::Socket;
use crate::transport::Ws;
use crate::wake::Mailbox;

/// What the handles, the worker and the dial threads ask of the I/O thread.
pub(crate) enum Command {
    /// Send a call; its outcome goes to `reply`.
    Call {
        call: Call,
        timeout: Option<Duration>,
        reply: Sender<Result<Value, CallError>>,
    },
    /// Answer a server request.
    Respond {
        id: Value,
        outcome: Result<Value, RpcError>,
    },
    /// Set or clear the active run.
    SetRunUuid(Option<String>),
    /// Close for good; `done` is signalled once the close frame is written.
    Close { done: Sender<()> },
    /// Every handle is gone: close and stop the thread.
    Hangup,
    /// The outcome of a dial made on a helper thread.
    Dialed(Box<Result<Ws, TransportError>>),
}

/// What one wait produced.
pub(crate) struct Driver {
    pub(crate) session: RpcSession,
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    options: ClientOptions,
    socket: Socket,
    calls: Calls<Sender<Result<Value, CallError>>>,
    status: RpcStatus,
    last_dial_error: Option<TransportError>,
    closers: Vec<Sender<()>>,
    events: Option<SyncSender<RpcClientEvent>>,
    jobs: Option<Sender<Job>>,
    loopback: Mailbox<Command>,
}

impl Driver {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        session: RpcSession,
        endpoint: Endpoint,
        tls: Option<Arc<ClientConfig>>,
        options: ClientOptions,
        status: RpcStatus,
        events: SyncSender<RpcClientEvent>,
        jobs: Sender<Job>,
        loopback: Mailbox<Command>,
    ) -> Self {
        Self {
            session,
            endpoint,
            tls,
            options,
            socket: Socket::new(loopback.waker()),
            calls: Calls::new(),
            status,
            last_dial_error: None,
            closers: Vec::new(),
            events: Some(events),
            jobs: Some(jobs),
            loopback,
        }
    }

    /// Drives the first dial and the session frame in the caller's thread; the first
    /// disconnect is an error.
    pub(crate) fn establish(&mut self) -> Result<(), RpcConnectError> {
        loop {
            self.flush_transmits();
            let mut ready = false;
            while let Some(event) = self.session.poll_event() {
                match event {
                    RpcEvent::Connected { .. } => {
                        self.on_event(event);
                        ready = true;
                    }
                    RpcEvent::Disconnected { error, .. } => {
                        self.session.close(Instant::now());
                        self.flush_transmits();
                        self.socket.drop_ws();
                        return Err(rpc_connect_error(error, self.last_dial_error.take()));
                    }
                    other => self.on_event(other),
                }
            }
            if ready {
                return Ok(());
            }
            if self.session.poll_connect() {
                let outcome = self.dial();
                self.finish_dial(outcome);
                continue;
            }
            let deadline = self.session.poll_timeout();
            let event = self.socket.read(deadline, None);
            self.session.receive(Instant::now(), event);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.session.handle_timeout(Instant::now());
            }
        }
    }

    /// The I/O thread's loop; returns once every handle is gone and the session is closed.
    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let mut hung_up = false;
        loop {
            self.flush_transmits();
            while let Some(event) = self.session.poll_event() {
                self.on_event(event);
            }
            self.publish();
            for done in self.closers.drain(..) {
                let _ = done.send(());
            }
            if self.session.poll_connect() {
                self.dial_in_background();
            }
            if hung_up {
                if self.session.is_closed() {
                    tracing::debug!("RPC I/O thread exits");
                    return;
                }
                self.session.close(Instant::now());
                continue;
            }
            if self
                .session
                .poll_timeout()
                .is_some_and(|d| Instant::now() >= d)
            {
                self.session.handle_timeout(Instant::now());
                continue;
            }
            match commands.try_recv() {
                Ok(Command::Hangup) | Err(TryRecvError::Disconnected) => {
                    hung_up = true;
                    continue;
                }
                Ok(command) => {
                    self.on_command(command);
                    continue;
                }
                Err(TryRecvError::Empty) => {}
            }
            let deadline = self.session.poll_timeout();
            let wake = if self.socket.is_open() {
                let cap = (!self.socket.can_poll()).then_some(self.options.command_poll);
                let event = self.socket.read(deadline, cap);
                self.session.receive(Instant::now(), event);
                Wake::Idle
            } else {
                wait_commands(&commands, deadline)
            };
            match wake {
                Wake::Command(Command::Hangup) | Wake::Hangup => hung_up = true,
                Wake::Command(command) => self.on_command(command),
                Wake::Idle => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.session.handle_timeout(Instant::now());
            }
        }
    }

    fn publish(&self) {
        self.status
            .publish(self.session.is_ready(), self.session.is_closed());
    }

    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Call {
                call,
                timeout,
                reply,
            } => {
                let started = self
                    .calls
                    .start(&mut self.session, now, call, timeout, reply);
                if let Err((reply, e)) = started {
                    let _ = reply.send(Err(e));
                }
            }
            Command::Respond { id, outcome } => respond(&mut self.session, &id, outcome),
            Command::SetRunUuid(run) => self.session.set_run_uuid(run),
            Command::Close { done } => {
                self.session.close(now);
                self.closers.push(done);
            }
            Command::Hangup => self.session.close(now),
            Command::Dialed(result) => self.finish_dial(*result),
        }
    }

    fn emit(&mut self, event: RpcClientEvent) {
        if let Some(tx) = &self.events {
            match tx.try_send(event) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => tracing::warn!("event channel full; event dropped"),
                Err(TrySendError::Disconnected(_)) => self.events = None,
            }
        }
    }

    fn on_event(&mut self, event: RpcEvent) {
        let jobs = self.jobs.as_ref();
        match route_event(
            event,
            &mut self.session,
            &mut self.calls,
            &self.status,
            jobs,
        ) {
            Routed::Finished { reply, outcome } => {
                let _ = reply.send(outcome);
            }
            Routed::Emit(event) => self.emit(event),
            Routed::Handled => {}
        }
    }

    fn dial(&self) -> Result<Ws, TransportError> {
        dial(
            &self.endpoint,
            self.tls.as_ref(),
            &self.options,
            &self.session,
        )
    }

    fn dial_in_background(&mut self) {
        let endpoint = self.endpoint.clone();
        let tls = self.tls.clone();
        let options = self.options.clone();
        let headers = self.session.handshake_headers();
        let max = self.session.config().max_message_bytes;
        let loopback = self.loopback.clone();
        let spawned = std::thread::Builder::new()
            .name("tcm-rpc-dial".to_owned())
            .spawn(move || {
                tracing::debug!(%endpoint, "dialing");
                let result = super::dial::connect(
                    &endpoint,
                    tls.as_ref(),
                    &headers,
                    options.connect_timeout,
                    options.write_timeout,
                    max,
                );
                let _ = loopback.send(Command::Dialed(Box::new(result)));
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot spawn a dial thread");
            self.finish_dial(Err(TransportError::Io(e)));
        }
    }

    fn finish_dial(&mut self, result: Result<Ws, TransportError>) {
        if let Some(ws) = finish_dial(&mut self.session, result, &mut self.last_dial_error) {
            self.socket.open(ws);
        }
    }

    /// Writes every pending transmit; a write failure is a transport failure.
    fn flush_transmits(&mut self) {
        self.socket.flush(&mut self.session);
    }
}

/// Dials with the session's handshake headers and message limit.
fn dial(
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    options: &ClientOptions,
    session: &RpcSession,
) -> Result<Ws, TransportError> {
    tracing::debug!(%endpoint, "dialing");
    super::dial::connect(
        endpoint,
        tls,
        &session.handshake_headers(),
        options.connect_timeout,
        options.write_timeout,
        session.config().max_message_bytes,
    )
}
