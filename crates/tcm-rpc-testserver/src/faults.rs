//! Fault injection: what a test can make the server do wrong, at runtime, through
//! [`RpcServerHandle::inject`](crate::RpcServerHandle::inject).

use std::time::Duration;

/// One fault. "Now" faults act on the current connection at once; "next" faults change how the
/// next client request on any connection is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Now: drop the TCP connection without a close frame (pending calls stay unanswered).
    Drop,
    /// Now: close the connection with this code (e.g. 1000).
    Close(u16),
    /// Now: send a valid JSON notification padded to exactly this many bytes (e.g. 1 MiB + 1).
    Oversize(usize),
    /// Now: send a frame that is not valid JSON (`{not json`).
    InvalidJson,
    /// Now: send a JSON array (a batch), which the dialect does not support.
    JsonArray,
    /// Now: send an error frame with `id: null`.
    NullIdError,
    /// Now: a `create_node` request without `name`; the reply (expected −32602) is returned.
    MissingParamRequest,
    /// Now: a request for a method the client does not have; the reply is returned.
    UnknownMethodRequest,
    /// Now: a notification for a method the client does not have.
    UnknownMethodNotification,
    /// Now: a request with `jsonrpc: "1.0"`; the reply (expected −32600) is returned.
    WrongVersionRequest,
    /// Now: send the last response again (a duplicate that arrives late).
    ReplayLastResponse,
    /// Next: drop the connection as soon as the next request arrives, leaving it pending.
    DropOnNextRequest,
    /// Next: close with this code as soon as the next request arrives.
    CloseOnNextRequest(u16),
    /// Next: delay the next response by this long.
    DelayNextResponse(Duration),
    /// Next: never answer the next request.
    NeverAnswerNext,
    /// Next: send the next response twice.
    DuplicateNextResponse,
    /// Next: send the next response with `jsonrpc: "1.0"`.
    WrongVersionNextResponse,
    /// Next: answer the next request with neither `result` nor `error`.
    EmptyNextResponse,
}

/// Changes to the next response, accumulated until a request consumes them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NextResponse {
    pub(crate) drop: bool,
    pub(crate) close: Option<u16>,
    pub(crate) delay: Duration,
    pub(crate) never: bool,
    pub(crate) duplicate: bool,
    pub(crate) wrong_version: bool,
    pub(crate) empty: bool,
}

impl NextResponse {
    /// Records a "next" fault; returns false for a "now" fault.
    pub(crate) fn add(&mut self, fault: &Fault) -> bool {
        match fault {
            Fault::DropOnNextRequest => self.drop = true,
            Fault::CloseOnNextRequest(c) => self.close = Some(*c),
            Fault::DelayNextResponse(d) => self.delay += *d,
            Fault::NeverAnswerNext => self.never = true,
            Fault::DuplicateNextResponse => self.duplicate = true,
            Fault::WrongVersionNextResponse => self.wrong_version = true,
            Fault::EmptyNextResponse => self.empty = true,
            _ => return false,
        }
        true
    }
}

/// Builds the text of a valid notification of exactly `total` bytes (at least the bare frame).
pub(crate) fn padded_notification(total: usize) -> String {
    let head = r#"{"jsonrpc":"2.0","method":"oversize","params":{"pad":""#;
    let tail = r#""}}"#;
    let pad = total.saturating_sub(head.len() + tail.len());
    let mut s = String::with_capacity(total.max(head.len() + tail.len()));
    s.push_str(head);
    s.extend(std::iter::repeat_n('x', pad));
    s.push_str(tail);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_frames_have_the_exact_size_and_parse() {
        let s = padded_notification(1024 * 1024 + 1);
        assert_eq!(s.len(), 1024 * 1024 + 1);
        assert!(serde_json::from_str::<serde_json::Value>(&s).is_ok());
    }

    #[test]
    fn now_faults_are_not_recorded_as_next() {
        let mut n = NextResponse::default();
        assert!(!n.add(&Fault::Drop));
        assert!(n.add(&Fault::DelayNextResponse(Duration::from_millis(5))));
        assert_eq!(n.delay, Duration::from_millis(5));
    }
}
