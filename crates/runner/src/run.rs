//! Driving one shard of a sweep: resume index, rayon workers, bounded channel, one writer.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use crossbeam_channel::{RecvTimeoutError, bounded};
use lazyrich_store::{Dataset, DatasetMeta, PointRow, WriterOptions};
use lazyrich_sweep::{Point, Shard, Spec};
use rayon::prelude::*;

use crate::compute::{SetupCache, compute_point_with};
use crate::error::RunnerError;
use crate::validate::validate;

/// How to run a shard.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// Worker threads (≥ 1).
    pub threads: usize,
    /// Which shard of the spec's points to run.
    pub shard: Shard,
    /// Publish a part file at least every this many rows…
    pub flush_points: usize,
    /// …and at least every this many seconds.
    pub flush_seconds: f64,
    /// Capacity of the channel from the workers to the writer (backpressure).
    pub channel_capacity: usize,
    /// Version and commit of the build, recorded in every row.
    pub lazyrich_version: String,
    /// Git commit of the build.
    pub git_commit: String,
    /// Run this shard layout although an overlapping one is recorded in the dataset (its runs
    /// have finished; see `lazyrich_store::WriterOptions::relayout`).
    pub relayout: bool,
    /// Set (by a signal handler, say) to stop the run early: no new point is started, every
    /// point already computed is published, and the run returns with
    /// [`RunSummary::stopped`] set. `None`: the run cannot be stopped this way.
    pub stop: Option<Arc<AtomicBool>>,
    /// Accept a dataset of another spec and make this spec its current one (`run --extend`;
    /// see `lazyrich_store::Dataset::create_or_extend`): points already present are skipped
    /// whichever spec computed them.
    pub extend: bool,
    /// Parquet encoder threads (their own threads, beside the `threads` workers); `None`: one
    /// per 4 workers, rounded up.
    pub encoders: Option<usize>,
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Distinct points of this shard (after filters; a point id at several raw indices counts
    /// once).
    pub total: u64,
    /// Points skipped because their rows were already published (resume).
    pub already_done: u64,
    /// Points computed in this run.
    pub computed: u64,
    /// Computed points whose status is not `ok`.
    pub not_ok: u64,
    /// Rows published by this run.
    pub published: u64,
    /// The run was stopped through [`RunOptions::stop`] before it had computed every point of
    /// its shard (the points it computed are published all the same).
    pub stopped: bool,
    /// The dataset held another spec, which this run replaced as its current one
    /// ([`RunOptions::extend`]).
    pub extended: bool,
}

/// Progress callbacks, called from the writer thread.
pub trait Observer: Sync {
    /// Before any point: the shard's total and how many were already done.
    fn started(&self, _total: u64, _already_done: u64) {}
    /// A point was computed (its status: `ok`, `singular`, …).
    fn point_finished(&self, _status: &str) {}
    /// Rows published so far by this run.
    fn published(&self, _rows: u64) {}
    /// Before any point: a part file failed verification and was moved to the quarantine;
    /// its points are computed again (if they belong to this shard).
    fn quarantined(&self, _file: &lazyrich_store::Quarantined) {}
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct SilentObserver;

impl Observer for SilentObserver {}

/// Why the workers stopped before the end of the shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Interrupted {
    /// [`RunOptions::stop`] was set.
    Stop,
    /// The writer thread has stopped (its error is the run's).
    WriterGone,
}

/// Encoder threads of a run on `threads` workers: one per 4 workers, rounded up. On a 16-core
/// machine (README, "Thread scaling") one encoder thread published 17 000 rows/s of the default
/// record (8-8-8 closed form, 100 times, singular values) and one core computed 3 300 such
/// points/s; 16 workers ran at 26 100 points/s with 2 encoders (the earlier one per 6), 29 800
/// with 4 and 31 100 with 8, and without singular values at 75 100, 81 200 and 79 900. An idle
/// encoder thread waits on its queue and takes no CPU; each holds at most two part files.
fn encoder_threads(threads: usize) -> usize {
    threads.div_ceil(4).max(1)
}

