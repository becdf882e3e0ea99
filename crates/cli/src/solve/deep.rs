//! A deep aligned description (depth L ≥ 3) by the deep aligned closed form (docs/math.md §3.6),
//! measured exactly as a sweep's `closed-form` row of the same point: the loss of `W_L⋯W_1` on
//! the task, the kernel distance to the NTK of the initial network and the singular values of the
//! network function come from the same solver functions, on the same weights.

use lazyrich_solver::deep_aligned::DeepAligned;
use lazyrich_solver::linalg::JacobiScratch;
use lazyrich_solver::metrics::{Objective, singular_values_into};
use lazyrich_solver::ntk::{KernelReference, NtkFactors};
use lazyrich_solver::{BalanceStats, Network, Problem, SolverError, Status};

use super::describe::DeepInit;
use super::output::{Point, SolveOutput, rows};
use super::trajectory::MAX_MAGNITUDE;
use crate::error::BadInput;

/// The trajectory of the deep aligned network `net` (built from `deep`'s factors) on `problem`.
pub fn compute(
    net: &Network,
    problem: &Problem,
    times: &[f64],
    deep: &DeepInit,
) -> anyhow::Result<SolveOutput> {
    // The balance of every hidden layer at t = 0, as the dataset's columns (docs/math.md §2.2).
    let balances = net.balance_stats();
    let lambdas: Vec<f64> = balances.iter().map(|b| b.lambda).collect();
    let mut output = SolveOutput {
        status: Status::Ok.as_str(),
        method: "closed-form",
        lambda: lambdas.iter().sum::<f64>() / lambdas.len() as f64,
        lambdas: Some(lambdas),
        balance_defect: balances
            .iter()
            .map(BalanceStats::relative_defect)
            .try_fold(0.0, |worst: f64, d| d.map(|d| worst.max(d))),
        balance_entry_defect: balances.iter().map(BalanceStats::entry_defect).reduce(f64::max),
        message: None,
        n_steps: None,
        w1: None,
        w2: None,
        sigma_yx: Some(rows(&problem.sigma_yx)),
        weights: Some(layers(net)),
        points: Vec::with_capacity(times.len()),
    };
    let objective = Objective::new(problem);
    let scale = problem.trace_sigma_yy.unwrap_or(0.0).max(1.0);
    if objective.optimal_loss() < -1e-12 * scale {
        return Err(BadInput::new(format!(
            "trace_sigma_yy: too small: the smallest loss would be {:.6e} < 0",
            objective.optimal_loss()
        ))
        .into());
    }
    if !objective.loss_of_product(&net.product()).is_finite() {
        return Err(too_large("the initial loss is not finite"));
    }
    let exact = match DeepAligned::new(deep.factors.clone(), &deep.lambdas, problem) {
        Ok(exact) => exact,
        Err(err) => return stop_or_fail(err, output),
    };
    let reference = KernelReference::new(NtkFactors::from_network(net), None);
    let mut scratch = JacobiScratch::default();
    let mut failure: Option<anyhow::Error> = None;
    let mut stopped: Option<SolverError> = None;
    let result = exact.networks(times, |t, net| {
        if failure.is_some() || stopped.is_some() {
            return;
        }
        let product = net.product();
        let mut singular_values = Vec::with_capacity(product.nrows().min(product.ncols()));
        if let Err(err) =
            singular_values_into(product.as_view(), &mut scratch, &mut singular_values)
        {
            stopped = Some(err);
            return;
        }
        let point = Point {
            t,
            qqt: None,
            loss: objective.loss_of_product(&product),
            kernel_distance: reference.distance(&NtkFactors::from_network(net)),
            singular_values,
            balance_drift: None,
            weights: Some(layers(net)),
        };
        let bounded = net.layers.iter().flatten().all(|x| x.abs() <= MAX_MAGNITUDE);
        if bounded && point.is_finite() {
            output.points.push(point);
        } else {
            failure = Some(too_large(&format!("a value beyond {MAX_MAGNITUDE:e} at t = {t}")));
        }
    });
    if let Some(err) = failure {
        return Err(err);
    }
    match result.err().or(stopped) {
        Some(err) => stop_or_fail(err, output),
        None => Ok(output),
    }
}

/// The layers of `net` as nested rows, input layer first.
fn layers(net: &Network) -> Vec<Vec<Vec<f64>>> {
    net.layers.iter().map(rows).collect()
}

/// Bad input: the description's numbers are beyond double precision.
fn too_large(reason: &str) -> anyhow::Error {
    BadInput::new(format!("init, task: too large for double precision: {reason}")).into()
}

/// A solver outcome as the status (the points computed so far stay), or bad input.
fn stop_or_fail(err: SolverError, mut output: SolveOutput) -> anyhow::Result<SolveOutput> {
    if let SolverError::Overflow(reason) = &err {
        return Err(too_large(reason));
    }
    if let Some(status) = err.status() {
        output.status = status.as_str();
        output.message = Some(err.to_string());
        return Ok(output);
    }
    let SolverError::InvalidInput(reason) = &err else {
        return Err(err.into());
    };
    Err(BadInput::new(format!("init, task: {reason}")).into())
}
