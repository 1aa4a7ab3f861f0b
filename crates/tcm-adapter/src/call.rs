//! The one call path of the TCM clients: preparing a typed [`Call`] under its
//! [`CallOptions`], and reading its outcome. The blocking and async clients differ only in how
//! they wait between the two.

use tcm_proto::{Call, Capabilities, Request, Response};

use crate::error::Error;
use crate::options::{CallOptions, Shm};

/// The shared-memory regions of one client, reused across its calls: a
/// [`RegionPool`](tcm_shm::RegionPool) with the default bounds on Unix, nothing elsewhere.
/// Cheap to clone (the clones share the regions).
///
/// Its regions are unlinked by [`close`](Self::close) (the client's `close`) and when the last
/// clone of the client and the last call in flight are gone.
#[derive(Debug, Clone, Default)]
pub struct ShmPool {
    #[cfg(unix)]
    regions: tcm_shm::RegionPool,
}

impl ShmPool {
    /// Unlinks the idle regions now and every leased one as its call ends.
    pub fn close(&self) {
        #[cfg(unix)]
        self.regions.close();
    }

    /// The pool itself: its bounds, what it holds, what it has done.
    #[cfg(unix)]
    pub fn regions(&self) -> &tcm_shm::RegionPool {
        &self.regions
    }
}

/// The regions of one call until its outcome is known. Dropped without
/// [`settle`](Self::settle) (the call's future was dropped, or its thread unwound from a panic
/// while waiting), the request may still be at the server, which may read the regions any time
/// until it answers: they are retired (unlinked, their keys never lent again), never returned
/// for another call to overwrite.
#[cfg(unix)]
#[derive(Debug)]
struct Regions(Option<tcm_shm::ShmInputs>);

#[cfg(unix)]
impl Regions {
    /// Returns the regions to the pool if the server is done with them (`answered`: it replied,
    /// or the request was never sent), else retires them.
    fn settle(mut self, answered: bool) {
        if let Some(inputs) = self.0.take() {
            if answered {
                drop(inputs);
            } else {
                inputs.retire();
            }
        }
    }
}

#[cfg(unix)]
impl Drop for Regions {
    fn drop(&mut self) {
        if let Some(inputs) = self.0.take() {
            inputs.retire();
        }
    }
}

/// What must live until a call's reply has arrived: what reading the reply needs (the call's
/// memo), and the shared-memory regions its inputs were written to (returned to the client's
/// pool once the server has answered, retired otherwise).
#[derive(Debug)]
pub struct Keep<M> {
    memo: M,
    #[cfg(unix)]
    regions: Option<Regions>,
}

impl<M> Keep<M> {
    /// Just the memo (nothing else to keep).
    pub fn memo(memo: M) -> Self {
        Self {
            memo,
            #[cfg(unix)]
            regions: None,
        }
    }
}

/// Whether a call failed because its replica went away
/// ([`RequestError::server_gone`](tcm_proto::RequestError::server_gone)): the call may be sent
/// to another replica if it is idempotent.
pub fn replica_gone(error: &Error) -> bool {
    matches!(error, Error::Request(e) if e.server_gone())
}

/// The request of `call` under `options`; inference inputs go to shared memory when asked,
/// in regions leased from `pool` (`capabilities` are the negotiated ones, read only then).
pub fn prepare<C: Call>(
    call: C,
    options: &CallOptions,
    capabilities: impl FnOnce() -> Option<Capabilities>,
    pool: &ShmPool,
) -> Result<(Request, Keep<C::Memo>), Error> {
    let (request, memo) = call.into_request();
    let keep = Keep {
        memo,
        #[cfg(unix)]
        regions: None,
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
        let (inference, regions) =
            tcm_shm::prepare_request_in(&pool.regions, *inference, &capabilities, fallback)?;
        let keep = Keep {
            regions: Some(Regions(Some(regions))),
            ..keep
        };
        Ok((Request::Inference(Box::new(inference)), keep))
    }
    #[cfg(not(unix))]
    {
        let _ = (capabilities, pool);
        if fallback {
            Ok((Request::Inference(inference), keep))
        } else {
            Err(Error::ShmUnsupported)
        }
    }
}

/// The typed result of `C` from the outcome of its request. The shared-memory regions in
/// `keep` go back to the client's pool if the server has answered (or never got the request),
/// and are retired if it may still read them.
pub fn finish<C: Call>(
    keep: Keep<C::Memo>,
    outcome: Result<Response, tcm_proto::RequestError>,
) -> Result<C::Output, Error> {
    let server_done = outcome
        .as_ref()
        .err()
        .is_none_or(tcm_proto::RequestError::server_is_done);
    let Keep { memo, .. } = settle(keep, server_done);
    Ok(C::read(memo, outcome?)?)
}

/// The error of a call that could not be started (nothing was sent): its regions go back to
/// the client's pool.
pub fn unsent<M>(keep: Keep<M>, error: impl Into<Error>) -> Error {
    settle(keep, true);
    error.into()
}

fn settle<M>(keep: Keep<M>, answered: bool) -> Keep<M> {
    #[cfg(unix)]
    {
        let Keep { memo, regions } = keep;
        if let Some(regions) = regions {
            regions.settle(answered);
        }
        Keep {
            memo,
            regions: None,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = answered;
        keep
    }
}
