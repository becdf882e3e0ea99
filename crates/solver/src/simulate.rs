//! Gradient descent, RK4 and adaptive (Dormand–Prince 5(4)) integration of the gradient flow of a
//! deep linear network, for any depth $L \ge 1$ and any initialization (docs/math.md §1, §6,
//! §6.1, pitfall P11).
//!
//! With $W = W_L \cdots W_1$ the loss is
//! $$\mathcal L = \tfrac12 \operatorname{tr}(W \Sigma_{xx} W^\top) - \operatorname{tr}(W \Sigma_{yx}^\top) + \text{const},$$
//! and its gradient with respect to layer $l$ is
//! $$\nabla_l \mathcal L = (W_L \cdots W_{l+1})^\top \, (W \Sigma_{xx} - \Sigma_{yx}) \, (W_{l-1} \cdots W_1)^\top$$
//! ($\Sigma_{xx} = I$ for a whitened problem). The flow is $\tau \dot W_l = -\nabla_l \mathcal L$;
//! gradient descent is $W_l \leftarrow W_l - \eta \nabla_l \mathcal L$, and step $k$ is time
//! $t = k \eta \tau$. The mismatch between the two grows with $\eta |\lambda|$ (P11).
//!
//! One gradient evaluation costs $3(L-1)$ matrix products (prefix products $W_l \cdots W_1$
//! forward, $(W_L \cdots W_{l+1})^\top E$ backward, one product per layer for the gradient), plus
//! one for a general $\Sigma_{xx}$. Every buffer lives in [`Simulator`], so a step allocates
//! nothing: small products use the hand-written kernels of `kernels`; large ones (more than
//! [`SMALL_PRODUCT`] multiply–adds) go to nalgebra's `gemm` (matrixmultiply), whose packing buffer
//! is the only allocation and is negligible at that size.
//!
//! Each layer balance $B_l = W_{l+1}^\top W_{l+1} - W_l W_l^\top$ is conserved by the flow
//! (docs/math.md §2.1, §6); [`SimulationReport::balance_drift`] measures how well the integrator keeps it.

use std::ops::ControlFlow;

use nalgebra::DMatrix;

use crate::error::SolverError;
use crate::kernels::{all_finite, axpy, lin_comb, matmul, matmul_nt, matmul_tn};
use crate::network::{Network, Problem};

/// How the weights are advanced in time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Integrator {
    /// Gradient descent `W ← W − lr ∇L`; step `k` is time `k · lr · τ`.
    GradientDescent {
        /// Learning rate η (finite, > 0).
        lr: f64,
    },
    /// Classical fourth-order Runge–Kutta on `τ dW/dt = −∇L`, with steps of at most `dt`.
    Rk4 {
        /// Largest time step (finite, > 0).
        dt: f64,
    },
    /// Dormand–Prince 5(4) with error control on `τ dW/dt = −∇L` (docs/math.md §6.1): steps
    /// whose estimated local error exceeds `tolerance` relative to the size of each layer are
    /// rejected and retried shorter; every requested time is stepped to exactly.
    Adaptive {
        /// Relative accuracy asked of the flow, in [[`MIN_TOLERANCE`], 1).
        tolerance: f64,
        /// Most steps (accepted and rejected) before the simulation stops as
        /// [`SolverError::Inaccurate`]; [`MAX_ADAPTIVE_STEPS`] for sweeps.
        max_steps: u64,
    },
}

impl Integrator {
    /// The adaptive integrator at `tolerance` with the default step budget
    /// [`MAX_ADAPTIVE_STEPS`].
    pub fn adaptive(tolerance: f64) -> Integrator {
        Integrator::Adaptive { tolerance, max_steps: MAX_ADAPTIVE_STEPS }
    }
}

/// The smallest tolerance the adaptive integrator accepts: below it rounding errors of the
/// steps themselves (about 1e-16 relative per step, times the number of steps) dominate.
pub const MIN_TOLERANCE: f64 = 1e-12;

/// Default budget of adaptive steps (accepted plus rejected) of one simulation: 10⁷ steps of
/// six gradient evaluations, about the work of the 10⁸-step limit of a sweep's RK4 point.
pub const MAX_ADAPTIVE_STEPS: u64 = 10_000_000;

/// What a finished simulation reports besides the observations.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulationReport {
    /// Number of integrator steps taken (GD steps, RK4 steps of four gradient evaluations, or
    /// accepted adaptive steps).
    pub n_steps: u64,
    /// Number of gradient evaluations (GD: one a step; RK4: four; adaptive: six an attempted
    /// step plus one at the start, FSAL).
    pub n_gradient_evals: u64,
    /// Rejected adaptive steps (0 for GD and RK4).
    pub n_rejected: u64,
    /// Per hidden layer l: max over observed times of ‖B_l(t) − B_l(0)‖_F / c_l with
    /// B_l = W_{l+1}ᵀW_{l+1} − W_lW_lᵀ and c_l = max(1, ‖B_l(0)‖_F, ‖W_{l+1}ᵀW_{l+1}‖_F,
    /// ‖W_lW_lᵀ‖_F) at t = 0 (the size of the terms, so that roundoff in the difference of two
    /// large Grams is not mistaken for drift). Empty for depth 1. The flow conserves every B_l,
    /// so for RK4 this is an estimate of the integration error (docs/math.md §2.1, P16).
    pub balance_drift: Vec<f64>,
    /// The weights at the last requested time (the initial weights when `times` is empty).
    pub final_network: Network,
}

/// Largest number of steps one simulation may take (about 10¹²; at a microsecond a step this is
/// already weeks). Larger requests are refused as invalid input rather than left to run.
pub const MAX_STEPS: u64 = 1 << 40;

pub use crate::kernels::SMALL_PRODUCT;

/// Relative slack in the RK4 step count, so that a span of exactly `k · dt` (up to rounding of
/// decimal inputs) takes `k` steps and not `k + 1`.
const STEP_COUNT_SLACK: f64 = 1e-12;

/// Simulates `net` on `problem` and calls `observe(t, &network)` at every requested time.
///
/// `times` must be finite, `>= 0` and non-decreasing (a repeated time is observed twice); the
/// simulation starts at `t = 0` from `net`. RK4 hits each requested time exactly: between
/// consecutive requested times it takes `n = ceil(Δ/dt)` equal steps of `Δ/n` (with a relative
/// slack of 1e-12 in the ceiling). GD observes at step `k = round(t/(lr·τ))` and passes the actual
/// time `k·lr·τ`.
///
/// Errors: [`SolverError::InvalidInput`] for bad times, a bad `lr`/`dt` (not finite and > 0), more
/// than [`MAX_STEPS`] steps, or a network/problem mismatch; [`SolverError::Diverged`] with the time
/// of the first step that produced a non-finite weight (observations before it have been made).
pub fn simulate<F: FnMut(f64, &Network)>(
    net: &Network,
    problem: &Problem,
    integrator: Integrator,
    times: &[f64],
    mut observe: F,
) -> Result<SimulationReport, SolverError> {
    simulate_until(net, problem, integrator, times, |t, state| {
        observe(t, state);
        ControlFlow::Continue(())
    })
}

