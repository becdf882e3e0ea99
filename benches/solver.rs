//! Criterion benchmarks of the solver, single-threaded, on the square problems of
//! `lazyrich_benches::square_problem` (`N = Ni = Nh = No` ∈ {2, 8, 32, 64}, λ = 0.5, σ = 0.5).
//!
//! Groups (ids are `N`; `scripts/bench/compare.py` reads them, keep both in sync):
//! - `closed_form_setup/N`: `ClosedForm::new` (SVDs, eigenbasis of F, P₊, N₋, N⊥, H, K⊥);
//! - `closed_form_point/N`: one `ClosedForm::qqt_into` — each iteration evaluates one time point,
//!   cycling through `TIME_POINTS`, so the estimate is the cost of one time point;
//! - `closed_form_point_early/8`: the same in the early (direct) form of the 8-8-8 problem,
//!   cycling through `EARLY_TIME_POINTS` (issue 13; not read by compare.py);
//! - `product_singular_values/{jacobi,bidiagonal}/N`: the singular values of `W2W1` at one time
//!   point (cycling through `TIME_POINTS`, products precomputed): the one-sided Jacobi of the
//!   per-time series (`jacobi`: four rotations at a time in vector lanes at 5 ≤ N ≤ 8), the
//!   same Jacobi one rotation at a time (`jacobi_scalar`, up to `JACOBI_MAX_SIZE`), two
//!   consecutive time points per iteration with their sweeps interleaved (`jacobi_pair`, up to
//!   `JACOBI_MAX_SIZE`: the time is per pair) and nalgebra's bidiagonal QR (not read by
//!   compare.py); at N = 8 also a trajectory's 100 log-spaced times (0.01 to 100) in order:
//!   `series_cold_pair` (two at a time, cold), `series_warm_pair` (two at a time, each of the
//!   two series warm-started from its previous time, as the recorder ran them until stop 24;
//!   per pair), `series_warm` (one series, each time from the previous one, as the recorder
//!   ran them at stop 25; per time) and `series_lanes` (the whole series held and swept four
//!   times at a time, `WarmSeries8`, as the recorder runs them; per series of 100 times);
//! - `gd_step/N`: one `Simulator::gd_step` of the two-layer net;
//! - `rk4_step/N`: one `Simulator::rk4_step` of its gradient flow;
//! - `gd_step_depth4/N`, `rk4_step_depth4/N`: the same steps of a depth-4 λ-balanced network
//!   with every width `N` ∈ {8, 64} (`lazyrich_benches::deep_problem`).
//!
//! - `setup_parts/{product,nalgebra}/MxKxN`: the products of a point's set-up (issue 13), the
//!   workspace's `linalg::product` against nalgebra's `a * b` (bitwise the same result), at the
//!   shapes of an 8-8-8 point on 64 samples; `setup_parts/gaussian_matrix/8x64`: the draws of
//!   one such task matrix.
//!
//! - `per_time_metrics/{loss,kernel_distance}/N`: the per-time loss and kernel distance of a
//!   two-layer state from its `QQᵀ` (issue 13), `Objective::loss_from_qqt` and
//!   `KernelReference::distance_from_qqt` against the kernel at t = 0, cycling through the `QQᵀ`
//!   of `TIME_POINTS` (precomputed).
//!
//! Run with `cargo bench -p lazyrich-benches [-- FILTER]`; the whole run takes about a minute.

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main,
};
use lazyrich_benches::{
    BenchProblem, DEEP_SIZES, EARLY_TIME_POINTS, GROUP_CLOSED_FORM_POINT,
    GROUP_CLOSED_FORM_POINT_EARLY, GROUP_CLOSED_FORM_SETUP, GROUP_GD_STEP, GROUP_GD_STEP_DEEP,
    GROUP_RK4_STEP, GROUP_RK4_STEP_DEEP, GROUP_SINGULAR_VALUES, LEARNING_RATE, RK4_DT, SIZES,
    TIME_POINTS, deep_problem, square_problem,
};
use lazyrich_solver::closed_form::ClosedForm;
use lazyrich_solver::linalg::{
    JacobiScratch, WarmSeries8, WarmStart, gaussian_matrix, product, singular_values,
    singular_values_jacobi_pair, singular_values_jacobi_scalar, singular_values_warm,
    singular_values_warm_pair,
};
use lazyrich_solver::metrics::{
    JACOBI_MAX_SIZE, Objective, product_from_qqt, singular_values_into,
};
use lazyrich_solver::ntk::{KernelReference, NtkFactors};
use lazyrich_solver::simulate::Simulator;
use nalgebra::DMatrix;

