//! One point → one row: task protocol, initialization, closed form and/or simulation, metrics.
//!
//! Every point runs a [`Protocol`](lazyrich_tasks::Protocol) (one phase for the single-task
//! kinds). The primary run (the closed form when the method uses it, else the simulation) feeds a
//! [`Recorder`] with the protocol's [`Event`]s: per-time series, per-phase summaries and, at the
//! end, forgetting. A simulation next to a complete closed form is an overlay: only its loss and
//! its distance to the closed form are kept.
//!
//! Submodules: `setup` (point → task, protocol, network, parameter columns), `recorder` (events →
//! series, per-phase summaries, forgetting), `summary` (final loss, t90, escape time) and
//! `outcome` (a stopped point's status and message).

use std::time::Instant;

use lazyrich_solver::Status;
use lazyrich_solver::simulate::Integrator;
use lazyrich_store::PointRow;
use lazyrich_sweep::{Point, Step};
use lazyrich_tasks::{Event, State, run_closed_form, run_simulation};
use nalgebra::DMatrix;

mod outcome;
mod recorder;
mod setup;
mod summary;

use outcome::{Outcome, invalid};
use recorder::{Recorder, Snapshot};
use setup::{build_network, build_protocol, parameters_row};
use summary::summarize;

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
        clear_series(&mut row);
    }
    row.wall_time_s = start.elapsed().as_secs_f64();
    row
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

fn evaluate(point: &Point, row: &mut PointRow) -> Result<(), Outcome> {
    let protocol = build_protocol(point)?;
    let net = build_network(point, &protocol.problem(0).sigma_yx)?;
    let lambdas = net.lambdas();
    if !lambdas.is_empty() {
        row.lambda_measured = Some(lambdas.iter().sum::<f64>() / lambdas.len() as f64);
    }
    let mut recorder = Recorder::new(point, &protocol, &net).map_err(Outcome::from_solver)?;
    row.initial_loss = Some(recorder.phase_loss(0, &net.product()));

    // The closed form first. If it stops (singular B, beyond validity), its outcome becomes the
    // row's status, but a simulation requested on the same point still runs and then provides the
    // series: a saddle-bound λ = 0 init is exactly where users want to see the simulation.
    let mut closed_form_qqts: Vec<DMatrix<f64>> = Vec::new();
    let mut closed_form_outcome: Option<Outcome> = None;
    if point.method.uses_closed_form() {
        let result = run_closed_form(&protocol, &net, &point.times, |event| {
            if let Event::At { state: State::Qqt(qqt), .. } = event
                && point.method.simulation().is_some()
            {
                closed_form_qqts.push(qqt.clone());
            }
            recorder.record(row, event);
        });
        if let Err(err) = result {
            closed_form_outcome = Some(err.into());
        }
    }
    if point.method.simulation().is_none() {
        recorder.forgetting(row);
        return closed_form_outcome.map_or(Ok(()), Err);
    }
    let integrator = match point.step() {
        Some(Step::Rk4 { dt }) => Integrator::Rk4 { dt },
        Some(Step::Gd { lr }) => Integrator::GradientDescent { lr },
        None => {
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
        clear_recorded(row);
    }
    let mut sim_loss = Vec::with_capacity(point.times.len() * protocol.phases.len());
    let mut max_error: f64 = 0.0;
    let mut step = 0;
    let n_in = point.n_in();
    let result = run_simulation(&protocol, &net, integrator, &point.times, |event| {
        if !overlay {
            recorder.record(row, event);
            return;
        }
        let Event::At { phase, state, .. } = event else { return };
        let snap = Snapshot::of(state, n_in);
        sim_loss.push(recorder.phase_loss(phase, &snap.product));
        if let (Some(sim), Some(exact)) = (&snap.qqt, closed_form_qqts.get(step)) {
            let err = (sim.as_ref() - exact).norm() / exact.norm().max(f64::MIN_POSITIVE);
            max_error = max_error.max(err);
        }
        step += 1;
    });
    if overlay {
        row.sim_loss = sim_loss;
        if point.depth() == 2 {
            row.cf_sim_error = Some(max_error);
        }
    }
    recorder.forgetting(row);
    let outcome = result?;
    row.balance_drift = outcome.balance_drift.iter().copied().reduce(f64::max);
    closed_form_outcome.map_or(Ok(()), Err)
}
