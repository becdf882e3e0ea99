//! Durable filesystem steps: synced writes, directory fsync, atomic and no-clobber publishing.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StoreError;

/// Fsyncs a directory so that entries created, renamed or removed in it survive a crash.
/// A no-op where directories cannot be opened as files (not Unix).
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    if cfg!(unix) {
        let handle = File::open(dir).map_err(|e| StoreError::io("open directory", dir, e))?;
        handle.sync_all().map_err(|e| StoreError::io("sync directory", dir, e))?;
    }
    Ok(())
}

/// Creates `dir` (and missing parents); when it did not exist, fsyncs its parent.
pub(crate) fn create_dir_synced(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Writes `bytes` to a new or truncated file at `path` and fsyncs it. On failure (a full disk)
/// the file is removed again: a failed write leaves nothing behind.
pub(crate) fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
    let written = fault::check(path)
        .and_then(|()| file.write_all(bytes))
        .map_err(|e| StoreError::io("write", path, e))
        .and_then(|()| file.sync_all().map_err(|e| StoreError::io("sync", path, e)));
    if written.is_err() {
        drop(file);
        // Best effort: the write error is the one to report.
        let _ = remove_if_exists(path);
    }
    written
}

/// Injected write failures for tests: a full disk after the file was created.
#[cfg(test)]
pub(crate) mod fault {
    use std::cell::Cell;
    use std::path::Path;

    thread_local! {
        static FULL_DISK: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes every [`super::write_synced`] of this thread fail with ENOSPC until `false`.
    pub(crate) fn set_full_disk(full: bool) {
        FULL_DISK.with(|f| f.set(full));
    }

    pub(super) fn check(_path: &Path) -> std::io::Result<()> {
        if FULL_DISK.with(Cell::get) {
            return Err(std::io::Error::from(std::io::ErrorKind::StorageFull));
        }
        Ok(())
    }
}

#[cfg(not(test))]
mod fault {
    use std::path::Path;

    #[inline]
    pub(super) fn check(_path: &Path) -> std::io::Result<()> {
        Ok(())
    }
}

/// Removes a file; a missing file is not an error.
pub(crate) fn remove_if_exists(path: &Path) -> Result<(), StoreError> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(StoreError::io("remove", path, e)),
        _ => Ok(()),
    }
}

/// Renames `from` to `to` (replacing `to`) and fsyncs the destination directory.
pub(crate) fn rename_synced(from: &Path, to: &Path) -> Result<(), StoreError> {
    fs::rename(from, to).map_err(|source| StoreError::Rename {
        from: from.to_owned(),
        to: to.to_owned(),
        source,
    })?;
    match to.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => Ok(()),
    }
}

/// A name for a temporary file next to `path`, unique within the machine.
pub(crate) fn sibling_temp(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Creates `path` with `bytes` unless it already exists, atomically: the file appears complete
/// or not at all, and of several processes racing, exactly one creates it. Returns whether this
/// call created it.
pub(crate) fn create_new_atomic(path: &Path, bytes: &[u8]) -> Result<bool, StoreError> {
    let temp = sibling_temp(path);
    write_synced(&temp, bytes)?;
    let created = match fs::hard_link(&temp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
        // Filesystems without hard links: create_new is still exclusive, then copy the content.
        Err(_) => create_new_by_copy(path, bytes),
    };
    let removed = remove_if_exists(&temp);
    let created = created?;
    removed?;
    if created && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(created)
}

fn create_new_by_copy(path: &Path, bytes: &[u8]) -> Result<bool, StoreError> {
    let mut file = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(StoreError::io("create", path, e)),
    };
    file.write_all(bytes).map_err(|e| StoreError::io("write", path, e))?;
    file.sync_all().map_err(|e| StoreError::io("sync", path, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn create_new_atomic_creates_once_and_leaves_no_temp() {
        let dir = TempDir::new("durable");
        let path = dir.path().join("manifest.json");
        assert!(create_new_atomic(&path, b"first").unwrap());
        assert!(!create_new_atomic(&path, b"second").unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"first");
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("manifest.json")]);
    }

    #[test]
    fn errors_name_the_path() {
        let dir = TempDir::new("durable-err");
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let err = write_synced(&blocker.join("child"), b"y").unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("failed to create {}", blocker.join("child").display())),
            "{message}"
        );
        assert!(remove_if_exists(&dir.path().join("absent")).is_ok());
    }
}
