//! One point → one row: task, initialization, closed form and/or simulation, metrics.

use std::time::Instant;

use lazyrich_solver::closed_form::Exact;
use lazyrich_solver::init::{self, Balanced, ProductBases, ProductValues};
use lazyrich_solver::metrics::{Objective, product_from_qqt, singular_values};
use lazyrich_solver::ntk::{KernelReference, NtkFactors};
use lazyrich_solver::simulate::{Integrator, simulate};
use lazyrich_solver::{Network, Problem, SolverError, Status};
use lazyrich_spec::{InitKind, Point, Sim, TaskSpec};
use lazyrich_store::PointRow;
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Status of a point whose parameters the solver or task generator refused.
const STATUS_INVALID: &str = "invalid";

/// Why a point stopped before its last time: a status and a message for the row.
struct Outcome {
    status: &'static str,
    message: String,
}

impl From<SolverError> for Outcome {
    fn from(err: SolverError) -> Outcome {
        let status = err.status().map_or(STATUS_INVALID, Status::as_str);
        Outcome { status, message: err.to_string() }
    }
}

/// Computes one point. Never panics on a point the spec accepted; every failure is a status
/// (`singular`, `diverged`, `beyond_validity`, `rank_deficient_task`, `invalid`) with its message
/// in `error`, and the series computed before it.
pub fn compute_point(point: &Point) -> PointRow {
    let start = Instant::now();
    let mut row = parameters_row(point);
    match evaluate(point, &mut row) {
        Ok(()) => row.status = Status::Ok.as_str().to_owned(),
        Err(outcome) => {
            row.status = outcome.status.to_owned();
            row.error = Some(outcome.message);
        }
    }
    summarize(&mut row);
    if !point.record.per_time {
        row.t.clear();
        row.loss.clear();
        row.kernel_distance.clear();
        row.singular_values.clear();
        row.sim_loss.clear();
    }
    row.wall_time_s = start.elapsed().as_secs_f64();
    row
}

fn parameters_row(point: &Point) -> PointRow {
    let to_u32 = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    let task_samples = match point.task {
        TaskSpec::Random { samples } => Some(samples),
        _ => None,
    };
    PointRow {
        point_id: point.point_id,
        seed: point.seed,
        block: point.block,
        replicate: point.replicate,
        lambda: point.lambda,
        scale: point.scale,
        depth: to_u32(point.depth()),
        widths: point.widths.iter().map(|&w| to_u32(w)).collect(),
        n_in: to_u32(point.n_in()),
        n_hidden: to_u32(point.n_hidden()),
        n_out: to_u32(point.n_out()),
        task: point.task.kind().to_owned(),
        task_params: point.task.canonical(),
        task_samples,
        init: point.init.as_str().to_owned(),
        method: point.method.as_str().to_owned(),
        lr: point.lr,
        dt: point.dt,
        t_end: point.times.last().copied().unwrap_or(0.0),
        ..PointRow::default()
    }
}

fn build_problem(point: &Point) -> Result<Problem, Outcome> {
    let mut rng = ChaCha8Rng::seed_from_u64(point.task_seed);
    let task = match point.task {
        TaskSpec::Random { samples } => lazyrich_tasks::random_regression(
            point.n_in(),
            point.n_out(),
            samples as usize,
            &mut rng,
        ),
        ref other => {
            return Err(Outcome {
                status: STATUS_INVALID,
                message: format!("task kind '{}' is not supported by this runner", other.kind()),
            });
        }
    };
    task.map(|task| task.problem)
        .map_err(|err| Outcome { status: STATUS_INVALID, message: err.to_string() })
}

fn build_network(point: &Point, problem: &Problem) -> Result<Network, Outcome> {
    let mut rng = ChaCha8Rng::seed_from_u64(point.init_seed);
    let scale = point.scale.unwrap_or(1.0);
    let lambda = point.lambda.unwrap_or(0.0);
    let balanced =
        |bases| Balanced { lambda, values: ProductValues::GaussianProduct { sigma: scale }, bases };
    let net = match point.init {
        InitKind::Balanced => {
            init::balanced(&point.widths, &balanced(ProductBases::Random), &mut rng)
        }
        InitKind::Aligned => init::balanced(
            &point.widths,
            &balanced(ProductBases::TaskAligned(&problem.sigma_yx)),
            &mut rng,
        ),
        InitKind::Gaussian => init::gaussian(&point.widths, &vec![scale; point.depth()], &mut rng),
        InitKind::Lecun => init::lecun(&point.widths, &mut rng),
    };
    net.map_err(|err| Outcome { status: STATUS_INVALID, message: err.to_string() })
}

/// `QQᵀ` of a two-layer network.
fn qqt_of(net: &Network) -> Option<DMatrix<f64>> {
    net.q_matrix().map(|q| &q * q.transpose())
}