/// Times of the `series_*` singular-value benches (an even number: they go two at a time).
const SERIES_TIMES: usize = 100;

/// Seed of the benchmark problem of size `n`.
fn seed(n: usize) -> u64 {
    1000 + n as u64
}

fn problem(n: usize) -> BenchProblem {
    match square_problem(n, seed(n)) {
        Ok(built) => built,
        Err(err) => panic!("benchmark problem N = {n} does not build: {err:?}"),
    }
}

/// A group with the modest, shared measurement settings (whole run well under 3 minutes).
fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .throughput(Throughput::Elements(1));
    group
}

fn closed_form_setup(c: &mut Criterion) {
    let mut group = group(c, GROUP_CLOSED_FORM_SETUP);
    for n in SIZES {
        let built = problem(n);
        group.bench_with_input(BenchmarkId::from_parameter(n), &built, |b, built| {
            b.iter(|| ClosedForm::new(black_box(&built.net), black_box(&built.problem)));
        });
    }
    group.finish();
}

fn closed_form_point(c: &mut Criterion) {
    let mut group = group(c, GROUP_CLOSED_FORM_POINT);
    for n in SIZES {
        let built = problem(n);
        bench_time_points(&mut group, n, &built.closed_form, &TIME_POINTS);
    }
    group.finish();
}

/// One `ClosedForm::qqt_into` per iteration of the benchmark `n` in `group`, cycling through
/// `times`.
fn bench_time_points(
    group: &mut BenchmarkGroup<'_, WallTime>,
    n: usize,
    cf: &ClosedForm,
    times: &[f64],
) {
    let mut ws = cf.workspace();
    let mut out = DMatrix::zeros(2 * n, 2 * n);
    group.bench_function(BenchmarkId::from_parameter(n), |b| {
        let mut point_idx = 0;
        b.iter(|| {
            let t = times[point_idx % times.len()];
            point_idx += 1;
            let status = cf.qqt_into(black_box(t), &mut ws, &mut out);
            black_box((&status, &out));
        });
    });
}

fn closed_form_point_early(c: &mut Criterion) {
    let mut group = group(c, GROUP_CLOSED_FORM_POINT_EARLY);
    let n = 8;
    let built = problem(n);
    let cf = &built.closed_form;
    // The times must stay early if the benchmark problem changes.
    assert!(
        EARLY_TIME_POINTS.iter().all(|&t| t < cf.early_until()),
        "EARLY_TIME_POINTS {EARLY_TIME_POINTS:?} are not all below early_until = {}",
        cf.early_until()
    );
    bench_time_points(&mut group, n, cf, &EARLY_TIME_POINTS);
    group.finish();
}

