//! Verifying the part files of a dataset: every file is read in full and checked against the
//! content checksum in its footer, and its spec hash against the manifest's. Damaged files are
//! quarantined; files of another spec are reported (callers refuse to go on).
//!
//! Used by the resume index of `run` ([`Dataset::resume_index`]), by `status --verify`
//! ([`Dataset::verify`]) and by `merge`, which verifies every source before it writes anything.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::dataset::Dataset;
use crate::decode::Columns;
use crate::error::StoreError;
use crate::layout;
use crate::part::{Footer, read_footer, read_verified};
use crate::quarantine::{Quarantined, quarantine, quarantined_files};
use crate::schema::KEY_SPEC_HASH;

/// A part file whose footer names another spec than the dataset's manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignPart {
    /// The part file.
    pub path: PathBuf,
    /// The spec hash its footer records (empty if none).
    pub spec_hash: String,
}

/// What verifying the part files of a dataset found.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Part files that passed (intact, of the dataset's spec).
    pub files: usize,
    /// Rows in those files.
    pub rows: u64,
    /// The distinct point ids of those rows.
    pub ids: HashSet<u64>,
    /// Damaged files, moved to the quarantine.
    pub quarantined: Vec<Quarantined>,
    /// Intact files of another spec (left in place).
    pub foreign: Vec<ForeignPart>,
}

/// An intact part file of the dataset's spec.
pub(crate) struct Checked {
    pub(crate) path: PathBuf,
    pub(crate) footer: Footer,
    /// Point ids in file order.
    pub(crate) ids: Vec<u64>,
}

/// The verdict on one part file.
pub(crate) enum Outcome {
    Intact(Checked),
    Foreign(ForeignPart),
    Damaged { path: PathBuf, reason: String },
}

/// Verifies one file: in full, then its footer's spec hash against `spec_hashes` (those of
/// the dataset's specs).
fn check_file(path: &Path, spec_hashes: &[String]) -> Result<Outcome, StoreError> {
    let mut ids = Vec::new();
    let footer = match read_verified(path, |batch| {
        ids.extend(Columns::new(batch, path).u64("point_id")?.values().iter().copied());
        Ok(())
    }) {
        Ok(footer) => footer,
        Err(StoreError::Damaged { path, reason }) => return Ok(Outcome::Damaged { path, reason }),
        Err(other) => return Err(other),
    };
    let found = footer.metadata.get(KEY_SPEC_HASH).cloned().unwrap_or_default();
    if !spec_hashes.contains(&found) {
        return Ok(Outcome::Foreign(ForeignPart { path: path.to_owned(), spec_hash: found }));
    }
    Ok(Outcome::Intact(Checked { path: path.to_owned(), footer, ids }))
}

/// Verifies `paths` on up to `threads` threads; verdicts in the order of `paths`. The first
/// error (in that order) that is not a verdict, such as a file that cannot be opened, is
/// returned instead.
pub(crate) fn check_files(
    paths: &[PathBuf],
    spec_hashes: &[String],
    threads: usize,
) -> Result<Vec<Outcome>, StoreError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<Outcome, StoreError>>>> =
        Mutex::new(paths.iter().map(|_| None).collect());
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(i) else { break };
            let outcome = check_file(path, spec_hashes);
            if let Ok(mut results) = results.lock() {
                results[i] = Some(outcome);
            }
        }
    };
    let threads = threads.clamp(1, paths.len().max(1));
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    let results = results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    results
        .into_iter()
        .zip(paths)
        .map(|(result, path)| {
            result.unwrap_or_else(|| {
                Err(StoreError::bad_file(path, "verification did not finish (a thread failed)"))
            })
        })
        .collect()
}

impl Dataset {
    /// Verifies every part file in full (on up to `threads` threads): its content against the
    /// checksum in its footer, its spec hash against the manifest's. Damaged files are moved to
    /// `_lazyrich/quarantine/` (their points are then missing, and a run recomputes them); files
    /// of another spec are reported in [`Verification::foreign`] and left in place. Fails on a
    /// file that cannot be opened or is of another schema version.
    pub fn verify(&self, threads: usize) -> Result<Verification, StoreError> {
        let outcomes = check_files(&self.part_files()?, &self.manifest().spec_hashes(), threads)?;
        let mut verification = Verification::default();
        for outcome in outcomes {
            match outcome {
                Outcome::Intact(checked) => {
                    verification.files += 1;
                    verification.rows += checked.ids.len() as u64;
                    verification.ids.extend(checked.ids);
                }
                Outcome::Foreign(foreign) => verification.foreign.push(foreign),
                Outcome::Damaged { path, reason } => {
                    if let Some(moved) = quarantine(self.root(), &path, &reason)? {
                        verification.quarantined.push(moved);
                    }
                }
            }
        }
        Ok(verification)
    }

    /// The resume index of a run: [`Dataset::verify`], refusing a dataset that holds files of
    /// another spec ([`StoreError::ForeignFile`]). The ids of [`Verification::ids`] are the
    /// finished points; those of quarantined files are not among them.
    pub fn resume_index(&self, threads: usize) -> Result<Verification, StoreError> {
        let verification = self.verify(threads)?;
        self.refuse_foreign(&verification.foreign)?;
        Ok(verification)
    }

