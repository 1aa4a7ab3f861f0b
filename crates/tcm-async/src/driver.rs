//! The I/O loop: one for every session machine and every runtime. It moves frames between the
//! polled socket and the [`Engine`], runs dials alongside, and waits for the socket, a command,
//! a dial or the session's next timer, whichever comes first.
//!
//! Leader/follower: the loop's state ([`Driver`]) is polled by whichever task gets its lock.
//! That is the client's I/O task, except while a call is waiting for its reply: its own task
//! then polls the loop (so it is the one woken when the reply arrives), with no hand-off to the
//! I/O task and back. A task that polls the loop leaves its waker with the socket, the command
//! channel and the timer; one that stops polling with calls or work left wakes the I/O task to
//! take them over. While calls keep coming and nothing else is left, the I/O task stands by and
//! looks again every [`STANDBY`], so a frame that answers no call waits at most that long.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, TryLockError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_core::Stream as _;
use tcm_adapter::TransportError;
use tcm_adapter::engine::client::{Parts, Started, Target};
use tcm_adapter::engine::{Command, Engine, Protocol, Rouse, Wake};
use tcm_proto::Dial;

use crate::runtime::Runtime;
use crate::socket::{Socket, SocketEvent};
use crate::transport::{self, Ws};

/// How long a close frame may take to go out before its socket is dropped anyway.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Queued commands taken in one turn at most, so that a flood of calls cannot starve the socket.
const COMMAND_BUDGET: usize = 64;

/// How long the I/O task stands by at a time while calls drive the loop, before it looks again.
pub(crate) const STANDBY: Duration = Duration::from_millis(1);

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

/// The loop's state: the engine, the socket, the dial under way, the timer.
struct Driver<R: Runtime, P: Protocol> {
    engine: Engine<P>,
    commands: Pin<Box<async_channel::Receiver<Command<P>>>>,
    target: Target,
    socket: Socket,
    dialing: Option<Dialing>,
    timer: Option<(Instant, R::Timer)>,
    socket_first: bool,
}

/// A connection's loop as its handles reach it: the [`Driver`] under the lock that lets one
/// task poll it at a time (`None` inside once the loop has ended), and the I/O task's waker.
struct Lead<R: Runtime, P: Protocol> {
    driver: Mutex<Option<Driver<R, P>>>,
    /// Wakes the I/O task.
    io: Mutex<Option<Waker>>,
    /// The I/O task stands by on its own timer and will look again by itself: a call that
    /// stops polling the loop with nothing left need not wake it.
    standing_by: AtomicBool,
    /// Calls that tried to poll the loop so far: the I/O task stands by while they keep coming.
    tries: AtomicU64,
    /// The handles' commands, to see whether any wait when a call stops polling.
    commands: OnceLock<async_channel::Receiver<Command<P>>>,
}

/// Sets up a client with `parts` and spawns its I/O task on runtime `R`; returns what the
/// handles share and what the connect waits for.
pub(crate) fn start<R: Runtime, P: Protocol, X, E>(
    parts: impl FnOnce(Option<Wake>) -> Result<Parts<P, X>, E>,
) -> Result<Started<P, X>, E> {
    let lead: Arc<Lead<R, P>> = Arc::new(Lead {
        driver: Mutex::new(None),
        io: Mutex::new(None),
        standing_by: AtomicBool::new(false),
        tries: AtomicU64::new(0),
        commands: OnceLock::new(),
    });
    let parts = parts(Some(Arc::clone(&lead) as Wake))?;
    let setup = parts.setup;
    let _ = lead.commands.set(setup.commands.clone());
    *lead.lock() = Some(Driver {
        engine: setup.engine,
        commands: Box::pin(setup.commands),
        target: setup.target,
        socket: Socket::default(),
        dialing: None,
        timer: None,
        socket_first: false,
    });
    R::spawn(IoTask::<R, P> {
        lead,
        seen: 0,
        standby: None,
    });
    Ok((parts.shared, parts.ready))
}

