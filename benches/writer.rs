//! Criterion benchmark of the writer thread alone: the rows per second one `PartWriter` encodes,
//! compresses, writes, fsyncs and publishes, against which the compute rate per core of
//! `benches/sweep.rs` gives the writer's headroom (how many cores the single writer of a run
//! keeps up with).
//!
//! Group `writer`, one iteration = 1000 rows of the default record (closed form, 8-8-8, 100
//! log-spaced times, singular values per time: the rows of `sweep_point/closed_form_n8_t100_sv`)
//! pushed into a fresh dataset and published as one part file (`flush_points` 1000). The rows
//! are computed once, before timing. Headroom = (writer rows/s) × (µs per point of
//! `sweep_point/closed_form_n8_t100_sv`) / 10⁶ cores.
//!
//! Run with `cargo bench -p lazyrich-benches --bench writer` (about 20 s).

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lazyrich_store::{Dataset, DatasetMeta, PointRow, WriterOptions};
use lazyrich_sweep::{Shard, Spec};

/// Rows per iteration (one part file).
const ROWS: usize = 1000;

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
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(ROWS as u64));
    let mut n = 0;
    group.bench_function("publish_1000_rows_closed_form_n8_t100_sv", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let dir = scratch(n);
                let _ = std::fs::remove_dir_all(&dir);
                let dataset = match Dataset::create_or_open(&dir, &meta()) {
                    Ok(dataset) => dataset,
                    Err(err) => panic!("cannot create {}: {err}", dir.display()),
                };
                let options = WriterOptions {
                    flush_points: ROWS,
                    flush_seconds: f64::INFINITY,
                    shard: (0, 1),
                    relayout: false,
                };
                let batch = rows.clone();
                let start = Instant::now();
                let mut writer = match dataset.writer(options) {
                    Ok(writer) => writer,
                    Err(err) => panic!("no writer: {err}"),
                };
                for row in batch {
                    if let Err(err) = writer.push(row) {
                        panic!("push: {err}");
                    }
                }
                match writer.finish() {
                    Ok(stats) => black_box(stats),
                    Err(err) => panic!("finish: {err}"),
                };
                total += start.elapsed();
                let _ = std::fs::remove_dir_all(&dir);
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, writer);
criterion_main!(benches);
