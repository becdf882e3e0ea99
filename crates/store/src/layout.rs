//! Paths and file names of a dataset directory, and listing its published part files.
//!
//! ```text
//! OUT/_lazyrich/manifest.json, spec.toml, merge.journal, merge.lock
//! OUT/_lazyrich/tmp/part-s<k:04>of<N:04>-<seq:06>.parquet   a writer's file before publishing
//! OUT/_lazyrich/tmp/s<k:04>of<N:04>.lock                     held by the writer of shard k/N (removed when it finishes)
//! OUT/_lazyrich/tmp/manifest.lock                            held while the manifest changes
//! OUT/_lazyrich/tmp/merge-<seq:06>.parquet                   a merge output before publishing
//! OUT/_lazyrich/quarantine/task=<kind>/<name>[.json]          a damaged part file and its note
//! OUT/points/task=<kind>/part-s<k:04>of<N:04>-<seq:06>.parquet
//! OUT/points/task=<kind>/part-merged-<seq:06>.parquet       written by `merge`
//! ```

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use crate::error::StoreError;

/// Directory of the dataset's own files.
pub(crate) const CONTROL_DIR: &str = "_lazyrich";
/// Directory of the published table.
pub(crate) const POINTS_DIR: &str = "points";
/// Prefix of a Hive partition directory.
const PARTITION_PREFIX: &str = "task=";
const PART_SUFFIX: &str = ".parquet";
const MERGED_PREFIX: &str = "part-merged-";

pub(crate) fn control_dir(root: &Path) -> PathBuf {
    root.join(CONTROL_DIR)
}

pub(crate) fn manifest_path(root: &Path) -> PathBuf {
    control_dir(root).join("manifest.json")
}

pub(crate) fn spec_path(root: &Path) -> PathBuf {
    control_dir(root).join("spec.toml")
}

pub(crate) fn tmp_dir(root: &Path) -> PathBuf {
    control_dir(root).join("tmp")
}

pub(crate) fn journal_path(root: &Path) -> PathBuf {
    control_dir(root).join("merge.journal")
}

pub(crate) fn quarantine_dir(root: &Path) -> PathBuf {
    control_dir(root).join("quarantine")
}

pub(crate) fn merge_lock_path(root: &Path) -> PathBuf {
    control_dir(root).join("merge.lock")
}

pub(crate) fn points_dir(root: &Path) -> PathBuf {
    root.join(POINTS_DIR)
}

/// `points/task=<kind>`.
pub(crate) fn partition_dir(root: &Path, task_kind: &str) -> PathBuf {
    points_dir(root).join(format!("{PARTITION_PREFIX}{task_kind}"))
}

/// Whether `kind` can name a partition directory: `[A-Za-z0-9_.+-]+`, not starting with '.'.
pub(crate) fn valid_task_kind(kind: &str) -> bool {
    !kind.is_empty()
        && !kind.starts_with('.')
        && kind.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.+-".contains(&b))
}

/// `s<k:04>of<N:04>`: the shard's tag in file names.
pub(crate) fn shard_tag(index: u32, count: u32) -> String {
    format!("s{index:04}of{count:04}")
}

pub(crate) fn shard_lock_path(root: &Path, index: u32, count: u32) -> PathBuf {
    tmp_dir(root).join(format!("{}.lock", shard_tag(index, count)))
}

/// `(k, N)` of a shard lock file name `s<k:04>of<N:04>.lock`.
pub(crate) fn parse_lock_name(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix('s')?.strip_suffix(".lock")?;
    let (index, count) = rest.split_once("of")?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(index) && digits(count)) {
        return None;
    }
    Some((index.parse().ok()?, count.parse().ok()?))
}

pub(crate) fn manifest_lock_path(root: &Path) -> PathBuf {
    tmp_dir(root).join("manifest.lock")
}