/// [`simulate`] that stops early: after an observation for which `observe` returns
/// [`ControlFlow::Break`], no further step is taken and the report's `final_network` is the
/// network just observed (multi-phase protocols switch task once a phase has converged).
pub fn simulate_until<F: FnMut(f64, &Network) -> ControlFlow<()>>(
    net: &Network,
    problem: &Problem,
    integrator: Integrator,
    times: &[f64],
    mut observe: F,
) -> Result<SimulationReport, SolverError> {
    check_times(times)?;
    let mut sim = Simulator::new(net, problem)?;
    let mut drift = BalanceTracker::new(sim.network());
    let tau = problem.tau;
    let (n_steps, n_gradient_evals, n_rejected) = match integrator {
        Integrator::GradientDescent { lr } => {
            check_step_size("learning rate lr", lr)?;
            let time_per_step = lr * tau;
            let mut n_done: u64 = 0;
            for &t in times {
                let target = n_steps_for("time", t, time_per_step, f64::round)?;
                while n_done < target {
                    sim.gd_step(lr);
                    n_done += 1;
                    if !sim.is_finite() {
                        return Err(SolverError::Diverged { t: n_done as f64 * time_per_step });
                    }
                }
                sim.time = n_done as f64 * time_per_step;
                drift.observe(sim.network());
                if observe(sim.time, sim.network()).is_break() {
                    break;
                }
            }
            (n_done, n_done, 0)
        }
        Integrator::Rk4 { dt } => {
            check_step_size("time step dt", dt)?;
            let mut n_done: u64 = 0;
            let mut t_prev = 0.0;
            for &t in times {
                let span = t - t_prev;
                if span > 0.0 {
                    let n_sub = n_steps_for("time span", span, dt, |x| {
                        (x * (1.0 - STEP_COUNT_SLACK)).ceil().max(1.0)
                    })?;
                    if n_done + n_sub > MAX_STEPS {
                        return Err(too_many_steps(n_done + n_sub));
                    }
                    let h = span / n_sub as f64;
                    for step_idx in 1..=n_sub {
                        sim.rk4_step(h);
                        if !sim.is_finite() {
                            return Err(SolverError::Diverged { t: t_prev + step_idx as f64 * h });
                        }
                    }
                    n_done += n_sub;
                }
                sim.time = t;
                t_prev = t;
                drift.observe(sim.network());
                if observe(t, sim.network()).is_break() {
                    break;
                }
            }
            (n_done, 4 * n_done, 0)
        }
        Integrator::Adaptive { tolerance, max_steps } => {
            check_tolerance(tolerance)?;
            let mut stepper = Adaptive::new(&sim, tolerance, max_steps);
            for &t in times {
                stepper.advance_to(&mut sim, t)?;
                drift.observe(sim.network());
                if observe(t, sim.network()).is_break() {
                    break;
                }
            }
            (stepper.n_accepted, stepper.n_evals, stepper.n_rejected)
        }
    };
    Ok(SimulationReport {
        n_steps,
        n_gradient_evals,
        n_rejected,
        balance_drift: drift.max_drift,
        final_network: sim.into_network(),
    })
}

fn check_times(times: &[f64]) -> Result<(), SolverError> {
    let mut prev = 0.0;
    for (idx, &t) in times.iter().enumerate() {
        if !t.is_finite() || t < 0.0 {
            return Err(SolverError::InvalidInput(format!(
                "requested time {idx} is {t}; times must be finite and >= 0"
            )));
        }
        if t < prev {
            return Err(SolverError::InvalidInput(format!(
                "requested times must be ascending, but time {idx} = {t} follows {prev}"
            )));
        }
        prev = t;
    }
    Ok(())
}

fn check_step_size(name: &str, value: f64) -> Result<(), SolverError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(SolverError::InvalidInput(format!("{name} must be finite and > 0, got {value}")))
    }
}

fn check_tolerance(tolerance: f64) -> Result<(), SolverError> {
    if (MIN_TOLERANCE..1.0).contains(&tolerance) {
        Ok(())
    } else {
        Err(SolverError::InvalidInput(format!(
            "tolerance must be in [{MIN_TOLERANCE:e}, 1), got {tolerance}"
        )))
    }
}

fn too_many_steps(n: u64) -> SolverError {
    SolverError::InvalidInput(format!("the simulation would take {n} steps, above {MAX_STEPS}"))
}

/// `rounding(span / step)` as a step count, refusing more than [`MAX_STEPS`].
fn n_steps_for(
    what: &str,
    span: f64,
    step: f64,
    rounding: impl Fn(f64) -> f64,
) -> Result<u64, SolverError> {
    let n = rounding(span / step);
    // Also refuses NaN (e.g. an overflowing division).
    if n.is_nan() || n > MAX_STEPS as f64 {
        return Err(SolverError::InvalidInput(format!(
            "{what} {span} needs {n:.3e} steps of {step}, above the limit of {MAX_STEPS}"
        )));
    }
    Ok(n as u64)
}

/// A simulation in progress: the current weights and every buffer a step needs.
///
/// Unlike [`simulate`], the step methods do not check their step size or look for divergence;
/// use [`Simulator::is_finite`].
#[derive(Clone, Debug)]
pub struct Simulator {
    net: Network,
    time: f64,
    tau: f64,
    gradient: Gradient,
    /// RK4 stage weights.
    stage: Vec<DMatrix<f64>>,
    /// RK4 weighted sum of the stage gradients.
    acc: Vec<DMatrix<f64>>,
}

impl Simulator {
    /// A simulator at `t = 0` starting from `net`.
    ///
    /// Errors with [`SolverError::InvalidInput`] when the layers do not chain or the problem does
    /// not match the network or is invalid ([`Problem::check`]), and [`SolverError::Overflow`]
    /// when a weight is not finite.
    pub fn new(net: &Network, problem: &Problem) -> Result<Simulator, SolverError> {
        let net = Network::new(net.layers.clone())?;
        problem.check(net.n_in(), net.n_out())?;
        if !net.is_finite() {
            return Err(SolverError::Overflow(
                "the initial network has a non-finite weight".into(),
            ));
        }
        let gradient = Gradient::new(&net, problem);
        let zeros_like = |layers: &[DMatrix<f64>]| {
            layers.iter().map(|w| DMatrix::zeros(w.nrows(), w.ncols())).collect::<Vec<_>>()
        };
        let stage = zeros_like(&net.layers);
        let acc = zeros_like(&net.layers);
        Ok(Simulator { net, time: 0.0, tau: problem.tau, gradient, stage, acc })
    }

