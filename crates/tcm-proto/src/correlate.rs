//! Request correlation on a protocol without request ids (TCM §6, §12, §19.5).
//!
//! - **info**: each request carries a unique `payload.job_id`, echoed verbatim; many may be in
//!   flight.
//! - **management**: each request carries a unique top-level `request_id`, echoed with the whole
//!   envelope. One is in flight at a time (the server runs management one at a time anyway), so
//!   an untagged Forbidden error or a drop notice names exactly one request.
//! - **inference**: replies echo nothing usable, so at most one inference (with its stream
//!   frames) is in flight; later ones wait in a bounded queue. When the in-flight inference is
//!   abandoned (timeout or cancel) its slot stays *orphaned* until the late reply arrives,
//!   so that reply can never be given to the next request.
//!
//! Frames that match no live request become notifications.

use std::collections::VecDeque;
use std::time::Instant;

use serde_json::Value;

use crate::envelope::{Protocol, Request};
use crate::error::{ErrorCode, RequestError};
use crate::event::{Notification, RequestId, Response, StreamFrame};
use crate::frame::{ErrorFrame, Failure, InferenceStatus, MessageKind, ServerFrame};
use crate::outputs::Outputs;
use crate::session::IdMap;
use crate::timer::DeadlineSet;

/// The three kinds of request, each with its own queue and in-flight limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    Info = 0,
    Management = 1,
    Inference = 2,
}

impl Lane {
    pub(crate) fn of(request: &Request) -> Self {
        match request {
            Request::Info(_) => Self::Info,
            Request::Management(_) => Self::Management,
            Request::Inference(_) => Self::Inference,
        }
    }

    fn of_kind(kind: &MessageKind) -> Option<Self> {
        match kind {
            MessageKind::Info => Some(Self::Info),
            MessageKind::Management => Some(Self::Management),
            MessageKind::Inference => Some(Self::Inference),
            MessageKind::Other(_) => None,
        }
    }
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting in its lane's queue (or for the connection to open).
    Queued,
    /// Sent; waiting for the reply.
    InFlight,
    /// Failed retriably; waiting to be queued again at this instant.
    RetryWait(Instant),
}

/// One live request.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) request: Request,
    pub(crate) lane: Lane,
    pub(crate) deadline: Instant,
    pub(crate) attempts: u32,
    pub(crate) phase: Phase,
}

/// The single-request slot of the management and inference lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Free,
    Busy(RequestId),
    /// The request was abandoned while in flight; its reply may still come.
    Orphaned(Instant),
}

/// What a server frame means for the live requests.
#[derive(Debug)]
pub(crate) enum Route {
    /// Final success of a request.
    Response(RequestId, Response),
    /// Final failure of requests (retry is decided by the connection).
    Failure(Vec<RequestId>, RequestError),
    /// A stream frame of a request.
    Stream(RequestId, StreamFrame),
    /// Not a reply to any live request.
    Notify(Notification),
}

/// The table of live requests and the lanes they wait in.
#[derive(Debug, Default)]
pub(crate) struct Correlator {
    entries: IdMap<RequestId, Entry>,
    queues: [VecDeque<RequestId>; 3],
    /// Requests of each lane waiting for a retry: they count against the lane's queue bound,
    /// since they re-enter the queue when their retry is due.
    retry_waiting: [usize; 3],
    info_in_flight: usize,
    slots: [Option<Slot>; 3],
    deadlines: DeadlineSet<RequestId>,
    retries: DeadlineSet<RequestId>,
}

/// The correlation tag of a request: the info `job_id` or the management `request_id`.
pub(crate) fn tag(lane: Lane, id: RequestId) -> String {
    let prefix = match lane {
        Lane::Info => 'j',
        Lane::Management => 'm',
        Lane::Inference => return String::new(),
    };
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(id.0);
    let mut tag = String::with_capacity(1 + digits.len());
    tag.push(prefix);
    tag.push_str(digits);
    tag
}

