//! The I/O loop: one for every session machine. It moves frames between the non-blocking
//! socket and the [`Engine`], carries out dials on helper threads, and sleeps in `poll(2)`
//! until the socket, a command or the session's next timer needs it.
//!
//! Leader/follower: the loop's state ([`Driver`]) belongs to whichever thread holds its lock.
//! That is the I/O thread, except while a caller blocked on a call drives the connection
//! itself: its request goes out and its reply comes in on its own thread, with no hand-off to
//! the I/O thread and back. Only one thread leads at a time; other callers queue their calls
//! and ring the leader as usual (followers), and the leader delivers their outcomes. A leader
//! stops as soon as its own outcome is in; if calls or work remain, it hands the loop back to
//! the I/O thread. While calls keep coming, the I/O thread stands by (parked, not polling the
//! socket) for at most [`STANDBY`] at a time, then takes the socket back: a frame that answers
//! no call (a ping, a notification, a close) waits at most that long when no call is made.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::time::{Duration, Instant};

use tcm_adapter::TransportError;
use tcm_adapter::engine::client::{Parts, SpawnError, Started, Target};
use tcm_adapter::engine::{Command, Engine, Protocol, Rouse, Wake};
use tcm_proto::Dial;

use crate::socket::Socket;
use crate::transport::{self, Ws};
use crate::wake::Waker;

/// How long a close frame may take to go out before its socket is dropped anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How long the I/O thread stands by at a time while callers lead, before it looks again.
pub(crate) const STANDBY: Duration = Duration::from_millis(1);

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

/// The loop's state: the engine, the socket, the dial under way. Owned by whichever thread
/// leads.
struct Driver<P: Protocol> {
    engine: Engine<P>,
    commands: async_channel::Receiver<Command<P>>,
    target: Target,
    socket: Socket,
    waker: Arc<Waker>,
    dialed: Outcomes,
    attempt: Option<Attempt>,
    attempts: u64,
    /// The last read left messages behind (it ran out of budget).
    more: bool,
}

/// What one turn of the loop leaves to do.
enum Step {
    /// Something changed: turn again.
    Again,
    /// Nothing but the socket: wait for it (for at most the duration, if any; not at all if
    /// `None` inside), then read.
    Io(Option<Option<Duration>>),
    /// Every handle is gone and the close is out: the loop ends.
    Exit,
}

/// A connection's loop as its handles reach it: the [`Driver`] under the lock that makes one
/// thread its leader, and the wake-up pipe. `None` inside once the loop has ended.
struct Lead<P: Protocol> {
    driver: Mutex<Option<Driver<P>>>,
    waker: Arc<Waker>,
    /// The handles' commands, to see whether any wait when a leader steps down.
    commands: OnceLock<async_channel::Receiver<Command<P>>>,
}

/// Sets up a client with `parts` (given how its commands reach the loop) and starts its I/O
/// thread; returns what the handles share and what the connect waits for.
pub(crate) fn start<P: Protocol, X, E: From<SpawnError>>(
    parts: impl FnOnce(Option<Wake>) -> Result<Parts<P, X>, E>,
) -> Result<Started<P, X>, E> {
    let waker = Arc::new(Waker::new());
    let lead: Arc<Lead<P>> = Arc::new(Lead {
        driver: Mutex::new(None),
        waker: Arc::clone(&waker),
        commands: OnceLock::new(),
    });
    let parts = parts(Some(Arc::clone(&lead) as Wake))?;
    let setup = parts.setup;
    let _ = lead.commands.set(setup.commands.clone());
    *lead.lock() = Some(Driver {
        engine: setup.engine,
        commands: setup.commands,
        target: setup.target,
        socket: Socket::default(),
        waker,
        dialed: mpsc::channel(),
        attempt: None,
        attempts: 0,
        more: false,
    });
    std::thread::Builder::new()
        .name("tcm-io".to_owned())
        .spawn(move || lead.run())
        .map_err(SpawnError)?;
    Ok((parts.shared, parts.ready))
}

