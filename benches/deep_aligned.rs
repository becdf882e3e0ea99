//! Criterion benchmark of the deep aligned closed form (docs/math.md §3.6) against the adaptive
//! simulation of the same point: a depth-4, 8-wide task-aligned network (`[8, 8, 8, 8, 8]`,
//! λ_l = (0.5, −0.3, 0), σ = 0.1, a whitened Gaussian task), 100 log-spaced times in
//! [0.01, 100].
//!
//! Groups (ids are the method):
//! - `deep_aligned/closed_form`: `DeepAligned::new` and the networks at all 100 times;
//! - `deep_aligned/adaptive`: `simulate` with `Integrator::adaptive(1e-8)` (the spec's default
//!   tolerance) observing the same 100 times.
//!
//! Run with `cargo bench -p lazyrich-benches --bench deep_aligned`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use lazyrich_solver::deep_aligned::DeepAligned;
use lazyrich_solver::init::{
    BalancedFactors, ProductBases, ProductValues, balanced_factors_layers,
};
use lazyrich_solver::linalg::gaussian_matrix;
use lazyrich_solver::simulate::{Integrator, simulate};
use lazyrich_solver::{Network, Problem};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const WIDTHS: [usize; 5] = [8, 8, 8, 8, 8];
const LAMBDAS: [f64; 3] = [0.5, -0.3, 0.0];

fn point() -> (BalancedFactors, Network, Problem, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let sigma_yx = gaussian_matrix(8, 8, 1.0, &mut rng);
    let factors = match balanced_factors_layers(
        &WIDTHS,
        &LAMBDAS,
        ProductValues::GaussianProduct { sigma: 0.1 },
        ProductBases::TaskAligned(&sigma_yx),
        &mut rng,
    ) {
        Ok(factors) => factors,
        Err(err) => panic!("the benchmark init does not build: {err}"),
    };
    let net = match factors.network() {
        Ok(net) => net,
        Err(err) => panic!("the benchmark network does not build: {err}"),
    };
    let times = (0..100).map(|k| 10f64.powf(-2.0 + 4.0 * f64::from(k) / 99.0)).collect();
    (factors, net, Problem::whitened(sigma_yx), times)
}

fn deep_aligned(c: &mut Criterion) {
    let (factors, net, problem, times) = point();
    let mut group = c.benchmark_group("deep_aligned");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("closed_form", |b| {
        b.iter(|| {
            let exact = match DeepAligned::new(factors.clone(), &LAMBDAS, &problem) {
                Ok(exact) => exact,
                Err(err) => panic!("closed form: {err}"),
            };
            let mut loss = 0.0;
            let status = exact.networks(black_box(&times), |_, n| loss += n.layers[0][(0, 0)]);
            black_box((status, loss))
        });
    });
    group.bench_function("modes_only", |b| {
        b.iter(|| {
            let exact = match DeepAligned::new(factors.clone(), &LAMBDAS, &problem) {
                Ok(exact) => exact,
                Err(err) => panic!("closed form: {err}"),
            };
            let cs: Vec<_> =
                exact.modes().iter().map(|m| m.trajectory(black_box(&times))).collect();
            black_box(cs)
        });
    });
    group.bench_function("adaptive", |b| {
        b.iter(|| {
            let mut loss = 0.0;
            let report =
                simulate(&net, &problem, Integrator::adaptive(1e-8), black_box(&times), |_, n| {
                    loss += n.layers[0][(0, 0)]
                });
            black_box((report.map(|r| r.n_steps), loss))
        });
    });
    group.finish();
}

criterion_group!(benches, deep_aligned);
criterion_main!(benches);
