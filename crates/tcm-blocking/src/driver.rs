//! The I/O thread: one loop for every session machine. It moves frames between the
//! non-blocking socket and the [`Engine`], carries out dials on helper threads, and sleeps in
//! `poll(2)` until the socket, a command or the session's next timer needs it.

use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender};
use std::time::{Duration, Instant};

use tcm_adapter::TransportError;
use tcm_adapter::engine::client::{Parts, Setup, SpawnError, Started, Target};
use tcm_adapter::engine::{Engine, Protocol, Wake};
use tcm_proto::Dial;

use crate::socket::Socket;
use crate::transport::{self, Ws};
use crate::wake::Waker;

/// How long a close frame may take to go out before its socket is dropped anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The outcome of a dial or probe made on a helper thread, with the number of the attempt.
enum Dialed {
    Socket(Result<Box<Ws>, TransportError>),
    Ready(bool),
}

/// Where helper threads report the outcome of attempt number `u64`.
type Outcomes = (Sender<(u64, Dialed)>, Receiver<(u64, Dialed)>);

/// The dial under way, if any: its number and deadline, and whether it is a probe.
struct Attempt {
    number: u64,
    deadline: Instant,
    probe: bool,
}

struct Driver<P: Protocol> {
    engine: Engine<P>,
    commands: async_channel::Receiver<tcm_adapter::engine::Command<P>>,
    target: Target,
    socket: Socket,
    waker: Arc<Waker>,
    dialed: Outcomes,
    attempt: Option<Attempt>,
    attempts: u64,
}

/// Sets up a client with `parts` (given how its commands wake the loop) and starts its I/O
/// thread; returns what the handles share and what the connect waits for.
pub(crate) fn start<P: Protocol, X, E: From<SpawnError>>(
    parts: impl FnOnce(Option<Wake>) -> Result<Parts<P, X>, E>,
) -> Result<Started<P, X>, E> {
    let waker = Arc::new(Waker::new());
    let wake = Arc::clone(&waker);
    let parts = parts(Some(Arc::new(move || wake.wake())))?;
    spawn(parts.setup, waker).map_err(SpawnError)?;
    Ok((parts.shared, parts.ready))
}

fn spawn<P: Protocol>(setup: Setup<P>, waker: Arc<Waker>) -> std::io::Result<()> {
    let driver = Driver {
        engine: setup.engine,
        commands: setup.commands,
        target: setup.target,
        socket: Socket::default(),
        waker,
        dialed: mpsc::channel(),
        attempt: None,
        attempts: 0,
    };
    std::thread::Builder::new()
        .name("tcm-io".to_owned())
        .spawn(move || driver.run())
        .map(|_| ())
}

impl<P: Protocol> Driver<P> {
    fn run(mut self) {
        // Whether the last read left messages behind (it ran out of budget).
        let mut more = false;
        loop {
            let now = Instant::now();
            self.socket.write(&mut self.engine, now, CLOSE_GRACE);
            self.engine.deliver();
            if self.socket.closing().is_none() {
                self.engine.closed_flushed();
            }
            if let Some(dial) = self.engine.poll_dial() {
                self.start(dial, now);
            }
            if self.engine.finished(now) {
                self.socket.write(&mut self.engine, now, CLOSE_GRACE);
                self.socket.abandon();
                if !self.socket.busy() {
                    self.engine.closed_flushed();
                    tracing::debug!("I/O thread exits");
                    return;
                }
            }
            // Timers first, so that a stream of commands or frames cannot starve them.
            if self.engine.handle_timeout(now) || self.attempt_expired(now) {
                continue;
            }
            match self.commands.try_recv() {
                Ok(command) => {
                    self.engine.command(now, command);
                    continue;
                }
                Err(async_channel::TryRecvError::Closed) => self.engine.hang_up(now),
                Err(async_channel::TryRecvError::Empty) => {}
            }
            if let Ok((number, dialed)) = self.dialed.1.try_recv() {
                self.finish(number, dialed, now);
                continue;
            }
            let deadline = [
                self.engine.poll_timeout(),
                self.attempt.as_ref().map(|a| a.deadline),
                self.socket.closing(),
            ]
            .into_iter()
            .flatten()
            .min();
            let timeout = deadline.map(|d| d.saturating_duration_since(now));
            if !more && timeout != Some(Duration::ZERO) {
                let fallback = self.target.options.command_poll;
                self.waker.wait(&self.socket.fds(), timeout, fallback);
            }
            more = self.socket.read(&mut self.engine, Instant::now());
        }
    }

    /// A dial or probe past its deadline fails now (a trickling peer cannot stretch it); its
    /// late outcome, if any, is dropped.
    fn attempt_expired(&mut self, now: Instant) -> bool {
        let Some(attempt) = self.attempt.take_if(|a| now >= a.deadline) else {
            return false;
        };
        if attempt.probe {
            self.engine.probed(now, false);
        } else {
            self.engine.dialed::<Ws>(now, Err(TransportError::Timeout));
        }
        true
    }

    /// Carries out `dial` on a helper thread, so that commands and timers are served meanwhile.
    fn start(&mut self, dial: Dial, now: Instant) {
        self.attempts += 1;
        let number = self.attempts;
        let options = &self.target.options;
        let (probe, timeout) = match &dial {
            Dial::Connect { .. } => (false, options.connect_timeout),
            Dial::ProbeReady => (true, options.http_timeout),
        };
        self.attempt = Some(Attempt {
            number,
            deadline: now + timeout,
            probe,
        });
        let target = self.target.clone();
        let max_inbound = self.engine.session().max_inbound_bytes();
        let tx = self.dialed.0.clone();
        let waker = Arc::clone(&self.waker);
        let spawned = std::thread::Builder::new()
            .name("tcm-dial".to_owned())
            .spawn(move || {
                let outcome = dial_now(dial, &target, max_inbound);
                let _ = tx.send((number, outcome));
                waker.wake();
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot spawn a dial thread");
            let outcome = if probe {
                Dialed::Ready(false)
            } else {
                Dialed::Socket(Err(TransportError::Io(e)))
            };
            self.finish(number, outcome, now);
        }
    }

    /// Applies the outcome of attempt `number`, unless it was given up on already.
    fn finish(&mut self, number: u64, dialed: Dialed, now: Instant) {
        if self.attempt.take_if(|a| a.number == number).is_none() {
            return;
        }
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

/// Opens the WebSocket (or probes `/ready`).
fn dial_now(dial: Dial, target: &Target, max_inbound: usize) -> Dialed {
    match dial {
        Dial::Connect { uuid, headers } => {
            tracing::debug!(%uuid, endpoint = %target.endpoint, "dialing");
            let ws = transport::connect_ws(target, &headers, max_inbound);
            Dialed::Socket(ws.map(Box::new))
        }
        Dial::ProbeReady => {
            let result = crate::http::get(target, "/ready");
            tracing::debug!(status = ?result.as_ref().map(|r| r.status), "readiness probe");
            Dialed::Ready(matches!(result, Ok(r) if r.status == 200))
        }
    }
}
