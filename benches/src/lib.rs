//! Problem builders shared by the criterion benchmarks in `benches/solver.rs`.
//!
//! Every benchmark runs on the same square problem: `N = Ni = Nh = No`, a whitened task with a
//! seeded Gaussian `Σyx`, and a λ-balanced network (λ = [`LAMBDA`], product entries of scale
//! σ = [`SIGMA`], docs/math.md §2.2). `scripts/bench/compare.py` times the numpy reference on the same
//! kind of problem and reads the criterion results by group name and size, so the group names
//! here ([`GROUP_CLOSED_FORM_SETUP`], …) and [`SIZES`] must stay in sync with that script.

use lazyrich_solver::closed_form::ClosedForm;
use lazyrich_solver::init::{self, Balanced, ProductBases, ProductValues};
use lazyrich_solver::linalg::gaussian_matrix;
use lazyrich_solver::{InitError, Network, Problem, SolverError, Status};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Problem sizes `N = Ni = Nh = No`.
pub const SIZES: [usize; 4] = [2, 8, 32, 64];
/// Relative scale λ of the initial weights.
pub const LAMBDA: f64 = 0.5;
/// Entry scale σ of the Gaussian product that sets the initial singular values.
pub const SIGMA: f64 = 0.5;
/// Learning rate of the gradient-descent benchmark.
pub const LEARNING_RATE: f64 = 1e-3;
/// Step of the RK4 benchmark.
pub const RK4_DT: f64 = 1e-3;
/// Time points cycled through by the per-point closed-form benchmark (same list in compare.py).
pub const TIME_POINTS: [f64; 8] = [0.05, 0.3, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0];
/// Time points of the early-form benchmark (`closed_form_point_early`): all below the
/// `T` up to which the closed form of the 8-8-8 benchmark problem takes the direct (early)
/// form, 0.38 (`ClosedForm::early_until`; the bench checks it before measuring).
pub const EARLY_TIME_POINTS: [f64; 4] = [0.01, 0.03, 0.1, 0.2];

/// Criterion group: `ClosedForm::new`.
pub const GROUP_CLOSED_FORM_SETUP: &str = "closed_form_setup";
/// Criterion group: one `ClosedForm::qqt_into` evaluation.
pub const GROUP_CLOSED_FORM_POINT: &str = "closed_form_point";
/// Criterion group: one `ClosedForm::qqt_into` evaluation in the early form (issue 13), ids
/// `N` (8 only), cycling through [`EARLY_TIME_POINTS`].
pub const GROUP_CLOSED_FORM_POINT_EARLY: &str = "closed_form_point_early";
/// Criterion group: the singular values of the network function `W2W1` at one time point,
/// ids `jacobi/N` (`metrics::singular_values_into`, the cold per-time path), `jacobi_scalar/N`,
/// `jacobi_pair/N`, `series_{cold_pair,warm_pair,warm}/8` (a trajectory's times in order; the
/// warm pair is the recorder's 8 × 8 path) and `bidiagonal/N` (`linalg::singular_values`,
/// nalgebra's bidiagonal QR, the path before it).
pub const GROUP_SINGULAR_VALUES: &str = "product_singular_values";
/// Criterion group: one gradient-descent step.
pub const GROUP_GD_STEP: &str = "gd_step";
/// Criterion group: one RK4 step of the gradient flow.
pub const GROUP_RK4_STEP: &str = "rk4_step";
/// Criterion group: one gradient-descent step of the depth-[`DEEP_DEPTH`] network.
pub const GROUP_GD_STEP_DEEP: &str = "gd_step_depth4";
/// Criterion group: one RK4 step of the depth-[`DEEP_DEPTH`] network's gradient flow.
pub const GROUP_RK4_STEP_DEEP: &str = "rk4_step_depth4";
/// Depth (number of weight matrices) of the deep step benchmarks.
pub const DEEP_DEPTH: usize = 4;
/// Sizes `N` (every width) of the deep step benchmarks.
pub const DEEP_SIZES: [usize; 2] = [8, 64];