fn product_singular_values(c: &mut Criterion) {
    let mut group = group(c, GROUP_SINGULAR_VALUES);
    for n in SIZES {
        let built = problem(n);
        let products: Vec<DMatrix<f64>> = TIME_POINTS
            .iter()
            .map(|&t| match built.closed_form.qqt(t) {
                Ok(qqt) => product_from_qqt(&qqt, n),
                Err(err) => panic!("closed form N = {n} at t = {t}: {err:?}"),
            })
            .collect();
        let (mut scratch, mut values) = (JacobiScratch::default(), Vec::new());
        group.bench_function(BenchmarkId::new("jacobi", n), |b| {
            let mut idx = 0;
            b.iter(|| {
                let product = &products[idx % products.len()];
                idx += 1;
                let status =
                    singular_values_into(black_box(product.as_view()), &mut scratch, &mut values);
                black_box((&status, &values));
            });
        });
        if n <= JACOBI_MAX_SIZE {
            group.bench_function(BenchmarkId::new("jacobi_scalar", n), |b| {
                let mut idx = 0;
                b.iter(|| {
                    let product = &products[idx % products.len()];
                    idx += 1;
                    let status = singular_values_jacobi_scalar(
                        black_box(product.as_view()),
                        "W2W1",
                        &mut scratch,
                        &mut values,
                    );
                    black_box((&status, &values));
                });
            });
        }
        if n <= JACOBI_MAX_SIZE {
            // Two consecutive time points per iteration: the time is per pair of points.
            let mut second = Vec::new();
            group.bench_function(BenchmarkId::new("jacobi_pair", n), |b| {
                let mut idx = 0;
                b.iter(|| {
                    let first = &products[idx % products.len()];
                    let next = &products[(idx + 1) % products.len()];
                    idx += 2;
                    let status = singular_values_jacobi_pair(
                        black_box([first.as_view(), next.as_view()]),
                        "W2W1",
                        &mut scratch,
                        [&mut values, &mut second],
                    );
                    black_box((&status, &values, &second));
                });
            });
        }
        if n == 8 {
            // A trajectory's series: 100 log-spaced times from 0.01 to 100 in order, two at a
            // time (the time is per pair), cold (QR-preconditioned) and warm-started (each of
            // the two chains from its previous time; a fresh start at the series' start, as a
            // new point gets).
            let series: Vec<DMatrix<f64>> = (0..SERIES_TIMES)
                .map(|i| {
                    let t = 10f64.powf(-2.0 + 4.0 * i as f64 / (SERIES_TIMES - 1) as f64);
                    match built.closed_form.qqt(t) {
                        Ok(qqt) => product_from_qqt(&qqt, n),
                        Err(err) => panic!("closed form N = {n} at t = {t}: {err:?}"),
                    }
                })
                .collect();
            let mut second = Vec::new();
            group.bench_function(BenchmarkId::new("series_cold_pair", n), |b| {
                let mut idx = 0;
                b.iter(|| {
                    let at = idx % SERIES_TIMES;
                    idx += 2;
                    let status = singular_values_jacobi_pair(
                        black_box([series[at].as_view(), series[at + 1].as_view()]),
                        "W2W1",
                        &mut scratch,
                        [&mut values, &mut second],
                    );
                    black_box((&status, &values, &second));
                });
            });
            let mut warm = [WarmStart::default(), WarmStart::default()];
            group.bench_function(BenchmarkId::new("series_warm_pair", n), |b| {
                let mut idx = 0;
                b.iter(|| {
                    let at = idx % SERIES_TIMES;
                    idx += 2;
                    if at == 0 {
                        warm = [WarmStart::default(), WarmStart::default()];
                    }
                    let [w0, w1] = &mut warm;
                    let status = singular_values_warm_pair(
                        black_box([series[at].as_view(), series[at + 1].as_view()]),
                        "W2W1",
                        &mut scratch,
                        [w0, w1],
                        [&mut values, &mut second],
                    );
                    black_box((&status, &values, &second));
                });
            });
            group.bench_function(BenchmarkId::new("series_warm", n), |b| {
                let mut idx = 0;
                b.iter(|| {
                    let at = idx % SERIES_TIMES;
                    idx += 1;
                    if at == 0 {
                        warm[0] = WarmStart::default();
                    }
                    let status = singular_values_warm(
                        black_box(series[at].as_view()),
                        "W2W1",
                        &mut scratch,
                        &mut warm[0],
                        &mut values,
                    );
                    black_box((&status, &values));
                });
            });
            // The recorder's path since stop 26: the whole series of 100 times per iteration,
            // held, then swept four times at a time in the lanes of the vectors (the time is
            // per series of `SERIES_TIMES`).
            let mut held = WarmSeries8::default();
            let mut outputs = vec![Vec::new(); SERIES_TIMES];
            group.bench_function(BenchmarkId::new("series_lanes", n), |b| {
                b.iter(|| {
                    for a in &series {
                        held.push(black_box(a.as_view()));
                    }
                    let mut failures = 0;
                    held.flush("W2W1", &mut outputs, |r| failures += usize::from(r.is_err()));
                    black_box((&outputs, failures));
                });
            });
        }
        group.bench_function(BenchmarkId::new("bidiagonal", n), |b| {
            let mut idx = 0;
            b.iter(|| {
                let product = &products[idx % products.len()];
                idx += 1;
                black_box(singular_values(black_box(product), "W2W1"))
            });
        });
    }
    group.finish();
}

fn gd_step(c: &mut Criterion) {
    let mut group = group(c, GROUP_GD_STEP);
    for n in SIZES {
        let built = problem(n);
        let mut sim = simulator(&built);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                sim.gd_step(black_box(LEARNING_RATE));
                black_box(sim.network());
            });
        });
    }
    group.finish();
}

