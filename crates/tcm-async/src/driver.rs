//! The I/O loop task: one loop for every session machine and every runtime. It moves frames
//! between the polled socket and the [`Engine`], runs dials alongside, and waits for the socket,
//! a command, a dial or the session's next timer, whichever comes first.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_core::Stream as _;
use tcm_adapter::TransportError;
use tcm_adapter::engine::client::{Parts, Setup, Started, Target};
use tcm_adapter::engine::{Command, Engine, Protocol, Wake};
use tcm_proto::Dial;

use crate::runtime::Runtime;
use crate::socket::{Socket, SocketEvent};
use crate::transport::{self, Ws};

/// How long a close frame may take to go out before its socket is dropped anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The outcome of a dial or probe running alongside the loop.
enum Dialed {
    Socket(Result<Box<Ws>, TransportError>),
    Ready(bool),
}

/// A dial in progress; it owns what it needs, so commands and timers are served meanwhile.
type Dialing = Pin<Box<dyn Future<Output = Dialed> + Send>>;

/// What one wait produced.
enum Woken<P: Protocol> {
    Command(Option<Command<P>>),
    Socket(SocketEvent),
    Dialed(Dialed),
    /// A timer fired, or the socket failed while writing.
    Turn,
}

struct Driver<R: Runtime, P: Protocol> {
    engine: Engine<P>,
    commands: Pin<Box<async_channel::Receiver<Command<P>>>>,
    target: Target,
    socket: Socket,
    dialing: Option<Dialing>,
    timer: Option<(Instant, R::Timer)>,
    socket_first: bool,
}

/// Sets up a client with `parts` and spawns its I/O task on runtime `R`; returns what the
/// handles share and what the connect waits for.
pub(crate) fn start<R: Runtime, P: Protocol, X, E>(
    parts: impl FnOnce(Option<Wake>) -> Result<Parts<P, X>, E>,
) -> Result<Started<P, X>, E> {
    // The task waits on the command channel itself: no wake-up needed.
    let parts = parts(None)?;
    R::spawn(run::<R, P>(parts.setup));
    Ok((parts.shared, parts.ready))
}

/// The I/O loop of a client set up by `setup`.
async fn run<R: Runtime, P: Protocol>(setup: Setup<P>) {
    let mut driver = Driver::<R, P> {
        engine: setup.engine,
        commands: Box::pin(setup.commands),
        target: setup.target,
        socket: Socket::default(),
        dialing: None,
        timer: None,
        socket_first: false,
    };
    driver.run().await;
}

impl<R: Runtime, P: Protocol> Driver<R, P> {
    async fn run(&mut self) {
        loop {
            let now = Instant::now();
            self.engine.deliver();
            self.socket.expire(now);
            if self.socket.closing().is_none() {
                self.engine.closed_flushed();
            }
            if let Some(dial) = self.engine.poll_dial() {
                self.start(dial);
            }
            if self.engine.finished(now) {
                self.dialing = None;
                std::future::poll_fn(|cx| {
                    self.socket
                        .poll_write(cx, &mut self.engine, now + CLOSE_GRACE);
                    Poll::Ready(())
                })
                .await;
                self.socket.abandon();
                if !self.socket.busy() {
                    self.engine.closed_flushed();
                    tracing::debug!("I/O task exits");
                    return;
                }
            }
            if self.engine.handle_timeout(now) {
                continue;
            }
            match self.wait(now).await {
                Woken::Command(Some(command)) => self.engine.command(Instant::now(), command),
                Woken::Command(None) => self.engine.hang_up(Instant::now()),
                Woken::Socket(event) => self.engine.receive(Instant::now(), event),
                Woken::Dialed(dialed) => self.finish(dialed),
                Woken::Turn => {}
            }
        }
    }

    /// Writes what the socket takes, then waits for a command, a socket message, the dial in
    /// progress or the next deadline, alternating whether the socket or the commands come first.
    async fn wait(&mut self, now: Instant) -> Woken<P> {
        let deadline = [self.engine.poll_timeout(), self.socket.closing()]
            .into_iter()
            .flatten()
            .min();
        // A timer already set no later than the deadline is kept: if it fires early the loop
        // turns once and sets the next. Deadlines move later with every call that ends, and a
        // new timer costs the runtime's timer queue a registration (and its reactor a wake-up).
        match (&self.timer, deadline) {
            (Some((at, _)), Some(d)) if *at <= d => {}
            (_, Some(d)) => self.timer = Some((d, R::timer(d))),
            (_, None) => self.timer = None,
        }
        self.socket_first = !self.socket_first;
        let hung_up = self.commands.is_closed() && self.commands.is_empty();
        std::future::poll_fn(|cx| self.poll_wake(cx, now, hung_up)).await
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>, now: Instant, hung_up: bool) -> Poll<Woken<P>> {
        if self
            .socket
            .poll_write(cx, &mut self.engine, now + CLOSE_GRACE)
        {
            return Poll::Ready(Woken::Turn);
        }
        if let Some(d) = self.dialing.as_mut() {
            if let Poll::Ready(outcome) = d.as_mut().poll(cx) {
                self.dialing = None;
                return Poll::Ready(Woken::Dialed(outcome));
            }
        }
        for turn in 0..2 {
            if (turn == 0) == self.socket_first {
                if let Poll::Ready(event) = self.socket.poll_read(cx) {
                    return Poll::Ready(Woken::Socket(event));
                }
            } else if !hung_up {
                if let Poll::Ready(command) = self.commands.as_mut().poll_next(cx) {
                    return Poll::Ready(Woken::Command(command));
                }
            }
        }
        if let Some((_, timer)) = self.timer.as_mut() {
            if Pin::new(timer).poll(cx).is_ready() {
                self.timer = None;
                return Poll::Ready(Woken::Turn);
            }
        }
        Poll::Pending
    }

    /// Starts carrying out a dial; [`wait`](Self::wait) reports its outcome. Both end by their
    /// deadlines, whatever the peer does.
    fn start(&mut self, dial: Dial) {
        let target = self.target.clone();
        let max_inbound = self.engine.session().max_inbound_bytes();
        self.dialing = Some(match dial {
            Dial::Connect { uuid, headers } => Box::pin(async move {
                tracing::debug!(%uuid, endpoint = %target.endpoint, "dialing");
                let ws = transport::connect_ws::<R>(&target, &headers, max_inbound).await;
                Dialed::Socket(ws.map(Box::new))
            }),
            Dial::ProbeReady => Box::pin(async move {
                let result = crate::http::get::<R>(&target, "/ready").await;
                tracing::debug!(status = ?result.as_ref().map(|r| r.status), "readiness probe");
                Dialed::Ready(matches!(result, Ok(r) if r.status == 200))
            }),
        });
    }

    fn finish(&mut self, dialed: Dialed) {
        let now = Instant::now();
        match dialed {
            Dialed::Socket(result) => {
                if let Some(ws) = self.engine.dialed(now, result) {
                    self.socket.open(*ws);
                }
            }
            Dialed::Ready(ready) => self.engine.probed(now, ready),
        }
    }
}
