//! `StoreError`: every failure of the store, naming the path involved and what failed.

use std::path::PathBuf;

use arrow_schema::ArrowError;
use parquet::errors::ParquetError;

/// An error of the dataset store. Every message names the file or directory concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A filesystem operation failed.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        /// What was attempted ("write", "create directory", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Renaming (publishing) a file failed.
    #[error("failed to rename {} to {}: {source}", from.display(), to.display())]
    Rename {
        /// The file being renamed.
        from: PathBuf,
        /// Its destination.
        to: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Encoding or decoding a Parquet file failed.
    #[error("failed to {action} {}: {source}", path.display())]
    Parquet {
        /// What was attempted ("write", "read", ...).
        action: &'static str,
        /// The Parquet file.
        path: PathBuf,
        /// The underlying error.
        source: ParquetError,
    },
    /// Building or reading Arrow arrays failed.
    #[error("failed to {action} {}: {source}", path.display())]
    Arrow {
        /// What was attempted.
        action: &'static str,
        /// The Parquet file concerned.
        path: PathBuf,
        /// The underlying error.
        source: ArrowError,
    },
    /// A manifest or merge journal could not be written or parsed.
    #[error("failed to {action} {}: {source}", path.display())]
    Json {
        /// What was attempted ("parse", "encode").
        action: &'static str,
        /// The JSON file.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// A file in `points/` does not have the expected columns or types.
    #[error("failed to read {}: {reason}", path.display())]
    BadFile {
        /// The Parquet file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A part file cannot be decoded, or its content does not match the checksum in its footer.
    #[error("{} is damaged: {reason}", path.display())]
    Damaged {
        /// The Parquet file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An intact part file of another spec lies in the dataset: refused, never merged or
    /// adopted.
    #[error(
        "{} holds results of spec hash {found}, not of this dataset's spec (hash {expected}): \
         move it out of {}, back to the dataset it came from, and run again{}",
        path.display(),
        points_dir.display(),
        and_more(*others, "such file")
    )]
    ForeignFile {
        /// The part file.
        path: PathBuf,
        /// The spec hash its footer records.
        found: String,
        /// The dataset's spec hash.
        expected: String,
        /// The dataset's `points/` directory.
        points_dir: PathBuf,
        /// How many more such files there are.
        others: usize,
    },
    /// Merge found damaged sources: they were quarantined and nothing was merged.
    #[error(
        "refused to merge {}: {} moved to {} with a note of why (the next `lazyrich run` \
         recomputes their points): {}; nothing was merged",
        root.display(),
        count(damaged.len(), "damaged part file"),
        root.join("_lazyrich").join("quarantine").display(),
        damaged.iter().map(|(p, r)| format!("{}: {r}", p.display())).collect::<Vec<_>>().join("; ")
    )]
    DamagedSources {
        /// The dataset directory.
        root: PathBuf,
        /// Each damaged file (where it was) and what is wrong with it.
        damaged: Vec<(PathBuf, String)>,
    },
    /// Merge found rows of one point id that differ: nothing was merged or removed.
    #[error(
        "refused to merge {}: point {point_id:016x} has two rows that differ (column \
         `{column}`), in {} and {}{}; nothing was merged or removed: move the file whose row is \
         wrong out of {} (or both, and run again to recompute the point)",
        root.display(),
        first.display(),
        second.display(),
        and_more(*others, "such point"),
        root.join("points").display()
    )]
    ConflictingDuplicates {
        /// The dataset directory.
        root: PathBuf,
        /// The point id.
        point_id: u64,
        /// The first differing column (in schema order).
        column: String,
        /// The file of the first row.
        first: PathBuf,
        /// The file of the other row.
        second: PathBuf,
        /// How many more point ids have differing rows.
        others: usize,
    },
    /// The directory has no `_lazyrich/manifest.json`.
    #[error("{} is not a lazyrich dataset (no _lazyrich/manifest.json)", root.display())]
    NotADataset {
        /// The directory.
        root: PathBuf,
    },
    /// The directory exists, holds other files and no dataset: refused to avoid mixing.
    #[error(
        "{} is not empty and holds no lazyrich dataset: use another --out directory",
        root.display()
    )]
    NotEmpty {
        /// The directory.
        root: PathBuf,
    },
    /// `points/` holds files but the manifest is missing: the files cannot be attributed to a
    /// spec, so they are not adopted.
    #[error(
        "{} holds part files but {} is missing, so they cannot be attributed to a spec: restore \
         the dataset's _lazyrich/ directory (manifest.json, spec.toml) from a backup or the copy \
         it came from, or use another --out directory",
        root.join("points").display(),
        root.join("_lazyrich").join("manifest.json").display()
    )]
    ManifestMissing {
        /// The directory.
        root: PathBuf,
    },
    /// A run's shard layout overlaps one running now into the same dataset.
    #[error(
        "{own} would compute points that {other} is computing now into {} (it holds {}): wait \
         until it has finished, or run a shard layout that does not overlap it (shards k/N and \
         j/M share points when k and j are equal modulo gcd(N, M))",
        root.display(),
        lock.display()
    )]
    LayoutRunning {
        /// The dataset directory.
        root: PathBuf,
        /// The refused run's layout, described.
        own: String,
        /// The running layout, described.
        other: String,
        /// Its lock file.
        lock: PathBuf,
    },
    /// A run's shard layout overlaps a layout recorded in the manifest.
    #[error(
        "{} holds results of the shard layouts {recorded} (recorded in its manifest), and {own} \
         overlaps {other}: mixing overlapping layouts can compute points twice. Run with a \
         recorded layout, or, once no run of {other} is going on any more (on any machine), \
         add --relayout to run this layout anyway (points already present are skipped)",
        root.display()
    )]
    LayoutConflict {
        /// The dataset directory.
        root: PathBuf,
        /// The refused run's layout, described.
        own: String,
        /// The first recorded layout it overlaps (`k/N`).
        other: String,
        /// Every recorded layout, comma-separated.
        recorded: String,
    },
    /// The directory holds results of another spec.
    #[error(
        "{} holds results of spec '{spec_name}' (hash {existing_hash}); this spec has hash \
         {new_hash}: use another --out directory, or --extend to make this spec the dataset's \
         (only the points it lacks are computed)",
        root.display()
    )]
    SpecMismatch {
        /// The dataset directory.
        root: PathBuf,
        /// Name of the spec recorded in the manifest.
        spec_name: String,
        /// Hash recorded in the manifest.
        existing_hash: String,
        /// Hash of the spec being run.
        new_hash: String,
    },
    /// The dataset or file was written with another schema version.
    #[error(
        "{} has schema version {found}; this lazyrich reads and writes schema version \
         {expected}: write into a new --out directory, or use a lazyrich of schema version \
         {found} to resume, read or merge this one",
        path.display()
    )]
    SchemaVersion {
        /// The manifest or Parquet file.
        path: PathBuf,
        /// The version found there.
        found: u32,
        /// [`crate::SCHEMA_VERSION`].
        expected: u32,
    },
    /// Writer or merge options are out of range.
    #[error("invalid options: {reason}")]
    InvalidOptions {
        /// Which option and why.
        reason: String,
    },
    /// A row cannot be stored.
    #[error("invalid row for point {point_id}: {reason}")]
    InvalidRow {
        /// The row's `point_id`.
        point_id: u64,
        /// What is wrong.
        reason: String,
    },
    /// [`crate::Dataset::writer`] on a dataset from [`crate::Dataset::open`].
    #[error(
        "cannot write to {}: it was opened for reading (open it with its spec to write)",
        root.display()
    )]
    ReadOnly {
        /// The dataset directory.
        root: PathBuf,
    },
    /// Another writer holds the lock of this shard.
    #[error("failed to lock shard {shard}: {} is held by another writer", lock.display())]
    ShardBusy {
        /// The shard, "k/N".
        shard: String,
        /// The lock file.
        lock: PathBuf,
    },
    /// Another merge of the same dataset is running.
    #[error("failed to lock {}: another merge of this dataset is running", lock.display())]
    MergeBusy {
        /// The lock file.
        lock: PathBuf,
    },
    /// A merged file does not hold exactly the rows of its sources; the sources were kept.
    #[error("failed to verify merged file {}: {reason}; its sources were kept", path.display())]
    MergeVerification {
        /// The merged file (removed).
        path: PathBuf,
        /// What differs.
        reason: String,
    },
}