    /// One gradient-descent step `W_l ← W_l − lr ∇_l L`; time advances by `lr · τ`.
    pub fn gd_step(&mut self, lr: f64) {
        self.gradient.eval(&self.net.layers);
        for (layer_idx, w) in self.net.layers.iter_mut().enumerate() {
            axpy(w.as_mut_slice(), -lr, self.gradient.grad(layer_idx).as_slice());
        }
        self.time += lr * self.tau;
    }

    /// One classical RK4 step of length `dt` of `τ dW_l/dt = −∇_l L`.
    pub fn rk4_step(&mut self, dt: f64) {
        let rate = -1.0 / self.tau;
        let Simulator { net, gradient, stage, acc, .. } = self;
        let layers = &mut net.layers;

        // k1 at the current weights; `acc` collects k1 + 2k2 + 2k3 + k4 and `stage` holds the
        // weights at which the next k is evaluated.
        gradient.eval(layers);
        for (layer_idx, (a, s)) in acc.iter_mut().zip(stage.iter_mut()).enumerate() {
            let g = gradient.grad(layer_idx).as_slice();
            a.as_mut_slice().copy_from_slice(g);
            lin_comb(s.as_mut_slice(), layers[layer_idx].as_slice(), 0.5 * dt * rate, g);
        }
        // k2 and k3 at the midpoints, k4 at the end.
        for (stage_weight, next_step) in [(2.0, Some(0.5 * dt)), (2.0, Some(dt)), (1.0, None)] {
            gradient.eval(stage);
            for (layer_idx, (a, s)) in acc.iter_mut().zip(stage.iter_mut()).enumerate() {
                let g = gradient.grad(layer_idx).as_slice();
                axpy(a.as_mut_slice(), stage_weight, g);
                if let Some(next_step) = next_step {
                    lin_comb(s.as_mut_slice(), layers[layer_idx].as_slice(), next_step * rate, g);
                }
            }
        }
        for (w, a) in layers.iter_mut().zip(acc.iter()) {
            axpy(w.as_mut_slice(), dt * rate / 6.0, a.as_slice());
        }
        self.time += dt;
    }

    /// The current weights.
    pub fn network(&self) -> &Network {
        &self.net
    }

    /// The current time (the sum of the step times taken so far).
    pub fn time(&self) -> f64 {
        self.time
    }

    /// Whether every weight is finite (a fast vectorized check, used after every step).
    pub fn is_finite(&self) -> bool {
        self.net.layers.iter().all(|w| all_finite(w.as_slice()))
    }

    /// The current weights, by value.
    pub fn into_network(self) -> Network {
        self.net
    }
}

/// The Dormand–Prince 5(4) tableau (docs/math.md §6.1): row `i` holds `a_{i+2, 1..=i+1}`; the
/// last row is the fifth-order solution `b`, whose derivative is the first stage of the next
/// step (FSAL).
const DP_A: [&[f64]; 6] = [
    &[1.0 / 5.0],
    &[3.0 / 40.0, 9.0 / 40.0],
    &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
    &[19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0],
    &[9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0],
    &[35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0],
];

/// `b − b̂`: the fifth- minus the embedded fourth-order weights, the local error estimate.
const DP_E: [f64; 7] = [
    71.0 / 57600.0,
    0.0,
    -71.0 / 16695.0,
    71.0 / 1920.0,
    -17253.0 / 339200.0,
    22.0 / 525.0,
    -1.0 / 40.0,
];

/// Step-size controller: `h ← h · clamp(SAFETY · err^(−1/5), MIN_FACTOR, MAX_FACTOR)`.
const SAFETY: f64 = 0.9;
const MIN_FACTOR: f64 = 0.2;
const MAX_FACTOR: f64 = 5.0;

/// The local error per step is held to `LOCAL_SHARE · tolerance` (relative to each layer), so
/// that the error accumulated over a trajectory stays within `tolerance` (docs/math.md §6.1).
const LOCAL_SHARE: f64 = 0.1;

/// The adaptive integrator's state between requested times: the stages (`k[s][layer]`, the
/// gradients; `k[0]` is the gradient at the current weights), the trial weights and the
/// proposed next step.
struct Adaptive {
    rtol: f64,
    max_steps: u64,
    k: Vec<Vec<DMatrix<f64>>>,
    trial: Vec<DMatrix<f64>>,
    /// Proposed length of the next step; `None` before the first step.
    h: Option<f64>,
    n_accepted: u64,
    n_rejected: u64,
    n_evals: u64,
}

impl Adaptive {
    fn new(sim: &Simulator, tolerance: f64, max_steps: u64) -> Adaptive {
        let zeros: Vec<DMatrix<f64>> =
            sim.net.layers.iter().map(|w| DMatrix::zeros(w.nrows(), w.ncols())).collect();
        Adaptive {
            rtol: LOCAL_SHARE * tolerance,
            max_steps,
            k: vec![zeros.clone(); 7],
            trial: zeros,
            h: None,
            n_accepted: 0,
            n_rejected: 0,
            n_evals: 0,
        }
    }

    /// Evaluates the gradient at `at` into `k[stage]`.
    fn eval_into(&mut self, gradient: &mut Gradient, stage: usize, at: StageWeights) {
        match at {
            StageWeights::Current(layers) => gradient.eval(layers),
            StageWeights::Trial => gradient.eval(&self.trial),
        }
        for (layer_idx, k) in self.k[stage].iter_mut().enumerate() {
            k.as_mut_slice().copy_from_slice(gradient.grad(layer_idx).as_slice());
        }
        self.n_evals += 1;
    }

