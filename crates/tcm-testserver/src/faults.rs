//! Runtime fault switches used by client tests (set through the server handle).

use std::collections::VecDeque;
use std::time::Duration;

/// Every fault switch; all default to off.
#[derive(Debug, Clone, Default)]
pub struct FaultState {
    /// Never answer inference requests (Q1); role checks still run.
    pub never_answer_inference: bool,
    /// Number of upcoming inference jobs whose connection is dropped (no close frame) instead of answered.
    pub drop_on_inference: u32,
    /// Drop the connection that processes the n-th next frame (counted across connections), right after processing it.
    pub drop_after_frames: Option<u32>,
    /// Delay added before every worker reply (inference, management, queued info).
    pub reply_delay: Duration,
    /// Number of upcoming worker replies that are silently discarded.
    pub discard_replies: u32,
    /// Typed error codes for the next inference requests, one per request.
    pub fail_inferences: VecDeque<String>,
    /// Number of upcoming queued requests NACKed with `BACKPRESSURE_QUEUE_FULL`.
    pub queue_full: u32,
    /// Connections stop reading: pings get no pong, frames are not processed.
    pub stall_reading: bool,
}

impl FaultState {
    /// Consumes one unit of a countdown; true if it was armed.
    pub fn take(counter: &mut u32) -> bool {
        if *counter > 0 {
            *counter -= 1;
            true
        } else {
            false
        }
    }
}