/// Runs (or resumes) one shard of `spec` into the dataset at `out`.
///
/// Points already published in `out` are skipped (every published file is verified first; a
/// damaged one is quarantined and its points computed again); a point id seen twice in the spec
/// is computed once. Rows are flushed at least every `flush_points` rows or `flush_seconds` seconds, so a
/// killed run loses at most that window (and the files its encoder threads are still writing)
/// and a re-run resumes without duplicates. A dataset of
/// another spec is refused, and so is a dataset holding part files of another spec, or a shard
/// layout that overlaps one running or recorded there (unless `relayout`; see
/// `lazyrich_store::Dataset::writer`).
pub fn run(
    spec: &Spec,
    out: &Path,
    options: &RunOptions,
    observer: &dyn Observer,
) -> Result<RunSummary, RunnerError> {
    let shard = options.shard;
    if !shard.is_valid() {
        return Err(RunnerError::Shard { index: shard.index, count: shard.count });
    }
    validate(spec)?;
    let meta = DatasetMeta {
        spec_name: spec.name().to_owned(),
        spec_hash: spec.hash_hex(),
        spec_text: spec.text().to_owned(),
        lazyrich_version: options.lazyrich_version.clone(),
        git_commit: options.git_commit.clone(),
    };
    let (dataset, extended) = if options.extend {
        Dataset::create_or_extend(out, &meta)?
    } else {
        (Dataset::create_or_open(out, &meta)?, false)
    };
    // The writer first: it locks the shard and claims its layout (refused if it overlaps
    // another running or recorded layout), so that no overlapping run reads the same resume
    // index and computes the same points.
    let mut writer = dataset.writer(WriterOptions {
        flush_points: options.flush_points.max(1),
        flush_seconds: options.flush_seconds,
        shard: (shard.index, shard.count),
        relayout: options.relayout,
        encoders: options.encoders.unwrap_or_else(|| encoder_threads(options.threads)).max(1),
    })?;
    // The shard's distinct point ids: one id can appear at several raw indices (e.g. a λ axis
    // crossed with a gaussian init, which ignores λ); it is one point, computed once. Counting
    // raw points instead would leave `total` above done + computed forever. When no two points
    // can share an id, nothing but the done ids is held (a 10⁷-point grid needs no set of its
    // ids); otherwise the ids still to compute are.
    // Every published file is verified in full against its checksum: a damaged one is
    // quarantined (its points are not done), a file of another spec refuses the run.
    let index = dataset.resume_index(options.threads.max(1))?;
    for file in &index.quarantined {
        observer.quarantined(file);
    }
    let done = index.ids;
    type Todo<'a> = Box<dyn Iterator<Item = Point> + Send + 'a>;
    let (total, already_done, todo): (u64, u64, Todo<'_>) = if spec.ids_distinct() {
        let total = spec.count_distinct(shard);
        // Every done id is a point of the spec, unless the dataset holds earlier specs too
        // (`--extend`): then the spec's points are counted, one pass over them.
        let already_done = if dataset.manifest().specs.len() > 1 {
            spec.points(shard).filter(|p| done.contains(&p.point_id)).count() as u64
        } else {
            done.iter().filter(|&&id| shard.contains(id)).count() as u64
        };
        (
            total,
            already_done,
            Box::new(spec.points(shard).filter(move |p| !done.contains(&p.point_id))),
        )
    } else {
        let mut pending: HashSet<u64> = spec.points(shard).map(|p| p.point_id).collect();
        let total = pending.len() as u64;
        pending.retain(|id| !done.contains(id));
        drop(done);
        let already_done = total - pending.len() as u64;
        // Removing an id on its first occurrence skips the done points and the repeats.
        (
            total,
            already_done,
            Box::new(spec.points(shard).filter(move |p| pending.remove(&p.point_id))),
        )
    };
    observer.started(total, already_done);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .build()
        .map_err(|err| RunnerError::Pool { threads: options.threads, reason: err.to_string() })?;
    let (sender, receiver) = bounded::<PointRow>(options.channel_capacity.max(1));

    let mut summary = RunSummary { total, already_done, extended, ..RunSummary::default() };
    let write_result = thread::scope(|scope| {
        let writer_thread = scope.spawn(move || -> Result<(u64, u64, u64), RunnerError> {
            let (mut computed, mut not_ok) = (0, 0);
            loop {
                match receiver.recv_timeout(Duration::from_millis(200)) {
                    Ok(row) => {
                        computed += 1;
                        if row.status != "ok" {
                            not_ok += 1;
                        }
                        observer.point_finished(&row.status);
                        let before = writer.rows_published();
                        writer.push(row)?;
                        if writer.rows_published() != before {
                            observer.published(writer.rows_published());
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        // Also counts the files the encoder threads have published since.
                        let before = writer.rows_published();
                        writer.flush_if_due()?;
                        if writer.rows_published() != before {
                            observer.published(writer.rows_published());
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
            let stats = writer.finish()?;
            observer.published(stats.rows_published);
            Ok((computed, not_ok, stats.rows_published))
        });

        // A send fails only when the writer thread has stopped (on an error): stop computing.
        // A stop request ends the loop too: every worker finishes the point it holds (whose
        // row is then published), none takes a new one.
        let stop = options.stop.as_deref();
        let stop_requested = || stop.is_some_and(|flag| flag.load(Ordering::SeqCst));
        let outcome = pool.install(move || {
            // Each worker keeps a set-up cache from one point to the next (bitwise the same
            // rows; `SetupCache`) and a clone of `sender`; `sender` itself is dropped with this
            // closure, so that the writer sees the channel close once the workers are done.
            todo.par_bridge().try_for_each_init(
                || (sender.clone(), SetupCache::default()),
                |(sender, cache), point| {
                    if stop_requested() {
                        return Err(Interrupted::Stop);
                    }
                    let row = compute_point_with(&point, cache);
                    sender.send(row).map_err(|_| Interrupted::WriterGone)
                },
            )
        });
        let joined = writer_thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        joined.map(|counts| (counts, outcome == Err(Interrupted::Stop)))
    });
    let ((computed, not_ok, published), stopped) = write_result?;
    summary.stopped = stopped;
    summary.computed = computed;
    summary.not_ok = not_ok;
    summary.published = published;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    /// A point whose computation panics is published as a row with status `panic`; the other
    /// points of the sweep are computed and published as usual, and the run returns normally.
    #[test]
    fn a_panicking_point_is_a_row_and_the_sweep_goes_on() {
        let text = "name = \"panics\"\nseed = 11\n[[block]]\ntask = { kind = \"random\", samples = 8 }\n\
                    init = \"balanced\"\nmethod = \"closed-form\"\nlambda = [-1, 0.5, 1, 2]\nscale = 0.5\n\
                    widths = [3, 3, 3]\ntime = [0, 1]\n";
        let spec = Spec::parse(text, "panics.toml").unwrap();
        let victim = spec.points(Shard::ALL).nth(2).unwrap().point_id;
        crate::compute::PANIC_ON_POINT.store(victim, Ordering::Relaxed);
        let out = std::env::temp_dir()
            .join(format!("lazyrich-runner-panic-{}-{victim:016x}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        let options = RunOptions {
            threads: 2,
            shard: Shard::ALL,
            flush_points: 2,
            flush_seconds: 60.0,
            channel_capacity: 2,
            lazyrich_version: "test".into(),
            git_commit: "test".into(),
            relayout: false,
            stop: None,
            extend: false,
            encoders: Some(2),
        };
        let summary = run(&spec, &out, &options, &SilentObserver).unwrap();
        crate::compute::PANIC_ON_POINT.store(0, Ordering::Relaxed);
        assert_eq!((summary.total, summary.computed, summary.published), (4, 4, 4));
        let rows = Dataset::open(&out).unwrap().read_rows().unwrap();
        let panicked: Vec<&PointRow> = rows.iter().filter(|r| r.status == "panic").collect();
        assert_eq!(panicked.len(), 1);
        assert_eq!(panicked[0].point_id, victim);
        let error = panicked[0].error.as_deref().unwrap();
        assert!(error.starts_with("computing the point panicked: test panic for point"), "{error}");
        assert!(panicked[0].t.is_empty() && panicked[0].initial_loss.is_none());
        assert!(rows.iter().filter(|r| r.point_id != victim).all(|r| r.status != "panic"));
        std::fs::remove_dir_all(&out).unwrap();
    }
}