impl<R: Runtime, P: Protocol> Lead<R, P> {
    /// The loop's state, waiting for the task polling it. A poll that panicked left it
    /// consistent between turns, so its poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, Option<Driver<R, P>>> {
        self.driver
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The loop's state if no other task polls it now.
    fn try_lock(&self) -> Option<MutexGuard<'_, Option<Driver<R, P>>>> {
        match self.driver.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn wake_io(&self) {
        if let Some(waker) = self.io.lock().ok().and_then(|w| w.clone()) {
            waker.wake();
        }
    }
}

impl<R: Runtime, P: Protocol> Rouse for Lead<R, P> {
    fn wake(&self) {
        self.wake_io();
    }

    fn poll_lead(&self, cx: &mut Context<'_>, done: &mut dyn FnMut() -> bool) -> bool {
        self.tries.fetch_add(1, SeqCst);
        if !R::can_drive_here() {
            self.wake_io();
            return false;
        }
        // Whoever polls the loop now sees the call's command (or leaves it to the I/O task).
        let Some(mut guard) = self.try_lock() else {
            return false;
        };
        let Some(driver) = guard.as_mut() else {
            drop(guard);
            self.wake_io();
            return false;
        };
        let ended = driver.poll_run(cx, done).is_ready();
        let finished = done();
        if finished {
            driver.forget_commands();
        }
        let quiet = driver.quiet();
        drop(guard);
        if finished {
            // This task stops polling: the I/O task takes over now if anything is left for
            // it, or if it is not standing by (its waker may have been replaced everywhere by
            // this task's); otherwise it looks again within its stand-by.
            let waiting = self.commands.get().is_some_and(|c| !c.is_empty());
            if ended || !quiet || waiting || !self.standing_by.load(SeqCst) {
                self.wake_io();
            }
        }
        true
    }
}

/// The client's I/O task: polls the loop whenever no call does, and ends it.
struct IoTask<R: Runtime, P: Protocol> {
    lead: Arc<Lead<R, P>>,
    /// The tries seen when it last stood by.
    seen: u64,
    /// Its stand-by timer, while it stands by.
    standby: Option<R::Timer>,
}

