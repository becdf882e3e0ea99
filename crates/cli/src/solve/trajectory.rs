//! From a validated problem to the output document: closed form or simulation, then the
//! per-point metrics.
//!
//! Outcomes of a well-posed problem (singular `B`, divergence, a time beyond the generic closed
//! form's range) are not errors: they end the trajectory early with that status and the points
//! computed so far. Solver `InvalidInput` errors (weights not λ-balanced, Σxx not the identity
//! for the closed form) are bad input.

use lazyrich_solver::closed_form::{Exact, WHITENING_TOLERANCE};
use lazyrich_solver::metrics::{self, Objective};
use lazyrich_solver::ntk::{KernelReference, NtkFactors};
use lazyrich_solver::simulate::{self, Integrator};
use lazyrich_solver::{BalanceStats, Network, SolverError, Status};
use nalgebra::DMatrix;

use super::input::{Method, SolveInput};
use super::output::{Point, SolveOutput, rows};
use crate::error::BadInput;

/// Largest magnitude of a `QQᵀ` entry that is turned into a point. The NTK norm is quartic in
/// `QQᵀ`; beyond this it (or an SVD's squares) would overflow double precision (≈ 1.8e308), so
/// the point counts as diverged.
pub const MAX_MAGNITUDE: f64 = 1e75;

/// Computes the trajectory of a two-layer `input` (a deep one goes to [`super::deep`]).
pub fn compute(input: &SolveInput) -> anyhow::Result<SolveOutput> {
    let SolveInput { net, problem, times, method, described, .. } = input;
    let metrics = PointMetrics::new(net, problem)?;
    // The balance of the hidden layer at t = 0 (docs/math.md §2.2).
    let stats = net.balance_stats();
    let balance = stats.first();
    let mut output = SolveOutput {
        status: Status::Ok.as_str(),
        method: method.as_str(),
        lambda: net.lambdas()[0],
        lambdas: None,
        balance_defect: balance.and_then(BalanceStats::relative_defect),
        balance_entry_defect: balance.map(BalanceStats::entry_defect),
        message: None,
        n_steps: None,
        w1: described.then(|| rows(&net.layers[0])),
        w2: described.then(|| rows(&net.layers[1])),
        sigma_yx: described.then(|| rows(&problem.sigma_yx)),
        weights: None,
        points: Vec::with_capacity(times.len()),
    };
    match *method {
        Method::ClosedForm => closed_form(input, &metrics, &mut output)?,
        Method::Rk4 { dt } => simulation(input, Integrator::Rk4 { dt }, &metrics, &mut output)?,
        Method::Adaptive { tolerance } => {
            simulation(input, Integrator::adaptive(tolerance), &metrics, &mut output)?;
        }
        Method::GradientDescent { lr } => {
            simulation(input, Integrator::GradientDescent { lr }, &metrics, &mut output)?;
        }
    }
    Ok(output)
}

/// Evaluates the exact solution at every time.
fn closed_form(
    input: &SolveInput,
    metrics: &PointMetrics,
    output: &mut SolveOutput,
) -> anyhow::Result<()> {
    let exact = match Exact::new(&input.net, &input.problem) {
        Ok(exact) => exact,
        Err(err) => return stop_or_fail(err, input, output),
    };
    output.lambda = exact.lambda();
    for &t in &input.times {
        match exact.qqt(t) {
            Ok(qqt) => {
                let Some(point) = metrics.point(t, &qqt, None) else {
                    return Err(BadInput::new(format!(
                        "w1, w2, sigma_yx: too large for double precision: the closed form \
                         produced a value beyond {MAX_MAGNITUDE:e} at t = {t}"
                    ))
                    .into());
                };
                output.points.push(point);
            }
            Err(err) => return stop_or_fail(err, input, output),
        }
    }
    Ok(())
}

/// Records a solver outcome as the status, or turns invalid input into a [`BadInput`] that
/// names the field at fault. An overflow is bad input here: the problem's own numbers are beyond
/// double precision (a sweep's init records it as the status `overflow` instead).
fn stop_or_fail(
    err: SolverError,
    input: &SolveInput,
    output: &mut SolveOutput,
) -> anyhow::Result<()> {
    if let SolverError::Overflow(reason) = &err {
        return Err(BadInput::new(format!(
            "w1, w2, sigma_yx: too large for double precision: {reason}"
        ))
        .into());
    }
    if let Some(status) = err.status() {
        output.status = status.as_str();
        output.message = Some(err.to_string());
        return Ok(());
    }
    let SolverError::InvalidInput(reason) = &err else {
        return Err(err.into());
    };
    let field = blame(input);
    Err(BadInput::new(format!("{field}: {reason}")).into())
}

