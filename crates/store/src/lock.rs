//! Advisory file locks: one writer per shard, one merge per dataset, one manifest update at a
//! time, and cleanup that never touches the temporary files of a live writer or merge.
//!
//! A lock file may be removed by its holder when it is done ([`Lock::release_and_remove`]: a
//! finished shard leaves no lock file behind). Whoever takes a lock therefore checks, once it
//! holds the lock, that the path still names the file it locked (and tries again if not): a
//! process that opened the file just before it was removed would otherwise hold a lock that
//! nobody else can see.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::thread;
use std::time::Duration;

use crate::error::StoreError;

/// An exclusive lock, held until dropped.
#[derive(Debug)]
pub(crate) struct Lock {
    file: File,
    path: std::path::PathBuf,
}

impl Lock {
    /// Removes the lock file, then releases the lock. Anyone waiting on the removed file sees
    /// that it is gone once they hold it, and takes the lock of a new file instead.
    pub(crate) fn release_and_remove(self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io("remove lock file", &self.path, e)),
        }?;
        drop(self.file);
        Ok(())
    }
}

/// How many times a lock is retaken when its file was replaced meanwhile (each time means
/// that another process removed the file in the instant between our open and our lock).
const REOPEN_ATTEMPTS: u32 = 100;

/// Whether `path` still names the file `file` is open on.
#[cfg(unix)]
fn still_named(file: &File, path: &Path) -> Result<bool, StoreError> {
    use std::os::unix::fs::MetadataExt as _;
    let held = file.metadata().map_err(|e| StoreError::io("stat lock file", path, e))?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(named.dev() == held.dev() && named.ino() == held.ino()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io("stat lock file", path, e)),
    }
}

/// Whether `path` still names the file `file` is open on (always, off Unix).
#[cfg(not(unix))]
fn still_named(_file: &File, _path: &Path) -> Result<bool, StoreError> {
    Ok(true)
}

/// Whether somebody holds the lock of `path` now (`false` if there is no such file; the file
/// is never created).
pub(crate) fn is_held(path: &Path) -> Result<bool, StoreError> {
    let file = match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(StoreError::io("open lock file", path, e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(false),
        Err(TryLockError::WouldBlock) => Ok(true),
        Err(TryLockError::Error(e)) => Err(StoreError::io("lock", path, e)),
    }
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
    for _ in 0..REOPEN_ATTEMPTS {
        let file = open_lock_file(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", path, e)),
        }
        if still_named(&file, path)? {
            return Ok(Some(Lock { file, path: path.to_owned() }));
        }
    }
    // The file was replaced under us every time: somebody keeps taking and removing it.
    Ok(None)
}

/// Takes the exclusive lock of `path` (creating the file), waiting for it as long as needed.
/// For locks held only for a moment (the manifest's).
pub(crate) fn lock_blocking(path: &Path) -> Result<Lock, StoreError> {
    loop {
        let file = open_lock_file(path)?;
        file.lock().map_err(|e| StoreError::io("lock", path, e))?;
        if still_named(&file, path)? {
            return Ok(Lock { file, path: path.to_owned() });
        }
    }
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

    #[test]
    fn a_removed_lock_is_free_and_not_recreated_by_probing() {
        let dir = TempDir::new("lock-remove");
        let path = dir.path().join("x.lock");
        assert!(!is_held(&path).unwrap());
        assert!(!path.exists(), "probing creates nothing");
        let held = try_lock(&path).unwrap().unwrap();
        assert!(is_held(&path).unwrap());
        held.release_and_remove().unwrap();
        assert!(!path.exists());
        assert!(!is_held(&path).unwrap());
        assert!(try_lock(&path).unwrap().is_some());
    }

    /// A process that opened the lock file just before its holder removed it must not take a
    /// lock on the dead file while another takes one on the new file.
    #[test]
    fn a_lock_on_a_removed_file_is_not_a_lock() {
        let dir = TempDir::new("lock-stale");
        let path = dir.path().join("x.lock");
        let held = try_lock(&path).unwrap().unwrap();
        let early = open_lock_file(&path).unwrap();
        held.release_and_remove().unwrap();
        let fresh = try_lock(&path).unwrap().unwrap();
        // The early opener can lock its (dead) inode, but sees that the path names another.
        early.try_lock().unwrap();
        assert!(!still_named(&early, &path).unwrap());
        assert!(try_lock(&path).unwrap().is_none(), "the fresh lock holds the path");
        drop(fresh);
    }
}
