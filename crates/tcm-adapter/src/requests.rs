//! The table of a TCM connection's requests in flight and where their replies go.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tcm_proto::{Connection, Request, RequestError, RequestId};

struct Pending<S> {
    call: u64,
    reply: S,
}

/// The requests in flight on one connection, found by the core's id or by the caller's call
/// number, each with `S`, where its frames and outcome go.
pub struct Requests<S> {
    pending: HashMap<RequestId, Pending<S>>,
    by_call: HashMap<u64, RequestId>,
}

impl<S> Default for Requests<S> {
    fn default() -> Self {
        Self {
            pending: HashMap::new(),
            by_call: HashMap::new(),
        }
    }
}

impl<S> Requests<S> {
    /// No request in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts `request` (the caller's call number `call`) on `conn`; when the core refuses it,
    /// `reply` is handed back with the error.
    pub fn start(
        &mut self,
        conn: &mut Connection,
        now: Instant,
        call: u64,
        request: Request,
        timeout: Option<Duration>,
        reply: S,
    ) -> Result<(), (S, RequestError)> {
        match conn.request(now, request, timeout) {
            Ok(id) => {
                self.pending.insert(id, Pending { call, reply });
                self.by_call.insert(call, id);
                Ok(())
            }
            Err(e) => Err((reply, e)),
        }
    }

    /// Cancels the request started with call number `call`, if it is still in flight.
    pub fn cancel(&mut self, conn: &mut Connection, now: Instant, call: u64) {
        if let Some(id) = self.by_call.remove(&call) {
            conn.cancel(now, id);
        }
    }

    /// Where the frames of request `id` go while it runs.
    pub fn reply_to(&self, id: &RequestId) -> Option<&S> {
        self.pending.get(id).map(|p| &p.reply)
    }

    /// Forgets the ended request `id`; where its outcome goes.
    pub fn finish(&mut self, id: &RequestId) -> Option<S> {
        let p = self.pending.remove(id)?;
        self.by_call.remove(&p.call);
        Some(p.reply)
    }
}
