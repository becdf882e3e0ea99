//! Running a [`Protocol`]: exactly (closed form restarted at every switch) or by simulation.
//!
//! Time: every phase runs the caller's time grid `times` from its own start, and lasts until the
//! grid's last time `T`, or, with [`Protocol::until`], until the first grid time at which the
//! phase has converged (its excess loss is at most `until` times the excess loss it started
//! with). Phase `k + 1` starts where phase `k` ended (absolute times add up; for gradient
//! descent, the actual durations `round(τ/lr)·lr`). A later phase does not repeat a grid time 0:
//! it would be the switch itself, already observed as the previous phase's last time (and
//! reported by [`Event::Start`]).

use std::ops::ControlFlow;

use lazyrich_solver::closed_form::{BALANCE_TOLERANCE, Exact, Workspace, weights_from_qqt};
use lazyrich_solver::deep_aligned::DeepAligned;
use lazyrich_solver::init::{BalancedFactors, split_two_layer};
use lazyrich_solver::linalg::{FullSvd, product, svd as svd_bounded, symmetric_eigen};
use lazyrich_solver::metrics::{Objective, product_from_qqt};
use lazyrich_solver::simulate::{Integrator, simulate_until};
use lazyrich_solver::{Network, Problem, SolverError};
use nalgebra::DMatrix;

use crate::protocol::Protocol;

/// The state of the network at an observed time.
#[derive(Clone, Copy, Debug)]
pub enum State<'a> {
    /// `QQᵀ` of a two-layer network (closed form).
    Qqt(&'a DMatrix<f64>),
    /// The weights (simulation, any depth).
    Network(&'a Network),
}

/// What a protocol run reports, in order.
#[derive(Clone, Copy, Debug)]
pub enum Event<'a> {
    /// Phase `phase` starts at absolute time `t` from `state` (after any re-balancing).
    Start {
        /// Phase index.
        phase: usize,
        /// Absolute time of the start.
        t: f64,
        /// The state the phase starts from.
        state: State<'a>,
    },
    /// A time of the grid within phase `phase`.
    At {
        /// Phase index.
        phase: usize,
        /// Absolute time (for gradient descent, the time of the step actually taken).
        t: f64,
        /// The grid time it stands for, relative to the phase start.
        requested: f64,
        /// The state at `t`.
        state: State<'a>,
        /// The phase ends here (last grid time, or converged).
        last: bool,
    },
}

/// A solver failure during phase `phase` (0-based) of an `n_phases`-phase protocol.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{}{error}", if *.n_phases > 1 { format!("phase {} of {}: ", .phase + 1, .n_phases) } else { String::new() })]
pub struct ProtocolError {
    /// The failing phase.
    pub phase: usize,
    /// Number of phases of the protocol.
    pub n_phases: usize,
    /// What went wrong.
    pub error: SolverError,
}

/// The grid times of phase `phase`: the whole grid for the first, without a leading 0 later.
fn phase_times(times: &[f64], phase: usize) -> &[f64] {
    match times.first() {
        Some(&t0) if phase > 0 && t0 == 0.0 => &times[1..],
        _ => times,
    }
}

/// The convergence test of one phase ([`Protocol::until`]).
struct Convergence {
    objective: Objective,
    /// `until ×` the excess loss at the phase start.
    threshold: f64,
}

impl Convergence {
    /// `None` without `until`: the phase runs its whole grid.
    fn new(until: Option<f64>, problem: &Problem, start: &DMatrix<f64>) -> Option<Convergence> {
        let tol = until?;
        let objective = Objective::new(problem);
        let threshold = tol * objective.excess_loss(start);
        Some(Convergence { objective, threshold })
    }

    fn reached(&self, product: &DMatrix<f64>) -> bool {
        self.objective.excess_loss(product) <= self.threshold
    }
}

/// Runs `protocol` from `net` with the closed form (depth 2, λ-balanced), restarting it at every
/// switch from the `QQᵀ` reached (λ is conserved by the flow, so the restarted network has the
/// same λ; a fine-tuning phase restarts from the same function with λ_ft instead).
///
/// Errors carry the failing phase; the events of the earlier phases have been reported.
pub fn run_closed_form<F: FnMut(Event<'_>)>(
    protocol: &Protocol,
    net: &Network,
    times: &[f64],
    observe: F,
) -> Result<(), ProtocolError> {
    closed_form_run(protocol, None, net, times, observe)
}