/// Metrics of one time point, from `QQᵀ` (two layers) or from the network (any depth).
struct Metrics<'a> {
    point: &'a Point,
    objective: Objective,
    reference: KernelReference,
}

impl Metrics<'_> {
    /// Appends the metrics at time `t`; `requested` is the grid time it stands for (they differ
    /// for gradient descent, whose steps fall on multiples of `lr·τ`).
    fn record(
        &self,
        row: &mut PointRow,
        (t, requested): (f64, f64),
        net: Option<&Network>,
        qqt: Option<&DMatrix<f64>>,
    ) {
        let n_in = self.point.n_in();
        let (loss, factors, product) = match (qqt, net) {
            (Some(qqt), _) => {
                let product = product_from_qqt(qqt, n_in);
                (self.objective.loss_of_product(&product), NtkFactors::from_qqt(qqt, n_in), product)
            }
            (None, Some(net)) => {
                let product = net.product();
                (self.objective.loss_of_product(&product), NtkFactors::from_network(net), product)
            }
            (None, None) => unreachable!("a time point has a network or a QQᵀ"),
        };
        row.t.push(t);
        row.loss.push(loss);
        row.kernel_distance.push(self.reference.distance(&factors));
        if self.point.record.singular_values {
            row.singular_values.push(singular_values(&product));
        }
        if let Some(qqt) = qqt
            && self
                .point
                .record
                .matrices_at
                .iter()
                .any(|&m| (m - requested).abs() <= 1e-12 * m.abs().max(1.0))
        {
            row.qqt_t.push(t);
            row.qqt.push(qqt.transpose().as_slice().to_vec());
        }
    }
}

fn evaluate(point: &Point, row: &mut PointRow) -> Result<(), Outcome> {
    let problem = build_problem(point)?;
    let net = build_network(point, &problem)?;
    let lambdas = net.lambdas();
    if !lambdas.is_empty() {
        row.lambda_measured = Some(lambdas.iter().sum::<f64>() / lambdas.len() as f64);
    }
    let metrics = Metrics {
        point,
        objective: Objective::new(&problem),
        reference: KernelReference::new(NtkFactors::from_network(&net), None),
    };
    row.initial_loss = Some(metrics.objective.loss_of_product(&net.product()));

    // The closed form first. If it stops (singular B, beyond validity), its outcome becomes the
    // row's status, but a simulation requested on the same point still runs and then provides the
    // series: a saddle-bound λ = 0 init is exactly where users want to see the simulation.
    let mut closed_form_qqts: Vec<DMatrix<f64>> = Vec::new();
    let mut closed_form_outcome: Option<Outcome> = None;
    if point.method.uses_closed_form() {
        match Exact::new(&net, &problem) {
            Ok(exact) => {
                for &t in point.times.iter() {
                    match exact.qqt(t) {
                        Ok(qqt) => {
                            metrics.record(row, (t, t), None, Some(&qqt));
                            closed_form_qqts.push(qqt);
                        }
                        Err(err) => {
                            closed_form_outcome = Some(err.into());
                            break;
                        }
                    }
                }
            }
            Err(err) => closed_form_outcome = Some(err.into()),
        }
    }
    let Some(sim) = point.method.simulation() else {
        return closed_form_outcome.map_or(Ok(()), Err);
    };
    let integrator = match sim {
        Sim::Rk4 => Integrator::Rk4 { dt: point.dt.unwrap_or(1e-3) },
        Sim::Gd => Integrator::GradientDescent { lr: point.lr.unwrap_or(1e-3) },
    };
    // With a complete closed-form series the simulation is the overlay (sim_loss, cf_sim_error);
    // otherwise it is the series.
    let overlay = point.method.uses_closed_form() && closed_form_outcome.is_none();
    if !overlay {
        row.t.clear();
        row.loss.clear();
        row.kernel_distance.clear();
        row.singular_values.clear();
        row.qqt_t.clear();
        row.qqt.clear();
    }
    let mut sim_loss = Vec::with_capacity(point.times.len());
    let mut max_error: f64 = 0.0;
    let mut step = 0;
    let result = simulate(&net, &problem, integrator, &point.times, |t, state| {
        let qqt = qqt_of(state);
        if overlay {
            sim_loss.push(metrics.objective.loss_of_product(&state.product()));
            if let (Some(sim), Some(exact)) = (&qqt, closed_form_qqts.get(step)) {
                let err = (sim - exact).norm() / exact.norm().max(f64::MIN_POSITIVE);
                max_error = max_error.max(err);
            }
        } else {
            let requested = point.times.get(step).copied().unwrap_or(t);
            metrics.record(row, (t, requested), Some(state), qqt.as_ref());
        }
        step += 1;
    });
    if overlay {
        row.sim_loss = sim_loss;
        if point.depth() == 2 {
            row.cf_sim_error = Some(max_error);
        }
    }
    let report = result?;
    row.balance_drift = report.balance_drift.iter().copied().reduce(f64::max);
    closed_form_outcome.map_or(Ok(()), Err)
}

