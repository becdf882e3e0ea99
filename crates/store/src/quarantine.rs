//! Quarantine: a damaged part file leaves `points/` for `_lazyrich/quarantine/`, with a note of
//! why, so that no reader sees its rows and the next run recomputes its points.
//!
//! ```text
//! OUT/_lazyrich/quarantine/task=<kind>/<file name>         the file, moved (renamed) here
//! OUT/_lazyrich/quarantine/task=<kind>/<file name>.json    {"file", "reason", "quarantined"}
//! ```
//!
//! The note is written (synced) first, then the file is renamed and both directories are
//! synced: after a crash the file is either still in `points/` (and found damaged again) or in
//! the quarantine next to its note. Nothing is ever deleted.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::durable::{
    create_dir_synced, remove_if_exists, rename_synced, sibling_temp, sync_dir, write_synced,
};
use crate::error::StoreError;
use crate::layout;
use crate::time::now_rfc3339;

/// A part file moved to the quarantine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// Where the file was (under `points/`).
    pub file: PathBuf,
    /// Where it is now (under `_lazyrich/quarantine/`).
    pub moved_to: PathBuf,
    /// Why: what verifying it found.
    pub reason: String,
}

#[derive(Serialize)]
struct Note<'a> {
    file: &'a str,
    reason: &'a str,
    quarantined: String,
}

/// A destination in `dir` for a file named `name` that no earlier quarantined file holds:
/// `name`, else `<stem>.1.parquet`, `<stem>.2.parquet`, ...
fn free_destination(dir: &Path, name: &str) -> PathBuf {
    let (stem, extension) = name.rsplit_once('.').unwrap_or((name, ""));
    let candidate = |n: u32| {
        if n == 0 { dir.join(name) } else { dir.join(format!("{stem}.{n}.{extension}")) }
    };
    let mut n = 0;
    while candidate(n).exists() || note_path(&candidate(n)).exists() {
        n += 1;
    }
    candidate(n)
}

fn note_path(moved_to: &Path) -> PathBuf {
    let mut name = moved_to.file_name().unwrap_or_default().to_owned();
    name.push(".json");
    moved_to.with_file_name(name)
}

/// Moves the part file `path` of the dataset at `root` into the quarantine with a note saying
/// `reason`. Returns `None` if the file was gone already (another process quarantined or merged
/// it meanwhile).
pub(crate) fn quarantine(
    root: &Path,
    path: &Path,
    reason: &str,
) -> Result<Option<Quarantined>, StoreError> {
    let relative = path.strip_prefix(layout::points_dir(root)).unwrap_or(path);
    let partition = relative.parent().filter(|p| !p.as_os_str().is_empty());
    let mut dir = layout::quarantine_dir(root);
    if let Some(partition) = partition {
        dir.push(partition);
    }
    create_dir_synced(&dir)?;
    let moved_to = free_destination(&dir, layout::file_name(path));
    let note = note_path(&moved_to);
    let shown = path.strip_prefix(root).unwrap_or(path).to_string_lossy().into_owned();
    let json =
        serde_json::to_vec_pretty(&Note { file: &shown, reason, quarantined: now_rfc3339() })
            .map_err(|source| StoreError::Json { action: "encode", path: note.clone(), source })?;
    let temp = sibling_temp(&note);
    write_synced(&temp, &json)?;
    if let Err(e) = rename_synced(&temp, &note) {
        let _ = remove_if_exists(&temp);
        return Err(e);
    }
    match std::fs::rename(path, &moved_to) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound && !path.exists() => {
            remove_if_exists(&note)?;
            return Ok(None);
        }
        Err(source) => {
            let _ = remove_if_exists(&note);
            return Err(StoreError::Rename { from: path.to_owned(), to: moved_to, source });
        }
    }
    sync_dir(&dir)?;
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(Some(Quarantined { file: path.to_owned(), moved_to, reason: reason.to_owned() }))
}

/// The part files in the quarantine of the dataset at `root` (notes left out), sorted.
pub(crate) fn quarantined_files(root: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut files = Vec::new();
    let top = layout::quarantine_dir(root);
    for (_, path) in layout::list_names(&top)? {
        let entries = if path.is_dir() { layout::list_names(&path)? } else { vec![] };
        files.extend(
            entries
                .into_iter()
                .filter(|(name, p)| name.ends_with(".parquet") && p.is_file())
                .map(|(_, p)| p),
        );
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn a_file_moves_with_its_note_and_never_overwrites_an_earlier_one() {
        let dir = TempDir::new("quarantine");
        let root = dir.path();
        let partition = root.join("points/task=random");
        fs::create_dir_all(&partition).unwrap();
        let path = partition.join("part-s0000of0001-000003.parquet");
        fs::write(&path, b"first").unwrap();
        let first = quarantine(root, &path, "bad bytes").unwrap().unwrap();
        assert!(!path.exists());
        assert_eq!(
            first.moved_to,
            root.join("_lazyrich/quarantine/task=random/part-s0000of0001-000003.parquet")
        );
        assert_eq!(fs::read(&first.moved_to).unwrap(), b"first");
        let note: serde_json::Value =
            serde_json::from_slice(&fs::read(note_path(&first.moved_to)).unwrap()).unwrap();
        assert_eq!(note["file"], "points/task=random/part-s0000of0001-000003.parquet");
        assert_eq!(note["reason"], "bad bytes");
        assert_eq!(note["quarantined"].as_str().unwrap().len(), 20);

        fs::write(&path, b"second").unwrap();
        let second = quarantine(root, &path, "again").unwrap().unwrap();
        assert_eq!(layout::file_name(&second.moved_to), "part-s0000of0001-000003.1.parquet");
        assert_eq!(fs::read(&first.moved_to).unwrap(), b"first");
        assert!(note_path(&second.moved_to).exists());

        // Gone already (another process moved it): nothing to do, no note left.
        assert_eq!(quarantine(root, &path, "gone").unwrap(), None);
        let names: Vec<String> = layout::list_names(&root.join("_lazyrich/quarantine/task=random"))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert_eq!(quarantined_files(root).unwrap(), [second.moved_to, first.moved_to]);
    }
}