/// [`run_closed_form`] with the [`FullSvd`] of every task's Σyx already computed
/// (`task_svds[i]` of `protocol.tasks[i]`, e.g. for the task-specificity references of a row
/// too): each phase's closed form takes its task's instead of decomposing Σyx again. A list of
/// the wrong length is an error of phase 0.
pub fn run_closed_form_with_svds<F: FnMut(Event<'_>)>(
    protocol: &Protocol,
    task_svds: &[FullSvd],
    net: &Network,
    times: &[f64],
    observe: F,
) -> Result<(), ProtocolError> {
    if task_svds.len() != protocol.tasks.len() {
        return Err(ProtocolError {
            phase: 0,
            n_phases: protocol.phases.len(),
            error: SolverError::InvalidInput(format!(
                "{} task SVDs given for {} tasks",
                task_svds.len(),
                protocol.tasks.len()
            )),
        });
    }
    closed_form_run(protocol, Some(task_svds), net, times, observe)
}

fn closed_form_run<F: FnMut(Event<'_>)>(
    protocol: &Protocol,
    task_svds: Option<&[FullSvd]>,
    net: &Network,
    times: &[f64],
    mut observe: F,
) -> Result<(), ProtocolError> {
    let n_phases = protocol.phases.len();
    let fail = |phase: usize| move |error: SolverError| ProtocolError { phase, n_phases, error };
    let n_in = net.n_in();
    let n_hidden = net.layers.first().map_or(0, |w| w.nrows());
    let mut current = net.clone();
    let mut lambda = None;
    let mut start = 0.0;
    for k in 0..n_phases {
        let exact = match task_svds {
            Some(svds) => {
                Exact::with_task_svd(&current, protocol.problem(k), &svds[protocol.phases[k].task])
            }
            None => Exact::new(&current, protocol.problem(k)),
        }
        .map_err(fail(k))?;
        let lambda_now = *lambda.get_or_insert(exact.lambda());
        let qqt0 = current.q_matrix().map(|q| product(&q, &q.transpose())).ok_or_else(|| {
            fail(k)(SolverError::InvalidInput("the closed form needs two layers".into()))
        })?;
        let convergence = Convergence::new(protocol.until, protocol.problem(k), &current.product());
        observe(Event::Start { phase: k, t: start, state: State::Qqt(&qqt0) });
        let grid = phase_times(times, k);
        let (mut end, mut duration) = (qqt0.clone(), 0.0);
        // One workspace and one output matrix for all the phase's times (no allocation per time
        // point in the stable form).
        let (mut ws, mut qqt) = (Workspace::default(), qqt0.clone());
        for (idx, &tau) in grid.iter().enumerate() {
            exact.qqt_into(tau, &mut ws, &mut qqt).map_err(fail(k))?;
            let converged =
                convergence.as_ref().is_some_and(|c| c.reached(&product_from_qqt(&qqt, n_in)));
            let last = converged || idx + 1 == grid.len();
            observe(Event::At {
                phase: k,
                t: start + tau,
                requested: tau,
                state: State::Qqt(&qqt),
                last,
            });
            if last {
                (end, duration) = (qqt, tau);
                break;
            }
        }
        start += duration;
        if let Some(next) = protocol.phases.get(k + 1) {
            let next_lambda = next.rebalance.unwrap_or(lambda_now);
            if next.rebalance.is_some() {
                lambda = Some(next_lambda);
            }
            current = restart(&end, n_in, n_hidden, next_lambda, next.rebalance.is_some())
                .map_err(fail(k + 1))?;
        }
    }
    Ok(())
}

/// Weights with the given `QQᵀ` (and balance λ) to restart the closed form from.
fn restart(
    qqt: &DMatrix<f64>,
    n_in: usize,
    n_hidden: usize,
    lambda: f64,
    rebalanced: bool,
) -> Result<Network, SolverError> {
    let n_out = qqt.nrows() - n_in;
    if n_hidden == n_in.min(n_out) {
        return weights_from_qqt(qqt, n_in, lambda);
    }
    if rebalanced {
        return Err(SolverError::InvalidInput(format!(
            "re-balancing needs Nh = min(Ni, No) = {}, got Nh = {n_hidden}",
            n_in.min(n_out)
        )));
    }
    let net = factor_qqt(qqt, n_in, n_hidden)?;
    // The eigen-factor of a nearly rank-deficient QQᵀ is accurate to about √ε relative on its
    // small modes (docs/math.md §4.3): when its balance is off by more than the closed form
    // accepts, the restart is inaccurate, not invalid input.
    let residual = net.balance_residuals()[0];
    let scale = net.layers.iter().map(|w| w.norm_squared()).fold(1.0, f64::max);
    if residual > BALANCE_TOLERANCE * scale {
        return Err(SolverError::Inaccurate(format!(
            "the weights restarted from QQᵀ (Nh = {n_hidden} > min(Ni, No)) are balanced only to \
             {:.1e} relative, above the closed form's {BALANCE_TOLERANCE:.0e}: use a simulation \
             method for this protocol",
            residual / scale
        )));
    }
    Ok(net)
}

