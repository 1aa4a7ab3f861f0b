//! The driver task: owns the socket and the [`Connection`], carries out what the core asks for,
//! and routes events to the waiting callers. Generic over the [`Runtime`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_channel::{mpsc, oneshot};
use futures_core::Stream as _;
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
use crate::runtime::Runtime;
use crate::socket::{Socket, SocketEvent};
use crate::transport::{self, Ws};

/// Where the outcome of a request goes.
pub(crate) enum ReplyTo {
    /// A unary call: the final outcome only.
    Once(oneshot::Sender<Result<Response, RequestError>>),
    /// A stream: every frame, then the final outcome.
    Stream(mpsc::UnboundedSender<Reply>),
}

/// What a caller asks of the driver task.
pub(crate) enum Command {
    /// Start a request.
    Request {
        call: u64,
        request: Request,
        timeout: Option<Duration>,
        reply: ReplyTo,
    },
    /// Cancel the request started with this call number.
    Cancel { call: u64 },
    /// Close the connection for good; `done` is signalled once the close frame is written.
    Close { done: oneshot::Sender<()> },
}

/// A message on a stream's reply channel.
pub(crate) enum Reply {
    /// A non-final frame.
    Stream(StreamFrame),
    /// The end of the request.
    Finished(Result<Response, RequestError>),
}

/// The outcome of a dial or readiness probe running alongside the driver loop.
enum Dialed<R: Runtime> {
    Connect(Result<Box<Ws<R>>, TransportError>),
    Ready(bool),
}

/// A dial in progress; it owns what it needs so commands and timers are served meanwhile.
type DialFuture<R> = Pin<Box<dyn Future<Output = Dialed<R>> + Send>>;

/// What one wait produced.
enum Wake<R: Runtime> {
    Command(Option<Command>),
    Socket(SocketEvent),
    Dialed(Dialed<R>),
    Timer,
}

/// The socket, the core, and the callers' pending replies.
pub(crate) struct Driver<R: Runtime> {
    conn: Connection,
    endpoint: Endpoint,
    tls: Option<Arc<ClientConfig>>,
    options: ClientOptions,
    socket: Socket<R>,
    dialing: Option<DialFuture<R>>,
    requests: Requests<ReplyTo>,
    status: ClientStatus,
    last_dial_error: Option<TransportError>,
    closers: Vec<oneshot::Sender<()>>,
    socket_first: bool,
    notifications: Option<mpsc::Sender<Notification>>,
}

impl<R: Runtime> Driver<R> {
    pub(crate) fn new(
        conn: Connection,
        endpoint: Endpoint,
        tls: Option<Arc<ClientConfig>>,
        options: ClientOptions,
        status: ClientStatus,
        notifications: Option<mpsc::Sender<Notification>>,
    ) -> Self {
        let socket = Socket::new(options.write_timeout);
        Self {
            conn,
            endpoint,
            tls,
            options,
            socket,
            dialing: None,
            requests: Requests::new(),
            status,
            last_dial_error: None,
            closers: Vec::new(),
            socket_first: false,
            notifications,
        }
    }

