//! Criterion benchmark of the per-point work of a sweep, without any writing: the solver-only
//! rate that `scripts/bench/sweep.sh` sets against `lazyrich run` end to end.
//!
//! Group `sweep_point`, one iteration = one `lazyrich_runner::compute_point` (task generation,
//! λ-balanced initialization, closed form, loss and kernel distance at every time, summaries),
//! single-threaded, cycling through [`N_POINTS`] points spread over the grid of [`SPEC`]:
//! - `closed_form_n8_t100`: widths [8, 8, 8], 100 log-spaced times, no singular values
//!   (the spec `scripts/bench/sweep.sh` runs; keep the two in sync);
//! - `closed_form_n8_t100_sv`: the same with `record.singular_values = true` (the default);
//! - `closed_form_n8_t100_summary`: the same with `record.per_time = false` (summaries only;
//!   singular values requested but, being stored only per time, not computed);
//! - `closed_form_n8_t100_cached`: the spec of `closed_form_n8_t100`, its first [`N_POINTS`]
//!   points in grid order (λ fastest, as a `run` worker meets them), through
//!   `lazyrich_runner::compute_point_with` and one `SetupCache`: the task and the init's draws
//!   are shared by consecutive points (bitwise the same rows);
//! - `continual4_n8_t100`: a 4-phase continual-learning protocol on the same network and grid
//!   (400 times, closed form restarted at every switch, losses on all 4 tasks at every time);
//!   about 4× `closed_form_n8_t100` if a phase costs what a single-phase point does.
//!
//! Run with `cargo bench -p lazyrich-benches --bench sweep` (about 15 s).

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lazyrich_sweep::{Point, Spec};

/// Criterion group of this file (`scripts/bench/sweep.sh` reads its estimates).
const GROUP: &str = "sweep_point";
/// Points the benchmark cycles through, spread over the spec's grid.
const N_POINTS: u64 = 200;
/// Raw index of benchmark point `k` is `k · STRIDE mod n_raw`: a prime stride, so that the points
/// visit every λ (the innermost axis, 100 values) and every scale rather than a few of them.
const STRIDE: u64 = 7919;

/// `N_POINTS` points of the spec, spread over its whole grid so that every λ and scale range
/// is represented.
fn points(singular_values: bool, per_time: bool) -> Vec<Point> {
    let text = lazyrich_benches::sweep_spec(singular_values, per_time);
    let spec = match Spec::parse(&text, "benches/sweep.rs") {
        Ok(spec) => spec,
        Err(err) => panic!("benchmark spec does not parse: {err}"),
    };
    (0..N_POINTS).filter_map(|k| spec.point(k * STRIDE % spec.n_raw())).collect()
}

fn sweep_point(c: &mut Criterion) {
    let mut group = c.benchmark_group(GROUP);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(1));
    for (id, singular_values, per_time) in [
        ("closed_form_n8_t100", false, true),
        ("closed_form_n8_t100_sv", true, true),
        ("closed_form_n8_t100_summary", true, false),
    ] {
        let points = points(singular_values, per_time);
        assert!(!points.is_empty(), "the benchmark spec has no points");
        group.bench_function(id, |b| {
            let mut next = 0;
            b.iter(|| {
                let point = &points[next % points.len()];
                next += 1;
                black_box(lazyrich_runner::compute_point(black_box(point)))
            });
        });
    }
    let text = lazyrich_benches::sweep_spec(false, true);
    let spec = match Spec::parse(&text, "benches/sweep.rs") {
        Ok(spec) => spec,
        Err(err) => panic!("benchmark spec does not parse: {err}"),
    };
    let in_order: Vec<Point> = (0..N_POINTS).filter_map(|k| spec.point(k)).collect();
    group.bench_function("closed_form_n8_t100_cached", |b| {
        let mut cache = lazyrich_runner::SetupCache::default();
        let mut next = 0;
        b.iter(|| {
            let point = &in_order[next % in_order.len()];
            next += 1;
            black_box(lazyrich_runner::compute_point_with(black_box(point), &mut cache))
        });
    });
    let continual = lazyrich_benches::sweep_spec(false, true).replace(
        r#"{ kind = "random", samples = 64 }"#,
        r#"{ kind = "continual", tasks = 4, samples = 64 }"#,
    );
    let spec = match Spec::parse(&continual, "benches/sweep.rs") {
        Ok(spec) => spec,
        Err(err) => panic!("benchmark spec does not parse: {err}"),
    };
    let points: Vec<Point> =
        (0..N_POINTS).filter_map(|k| spec.point(k * STRIDE % spec.n_raw())).collect();
    group.bench_function("continual4_n8_t100", |b| {
        let mut next = 0;
        b.iter(|| {
            let point = &points[next % points.len()];
            next += 1;
            black_box(lazyrich_runner::compute_point(black_box(point)))
        });
    });
    group.finish();
}

criterion_group!(benches, sweep_point);
criterion_main!(benches);