    /// Steps `sim` to time `t` exactly (a no-op when it is already there).
    fn advance_to(&mut self, sim: &mut Simulator, t: f64) -> Result<(), SolverError> {
        let rate = -1.0 / sim.tau;
        let h_first = match self.h {
            Some(h) => h,
            None => {
                self.eval_into(&mut sim.gradient, 0, StageWeights::Current(&sim.net.layers));
                self.initial_step(&sim.net.layers, rate, t - sim.time, sim.tau)
            }
        };
        self.h = Some(h_first);
        // Non-finite trial weights in the last rejected step: a collapse is then a divergence.
        let mut last_non_finite = false;
        while sim.time < t {
            let mut h = self.h.unwrap_or(h_first);
            let remaining = t - sim.time;
            // Land on t: take the rest when it is within 1 % more than the proposal.
            let lands = h * 1.01 >= remaining;
            if lands {
                h = remaining;
            }
            let h_min = 64.0 * f64::EPSILON * sim.time.abs().max(sim.tau * 1e-6);
            if h < h_min && !lands {
                return Err(if last_non_finite {
                    SolverError::Diverged { t: sim.time }
                } else {
                    SolverError::Inaccurate(format!(
                        "the adaptive step collapsed to {h:.3e} at t = {} (below {h_min:.3e}): the \
                         flow is too stiff for the tolerance {:e} (docs/math.md §6.1)",
                        sim.time,
                        self.rtol / LOCAL_SHARE
                    ))
                });
            }
            if self.n_accepted + self.n_rejected >= self.max_steps {
                return Err(SolverError::Inaccurate(format!(
                    "the adaptive integrator took its limit of {} steps and reached only t = {} \
                     of {t} (last step {h:.3e}): the flow is too stiff for the tolerance {:e} \
                     (docs/math.md §6.1)",
                    self.max_steps,
                    sim.time,
                    self.rtol / LOCAL_SHARE
                )));
            }
            let err = self.try_step(sim, h, rate);
            let accepted = err <= 1.0;
            // NaN (a non-finite trial) counts as a rejection with the largest shrink.
            let factor = if err.is_nan() {
                MIN_FACTOR
            } else if err == 0.0 {
                MAX_FACTOR
            } else {
                (SAFETY * err.powf(-0.2)).clamp(MIN_FACTOR, MAX_FACTOR)
            };
            if accepted {
                std::mem::swap(&mut sim.net.layers, &mut self.trial);
                self.k.swap(0, 6);
                sim.time = if lands { t } else { sim.time + h };
                self.n_accepted += 1;
                let proposal = self.h.unwrap_or(h);
                // A step shortened to land on t does not shrink the next proposal.
                let next = if last_non_finite { h.min(h * factor) } else { h * factor };
                self.h = Some(if lands { next.max(proposal) } else { next });
                last_non_finite = false;
            } else {
                self.n_rejected += 1;
                self.h = Some(h * factor.min(1.0));
                last_non_finite = err.is_nan() || err.is_infinite();
            }
        }
        Ok(())
    }

    /// `0.01 · min_l ‖W_l‖ / ‖dW_l/dt‖` over the layers where both are nonzero (the classical
    /// first guess: a step that changes each layer by about 1 %), at most the span to the first
    /// requested time; `1e-6 τ` when no layer moves or is nonzero.
    fn initial_step(&self, layers: &[DMatrix<f64>], rate: f64, span: f64, tau: f64) -> f64 {
        let guess = layers
            .iter()
            .zip(&self.k[0])
            .map(|(w, k)| w.norm() / (rate.abs() * k.norm()))
            .filter(|ratio| ratio.is_finite() && *ratio > 0.0)
            .fold(f64::INFINITY, f64::min)
            * 0.01;
        let guess = if guess.is_finite() { guess } else { tau * 1e-6 };
        if span > 0.0 { guess.min(span) } else { guess }
    }

    /// One Dormand–Prince trial step of length `h` from the current weights into `self.trial`
    /// (with `k[6]` the gradient there). Returns the scaled error norm: `max_l ‖e_l‖_F /
    /// (rtol · max(‖W_l‖_F, ‖W̃_l‖_F))`, ≤ 1 to accept; NaN when a trial weight is not finite.
    fn try_step(&mut self, sim: &mut Simulator, h: f64, rate: f64) -> f64 {
        let step = h * rate;
        for (row_idx, row) in DP_A.iter().enumerate() {
            let stage = row_idx + 1;
            for layer_idx in 0..self.trial.len() {
                let (trial, k) = (&mut self.trial[layer_idx], &self.k);
                lin_comb(
                    trial.as_mut_slice(),
                    sim.net.layers[layer_idx].as_slice(),
                    step * row[0],
                    k[0][layer_idx].as_slice(),
                );
                for (j, &a) in row.iter().enumerate().skip(1) {
                    if a != 0.0 {
                        axpy(trial.as_mut_slice(), step * a, k[j][layer_idx].as_slice());
                    }
                }
            }
            if !self.trial.iter().all(|w| all_finite(w.as_slice())) {
                // The later stages would be NaN too; the step is rejected.
                return f64::NAN;
            }
            self.eval_into(&mut sim.gradient, stage, StageWeights::Trial);
        }
        // The trial now holds the fifth-order solution and k[6] its gradient.
        let mut worst: f64 = 0.0;
        for (layer_idx, trial) in self.trial.iter().enumerate() {
            let mut err_sq = 0.0;
            let columns: [&[f64]; 7] = std::array::from_fn(|s| self.k[s][layer_idx].as_slice());
            for idx in 0..trial.len() {
                let mut e = 0.0;
                for (coef, col) in DP_E.iter().zip(&columns) {
                    e += coef * col[idx];
                }
                err_sq += e * e;
            }
            let err = step.abs() * err_sq.sqrt();
            let size = sim.net.layers[layer_idx].norm().max(trial.norm());
            let scaled = if err == 0.0 { 0.0 } else { err / (self.rtol * size) };
            if !scaled.is_finite() {
                return f64::NAN;
            }
            worst = worst.max(scaled);
        }
        worst
    }
}

/// Where a stage's gradient is evaluated.
enum StageWeights<'a> {
    Current(&'a [DMatrix<f64>]),
    Trial,
}

/// Problem data and scratch of one gradient evaluation.
///
/// Layer index `i` is 0-based (`layers[i]` = `W_{i+1}`, `N_{i+1} × N_i`). Unused slots hold
/// `0 × 0` matrices.
#[derive(Clone, Debug)]
struct Gradient {
    sigma_yx: DMatrix<f64>,
    sigma_xx: Option<DMatrix<f64>>,
    /// `prefix[i] = W_{i+1} ⋯ W_1` (`N_{i+1} × Ni`) for `i >= 1`; `prefix[0]` is `layers[0]`.
    prefix: Vec<DMatrix<f64>>,
    /// `E = W Σxx − Σyx` (`No × Ni`).
    error: DMatrix<f64>,
    /// `back[i] = (W_L ⋯ W_{i+2})ᵀ E` (`N_{i+1} × Ni`) for `i < L − 1`; `back[L−1]` is `E`.
    back: Vec<DMatrix<f64>>,
    /// `grad[i] = back[i] · prefix[i−1]ᵀ` for `i >= 1`; `grad[0]` is `back[0]`.
    grad: Vec<DMatrix<f64>>,
    /// `layer_t[i]` is scratch for `W_{i+1}ᵀ` (`i >= 1`).
    layer_t: Vec<DMatrix<f64>>,
}

