//! [`ShmRegion`]: one POSIX shared-memory object, created, sized, mapped, and unlinked on drop.

use std::fs::File;

use memmap2::{MmapMut, MmapOptions};
use rustix::shm;

use crate::error::ShmError;
use crate::key::{generate_key, validate_key};

/// Permissions of new regions: read and write for the owner only. The server must run as the
/// same user (or be given access another way) and share this `/dev/shm` (TCM §9.7).
pub const DEFAULT_MODE: u32 = 0o600;

/// How often [`ShmRegion::create_unique`] draws a new key when the drawn one already exists.
const UNIQUE_ATTEMPTS: usize = 8;

/// A POSIX shared-memory region owned by this process: created with `O_EXCL`, mapped read-write,
/// and unlinked when dropped.
///
/// Dropping the region removes its key, after which the server can no longer open it. Keep it
/// alive until the reply to every request that references it has arrived (see
/// [`ShmInputs`](crate::ShmInputs)).
#[derive(Debug)]
pub struct ShmRegion {
    key: String,
    map: MmapMut,
}

impl ShmRegion {
    /// Creates the region `key` of `len` bytes (zero-filled) with [`DEFAULT_MODE`]. Fails if the
    /// key is invalid, already exists, or `len` is zero.
    pub fn create(key: &str, len: usize) -> Result<Self, ShmError> {
        Self::create_with_mode(key, len, DEFAULT_MODE)
    }

    /// Like [`create`](Self::create), with explicit permission bits (the umask still applies).
    pub fn create_with_mode(key: &str, len: usize, mode: u32) -> Result<Self, ShmError> {
        validate_key(key)?;
        if len == 0 {
            return Err(ShmError::Empty {
                name: key.to_owned(),
            });
        }
        let size = u64::try_from(len)
            .map_err(|e| ShmError::io("ftruncate", key, std::io::Error::other(e)))?;
        let fd = shm::open(
            key,
            shm::OFlags::CREATE | shm::OFlags::EXCL | shm::OFlags::RDWR,
            shm::Mode::from_raw_mode(mode),
        )
        .map_err(|e| ShmError::io("shm_open", key, e))?;
        // The key exists from here on: remove it again if sizing or mapping fails.
        let unlink_on_error = |op, e: std::io::Error| {
            let _ = shm::unlink(key);
            ShmError::io(op, key, e)
        };
        let file = File::from(fd);
        file.set_len(size)
            .map_err(|e| unlink_on_error("ftruncate", e))?;
        // SAFETY: `MmapMut` is unsound only if the file is resized or written behind the
        // mapping's back. The object was just created with O_EXCL and owner-only permissions,
        // so only this process (and processes of the same user that the caller hands the key
        // to, such as the TCM server, which only reads it) can open it; this crate never
        // resizes it after mapping. The mapping is private to this value and unmapped on drop.
        // `populate` faults every page in with the mmap call, which is much cheaper than one page
        // fault per 4 KiB while the tensor is written.
        let map = unsafe { MmapOptions::new().populate().map_mut(&file) }
            .map_err(|e| unlink_on_error("mmap", e))?;
        Ok(Self {
            key: key.to_owned(),
            map,
        })
    }

    /// Creates a region of `len` bytes under a fresh key from
    /// [`generate_key`](crate::generate_key), drawing again if that key is taken.
    pub fn create_unique(len: usize) -> Result<Self, ShmError> {
        let mut attempt = 0;
        loop {
            match Self::create(&generate_key(), len) {
                Err(ShmError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::AlreadyExists
                        && attempt + 1 < UNIQUE_ATTEMPTS =>
                {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    /// The key, e.g. `/tcm-4242-0-1f2e3d4c5b6a7980`.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The size in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Always `false`: regions hold at least one byte.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The region's bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.map
    }

    /// The region's bytes, for writing.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.map
    }
}

impl Drop for ShmRegion {
    fn drop(&mut self) {
        // The mapping itself is released right after, when `map` drops. An unlink failure
        // (someone else removed the key) leaves nothing to clean up.
        let _ = shm::unlink(self.key.as_str());
    }
}