/// A factor `Q` (`(Ni+No) × Nh`) with `QQᵀ = qqt`, from the leading eigenpairs (for restarts with
/// `Nh > min(Ni, No)`, where [`weights_from_qqt`] does not apply).
fn factor_qqt(qqt: &DMatrix<f64>, n_in: usize, n_hidden: usize) -> Result<Network, SolverError> {
    let n = qqt.nrows();
    let eigen = symmetric_eigen(qqt, "QQᵀ to restart from")?;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let mut q = DMatrix::zeros(n, n_hidden);
    for (col, &idx) in order.iter().take(n_hidden).enumerate() {
        let scale = eigen.eigenvalues[idx].max(0.0).sqrt();
        q.set_column(col, &(eigen.eigenvectors.column(idx) * scale));
    }
    let w1 = q.rows(0, n_in).transpose();
    let w2 = q.rows(n_in, n - n_in).clone_owned();
    Ok(Network { layers: vec![w1, w2] })
}

/// What a protocol simulation reports besides its events.
#[derive(Clone, Debug)]
pub struct SimulationOutcome {
    /// Per hidden layer, the largest balance drift within any phase (re-balancing is not drift).
    pub balance_drift: Vec<f64>,
    /// The weights at the end of the last phase.
    pub final_network: Network,
}