impl Gradient {
    fn new(net: &Network, problem: &Problem) -> Gradient {
        let depth = net.depth();
        let widths = net.widths();
        let n_in = widths[0];
        let empty = || DMatrix::zeros(0, 0);
        let prefix =
            (0..depth).map(|i| if i == 0 { empty() } else { DMatrix::zeros(widths[i + 1], n_in) });
        let back = (0..depth)
            .map(|i| if i + 1 == depth { empty() } else { DMatrix::zeros(widths[i + 1], n_in) });
        let grad = (0..depth)
            .map(|i| if i == 0 { empty() } else { DMatrix::zeros(widths[i + 1], widths[i]) });
        let layer_t = (0..depth)
            .map(|i| if i == 0 { empty() } else { DMatrix::zeros(widths[i], widths[i + 1]) });
        // A Σxx equal to I up to rounding is skipped: it saves a product per evaluation.
        let sigma_xx = problem.sigma_xx.clone().filter(|_| !problem.is_whitened(0.0));
        Gradient {
            sigma_yx: problem.sigma_yx.clone(),
            sigma_xx,
            prefix: prefix.collect(),
            error: DMatrix::zeros(net.n_out(), n_in),
            back: back.collect(),
            grad: grad.collect(),
            layer_t: layer_t.collect(),
        }
    }

    /// Evaluates `∇_l L` at `layers` for every layer.
    fn eval(&mut self, layers: &[DMatrix<f64>]) {
        let depth = layers.len();
        for i in 1..depth {
            let (done, rest) = self.prefix.split_at_mut(i);
            let lower = if i == 1 { &layers[0] } else { &done[i - 1] };
            matmul(&mut rest[0], &layers[i], lower);
        }
        let product = if depth == 1 { &layers[0] } else { &self.prefix[depth - 1] };
        match &self.sigma_xx {
            Some(sigma_xx) => {
                matmul(&mut self.error, product, sigma_xx);
                axpy(self.error.as_mut_slice(), -1.0, self.sigma_yx.as_slice());
            }
            None => lin_comb(
                self.error.as_mut_slice(),
                product.as_slice(),
                -1.0,
                self.sigma_yx.as_slice(),
            ),
        }
        for i in (0..depth.saturating_sub(1)).rev() {
            let (lo, hi) = self.back.split_at_mut(i + 1);
            let upstream = if i + 2 == depth { &self.error } else { &hi[0] };
            matmul_tn(&mut lo[i], &layers[i + 1], upstream, &mut self.layer_t[i + 1]);
        }
        for i in 1..depth {
            let upstream = if i + 1 == depth { &self.error } else { &self.back[i] };
            let lower = if i == 1 { &layers[0] } else { &self.prefix[i - 1] };
            matmul_nt(&mut self.grad[i], upstream, lower);
        }
    }

    /// `∇ W_{layer_idx+1}` from the last [`Gradient::eval`].
    fn grad(&self, layer_idx: usize) -> &DMatrix<f64> {
        if layer_idx > 0 {
            &self.grad[layer_idx]
        } else if self.grad.len() == 1 {
            &self.error
        } else {
            &self.back[0]
        }
    }
}

/// Per-hidden-layer balance drift ‖B_l(t) − B_l(0)‖_F / c_l, maximised over calls, with
/// `c_l = max(1, ‖B_l(0)‖_F, ‖W_{l+1}ᵀW_{l+1}(0)‖_F, ‖W_lW_lᵀ(0)‖_F)`.
struct BalanceTracker {
    initial: Vec<DMatrix<f64>>,
    scale: Vec<f64>,
    upper: Vec<DMatrix<f64>>,
    lower: Vec<DMatrix<f64>>,
    /// Scratch for `W_{l+1}ᵀ`.
    upper_layer_t: Vec<DMatrix<f64>>,
    max_drift: Vec<f64>,
}

impl BalanceTracker {
    fn new(net: &Network) -> BalanceTracker {
        let initial: Vec<DMatrix<f64>> = (0..net.depth() - 1).map(|idx| net.balance(idx)).collect();
        let scale = net
            .layers
            .windows(2)
            .zip(&initial)
            .map(|(pair, b)| {
                let (upper, lower) = (&pair[1], &pair[0]);
                let grams = upper.tr_mul(upper).norm().max((lower * lower.transpose()).norm());
                b.norm().max(grams).max(1.0)
            })
            .collect();
        let upper = initial.iter().map(|b| DMatrix::zeros(b.nrows(), b.ncols())).collect();
        let lower = initial.iter().map(|b| DMatrix::zeros(b.nrows(), b.ncols())).collect();
        let upper_layer_t =
            net.layers[1..].iter().map(|w| DMatrix::zeros(w.ncols(), w.nrows())).collect();
        let max_drift = vec![0.0; initial.len()];
        BalanceTracker { initial, scale, upper, lower, upper_layer_t, max_drift }
    }