/// Why a benchmark problem could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The initialization refused its parameters.
    #[error("failed to initialize the network")]
    Init(#[source] InitError),
    /// The closed form refused the problem (other than a singular `B` fixed by a sign flip).
    #[error("failed to set up the closed form")]
    Solver(#[source] SolverError),
}

/// A benchmark problem: the network at `t = 0`, the whitened task, and its closed form.
#[derive(Clone, Debug)]
pub struct BenchProblem {
    /// λ-balanced two-layer network, `Nh = Ni = No = n`.
    pub net: Network,
    /// Whitened task with a Gaussian `Σyx`.
    pub problem: Problem,
    /// The closed form of `net` on `problem` (known to be non-singular).
    pub closed_form: ClosedForm,
}

/// The square benchmark problem of size `n`, seeded by `seed`.
///
/// If `ClosedForm::new` reports a singular `B` (docs/math.md P2), the first row of `W2` is negated — this
/// keeps `W2ᵀW2` and hence the balance — and the closed form is built again.
pub fn square_problem(n: usize, seed: u64) -> Result<BenchProblem, BuildError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sigma_yx = gaussian_matrix(n, n, 1.0, &mut rng);
    let params = bench_init();
    let mut net = init::balanced(&[n, n, n], &params, &mut rng).map_err(BuildError::Init)?;
    let problem = Problem::whitened(sigma_yx);
    let closed_form = match ClosedForm::new(&net, &problem) {
        Ok(cf) => cf,
        Err(err) if err.status() == Some(Status::Singular) => {
            flip_first_row(&mut net.layers[1]);
            ClosedForm::new(&net, &problem).map_err(BuildError::Solver)?
        }
        Err(err) => return Err(BuildError::Solver(err)),
    };
    Ok(BenchProblem { net, problem, closed_form })
}

/// The init of every benchmark problem: λ = [`LAMBDA`], a Gaussian product of scale σ =
/// [`SIGMA`], random bases.
fn bench_init() -> Balanced<'static> {
    Balanced {
        lambda: LAMBDA,
        values: ProductValues::GaussianProduct { sigma: SIGMA },
        bases: ProductBases::Random,
    }
}

/// The deep benchmark problem of size `n`: widths `[n; DEEP_DEPTH + 1]`, λ-balanced (λ =
/// [`LAMBDA`], product scale σ = [`SIGMA`]), on a whitened task with a Gaussian `Σyx`, seeded by
/// `seed`. No closed form exists at this depth: the network is simulated.
pub fn deep_problem(n: usize, seed: u64) -> Result<(Network, Problem), BuildError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let sigma_yx = gaussian_matrix(n, n, 1.0, &mut rng);
    let params = bench_init();
    let net = init::balanced(&[n; DEEP_DEPTH + 1], &params, &mut rng).map_err(BuildError::Init)?;
    Ok((net, Problem::whitened(sigma_yx)))
}

fn flip_first_row(w: &mut DMatrix<f64>) {
    w.row_mut(0).neg_mut();
}

/// The sweep of `scripts/bench/sweep.sh` (there with more replicates): 100 λ (λ = 0 excluded) ×
/// 10 scales × replicates, widths [8, 8, 8], closed form at 100 log-spaced times.
pub const SWEEP_SPEC: &str = r#"
name = "bench_sweep"
seed = 7

[defaults]
task = { kind = "random", samples = 64 }
init = "balanced"
method = "closed-form"
time = { logspace = [-2, 2, 100] }
record = { per_time = PER_TIME, singular_values = SINGULAR_VALUES }

[[block]]
lambda = { linspace = [-5, 5, 100] }
scale = { logspace = [-2, 0, 10] }
widths = [8, 8, 8]
replicates = 10
"#;

