//! The I/O thread: owns the socket and the [`Connection`], carries out what the core asks for,
//! and routes events to the waiting callers.

use crate::wake::{Wake, wait_commands};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, SyncSender, TryRecvError, TrySendError};
use std::time::{Duration, Instant};

use rustls::ClientConfig;
use tcm_adapter::ClientOptions;
use tcm_adapter::dial::finish_dial;
use tcm_adapter::error::connect_error;
use tcm_adapter::requests::Requests;
use tcm_adapter::socket::SocketSession;
use tcm_adapter::status::ClientStatus;
use tcm_proto::{
    Connection, ConnectionState, Dial, Endpoint, Event, Notification, Request, RequestError,
    Response, StreamFrame,
};

use crate::error::{ConnectError, TransportError};
use crate::socket::Socket;
use crate::transport::{self, Ws};

/// What a caller asks of the I/O thread.
pub(crate) enum Command {
    /// Start a request; its outcome goes to `reply`.
    Request {
        call: u64,
        request: Request,
        timeout: Option<Duration>,
        reply: Sender<Reply>,
    },
    /// Cancel the request started with this call number.
    Cancel { call: u64 },
    /// Close the connection for good; `done` is signalled once the close frame is written.
    Close { done: Sender<()> },
    /// Every client handle is gone: close and stop the thread.
    Hangup,
    /// The outcome of a dial made on a helper thread.
    Dialed(Box<Result<Ws, TransportError>>),
    /// The outcome of a readiness probe made on a helper thread.
    Probed(bool),
}

/// What the I/O thread sends back to a caller.
pub(crate) enum Reply {
    /// A non-final frame of a stream.
    Stream(StreamFrame),
    /// The end of the request.
    Finished(Result<Response, RequestError>),
}

/// The socket, the core, and the callers' pending replies.
pub(crate) struct Driver {
    conn: Connection,
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    options: ClientOptions,
    socket: Socket,
    requests: Requests<Sender<Reply>>,
    status: ClientStatus,
    last_dial_error: Option<TransportError>,
    closers: Vec<Sender<()>>,
    notifications: Option<SyncSender<Notification>>,
    /// Where helper threads report dial outcomes (the command channel itself).
    loopback: crate::wake::Mailbox<Command>,
}

/// What one wait on the socket or the command channel produced.
impl Driver {
    pub(crate) fn new(
        conn: Connection,
        endpoint: Endpoint,
        tls: Option<Arc<ClientConfig>>,
        options: ClientOptions,
        status: ClientStatus,
        notifications: Option<SyncSender<Notification>>,
        loopback: crate::wake::Mailbox<Command>,
    ) -> Self {
        Self {
            conn,
            endpoint,
            tls,
            options,
            socket: Socket::new(loopback.waker()),
            requests: Requests::new(),
            status,
            last_dial_error: None,
            closers: Vec::new(),
            notifications,
            loopback,
        }
    }

