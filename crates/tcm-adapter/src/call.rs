//! The one call path of the TCM clients: preparing a typed [`Call`] under its
//! [`CallOptions`], and reading its outcome. The blocking and async clients differ only in how
//! they wait between the two.

use tcm_proto::{Call, Capabilities, Request, Response};

use crate::error::Error;
use crate::options::{CallOptions, Shm};

/// What must live until a call's reply has arrived: what reading the reply needs (the call's
/// memo), and the shared-memory regions its inputs were written to (unlinked when dropped).
#[derive(Debug)]
pub struct Keep<M> {
    memo: M,
    #[cfg(unix)]
    _regions: Option<tcm_shm::ShmInputs>,
}

impl<M> Keep<M> {
    /// Just the memo (nothing else to keep).
    pub fn memo(memo: M) -> Self {
        Self {
            memo,
            #[cfg(unix)]
            _regions: None,
        }
    }
}

/// Whether a call failed because its replica went away (it shut down, NACKing the call with
/// `SYSTEM_SHUTDOWN`, or the connection dropped): the call may be sent to another replica if
/// it is idempotent.
pub fn replica_gone(error: &Error) -> bool {
    use tcm_proto::{ErrorCode, RequestError};
    matches!(
        error,
        Error::Request(
            RequestError::Disconnected(_)
                | RequestError::NotConnected
                | RequestError::Dropped {
                    code: ErrorCode::SystemShutdown,
                    ..
                }
        )
    )
}

/// The request of `call` under `options`; inference inputs go to shared memory when asked
/// (`capabilities` are the negotiated ones, read only then).
pub fn prepare<C: Call>(
    call: C,
    options: &CallOptions,
    capabilities: impl FnOnce() -> Option<Capabilities>,
) -> Result<(Request, Keep<C::Memo>), Error> {
    let (request, memo) = call.into_request();
    let keep = Keep {
        memo,
        #[cfg(unix)]
        _regions: None,
    };
    let fallback = match options.shm {
        Shm::Off => return Ok((request, keep)),
        Shm::Required => false,
        Shm::Preferred => true,
    };
    let Request::Inference(inference) = request else {
        return Ok((request, keep));
    };
    #[cfg(unix)]
    {
        let capabilities = capabilities().unwrap_or_else(|| Capabilities::from_auth_ok(None));
        let (inference, regions) = tcm_shm::prepare_request(*inference, &capabilities, fallback)?;
        let keep = Keep {
            _regions: Some(regions),
            ..keep
        };
        Ok((Request::Inference(Box::new(inference)), keep))
    }
    #[cfg(not(unix))]
    {
        let _ = capabilities;
        if fallback {
            Ok((Request::Inference(inference), keep))
        } else {
            Err(Error::ShmUnsupported)
        }
    }
}

/// The typed result of `C` from the outcome of its request; the shared-memory regions in
/// `keep` are unlinked now (the server has read them, or the call failed).
pub fn finish<C: Call>(
    keep: Keep<C::Memo>,
    outcome: Result<Response, tcm_proto::RequestError>,
) -> Result<C::Output, Error> {
    let Keep { memo, .. } = keep;
    Ok(C::read(memo, outcome?)?)
}