/// The field(s) to name when the closed form refuses a problem that passed the CLI's checks.
fn blame(input: &SolveInput) -> &'static str {
    let net = &input.net;
    if input.method != Method::ClosedForm {
        "method"
    } else if !input.problem.is_whitened(WHITENING_TOLERANCE) {
        "sigma_xx"
    } else if net.layers[0].nrows() < net.n_in().min(net.n_out()) {
        "w1"
    } else {
        // The remaining precondition is λ-balance.
        "w1, w2"
    }
}

/// Runs RK4, the adaptive integrator or gradient descent and records the network at every time.
fn simulation(
    input: &SolveInput,
    integrator: Integrator,
    metrics: &PointMetrics,
    output: &mut SolveOutput,
) -> anyhow::Result<()> {
    let balance_0 = input.net.balance(0);
    let mut points = Vec::with_capacity(input.times.len());
    // The first time whose values overflowed, though the weights themselves stayed finite.
    let mut overflow_t = None;
    let result =
        simulate::simulate(&input.net, &input.problem, integrator, &input.times, |t, net| {
            if overflow_t.is_some() {
                return;
            }
            let drift = (net.balance(0) - &balance_0).norm();
            match metrics.point(t, &qqt_of(net), Some(drift)) {
                Some(point) => points.push(point),
                None => overflow_t = Some(t),
            }
        });
    output.points = points;
    match result {
        Ok(report) => output.n_steps = Some(report.n_steps),
        Err(err) => stop_or_fail(err, input, output)?,
    }
    // An overflow seen by the observer comes first, even if the weights diverged later.
    if let Some(t) = overflow_t {
        output.status = Status::Diverged.as_str();
        output.message =
            Some(format!("simulation diverged: a value exceeded {MAX_MAGNITUDE:e} at t = {t}"));
    }
    Ok(())
}

/// `QQᵀ` of a two-layer network.
fn qqt_of(net: &Network) -> DMatrix<f64> {
    let (w1, w2) = (&net.layers[0], &net.layers[1]);
    let (n_in, n_out) = (w1.ncols(), w2.nrows());
    let mut qqt = DMatrix::zeros(n_in + n_out, n_in + n_out);
    qqt.view_mut((0, 0), (n_in, n_in)).copy_from(&w1.tr_mul(w1));
    let product = w2 * w1;
    qqt.view_mut((0, n_in), (n_in, n_out)).copy_from(&product.transpose());
    qqt.view_mut((n_in, 0), (n_out, n_in)).copy_from(&product);
    qqt.view_mut((n_in, n_in), (n_out, n_out)).copy_from(&(w2 * w2.transpose()));
    qqt
}

/// What is needed to turn a `QQᵀ` into a [`Point`].
struct PointMetrics {
    n_in: usize,
    objective: Objective,
    kernel_0: KernelReference,
}

impl PointMetrics {
    fn new(net: &Network, problem: &lazyrich_solver::Problem) -> Result<PointMetrics, BadInput> {
        let objective = Objective::new(problem);
        let scale = problem.trace_sigma_yy.unwrap_or(0.0).max(1.0);
        if objective.optimal_loss() < -1e-12 * scale {
            return Err(BadInput::new(format!(
                "trace_sigma_yy: too small: the smallest loss would be {:.6e} < 0 (tr Sigma_yy \
                 must be at least tr(Sigma_yx Sigma_xx^+ Sigma_yx^T))",
                objective.optimal_loss()
            )));
        }
        let n_in = net.n_in();
        let factors_0 = NtkFactors::from_qqt(&qqt_of(net), n_in);
        let kernel_0 = KernelReference::new(factors_0, problem.sigma_xx.as_ref());
        Ok(PointMetrics { n_in, objective, kernel_0 })
    }

    /// The metrics of one `QQᵀ`; `None` when it or a metric is non-finite or beyond
    /// [`MAX_MAGNITUDE`] (where an SVD would overflow).
    fn point(&self, t: f64, qqt: &DMatrix<f64>, balance_drift: Option<f64>) -> Option<Point> {
        if !qqt.iter().all(|x| x.abs() <= MAX_MAGNITUDE) {
            return None;
        }
        let factors = NtkFactors::from_qqt(qqt, self.n_in);
        let point = Point {
            t,
            qqt: Some(rows(qqt)),
            loss: self.objective.loss_from_qqt(qqt),
            kernel_distance: self.kernel_0.distance(&factors),
            singular_values: metrics::singular_values(&metrics::product_from_qqt(qqt, self.n_in)),
            balance_drift,
            weights: None,
        };
        point.is_finite().then_some(point)
    }
}