fn rk4_step(c: &mut Criterion) {
    let mut group = group(c, GROUP_RK4_STEP);
    for n in SIZES {
        let built = problem(n);
        let mut sim = simulator(&built);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                sim.rk4_step(black_box(RK4_DT));
                black_box(sim.network());
            });
        });
    }
    group.finish();
}

/// Seed of the deep benchmark problem of size `n`.
fn deep_seed(n: usize) -> u64 {
    2000 + n as u64
}

fn deep_simulator(n: usize) -> Simulator {
    let built = deep_problem(n, deep_seed(n))
        .unwrap_or_else(|err| panic!("deep benchmark problem N = {n} does not build: {err:?}"));
    Simulator::new(&built.0, &built.1)
        .unwrap_or_else(|err| panic!("simulator for the deep N = {n} does not build: {err:?}"))
}

fn gd_step_deep(c: &mut Criterion) {
    let mut group = group(c, GROUP_GD_STEP_DEEP);
    for n in DEEP_SIZES {
        let mut sim = deep_simulator(n);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                sim.gd_step(black_box(LEARNING_RATE));
                black_box(sim.network());
            });
        });
    }
    group.finish();
}

fn rk4_step_deep(c: &mut Criterion) {
    let mut group = group(c, GROUP_RK4_STEP_DEEP);
    for n in DEEP_SIZES {
        let mut sim = deep_simulator(n);
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                sim.rk4_step(black_box(RK4_DT));
                black_box(sim.network());
            });
        });
    }
    group.finish();
}

fn simulator(built: &BenchProblem) -> Simulator {
    match Simulator::new(&built.net, &built.problem) {
        Ok(sim) => sim,
        Err(err) => panic!("simulator for N = {} does not build: {err:?}", built.net.n_in()),
    }
}

/// The set-up's products and draws (module documentation).
fn setup_parts(c: &mut Criterion) {
    use rand::SeedableRng;
    let mut group = group(c, "setup_parts");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(13);
    for (m, k, n) in [(8, 64, 8), (8, 8, 64), (8, 8, 8), (16, 16, 8)] {
        let a = gaussian_matrix(m, k, 1.0, &mut rng);
        let b = gaussian_matrix(k, n, 1.0, &mut rng);
        let id = format!("{m}x{k}x{n}");
        group.bench_function(BenchmarkId::new("product", &id), |bench| {
            bench.iter(|| product(black_box(&a), black_box(&b)));
        });
        group.bench_function(BenchmarkId::new("nalgebra", &id), |bench| {
            bench.iter(|| black_box(&a) * black_box(&b));
        });
    }
    group.bench_function(BenchmarkId::new("gaussian_matrix", "8x64"), |bench| {
        bench.iter(|| gaussian_matrix(8, 64, 1.0, &mut rng));
    });
    group.finish();
}

/// The per-time metrics from `QQᵀ` (module documentation).
fn per_time_metrics(c: &mut Criterion) {
    let mut group = group(c, "per_time_metrics");
    for n in SIZES {
        let built = problem(n);
        let states: Vec<DMatrix<f64>> = TIME_POINTS
            .iter()
            .map(|&t| match built.closed_form.qqt(t) {
                Ok(qqt) => qqt,
                Err(err) => panic!("QQᵀ at t = {t} for N = {n}: {err:?}"),
            })
            .collect();
        let objective = Objective::new(&built.problem);
        let reference = KernelReference::new(NtkFactors::from_network(&built.net), None);
        group.bench_function(BenchmarkId::new("loss", n), |b| {
            let mut point_idx = 0;
            b.iter(|| {
                let qqt = &states[point_idx % states.len()];
                point_idx += 1;
                objective.loss_from_qqt(black_box(qqt))
            });
        });
        group.bench_function(BenchmarkId::new("kernel_distance", n), |b| {
            let mut point_idx = 0;
            b.iter(|| {
                let qqt = &states[point_idx % states.len()];
                point_idx += 1;
                reference.distance_from_qqt(black_box(qqt), n)
            });
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    closed_form_setup,
    closed_form_point,
    closed_form_point_early,
    product_singular_values,
    gd_step,
    rk4_step,
    gd_step_deep,
    rk4_step_deep,
    setup_parts,
    per_time_metrics
);
criterion_main!(benches);