/// [`SWEEP_SPEC`] with its `record` settings: the spec of `benches/sweep.rs` and
/// `benches/writer.rs` (and, with more replicates, of `scripts/bench/sweep.sh`).
pub fn sweep_spec(singular_values: bool, per_time: bool) -> String {
    SWEEP_SPEC
        .replace("SINGULAR_VALUES", if singular_values { "true" } else { "false" })
        .replace("PER_TIME", if per_time { "true" } else { "false" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_problems_build_for_every_size() {
        for n in SIZES {
            let built = square_problem(n, 7 + n as u64).expect("benchmark problem builds");
            assert_eq!(built.net.widths(), vec![n, n, n]);
            let q0 = built.net.q_matrix().expect("two-layer network");
            let qqt0 = built.closed_form.qqt(0.0).expect("t = 0 evaluates");
            let expected = &q0 * q0.transpose();
            assert!((qqt0 - &expected).norm() <= 1e-10 * expected.norm().max(1.0));
        }
    }

    /// `scripts/bench/compare.py` reads the criterion output by these names and times numpy on
    /// the same problem parameters: keep them in sync.
    #[test]
    fn compare_script_uses_the_same_groups_and_parameters() {
        let script = include_str!("../../scripts/bench/compare.py");
        let groups =
            [GROUP_CLOSED_FORM_POINT, GROUP_CLOSED_FORM_SETUP, GROUP_GD_STEP, GROUP_RK4_STEP];
        let quoted: Vec<String> = groups.iter().map(|g| format!("\"{g}\"")).collect();
        assert!(script.contains(&format!("GROUPS = ({})", quoted.join(", "))));
        let points: Vec<String> = TIME_POINTS.iter().map(|t| format!("{t:?}")).collect();
        assert!(script.contains(&format!("TIME_POINTS = ({})", points.join(", "))));
        assert!(script.contains(&format!("LAMBDA = {LAMBDA:?}")));
        assert!(script.contains(&format!("SIGMA = {SIGMA:?}")));
        assert!(script.contains(&format!("LEARNING_RATE = {LEARNING_RATE:?}")));
        assert!(script.contains(&format!("RK4_DT = {RK4_DT:?}")));
        let sizes: Vec<String> = SIZES.iter().map(|n| n.to_string()).collect();
        assert!(script.contains(&format!("default=[{}]", sizes.join(", "))));
        let deep: Vec<String> =
            [GROUP_GD_STEP_DEEP, GROUP_RK4_STEP_DEEP].iter().map(|g| format!("\"{g}\"")).collect();
        assert!(script.contains(&format!("DEEP_GROUPS = ({})", deep.join(", "))));
        assert!(script.contains(&format!("DEEP_DEPTH = {DEEP_DEPTH}")));
        let deep_sizes: Vec<String> = DEEP_SIZES.iter().map(|n| n.to_string()).collect();
        assert!(script.contains(&format!("DEEP_SIZES = ({})", deep_sizes.join(", "))));
    }

    #[test]
    fn deep_problems_build_balanced() {
        for n in DEEP_SIZES {
            let (net, _) = deep_problem(n, 2000 + n as u64).expect("deep problem builds");
            assert_eq!(net.widths(), vec![n; DEEP_DEPTH + 1]);
            for l in 0..DEEP_DEPTH - 1 {
                let gap = net.balance(l) - DMatrix::identity(n, n) * LAMBDA;
                assert!(gap.norm() < 1e-8, "layer {l}: {}", gap.norm());
            }
        }
    }

    /// The early-form benchmark's times are all early on its problem (`benches/solver.rs`
    /// builds the 8-8-8 problem with seed 1008).
    #[test]
    fn early_time_points_take_the_early_form() {
        let built = square_problem(8, 1008).expect("benchmark problem builds");
        let early_until = built.closed_form.early_until();
        assert!(EARLY_TIME_POINTS.iter().all(|&t| t < early_until), "early_until {early_until}");
    }

    #[test]
    fn sign_flip_keeps_the_balance() {
        let mut built = square_problem(4, 3).expect("benchmark problem builds");
        let before = built.net.balance(0);
        flip_first_row(&mut built.net.layers[1]);
        assert!((built.net.balance(0) - before).norm() < 1e-14);
    }
}