    /// The part files whose footer names another spec (footers only: cheap, not verified).
    pub fn foreign_files(&self) -> Result<Vec<ForeignPart>, StoreError> {
        let mut foreign = Vec::new();
        for path in self.part_files()? {
            let footer = read_footer(&path)?;
            let spec_hash = footer.metadata.get(KEY_SPEC_HASH).cloned().unwrap_or_default();
            if !self.manifest().holds_spec(&spec_hash) {
                foreign.push(ForeignPart { path, spec_hash });
            }
        }
        Ok(foreign)
    }

    /// The files in `_lazyrich/quarantine/` (each has a note `<file>.json` saying why).
    pub fn quarantined_files(&self) -> Result<Vec<PathBuf>, StoreError> {
        quarantined_files(self.root())
    }

    /// [`StoreError::ForeignFile`] naming the first of `foreign`, if any.
    pub(crate) fn refuse_foreign(&self, foreign: &[ForeignPart]) -> Result<(), StoreError> {
        let Some(first) = foreign.first() else { return Ok(()) };
        Err(StoreError::ForeignFile {
            path: first.path.clone(),
            found: first.spec_hash.clone(),
            expected: self.manifest().spec_hash.clone(),
            points_dir: layout::points_dir(self.root()),
            others: foreign.len() - 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::testutil::{TempDir, column_chunks, flip_bytes, meta, sample_row, write_rows};

    fn dataset_with_files(dir: &TempDir, n_files: u64) -> Dataset {
        let dataset = Dataset::create_or_open(&dir.path().join("out"), &meta("h1")).unwrap();
        let rows: Vec<_> = (0..n_files * 3).map(|id| sample_row(id, "random")).collect();
        write_rows(&dataset, &rows, 3);
        dataset
    }

    /// Flips 64 bytes in the middle of the pages of column `column` of `path`.
    fn damage(path: &Path, column: &str) {
        let (_, start, len) =
            column_chunks(path).into_iter().find(|(c, _, _)| c.starts_with(column)).unwrap();
        flip_bytes(path, start + len.saturating_sub(64) / 2, 64);
    }

    #[test]
    fn an_intact_dataset_verifies_on_any_number_of_threads() {
        let dir = TempDir::new("verify-ok");
        let dataset = dataset_with_files(&dir, 5);
        for threads in [1, 2, 8] {
            let verification = dataset.verify(threads).unwrap();
            assert_eq!((verification.files, verification.rows), (5, 15));
            assert_eq!(verification.ids, dataset.done_ids().unwrap());
            assert!(verification.quarantined.is_empty() && verification.foreign.is_empty());
        }
    }

    /// The reproduction: flipped bytes in a part file went unnoticed by the resume index. Now
    /// the file is quarantined and its points are not done.
    #[test]
    fn a_damaged_file_is_quarantined_and_its_points_are_not_done() {
        let dir = TempDir::new("verify-damaged");
        let dataset = dataset_with_files(&dir, 4);
        let files = dataset.part_files().unwrap();
        damage(&files[2], "qqt");
        let before = dataset.done_ids().unwrap();
        assert_eq!(before.len(), 12, "the unverified index does not notice");

        let index = dataset.resume_index(2).unwrap();
        assert_eq!((index.files, index.rows, index.ids.len()), (3, 9, 9));
        let [moved] = index.quarantined.as_slice() else { panic!("{index:?}") };
        assert_eq!(moved.file, files[2]);
        assert!(moved.reason.starts_with("content checksum mismatch") || !moved.reason.is_empty());
        assert_eq!(
            moved.moved_to,
            dataset
                .root()
                .join("_lazyrich/quarantine/task=random")
                .join(layout::file_name(&files[2]))
        );
        assert!(!files[2].exists() && moved.moved_to.exists());
        let note = fs::read_to_string(moved.moved_to.with_extension("parquet.json")).unwrap();
        assert!(note.contains(&moved.reason.replace('"', "\\\"")), "{note}");
        assert_eq!(dataset.part_files().unwrap().len(), 3);
        // Once quarantined, the rest verifies.
        let again = dataset.verify(1).unwrap();
        assert!(again.quarantined.is_empty());
        assert_eq!(again.ids, index.ids);
    }

    #[test]
    fn a_file_of_another_spec_is_reported_and_refused_for_resume() {
        let dir = TempDir::new("verify-foreign");
        let dataset = dataset_with_files(&dir, 2);
        let other = Dataset::create_or_open(&dir.path().join("other"), &meta("h2")).unwrap();
        write_rows(&other, &[sample_row(100, "random")], 10);
        let source = other.part_files().unwrap().remove(0);
        let copied = layout::partition_dir(dataset.root(), "random").join("part-copied.parquet");
        fs::copy(&source, &copied).unwrap();

        let verification = dataset.verify(1).unwrap();
        assert_eq!(
            verification.foreign,
            [ForeignPart { path: copied.clone(), spec_hash: "h2".into() }]
        );
        assert_eq!(dataset.foreign_files().unwrap(), verification.foreign);
        let err = dataset.resume_index(1).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} holds results of spec hash h2, not of this dataset's spec (hash h1): move it \
                 out of {}, back to the dataset it came from, and run again",
                copied.display(),
                layout::points_dir(dataset.root()).display()
            )
        );
        assert!(copied.exists(), "a foreign file is never moved");
    }
}