/// Final loss, end kernel distance and t90 from the recorded series.
fn summarize(row: &mut PointRow) {
    row.final_loss = row.loss.last().copied();
    row.kernel_distance_end = row.kernel_distance.last().copied();
    if let Some(&t_last) = row.t.last() {
        row.t_end = t_last;
    }
    row.t90 = match (row.initial_loss, row.final_loss) {
        (Some(initial), Some(fin)) if initial > fin => {
            time_to_fraction(&row.t, &row.loss, initial, initial - 0.9 * (initial - fin))
        }
        _ => None,
    };
}

/// First time the loss reaches `threshold`, linearly interpolated on the grid, starting from
/// `(0, initial)` when the grid does not start at 0.
fn time_to_fraction(t: &[f64], loss: &[f64], initial: f64, threshold: f64) -> Option<f64> {
    let (mut t_prev, mut l_prev) = (0.0, initial);
    for (&ti, &li) in t.iter().zip(loss) {
        if li <= threshold {
            if ti == t_prev {
                return Some(ti);
            }
            let frac = (l_prev - threshold) / (l_prev - li);
            return Some(t_prev + frac * (ti - t_prev));
        }
        (t_prev, l_prev) = (ti, li);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t90_interpolates_between_grid_points() {
        let t = [1.0, 2.0, 3.0];
        let loss = [8.0, 4.0, 0.0];
        // initial 10, final 0: threshold 1 is reached between t = 2 (4) and t = 3 (0).
        assert_eq!(time_to_fraction(&t, &loss, 10.0, 1.0), Some(2.75));
        // From (0, 10) to (1, 8) when the threshold is 9.
        assert_eq!(time_to_fraction(&t, &loss, 10.0, 9.0), Some(0.5));
        assert_eq!(time_to_fraction(&t, &loss, 10.0, -1.0), None);
    }
}

#[cfg(test)]
mod point_tests {
    use super::*;
    use lazyrich_spec::{Shard, Spec};

    fn methods_spec() -> Spec {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sweeps/methods.toml");
        Spec::from_path(std::path::Path::new(path)).unwrap()
    }

    #[test]
    fn every_methods_point_computes_with_a_sane_row() {
        let spec = methods_spec();
        let mut n_points = 0;
        for point in spec.points(Shard { index: 0, count: 1 }) {
            let row = compute_point(&point);
            n_points += 1;
            let square_saddle = point.lambda == Some(0.0) && point.n_in() == point.n_out();
            if square_saddle && row.status == "singular" {
                // MATH P2: about half of the random λ = 0 square inits converge to a saddle. The
                // closed form reports it; a requested simulation still provides the series.
                assert!(row.error.as_deref().unwrap_or("").contains("singular"));
                if point.method.simulation().is_none() {
                    assert!(row.t.is_empty());
                    continue;
                }
                assert!(row.cf_sim_error.is_none() && row.sim_loss.is_empty());
            } else {
                assert_eq!(row.status, "ok", "{}: {:?}", point.canonical(), row.error);
            }
            assert_eq!(row.t.len(), point.times.len());
            assert_eq!(row.loss.len(), row.t.len());
            assert_eq!(row.kernel_distance.len(), row.t.len());
            assert!(row.loss.iter().chain(&row.kernel_distance).all(|x| x.is_finite()));
            if point.times[0] == 0.0 {
                assert!(row.kernel_distance[0].abs() < 1e-12, "KD(0) = {}", row.kernel_distance[0]);
                assert!((row.loss[0] - row.initial_loss.unwrap()).abs() < 1e-10);
            }
            assert!(row.final_loss.unwrap() < row.initial_loss.unwrap());
            if let Some(err) = row.cf_sim_error {
                let tol = if point.method.as_str() == "closed-form+rk4" { 1e-8 } else { 0.2 };
                assert!(err < tol, "{}: cf vs sim {err:e}", point.canonical());
            }
            if point.record.matrices_at.is_empty() {
                assert!(row.qqt.is_empty());
            } else {
                assert_eq!(row.qqt.len(), point.record.matrices_at.len());
                let n = point.n_in() + point.n_out();
                assert!(row.qqt.iter().all(|q| q.len() == n * n));
            }
            if point.depth() > 2 {
                assert!(row.balance_drift.unwrap() < 1e-8);
            }
        }
        assert!(n_points > 10);
    }

    #[test]
    fn rows_are_reproducible() {
        let spec = methods_spec();
        let point = spec.points(Shard { index: 0, count: 1 }).nth(3).unwrap();
        let (mut a, mut b) = (compute_point(&point), compute_point(&point));
        a.wall_time_s = 0.0;
        b.wall_time_s = 0.0;
        assert_eq!(a, b);
    }
}
