//! Shared-memory keys: the naming rules, and generation of unique keys.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{KeyError, ShmError};

/// The longest key accepted, in bytes, leading `/` included (`NAME_MAX`).
pub const MAX_KEY_LEN: usize = 255;

/// Checks a POSIX shared-memory key: one leading `/`, then a non-empty name without `/`, NUL
/// or `..` that does not start with `.`, at most [`MAX_KEY_LEN`] bytes in all.
///
/// The server opens `/dev/shm/<key without its leading slash>`, so these rules also keep a key
/// from naming any file outside that directory.
pub fn validate_key(key: &str) -> Result<(), ShmError> {
    let reason = if !key.starts_with('/') {
        Some(KeyError::MissingLeadingSlash)
    } else if key.len() > MAX_KEY_LEN {
        Some(KeyError::TooLong(key.len()))
    } else if key.contains('\0') {
        Some(KeyError::Nul)
    } else {
        let name = &key[1..];
        if name.is_empty() {
            Some(KeyError::Empty)
        } else if name.contains('/') {
            Some(KeyError::InnerSlash)
        } else if name.starts_with('.') || name.contains("..") {
            Some(KeyError::Dots)
        } else {
            None
        }
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(ShmError::InvalidKey {
            key: key.to_owned(),
            reason,
        }),
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh key `/tcm-<pid>-<counter>-<nonce>`, unique within this process by its counter and
/// across processes (including a reused pid) by its nonce.
///
/// The nonce mixes the clock, the counter and a `RandomState` hasher, whose keys the standard
/// library seeds from the operating system.
pub fn generate_key() -> String {
    let pid = std::process::id();
    let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(nanos);
    hasher.write_u64(counter);
    hasher.write_u32(pid);
    format!("/tcm-{pid}-{counter}-{:016x}", hasher.finish())
}