fn parse_tag(prefix: char, value: &Value) -> Option<RequestId> {
    let s = value.as_str()?;
    let rest = s.strip_prefix(prefix)?;
    if rest.starts_with('0') && rest.len() > 1 {
        return None;
    }
    rest.parse().ok().map(RequestId)
}

impl Correlator {
    pub(crate) fn new() -> Self {
        Self {
            slots: [None, Some(Slot::Free), Some(Slot::Free)],
            ..Self::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Requests of `lane` waiting to be sent: queued, or waiting for a retry.
    pub(crate) fn queued(&self, lane: Lane) -> usize {
        self.queues[lane as usize].len() + self.retry_waiting[lane as usize]
    }

    pub(crate) fn get(&self, id: RequestId) -> Option<&Entry> {
        self.entries.get(&id)
    }

    /// Accepts a new request into its lane's queue.
    pub(crate) fn insert(&mut self, id: RequestId, request: Request, deadline: Instant) {
        let lane = Lane::of(&request);
        self.deadlines.insert(deadline, id);
        self.queues[lane as usize].push_back(id);
        self.entries.insert(
            id,
            Entry {
                request,
                lane,
                deadline,
                attempts: 0,
                phase: Phase::Queued,
            },
        );
    }

    /// Removes a request for good, freeing whatever it held. `orphan_at` marks an in-flight
    /// inference slot as orphaned instead of free (the reply may still come).
    pub(crate) fn remove(&mut self, id: RequestId, orphan_at: Option<Instant>) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        self.deadlines.remove(entry.deadline, id);
        match entry.phase {
            Phase::Queued => self.queues[entry.lane as usize].retain(|q| *q != id),
            Phase::RetryWait(at) => {
                self.retries.remove(at, id);
                self.retry_waiting[entry.lane as usize] -= 1;
            }
            Phase::InFlight => self.release_slot(entry.lane, id, orphan_at),
        }
        Some(entry)
    }

    fn release_slot(&mut self, lane: Lane, id: RequestId, orphan_at: Option<Instant>) {
        match &mut self.slots[lane as usize] {
            None => self.info_in_flight = self.info_in_flight.saturating_sub(1),
            Some(slot) => {
                if *slot == Slot::Busy(id) {
                    *slot = match (lane, orphan_at) {
                        (Lane::Inference, Some(t)) => Slot::Orphaned(t),
                        _ => Slot::Free,
                    };
                }
            }
        }
    }

    /// Puts an in-flight request back to wait for a retry at `at`.
    pub(crate) fn schedule_retry(&mut self, id: RequestId, at: Instant) {
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        if entry.phase == Phase::InFlight {
            let lane = entry.lane;
            entry.phase = Phase::RetryWait(at);
            self.retries.insert(at, id);
            self.retry_waiting[lane as usize] += 1;
            self.release_slot(lane, id, None);
        }
    }

    /// Queues every request whose retry is due, ahead of newer requests.
    pub(crate) fn requeue_due(&mut self, now: Instant) {
        while let Some(id) = self.retries.pop_due(now) {
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.phase = Phase::Queued;
                self.retry_waiting[entry.lane as usize] -= 1;
                self.queues[entry.lane as usize].push_front(id);
            }
        }
    }

