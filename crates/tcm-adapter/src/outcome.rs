//! [`CallOutcome`]: how a call ended, as the clients' and pools' stats count it and its
//! `tcm.call` span records it; a few classes, so that they make sensible metric labels.

use std::sync::atomic::{AtomicU64, Ordering};

use tcm_proto::RequestError;
use tcm_proto::jsonrpc::CallError;

use crate::engine::KINDS;
use crate::error::Error;

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CallOutcome {
    /// It succeeded.
    Ok,
    /// The server answered with an error (a Triton error, a refusal, a failed management
    /// action or info request, a JSON-RPC error or a malformed reply), or dropped the request
    /// (back-pressure, shutdown).
    ServerError,
    /// Its deadline passed.
    Timeout,
    /// The connection went away, was closed, or was down before the outcome.
    Disconnected,
    /// It was cancelled, or its stream was read too slowly.
    Cancelled,
    /// The client refused it before sending: a full queue, a frame too large, a capability not
    /// negotiated, shared memory that could not be set up, a reply of the wrong kind.
    Refused,
}

impl CallOutcome {
    /// Every outcome, in the order the stats list them.
    pub const ALL: [CallOutcome; 6] = [
        CallOutcome::Ok,
        CallOutcome::ServerError,
        CallOutcome::Timeout,
        CallOutcome::Disconnected,
        CallOutcome::Cancelled,
        CallOutcome::Refused,
    ];

    /// The outcome's name as the stats and spans give it (`ok`, `server_error`, `timeout`,
    /// `disconnected`, `cancelled`, `refused`).
    pub fn name(self) -> &'static str {
        match self {
            CallOutcome::Ok => "ok",
            CallOutcome::ServerError => "server_error",
            CallOutcome::Timeout => "timeout",
            CallOutcome::Disconnected => "disconnected",
            CallOutcome::Cancelled => "cancelled",
            CallOutcome::Refused => "refused",
        }
    }

    /// The outcome of a TCM request that failed with `e`.
    pub fn of_request(e: &RequestError) -> Self {
        match e {
            RequestError::Timeout => Self::Timeout,
            RequestError::Cancelled | RequestError::SlowConsumer { .. } => Self::Cancelled,
            RequestError::Disconnected(_) | RequestError::Closed | RequestError::NotConnected => {
                Self::Disconnected
            }
            RequestError::QueueFull { .. }
            | RequestError::TooLarge { .. }
            | RequestError::CapabilityMissing(_)
            | RequestError::Encode(_) => Self::Refused,
            _ => Self::ServerError,
        }
    }

    /// The outcome of a JSON-RPC call that failed with `e`.
    pub fn of_rpc(e: &CallError) -> Self {
        match e {
            CallError::Timeout => Self::Timeout,
            CallError::Cancelled => Self::Cancelled,
            CallError::Disconnected(_) | CallError::NotConnected => Self::Disconnected,
            CallError::NoActiveRun | CallError::TooManyPending(_) => Self::Refused,
            _ => Self::ServerError,
        }
    }

    /// The outcome of a client call that failed with `e`.
    pub fn of_error(e: &Error) -> Self {
        match e {
            Error::Request(e) => Self::of_request(e),
            Error::Stopped => Self::Disconnected,
            _ => Self::Refused,
        }
    }

    /// The outcome of a finished call.
    pub fn of<T, E>(result: &Result<T, E>, class: impl FnOnce(&E) -> Self) -> Self {
        result.as_ref().err().map_or(Self::Ok, class)
    }
}

/// Calls counted in total, by kind and by outcome: what a client's and a pool's stats share.
/// Relaxed atomics: each counter is exact, a snapshot of several is not taken at one instant.
#[derive(Debug, Default)]
pub(crate) struct CallCounts {
    calls: AtomicU64,
    failed: AtomicU64,
    /// Per kind ([`KINDS`]): calls and failures.
    by_kind: [[AtomicU64; 2]; KINDS.len()],
    /// Per outcome ([`CallOutcome::ALL`]).
    by_outcome: [AtomicU64; CallOutcome::ALL.len()],
}

impl CallCounts {
    /// Counts one call of `kind` (an index into [`KINDS`], `None` for a kind not counted
    /// apart) that ended with `outcome`.
    pub(crate) fn add(&self, kind: Option<usize>, outcome: CallOutcome) {
        let failed = outcome != CallOutcome::Ok;
        self.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        if let Some([calls, failures]) = kind.and_then(|k| self.by_kind.get(k)) {
            calls.fetch_add(1, Ordering::Relaxed);
            if failed {
                failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(i) = CallOutcome::ALL.iter().position(|o| *o == outcome) {
            self.by_outcome[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Calls counted.
    pub(crate) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// Of those, the ones that failed.
    pub(crate) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// Calls and failures by kind name, in [`KINDS`] order.
    pub(crate) fn by_kind(&self) -> Vec<(&'static str, u64, u64)> {
        KINDS
            .iter()
            .zip(&self.by_kind)
            .map(|(kind, [calls, failed])| {
                let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
                (*kind, load(calls), load(failed))
            })
            .collect()
    }

    /// Calls by outcome name, in [`CallOutcome::ALL`] order.
    pub(crate) fn by_outcome(&self) -> Vec<(&'static str, u64)> {
        CallOutcome::ALL
            .iter()
            .zip(&self.by_outcome)
            .map(|(o, n)| (o.name(), n.load(Ordering::Relaxed)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use tcm_proto::DisconnectError;

    use super::*;

    #[test]
    fn request_errors_fall_into_their_class() {
        let cases = [
            (RequestError::Timeout, CallOutcome::Timeout),
            (RequestError::Cancelled, CallOutcome::Cancelled),
            (
                RequestError::SlowConsumer { limit: 1 },
                CallOutcome::Cancelled,
            ),
            (
                RequestError::Disconnected(DisconnectError::KeepaliveTimeout),
                CallOutcome::Disconnected,
            ),
            (RequestError::NotConnected, CallOutcome::Disconnected),
            (RequestError::QueueFull { limit: 1 }, CallOutcome::Refused),
            (
                RequestError::Rejected("no".into()),
                CallOutcome::ServerError,
            ),
            (
                RequestError::Management {
                    message: "x".into(),
                },
                CallOutcome::ServerError,
            ),
        ];
        for (error, outcome) in cases {
            assert_eq!(CallOutcome::of_request(&error), outcome, "{error:?}");
        }
        assert_eq!(
            CallOutcome::of_error(&Error::Stopped),
            CallOutcome::Disconnected
        );
        assert_eq!(
            CallOutcome::of(&Ok::<(), Error>(()), CallOutcome::of_error),
            CallOutcome::Ok
        );
    }

    #[test]
    fn calls_are_counted_by_kind_and_by_every_outcome_in_order() {
        let counts = CallCounts::default();
        counts.add(Some(0), CallOutcome::Ok);
        counts.add(Some(2), CallOutcome::Ok);
        counts.add(Some(2), CallOutcome::Timeout);
        counts.add(None, CallOutcome::ServerError);
        assert_eq!((counts.calls(), counts.failed()), (4, 2));
        assert_eq!(
            counts.by_kind(),
            vec![("info", 1, 0), ("management", 0, 0), ("inference", 2, 1)]
        );
        let names: Vec<&str> = CallOutcome::ALL.iter().map(|o| o.name()).collect();
        let by_outcome = counts.by_outcome();
        assert_eq!(
            by_outcome.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            names
        );
        assert_eq!(
            (by_outcome[0], by_outcome[1], by_outcome[2]),
            (("ok", 2), ("server_error", 1), ("timeout", 1))
        );
    }
}
