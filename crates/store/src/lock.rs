//! Advisory file locks: one writer per shard, one merge per dataset, one manifest update at a
//! time, and cleanup that never touches the temporary files of a live writer or merge.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::error::StoreError;

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: File,
}

/// Opens (creating it if needed, never truncating) the lock file at `path`.
fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StoreError::io("open lock file", path, e))
}

/// Takes the exclusive lock of `path` (creating the file) if nobody holds it: `None` if busy.
pub(crate) fn try_lock(path: &Path) -> Result<Option<Lock>, StoreError> {
    let file = open_lock_file(path)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Lock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(StoreError::io("lock", path, e)),
    }
}

/// Takes the exclusive lock of `path` (creating the file), waiting for it as long as needed.
/// For locks held only for a moment (the manifest's).
pub(crate) fn lock_blocking(path: &Path) -> Result<Lock, StoreError> {
    let file = open_lock_file(path)?;
    file.lock().map_err(|e| StoreError::io("lock", path, e))?;
    Ok(Lock { _file: file })
}

/// Like [`try_lock`], retrying for about a second: a cleanup in another process holds a lock
/// only for a moment.
pub(crate) fn lock_with_patience(path: &Path) -> Result<Option<Lock>, StoreError> {
    const ATTEMPTS: u32 = 20;
    for attempt in 0..ATTEMPTS {
        if let Some(lock) = try_lock(path)? {
            return Ok(Some(lock));
        }
        if attempt + 1 < ATTEMPTS {
            thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn a_held_lock_is_busy_until_dropped() {
        let dir = TempDir::new("lock");
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap().unwrap();
        assert!(try_lock(&path).unwrap().is_none());
        drop(held);
        assert!(try_lock(&path).unwrap().is_some());
    }
}
