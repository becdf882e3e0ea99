//! One point → one row: task protocol, initialization, closed form and/or simulation, metrics.
//!
//! Every point runs a [`Protocol`](lazyrich_tasks::Protocol) (one phase for the single-task
//! kinds). The primary run (the closed form when the method uses it, else the simulation) feeds a
//! [`Recorder`] with the protocol's [`Event`]s: per-time series, per-phase summaries and, at the
//! end, forgetting. A simulation next to a complete closed form is an overlay: only its loss and
//! its distance to the closed form are kept.
//!
//! Numeric outcomes (docs/dataset.md "Statuses"): an init or initial loss that is not finite is
//! `overflow`; a simulation that leaves the range of `f64` from a finite start is `diverged`; an
//! RK4 simulation of depth ≥ 2 whose balance drift exceeds the point's tolerance is `inaccurate`.
//! [`finite::sanitize`] then removes every non-finite float that is left (a row is never written
//! with NaN or infinity) and names it in the status of a row that was `ok`; a panic is a row with
//! status `panic` ([`panics::catch_quietly`]), never an aborted sweep.
//!
//! Submodules: `setup` (point → task, protocol, network, parameter columns), `recorder` (events →
//! series, per-phase summaries, forgetting), `summary` (final loss, t90, escape time), `outcome`
//! (a stopped point's status and message), `finite` (the non-finite guard) and `panics` (panic
//! isolation).

use std::time::Instant;

use lazyrich_solver::simulate::Integrator;
use lazyrich_solver::{BalanceStats, Status};
use lazyrich_store::PointRow;
use lazyrich_sweep::{Point, Step};
use lazyrich_tasks::{Event, State, run_closed_form_with_svds, run_deep_aligned, run_simulation};
use nalgebra::DMatrix;

mod finite;
pub(crate) mod outcome;
mod panics;
mod recorder;
pub(crate) mod setup;
mod summary;

use finite::{NonFinite, Part, sanitize};
use outcome::{Outcome, STATUS_PANIC, invalid};
use recorder::{Recorder, Snapshot};
pub use setup::SetupCache;
use setup::parameters_row;
use summary::summarize;

/// Computes one point. Never panics and never returns a non-finite float: every failure is a
/// status (`singular`, `diverged`, `overflow`, `inaccurate`, `beyond_validity`,
/// `rank_deficient_task`, `invalid`, `panic`) with its message in `error`, and the finite values
/// computed before it.
pub fn compute_point(point: &Point) -> PointRow {
    compute_point_with(point, &mut SetupCache::default())
}

/// [`compute_point`], sharing the set-up of consecutive points through `cache` (a worker keeps
/// one from point to point): bitwise the same row.
pub fn compute_point_with(point: &Point, cache: &mut SetupCache) -> PointRow {
    let start = Instant::now();
    let mut row = guarded(point, |point| compute_row(point, cache));
    row.wall_time_s = start.elapsed().as_secs_f64();
    row
}

/// `compute(point)`, or, if it panics, a fresh row of the point's parameters with status
/// `panic` and the panic's message and location in `error` (nothing of the panicked
/// computation leaks into it).
fn guarded(point: &Point, compute: impl FnOnce(&Point) -> PointRow) -> PointRow {
    match panics::catch_quietly(|| compute(point)) {
        Ok(row) => row,
        Err(message) => {
            let mut row = parameters_row(point);
            row.status = STATUS_PANIC.to_owned();
            row.error = Some(format!(
                "computing the point panicked: {message} (a bug in lazyrich: please report it)"
            ));
            // Parameters of a hand-built point may still be non-finite.
            sanitize(&mut row);
            row
        }
    }
}

/// Test-only: the point id whose computation panics (exercises [`guarded`] inside `run`).
#[cfg(test)]
pub(crate) static PANIC_ON_POINT: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Test hook: the worker computing this point id waits (at most a minute) until
/// [`RELEASE_HELD_POINT`] is set, so a test can hold a run mid-way.
#[cfg(test)]
pub(crate) static HOLD_ON_POINT: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);
/// Releases the point of [`HOLD_ON_POINT`].
#[cfg(test)]
pub(crate) static RELEASE_HELD_POINT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Where the row's series came from (for the status of a non-finite value).
#[derive(Clone, Copy, Debug, Default)]
struct Sources {
    /// The per-time series are a simulation's (no closed form, or a failed one).
    simulated_series: bool,
}

