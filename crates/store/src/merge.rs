//! Merge: compacting the part files of each partition, crash-safe through a journal.
//!
//! One group of files at a time: the journal `_lazyrich/merge.journal` names the group's sources,
//! its temporary output and its final name; the output is written, fsynced and checked (row count
//! and id multiset equal to the sources') before it is renamed into the partition; then the
//! sources are removed and the journal last. The rename is the commit point: on the next open,
//! a journal whose output exists has its remaining sources removed, any other journal has its
//! temporary output removed and its sources kept. Only one merge runs at a time
//! (`_lazyrich/merge.lock`).

use std::cmp::Reverse;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;

use crate::SCHEMA_VERSION;
use crate::dataset::Dataset;
use crate::decode::Columns;
use crate::durable::{remove_if_exists, rename_synced, sibling_temp, sync_dir, write_synced};
use crate::error::StoreError;
use crate::journal::{Journal, ids_of, recover_locked, relative, remove_files};
use crate::layout;
use crate::lock::try_lock;
use crate::part::{Footer, PartSink, read_batches, read_footer};
use crate::schema::{
    KEY_CREATED, KEY_GIT_COMMIT, KEY_LAZYRICH_VERSION, KEY_SCHEMA_VERSION, KEY_SHARD,
    KEY_SPEC_HASH, KEY_SPEC_TEXT, points_schema,
};
use crate::time::now_rfc3339;

/// What a merge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeReport {
    /// Part files before the merge.
    pub files_before: usize,
    /// Part files after it.
    pub files_after: usize,
    /// Rows in those files (unchanged by the merge).
    pub rows: u64,
}

