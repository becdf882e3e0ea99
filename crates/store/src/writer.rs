//! `PartWriter`: buffers rows of one shard and publishes them as atomic part files.
//!
//! A flush groups the buffered rows by task kind and, for each kind, writes one Parquet file to
//! `_lazyrich/tmp/`, fsyncs it, renames it into `points/task=<kind>/` and fsyncs that directory.
//! A file in `points/` is therefore complete; a killed process loses only its unflushed rows and
//! leaves at most a temporary file, removed by the next open. The writer holds the lock
//! `_lazyrich/tmp/s<k>of<N>.lock`, so one shard has one writer at a time.
//!
//! With [`WriterOptions::encoders`] > 0, the writer's thread only buffers rows, cuts them into
//! files and names them; encoding, compression, writing and publishing happen on that many
//! encoder threads (`publish.rs`), so files may appear out of sequence order. Rows count as
//! published once their file is, and [`PartWriter::finish`] waits for every file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::SCHEMA_VERSION;
use crate::dataset::{Dataset, DatasetMeta};
use crate::durable::remove_if_exists;
use crate::error::StoreError;
use crate::layout;
use crate::lock::{Lock, lock_with_patience};
use crate::publish::{Done, Encoders, Job, publish};
use crate::row::PointRow;
use crate::schema::{
    KEY_CREATED, KEY_GIT_COMMIT, KEY_LAZYRICH_VERSION, KEY_SCHEMA_VERSION, KEY_SHARD,
    KEY_SPEC_HASH, KEY_SPEC_TEXT,
};
use crate::shards::{ShardLayout, claim};
use crate::time::now_rfc3339;

/// When a [`PartWriter`] flushes, and which shard it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct WriterOptions {
    /// Flush when this many rows are buffered (≥ 1).
    pub flush_points: usize,
    /// Flush when the oldest buffered row is this many seconds old (> 0; infinity: never).
    /// Checked on [`PartWriter::push`] and [`PartWriter::flush_if_due`].
    pub flush_seconds: f64,
    /// The shard `(k, N)` this writer's rows come from, `k < N`.
    pub shard: (u32, u32),
    /// Write this shard layout although an overlapping one is recorded in the manifest (its
    /// runs have finished); an overlapping layout running now still refuses the writer.
    pub relayout: bool,
    /// Encoder threads that encode, compress, write and publish full buffers while the
    /// writer's thread goes on buffering (at most this many files queued and this many being
    /// written). 0: the writer's own thread does it all, and a flush returns once its files
    /// are published.
    pub encoders: usize,
}

/// The most rows of a run's last file when the writer knows how many rows are still to come
/// ([`PartWriter::expect_rows`]).
pub const TAPER_FLOOR: u64 = 32;

/// What a writer published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterStats {
    /// Rows published over the writer's life.
    pub rows_published: u64,
    /// Part files published over the writer's life.
    pub files_published: u64,
}

/// Writes the rows of one shard of a dataset. Obtained from [`Dataset::writer`].
#[derive(Debug)]
pub struct PartWriter {
    root: PathBuf,
    meta: DatasetMeta,
    shard: (u32, u32),
    shard_text: String,
    flush_points: usize,
    flush_interval: Option<Duration>,
    buffer: Vec<PointRow>,
    /// Rows still expected from the caller ([`PartWriter::expect_rows`]), for the taper.
    expected: Option<u64>,
    oldest: Option<Instant>,
    next_seq: u64,
    stats: WriterStats,
    /// Before `lock`: dropped first, so that no file is written once the shard is released.
    encoders: Option<Encoders>,
    lock: Lock,
}

fn invalid(reason: impl Into<String>) -> StoreError {
    StoreError::InvalidOptions { reason: reason.into() }
}

fn flush_interval(seconds: f64) -> Result<Option<Duration>, StoreError> {
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(invalid(format!("flush_seconds must be positive, got {seconds}")));
    }
    // Beyond `Duration`'s range (including infinity) means never.
    Ok(Duration::try_from_secs_f64(seconds).ok())
}

/// The next sequence number of shard `(index, count)`: one past the highest published.
fn next_seq(root: &Path, index: u32, count: u32) -> Result<u64, StoreError> {
    let mut next = 0;
    for path in layout::part_files(root)? {
        if let Some((i, n, seq)) = layout::parse_part_name(layout::file_name(&path))
            && (i, n) == (index, count)
        {
            next = next.max(seq.saturating_add(1));
        }
    }
    Ok(next)
}