/// The row of `point`: evaluated, then cleaned of non-finite values (module documentation).
fn compute_row(point: &Point, cache: &mut SetupCache) -> PointRow {
    #[cfg(test)]
    if point.point_id == PANIC_ON_POINT.load(std::sync::atomic::Ordering::Relaxed) {
        panic!("test panic for point {:016x}", point.point_id);
    }
    #[cfg(test)]
    if point.point_id == HOLD_ON_POINT.load(std::sync::atomic::Ordering::Relaxed) {
        let start = std::time::Instant::now();
        while !RELEASE_HELD_POINT.load(std::sync::atomic::Ordering::Relaxed)
            && start.elapsed() < std::time::Duration::from_secs(60)
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    let mut row = parameters_row(point);
    let mut sources = Sources::default();
    match evaluate(point, &mut row, &mut sources, cache) {
        Ok(()) => row.status = Status::Ok.as_str().to_owned(),
        Err(outcome) => {
            row.status = outcome.status.to_owned();
            row.error = Some(outcome.message);
        }
    }
    let found = sanitize(&mut row);
    summarize(&mut row);
    // Nothing summarize derives from finite series can be non-finite; checked all the same.
    let found = found.or_else(|| sanitize(&mut row));
    if let Some(found) = found {
        report_non_finite(&mut row, &found, sources);
    }
    if !point.record.per_time {
        clear_series(&mut row);
    }
    row
}

/// The status and message of a row from which [`sanitize`] removed `found`: `diverged` for a
/// simulation, `overflow` otherwise, when the row was `ok`; a row that had already stopped keeps
/// its status and gets a note.
fn report_non_finite(row: &mut PointRow, found: &NonFinite, sources: Sources) {
    let simulated = match found.part {
        Part::Simulation => true,
        Part::Primary => sources.simulated_series,
        Part::Initial | Part::Parameter => false,
    };
    let at = found.at.map(|t| format!(" at t = {t}")).unwrap_or_default();
    let kept = match (found.at, row.t_end) {
        (Some(_), Some(t_end)) => format!("; the series stop at t = {t_end}"),
        (Some(_), None) => "; no time is kept".to_owned(),
        (None, _) => String::new(),
    };
    let what = format!("`{}` is not finite{at}{kept}", found.column);
    if row.status == Status::Ok.as_str() {
        let (status, message) = if simulated {
            (
                Status::Diverged,
                format!("the simulation diverged: {what} (learning rate or dt too large)"),
            )
        } else {
            (Status::Overflow, format!("a value overflows f64: {what} (docs/math.md P15)"))
        };
        row.status = status.as_str().to_owned();
        row.error = Some(message);
    } else if let Some(error) = &mut row.error {
        error.push_str(&format!(" [non-finite values removed: {what}]"));
    }
}

/// Empties every per-time list (the per-phase summaries stay).
fn clear_series(row: &mut PointRow) {
    row.t.clear();
    row.phase.clear();
    row.loss.clear();
    row.kernel_distance.clear();
    row.singular_values.clear();
    row.task_losses.clear();
    row.sim_loss.clear();
}

/// Empties everything the primary run records (before a simulation replaces a failed closed
/// form).
fn clear_recorded(row: &mut PointRow) {
    clear_series(row);
    row.qqt_t.clear();
    row.qqt.clear();
    row.phase_t_start.clear();
    row.phase_t_end.clear();
    row.phase_task_losses.clear();
    row.phase_t_half.clear();
    row.phase_kernel_distance.clear();
    row.phase_rep_change_in.clear();
    row.phase_rep_change_out.clear();
    row.phase_tsc_in.clear();
    row.phase_tsc_out.clear();
}

/// Evaluates `point` into `row`; the error is the outcome of a point that stopped early or is
/// not accurate.
fn evaluate(
    point: &Point,
    row: &mut PointRow,
    sources: &mut Sources,
    cache: &mut SetupCache,
) -> Result<(), Outcome> {
    let task = cache.task(point)?;
    let protocol = &task.protocol;
    let (net, factors) = cache.network(point, &protocol.problem(0).sigma_yx)?;
    // The balance of every hidden layer (docs/math.md §2.2): λ̄ and the worst defects.
    let balances = net.balance_stats();
    if !balances.is_empty() {
        row.lambda_measured =
            Some(balances.iter().map(|b| b.lambda).sum::<f64>() / balances.len() as f64);
        row.balance_entry_defect = balances.iter().map(BalanceStats::entry_defect).reduce(f64::max);
        // Undefined (null) as soon as one layer's balance is zero to rounding.
        row.balance_defect = balances
            .iter()
            .map(BalanceStats::relative_defect)
            .try_fold(0.0, |worst: f64, d| d.map(|d| worst.max(d)));
    }
    // Each task's Σyx is decomposed once: the task-specificity references of the row and the
    // closed form of every phase on it share the SVD.
    let derived = task.derived.as_ref().map_err(Outcome::clone)?;
    let task_svds = &derived.svds;
    let mut recorder = Recorder::new(point, protocol, derived, &net);
    let initial_loss = recorder.phase_loss(0, &net.product());
    row.initial_loss = Some(initial_loss);
    // A start that f64 cannot hold is an overflow of the init, never a divergence (docs/math.md
    // P15); nothing after it could be finite.
    if !initial_loss.is_finite() {
        let scale = point.scale.map(|s| format!("scale {s:e}, ")).unwrap_or_default();
        return Err(Outcome::new(
            Status::Overflow,
            format!(
                "the initial loss is not finite: the init ({scale}widths {:?}) overflows f64 \
                 (docs/math.md P15)",
                point.widths
            ),
        ));
    }

    // The closed form first. If it stops (singular B, beyond validity), its outcome becomes the
    // row's status, but a simulation requested on the same point still runs and then provides the
    // series: a saddle-bound λ = 0 init is exactly where users want to see the simulation.
    let mut closed_form_qqts: Vec<DMatrix<f64>> = Vec::new();
    let mut closed_form_outcome: Option<Outcome> = None;
    if point.method.uses_closed_form() {
        let result = if point.depth() == 2 {
            run_closed_form_with_svds(protocol, task_svds, &net, &point.times, |event| {
                if let Event::At { state: State::Qqt(qqt), .. } = event
                    && point.method.simulation().is_some()
                {
                    closed_form_qqts.push(qqt.clone());
                }
                recorder.record(row, event);
            })
        } else {
            // Any other depth: the deep aligned closed form (docs/math.md §3.6), reported as a
            // simulation's weights so that the row is computed as for a simulated point.
            let (Some(factors), Some(lambdas)) = (factors, point.layer_lambdas()) else {
                return Err(invalid(format!(
                    "`{}` at depth {} needs init `aligned` with a lambda",
                    point.method.as_str(),
                    point.depth()
                )));
            };
            run_deep_aligned(protocol, &net, factors, &lambdas, &point.times, |event| {
                recorder.record(row, event);
            })
        };
        if let Err(err) = result {
            closed_form_outcome = Some(err.into());
        }
    }
    if point.method.simulation().is_none() {
        recorder.finish(row);
        if let Some(err) = recorder.failure.take() {
            closed_form_outcome.get_or_insert(err.into());
        }
        return closed_form_outcome.map_or(Ok(()), Err);
    }
    let integrator = match point.step() {
        Some(Step::Rk4 { dt }) => Integrator::Rk4 { dt },
        Some(Step::Gd { lr }) => Integrator::GradientDescent { lr },
        Some(Step::Adaptive { tolerance }) => Integrator::adaptive(tolerance),
        None => {
            recorder.flush_singular_values(row);
            return Err(invalid(format!(
                "method `{}` needs its step (`dt` or `lr`), and this point has none",
                point.method.as_str()
            )));
        }
    };
    // With a complete closed-form series the simulation is the overlay (sim_loss, cf_sim_error);
    // otherwise it is the series.
    let overlay = point.method.uses_closed_form() && closed_form_outcome.is_none();
    if !overlay {
        // The closed form's held singular values first (a non-convergence among them is still
        // reported), then its series go.
        recorder.flush_singular_values(row);
        clear_recorded(row);
        sources.simulated_series = true;
    }
    let mut sim_loss = Vec::with_capacity(point.times.len() * protocol.phases.len());
    let mut max_error: f64 = 0.0;
    // The overlay's first non-finite value: (time, what); nothing after it is kept.
    let mut overlay_blowup: Option<(f64, &'static str)> = None;
    let mut step = 0;
    let result = run_simulation(protocol, &net, integrator, &point.times, |event| {
        if !overlay {
            recorder.record(row, event);
            return;
        }
        let Event::At { phase, t, state, .. } = event else { return };
        if overlay_blowup.is_some() {
            return;
        }
        let snap = Snapshot::of(state);
        let loss = snap.loss(recorder.phase_objective(phase));
        let err = match (&snap.qqt, closed_form_qqts.get(step)) {
            (Some(sim), Some(exact)) => Some(relative_error(sim, exact)),
            _ => None,
        };
        step += 1;
        if !loss.is_finite() {
            overlay_blowup = Some((t, "its loss"));
        } else if err.is_some_and(|e| !e.is_finite()) {
            overlay_blowup = Some((t, "its QQᵀ"));
        } else {
            sim_loss.push(loss);
            max_error = max_error.max(err.unwrap_or(0.0));
        }
    });
    if overlay {
        row.sim_loss = sim_loss;
        if point.depth() == 2 {
            row.cf_sim_error = Some(max_error);
        }
    }
    recorder.finish(row);
    if let Some(err) = recorder.failure.take() {
        closed_form_outcome.get_or_insert(err.into());
    }
    let outcome = result?;
    if let Some((t, what)) = overlay_blowup {
        return Err(Outcome::new(
            Status::Diverged,
            format!(
                "the simulation diverged: {what} is not finite at t = {t} (learning rate or dt \
                 too large); sim_loss and cf_sim_error stop before it"
            ),
        ));
    }
    let drift = outcome.balance_drift.iter().copied().reduce(f64::max);
    row.balance_drift = drift;
    // RK4 and the adaptive integrator approximate the flow, which conserves every balance: the
    // drift is the error estimate (docs/math.md P16, §6.1). Gradient descent drifts by O(lr) by
    // design and is not checked.
    if let (Integrator::Rk4 { .. } | Integrator::Adaptive { .. }, Some(drift)) = (integrator, drift)
    {
        let tolerance = point.tolerance_or_default();
        row.tolerance = Some(tolerance);
        if closed_form_outcome.is_none() && drift.is_finite() && drift > tolerance {
            let (what, fix) = if let Integrator::Rk4 { .. } = integrator {
                ("RK4", "use a smaller dt; docs/math.md P16")
            } else {
                ("adaptive", "use a smaller tolerance; docs/math.md §6.1")
            };
            return Err(Outcome::new(
                Status::Inaccurate,
                format!(
                    "the {what} balance drift {drift:.3e} exceeds the tolerance {tolerance:e}: the \
                     integration error is too large ({fix})"
                ),
            ));
        }
    }
    closed_form_outcome.map_or(Ok(()), Err)
}

/// `‖sim − exact‖_F / ‖exact‖_F`, both divided by the largest entry of `exact` first, so that
/// large but finite matrices do not overflow the squares of the norms.
fn relative_error(sim: &DMatrix<f64>, exact: &DMatrix<f64>) -> f64 {
    let scale = exact.amax();
    if !(scale > 0.0 && scale.is_finite()) {
        return (sim - exact).norm() / exact.norm().max(f64::MIN_POSITIVE);
    }
    ((sim - exact) / scale).norm() / (exact / scale).norm()
}

#[cfg(test)]
mod tests;
