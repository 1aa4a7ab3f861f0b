//! [`mailbox`]: where the replies of one call wait for its caller. One sender (the I/O loop),
//! one receiver (the call's ticket), a fixed capacity, and a receiver that waits either on a
//! condition variable of its own ([`Mailbox::recv_blocking`]; not the thread's park token, which
//! the application may use) or with a task's waker ([`Mailbox::poll_recv`]).
//!
//! Every call makes one, so it is as small as that allows: its shared state and its queue's
//! buffer (two plain allocations) and an uncontended lock per message, where a general
//! multi-producer channel paid a cache-line-aligned allocation and event-listener notifications
//! on every send, receive and drop.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// The sender is gone and nothing is left to receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the mailbox is closed")]
pub struct Closed;

/// Why [`Sender::try_send`] did not deliver: the message is handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError<T> {
    /// The mailbox holds its capacity.
    Full(T),
    /// The receiver is gone.
    Gone(T),
}

/// A mailbox holding at most `capacity` messages (at least one).
pub fn mailbox<T>(capacity: usize) -> (Sender<T>, Mailbox<T>) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            sender_gone: false,
            receiver_gone: false,
            waiter: Waiter::None,
        }),
        blocked: Condvar::new(),
        capacity: capacity.max(1),
    });
    (
        Sender {
            shared: Arc::clone(&shared),
        },
        Mailbox { shared },
    )
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Where [`Mailbox::recv_blocking`] waits.
    blocked: Condvar,
    capacity: usize,
}

struct State<T> {
    items: VecDeque<T>,
    sender_gone: bool,
    receiver_gone: bool,
    waiter: Waiter,
}

/// Who waits for the next message.
enum Waiter {
    None,
    /// A thread in [`Mailbox::recv_blocking`].
    Blocked,
    Task(Waker),
}

impl<T> Shared<T> {
    /// The state; a panic while it was held (none of its code panics) leaves it usable.
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Messages waiting unread.
    fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Either end's `Debug`: its name and the mailbox's capacity (not its messages).
    fn describe(&self, end: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct(end)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }

    /// Wakes whoever waits (after `state` is unlocked, so that the woken need not wait for it).
    fn wake(&self, mut state: MutexGuard<'_, State<T>>) {
        let waiter = std::mem::replace(&mut state.waiter, Waiter::None);
        drop(state);
        match waiter {
            Waiter::None => {}
            Waiter::Blocked => self.blocked.notify_one(),
            Waiter::Task(waker) => waker.wake(),
        }
    }
}

/// The I/O loop's end: delivers messages, and closes the mailbox when dropped.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.describe("Sender", f)
    }
}

impl<T> Sender<T> {
    /// Delivers `item` unless the mailbox is full or its receiver gone, and wakes the receiver.
    pub fn try_send(&self, item: T) -> Result<(), SendError<T>> {
        let mut state = self.shared.lock();
        if state.receiver_gone {
            return Err(SendError::Gone(item));
        }
        if state.items.len() >= self.shared.capacity {
            return Err(SendError::Full(item));
        }
        state.items.push_back(item);
        self.shared.wake(state);
        Ok(())
    }

    /// Messages waiting unread.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether no message waits unread.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many messages the mailbox holds at most.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.sender_gone = true;
        self.shared.wake(state);
    }
}

/// The caller's end: receives in order; once the sender is gone and the messages are read,
/// every receive gives [`Closed`].
pub struct Mailbox<T> {
    shared: Arc<Shared<T>>,
}

impl<T> std::fmt::Debug for Mailbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.shared.describe("Mailbox", f)
    }
}

impl<T> Mailbox<T> {
    /// Whether a receive would not wait: a message is in, or the sender is gone.
    pub fn is_ready(&self) -> bool {
        let state = self.shared.lock();
        !state.items.is_empty() || state.sender_gone
    }

    /// Messages waiting unread.
    pub fn len(&self) -> usize {
        self.shared.len()
    }

    /// Whether no message waits unread.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits on this thread for the next message.
    pub fn recv_blocking(&self) -> Result<T, Closed> {
        let mut state = self.shared.lock();
        loop {
            if let Some(item) = state.items.pop_front() {
                return Ok(item);
            }
            if state.sender_gone {
                return Err(Closed);
            }
            state.waiter = Waiter::Blocked;
            state = self
                .shared
                .blocked
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    /// The next message, or `Ready(None)` once closed and read; `Pending` registers `cx`'s
    /// waker (replacing any earlier one) to be woken by the next message or the close.
    pub fn poll_recv(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.lock();
        if let Some(item) = state.items.pop_front() {
            return Poll::Ready(Some(item));
        }
        if state.sender_gone {
            return Poll::Ready(None);
        }
        match &mut state.waiter {
            Waiter::Task(waker) if waker.will_wake(cx.waker()) => {}
            waiter => *waiter = Waiter::Task(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for Mailbox<T> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.receiver_gone = true;
        // Nobody will read what is left: drop it now, not with the sender.
        let left = std::mem::take(&mut state.items);
        drop(state);
        drop(left);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::thread;

    use super::*;

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn messages_arrive_in_order_up_to_the_capacity_then_closed_after_the_sender_goes() {
        let (tx, rx) = mailbox(2);
        assert_eq!(tx.try_send(1), Ok(()));
        assert_eq!(tx.try_send(2), Ok(()));
        assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
        assert_eq!((tx.len(), rx.len(), tx.capacity()), (2, 2, 2));
        drop(tx);
        assert!(rx.is_ready());
        assert_eq!(rx.recv_blocking(), Ok(1));
        assert_eq!(rx.recv_blocking(), Ok(2));
        assert!(rx.is_ready(), "closed: a receive does not wait");
        assert_eq!(rx.recv_blocking(), Err(Closed));
        assert_eq!(rx.recv_blocking(), Err(Closed));
    }

    #[test]
    fn a_send_to_a_dropped_mailbox_hands_the_message_back() {
        let (tx, rx) = mailbox(1);
        drop(rx);
        assert_eq!(tx.try_send(7), Err(SendError::Gone(7)));
    }

    #[test]
    fn a_parked_receiver_is_woken_by_a_message_from_another_thread() {
        let (tx, rx) = mailbox(1);
        let sender = thread::spawn(move || {
            tx.try_send("reply").map_err(|_| "not sent")?;
            // Kept alive until joined: the receiver must wake for the message, not the close.
            Ok::<_, &str>(tx)
        });
        assert_eq!(rx.recv_blocking(), Ok("reply"));
        assert!(sender.join().expect("sender thread").is_ok());
    }

    #[test]
    fn a_parked_receiver_is_woken_by_the_sender_going() {
        let (tx, rx) = mailbox::<u8>(1);
        let sender = thread::spawn(move || drop(tx));
        assert_eq!(rx.recv_blocking(), Err(Closed));
        sender.join().expect("sender thread");
    }

    #[test]
    fn a_pending_task_is_woken_once_by_the_message_and_once_by_the_close() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let (tx, rx) = mailbox(1);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending, "registering twice");
        assert_eq!(tx.try_send(5), Ok(()));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(Some(5)));
        assert_eq!(rx.poll_recv(&mut cx), Poll::Pending);
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(rx.poll_recv(&mut cx), Poll::Ready(None));
    }
}