impl Dataset {
    /// A writer for the shard of `options`. Fails if the options are out of range, if the
    /// dataset was opened with [`Dataset::open`], if another writer holds the shard, or if the
    /// shard's layout overlaps one running now or one recorded in the manifest (unless
    /// `options.relayout`; see [`StoreError::LayoutRunning`], [`StoreError::LayoutConflict`]);
    /// the layout is then recorded in the manifest. Sequence numbers continue after the shard's
    /// highest published file.
    pub fn writer(&self, options: WriterOptions) -> Result<PartWriter, StoreError> {
        let Some(meta) = self.meta() else {
            return Err(StoreError::ReadOnly { root: self.root().to_owned() });
        };
        let (index, count) = options.shard;
        if count == 0 || index >= count {
            return Err(invalid(format!("shard {index}/{count} needs 0 <= k < N")));
        }
        if options.flush_points == 0 {
            return Err(invalid("flush_points must be at least 1"));
        }
        let flush_interval = flush_interval(options.flush_seconds)?;
        let root = self.root().to_owned();
        let lock_path = layout::shard_lock_path(&root, index, count);
        let lock = lock_with_patience(&lock_path)?.ok_or_else(|| StoreError::ShardBusy {
            shard: format!("{index}/{count}"),
            lock: lock_path.clone(),
        })?;
        claim(&root, ShardLayout { index, count }, options.relayout)?;
        // Leftovers of an earlier writer of this shard (its lock is ours now).
        for (name, path) in layout::list_names(&layout::tmp_dir(&root))? {
            if layout::parse_part_name(&name).is_some_and(|(i, n, _)| (i, n) == (index, count)) {
                remove_if_exists(&path)?;
            }
        }
        let next_seq = next_seq(&root, index, count)?;
        let encoders =
            if options.encoders == 0 { None } else { Some(Encoders::start(options.encoders)?) };
        Ok(PartWriter {
            root,
            meta: meta.clone(),
            shard: (index, count),
            shard_text: format!("{index}/{count}"),
            flush_points: options.flush_points,
            flush_interval,
            buffer: Vec::new(),
            expected: None,
            oldest: None,
            next_seq,
            stats: WriterStats { rows_published: 0, files_published: 0 },
            encoders,
            lock,
        })
    }
}

impl PartWriter {
    /// Buffers `row`, after setting its provenance columns (`spec_hash`, `schema_version`,
    /// `lazyrich_version`, `git_commit`, `shard`), and flushes when `flush_points` rows are
    /// buffered or the oldest is `flush_seconds` old. A task kind that cannot name a partition
    /// directory is refused.
    pub fn push(&mut self, mut row: PointRow) -> Result<(), StoreError> {
        if !layout::valid_task_kind(&row.task) {
            return Err(StoreError::InvalidRow {
                point_id: row.point_id,
                reason: format!(
                    "task kind '{}' cannot name a partition directory (use letters, digits, \
                     '_', '-', '.', '+')",
                    row.task
                ),
            });
        }
        row.spec_hash.clone_from(&self.meta.spec_hash);
        row.schema_version = SCHEMA_VERSION;
        row.lazyrich_version.clone_from(&self.meta.lazyrich_version);
        row.git_commit.clone_from(&self.meta.git_commit);
        row.shard.clone_from(&self.shard_text);
        self.buffer.push(row);
        self.oldest.get_or_insert_with(Instant::now);
        if let Some(left) = &mut self.expected {
            *left = left.saturating_sub(1);
        }
        if self.buffer.len() >= self.flush_points || self.tapers() {
            return self.flush();
        }
        self.flush_if_due().map(|_| ())
    }

    /// Tells the writer that `rows` more rows will be pushed before [`PartWriter::finish`]
    /// (a hint: more or fewer are still written as usual), so that the run's last files are
    /// small. When every file holds `flush_points` rows, the last file of a run is encoded
    /// after its last point: with encoder threads, its whole encoding (45 ms for the 1000 rows
    /// of the default record) is added to the run's time while the computing threads are
    /// idle. With this hint and encoder threads ([`WriterOptions::encoders`] > 0), the writer
    /// also flushes whenever the rows still expected fall to a power of two from
    /// [`TAPER_FLOOR`] up to below `flush_points` (512, 256, …, 32 for 1000): each of these
    /// files is encoded while the rows of the next, half as many, are computed, and the last
    /// holds at most [`TAPER_FLOOR`] rows. That is at most `log₂(flush_points / TAPER_FLOOR)`
    /// more files per run. Without encoder threads a file is encoded as it is cut, so there is
    /// nothing to overlap and the hint changes nothing.
    pub fn expect_rows(&mut self, rows: u64) {
        self.expected = Some(rows);
    }

    /// Whether the rows still expected have just fallen to a step of the taper
    /// ([`PartWriter::expect_rows`]).
    fn tapers(&self) -> bool {
        // Without encoder threads a file is encoded as it is cut, before the next row is even
        // pushed: smaller files would overlap nothing.
        self.encoders.is_some()
            && self.expected.is_some_and(|left| {
                (TAPER_FLOOR..self.flush_points as u64).contains(&left) && left.is_power_of_two()
            })
    }

    /// Flushes if the oldest buffered row is `flush_seconds` old; returns whether it flushed.
    /// For callers that wait for rows, so that a slow stream still reaches the disk. With
    /// encoder threads, also counts the files they have published since (and returns the
    /// first error of a file that failed: its rows are buffered again).
    pub fn flush_if_due(&mut self) -> Result<bool, StoreError> {
        self.collect()?;
        let due = match (self.oldest, self.flush_interval) {
            (Some(oldest), Some(interval)) => oldest.elapsed() >= interval,
            _ => false,
        };
        if due {
            self.flush()?;
        }
        Ok(due)
    }