impl<P: Protocol> Lead<P> {
    /// The loop's state, waiting for the current leader to step down. A leader that panicked
    /// left it consistent between turns, so its poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Option<Driver<P>>> {
        self.driver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The loop's state if no other thread leads now.
    fn try_lock(&self) -> Option<MutexGuard<'_, Option<Driver<P>>>> {
        match self.driver.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// The I/O thread: leads whenever no caller does; stands by while callers keep leading.
    fn run(&self) {
        // The tries to lead seen when the I/O thread last stood by.
        let mut seen_tries = self.waker.tries();
        loop {
            let rings = self.waker.rings();
            let Some(mut guard) = self.try_lock() else {
                self.waker.park(rings, STANDBY);
                continue;
            };
            let Some(driver) = guard.as_mut() else {
                return;
            };
            match driver.turn(Instant::now()) {
                Step::Again => {}
                Step::Exit => {
                    *guard = None;
                    tracing::debug!("I/O thread exits");
                    return;
                }
                Step::Io(wait) => {
                    let tries = self.waker.tries();
                    if tries != seen_tries && driver.quiet() {
                        // Callers lead: stand by rather than hold the socket they want.
                        seen_tries = tries;
                        drop(guard);
                        let timeout = wait.flatten().map_or(STANDBY, |t| t.min(STANDBY));
                        self.waker.park(rings, timeout);
                        continue;
                    }
                    driver.io(wait);
                }
            }
        }
    }
}

impl<P: Protocol> Rouse for Lead<P> {
    fn wake(&self) {
        self.waker.wake();
    }

    fn lead(&self, done: &mut dyn FnMut() -> bool) -> bool {
        self.waker.try_lead();
        let Some(mut guard) = self.try_lock() else {
            self.waker.wake();
            return false;
        };
        let Some(driver) = guard.as_mut() else {
            drop(guard);
            self.waker.wake();
            return false;
        };
        let leading = self.waker.lead();
        loop {
            let step = driver.turn(Instant::now());
            if done() {
                break;
            }
            match step {
                Step::Again => {}
                // Only the I/O thread ends the loop.
                Step::Exit => break,
                Step::Io(wait) => driver.io(wait),
            }
        }
        let quiet = driver.quiet();
        drop(leading);
        drop(guard);
        // Hand the loop back to the I/O thread if anything is left for it, including commands
        // queued while this thread stepped down.
        if !quiet || self.commands.get().is_some_and(|c| !c.is_empty()) {
            self.waker.wake();
        }
        true
    }
}

impl<P: Protocol> Driver<P> {
    /// One turn of the loop at `now`: writes what is due, hands outcomes and events on, starts
    /// dials, fires timers, takes one command or dial outcome; then says what is left.
    fn turn(&mut self, now: Instant) -> Step {
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
                return Step::Exit;
            }
        }
        // Timers first, so that a stream of commands or frames cannot starve them.
        if self.engine.handle_timeout(now) || self.attempt_expired(now) {
            return Step::Again;
        }
        match self.commands.try_recv() {
            Ok(command) => {
                self.engine.command(now, command);
                return Step::Again;
            }
            Err(async_channel::TryRecvError::Closed) => self.engine.hang_up(now),
            Err(async_channel::TryRecvError::Empty) => {}
        }
        if let Ok((number, dialed)) = self.dialed.1.try_recv() {
            self.finish(number, dialed, now);
            return Step::Again;
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
        let wait = (!self.more && timeout != Some(Duration::ZERO)).then_some(timeout);
        Step::Io(wait)
    }

    /// Waits for the socket, a wake-up or the timeout (if `wait` says to), then reads.
    fn io(&mut self, wait: Option<Option<Duration>>) {
        if let Some(timeout) = wait {
            let fallback = self.target.options.command_poll;
            self.waker.wait(&self.socket.fds(), timeout, fallback);
        }
        self.more = self.socket.read(&mut self.engine, Instant::now());
    }

    /// Whether nothing but the session itself needs the loop: no call in flight, no dial, no
    /// output held up, no close going out, nothing left unread.
    fn quiet(&self) -> bool {
        self.engine.idle()
            && self.attempt.is_none()
            && self.socket.idle()
            && !self.more
            && self.commands.is_empty()
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