/// Runs `protocol` from `net` by simulation (any depth): the weights simply continue from one
/// phase to the next (a fine-tuning phase first re-balances them with [`rebalance`]).
pub fn run_simulation<F: FnMut(Event<'_>)>(
    protocol: &Protocol,
    net: &Network,
    integrator: Integrator,
    times: &[f64],
    mut observe: F,
) -> Result<SimulationOutcome, ProtocolError> {
    let n_phases = protocol.phases.len();
    let fail = |phase: usize| move |error: SolverError| ProtocolError { phase, n_phases, error };
    let mut current = net.clone();
    let mut start = 0.0;
    let mut drift: Vec<f64> = Vec::new();
    for (k, phase) in protocol.phases.iter().enumerate() {
        if let Some(lambda_ft) = phase.rebalance {
            current = rebalance(&current, lambda_ft).map_err(fail(k))?;
        }
        let convergence = Convergence::new(protocol.until, protocol.problem(k), &current.product());
        observe(Event::Start { phase: k, t: start, state: State::Network(&current) });
        let grid = phase_times(times, k);
        let mut step = 0;
        let mut end = start;
        let report = simulate_until(&current, protocol.problem(k), integrator, grid, |t, state| {
            end = start + t;
            let requested = grid.get(step).copied().unwrap_or(t);
            step += 1;
            let converged = convergence.as_ref().is_some_and(|c| c.reached(&state.product()));
            let last = converged || step == grid.len();
            let state = State::Network(state);
            observe(Event::At { phase: k, t: start + t, requested, state, last });
            if last { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .map_err(fail(k))?;
        if drift.is_empty() {
            drift = report.balance_drift.clone();
        } else {
            for (max, d) in drift.iter_mut().zip(&report.balance_drift) {
                *max = max.max(*d);
            }
        }
        current = report.final_network;
        start = end;
    }
    Ok(SimulationOutcome { balance_drift: drift, final_network: current })
}

/// The exact trajectory of a task-aligned network of any depth (docs/math.md §3.6) on a
/// single-phase protocol, reported as [`run_simulation`] reports it (`Start`, then `At` with
/// the weights at each grid time, the last one flagged, stopping once `until` is reached), so
/// that everything derived from the weights is computed exactly as for a simulation.
///
/// `factors` are the init's (`init::balanced_factors` with task-aligned bases), `net` the
/// network they give (reported at the start), `lambdas` its balances. A protocol of more than
/// one phase or a general Σxx is invalid input.
pub fn run_deep_aligned<F: FnMut(Event<'_>)>(
    protocol: &Protocol,
    net: &Network,
    factors: BalancedFactors,
    lambdas: &[f64],
    times: &[f64],
    mut observe: F,
) -> Result<(), ProtocolError> {
    let n_phases = protocol.phases.len();
    let fail = |error: SolverError| ProtocolError { phase: 0, n_phases, error };
    if n_phases != 1 {
        return Err(fail(SolverError::InvalidInput(format!(
            "the deep aligned closed form runs single-phase protocols, this one has {n_phases}"
        ))));
    }
    let problem = protocol.problem(0);
    let exact = DeepAligned::new(factors, lambdas, problem).map_err(fail)?;
    let convergence = Convergence::new(protocol.until, problem, &net.product());
    observe(Event::Start { phase: 0, t: 0.0, state: State::Network(net) });
    let mut stopped = false;
    let mut step = 0;
    exact
        .networks(times, |t, net| {
            if stopped {
                return;
            }
            step += 1;
            let converged = convergence.as_ref().is_some_and(|c| c.reached(&net.product()));
            let last = converged || step == times.len();
            observe(Event::At { phase: 0, t, requested: t, state: State::Network(net), last });
            stopped = last;
        })
        .map_err(fail)
}

/// The two-layer network with the same function `W2W1` as `net` and balance `lambda`, keeping
/// the hidden basis (docs/math.md §4.3): with `W2W1 = U S Vᵀ`, `W1 = R √(S_λ − λ/2) Vᵀ` and
/// `W2 = U √(S_λ + λ/2) Rᵀ`, where `R` is the orthogonal polar factor of `W1V + W2ᵀU`
/// (exactly the current `R` when `net` is balanced). Needs `Nh = min(Ni, No)`.
pub fn rebalance(net: &Network, lambda: f64) -> Result<Network, SolverError> {
    let [w1, w2] = net.layers.as_slice() else {
        return Err(SolverError::InvalidInput(format!(
            "re-balancing needs a two-layer network, got depth {}",
            net.depth()
        )));
    };
    let (n_hidden, n_in, n_out) = (w1.nrows(), w1.ncols(), w2.nrows());
    let m = n_in.min(n_out);
    if n_hidden != m {
        return Err(SolverError::InvalidInput(format!(
            "re-balancing needs Nh = min(Ni, No) = {m}, got Nh = {n_hidden}"
        )));
    }
    if !lambda.is_finite() {
        return Err(SolverError::InvalidInput(format!("lambda_ft must be finite, got {lambda}")));
    }
    let svd = FullSvd::new(&net.product(), "the network function to re-balance")?;
    let mixed = w1 * &svd.v_m + w2.transpose() * &svd.u_m;
    let polar = svd_bounded(&mixed, "the hidden basis to re-balance")?;
    let (Some(p), Some(q_t)) = (polar.u, polar.v_t) else {
        return Err(SolverError::InvalidInput("SVD failed while re-balancing".into()));
    };
    let r = p * q_t;
    let mut left = DMatrix::zeros(m, m);
    let mut right = DMatrix::zeros(m, m);
    for alpha in 0..m {
        let (a, b) = split_two_layer(svd.s[alpha], lambda);
        left[(alpha, alpha)] = a.sqrt();
        right[(alpha, alpha)] = b.sqrt();
    }
    let new_w1 = &r * left * svd.v_m.transpose();
    let new_w2 = &svd.u_m * right * r.transpose();
    Network::two_layer(new_w1, new_w2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{TaskDef, protocol};
    use lazyrich_solver::init::{self, Balanced, ProductBases, ProductValues};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn balanced(widths: &[usize], lambda: f64, seed: u64) -> Network {
        let params = Balanced {
            lambda,
            values: ProductValues::GaussianProduct { sigma: 0.3 },
            bases: ProductBases::Random,
        };
        init::balanced(widths, &params, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
    }

    #[test]
    fn rebalance_keeps_the_function_and_sets_lambda() {
        for lambda in [-2.0, 0.0, 0.7] {
            let net = balanced(&[4, 3, 3], 0.5, 1);
            let out = rebalance(&net, lambda).unwrap();
            assert!((out.product() - net.product()).amax() < 1e-13);
            assert!((out.lambdas()[0] - lambda).abs() < 1e-13);
            assert!(out.balance_residuals()[0] < 1e-13);
        }
        // Re-balancing to its own λ returns the same weights (the hidden basis is kept).
        let net = balanced(&[3, 3, 5], -0.4, 2);
        let same = rebalance(&net, -0.4).unwrap();
        for (a, b) in same.layers.iter().zip(&net.layers) {
            assert!((a - b).amax() < 1e-12);
        }
        assert!(rebalance(&balanced(&[3, 4, 3], 0.0, 3), 1.0).is_err());
    }

    #[test]
    fn phases_report_absolute_times_and_starts() {
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let p = protocol(&TaskDef::Continual { tasks: 3, samples: 8 }, 3, 3, &mut rng).unwrap();
        let net = balanced(&[3, 3, 3], 1.0, 5);
        let mut seen = Vec::new();
        run_closed_form(&p, &net, &[0.0, 1.0, 2.0], |event| match event {
            Event::Start { phase, t, .. } => seen.push(("start", phase, t, false)),
            Event::At { phase, t, last, .. } => seen.push(("at", phase, t, last)),
        })
        .unwrap();
        let expected = [
            ("start", 0, 0.0, false),
            ("at", 0, 0.0, false),
            ("at", 0, 1.0, false),
            ("at", 0, 2.0, true),
            ("start", 1, 2.0, false),
            ("at", 1, 3.0, false),
            ("at", 1, 4.0, true),
            ("start", 2, 4.0, false),
            ("at", 2, 5.0, false),
            ("at", 2, 6.0, true),
        ];
        assert_eq!(seen, expected);
    }
}