impl<R: Runtime, P: Protocol> Future for IoTask<R, P> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let lead = Arc::clone(&this.lead);
        if let Ok(mut io) = lead.io.lock() {
            if !io.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *io = Some(cx.waker().clone());
            }
        }
        loop {
            let tries = lead.tries.load(SeqCst);
            let Some(guard) = lead.try_lock() else {
                // A call polls the loop: it wakes this task if it stops with work left; look
                // again within the stand-by in any case.
                if this.stand_by(cx).is_pending() {
                    return Poll::Pending;
                }
                continue;
            };
            let mut guard = guard;
            let Some(driver) = guard.as_mut() else {
                return Poll::Ready(());
            };
            // While calls keep coming and nothing is left for it, the task turns the loop
            // without leaving its waker anywhere: a call that then polls the socket would
            // otherwise wake it (a runtime wakes the waker it replaces) for nothing, every call.
            let callers = tries != this.seen && driver.quiet();
            let mut unheard = Context::from_waker(Waker::noop());
            let turn_cx = if callers { &mut unheard } else { &mut *cx };
            let mut ended = driver.poll_run(turn_cx, &mut || false).is_ready();
            let stand_by = callers && driver.quiet();
            if callers && !stand_by && !ended {
                // The turn left work: listen for it after all.
                ended = driver.poll_run(cx, &mut || false).is_ready();
            }
            if ended {
                *guard = None;
                tracing::debug!("I/O task exits");
                return Poll::Ready(());
            }
            if stand_by {
                driver.forget_commands();
            } else {
                // Said while the loop is still held: a call that leads from now on and stops
                // with nothing left must wake this task, whose waker it may replace.
                lead.standing_by.store(false, SeqCst);
            }
            drop(guard);
            if !stand_by {
                this.standby = None;
                return Poll::Pending;
            }
            // Calls drive the loop: stand by rather than be woken after each of them.
            this.seen = tries;
            if this.stand_by(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl<R: Runtime, P: Protocol> IoTask<R, P> {
    /// Waits out the stand-by: `Ready` once it is over (the timer is then gone).
    fn stand_by(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.lead.standing_by.store(true, SeqCst);
        let timer = self
            .standby
            .get_or_insert_with(|| R::timer(Instant::now() + STANDBY));
        let over = Pin::new(timer).poll(cx);
        if over.is_ready() {
            self.standby = None;
        }
        over
    }
}

impl<R: Runtime, P: Protocol> Driver<R, P> {
    /// Runs the loop until it has to wait (`Pending`, with `cx` registered for what it waits
    /// for) or ends (`Ready`: every handle is gone and the close is out). Stops early, without
    /// registering, once `stop()` holds.
    fn poll_run(&mut self, cx: &mut Context<'_>, stop: &mut dyn FnMut() -> bool) -> Poll<()> {
        loop {
            let now = Instant::now();
            self.engine.deliver();
            if stop() {
                return Poll::Pending;
            }
            self.socket.expire(now);
            if self.socket.closing().is_none() {
                self.engine.closed_flushed();
            }
            if let Some(dial) = self.engine.poll_dial() {
                self.start(dial);
            }
            if self.engine.finished(now) {
                self.dialing = None;
                self.socket
                    .poll_write(cx, &mut self.engine, now + CLOSE_GRACE);
                self.socket.abandon();
                if !self.socket.busy() {
                    self.engine.closed_flushed();
                    return Poll::Ready(());
                }
            }
            if self.engine.handle_timeout(now) {
                continue;
            }
            // Commands already queued go first (a new call's request is written before the
            // socket is polled for nothing), a bounded number per turn.
            let mut taken = 0;
            while taken < COMMAND_BUDGET {
                let Ok(command) = self.commands.try_recv() else {
                    break;
                };
                self.engine.command(now, command);
                taken += 1;
            }
            if taken > 0 {
                continue;
            }
            self.arm();
            let hung_up = self.commands.is_closed() && self.commands.is_empty();
            match self.poll_wake(cx, now, hung_up) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Woken::Command(Some(command))) => {
                    self.engine.command(Instant::now(), command);
                }
                Poll::Ready(Woken::Command(None)) => self.engine.hang_up(Instant::now()),
                Poll::Ready(Woken::Socket(event)) => self.engine.receive(Instant::now(), event),
                Poll::Ready(Woken::Dialed(dialed)) => self.finish(dialed),
                Poll::Ready(Woken::Turn) => {}
            }
        }
    }

    /// Stops listening for commands: a task that stops polling the loop is not woken by the
    /// next call's command (that call polls the loop itself; other commands wake the I/O task).
    fn forget_commands(&mut self) {
        let fresh = (*self.commands).clone();
        self.commands = Box::pin(fresh);
    }

    /// Whether nothing but the session itself needs the loop: no call in flight, no dial, no
    /// output held up, no close going out.
    fn quiet(&self) -> bool {
        self.engine.idle() && self.dialing.is_none() && self.socket.idle()
    }

    /// Sets the timer for the next deadline, and alternates whether the socket or the commands
    /// are looked at first.
    fn arm(&mut self) {
        let deadline = [self.engine.poll_timeout(), self.socket.closing()]
            .into_iter()
            .flatten()
            .min();
        // A timer already set no later than the deadline (or with no deadline at all) is kept:
        // if it fires early the loop turns once and sets the next. Deadlines come and go with
        // every call, and a new timer costs the runtime's timer queue a registration (and its
        // reactor a wake-up, when another thread polls it).
        match (&self.timer, deadline) {
            (Some((at, _)), Some(d)) if *at <= d => {}
            (Some(_), None) => {}
            (_, Some(d)) => self.timer = Some((d, R::timer(d))),
            (None, None) => {}
        }
        self.socket_first = !self.socket_first;
    }

    /// Writes what the socket takes, then polls for a command, a socket message, the dial in
    /// progress or the next deadline.
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