/// `"1 THING"`, `"N THINGs"`.
fn count(n: usize, thing: &str) -> String {
    if n == 1 { format!("1 {thing}") } else { format!("{n} {thing}s") }
}

/// `" (and N more THING[s])"`, or nothing when `n` is 0.
fn and_more(n: usize, thing: &str) -> String {
    match n {
        0 => String::new(),
        1 => format!(" (and 1 more {thing})"),
        n => format!(" (and {n} more {thing}s)"),
    }
}

impl StoreError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io { action, path: path.into(), source }
    }

    /// A Parquet error; an IO error wrapped by the Parquet writer is reported as plain IO.
    pub(crate) fn parquet(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: ParquetError,
    ) -> Self {
        let path = path.into();
        match source {
            ParquetError::External(inner) => match inner.downcast::<std::io::Error>() {
                Ok(io) => Self::Io { action, path, source: *io },
                Err(other) => Self::Parquet { action, path, source: ParquetError::External(other) },
            },
            source => Self::Parquet { action, path, source },
        }
    }

    pub(crate) fn arrow(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: ArrowError,
    ) -> Self {
        Self::Arrow { action, path: path.into(), source }
    }

    pub(crate) fn bad_file(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::BadFile { path: path.into(), reason: reason.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_wrapped_by_parquet_are_reported_as_io() {
        let io = std::io::Error::new(std::io::ErrorKind::StorageFull, "No space left on device");
        let err =
            StoreError::parquet("write", "/x/a.parquet", ParquetError::External(Box::new(io)));
        assert_eq!(err.to_string(), "failed to write /x/a.parquet: No space left on device");
        assert!(matches!(err, StoreError::Io { .. }));
    }

    #[test]
    fn schema_version_message_says_both_versions_and_what_to_do() {
        let err = StoreError::SchemaVersion {
            path: PathBuf::from("out/_lazyrich/manifest.json"),
            found: 1,
            expected: 3,
        };
        assert_eq!(
            err.to_string(),
            "out/_lazyrich/manifest.json has schema version 1; this lazyrich reads and writes \
             schema version 3: write into a new --out directory, or use a lazyrich of schema \
             version 1 to resume, read or merge this one"
        );
    }

    #[test]
    fn spec_mismatch_message_follows_the_contract() {
        let err = StoreError::SpecMismatch {
            root: PathBuf::from("out"),
            spec_name: "x".into(),
            existing_hash: "h1".into(),
            new_hash: "h2".into(),
        };
        assert_eq!(
            err.to_string(),
            "out holds results of spec 'x' (hash h1); this spec has hash h2: use another --out \
             directory, or --extend to make this spec the dataset's (only the points it lacks \
             are computed)"
        );
    }
}
