//! Merge: compacting the part files of each partition, crash-safe through a journal.
//!
//! First every part file is verified in full (`verify.rs`): a damaged one is quarantined and the
//! merge refused, a file of another spec refuses it too, and nothing is written. Point ids must
//! be unique across the files: a row whose id is already present in an earlier file (in path
//! order) is dropped if it is bitwise equal to that row apart from `wall_time_s` and `shard` (an
//! exact duplicate, as two overlapping runs produce), and the merge is refused, with nothing
//! written or removed, if it differs.
//!
//! Then one group of files at a time: the journal `_lazyrich/merge.journal` names the group's
//! sources, the ids it drops, its temporary output and its final name; the output is written
//! (the sources re-verified as they are read), fsynced and verified (its checksum, row count and
//! id multiset equal to the sources' less the dropped rows) before it is renamed into the
//! partition; then the sources are removed and the journal last. The rename is the commit
//! point: on the next open, a journal whose output exists has its remaining sources removed,
//! any other journal has its temporary output removed and its sources kept. Only one merge runs
//! at a time (`_lazyrich/merge.lock`).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;

use crate::SCHEMA_VERSION;
use crate::checksum::row_digests;
use crate::dataset::Dataset;
use crate::decode::Columns;
use crate::durable::{remove_if_exists, rename_synced, sibling_temp, sync_dir, write_synced};
use crate::error::StoreError;
use crate::journal::{Journal, recover_locked, relative, remove_files};
use crate::layout;
use crate::lock::try_lock;
use crate::part::{Footer, PartSink, read_batches, read_verified};
use crate::quarantine::quarantine;
use crate::schema::{
    KEY_CREATED, KEY_GIT_COMMIT, KEY_LAZYRICH_VERSION, KEY_SCHEMA_VERSION, KEY_SHARD,
    KEY_SPEC_HASH, KEY_SPEC_TEXT, points_schema,
};
use crate::time::now_rfc3339;
use crate::verify::{Checked, Outcome, check_files};

/// Columns left out when comparing the rows of one point id: they differ between two runs of
/// the same point.
const NOT_COMPARED: [&str; 2] = ["wall_time_s", "shard"];

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeReport {
    /// Part files before the merge.
    pub files_before: usize,
    /// Part files after it.
    pub files_after: usize,
    /// Rows after it (those before, less the duplicates dropped).
    pub rows: u64,
    /// Rows dropped as exact duplicates of rows kept (same point id, bitwise-equal values apart
    /// from `wall_time_s` and `shard`).
    pub duplicates_dropped: u64,
}

/// Groups consecutive files of at most `target_rows` rows together (a larger file alone; a file
/// of no rows with the group before it).
fn plan<T: Clone>(files: &[(T, u64)], target_rows: u64) -> Vec<Vec<T>> {
    let mut groups = Vec::new();
    let mut group: Vec<T> = Vec::new();
    let mut group_rows = 0u64;
    for (file, n_rows) in files {
        // A file left without rows (all of them duplicates) joins the group before it.
        if !group.is_empty() && *n_rows > 0 && group_rows.saturating_add(*n_rows) > target_rows {
            groups.push(std::mem::take(&mut group));
            group_rows = 0;
        }
        group.push(file.clone());
        group_rows = group_rows.saturating_add(*n_rows);
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// Footer of a merged file: spec from the first source, the union of shards, the distinct
/// versions and commits (comma-separated), a new creation time.
fn merged_footer<'a>(
    footers: impl Iterator<Item = &'a Footer> + Clone,
) -> Vec<(&'static str, String)> {
    let first =
        |key: &str| footers.clone().find_map(|f| f.metadata.get(key).cloned()).unwrap_or_default();
    let distinct = |key: &str, sort: bool| {
        let mut values: Vec<String> = Vec::new();
        for value in footers.clone().filter_map(|f| f.metadata.get(key)) {
            for part in value.split(',').filter(|p| !p.is_empty()) {
                if !values.iter().any(|v| v == part) {
                    values.push(part.to_owned());
                }
            }
        }
        if sort {
            // Shards "k/N" by N, then k.
            values.sort_by_key(|shard| {
                let (k, n) = shard.split_once('/').unwrap_or((shard, ""));
                (n.parse::<u64>().ok(), k.parse::<u64>().ok(), shard.clone())
            });
        }
        values.join(",")
    };
    vec![
        (KEY_SPEC_TEXT, first(KEY_SPEC_TEXT)),
        (KEY_SPEC_HASH, first(KEY_SPEC_HASH)),
        (KEY_SHARD, distinct(KEY_SHARD, true)),
        (KEY_SCHEMA_VERSION, SCHEMA_VERSION.to_string()),
        (KEY_CREATED, now_rfc3339()),
        (KEY_LAZYRICH_VERSION, distinct(KEY_LAZYRICH_VERSION, false)),
        (KEY_GIT_COMMIT, distinct(KEY_GIT_COMMIT, false)),
    ]
}

/// A verified source of a group and the rows (indices in file order) the merge drops from it.
struct Source<'a> {
    checked: &'a Checked,
    drop: BTreeSet<usize>,
}