    /// Drives the first dial and auth in the caller's thread; the first disconnect is an error.
    pub(crate) fn establish(&mut self) -> Result<(), ConnectError> {
        loop {
            self.flush_transmits();
            let mut authenticated = false;
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Authenticated { .. } => {
                        self.on_event(event);
                        authenticated = true;
                    }
                    Event::Disconnected { error, .. } => {
                        self.conn.close(Instant::now());
                        self.flush_transmits();
                        self.socket.drop_ws();
                        let transport = self.last_dial_error.take();
                        return Err(connect_error(error, transport));
                    }
                    other => self.on_event(other),
                }
            }
            if authenticated {
                return Ok(());
            }
            if let Some(dial) = self.conn.poll_dial() {
                let outcome = self.dial_now(dial);
                self.on_command(outcome);
                continue;
            }
            let deadline = self.conn.poll_timeout();
            let event = self.socket.read(deadline, None);
            self.conn.receive(Instant::now(), event);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.conn.handle_timeout(Instant::now());
            }
        }
    }

    /// The I/O thread's loop; returns once every handle is gone and the connection is closed.
    pub(crate) fn run(mut self, commands: Receiver<Command>) {
        let mut hung_up = false;
        loop {
            self.flush_transmits();
            while let Some(event) = self.conn.poll_event() {
                self.on_event(event);
            }
            for done in self.closers.drain(..) {
                let _ = done.send(());
            }
            if let Some(dial) = self.conn.poll_dial() {
                self.dial_in_background(dial);
            }
            if hung_up {
                if self.conn.state() == ConnectionState::Closed {
                    tracing::debug!(uuid = %self.conn.uuid(), "I/O thread exits");
                    return;
                }
                self.conn.close(Instant::now());
                continue;
            }
            // Timers first, so that a stream of commands cannot starve them.
            if self
                .conn
                .poll_timeout()
                .is_some_and(|d| Instant::now() >= d)
            {
                self.conn.handle_timeout(Instant::now());
                continue;
            }
            // Take every command already queued before waiting.
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
            let deadline = self.conn.poll_timeout();
            let wake = if self.socket.is_open() {
                // With a wake-up pipe a command interrupts the wait; without one, poll for them.
                let cap = (!self.socket.can_poll()).then_some(self.options.command_poll);
                let event = self.socket.read(deadline, cap);
                self.conn.receive(Instant::now(), event);
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
                self.conn.handle_timeout(Instant::now());
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        let now = Instant::now();
        match command {
            Command::Request {
                call,
                request,
                timeout,
                reply,
            } => {
                let started =
                    self.requests
                        .start(&mut self.conn, now, call, request, timeout, reply);
                if let Err((reply, e)) = started {
                    let _ = reply.send(Reply::Finished(Err(e)));
                }
            }
            Command::Cancel { call } => self.requests.cancel(&mut self.conn, now, call),
            Command::Close { done } => {
                self.conn.close(now);
                self.closers.push(done);
            }
            Command::Hangup => self.conn.close(now),
            Command::Dialed(result) => self.finish_dial(*result),
            Command::Probed(ready) => self.conn.handle_ready(now, ready),
        }
        self.status.set_state(self.conn.state());
    }

    fn on_event(&mut self, event: Event) {
        let Some(event) = self.status.on_event(event, self.conn.state()) else {
            return;
        };
        match event {
            Event::Stream { id, frame } => {
                if let Some(reply) = self.requests.reply_to(&id) {
                    let _ = reply.send(Reply::Stream(frame));
                }
            }
            Event::Finished { id, outcome } => {
                if let Some(reply) = self.requests.finish(&id) {
                    let _ = reply.send(Reply::Finished(outcome));
                }
            }
            Event::Notification(n) => {
                tracing::debug!(notification = ?n, "notification");
                if let Some(tx) = &self.notifications {
                    match tx.try_send(n) {
                        Ok(()) => {}
                        Err(TrySendError::Full(_)) => {
                            tracing::warn!("notification channel full; notification dropped");
                        }
                        Err(TrySendError::Disconnected(_)) => self.notifications = None,
                    }
                }
            }
            Event::Authenticated { .. } | Event::Disconnected { .. } => {}
        }
    }

    /// Carries out a dial instruction in this thread; returns its outcome as a command.
    fn dial_now(&self, dial: Dial) -> Command {
        dial_outcome(dial, &self.endpoint, self.tls.as_ref(), &self.options)
    }

    /// Carries out a dial instruction on a helper thread, so that commands and timers are
    /// served meanwhile; the outcome comes back through the command channel.
    fn dial_in_background(&mut self, dial: Dial) {
        let endpoint = self.endpoint.clone();
        let tls = self.tls.clone();
        let options = self.options.clone();
        let loopback = self.loopback.clone();
        let fallback = match &dial {
            Dial::Connect { .. } => None,
            Dial::ProbeReady => Some(Command::Probed(false)),
        };
        let spawned = std::thread::Builder::new()
            .name("tcm-dial".to_owned())
            .spawn(move || {
                let outcome = dial_outcome(dial, &endpoint, tls.as_ref(), &options);
                let _ = loopback.send(outcome);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot spawn a dial thread");
            let outcome =
                fallback.unwrap_or_else(|| Command::Dialed(Box::new(Err(TransportError::Io(e)))));
            self.on_command(outcome);
        }
    }

    fn finish_dial(&mut self, result: Result<Ws, TransportError>) {
        if let Some(ws) = finish_dial(&mut self.conn, result, &mut self.last_dial_error) {
            self.socket.open(ws);
        }
    }

    /// Writes every pending transmit; a write failure is a transport failure.
    fn flush_transmits(&mut self) {
        self.socket.flush(&mut self.conn);
    }
}

/// Opens the WebSocket (or probes `/ready`) and wraps the outcome as a command.
fn dial_outcome(
    dial: Dial,
    endpoint: &Endpoint,
    tls: Option<&Arc<ClientConfig>>,
    options: &ClientOptions,
) -> Command {
    match dial {
        Dial::Connect { uuid } => {
            tracing::debug!(%uuid, %endpoint, "dialing");
            let result =
                transport::connect_ws(endpoint, tls, options.connect_timeout).and_then(|ws| {
                    ws.get_ref()
                        .tcp()
                        .set_write_timeout(Some(options.write_timeout))?;
                    Ok(ws)
                });
            Command::Dialed(Box::new(result))
        }
        Dial::ProbeReady => {
            let result = crate::http::get(endpoint, tls, "/ready", options.http_timeout);
            tracing::debug!(status = ?result.as_ref().map(|r| r.status), "readiness probe");
            Command::Probed(matches!(result, Ok(r) if r.status == 200))
        }
    }
}
