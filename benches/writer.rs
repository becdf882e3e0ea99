//! Criterion benchmark of the writer thread alone: the rows per second one `PartWriter` encodes,
//! compresses, writes, fsyncs and publishes, against which the compute rate per core of
//! `benches/sweep.rs` gives the writer's headroom (how many cores the single writer of a run
//! keeps up with).
//!
//! Group `writer`, one iteration = 8000 rows of the default record (closed form, 8-8-8, 100
//! log-spaced times, singular values per time: the rows of `sweep_point/closed_form_n8_t100_sv`)
//! pushed into a fresh dataset and published as eight part files (`flush_points` 1000), with
//! `encoders` = 0 (the writer's own thread encodes, as before issue 13's encoder pool), 1, 2
//! and 4 encoder threads (`WriterOptions::encoders`), and 8 where the machine has that many
//! cores. The 1000 rows are computed once, before
//! timing, and pushed eight times. Headroom = (writer rows/s) × (µs per point of
//! `sweep_point/closed_form_n8_t100_sv`) / 10⁶ cores. Encoder threads beyond the machine's
//! free cores cannot help: on a 2-core machine, measure up to 2.
//!
//! `writer/buffer_8000_rows_closed_form_n8_t100_sv`: what stays on the writer's own thread
//! once encoder threads publish: the same 8000 pushes with nothing flushed (provenance columns
//! set, rows buffered), then the buffer dropped. Its rows/s bounds a run with any number of
//! encoder threads.
//!
//! Run with `cargo bench -p lazyrich-benches --bench writer` (about 1 minute).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lazyrich_store::{Dataset, DatasetMeta, PointRow, WriterOptions};
use lazyrich_sweep::{Shard, Spec};

/// Rows per part file.
const ROWS: usize = 1000;
/// Part files per iteration.
const FILES: usize = 8;

fn rows() -> Vec<PointRow> {
    let spec = match Spec::parse(&lazyrich_benches::sweep_spec(true, true), "benches/writer.rs") {
        Ok(spec) => spec,
        Err(err) => panic!("benchmark spec does not parse: {err}"),
    };
    spec.points(Shard::ALL).take(ROWS).map(|p| lazyrich_runner::compute_point(&p)).collect()
}

fn meta() -> DatasetMeta {
    DatasetMeta {
        spec_name: "bench_writer".into(),
        spec_hash: "0000000000000000".into(),
        spec_text: lazyrich_benches::sweep_spec(true, true),
        lazyrich_version: "bench".into(),
        git_commit: "bench".into(),
    }
}

fn scratch(n: u64) -> PathBuf {
    std::env::temp_dir().join(format!("lazyrich-bench-writer-{}-{n}", std::process::id()))
}

fn writer(c: &mut Criterion) {
    let rows = rows();
    assert_eq!(rows.len(), ROWS);
    let mut group = c.benchmark_group("writer");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Elements((ROWS * FILES) as u64));
    let mut n = 0;
    // 8 encoders (one per file of an iteration) only where the machine has the cores.
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    for encoders in [0, 1, 2, 4, 8].into_iter().filter(|&e| e <= 4 || e <= cores) {
        let name = format!("publish_8000_rows_closed_form_n8_t100_sv/encoders={encoders}");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    n += 1;
                    total += publish(&rows, encoders, &scratch(n));
                }
                total
            });
        });
    }
    group.bench_function("buffer_8000_rows_closed_form_n8_t100_sv", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                total += buffer(&rows, &scratch(n));
            }
            total
        });
    });
    group.finish();
}

/// Pushes `rows` `FILES` times into a writer that never flushes: the writer thread's own share.
fn buffer(rows: &[PointRow], dir: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(dir);
    let dataset = match Dataset::create_or_open(dir, &meta()) {
        Ok(dataset) => dataset,
        Err(err) => panic!("cannot create {}: {err}", dir.display()),
    };
    let options = WriterOptions {
        flush_points: ROWS * FILES + 1,
        flush_seconds: f64::INFINITY,
        shard: (0, 1),
        relayout: false,
        encoders: 1,
    };
    let mut writer = match dataset.writer(options) {
        Ok(writer) => writer,
        Err(err) => panic!("no writer: {err}"),
    };
    let batches: Vec<Vec<PointRow>> = (0..FILES).map(|_| rows.to_vec()).collect();
    let start = Instant::now();
    for row in batches.into_iter().flatten() {
        if let Err(err) = writer.push(row) {
            panic!("push: {err}");
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(black_box(writer.rows_buffered()), ROWS * FILES);
    drop(writer);
    let _ = std::fs::remove_dir_all(dir);
    elapsed
}

/// Pushes `rows` `FILES` times into a fresh dataset at `dir` and finishes the writer: the time
/// from opening the writer to every file published.
fn publish(rows: &[PointRow], encoders: usize, dir: &Path) -> Duration {
    let _ = std::fs::remove_dir_all(dir);
    let dataset = match Dataset::create_or_open(dir, &meta()) {
        Ok(dataset) => dataset,
        Err(err) => panic!("cannot create {}: {err}", dir.display()),
    };
    let options = WriterOptions {
        flush_points: ROWS,
        flush_seconds: f64::INFINITY,
        shard: (0, 1),
        relayout: false,
        encoders,
    };
    let batches: Vec<Vec<PointRow>> = (0..FILES).map(|_| rows.to_vec()).collect();
    let start = Instant::now();
    let mut writer = match dataset.writer(options) {
        Ok(writer) => writer,
        Err(err) => panic!("no writer: {err}"),
    };
    for row in batches.into_iter().flatten() {
        if let Err(err) = writer.push(row) {
            panic!("push: {err}");
        }
    }
    match writer.finish() {
        Ok(stats) => assert_eq!(black_box(stats).files_published, FILES as u64),
        Err(err) => panic!("finish: {err}"),
    }
    let elapsed = start.elapsed();
    let _ = std::fs::remove_dir_all(dir);
    elapsed
}

criterion_group!(benches, writer);
criterion_main!(benches);