/// Groups consecutive files of at most `target_rows` rows together (a larger file alone).
fn plan(files: &[(PathBuf, u64)], target_rows: u64) -> Vec<Vec<PathBuf>> {
    let mut groups = Vec::new();
    let mut group: Vec<PathBuf> = Vec::new();
    let mut group_rows = 0u64;
    for (path, n_rows) in files {
        if !group.is_empty() && group_rows.saturating_add(*n_rows) > target_rows {
            groups.push(std::mem::take(&mut group));
            group_rows = 0;
        }
        group.push(path.clone());
        group_rows = group_rows.saturating_add(*n_rows);
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

/// Footer of a merged file: spec from the first source, the union of shards, the distinct
/// versions and commits (comma-separated), a new creation time.
fn merged_footer(footers: &[Footer]) -> Vec<(&'static str, String)> {
    let first =
        |key: &str| footers.iter().find_map(|f| f.metadata.get(key).cloned()).unwrap_or_default();
    let distinct = |key: &str, sort: bool| {
        let mut values: Vec<String> = Vec::new();
        for value in footers.iter().filter_map(|f| f.metadata.get(key)) {
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
        sources: &[PathBuf],
        output: PathBuf,
        temp: PathBuf,
    ) -> Result<Self, StoreError> {
        let journal = layout::journal_path(root);
        let entry = Journal {
            output: relative(root, &output),
            temp: relative(root, &temp),
            sources: sources.iter().map(|s| relative(root, s)).collect(),
        };
        let json = serde_json::to_vec_pretty(&entry).map_err(|source| StoreError::Json {
            action: "encode",
            path: journal.clone(),
            source,
        })?;
        let journal_temp = sibling_temp(&journal);
        write_synced(&journal_temp, &json)?;
        rename_synced(&journal_temp, &journal)?;
        let prepared = Self { journal, temp, output, sources: sources.to_vec() };
        match prepared.write_and_check() {
            Ok(()) => Ok(prepared),
            Err(e) => {
                // Best effort: the journal would roll this back on the next open anyway.
                let _ = remove_if_exists(&prepared.temp);
                let _ = remove_if_exists(&prepared.journal);
                Err(e)
            }
        }
    }

    fn write_and_check(&self) -> Result<(), StoreError> {
        let footers = self.sources.iter().map(|s| read_footer(s)).collect::<Result<Vec<_>, _>>()?;
        let mut sink = PartSink::create(&self.temp, merged_footer(&footers))?;
        let mut ids_in = Vec::new();
        for source in &self.sources {
            read_batches(source, None, |batch| {
                ids_in
                    .extend(Columns::new(batch, source).u64("point_id")?.values().iter().copied());
                let batch = RecordBatch::try_new(points_schema(), batch.columns().to_vec())
                    .map_err(|e| StoreError::arrow("read", source, e))?;
                sink.write(&batch)
            })?;
        }
        sink.finish()?;
        let mut ids_out = ids_of(&self.temp)?;
        let n_rows = read_footer(&self.temp)?.n_rows;
        ids_in.sort_unstable();
        ids_out.sort_unstable();
        if n_rows != ids_in.len() as u64 || ids_out != ids_in {
            return Err(StoreError::MergeVerification {
                path: self.temp.clone(),
                reason: format!(
                    "{} rows in the sources, {n_rows} rows ({} ids) in the output, id sets {}",
                    ids_in.len(),
                    ids_out.len(),
                    if ids_out == ids_in { "equal" } else { "different" }
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

impl Dataset {
    /// Compacts the part files of each partition into files of at most `target_rows` rows
    /// (a larger file stays as it is), named `part-merged-<seq>.parquet`. Every merged file is
    /// checked against its sources before they are removed. A dataset with one file per
    /// partition is left as it is. Fails if another merge of the dataset is running.
    ///
    /// Readers should not read the dataset while it merges: between publishing a merged file
    /// and removing its sources, their rows appear twice.
    pub fn merge(&self, target_rows: usize) -> Result<MergeReport, StoreError> {
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

        let partitions = layout::partition_dirs(root)?
            .into_iter()
            .map(|dir| layout::files_in_partition(&dir).map(|files| (dir, files)))
            .collect::<Result<Vec<_>, _>>()?;
        let mut next_seq = partitions
            .iter()
            .flat_map(|(_, files)| files)
            .filter_map(|f| layout::parse_merged_name(layout::file_name(f)))
            .map(|seq| seq.saturating_add(1))
            .max()
            .unwrap_or(0);
        let mut report = MergeReport { files_before: 0, files_after: 0, rows: 0 };
        let target_rows = target_rows as u64;
        for (dir, files) in partitions {
            let sized = files
                .into_iter()
                .map(|f| read_footer(&f).map(|footer| (f, footer.n_rows)))
                .collect::<Result<Vec<_>, _>>()?;
            report.files_before += sized.len();
            report.files_after += sized.len();
            report.rows += sized.iter().map(|(_, n)| n).sum::<u64>();
            let mut groups = plan(&sized, target_rows);
            groups.retain(|group| group.len() >= 2);
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
                let prepared = PreparedMerge::prepare(root, &group, output, temp)?;
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

        let report = dataset.merge(4).unwrap();
        assert_eq!(report, MergeReport { files_before: 11, files_after: 4, rows: 11 });
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
        let report = dataset.merge(100).unwrap();
        assert_eq!(report, MergeReport { files_before: 4, files_after: 2, rows: 11 });
        write_rows(&dataset, &[sample_row(200, "random")], 1);
        assert_eq!(dataset.done_ids().unwrap().len(), 12);
    }

    #[test]
    fn a_dataset_with_one_file_is_left_as_it_is() {
        let dir = TempDir::new("merge-one");
        let dataset = many_files(&dir, 1, "random");
        let files = dataset.part_files().unwrap();
        let report = dataset.merge(1000).unwrap();
        assert_eq!(report, MergeReport { files_before: 1, files_after: 1, rows: 1 });
        assert_eq!(dataset.part_files().unwrap(), files);
        let err = dataset.merge(0).unwrap_err();
        assert_eq!(err.to_string(), "invalid options: merge target_rows must be at least 1");
    }

    fn prepare_all(dataset: &Dataset) -> (PreparedMerge, Vec<PathBuf>) {
        let root = dataset.root();
        let sources = dataset.part_files().unwrap();
        let output = layout::partition_dir(root, "random").join(layout::merged_name(0));
        let temp = layout::tmp_dir(root).join("merge-000000.parquet");
        (PreparedMerge::prepare(root, &sources, output, temp).unwrap(), sources)
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
        assert!(matches!(dataset.merge(10), Err(StoreError::MergeBusy { .. })));
        drop(lock);
        drop(prepared);
        let report = dataset.merge(10).unwrap();
        assert_eq!(report, MergeReport { files_before: 3, files_after: 1, rows: 3 });
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
        // (A real schema-1 file would also lack `tolerance`, added in version 3; the footer's
        // version is what this test needs.)
        assert_eq!(batch.num_columns(), 42);
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
        let err = dataset.merge(100).unwrap_err();
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

    #[test]
    fn plan_packs_consecutive_files() {
        let files: Vec<(PathBuf, u64)> = [3, 1, 5, 9, 1, 1]
            .iter()
            .enumerate()
            .map(|(i, n)| (PathBuf::from(i.to_string()), *n))
            .collect();
        let groups: Vec<Vec<String>> = plan(&files, 5)
            .into_iter()
            .map(|g| g.iter().map(|p| p.display().to_string()).collect())
            .collect();
        assert_eq!(groups, [vec!["0", "1"], vec!["2"], vec!["3"], vec!["4", "5"]]);
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
        let merged = merged_footer(&[
            footer("10/16", "0.1.0"),
            footer("2/16,0/16", "0.2.0"),
            footer("2/16", "0.1.0"),
        ]);
        let get = |key: &str| merged.iter().find(|(k, _)| *k == key).unwrap().1.clone();
        assert_eq!(get(KEY_SHARD), "0/16,2/16,10/16");
        assert_eq!(get(KEY_LAZYRICH_VERSION), "0.1.0,0.2.0");
        assert_eq!(get(KEY_SPEC_HASH), "h1");
        assert_eq!(get(KEY_GIT_COMMIT), "");
    }
}