/// A group whose merged file is written, checked and journaled, but not yet published.
struct PreparedMerge {
    journal: PathBuf,
    temp: PathBuf,
    output: PathBuf,
    sources: Vec<PathBuf>,
}

impl PreparedMerge {
    /// Journals the group and writes its merged file to `_lazyrich/tmp/`. On failure nothing
    /// is left behind and the sources are untouched.
    fn prepare(
        root: &Path,
        sources: &[Source<'_>],
        output: PathBuf,
        temp: PathBuf,
    ) -> Result<Self, StoreError> {
        let journal = layout::journal_path(root);
        let entry = Journal {
            output: relative(root, &output),
            temp: relative(root, &temp),
            sources: sources.iter().map(|s| relative(root, &s.checked.path)).collect(),
            dropped: sources
                .iter()
                .flat_map(|s| s.drop.iter().map(|&row| s.checked.ids[row]))
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&entry).map_err(|source| StoreError::Json {
            action: "encode",
            path: journal.clone(),
            source,
        })?;
        let journal_temp = sibling_temp(&journal);
        write_synced(&journal_temp, &json)?;
        if let Err(e) = rename_synced(&journal_temp, &journal) {
            let _ = remove_if_exists(&journal_temp);
            return Err(e);
        }
        let prepared = Self {
            journal,
            temp,
            output,
            sources: sources.iter().map(|s| s.checked.path.clone()).collect(),
        };
        match prepared.write_and_check(sources) {
            Ok(()) => Ok(prepared),
            Err(e) => {
                // Best effort: the journal would roll this back on the next open anyway.
                let _ = remove_if_exists(&prepared.temp);
                let _ = remove_if_exists(&prepared.journal);
                Err(e)
            }
        }
    }

    fn write_and_check(&self, sources: &[Source<'_>]) -> Result<(), StoreError> {
        let footers = sources.iter().map(|s| &s.checked.footer);
        let mut sink = PartSink::create(&self.temp, merged_footer(footers))?;
        let mut ids_in = Vec::new();
        for source in sources {
            let path = &source.checked.path;
            let mut offset = 0;
            // Verified again as it is read: the file may have changed since the first pass.
            read_verified(path, |batch| {
                let batch = RecordBatch::try_new(points_schema(), batch.columns().to_vec())
                    .map_err(|e| StoreError::arrow("read", path, e))?;
                let n = batch.num_rows();
                let mut start = 0;
                for &row in source.drop.range(offset..offset + n) {
                    let local = row - offset;
                    if local > start {
                        sink.write(&batch.slice(start, local - start))?;
                    }
                    start = local + 1;
                }
                if start < n {
                    sink.write(&batch.slice(start, n - start))?;
                }
                offset += n;
                Ok(())
            })?;
            let kept =
                source.checked.ids.iter().enumerate().filter(|(i, _)| !source.drop.contains(i));
            ids_in.extend(kept.map(|(_, &id)| id));
        }
        sink.finish()?;
        let mut ids_out = Vec::new();
        read_verified(&self.temp, |batch| {
            ids_out
                .extend(Columns::new(batch, &self.temp).u64("point_id")?.values().iter().copied());
            Ok(())
        })
        .map_err(|e| StoreError::MergeVerification {
            path: self.temp.clone(),
            reason: e.to_string(),
        })?;
        ids_in.sort_unstable();
        ids_out.sort_unstable();
        if ids_out != ids_in {
            return Err(StoreError::MergeVerification {
                path: self.temp.clone(),
                reason: format!(
                    "{} rows expected from the sources, {} rows in the output, id sets different",
                    ids_in.len(),
                    ids_out.len(),
                ),
            });
        }
        Ok(())
    }

    /// The commit point: renames the merged file into its partition.
    fn publish(&self) -> Result<(), StoreError> {
        let published = rename_synced(&self.temp, &self.output);
        if published.is_err() {
            let _ = remove_if_exists(&self.temp);
            let _ = remove_if_exists(&self.journal);
        }
        published
    }

    /// Removes the sources, then the journal.
    fn complete(self, control_dir: &Path) -> Result<(), StoreError> {
        remove_files(&self.sources)?;
        remove_if_exists(&self.journal)?;
        sync_dir(control_dir)
    }
}

/// `(file, row)` of a row among `files`.
type RowAt = (usize, usize);

/// The rows to drop from each file (by index in `files`) as exact duplicates of an earlier row of
/// the same point id, or [`StoreError::ConflictingDuplicates`] if two rows of one id differ.
fn duplicates(
    root: &Path,
    files: &[Checked],
) -> Result<HashMap<usize, BTreeSet<usize>>, StoreError> {
    let mut first: HashMap<u64, RowAt> = HashMap::new();
    let mut repeats: Vec<(u64, RowAt, RowAt)> = Vec::new();
    for (f, file) in files.iter().enumerate() {
        for (r, &id) in file.ids.iter().enumerate() {
            if let Some(&kept) = first.get(&id) {
                repeats.push((id, kept, (f, r)));
            } else {
                first.insert(id, (f, r));
            }
        }
    }
    drop(first);
    if repeats.is_empty() {
        return Ok(HashMap::new());
    }
    // The digests of every row involved, file by file.
    let mut wanted: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
    for &(_, (f1, r1), (f2, r2)) in &repeats {
        wanted.entry(f1).or_default().insert(r1);
        wanted.entry(f2).or_default().insert(r2);
    }
    let mut digests: HashMap<RowAt, Vec<(String, u64)>> = HashMap::new();
    for (f, rows) in wanted {
        let path = &files[f].path;
        let mut offset = 0;
        read_batches(path, None, |batch| {
            let n = batch.num_rows();
            for &row in rows.range(offset..offset + n) {
                let row_digests = row_digests(batch, row - offset, &NOT_COMPARED)
                    .map_err(|reason| StoreError::bad_file(path, reason))?;
                digests.insert((f, row), row_digests);
            }
            offset += n;
            Ok(())
        })?;
    }
    let mut conflicts = Vec::new();
    let mut drops: HashMap<usize, BTreeSet<usize>> = HashMap::new();
    for (id, kept, repeat) in repeats {
        let differing = match (digests.get(&kept), digests.get(&repeat)) {
            (Some(a), Some(b)) => a.iter().zip(b).find(|(x, y)| x != y).map(|(x, _)| x.0.clone()),
            _ => Some("(unread)".to_owned()),
        };
        match differing {
            Some(column) => conflicts.push((id, kept.0, repeat.0, column)),
            None => {
                drops.entry(repeat.0).or_default().insert(repeat.1);
            }
        }
    }
    if let Some((point_id, first, second, column)) = conflicts.first().cloned() {
        return Err(StoreError::ConflictingDuplicates {
            root: root.to_owned(),
            point_id,
            column,
            first: files[first].path.clone(),
            second: files[second].path.clone(),
            others: conflicts.len() - 1,
        });
    }
    Ok(drops)
}

impl Dataset {
    /// Compacts the part files of each partition into files of at most `target_rows` rows
    /// (a larger file stays as it is), named `part-merged-<seq>.parquet`.
    ///
    /// Every part file is verified first (on up to `threads` threads): damaged files are moved
    /// to `_lazyrich/quarantine/` and the merge is refused ([`StoreError::DamagedSources`]); a
    /// file of another spec refuses it too ([`StoreError::ForeignFile`]); rows of one point id
    /// that differ refuse it ([`StoreError::ConflictingDuplicates`]); in each case nothing is
    /// written or removed. Exact duplicate rows are dropped (counted in the report). Every
    /// merged file is checked against its sources before they are removed. A dataset with one
    /// file per partition and no duplicates is left as it is. Fails if another merge of the
    /// dataset is running.
    ///
    /// Readers should not read the dataset while it merges: between publishing a merged file
    /// and removing its sources, their rows appear twice.
    pub fn merge(&self, target_rows: usize, threads: usize) -> Result<MergeReport, StoreError> {
        if target_rows == 0 {
            return Err(StoreError::InvalidOptions {
                reason: "merge target_rows must be at least 1".into(),
            });
        }
        let root = self.root();
        let lock_path = layout::merge_lock_path(root);
        let Some(_lock) = try_lock(&lock_path)? else {
            return Err(StoreError::MergeBusy { lock: lock_path });
        };
        recover_locked(root)?;

        // Verify everything before writing anything.
        let paths = self.part_files()?;
        let mut files = Vec::new();
        let mut damaged = Vec::new();
        let mut foreign = Vec::new();
        for outcome in check_files(&paths, &self.manifest().spec_hashes(), threads)? {
            match outcome {
                Outcome::Intact(checked) => files.push(checked),
                Outcome::Foreign(file) => foreign.push(file),
                Outcome::Damaged { path, reason } => damaged.push((path, reason)),
            }
        }
        if !damaged.is_empty() {
            for (path, reason) in &damaged {
                quarantine(root, path, reason)?;
            }
            return Err(StoreError::DamagedSources { root: root.to_owned(), damaged });
        }
        self.refuse_foreign(&foreign)?;
        let mut drops = duplicates(root, &files)?;

        let mut next_seq = files
            .iter()
            .filter_map(|f| layout::parse_merged_name(layout::file_name(&f.path)))
            .map(|seq| seq.saturating_add(1))
            .max()
            .unwrap_or(0);
        let rows_before: u64 = files.iter().map(|f| f.ids.len() as u64).sum();
        let duplicates_dropped: u64 = drops.values().map(|rows| rows.len() as u64).sum();
        let mut report = MergeReport {
            files_before: files.len(),
            files_after: files.len(),
            rows: rows_before - duplicates_dropped,
            duplicates_dropped,
        };
        // Partitions, and within one the files of each spec (an extended dataset holds several;
        // a merged file's footer names one): the files are sorted by path.
        let mut partitions: BTreeMap<(PathBuf, String), Vec<(usize, u64)>> = BTreeMap::new();
        for (i, file) in files.iter().enumerate() {
            let dropped = drops.get(&i).map_or(0, BTreeSet::len);
            let dir = file.path.parent().unwrap_or(root).to_owned();
            let spec = file.footer.metadata.get(KEY_SPEC_HASH).cloned().unwrap_or_default();
            partitions.entry((dir, spec)).or_default().push((i, (file.ids.len() - dropped) as u64));
        }
        let target_rows = target_rows as u64;
        for ((dir, _), sized) in partitions {
            let mut groups = plan(&sized, target_rows);
            // A file with rows to drop is rewritten even alone.
            groups.retain(|group| group.len() >= 2 || group.iter().any(|i| drops.contains_key(i)));
            // Largest groups first: the most files removed if the merge is interrupted.
            groups.sort_by_key(|group| Reverse(group.len()));
            for group in groups {
                let output = loop {
                    let candidate = dir.join(layout::merged_name(next_seq));
                    if !candidate.exists() {
                        break candidate;
                    }
                    next_seq += 1;
                };
                let temp = layout::tmp_dir(root).join(format!("merge-{next_seq:06}.parquet"));
                next_seq += 1;
                let sources: Vec<Source<'_>> = group
                    .iter()
                    .map(|&i| Source {
                        checked: &files[i],
                        drop: drops.remove(&i).unwrap_or_default(),
                    })
                    .collect();
                let prepared = PreparedMerge::prepare(root, &sources, output, temp)?;
                prepared.publish()?;
                prepared.complete(&layout::control_dir(root))?;
                report.files_after -= group.len() - 1;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::fs;

    use super::*;
    use crate::dataset::Dataset;
    use crate::part::read_footer;
    use crate::row::PointRow;
    use crate::testutil::{TempDir, meta, sample_row, tmp_leftovers, write_rows};

    fn many_files(dir: &TempDir, n_rows: u64, task: &str) -> Dataset {
        let dataset = Dataset::create_or_open(&dir.path().join("out"), &meta("h1")).unwrap();
        let rows: Vec<PointRow> = (0..n_rows).map(|id| sample_row(id, task)).collect();
        write_rows(&dataset, &rows, 1);
        dataset
    }

    fn sorted_ids(rows: &[PointRow]) -> Vec<u64> {
        let mut ids: Vec<u64> = rows.iter().map(|r| r.point_id).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn many_small_files_become_few_with_the_same_rows() {
        let dir = TempDir::new("merge");
        let dataset = many_files(&dir, 10, "random");
        write_rows(&dataset, &[sample_row(100, "hierarchy")], 1);
        let before = dataset.read_rows().unwrap();
        let sources = dataset.part_files().unwrap();
        assert_eq!(sources.len(), 11);

        let report = dataset.merge(4, 2).unwrap();
        assert_eq!(
            report,
            MergeReport { files_before: 11, files_after: 4, rows: 11, duplicates_dropped: 0 }
        );
        let files = dataset.part_files().unwrap();
        let names: Vec<&str> = files.iter().map(|f| layout::file_name(f)).collect();
        assert_eq!(
            names,
            [
                "part-s0000of0001-000010.parquet",
                "part-merged-000000.parquet",
                "part-merged-000001.parquet",
                "part-merged-000002.parquet",
            ]
        );
        assert!(sources.iter().filter(|s| !files.contains(s)).all(|s| !s.exists()));
        let after = dataset.read_rows().unwrap();
        assert_eq!(sorted_ids(&after), sorted_ids(&before));
        let mut before_sorted = before.clone();
        let mut after_sorted = after.clone();
        before_sorted.sort_by_key(|r| r.point_id);
        after_sorted.sort_by_key(|r| r.point_id);
        assert_eq!(format!("{after_sorted:?}"), format!("{before_sorted:?}"));

        let footer = read_footer(&files[1]).unwrap();
        assert_eq!(footer.metadata["lazyrich.shard"], "0/1");
        assert_eq!(footer.metadata["lazyrich.spec_hash"], "h1");
        assert!(!layout::journal_path(dataset.root()).exists());
        let leftovers = tmp_leftovers(dataset.root());
        assert!(leftovers.is_empty(), "{leftovers:?}");

        // Merging again packs the merged files; a resumed writer still never overwrites.
        let report = dataset.merge(100, 2).unwrap();
        assert_eq!(
            report,
            MergeReport { files_before: 4, files_after: 2, rows: 11, duplicates_dropped: 0 }
        );
        write_rows(&dataset, &[sample_row(200, "random")], 1);
        assert_eq!(dataset.done_ids().unwrap().len(), 12);
    }

    #[test]
    fn a_dataset_with_one_file_is_left_as_it_is() {
        let dir = TempDir::new("merge-one");
        let dataset = many_files(&dir, 1, "random");
        let files = dataset.part_files().unwrap();
        let report = dataset.merge(1000, 2).unwrap();
        assert_eq!(
            report,
            MergeReport { files_before: 1, files_after: 1, rows: 1, duplicates_dropped: 0 }
        );
        assert_eq!(dataset.part_files().unwrap(), files);
        let err = dataset.merge(0, 2).unwrap_err();
        assert_eq!(err.to_string(), "invalid options: merge target_rows must be at least 1");
    }

    fn prepare_all(dataset: &Dataset) -> (PreparedMerge, Vec<PathBuf>) {
        let root = dataset.root();
        let sources = dataset.part_files().unwrap();
        let checked: Vec<Checked> = check_files(&sources, &["h1".to_owned()], 1)
            .unwrap()
            .into_iter()
            .map(|outcome| match outcome {
                Outcome::Intact(checked) => checked,
                _ => panic!("not intact"),
            })
            .collect();
        let group: Vec<Source<'_>> =
            checked.iter().map(|checked| Source { checked, drop: BTreeSet::new() }).collect();
        let output = layout::partition_dir(root, "random").join(layout::merged_name(0));
        let temp = layout::tmp_dir(root).join("merge-000000.parquet");
        (PreparedMerge::prepare(root, &group, output, temp).unwrap(), sources)
    }

    #[test]
    fn a_crash_after_publishing_is_completed_on_open() {
        let dir = TempDir::new("merge-crash-late");
        let dataset = many_files(&dir, 5, "random");
        let ids = dataset.done_ids().unwrap();
        let (prepared, sources) = prepare_all(&dataset);
        prepared.publish().unwrap();
        drop(prepared); // crash: sources and journal still there
        assert_eq!(dataset.part_files().unwrap().len(), 6);

        let reopened = Dataset::create_or_open(dataset.root(), &meta("h1")).unwrap();
        let files = reopened.part_files().unwrap();
        assert_eq!(files.len(), 1);
        assert!(sources.iter().all(|s| !s.exists()));
        let rows = reopened.read_rows().unwrap();
        assert_eq!(rows.len(), 5, "no duplicate ids");
        assert_eq!(rows.iter().map(|r| r.point_id).collect::<HashSet<_>>(), ids);
        assert!(!layout::journal_path(reopened.root()).exists());
    }

    #[test]
    fn recovery_keeps_a_reused_source_name_holding_new_rows() {
        let dir = TempDir::new("merge-crash-reuse");
        let dataset = many_files(&dir, 2, "random");
        let (prepared, sources) = prepare_all(&dataset);
        prepared.publish().unwrap();
        remove_files(&sources).unwrap();
        drop(prepared); // crash before the journal was removed
        // A new writer of the shard reuses the first name for a new row.
        write_rows(&dataset, &[sample_row(10, "random")], 1);
        assert!(sources[0].exists());

        let reopened = Dataset::open(dataset.root()).unwrap();
        assert!(sources[0].exists());
        assert_eq!(reopened.done_ids().unwrap().len(), 3);
    }

    #[test]
    fn a_crash_before_publishing_is_rolled_back_on_open() {
        let dir = TempDir::new("merge-crash-early");
        let dataset = many_files(&dir, 5, "random");
        let (prepared, sources) = prepare_all(&dataset);
        let temp = prepared.temp.clone();
        assert!(temp.exists());
        drop(prepared); // crash: merged file written but not renamed

        let reopened = Dataset::open(dataset.root()).unwrap();
        assert!(!temp.exists());
        assert_eq!(reopened.part_files().unwrap(), sources);
        assert_eq!(reopened.read_rows().unwrap().len(), 5);
        assert!(!layout::journal_path(reopened.root()).exists());
    }

    #[test]
    fn a_running_merge_is_not_disturbed_by_an_open() {
        let dir = TempDir::new("merge-live");
        let dataset = many_files(&dir, 3, "random");
        let lock = try_lock(&layout::merge_lock_path(dataset.root())).unwrap().unwrap();
        let (prepared, _) = prepare_all(&dataset);
        Dataset::open(dataset.root()).unwrap();
        assert!(prepared.temp.exists() && prepared.journal.exists());
        assert!(matches!(dataset.merge(10, 2), Err(StoreError::MergeBusy { .. })));
        drop(lock);
        drop(prepared);
        let report = dataset.merge(10, 2).unwrap();
        assert_eq!(
            report,
            MergeReport { files_before: 3, files_after: 1, rows: 3, duplicates_dropped: 0 }
        );
    }

    #[test]
    fn a_journal_pointing_outside_the_dataset_is_refused() {
        let dir = TempDir::new("merge-tampered");
        let dataset = many_files(&dir, 1, "random");
        let journal = r#"{"output":"points/x.parquet","temp":"_lazyrich/tmp/m","sources":["../../etc/passwd"]}"#;
        fs::write(layout::journal_path(dataset.root()), journal).unwrap();
        let err = Dataset::open(dataset.root()).unwrap_err().to_string();
        assert!(err.ends_with("path '../../etc/passwd' is outside points/"), "{err}");
    }

    /// Writes `rows` as a schema-1 file would hold them: without the columns of version 2,
    /// footer `lazyrich.schema_version = "1"`.
    fn write_v1_file(path: &Path, rows: &[PointRow]) {
        const ADDED_IN_V2: [&str; 16] = [
            "lambda_ft",
            "n_phases",
            "escape_time",
            "phase",
            "task_losses",
            "phase_t_start",
            "phase_t_end",
            "phase_task_losses",
            "phase_t_half",
            "phase_kernel_distance",
            "phase_rep_change_in",
            "phase_rep_change_out",
            "phase_tsc_in",
            "phase_tsc_out",
            "forgetting",
            "forgetting_formula",
        ];
        let batch = crate::encode::encode(rows).unwrap();
        let keep: Vec<usize> = (0..batch.num_columns())
            .filter(|&i| !ADDED_IN_V2.contains(&batch.schema().field(i).name().as_str()))
            .collect();
        let batch = batch.project(&keep).unwrap();
        // (A real schema-1 file would also lack `tolerance`, added in version 3, and the balance
        // columns and `lambdas` of version 4; the footer's version is what this test needs.)
        assert_eq!(batch.num_columns(), 45);
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_key_value_metadata(Some(vec![
                parquet::file::metadata::KeyValue::new(
                    KEY_SCHEMA_VERSION.to_owned(),
                    "1".to_owned(),
                ),
                parquet::file::metadata::KeyValue::new(KEY_SHARD.to_owned(), "0/2".to_owned()),
            ]))
            .build();
        let file = fs::File::create(path).unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn a_file_of_another_schema_version_is_refused_by_merge_and_readers() {
        let dir = TempDir::new("merge-v1");
        let dataset = many_files(&dir, 3, "random");
        let v1 = layout::partition_dir(dataset.root(), "random").join(layout::part_name(0, 2, 0));
        write_v1_file(&v1, &[sample_row(50, "random")]);
        let files = dataset.part_files().unwrap();
        assert_eq!(files.len(), 4);

        let expected = format!(
            "{} has schema version 1; this lazyrich reads and writes schema version {}: write \
             into a new --out directory, or use a lazyrich of schema version 1 to resume, read \
             or merge this one",
            v1.display(),
            SCHEMA_VERSION
        );
        let err = dataset.merge(100, 2).unwrap_err();
        assert!(
            matches!(&err, StoreError::SchemaVersion { path, found: 1, .. } if path == &v1),
            "{err}"
        );
        assert_eq!(err.to_string(), expected);
        // Nothing merged, nothing left behind.
        assert_eq!(dataset.part_files().unwrap(), files);
        assert!(!layout::journal_path(dataset.root()).exists());
        let leftovers = tmp_leftovers(dataset.root());
        assert!(leftovers.is_empty(), "{leftovers:?}");
        assert_eq!(dataset.read_rows().unwrap_err().to_string(), expected);
        assert_eq!(dataset.done_ids().unwrap_err().to_string(), expected);
    }

    /// Every file under the dataset, with its content, except the lock files.
    fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
        let mut files = BTreeMap::new();
        let mut stack = vec![root.to_owned()];
        while let Some(dir) = stack.pop() {
            for (name, path) in layout::list_names(&dir).unwrap() {
                if path.is_dir() {
                    stack.push(path);
                } else if !name.ends_with(".lock") {
                    files.insert(path.clone(), fs::read(&path).unwrap());
                }
            }
        }
        files
    }

    /// The reproduction: a part file with 64 flipped bytes was merged (its altered values
    /// published, the original deleted). Now the merge verifies every source first, quarantines
    /// the damaged one and merges nothing.
    #[test]
    fn a_damaged_source_is_quarantined_and_nothing_is_merged() {
        let dir = TempDir::new("merge-damaged");
        let dataset = many_files(&dir, 6, "random");
        let files = dataset.part_files().unwrap();
        let (_, start, len) = crate::testutil::column_chunks(&files[3])
            .into_iter()
            .find(|(c, _, _)| c.starts_with("final_loss"))
            .unwrap();
        crate::testutil::flip_bytes(&files[3], start + len / 2, 64);
        let before = snapshot(dataset.root());

        let err = dataset.merge(100, 2).unwrap_err();
        let StoreError::DamagedSources { damaged, .. } = &err else { panic!("{err}") };
        assert_eq!(damaged.len(), 1);
        assert_eq!(damaged[0].0, files[3]);
        let message = err.to_string();
        assert!(
            message.starts_with(&format!(
                "refused to merge {}: 1 damaged part file moved to {} with a note of why (the \
                 next `lazyrich run` recomputes their points): {}: ",
                dataset.root().display(),
                dataset.root().join("_lazyrich/quarantine").display(),
                files[3].display()
            )),
            "{message}"
        );
        assert!(message.ends_with("; nothing was merged"), "{message}");
        // The damaged file moved (with its note); everything else is as it was.
        let quarantined = dataset
            .root()
            .join("_lazyrich/quarantine/task=random")
            .join(layout::file_name(&files[3]));
        let mut after = snapshot(dataset.root());
        assert_eq!(after.remove(&quarantined), before.get(&files[3]).cloned());
        assert!(after.remove(&quarantined.with_extension("parquet.json")).is_some());
        let mut expected = before.clone();
        expected.remove(&files[3]);
        assert_eq!(after, expected);
        // The rest merges.
        let report = dataset.merge(100, 2).unwrap();
        assert_eq!((report.files_before, report.files_after, report.rows), (5, 1, 5));
    }

    /// The reproduction: a copied part file (a point's rows twice) was folded into the merge.
    /// Exact duplicates are dropped and counted.
    #[test]
    fn exact_duplicates_are_dropped_and_counted() {
        let dir = TempDir::new("merge-dup");
        let dataset = many_files(&dir, 4, "random");
        let files = dataset.part_files().unwrap();
        let copy = files[1].with_file_name("part-s0000of0001-000099.parquet");
        fs::copy(&files[1], &copy).unwrap();
        // The same point computed by another shard: equal but for `shard` and `wall_time_s`.
        let other = Dataset::create_or_open(dataset.root(), &meta("h1")).unwrap();
        let mut writer = other
            .writer(crate::writer::WriterOptions {
                shard: (0, 2),
                relayout: true,
                ..crate::testutil::options(10)
            })
            .unwrap();
        let mut again = sample_row(2, "random");
        again.wall_time_s = 123.0;
        writer.push(again).unwrap();
        writer.finish().unwrap();
        assert_eq!(dataset.read_rows().unwrap().len(), 6);

        let report = dataset.merge(100, 1).unwrap();
        assert_eq!(
            report,
            MergeReport { files_before: 6, files_after: 1, rows: 4, duplicates_dropped: 2 }
        );
        let rows = dataset.read_rows().unwrap();
        assert_eq!(
            sorted_ids(&rows),
            sorted_ids(&(0..4).map(|id| sample_row(id, "random")).collect::<Vec<_>>())
        );
        // The row kept is the first in path order: shard 0/1's file sorts first.
        let kept = rows.iter().find(|r| r.point_id == sample_row(2, "random").point_id).unwrap();
        assert_eq!((kept.shard.as_str(), kept.wall_time_s), ("0/1", 0.002));
    }

    #[test]
    fn a_duplicate_alone_in_its_group_is_rewritten_without_it() {
        let dir = TempDir::new("merge-dup-alone");
        let dataset = many_files(&dir, 2, "random");
        let files = dataset.part_files().unwrap();
        fs::copy(&files[0], files[0].with_file_name("part-s0000of0001-000099.parquet")).unwrap();
        // Target 1 row: every file is a group of its own, yet the copy must go: left without
        // rows, it joins the group before it, which is rewritten.
        let report = dataset.merge(1, 1).unwrap();
        assert_eq!(
            report,
            MergeReport { files_before: 3, files_after: 2, rows: 2, duplicates_dropped: 1 }
        );
        assert_eq!(dataset.read_rows().unwrap().len(), 2);
        assert_eq!(dataset.n_rows().unwrap(), 2);
    }

    #[test]
    fn differing_rows_of_one_point_refuse_the_merge_and_change_nothing() {
        let dir = TempDir::new("merge-conflict");
        let dataset = many_files(&dir, 3, "random");
        let mut other = sample_row(1, "random");
        other.final_loss = Some(0.25);
        write_rows(&dataset, &[other], 1);
        let files = dataset.part_files().unwrap();
        let before = snapshot(dataset.root());
        let err = dataset.merge(100, 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "refused to merge {root}: point {:016x} has two rows that differ (column \
                 `final_loss`), in {} and {}; nothing was merged or removed: move the file \
                 whose row is wrong out of {root}/points (or both, and run again to recompute \
                 the point)",
                sample_row(1, "random").point_id,
                files[1].display(),
                files[3].display(),
                root = dataset.root().display(),
            )
        );
        assert_eq!(snapshot(dataset.root()), before);
    }

    #[test]
    fn a_file_of_another_spec_refuses_the_merge() {
        let dir = TempDir::new("merge-foreign");
        let dataset = many_files(&dir, 2, "random");
        let other = Dataset::create_or_open(&dir.path().join("other"), &meta("h2")).unwrap();
        write_rows(&other, &[sample_row(50, "random")], 1);
        let foreign = layout::partition_dir(dataset.root(), "random").join("part-foreign.parquet");
        fs::copy(&other.part_files().unwrap()[0], &foreign).unwrap();
        let before = snapshot(dataset.root());
        let err = dataset.merge(100, 2).unwrap_err();
        assert!(matches!(&err, StoreError::ForeignFile { path, .. } if path == &foreign), "{err}");
        assert_eq!(snapshot(dataset.root()), before);
    }

    #[test]
    fn recovery_after_dropping_a_duplicate_keeps_exactly_one_copy() {
        let dir = TempDir::new("merge-dup-crash");
        let dataset = many_files(&dir, 2, "random");
        let files = dataset.part_files().unwrap();
        // files[1]'s row again, in a file that sorts first: the copy's row is kept, files[1]'s
        // dropped (the journal records it).
        let copy = files[0].with_file_name("part-a-copy.parquet");
        fs::copy(&files[1], &copy).unwrap();
        let root = dataset.root();
        let checked: Vec<Checked> =
            check_files(&dataset.part_files().unwrap(), &["h1".to_owned()], 1)
                .unwrap()
                .into_iter()
                .map(|o| match o {
                    Outcome::Intact(c) => c,
                    _ => panic!(),
                })
                .collect();
        let drops = duplicates(root, &checked).unwrap();
        assert_eq!(drops.len(), 1);
        // Merge only files[0] and files[1] (the latter losing its row), then crash before the
        // sources are removed.
        let (f1, _) = checked.iter().enumerate().find(|(_, c)| c.path == files[1]).unwrap();
        let (f0, _) = checked.iter().enumerate().find(|(_, c)| c.path == files[0]).unwrap();
        let group = vec![
            Source { checked: &checked[f0], drop: BTreeSet::new() },
            Source { checked: &checked[f1], drop: drops[&f1].clone() },
        ];
        let output = layout::partition_dir(root, "random").join(layout::merged_name(0));
        let temp = layout::tmp_dir(root).join("merge-000000.parquet");
        let prepared = PreparedMerge::prepare(root, &group, output, temp).unwrap();
        prepared.publish().unwrap();
        drop(prepared);
        let reopened = Dataset::open(root).unwrap();
        assert!(!files[0].exists() && !files[1].exists(), "both sources were merged");
        assert_eq!(reopened.read_rows().unwrap().len(), 2, "one copy of each point");
        assert!(copy.exists());
    }

    #[test]
    fn plan_packs_consecutive_files() {
        let files: Vec<(PathBuf, u64)> = [3, 1, 5, 9, 0, 1, 1]
            .iter()
            .enumerate()
            .map(|(i, n)| (PathBuf::from(i.to_string()), *n))
            .collect();
        let groups: Vec<Vec<String>> = plan(&files, 5)
            .into_iter()
            .map(|g| g.iter().map(|p| p.display().to_string()).collect())
            .collect();
        assert_eq!(groups, [vec!["0", "1"], vec!["2"], vec!["3", "4"], vec!["5", "6"]]);
    }

    #[test]
    fn merged_footer_unites_shards_and_versions() {
        let footer = |shard: &str, version: &str| Footer {
            metadata: [
                (KEY_SHARD.to_owned(), shard.to_owned()),
                (KEY_LAZYRICH_VERSION.to_owned(), version.to_owned()),
                (KEY_SPEC_HASH.to_owned(), "h1".to_owned()),
            ]
            .into_iter()
            .collect(),
            n_rows: 1,
        };
        let footers =
            [footer("10/16", "0.1.0"), footer("2/16,0/16", "0.2.0"), footer("2/16", "0.1.0")];
        let merged = merged_footer(footers.iter());
        let get = |key: &str| merged.iter().find(|(k, _)| *k == key).unwrap().1.clone();
        assert_eq!(get(KEY_SHARD), "0/16,2/16,10/16");
        assert_eq!(get(KEY_LAZYRICH_VERSION), "0.1.0,0.2.0");
        assert_eq!(get(KEY_SPEC_HASH), "h1");
        assert_eq!(get(KEY_GIT_COMMIT), "");
    }
}
