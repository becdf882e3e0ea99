//! The merge journal (`_lazyrich/merge.journal`) and the recovery of an interrupted merge: the
//! part of a merge that opening a dataset needs, kept apart from the merge itself (see
//! `merge.rs` for the protocol).

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::decode::Columns;
use crate::durable::{remove_if_exists, sync_dir};
use crate::error::StoreError;
use crate::layout::{self, POINTS_DIR};
use crate::lock::try_lock;
use crate::part::read_batches;

/// The journal of the merge of one group, paths relative to the dataset root.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Journal {
    pub output: String,
    pub temp: String,
    pub sources: Vec<String>,
    /// Point ids of rows the merge drops as exact duplicates of rows kept elsewhere: a source
    /// holding them is merged although they are not in the output.
    #[serde(default)]
    pub dropped: Vec<u64>,
}

/// `path` relative to `root`, as a journal records it.
pub(crate) fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned()
}

/// `root/relative`, provided `relative` stays under `root/<top>` (a journal never points
/// elsewhere; a tampered one is refused rather than followed).
fn resolve(root: &Path, relative: &str, top: &str, journal: &Path) -> Result<PathBuf, StoreError> {
    let path = Path::new(relative);
    let plain = path.components().all(|c| matches!(c, Component::Normal(_)));
    if !plain || !path.starts_with(top) || path == Path::new(top) {
        return Err(StoreError::bad_file(journal, format!("path '{relative}' is outside {top}/")));
    }
    Ok(root.join(path))
}

/// Completes or rolls back the merge recorded in the journal, unless a merge is running.
pub(crate) fn recover_interrupted_merge(root: &Path) -> Result<(), StoreError> {
    if !layout::journal_path(root).exists() {
        return Ok(());
    }
    match try_lock(&layout::merge_lock_path(root))? {
        Some(_lock) => recover_locked(root),
        None => Ok(()),
    }
}

/// [`recover_interrupted_merge`] with the merge lock held.
pub(crate) fn recover_locked(root: &Path) -> Result<(), StoreError> {
    let journal_path = layout::journal_path(root);
    let text = match fs::read_to_string(&journal_path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(StoreError::io("read", journal_path, e)),
    };
    let journal: Journal = serde_json::from_str(&text).map_err(|source| StoreError::Json {
        action: "parse",
        path: journal_path.clone(),
        source,
    })?;
    let output = resolve(root, &journal.output, POINTS_DIR, &journal_path)?;
    let tmp_top = format!("{}/tmp", layout::CONTROL_DIR);
    let temp = resolve(root, &journal.temp, &tmp_top, &journal_path)?;
    let sources = journal
        .sources
        .iter()
        .map(|s| resolve(root, s, POINTS_DIR, &journal_path))
        .collect::<Result<Vec<_>, _>>()?;
    if output.exists() {
        // Remove only sources whose rows are all in the output: a source name reused by a
        // writer since then (all of a shard's files merged away) holds other rows.
        let mut merged: HashSet<u64> = ids_of(&output)?.into_iter().collect();
        merged.extend(&journal.dropped);
        let mut merged_sources = Vec::new();
        for source in sources.into_iter().filter(|s| s.exists()) {
            if ids_of(&source)?.iter().all(|id| merged.contains(id)) {
                merged_sources.push(source);
            }
        }
        remove_files(&merged_sources)?;
    } else {
        remove_if_exists(&temp)?;
    }
    remove_if_exists(&journal_path)?;
    sync_dir(&layout::control_dir(root))
}

/// Removes `paths`, then syncs their directories.
pub(crate) fn remove_files(paths: &[PathBuf]) -> Result<(), StoreError> {
    let mut dirs = BTreeSet::new();
    for path in paths {
        remove_if_exists(path)?;
        if let Some(dir) = path.parent() {
            dirs.insert(dir.to_owned());
        }
    }
    dirs.iter().try_for_each(|dir| sync_dir(dir))
}

/// The point ids of a part file.
pub(crate) fn ids_of(path: &Path) -> Result<Vec<u64>, StoreError> {
    let mut ids = Vec::new();
    read_batches(path, Some(&["point_id"]), |batch| {
        ids.extend(Columns::new(batch, path).u64("point_id")?.values().iter().copied());
        Ok(())
    })?;
    Ok(ids)
}
