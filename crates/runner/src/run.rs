//! Driving one shard of a sweep: resume index, rayon workers, bounded channel, one writer.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crossbeam_channel::{TryRecvError, bounded};
use lazyrich_store::{Dataset, DatasetMeta, PointRow, WriterOptions};
use lazyrich_sweep::{Point, Shard, Spec};
use rayon::prelude::*;

use crate::compute::{SetupCache, compute_point_with};
use crate::error::RunnerError;
use crate::validate::validate;

/// How the writer thread waits for rows: it polls the channel, and while the channel is empty
/// it sleeps instead of parking on it. A parked receiver must be woken by every send: a `futex`
/// system call in the worker per row, with an inter-processor interrupt behind it. On the
/// 2-core VM that was one `futex` and about two `sched_yield` calls per row, and 30 % of the
/// worker's samples in a one-time closed-form sweep (docs/speed.md, "Allocator and the
/// writer's wait"). A sleeping receiver is not registered with the channel, so a send wakes
/// nobody.
///
/// The sleep adapts to the rate rows come at, so that each wake-up finds a fair batch and a
/// steady stream does not fill the channel (a full channel makes the workers wait, and the
/// writer's next receive wakes them): it doubles (up to [`Poll::MAX_SLEEP`]) after a wait that
/// brought fewer than an eighth of the channel's capacity, and halves (down to
/// [`Poll::MIN_SLEEP`]) after one that brought more than half.
struct Poll {
    sleep: Duration,
    /// Rows received since the last sleep.
    batch: usize,
    capacity: usize,
    /// When the writer last checked for a due flush while waiting.
    checked: Instant,
}

impl Poll {
    const MIN_SLEEP: Duration = Duration::from_micros(20);
    const MAX_SLEEP: Duration = Duration::from_millis(5);
    /// While the channel is empty, a flush that fell due (`flush_seconds`) is checked this
    /// often.
    const DUE_CHECK: Duration = Duration::from_millis(200);

    /// For a channel of `capacity` rows.
    fn new(capacity: usize) -> Poll {
        Poll { sleep: Poll::MIN_SLEEP, batch: 0, capacity, checked: Instant::now() }
    }

    fn received(&mut self) {
        self.batch += 1;
    }

    /// Whether to check for a due flush now (at most every [`Poll::DUE_CHECK`]).
    fn check_due(&mut self) -> bool {
        if self.checked.elapsed() < Poll::DUE_CHECK {
            return false;
        }
        self.checked = Instant::now();
        true
    }

    /// Sleeps while the channel is empty (the channel was just found so).
    fn wait(&mut self) {
        self.adapt();
        thread::sleep(self.sleep);
    }