    /// Drives the first dial and auth in the caller's task; the first disconnect is an error.
    pub(crate) async fn establish(&mut self) -> Result<(), ConnectError> {
        loop {
            self.flush_transmits().await;
            let mut authenticated = false;
            while let Some(event) = self.conn.poll_event() {
                match event {
                    Event::Authenticated { .. } => {
                        self.on_event(event);
                        authenticated = true;
                    }
                    Event::Disconnected { error, .. } => {
                        self.conn.close(Instant::now());
                        self.flush_transmits().await;
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
                self.start_dial(dial);
            }
            let deadline = self.conn.poll_timeout();
            match self.wait(None, deadline).await {
                Wake::Socket(event) => self.conn.receive(Instant::now(), event),
                Wake::Dialed(d) => self.finish_dial(d),
                Wake::Timer => self.conn.handle_timeout(Instant::now()),
                Wake::Command(_) => {}
            }
        }
    }

    /// The driver task; returns once every handle is gone and the connection is closed.
    pub(crate) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut hung_up = false;
        loop {
            self.flush_transmits().await;
            while let Some(event) = self.conn.poll_event() {
                self.on_event(event);
            }
            for done in self.closers.drain(..) {
                let _ = done.send(());
            }
            if let Some(dial) = self.conn.poll_dial() {
                self.start_dial(dial);
            }
            if hung_up {
                if self.conn.state() == ConnectionState::Closed {
                    tracing::debug!(uuid = %self.conn.uuid(), "driver task exits");
                    return;
                }
                self.conn.close(Instant::now());
                continue;
            }
            let deadline = self.conn.poll_timeout();
            match self.wait(Some(&mut commands), deadline).await {
                Wake::Command(Some(command)) => self.on_command(command),
                Wake::Command(None) => hung_up = true,
                Wake::Socket(event) => self.conn.receive(Instant::now(), event),
                Wake::Dialed(d) => self.finish_dial(d),
                Wake::Timer => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.conn.handle_timeout(Instant::now());
            }
        }
    }

    /// Waits for a command, a socket message, the dial in progress or the deadline, alternating
    /// whether the socket or the commands are polled first.
    async fn wait(
        &mut self,
        mut commands: Option<&mut mpsc::UnboundedReceiver<Command>>,
        deadline: Option<Instant>,
    ) -> Wake<R> {
        let mut timer = deadline.map(Timer::at);
        self.socket_first = !self.socket_first;
        let socket_first = self.socket_first;
        let socket = &mut self.socket;
        let dialing = &mut self.dialing;
        std::future::poll_fn(|cx| {
            if let Some(d) = dialing.as_mut() {
                if let Poll::Ready(outcome) = d.as_mut().poll(cx) {
                    *dialing = None;
                    return Poll::Ready(Wake::Dialed(outcome));
                }
            }
            for turn in 0..2 {
                if (turn == 0) == socket_first {
                    if let Poll::Ready(event) = socket.poll_read(cx) {
                        return Poll::Ready(Wake::Socket(event));
                    }
                } else if let Some(rx) = commands.as_mut() {
                    if let Poll::Ready(c) = Pin::new(&mut **rx).poll_next(cx) {
                        return Poll::Ready(Wake::Command(c));
                    }
                }
            }
            if let Some(t) = timer.as_mut() {
                if Pin::new(t).poll(cx).is_ready() {
                    return Poll::Ready(Wake::Timer);
                }
            }
            Poll::Pending
        })
        .await
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
                    deliver(reply, Err(e));
                }
            }
            Command::Cancel { call } => self.requests.cancel(&mut self.conn, now, call),
            Command::Close { done } => {
                self.conn.close(now);
                self.dialing = None;
                self.closers.push(done);
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let Some(event) = self.status.on_event(event, self.conn.state()) else {
            return;
        };
        match event {
            Event::Stream { id, frame } => {
                if let Some(ReplyTo::Stream(tx)) = self.requests.reply_to(&id) {
                    let _ = tx.unbounded_send(Reply::Stream(frame));
                }
            }
            Event::Finished { id, outcome } => {
                if let Some(reply) = self.requests.finish(&id) {
                    deliver(reply, outcome);
                }
            }
            Event::Notification(n) => {
                tracing::debug!(notification = ?n, "notification");
                if let Some(tx) = &mut self.notifications {
                    if let Err(e) = tx.try_send(n) {
                        if e.is_disconnected() {
                            self.notifications = None;
                        } else {
                            tracing::warn!("notification channel full; notification dropped");
                        }
                    }
                }
            }
            Event::Authenticated { .. } | Event::Disconnected { .. } => {}
        }
    }

    /// Starts carrying out a dial instruction; [`wait`](Self::wait) reports its outcome.
    fn start_dial(&mut self, dial: Dial) {
        let endpoint = self.endpoint.clone();
        let tls = self.tls.clone();
        let options = self.options.clone();
        self.dialing = Some(match dial {
            Dial::Connect { uuid } => {
                tracing::debug!(%uuid, %endpoint, "dialing");
                Box::pin(async move {
                    let result = transport::connect_ws::<R>(
                        &endpoint,
                        tls.as_ref(),
                        options.connect_timeout,
                    )
                    .await;
                    Dialed::Connect(result.map(Box::new))
                })
            }
            Dial::ProbeReady => Box::pin(async move {
                let result =
                    crate::http::get::<R>(&endpoint, tls.as_ref(), "/ready", options.http_timeout)
                        .await;
                tracing::debug!(status = ?result.as_ref().map(|r| r.status), "readiness probe");
                Dialed::Ready(matches!(result, Ok(r) if r.status == 200))
            }),
        });
    }

    fn finish_dial(&mut self, dialed: Dialed<R>) {
        let now = Instant::now();
        match dialed {
            Dialed::Connect(result) => {
                if let Some(ws) = finish_dial(&mut self.conn, result, &mut self.last_dial_error) {
                    self.socket.open(*ws);
                }
            }
            Dialed::Ready(ready) => self.conn.handle_ready(now, ready),
        }
        self.status.set_state(self.conn.state());
    }

    /// Writes every pending transmit; a write failure or timeout is a transport failure.
    async fn flush_transmits(&mut self) {
        self.socket.flush(&mut self.conn).await;
    }
}

fn deliver(reply: ReplyTo, outcome: Result<Response, RequestError>) {
    match reply {
        ReplyTo::Once(tx) => {
            let _ = tx.send(outcome);
        }
        ReplyTo::Stream(tx) => {
            let _ = tx.unbounded_send(Reply::Finished(outcome));
        }
    }
}
