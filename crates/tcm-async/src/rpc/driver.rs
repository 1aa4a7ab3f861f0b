//! The driver task of an [`RpcClient`](super::RpcClient): owns the socket and the
//! [`RpcSession`], carries out what the core asks for and routes its events. Generic over the
//! [`Runtime`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_channel::{mpsc, oneshot};
use futures_core::Stream as _;
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
use crate::runtime::Runtime;
use crate::socket::{Socket, SocketEvent};
use crate::transport::Ws;

/// What the handles and the worker ask of the driver task.
pub(crate) enum Command {
    /// Send a call; its outcome goes to `reply`.
    Call {
        call: Call,
        timeout: Option<Duration>,
        reply: oneshot::Sender<Result<Value, CallError>>,
    },
    /// Answer a server request.
    Respond {
        id: Value,
        outcome: Result<Value, RpcError>,
    },
    /// Set or clear the active run.
    SetRunUuid(Option<String>),
    /// Close for good; `done` is signalled once the close frame is written.
    Close { done: oneshot::Sender<()> },
    /// Every handle is gone: close and end the task.
    Hangup,
}

type DialFuture<R> = Pin<Box<dyn Future<Output = Result<Ws<R>, TransportError>> + Send>>;

/// What one wait produced.
enum Wake {
    Command(Option<Command>),
    Socket(SocketEvent),
    Dialed,
    Timer,
}

pub(crate) struct Driver<R: Runtime> {
    session: RpcSession,
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    options: ClientOptions,
    socket: Socket<R>,
    dialing: Option<DialFuture<R>>,
    calls: Calls<oneshot::Sender<Result<Value, CallError>>>,
    status: RpcStatus,
    last_dial_error: Option<TransportError>,
    closers: Vec<oneshot::Sender<()>>,
    events: Option<mpsc::Sender<RpcClientEvent>>,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    socket_first: bool,
}

impl<R: Runtime> Driver<R> {
    pub(crate) fn new(
        session: RpcSession,
        endpoint: Endpoint,
        tls: Option<Arc<ClientConfig>>,
        options: ClientOptions,
        status: RpcStatus,
        events: mpsc::Sender<RpcClientEvent>,
        jobs: std::sync::mpsc::Sender<Job>,
    ) -> Self {
        let socket = Socket::new(options.write_timeout);
        Self {
            session,
            endpoint,
            tls,
            options,
            socket,
            dialing: None,
            calls: Calls::new(),
            status,
            last_dial_error: None,
            closers: Vec::new(),
            events: Some(events),
            jobs: Some(jobs),
            socket_first: false,
        }
    }

    /// Drives the first dial and the session frame in the caller's task; the first disconnect
    /// is an error.
    pub(crate) async fn establish(&mut self) -> Result<(), RpcConnectError> {
        loop {
            self.flush_transmits().await;
            let mut ready = false;
            while let Some(event) = self.session.poll_event() {
                match event {
                    RpcEvent::Connected { .. } => {
                        self.on_event(event);
                        ready = true;
                    }
                    RpcEvent::Disconnected { error, .. } => {
                        self.session.close(Instant::now());
                        self.flush_transmits().await;
                        self.socket.drop_ws();
                        self.dialing = None;
                        return Err(rpc_connect_error(error, self.last_dial_error.take()));
                    }
                    other => self.on_event(other),
                }
            }
            if ready {
                return Ok(());
            }
            if self.session.poll_connect() {
                self.start_dial();
            }
            let deadline = self.session.poll_timeout();
            match self.wait(None, deadline).await {
                Wake::Socket(event) => self.session.receive(Instant::now(), event),
                Wake::Dialed | Wake::Command(_) => {}
                Wake::Timer => self.session.handle_timeout(Instant::now()),
            }
        }
    }

    /// The driver task; returns once every handle is gone and the session is closed.
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut hung_up = false;
        loop {
            self.flush_transmits().await;
            while let Some(event) = self.session.poll_event() {
                self.on_event(event);
            }
            self.publish();
            for done in self.closers.drain(..) {
                let _ = done.send(());
            }
            if self.session.poll_connect() {
                self.start_dial();
            }
            if hung_up {
                if self.session.is_closed() {
                    tracing::debug!("RPC driver task exits");
                    return;
                }
                self.session.close(Instant::now());
                self.dialing = None;
                continue;
            }
            let deadline = self.session.poll_timeout();
            match self.wait(Some(&mut commands), deadline).await {
                Wake::Command(Some(Command::Hangup) | None) => hung_up = true,
                Wake::Command(Some(command)) => self.on_command(command),
                Wake::Socket(event) => self.session.receive(Instant::now(), event),
                Wake::Dialed | Wake::Timer => {}
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

    /// Waits for a command, a socket message, the dial in progress or the deadline, alternating
    /// whether the socket or the commands are polled first. A finished dial is applied here.
    async fn wait(
        &mut self,
        mut commands: Option<&mut mpsc::UnboundedReceiver<Command>>,
        deadline: Option<Instant>,
    ) -> Wake {
        let mut timer = deadline.map(Timer::at);
        self.socket_first = !self.socket_first;
        let socket_first = self.socket_first;
        let socket = &mut self.socket;
        let dialing = &mut self.dialing;
        let dialed = std::future::poll_fn(|cx| {
            if let Some(d) = dialing.as_mut() {
                if let Poll::Ready(outcome) = d.as_mut().poll(cx) {
                    *dialing = None;
                    return Poll::Ready(Err(outcome));
                }
            }
            for turn in 0..2 {
                if (turn == 0) == socket_first {
                    if let Poll::Ready(event) = socket.poll_read(cx) {
                        return Poll::Ready(Ok(Wake::Socket(event)));
                    }
                } else if let Some(rx) = commands.as_mut() {
                    if let Poll::Ready(c) = Pin::new(&mut **rx).poll_next(cx) {
                        return Poll::Ready(Ok(Wake::Command(c)));
                    }
                }
            }
            if let Some(t) = timer.as_mut() {
                if Pin::new(t).poll(cx).is_ready() {
                    return Poll::Ready(Ok(Wake::Timer));
                }
            }
            Poll::Pending
        })
        .await;
        match dialed {
            Ok(wake) => wake,
            Err(outcome) => {
                self.finish_dial(outcome);
                Wake::Dialed
            }
        }
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
                self.dialing = None;
                self.closers.push(done);
            }
            Command::Hangup => {
                self.session.close(now);
                self.dialing = None;
            }
        }
    }

    fn emit(&mut self, event: RpcClientEvent) {
        if let Some(tx) = &mut self.events {
            if let Err(e) = tx.try_send(event) {
                if e.is_disconnected() {
                    self.events = None;
                } else {
                    tracing::warn!("event channel full; event dropped");
                }
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

    /// Starts a dial with the session's headers; [`wait`](Self::wait) applies its outcome.
    fn start_dial(&mut self) {
        tracing::debug!(endpoint = %self.endpoint, "dialing");
        self.dialing = Some(Box::pin(super::dial::connect::<R>(
            self.endpoint.clone(),
            self.tls.clone(),
            self.session.handshake_headers(),
            self.options.connect_timeout,
            self.session.config().max_message_bytes,
        )));
    }

    fn finish_dial(&mut self, result: Result<Ws<R>, TransportError>) {
        if let Some(ws) = finish_dial(&mut self.session, result, &mut self.last_dial_error) {
            self.socket.open(ws);
        }
    }

    /// Writes every pending transmit; a write failure or timeout is a transport failure.
    async fn flush_transmits(&mut self) {
        self.socket.flush(&mut self.session).await;
    }
}