/// Whether `dir` or a directory in it holds a file (two levels: `points/task=*/FILE`).
pub(crate) fn holds_files(dir: &Path) -> Result<bool, StoreError> {
    for (_, path) in list_names(dir)? {
        if !path.is_dir() || list_names(&path)?.iter().any(|(_, p)| !p.is_dir()) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `part-s<k:04>of<N:04>-<seq:06>.parquet`.
pub(crate) fn part_name(index: u32, count: u32, seq: u64) -> String {
    format!("part-{}-{seq:06}{PART_SUFFIX}", shard_tag(index, count))
}

/// `(k, N, seq)` of a writer's part file name.
pub(crate) fn parse_part_name(name: &str) -> Option<(u32, u32, u64)> {
    let rest = name.strip_prefix("part-s")?.strip_suffix(PART_SUFFIX)?;
    let (index, rest) = rest.split_once("of")?;
    let (count, seq) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(index) && digits(count) && digits(seq)) {
        return None;
    }
    Some((index.parse().ok()?, count.parse().ok()?, seq.parse().ok()?))
}

/// `part-merged-<seq:06>.parquet`.
pub(crate) fn merged_name(seq: u64) -> String {
    format!("{MERGED_PREFIX}{seq:06}{PART_SUFFIX}")
}

pub(crate) fn parse_merged_name(name: &str) -> Option<u64> {
    let seq = name.strip_prefix(MERGED_PREFIX)?.strip_suffix(PART_SUFFIX)?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

/// Names of the entries of `dir` (UTF-8 names only), or none if it does not exist.
pub(crate) fn list_names(dir: &Path) -> Result<Vec<(String, PathBuf)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io("list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push((name, entry.path()));
        }
    }
    names.sort();
    Ok(names)
}

/// The partition directories `points/task=*`, sorted.
pub(crate) fn partition_dirs(root: &Path) -> Result<Vec<PathBuf>, StoreError> {
    Ok(list_names(&points_dir(root))?
        .into_iter()
        .filter(|(name, path)| name.starts_with(PARTITION_PREFIX) && path.is_dir())
        .map(|(_, path)| path)
        .collect())
}

/// The published `*.parquet` files of one partition directory, sorted.
pub(crate) fn files_in_partition(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    Ok(list_names(dir)?
        .into_iter()
        .filter(|(name, path)| {
            name.ends_with(PART_SUFFIX) && !name.starts_with('.') && path.is_file()
        })
        .map(|(_, path)| path)
        .collect())
}

/// Every published part file of the dataset, sorted by path.
pub(crate) fn part_files(root: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let mut files = Vec::new();
    for dir in partition_dirs(root)? {
        files.extend(files_in_partition(&dir)?);
    }
    files.sort();
    Ok(files)
}

/// The file name of `path` as UTF-8 (empty if none).
pub(crate) fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_names_round_trip() {
        let name = part_name(3, 16, 42);
        assert_eq!(name, "part-s0003of0016-000042.parquet");
        assert_eq!(parse_part_name(&name), Some((3, 16, 42)));
        assert_eq!(
            parse_part_name("part-s12345of99999-1234567.parquet"),
            Some((12345, 99999, 1_234_567))
        );
        assert_eq!(parse_part_name("part-merged-000001.parquet"), None);
        assert_eq!(parse_part_name("part-s0001of0002-.parquet"), None);
        assert_eq!(parse_part_name("part-s0001of0002-000001.parquet.tmp"), None);
        assert_eq!(merged_name(7), "part-merged-000007.parquet");
        assert_eq!(parse_merged_name(&merged_name(7)), Some(7));
        assert_eq!(parse_merged_name("part-merged-x.parquet"), None);
        assert_eq!(parse_lock_name("s0002of0004.lock"), Some((2, 4)));
        assert_eq!(parse_lock_name("manifest.lock"), None);
        assert_eq!(parse_lock_name("s0002of.lock"), None);
    }

    #[test]
    fn task_kinds_that_cannot_name_a_directory_are_refused() {
        for kind in ["random", "fine-tune", "a_b.c+d", "R2"] {
            assert!(valid_task_kind(kind), "{kind}");
        }
        for kind in ["", ".", "..", ".hidden", "a/b", "a b", "a=b", "é"] {
            assert!(!valid_task_kind(kind), "{kind}");
        }
    }
}