    fn observe(&mut self, net: &Network) {
        for (pair_idx, pair) in net.layers.windows(2).enumerate() {
            let (upper, lower) = (&mut self.upper[pair_idx], &mut self.lower[pair_idx]);
            matmul_tn(upper, &pair[1], &pair[1], &mut self.upper_layer_t[pair_idx]);
            matmul_nt(lower, &pair[0], &pair[0]);
            let drift_sq: f64 = upper
                .iter()
                .zip(lower.iter())
                .zip(self.initial[pair_idx].iter())
                .map(|((u, l), b0)| (u - l - b0).powi(2))
                .sum();
            let drift = drift_sq.sqrt() / self.scale[pair_idx];
            // NaN-propagating max: a non-finite network cannot look balanced.
            let best = &mut self.max_drift[pair_idx];
            if drift.is_nan() || drift > *best {
                *best = drift;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::init::{self, Balanced, ProductBases, ProductValues};
    use crate::linalg::gaussian_matrix;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn balanced_net(widths: &[usize], lambda: f64, sigma: f64, seed: u64) -> Network {
        let params = Balanced {
            lambda,
            values: ProductValues::GaussianProduct { sigma },
            bases: ProductBases::Random,
        };
        init::balanced(widths, &params, &mut rng(seed)).expect("admissible widths")
    }

    fn random_spd(n: usize, seed: u64) -> DMatrix<f64> {
        let b = gaussian_matrix(n, n, 1.0, &mut rng(seed));
        &b * b.transpose() / n as f64 + DMatrix::identity(n, n) * 0.5
    }

    fn problem_for(net: &Network, sigma_xx: Option<DMatrix<f64>>, tau: f64, seed: u64) -> Problem {
        let sigma_yx = gaussian_matrix(net.n_out(), net.n_in(), 1.0, &mut rng(seed));
        Problem { sigma_yx, sigma_xx, trace_sigma_yy: None, tau }
    }

    /// ½ tr(W Σxx Wᵀ) − tr(W Σyxᵀ), the loss up to its constant.
    fn loss(net: &Network, problem: &Problem) -> f64 {
        let w = net.product();
        let w_sxx = match &problem.sigma_xx {
            Some(s) => &w * s,
            None => w.clone(),
        };
        0.5 * w_sxx.dot(&w) - w.dot(&problem.sigma_yx)
    }

    fn weights_distance(a: &Network, b: &Network) -> f64 {
        a.layers.iter().zip(&b.layers).map(|(x, y)| (x - y).norm_squared()).sum::<f64>().sqrt()
    }

    fn run(net: &Network, problem: &Problem, integrator: Integrator, t: f64) -> Network {
        simulate(net, problem, integrator, &[t], |_, _| {}).expect("simulation runs").final_network
    }

    #[test]
    fn t1_two_layer_balance_is_conserved_by_rk4() {
        let lambda = 0.5;
        let net = balanced_net(&[4, 4, 4], lambda, 1.0, 1);
        let problem = problem_for(&net, None, 1.0, 2);
        let times: Vec<f64> = (0..=12).map(|i| 0.5 * f64::from(i)).collect();
        let mut worst: f64 = 0.0;
        let report = simulate(&net, &problem, Integrator::Rk4 { dt: 1e-3 }, &times, |_, w| {
            let mut b = w.balance(0);
            for i in 0..b.nrows() {
                b[(i, i)] -= lambda;
            }
            worst = worst.max(b.norm() / lambda.abs().max(1.0));
        })
        .expect("runs");
        assert!(worst < 1e-8, "balance residual {worst:e}");
        assert!(report.balance_drift[0] < 1e-8, "drift {:?}", report.balance_drift);
        assert_eq!(report.n_steps, 6000);
        // The flow has learned the task by t = 6.
        let rel =
            (report.final_network.product() - &problem.sigma_yx).norm() / problem.sigma_yx.norm();
        assert!(rel < 1e-2, "not converged: {rel:e}");
    }

    #[test]
    fn deep_balance_is_conserved_at_every_hidden_layer() {
        for (widths, lambda) in [(&[4, 4, 4, 4][..], -0.3), (&[3, 3, 4, 5, 5][..], 0.5)] {
            let net = balanced_net(widths, lambda, 0.7, 3);
            for pair_idx in 0..net.depth() - 1 {
                let b = net.balance(pair_idx);
                let target = DMatrix::identity(b.nrows(), b.ncols()) * lambda;
                assert!((b - target).norm() < 1e-12, "init not balanced");
            }
            let problem = problem_for(&net, None, 1.0, 4);
            let times = [0.0, 1.0, 2.0, 3.0];
            let report = simulate(&net, &problem, Integrator::Rk4 { dt: 5e-4 }, &times, |_, _| {})
                .expect("runs");
            assert_eq!(report.balance_drift.len(), widths.len() - 2);
            for drift in &report.balance_drift {
                assert!(*drift < 1e-8, "widths {widths:?}: drift {:?}", report.balance_drift);
            }
            // ...and the network did move.
            assert!(weights_distance(&net, &report.final_network) > 0.1);
        }
    }

    #[test]
    fn gradient_descent_converges_to_the_flow_linearly_in_lr() {
        let net = init::gaussian(&[3, 4, 2], &[0.5, 0.5], &mut rng(5)).expect("valid");
        let problem = problem_for(&net, None, 1.0, 6);
        let exact = run(&net, &problem, Integrator::Rk4 { dt: 1e-3 }, 1.0);
        let errors: Vec<f64> = [0.02, 0.01, 0.005]
            .iter()
            .map(|&lr| {
                weights_distance(
                    &run(&net, &problem, Integrator::GradientDescent { lr }, 1.0),
                    &exact,
                )
            })
            .collect();
        for pair in errors.windows(2) {
            let ratio = pair[0] / pair[1];
            assert!((1.8..2.2).contains(&ratio), "errors {errors:?}");
        }
    }

    #[test]
    fn rk4_error_shrinks_like_dt_to_the_fourth() {
        let net = init::gaussian(&[3, 4, 4, 2], &[0.5, 0.5, 0.5], &mut rng(7)).expect("valid");
        let problem = problem_for(&net, Some(random_spd(3, 8)), 1.0, 9);
        let exact = run(&net, &problem, Integrator::Rk4 { dt: 0.002 }, 2.0);
        let errors: Vec<f64> = [0.04, 0.02]
            .iter()
            .map(|&dt| weights_distance(&run(&net, &problem, Integrator::Rk4 { dt }, 2.0), &exact))
            .collect();
        let ratio = errors[0] / errors[1];
        assert!((12.0..20.0).contains(&ratio), "errors {errors:?}, ratio {ratio}");
    }

    #[test]
    fn loss_decreases_monotonically_for_a_small_learning_rate() {
        let net = init::gaussian(&[4, 5, 5, 3], &[0.5, 0.5, 0.5], &mut rng(10)).expect("valid");
        let problem = problem_for(&net, Some(random_spd(4, 11)), 1.0, 12);
        let mut sim = Simulator::new(&net, &problem).expect("valid");
        let mut prev = loss(sim.network(), &problem);
        let first = prev;
        for step in 0..3000 {
            sim.gd_step(0.01);
            let current = loss(sim.network(), &problem);
            assert!(current <= prev + 1e-14 * prev.abs(), "step {step}: {prev} -> {current}");
            prev = current;
        }
        assert!(prev < first - 0.1, "loss barely moved: {first} -> {prev}");
        assert!((sim.time() - 30.0).abs() < 1e-9);
    }

    #[test]
    fn general_sigma_xx_converges_to_the_least_squares_map() {
        let net = init::gaussian(&[3, 5, 3], &[0.3, 0.3], &mut rng(13)).expect("valid");
        let sigma_xx = random_spd(3, 14);
        let problem = problem_for(&net, Some(sigma_xx.clone()), 1.0, 15);
        let target = &problem.sigma_yx * sigma_xx.try_inverse().expect("SPD");
        let report = simulate(&net, &problem, Integrator::Rk4 { dt: 0.01 }, &[200.0], |_, _| {})
            .expect("runs");
        let rel = (report.final_network.product() - &target).norm() / target.norm();
        assert!(rel < 1e-10, "relative error {rel:e}");
    }

    #[test]
    fn a_huge_learning_rate_reports_divergence() {
        let net = init::gaussian(&[3, 4, 3], &[1.0, 1.0], &mut rng(16)).expect("valid");
        let problem = problem_for(&net, None, 1.0, 17);
        let times: Vec<f64> = (0..=100).map(f64::from).collect();
        let mut all_observed_finite = true;
        let result =
            simulate(&net, &problem, Integrator::GradientDescent { lr: 10.0 }, &times, |_, w| {
                all_observed_finite &= w.is_finite();
            });
        match result {
            Err(SolverError::Diverged { t }) => assert!(t.is_finite() && t > 0.0, "t = {t}"),
            other => panic!("expected divergence, got {other:?}"),
        }
        assert!(all_observed_finite);
        let rk4 = simulate(&net, &problem, Integrator::Rk4 { dt: 10.0 }, &[1e4], |_, _| {});
        assert!(matches!(rk4, Err(SolverError::Diverged { .. })), "{rk4:?}");
    }

    #[test]
    fn invalid_times_steps_and_shapes_are_errors() {
        let net = init::gaussian(&[2, 3, 2], &[1.0, 1.0], &mut rng(18)).expect("valid");
        let problem = problem_for(&net, None, 1.0, 19);
        let gd = Integrator::GradientDescent { lr: 0.1 };
        let invalid = |integrator: Integrator, times: &[f64], problem: &Problem| {
            matches!(
                simulate(&net, problem, integrator, times, |_, _| {}),
                Err(SolverError::InvalidInput(_))
            )
        };
        for times in [&[-1.0][..], &[f64::NAN], &[f64::INFINITY], &[1.0, 0.5], &[0.0, f64::NAN]] {
            assert!(invalid(gd, times, &problem), "times {times:?}");
            assert!(invalid(Integrator::Rk4 { dt: 0.1 }, times, &problem), "times {times:?}");
        }
        for step in [0.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(invalid(Integrator::GradientDescent { lr: step }, &[1.0], &problem));
            assert!(invalid(Integrator::Rk4 { dt: step }, &[1.0], &problem));
        }
        // Too many steps, including a count that overflows.
        assert!(invalid(Integrator::GradientDescent { lr: 1e-300 }, &[1e300], &problem));
        assert!(invalid(Integrator::Rk4 { dt: 1e-9 }, &[1e9], &problem));
        // Shape mismatch and a bad tau.
        let wrong = Problem::whitened(DMatrix::zeros(3, 2));
        assert!(invalid(gd, &[1.0], &wrong));
        let bad_tau = Problem { tau: 0.0, ..problem.clone() };
        assert!(invalid(gd, &[1.0], &bad_tau));
        // Layers that do not chain, and a non-finite weight.
        let broken = Network { layers: vec![DMatrix::zeros(3, 2), DMatrix::zeros(2, 2)] };
        assert!(matches!(Simulator::new(&broken, &problem), Err(SolverError::InvalidInput(_))));
        let mut nan = net.clone();
        nan.layers[1][(0, 0)] = f64::NAN;
        assert!(matches!(Simulator::new(&nan, &problem), Err(SolverError::Overflow(_))));
        // Empty times are fine: nothing observed, nothing moved.
        let report =
            simulate(&net, &problem, gd, &[], |_, _| panic!("no observation")).expect("ok");
        assert_eq!((report.n_steps, &report.final_network), (0, &net));
    }

    #[test]
    fn simulate_until_stops_after_the_breaking_observation() {
        let net = Network::new(vec![
            gaussian_matrix(2, 3, 0.5, &mut rng(30)),
            gaussian_matrix(2, 2, 0.5, &mut rng(31)),
        ])
        .expect("chains");
        let problem = problem_for(&net, None, 1.0, 32);
        let times = [0.5, 1.0, 1.5, 2.0];
        for integrator in [Integrator::Rk4 { dt: 0.01 }, Integrator::GradientDescent { lr: 0.01 }] {
            let mut seen = Vec::new();
            let report = simulate_until(&net, &problem, integrator, &times, |t, state| {
                seen.push((t, state.clone()));
                if seen.len() == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
            .expect("runs");
            assert_eq!(seen.len(), 2);
            assert_eq!(report.final_network, seen[1].1);
            assert_eq!(report.n_steps, 100);
            // The same as a full run up to that time.
            let full = simulate(&net, &problem, integrator, &times[..2], |_, _| {}).expect("runs");
            assert_eq!(full.final_network, report.final_network);
        }
    }

    #[test]
    fn gradient_matches_central_differences_depth_3_general_sigma_xx() {
        // A bottleneck of width 2, which the initializers refuse but the gradient must handle.
        let mut r = rng(20);
        let layers =
            [(4, 3), (2, 4), (3, 2)].map(|(rows, cols)| gaussian_matrix(rows, cols, 0.8, &mut r));
        let net = Network::new(layers.to_vec()).expect("chains");
        let problem = problem_for(&net, Some(random_spd(3, 21)), 1.0, 22);
        let mut gradient = Gradient::new(&net, &problem);
        gradient.eval(&net.layers);
        // The loss is quadratic in each single weight, so central differences are exact up to
        // rounding.
        let h = 1e-3;
        let mut worst: f64 = 0.0;
        let mut scale: f64 = 0.0;
        for layer_idx in 0..net.depth() {
            let analytic = gradient.grad(layer_idx);
            assert_eq!(analytic.shape(), net.layers[layer_idx].shape());
            for entry in 0..analytic.len() {
                let mut plus = net.clone();
                plus.layers[layer_idx][entry] += h;
                let mut minus = net.clone();
                minus.layers[layer_idx][entry] -= h;
                let numeric = (loss(&plus, &problem) - loss(&minus, &problem)) / (2.0 * h);
                worst = worst.max((numeric - analytic[entry]).abs());
                scale = scale.max(analytic[entry].abs());
            }
        }
        assert!(worst < 1e-10 * scale.max(1.0), "max deviation {worst:e} (scale {scale})");
    }

    #[test]
    fn depth_one_follows_the_exponential_solution() {
        let w0 = gaussian_matrix(2, 3, 1.0, &mut rng(23));
        let net = Network::new(vec![w0.clone()]).expect("valid");
        let tau = 2.0;
        let problem = problem_for(&net, None, tau, 24);
        let times = [0.0, 0.7, 3.0];
        let mut observed = Vec::new();
        let report = simulate(&net, &problem, Integrator::Rk4 { dt: 1e-2 }, &times, |t, w| {
            observed.push((t, w.layers[0].clone()));
        })
        .expect("runs");
        assert!(report.balance_drift.is_empty());
        for ((t, w), &requested) in observed.iter().zip(&times) {
            assert_eq!(*t, requested);
            let exact = &problem.sigma_yx + (&w0 - &problem.sigma_yx) * (-t / tau).exp();
            assert!((w - exact).norm() < 1e-10, "t = {t}");
        }
    }

    #[test]
    fn observation_times_and_step_counts() {
        let net = init::gaussian(&[2, 3, 2], &[0.5, 0.5], &mut rng(25)).expect("valid");
        let problem = Problem { tau: 2.0, ..problem_for(&net, None, 2.0, 26) };
        let mut seen = Vec::new();
        let report = simulate(
            &net,
            &problem,
            Integrator::Rk4 { dt: 0.1 },
            &[0.0, 0.5, 1.25, 1.25],
            |t, _| seen.push(t),
        )
        .expect("runs");
        assert_eq!(seen, vec![0.0, 0.5, 1.25, 1.25]);
        assert_eq!(report.n_steps, 5 + 8);

        // GD: step k is time k·lr·τ = 0.2 k; t = 0.5 rounds to k = 3 (0.6 − 0.5 < 0.5 − 0.4? no:
        // 2.5 rounds away from zero).
        seen.clear();
        let lr = 0.1;
        let report = simulate(
            &net,
            &problem,
            Integrator::GradientDescent { lr },
            &[0.0, 0.5, 1.0],
            |t, _| seen.push(t),
        )
        .expect("runs");
        assert_eq!(report.n_steps, 5);
        for (t, k) in seen.iter().zip([0.0, 3.0, 5.0]) {
            assert!((t - k * lr * problem.tau).abs() < 1e-15, "{seen:?}");
        }
        // The same steps by hand.
        let mut sim = Simulator::new(&net, &problem).expect("valid");
        for _ in 0..5 {
            sim.gd_step(lr);
        }
        assert_eq!(sim.network(), &report.final_network);
        assert!((sim.time() - 1.0).abs() < 1e-15);
    }

    #[test]
    fn adaptive_follows_the_exponential_solution_and_lands_on_every_time() {
        let w0 = gaussian_matrix(2, 3, 1.0, &mut rng(40));
        let net = Network::new(vec![w0.clone()]).expect("valid");
        let problem = problem_for(&net, None, 2.0, 41);
        let times = [0.0, 0.0, 0.3, 0.7, 3.0, 3.0, 50.0];
        let mut observed = Vec::new();
        let report = simulate(&net, &problem, Integrator::adaptive(1e-10), &times, |t, w| {
            observed.push((t, w.layers[0].clone()));
        })
        .expect("runs");
        for ((t, w), &requested) in observed.iter().zip(&times) {
            assert_eq!(*t, requested);
            let exact = &problem.sigma_yx + (&w0 - &problem.sigma_yx) * (-t / problem.tau).exp();
            assert!((w - &exact).norm() < 1e-10 * exact.norm(), "t = {t}");
        }
        assert_eq!(observed.len(), times.len());
        assert_eq!(report.n_gradient_evals, 1 + 6 * (report.n_steps + report.n_rejected));
        // Stopping early: the same weights as a run to that time.
        let mut seen = 0;
        let stopped =
            simulate_until(&net, &problem, Integrator::adaptive(1e-10), &times, |_, _| {
                seen += 1;
                if seen == 4 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
            .expect("runs");
        assert_eq!(stopped.final_network.layers[0], observed[3].1);
    }

    #[test]
    fn adaptive_refuses_bad_tolerances_and_stops_stiff_flows_with_a_status() {
        let net = balanced_net(&[2, 2, 2], 1.0, 1.0, 42);
        let problem = problem_for(&net, None, 1.0, 43);
        for tolerance in [0.0, 1e-13, 1.0, -1e-8, f64::NAN, f64::INFINITY] {
            let result =
                simulate(&net, &problem, Integrator::adaptive(tolerance), &[1.0], |_, _| {});
            assert!(matches!(result, Err(SolverError::InvalidInput(_))), "{tolerance}: {result:?}");
        }
        // λ = 1e4: rates of about 1e4 need about 1e4 steps per unit time; a budget of 200 ends
        // the run as inaccurate, with observations up to where it got.
        let stiff = balanced_net(&[2, 2, 2], 1e4, 1.0, 44);
        let mut seen = Vec::new();
        let tight = Integrator::Adaptive { tolerance: 1e-8, max_steps: 200 };
        let result = simulate(&stiff, &problem, tight, &[0.0, 1e-3, 10.0], |t, _| seen.push(t));
        match result {
            Err(SolverError::Inaccurate(message)) => {
                assert!(message.contains("limit of 200 steps"), "{message}");
            }
            other => panic!("expected inaccurate, got {other:?}"),
        }
        assert_eq!(seen, vec![0.0, 1e-3]);
        // λ = 1e150: the step the flow needs is below what the time can resolve; a status, at
        // once, never a hang.
        let extreme = balanced_net(&[2, 2, 2], 1e150, 1.0, 45);
        let result = simulate(&extreme, &problem, Integrator::adaptive(1e-8), &[1.0], |_, _| {});
        match result {
            Err(SolverError::Inaccurate(message)) => {
                assert!(message.contains("collapsed"), "{message}")
            }
            Err(SolverError::Diverged { .. }) => {}
            other => panic!("expected inaccurate or diverged, got {other:?}"),
        }
    }

    #[test]
    fn wide_networks_use_gemm_and_agree_with_the_formula() {
        let net = init::gaussian(&[40, 50, 45], &[0.1, 0.1], &mut rng(28)).expect("valid");
        let problem = problem_for(&net, Some(random_spd(40, 29)), 1.0, 30);
        let mut gradient = Gradient::new(&net, &problem);
        gradient.eval(&net.layers);
        let (w1, w2) = (&net.layers[0], &net.layers[1]);
        let e = w2 * w1 * problem.sigma_xx.as_ref().expect("set") - &problem.sigma_yx;
        let g1 = w2.transpose() * &e;
        let g2 = &e * w1.transpose();
        assert!((gradient.grad(0) - g1).amax() < 1e-12);
        assert!((gradient.grad(1) - g2).amax() < 1e-12);
    }
}