    /// The next request that may be sent now, marked in flight. Its attempt count is bumped.
    pub(crate) fn next_sendable(&mut self, max_info_in_flight: usize) -> Option<RequestId> {
        for lane in [Lane::Info, Lane::Management, Lane::Inference] {
            let free = match self.slots[lane as usize] {
                None => self.info_in_flight < max_info_in_flight,
                Some(slot) => slot == Slot::Free,
            };
            if !free {
                continue;
            }
            let Some(id) = self.queues[lane as usize].pop_front() else {
                continue;
            };
            match &mut self.slots[lane as usize] {
                None => self.info_in_flight += 1,
                Some(slot) => *slot = Slot::Busy(id),
            }
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.phase = Phase::InFlight;
                entry.attempts += 1;
            }
            return Some(id);
        }
        None
    }

    /// Pops the earliest request whose deadline is due.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<RequestId> {
        self.deadlines.pop_due(now)
    }

    /// The earliest request deadline.
    pub(crate) fn earliest_deadline(&self) -> Option<Instant> {
        self.deadlines.earliest()
    }

    pub(crate) fn earliest_retry(&self) -> Option<Instant> {
        self.retries.earliest()
    }

    /// The instant the inference slot was orphaned, if it is and inferences are waiting.
    pub(crate) fn orphan_blocking(&self) -> Option<Instant> {
        match self.slots[Lane::Inference as usize] {
            Some(Slot::Orphaned(t)) if !self.queues[Lane::Inference as usize].is_empty() => Some(t),
            _ => None,
        }
    }

    /// Takes every live request (for a disconnect) and resets the lanes.
    pub(crate) fn drain(&mut self) -> Vec<RequestId> {
        let mut ids: Vec<RequestId> = self.entries.keys().copied().collect();
        ids.sort_unstable();
        self.entries.clear();
        for q in &mut self.queues {
            q.clear();
        }
        self.retry_waiting = [0; 3];
        self.info_in_flight = 0;
        self.slots = [None, Some(Slot::Free), Some(Slot::Free)];
        self.deadlines.clear();
        self.retries.clear();
        ids
    }

    /// Takes the requests in flight (their replies are lost with the transport) and frees the
    /// slots; queued requests and those waiting for a retry stay.
    pub(crate) fn drain_in_flight(&mut self) -> Vec<RequestId> {
        let mut ids: Vec<RequestId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.phase == Phase::InFlight)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in &ids {
            if let Some(e) = self.entries.remove(id) {
                self.deadlines.remove(e.deadline, *id);
            }
        }
        self.info_in_flight = 0;
        self.slots = [None, Some(Slot::Free), Some(Slot::Free)];
        ids
    }

    /// Memory held besides the entries themselves (for bounded-memory checks).
    #[cfg(test)]
    pub(crate) fn index_sizes(&self) -> (usize, usize, usize) {
        (
            self.deadlines.len(),
            self.retries.len(),
            self.queues.iter().map(VecDeque::len).sum(),
        )
    }

    fn in_flight(&self, id: RequestId, lane: Lane) -> bool {
        self.entries
            .get(&id)
            .is_some_and(|e| e.lane == lane && e.phase == Phase::InFlight)
    }

    fn inference_in_flight(&self) -> Option<RequestId> {
        match self.slots[Lane::Inference as usize] {
            Some(Slot::Busy(id)) => Some(id),
            _ => None,
        }
    }

    /// Clears an orphaned inference slot once its late terminal frame (or drop) has arrived.
    fn clear_orphan(&mut self) -> bool {
        let slot = &mut self.slots[Lane::Inference as usize];
        if matches!(slot, Some(Slot::Orphaned(_))) {
            *slot = Some(Slot::Free);
            true
        } else {
            false
        }
    }

    /// The in-flight requests of a lane that a drop notice or Forbidden error refers to: the
    /// single slot holder, or for info every in-flight request that is not answered on the fast
    /// path (fast-path info is never dropped).
    fn untagged_targets(&mut self, lane: Lane) -> Vec<RequestId> {
        match self.slots[lane as usize] {
            Some(Slot::Busy(id)) => vec![id],
            Some(Slot::Orphaned(_)) => {
                self.clear_orphan();
                Vec::new()
            }
            Some(Slot::Free) => Vec::new(),
            None => {
                let mut ids: Vec<RequestId> = self
                    .entries
                    .iter()
                    .filter(|(_, e)| {
                        e.phase == Phase::InFlight
                            && matches!(&e.request, Request::Info(r) if !r.is_fast_path())
                    })
                    .map(|(id, _)| *id)
                    .collect();
                ids.sort_unstable();
                ids
            }
        }
    }

    /// Decides what a decoded frame (other than `auth.ok`) means for the live requests.
    ///
    /// `uuid` is the current connection's uuid: an inference frame routed to another uuid
    /// answers nothing here.
    pub(crate) fn route(&mut self, frame: ServerFrame, uuid: &str) -> Route {
        match frame {
            ServerFrame::InfoResponse(r) => match parse_tag('j', &r.job_id) {
                Some(id) if self.in_flight(id, Lane::Info) => {
                    if r.success {
                        Route::Response(
                            id,
                            Response::Info {
                                request_type: r.request_type,
                                data: r.data,
                            },
                        )
                    } else {
                        let message = r.error.clone().unwrap_or_else(|| r.data.to_string());
                        Route::Failure(vec![id], RequestError::Info { message })
                    }
                }
                _ => Route::Notify(Notification::Unmatched(ServerFrame::InfoResponse(r))),
            },
            ServerFrame::Management(m) => {
                match m.request_id.as_ref().and_then(|v| parse_tag('m', v)) {
                    Some(id) if self.in_flight(id, Lane::Management) => {
                        if m.status {
                            Route::Response(id, Response::Management { data: m.data })
                        } else {
                            let message = match &m.data {
                                Value::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            Route::Failure(vec![id], RequestError::Management { message })
                        }
                    }
                    _ => Route::Notify(Notification::Unmatched(ServerFrame::Management(m))),
                }
            }
            ServerFrame::Inference(f) if f.uuid.as_deref().is_some_and(|u| u != uuid) => {
                Route::Notify(Notification::Unmatched(ServerFrame::Inference(f)))
            }
            ServerFrame::Inference(f) => {
                let Some(id) = self.inference_in_flight() else {
                    if f.status.is_terminal() {
                        self.clear_orphan();
                    }
                    return Route::Notify(Notification::Unmatched(ServerFrame::Inference(f)));
                };
                match f.status {
                    InferenceStatus::Start => Route::Stream(id, StreamFrame::Start),
                    InferenceStatus::Ongoing => {
                        let chunk = match f.data {
                            Value::String(s) => s,
                            Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        Route::Stream(id, StreamFrame::Chunk(chunk))
                    }
                    InferenceStatus::Completed => {
                        let outputs = match (f.outputs, f.data) {
                            (Some(outputs), _) => outputs,
                            (None, Value::Object(map)) => Outputs::from_json(map),
                            (None, _) => Outputs::default(),
                        };
                        Route::Response(
                            id,
                            Response::Inference {
                                model_name: f.model_name,
                                outputs,
                            },
                        )
                    }
                    InferenceStatus::Failed => {
                        let error = match f.failure() {
                            Failure::Typed(e) => RequestError::Triton(e),
                            Failure::Text(t) => RequestError::Failed(t),
                        };
                        Route::Failure(vec![id], error)
                    }
                    InferenceStatus::Other(_) => {
                        Route::Notify(Notification::Unmatched(ServerFrame::Inference(f)))
                    }
                }
            }
            ServerFrame::Error(e) => self.route_error(e),
            ServerFrame::Alert(a) => Route::Notify(Notification::Alert(a)),
            other => Route::Notify(Notification::Unmatched(other)),
        }
    }

    fn route_error(&mut self, e: ErrorFrame) -> Route {
        if e.code == Some(ErrorCode::BackpressureInsufficientBudget) {
            return Route::Notify(Notification::BudgetAdvisory(e));
        }
        let target = match (&e.code, &e.dropped_type) {
            (Some(code), Some(kind)) => Lane::of_kind(kind).map(|lane| {
                (
                    lane,
                    RequestError::Dropped {
                        code: code.clone(),
                        message: e.message.clone(),
                    },
                )
            }),
            (None, _) => e
                .forbidden_kind()
                .and_then(|k| Lane::of_kind(&k))
                .map(|lane| (lane, RequestError::Rejected(e.message.clone()))),
            _ => None,
        };
        match target {
            Some((lane, error)) => {
                let ids = self.untagged_targets(lane);
                if ids.is_empty() {
                    Route::Notify(Notification::ServerError(e))
                } else {
                    Route::Failure(ids, error)
                }
            }
            None => Route::Notify(Notification::ServerError(e)),
        }
    }

    /// Whether the request is a gRPC stream.
    pub(crate) fn is_stream(&self, id: RequestId) -> bool {
        self.entries.get(&id).is_some_and(
            |e| matches!(&e.request, Request::Inference(r) if r.protocol == Protocol::Grpc),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::envelope::{InferenceRequest, InfoRequest};

    fn inference() -> Request {
        Request::from(InferenceRequest::for_container("c", "m"))
    }

    #[test]
    fn removing_every_request_leaves_no_index_behind() {
        let t0 = Instant::now();
        let mut c = Correlator::new();
        for n in 0..6 {
            let req = if n % 2 == 0 {
                inference()
            } else {
                Request::Info(InfoRequest::queue_stats())
            };
            c.insert(RequestId(n), req, t0 + Duration::from_secs(n));
        }
        let first = c.next_sendable(8).expect("an info goes first");
        c.schedule_retry(first, t0 + Duration::from_secs(1));
        while c.next_sendable(8).is_some() {}
        for n in 0..6 {
            c.remove(RequestId(n), Some(t0));
        }
        assert_eq!(c.len(), 0);
        assert_eq!(c.index_sizes(), (0, 0, 0));
        assert_eq!(c.info_in_flight, 0);
    }

    #[test]
    fn an_abandoned_inference_orphans_the_slot_until_its_late_reply() {
        let t0 = Instant::now();
        let mut c = Correlator::new();
        c.insert(RequestId(1), inference(), t0);
        c.insert(RequestId(2), inference(), t0);
        assert_eq!(c.next_sendable(8), Some(RequestId(1)));
        c.remove(RequestId(1), Some(t0));
        assert_eq!(c.next_sendable(8), None, "the slot is orphaned");
        assert_eq!(c.orphan_blocking(), Some(t0));
        let late = ServerFrame::decode(
            r#"{"type":"inference","uuid":"u","payload":{"data":{},"status":"COMPLETED","model_name":"m"}}"#,
        )
        .unwrap();
        assert!(matches!(
            c.route(late, "u"),
            Route::Notify(Notification::Unmatched(_))
        ));
        assert_eq!(c.next_sendable(8), Some(RequestId(2)));
    }

    #[test]
    fn requests_waiting_for_a_retry_count_against_the_queue_bound() {
        let t0 = Instant::now();
        let mut c = Correlator::new();
        c.insert(RequestId(1), inference(), t0 + Duration::from_secs(9));
        assert_eq!(c.next_sendable(8), Some(RequestId(1)));
        assert_eq!(c.queued(Lane::Inference), 0);
        c.schedule_retry(RequestId(1), t0 + Duration::from_secs(1));
        assert_eq!(
            c.queued(Lane::Inference),
            1,
            "a retry-waiting request holds a queue place"
        );
        c.requeue_due(t0 + Duration::from_secs(1));
        assert_eq!(c.queued(Lane::Inference), 1);
        assert_eq!(c.next_sendable(8), Some(RequestId(1)));
        c.schedule_retry(RequestId(1), t0 + Duration::from_secs(2));
        c.remove(RequestId(1), None);
        assert_eq!(c.queued(Lane::Inference), 0);
    }

    #[test]
    fn tags_round_trip_and_reject_lookalikes() {
        let id = RequestId(42);
        assert_eq!(
            parse_tag('j', &Value::String(tag(Lane::Info, id))),
            Some(id)
        );
        assert_eq!(
            parse_tag('m', &Value::String(tag(Lane::Management, id))),
            Some(id)
        );
        for bad in ["j042", "m42", "j", "j-1", "J42"] {
            assert_eq!(parse_tag('j', &Value::String(bad.into())), None, "{bad}");
        }
        assert_eq!(parse_tag('j', &Value::from(42)), None);
    }
}