    /// The next sleep, from the rows the last wait brought.
    fn adapt(&mut self) {
        if self.batch.saturating_mul(8) < self.capacity {
            self.sleep = (self.sleep * 2).min(Poll::MAX_SLEEP);
        } else if self.batch.saturating_mul(2) > self.capacity {
            self.sleep = (self.sleep / 2).max(Poll::MIN_SLEEP);
        }
        self.batch = 0;
    }
}

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
    // Every point still to compute sends one row: the writer cuts the run's last files small,
    // so that the run does not end waiting for a full file's encoding.
    writer.expect_rows(total - already_done);

    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads.max(1))
        .build()
        .map_err(|err| RunnerError::Pool { threads: options.threads, reason: err.to_string() })?;
    let capacity = options.channel_capacity.max(1);
    let (sender, receiver) = bounded::<PointRow>(capacity);

    let mut summary = RunSummary { total, already_done, extended, ..RunSummary::default() };
    let write_result = thread::scope(|scope| {
        let writer_thread = scope.spawn(move || -> Result<(u64, u64, u64), RunnerError> {
            let (mut computed, mut not_ok) = (0, 0);
            let mut poll = Poll::new(capacity);
            loop {
                match receiver.try_recv() {
                    Ok(row) => {
                        poll.received();
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
                    Err(TryRecvError::Empty) => {
                        if poll.check_due() {
                            // Also counts the files the encoder threads have published since.
                            let before = writer.rows_published();
                            writer.flush_if_due()?;
                            if writer.rows_published() != before {
                                observer.published(writer.rows_published());
                            }
                        }
                        poll.wait();
                    }
                    Err(TryRecvError::Disconnected) => break,
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

    /// A 3-3-3 closed-form spec over `lambdas` (one point each), at times 0 and 1.
    fn small_spec(tag: &str, seed: u64, lambdas: &str) -> Spec {
        let text = format!(
            "name = \"{tag}\"\nseed = {seed}\n[[block]]\ntask = {{ kind = \"random\", samples = 8 }}\n\
             init = \"balanced\"\nmethod = \"closed-form\"\nlambda = {lambdas}\nscale = 0.5\n\
             widths = [3, 3, 3]\ntime = [0, 1]\n"
        );
        Spec::parse(&text, &format!("{tag}.toml")).unwrap()
    }

    /// An output directory of this test process named by `tag` and `id`, removed if present.
    fn fresh_dir(tag: &str, id: u64) -> std::path::PathBuf {
        let out = std::env::temp_dir()
            .join(format!("lazyrich-runner-{tag}-{}-{id:016x}", std::process::id()));
        let _ = std::fs::remove_dir_all(&out);
        out
    }

    /// Options of a test run: `flush_points` rows or `flush_seconds` per file.
    fn test_options(threads: usize, flush_points: usize, flush_seconds: f64) -> RunOptions {
        RunOptions {
            threads,
            shard: Shard::ALL,
            flush_points,
            flush_seconds,
            channel_capacity: 2,
            lazyrich_version: "test".into(),
            git_commit: "test".into(),
            relayout: false,
            stop: None,
            extend: false,
            encoders: Some(threads),
        }
    }

    /// A point whose computation panics is published as a row with status `panic`; the other
    /// points of the sweep are computed and published as usual, and the run returns normally.
    #[test]
    fn a_panicking_point_is_a_row_and_the_sweep_goes_on() {
        let spec = small_spec("panics", 11, "[-1, 0.5, 1, 2]");
        let victim = spec.points(Shard::ALL).nth(2).unwrap().point_id;
        crate::compute::PANIC_ON_POINT.store(victim, Ordering::Relaxed);
        let out = fresh_dir("panic", victim);
        let options = test_options(2, 2, 60.0);
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

    /// Rows the writer has buffered are published by time (`flush_seconds`) while the channel
    /// stays empty: here while the worker is held on the fourth of six points. The three rows
    /// before it reach the disk although `flush_points` is far away, and the run then finishes
    /// with all six.
    #[test]
    fn an_idle_writer_still_flushes_by_time() {
        use std::sync::atomic::AtomicU64;
        struct Published(AtomicU64);
        impl Observer for Published {
            fn published(&self, rows: u64) {
                self.0.store(rows, Ordering::SeqCst);
            }
        }
        let spec = small_spec("held", 12, "[-1, 0.5, 1, 2, 3, 4]");
        let held = spec.points(Shard::ALL).nth(3).unwrap().point_id;
        crate::compute::HOLD_ON_POINT.store(held, Ordering::SeqCst);
        let out = fresh_dir("held", held);
        let options = RunOptions { channel_capacity: 64, ..test_options(1, 1000, 0.05) };
        let observer = Published(AtomicU64::new(0));
        let (summary, published_while_held) = thread::scope(|scope| {
            let run = scope.spawn(|| run(&spec, &out, &options, &observer));
            let start = Instant::now();
            while observer.0.load(Ordering::SeqCst) < 3 && start.elapsed() < Duration::from_secs(30)
            {
                thread::sleep(Duration::from_millis(5));
            }
            let published = observer.0.load(Ordering::SeqCst);
            crate::compute::RELEASE_HELD_POINT.store(true, Ordering::SeqCst);
            (run.join().unwrap(), published)
        });
        crate::compute::HOLD_ON_POINT.store(0, Ordering::SeqCst);
        assert_eq!(published_while_held, 3);
        let summary = summary.unwrap();
        assert_eq!((summary.total, summary.computed, summary.published), (6, 6, 6));
        assert_eq!(Dataset::open(&out).unwrap().read_rows().unwrap().len(), 6);
        std::fs::remove_dir_all(&out).unwrap();
    }

    /// The writer's sleep while it waits for rows: longer after waits that bring few rows,
    /// shorter after ones that bring more than half the channel, within its bounds.
    #[test]
    fn the_writers_sleep_follows_the_rate_of_rows() {
        let mut poll = Poll::new(64);
        assert_eq!(poll.sleep, Poll::MIN_SLEEP);
        for _ in 0..3 {
            poll.batch = 2; // fewer than 64 / 8
            poll.adapt();
        }
        assert_eq!(poll.sleep, Poll::MIN_SLEEP * 8);
        poll.batch = 20; // between an eighth and a half: kept
        poll.adapt();
        assert_eq!(poll.sleep, Poll::MIN_SLEEP * 8);
        poll.batch = 40; // more than half
        poll.adapt();
        assert_eq!((poll.sleep, poll.batch), (Poll::MIN_SLEEP * 4, 0));
        for _ in 0..20 {
            poll.adapt(); // nothing comes
        }
        assert_eq!(poll.sleep, Poll::MAX_SLEEP);
        for _ in 0..20 {
            poll.batch = 64;
            poll.adapt();
        }
        assert_eq!(poll.sleep, Poll::MIN_SLEEP);
    }
}