    /// Publishes every buffered row: one file per task kind. If publishing one kind fails, the
    /// files published before stay, the failed file's temporary is removed, its rows and those
    /// of the kinds not yet written stay buffered, and the error is returned.
    ///
    /// With encoder threads, hands the files to them instead (waiting while their queue is
    /// full) and returns without waiting for them; a file that fails is reported by a later
    /// call (this one, [`PartWriter::flush_if_due`], [`PartWriter::push`],
    /// [`PartWriter::wait`] or [`PartWriter::finish`]), its rows buffered again.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.collect()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut by_task: BTreeMap<String, Vec<PointRow>> = BTreeMap::new();
        for row in std::mem::take(&mut self.buffer) {
            by_task.entry(row.task.clone()).or_default().push(row);
        }
        let mut pending = by_task.into_iter();
        while let Some((task, rows)) = pending.next() {
            let job = self.job(&task, rows);
            if let Some(encoders) = &mut self.encoders {
                encoders.submit(job);
                continue;
            }
            if let Err(e) = publish(&job) {
                self.buffer = job.rows;
                self.buffer.extend(pending.flat_map(|(_, rows)| rows));
                return Err(e);
            }
            self.stats.rows_published += job.rows.len() as u64;
            self.stats.files_published += 1;
        }
        self.oldest = None;
        self.collect()
    }

    /// Waits until every file handed to the encoder threads is published or has failed; the
    /// first failure is returned (its rows are buffered again). Without encoder threads,
    /// nothing is ever pending.
    pub fn wait(&mut self) -> Result<(), StoreError> {
        let done = self.encoders.as_mut().map(Encoders::wait_all).unwrap_or_default();
        self.account(done)
    }

    /// Counts the files the encoder threads have finished, without waiting.
    fn collect(&mut self) -> Result<(), StoreError> {
        let done = self.encoders.as_mut().map(Encoders::finished).unwrap_or_default();
        self.account(done)
    }

    fn account(&mut self, done: Vec<Done>) -> Result<(), StoreError> {
        let mut first = None;
        for done in done {
            match done {
                Done::Published(rows) => {
                    self.stats.rows_published += rows;
                    self.stats.files_published += 1;
                }
                Done::Failed(e, rows) => {
                    // Nothing of these rows is on disk: they are buffered again, oldest first.
                    self.buffer.splice(0..0, rows);
                    self.oldest.get_or_insert_with(Instant::now);
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn footer(&self) -> Vec<(&'static str, String)> {
        vec![
            (KEY_SPEC_TEXT, self.meta.spec_text.clone()),
            (KEY_SPEC_HASH, self.meta.spec_hash.clone()),
            (KEY_SHARD, self.shard_text.clone()),
            (KEY_SCHEMA_VERSION, SCHEMA_VERSION.to_string()),
            (KEY_CREATED, now_rfc3339()),
            (KEY_LAZYRICH_VERSION, self.meta.lazyrich_version.clone()),
            (KEY_GIT_COMMIT, self.meta.git_commit.clone()),
        ]
    }

    /// The next file of task `task`, with `rows`: its name allocated, its footer written.
    fn job(&mut self, task: &str, rows: Vec<PointRow>) -> Job {
        let (index, count) = self.shard;
        let partition = layout::partition_dir(&self.root, task);
        // Never overwrite: skip names taken (e.g. by a writer on another machine).
        let name = loop {
            let name = layout::part_name(index, count, self.next_seq);
            self.next_seq += 1;
            if !partition.join(&name).exists() {
                break name;
            }
        };
        let temp = layout::tmp_dir(&self.root).join(&name);
        Job { temp, partition, name, footer: self.footer(), rows }
    }

    /// Flushes the remaining rows, waits for every file to be published, and releases the
    /// shard.
    pub fn finish(mut self) -> Result<WriterStats, StoreError> {
        self.flush()?;
        self.wait()?;
        // Everything is published: the shard's lock file goes (a finished shard leaves none;
        // a killed writer's stays, unlocked, and the next writer of the shard removes it).
        self.lock.release_and_remove()?;
        Ok(self.stats)
    }

    /// Rows published so far.
    pub fn rows_published(&self) -> u64 {
        self.stats.rows_published
    }

    /// Rows buffered and not yet handed to be published.
    pub fn rows_buffered(&self) -> usize {
        self.buffer.len()
    }

    /// Files handed to the encoder threads and not yet counted as published or failed.
    pub fn files_in_flight(&self) -> usize {
        self.encoders.as_ref().map_or(0, Encoders::in_flight)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::thread::sleep;

    use super::*;
    use crate::part::{read_batches, read_footer};
    use crate::schema::{FOOTER_KEYS, describe_type};
    use crate::testutil::{TempDir, meta, options, sample_row, tmp_leftovers, write_rows};

    fn dataset(dir: &TempDir) -> Dataset {
        Dataset::create_or_open(&dir.path().join("out"), &meta("h1")).unwrap()
    }

    fn names(paths: &[PathBuf], root: &Path) -> Vec<String> {
        paths.iter().map(|p| p.strip_prefix(root).unwrap().display().to_string()).collect()
    }

    /// Rows as the writer stores them: provenance from the dataset and shard 0/1.
    fn as_stored(mut row: PointRow) -> PointRow {
        let m = meta("h1");
        row.spec_hash = m.spec_hash;
        row.lazyrich_version = m.lazyrich_version;
        row.git_commit = m.git_commit;
        row.shard = "0/1".into();
        row.schema_version = SCHEMA_VERSION;
        row
    }

    #[test]
    fn rows_round_trip_bitwise_with_footer_and_schema() {
        let dir = TempDir::new("roundtrip");
        let dataset = dataset(&dir);
        let mut rows: Vec<PointRow> = (0..6).map(|id| sample_row(id, "random")).collect();
        rows[1].spec_hash = "overwritten by the writer".into();
        write_rows(&dataset, &rows, 100);

        let back = dataset.read_rows().unwrap();
        let expected: Vec<PointRow> = rows.into_iter().map(as_stored).collect();
        assert_eq!(back, expected);
        assert_eq!(format!("{back:?}"), format!("{expected:?}"), "bitwise");

        let files = dataset.part_files().unwrap();
        assert_eq!(
            names(&files, dataset.root()),
            ["points/task=random/part-s0000of0001-000000.parquet"]
        );
        let footer = read_footer(&files[0]).unwrap();
        for key in FOOTER_KEYS {
            assert!(footer.metadata.contains_key(key), "missing footer key {key}");
        }
        let m = meta("h1");
        let get = |key: &str| footer.metadata[key].clone();
        assert_eq!(get("lazyrich.spec_text"), m.spec_text);
        assert_eq!(get("lazyrich.spec_hash"), "h1");
        assert_eq!(get("lazyrich.shard"), "0/1");
        assert_eq!(get("lazyrich.schema_version"), "4");
        assert_eq!(get("lazyrich.lazyrich_version"), "0.1.0");
        assert_eq!(get("lazyrich.git_commit"), "abc1234");
        assert_eq!(get("lazyrich.created").len(), 20);

        // The schema stored in the file, column by column.
        let file = fs::File::open(&files[0]).unwrap();
        let builder =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let listing: Vec<String> = builder
            .schema()
            .fields()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}{}",
                    f.name(),
                    describe_type(f.data_type()),
                    if f.is_nullable() { "?" } else { "" }
                )
            })
            .collect();
        let expected_listing = "\
point_id: u64
seed: u64
block: u32
replicate: u32
spec_hash: dict<utf8>
schema_version: u32
lazyrich_version: dict<utf8>
git_commit: dict<utf8>
shard: dict<utf8>
lambda: f64?
lambdas: list<f64>
lambda_ft: f64?
scale: f64?
depth: u32
widths: list<u32>
n_in: u32
n_hidden: u32
n_out: u32
task: dict<utf8>
task_params: utf8
task_samples: u32?
n_phases: u32
init: dict<utf8>
method: dict<utf8>
lr: f64?
dt: f64?
status: dict<utf8>
error: utf8?
lambda_measured: f64?
balance_defect: f64?
balance_entry_defect: f64?
t_end: f64?
initial_loss: f64?
final_loss: f64?
t90: f64?
escape_time: f64?
kernel_distance_end: f64?
balance_drift: f64?
tolerance: f64?
cf_sim_error: f64?
wall_time_s: f64
t: list<f64>
phase: list<u32>
loss: list<f64>
task_losses: list<list<f64>>
kernel_distance: list<f64>
singular_values: list<list<f64>>
sim_loss: list<f64>
phase_t_start: list<f64>
phase_t_end: list<f64>
phase_task_losses: list<list<f64>>
phase_t_half: list<f64?>
phase_kernel_distance: list<f64>
phase_rep_change_in: list<f64>
phase_rep_change_out: list<f64>
phase_tsc_in: list<f64>
phase_tsc_out: list<f64>
forgetting: list<list<f64>>
forgetting_formula: list<list<f64>>
qqt_t: list<f64>
qqt: list<list<f64>>";
        assert_eq!(listing.join("\n"), expected_listing);

        // zstd, dictionary-encoded strings, the per-time float series byte-stream split (and
        // only they), statistics on the numeric scalar columns only (`stats.rs`).
        let metadata = builder.metadata();
        let row_group = metadata.row_group(0);
        let series = ["loss", "task_losses", "kernel_distance", "singular_values", "sim_loss"];
        for column in row_group.columns() {
            assert_eq!(column.compression(), parquet::basic::Compression::ZSTD(Default::default()));
            let path = column.column_path().string();
            let split =
                column.encodings().any(|e| e == parquet::basic::Encoding::BYTE_STREAM_SPLIT);
            let root = path.split('.').next().unwrap();
            assert_eq!(
                split,
                series.contains(&root),
                "{path}: {:?}",
                column.encodings().collect::<Vec<_>>()
            );
            let numeric = matches!(
                column.column_type(),
                parquet::basic::Type::INT32
                    | parquet::basic::Type::INT64
                    | parquet::basic::Type::DOUBLE
            ) && !path.contains('.');
            assert_eq!(column.statistics().is_some(), numeric, "{path}");
        }
        let status =
            row_group.columns().iter().find(|c| c.column_path().string() == "status").unwrap();
        assert!(status.dictionary_page_offset().is_some());
    }

    #[test]
    fn a_writer_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<PartWriter>();
    }

    #[test]
    fn rows_split_into_one_file_per_task_under_hive_partitions() {
        let dir = TempDir::new("hive");
        let dataset = dataset(&dir);
        let rows = [sample_row(1, "random"), sample_row(2, "hierarchy"), sample_row(3, "random")];
        write_rows(&dataset, &rows, 100);
        let files = dataset.part_files().unwrap();
        assert_eq!(
            names(&files, dataset.root()),
            [
                "points/task=hierarchy/part-s0000of0001-000000.parquet",
                "points/task=random/part-s0000of0001-000001.parquet",
            ]
        );
        let tasks: Vec<String> = dataset.read_rows().unwrap().into_iter().map(|r| r.task).collect();
        assert_eq!(tasks, ["hierarchy", "random", "random"]);
    }

    #[test]
    fn flushes_by_count_and_done_ids_holds_exactly_the_flushed_rows() {
        let dir = TempDir::new("count");
        let dataset = dataset(&dir);
        let rows: Vec<PointRow> = (0..7).map(|id| sample_row(id, "random")).collect();
        let mut writer = dataset.writer(options(3)).unwrap();
        for row in &rows {
            writer.push(row.clone()).unwrap();
        }
        assert_eq!(writer.rows_published(), 6);
        assert_eq!(writer.rows_buffered(), 1);
        assert_eq!(dataset.part_files().unwrap().len(), 2);
        let flushed: std::collections::HashSet<u64> =
            rows[..6].iter().map(|r| r.point_id).collect();
        assert_eq!(dataset.done_ids().unwrap(), flushed);
        let stats = writer.finish().unwrap();
        assert_eq!(stats, WriterStats { rows_published: 7, files_published: 3 });
        assert_eq!(dataset.done_ids().unwrap().len(), 7);
        assert_eq!(dataset.n_rows().unwrap(), 7);
    }

    #[test]
    fn flushes_by_time() {
        let dir = TempDir::new("time");
        let dataset = dataset(&dir);
        let options = WriterOptions {
            flush_points: 1_000_000,
            flush_seconds: 0.2,
            shard: (0, 1),
            relayout: false,
            encoders: 0,
        };
        let mut writer = dataset.writer(options).unwrap();
        for id in 0..3 {
            writer.push(sample_row(id, "random")).unwrap();
            sleep(Duration::from_millis(250));
            assert!(writer.flush_if_due().unwrap());
        }
        writer.push(sample_row(3, "random")).unwrap();
        sleep(Duration::from_millis(250));
        writer.push(sample_row(4, "random")).unwrap();
        assert_eq!(writer.rows_buffered(), 0);
        assert_eq!(dataset.part_files().unwrap().len(), 4);
        assert_eq!(writer.rows_published(), 5);
    }

    #[test]
    fn a_killed_writer_loses_only_unflushed_rows_and_leftovers_are_cleaned() {
        let dir = TempDir::new("kill");
        let dataset = dataset(&dir);
        let mut writer = dataset.writer(options(2)).unwrap();
        for id in 0..5 {
            writer.push(sample_row(id, "random")).unwrap();
        }
        // A crash mid-flush leaves a partial temporary file; then the process dies.
        let leftover = dataset.root().join("_lazyrich/tmp/part-s0000of0001-000002.parquet");
        fs::write(&leftover, b"PAR1 half a file").unwrap();
        drop(writer);

        let reopened = Dataset::create_or_open(dataset.root(), &meta("h1")).unwrap();
        assert!(!leftover.exists());
        assert_eq!(reopened.done_ids().unwrap().len(), 4);
        for path in reopened.part_files().unwrap() {
            read_batches(&path, None, |_| Ok(())).unwrap();
        }
        // The resumed writer continues after the highest sequence number.
        write_rows(&reopened, &[sample_row(4, "random")], 10);
        let files = reopened.part_files().unwrap();
        assert_eq!(
            names(&files, reopened.root()),
            [
                "points/task=random/part-s0000of0001-000000.parquet",
                "points/task=random/part-s0000of0001-000001.parquet",
                "points/task=random/part-s0000of0001-000002.parquet",
            ]
        );
        assert_eq!(reopened.done_ids().unwrap().len(), 5);
    }

    #[test]
    fn the_temporary_files_of_a_live_writer_survive_another_open() {
        let dir = TempDir::new("live");
        let dataset = dataset(&dir);
        let writer = dataset.writer(WriterOptions { shard: (1, 2), ..options(10) }).unwrap();
        let in_flight = dataset.root().join("_lazyrich/tmp/part-s0001of0002-000000.parquet");
        fs::write(&in_flight, b"being written").unwrap();
        let stale = dataset.root().join("_lazyrich/tmp/part-s0000of0002-000000.parquet");
        fs::write(&stale, b"dead writer").unwrap();
        Dataset::create_or_open(dataset.root(), &meta("h1")).unwrap();
        assert!(in_flight.exists());
        assert!(!stale.exists());
        let err = dataset.writer(WriterOptions { shard: (1, 2), ..options(10) }).unwrap_err();
        assert!(matches!(err, StoreError::ShardBusy { .. }), "{err}");
        drop(writer);
        Dataset::open(dataset.root()).unwrap();
        assert!(!in_flight.exists());
    }

    #[test]
    fn a_write_failure_names_the_path_and_keeps_earlier_files() {
        let dir = TempDir::new("fail");
        let dataset = dataset(&dir);
        let mut writer = dataset.writer(options(1)).unwrap();
        writer.push(sample_row(1, "random")).unwrap();
        let before = dataset.part_files().unwrap();

        // A file where the partition directory should be.
        let blocker = dataset.root().join("points/task=hierarchy");
        fs::write(&blocker, b"not a directory").unwrap();
        let err = writer.push(sample_row(2, "hierarchy")).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("failed to create directory {}", blocker.display())),
            "{err}"
        );
        assert_eq!(writer.rows_buffered(), 1);
        let tmp = dataset.root().join("_lazyrich/tmp");
        let leftovers: Vec<_> =
            tmp_leftovers(dataset.root()).into_iter().filter(|n| n.ends_with(".parquet")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        fs::remove_file(&blocker).unwrap();

        // A file where the temporary directory should be.
        fs::rename(&tmp, dataset.root().join("tmp-aside")).unwrap();
        fs::write(&tmp, b"not a directory").unwrap();
        let err = writer.flush().unwrap_err().to_string();
        let temp = tmp.join("part-s0000of0001-000002.parquet");
        assert!(err.starts_with(&format!("failed to create {}: ", temp.display())), "{err}");

        assert_eq!(dataset.part_files().unwrap(), before);
        assert_eq!(dataset.read_rows().unwrap(), vec![as_stored(sample_row(1, "random"))]);
        fs::remove_file(&tmp).unwrap();
        fs::rename(dataset.root().join("tmp-aside"), &tmp).unwrap();
        writer.flush().unwrap();
        assert_eq!(dataset.done_ids().unwrap().len(), 2);
    }

    /// Encoder threads publish the same files under the same names as the writer's own thread
    /// (one per full buffer and task kind, sequence numbers allocated in order); `finish`
    /// waits for all of them and counts exactly the rows on disk.
    #[test]
    fn encoder_threads_publish_the_same_files_and_finish_waits_for_them() {
        let rows: Vec<PointRow> = (0..23)
            .map(|id| sample_row(id, if id % 5 == 0 { "hierarchy" } else { "random" }))
            .collect();
        let mut listings = Vec::new();
        for encoders in [0, 1, 3] {
            let dir = TempDir::new(&format!("encoders-{encoders}"));
            let dataset = dataset(&dir);
            let mut writer = dataset.writer(WriterOptions { encoders, ..options(4) }).unwrap();
            for row in &rows {
                writer.push(row.clone()).unwrap();
            }
            let stats = writer.finish().unwrap();
            assert_eq!(stats.rows_published, 23, "{encoders} encoders");
            let mut back = dataset.read_rows().unwrap();
            back.sort_by_key(|r| r.point_id);
            let mut expected: Vec<PointRow> = rows.iter().cloned().map(as_stored).collect();
            expected.sort_by_key(|r| r.point_id);
            assert!(format!("{back:?}") == format!("{expected:?}"), "{encoders} encoders");
            assert_eq!(dataset.part_files().unwrap().len() as u64, stats.files_published);
            assert!(tmp_leftovers(dataset.root()).iter().all(|n| !n.ends_with(".parquet")));
            listings.push(names(&dataset.part_files().unwrap(), dataset.root()));
        }
        assert_eq!(listings[0], listings[1]);
        assert_eq!(listings[0], listings[2]);
    }

    /// The rows of each part file, in sequence order.
    fn rows_per_file(dataset: &Dataset) -> Vec<i64> {
        let mut files = dataset.part_files().unwrap();
        files.sort();
        files
            .iter()
            .map(|path| {
                let file = fs::File::open(path).unwrap();
                parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .metadata()
                    .file_metadata()
                    .num_rows()
            })
            .collect()
    }

    /// Told how many rows are still to come, the writer also flushes where that number falls
    /// to a power of two from `TAPER_FLOOR` up to below `flush_points`, so that the last file
    /// holds at most `TAPER_FLOOR` rows; a hint below the rows pushed only stops tapering (the
    /// count saturates), and without a hint or without encoder threads the files are cut every
    /// `flush_points` rows. Every row is published once whichever way.
    #[test]
    fn told_the_rows_to_come_the_writer_tapers_its_last_files() {
        let rows: Vec<PointRow> = (0..230).map(|id| sample_row(id, "random")).collect();
        for (hint, encoders, expected) in [
            // 100 rows; 64 still expected after row 166: 66; 32 after row 198: 32; the rest.
            (Some(230), 1, vec![100, 66, 32, 32]),
            (Some(230), 2, vec![100, 66, 32, 32]),
            // Without encoder threads there is nothing to overlap: no taper.
            (Some(230), 0, vec![100, 100, 30]),
            (Some(10), 1, vec![100, 100, 30]),
            (None, 1, vec![100, 100, 30]),
        ] {
            let dir = TempDir::new("taper");
            let dataset = dataset(&dir);
            let mut writer = dataset.writer(WriterOptions { encoders, ..options(100) }).unwrap();
            if let Some(rows) = hint {
                writer.expect_rows(rows);
            }
            for row in &rows {
                writer.push(row.clone()).unwrap();
            }
            let stats = writer.finish().unwrap();
            let what = format!("hint {hint:?}, {encoders} encoders");
            assert_eq!(rows_per_file(&dataset), expected, "{what}");
            assert_eq!(stats.rows_published, 230, "{what}");
            assert_eq!(stats.files_published, expected.len() as u64, "{what}");
            let mut back = dataset.read_rows().unwrap();
            back.sort_by_key(|r| r.point_id);
            let mut stored: Vec<PointRow> = rows.iter().cloned().map(as_stored).collect();
            stored.sort_by_key(|r| r.point_id);
            assert!(format!("{back:?}") == format!("{stored:?}"), "{what}");
        }
        assert_eq!(TAPER_FLOOR, 32, "the expected files above assume a floor of 32");
    }

    /// A file that fails on an encoder thread: the same error as on the writer's own thread,
    /// reported by a later call, its rows buffered again, the files published before kept;
    /// once the cause is gone, `finish` publishes them.
    #[test]
    fn a_failure_on_an_encoder_thread_is_reported_and_loses_nothing() {
        let dir = TempDir::new("encoder-fail");
        let dataset = dataset(&dir);
        let mut writer = dataset.writer(WriterOptions { encoders: 2, ..options(1) }).unwrap();
        writer.push(sample_row(1, "random")).unwrap();
        writer.wait().unwrap();
        assert_eq!(writer.rows_published(), 1);
        let before = dataset.part_files().unwrap();

        let blocker = dataset.root().join("points/task=hierarchy");
        fs::write(&blocker, b"not a directory").unwrap();
        // The push hands the file over; the failure comes back from `wait`.
        let _ = writer.push(sample_row(2, "hierarchy"));
        let err = writer.wait().unwrap_err().to_string();
        assert!(
            err.starts_with(&format!("failed to create directory {}", blocker.display())),
            "{err}"
        );
        assert_eq!((writer.rows_buffered(), writer.files_in_flight()), (1, 0));
        assert_eq!(writer.rows_published(), 1);
        assert_eq!(dataset.part_files().unwrap(), before);
        let leftovers: Vec<_> =
            tmp_leftovers(dataset.root()).into_iter().filter(|n| n.ends_with(".parquet")).collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");

        fs::remove_file(&blocker).unwrap();
        let stats = writer.finish().unwrap();
        assert_eq!(stats, WriterStats { rows_published: 2, files_published: 2 });
        assert_eq!(dataset.done_ids().unwrap().len(), 2);
    }

    /// Dropped with files queued (a run failing elsewhere), the writer lets its encoder threads
    /// finish them before it releases the shard: every file is whole, none half-written.
    #[test]
    fn a_dropped_writer_finishes_its_queued_files_before_releasing_the_shard() {
        let dir = TempDir::new("encoder-drop");
        let dataset = dataset(&dir);
        let mut writer = dataset.writer(WriterOptions { encoders: 2, ..options(2) }).unwrap();
        for id in 0..9 {
            writer.push(sample_row(id, "random")).unwrap();
        }
        drop(writer);
        assert!(tmp_leftovers(dataset.root()).iter().all(|n| !n.ends_with(".parquet")));
        assert_eq!(dataset.done_ids().unwrap().len(), 8);
        shard_writer(&dataset, "0/1", false).unwrap();
    }

    #[test]
    fn bad_options_and_rows_are_errors() {
        let dir = TempDir::new("options");
        let dataset = dataset(&dir);
        let bad = [
            (WriterOptions { flush_points: 0, ..options(1) }, "flush_points must be at least 1"),
            (
                WriterOptions { flush_seconds: f64::NAN, ..options(1) },
                "flush_seconds must be positive, got NaN",
            ),
            (
                WriterOptions { flush_seconds: 0.0, ..options(1) },
                "flush_seconds must be positive, got 0",
            ),
            (WriterOptions { shard: (2, 2), ..options(1) }, "shard 2/2 needs 0 <= k < N"),
            (WriterOptions { shard: (0, 0), ..options(1) }, "shard 0/0 needs 0 <= k < N"),
        ];
        for (options, reason) in bad {
            let err = dataset.writer(options).unwrap_err();
            assert_eq!(err.to_string(), format!("invalid options: {reason}"));
        }
        let never = WriterOptions { flush_seconds: f64::INFINITY, ..options(1) };
        let mut writer = dataset.writer(never).unwrap();
        let err = writer.push(sample_row(1, "../escape")).unwrap_err().to_string();
        assert!(err.contains("task kind '../escape' cannot name a partition directory"), "{err}");
        let read_only = Dataset::open(dataset.root()).unwrap();
        assert!(matches!(read_only.writer(options(1)), Err(StoreError::ReadOnly { .. })));
    }

    fn shard_writer(
        dataset: &Dataset,
        shard: &str,
        relayout: bool,
    ) -> Result<PartWriter, StoreError> {
        let (index, count) = shard.split_once('/').unwrap();
        let shard = (index.parse().unwrap(), count.parse().unwrap());
        dataset.writer(WriterOptions { shard, relayout, ..options(10) })
    }

    /// The reproduction: an unsharded run and `--shard 0/2` at the same time into one directory
    /// both ran (752 rows for 510 points). Whichever claims second is refused.
    #[test]
    fn a_layout_overlapping_a_running_one_is_refused() {
        let dir = TempDir::new("layout-live");
        let dataset = dataset(&dir);
        let half = shard_writer(&dataset, "0/2", false).unwrap();
        let err = shard_writer(&dataset, "0/1", false).unwrap_err();
        let lock = dataset.root().join("_lazyrich/tmp/s0000of0002.lock");
        assert_eq!(
            err.to_string(),
            format!(
                "the unsharded run (0/1) would compute points that shard 0/2 is computing now \
                 into {} (it holds {}): wait until it has finished, or run a shard layout that \
                 does not overlap it (shards k/N and j/M share points when k and j are equal \
                 modulo gcd(N, M))",
                dataset.root().display(),
                lock.display()
            )
        );
        // --relayout does not get past a running layout.
        assert!(matches!(
            shard_writer(&dataset, "2/4", true),
            Err(StoreError::LayoutRunning { .. })
        ));
        // Layouts that share no point run alongside, and are recorded.
        let other_half = shard_writer(&dataset, "1/2", false).unwrap();
        drop(other_half);
        let quarter = shard_writer(&dataset, "1/4", true).unwrap();
        assert_eq!(
            dataset.layouts().unwrap(),
            crate::shards::Layouts {
                recorded: vec!["0/2".into(), "1/2".into(), "1/4".into()],
                running: vec!["0/2".into(), "1/4".into()]
            }
        );
        drop((half, quarter));
        assert!(dataset.layouts().unwrap().running.is_empty());
    }

    /// Recorded layouts bind the directory: an overlapping layout needs `relayout` (the way out
    /// once the recorded runs have finished); the same layout resumes.
    #[test]
    fn a_layout_overlapping_a_recorded_one_needs_relayout() {
        let dir = TempDir::new("layout-recorded");
        let dataset = dataset(&dir);
        for shard in ["0/2", "1/2"] {
            let mut w = shard_writer(&dataset, shard, false).unwrap();
            w.push(sample_row(u64::from(shard == "1/2"), "random")).unwrap();
            w.finish().unwrap();
        }
        let err = shard_writer(&dataset, "0/1", false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} holds results of the shard layouts 0/2, 1/2 (recorded in its manifest), and \
                 the unsharded run (0/1) overlaps 0/2: mixing overlapping layouts can compute \
                 points twice. Run with a recorded layout, or, once no run of 0/2 is going on \
                 any more (on any machine), add --relayout to run this layout anyway (points \
                 already present are skipped)",
                dataset.root().display()
            )
        );
        assert!(matches!(
            shard_writer(&dataset, "2/4", false),
            Err(StoreError::LayoutConflict { .. })
        ));
        shard_writer(&dataset, "1/2", false).unwrap(); // resume
        shard_writer(&dataset, "0/1", true).unwrap(); // the way out
        // 2/4 overlaps the recorded 0/2 and 0/1: refused, and not recorded.
        assert!(matches!(
            shard_writer(&dataset, "2/4", false),
            Err(StoreError::LayoutConflict { .. })
        ));
        let manifest = crate::manifest::read_manifest(dataset.root()).unwrap().unwrap();
        assert_eq!(manifest.layouts, ["0/1", "0/2", "1/2"]);
    }

    /// A full disk while the manifest records a layout: the writer is refused, the manifest
    /// stays as it was and no temporary file is left.
    #[test]
    fn a_failed_manifest_update_keeps_the_old_manifest_and_no_temporary_file() {
        let dir = TempDir::new("layout-enospc");
        let dataset = dataset(&dir);
        let path = dataset.root().join("_lazyrich/manifest.json");
        let before = std::fs::read(&path).unwrap();
        crate::durable::fault::set_full_disk(true);
        let err = shard_writer(&dataset, "0/1", false);
        crate::durable::fault::set_full_disk(false);
        let err = err.unwrap_err();
        assert!(matches!(err, StoreError::Io { action: "write", .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before);
        let names: Vec<String> = layout::list_names(&dataset.root().join("_lazyrich"))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["manifest.json", "spec.toml", "tmp"]);
        shard_writer(&dataset, "0/1", false).unwrap();
    }
}
