//! One point → one row: task protocol, initialization, closed form and/or simulation, metrics.
//!
//! Every point runs a [`Protocol`] (one phase for the single-task kinds). The primary run (the
//! closed form when the method uses it, else the simulation) feeds a [`Recorder`] with the
//! protocol's [`Event`]s: per-time series, per-phase summaries and, at the end, forgetting. A
//! simulation next to a complete closed form is an overlay: only its loss and its distance to the
//! closed form are kept.

use std::time::Instant;

use lazyrich_solver::init::{self, Balanced, ProductBases, ProductValues};
use lazyrich_solver::metrics::{
    Objective, TaskSpecificity, input_representation, output_representation, product_from_qqt,
    singular_values,
};
use lazyrich_solver::ntk::{KernelReference, NtkFactors};
use lazyrich_solver::simulate::Integrator;
use lazyrich_solver::{Network, Status};
use lazyrich_store::PointRow;
use lazyrich_sweep::{InitKind, Point, Sim, TaskSpec, TransferSource};
use lazyrich_tasks::{
    Event, Protocol, ProtocolError, SourceDef, State, TaskDef, forgetting_formula, run_closed_form,
    run_simulation,
};
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

impl From<ProtocolError> for Outcome {
    fn from(err: ProtocolError) -> Outcome {
        let status = err.error.status().map_or(STATUS_INVALID, Status::as_str);
        Outcome { status, message: err.to_string() }
    }
}

fn invalid(message: String) -> Outcome {
    Outcome { status: STATUS_INVALID, message }
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

fn parameters_row(point: &Point) -> PointRow {
    let to_u32 = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    PointRow {
        point_id: point.point_id,
        seed: point.seed,
        block: point.block,
        replicate: point.replicate,
        lambda: point.lambda,
        lambda_ft: point.task.lambda_ft(),
        scale: point.scale,
        depth: to_u32(point.depth()),
        widths: point.widths.iter().map(|&w| to_u32(w)).collect(),
        n_in: to_u32(point.n_in()),
        n_hidden: to_u32(point.n_hidden()),
        n_out: to_u32(point.n_out()),
        task: point.task.kind().to_owned(),
        task_params: point.task.canonical(),
        task_samples: point.task.samples(),
        n_phases: point.task.n_phases(),
        init: point.init.as_str().to_owned(),
        method: point.method.as_str().to_owned(),
        lr: point.lr,
        dt: point.dt,
        t_end: point.times.last().copied().unwrap_or(0.0),
        ..PointRow::default()
    }
}

/// The tasks crate's description of a spec task.
fn task_def(task: &TaskSpec) -> Result<TaskDef, Outcome> {
    let source_def = |source: &TransferSource| match *source {
        TransferSource::Random { samples, shared } => {
            SourceDef::Random { samples: samples as usize, shared: shared as usize }
        }
        TransferSource::Hierarchy { levels, split } => SourceDef::Hierarchy { levels, split },
    };
    Ok(match *task {
        TaskSpec::Random { samples } => TaskDef::Random { samples: samples as usize },
        TaskSpec::Hierarchy { levels, split } => TaskDef::Hierarchy { levels, split },
        TaskSpec::Reversal { samples, .. } => TaskDef::Reversal { samples: samples as usize },
        TaskSpec::Continual { tasks, samples, .. } => {
            TaskDef::Continual { tasks: tasks as usize, samples: samples as usize }
        }
        TaskSpec::Transfer { ref source, .. } => TaskDef::Transfer(source_def(source)),
        TaskSpec::FineTune { ref source, lambda_ft, .. } => {
            TaskDef::FineTune { source: source_def(source), lambda_ft: lambda_ft.get() }
        }
        ref other => {
            return Err(invalid(format!(
                "task kind '{}' is not supported by this runner",
                other.kind()
            )));
        }
    })
}

fn build_protocol(point: &Point) -> Result<Protocol, Outcome> {
    let def = task_def(&point.task)?;
    let mut rng = ChaCha8Rng::seed_from_u64(point.task_seed);
    let mut protocol = lazyrich_tasks::protocol(&def, point.n_in(), point.n_out(), &mut rng)
        .map_err(|err| invalid(err.to_string()))?;
    protocol.until = point.task.until();
    Ok(protocol)
}

fn build_network(point: &Point, first_task: &DMatrix<f64>) -> Result<Network, Outcome> {
    let mut rng = ChaCha8Rng::seed_from_u64(point.init_seed);
    let scale = point.scale.unwrap_or(1.0);
    let lambda = point.lambda.unwrap_or(0.0);
    let balanced =
        |bases| Balanced { lambda, values: ProductValues::GaussianProduct { sigma: scale }, bases };
    let net = match point.init {
        InitKind::Balanced => {
            init::balanced(&point.widths, &balanced(ProductBases::Random), &mut rng)
        }
        InitKind::BalancedSigned => {
            init::balanced(&point.widths, &balanced(ProductBases::Random), &mut rng)
                .map(|net| init::match_determinant_sign(net, first_task))
        }
        InitKind::Aligned => init::balanced(
            &point.widths,
            &balanced(ProductBases::TaskAligned(first_task)),
            &mut rng,
        ),
        InitKind::Gaussian => init::gaussian(&point.widths, &vec![scale; point.depth()], &mut rng),
        InitKind::Lecun => init::lecun(&point.widths, &mut rng),
    };
    net.map_err(|err| invalid(err.to_string()))
}

/// What the metrics need of one observed state.
struct Snapshot<'s> {
    state: State<'s>,
    /// `QQᵀ` (two layers), computed for simulated networks too, so that both methods are
    /// measured the same way.
    qqt: Option<std::borrow::Cow<'s, DMatrix<f64>>>,
    product: DMatrix<f64>,
    factors: NtkFactors,
}

impl<'s> Snapshot<'s> {
    fn of(state: State<'s>, n_in: usize) -> Snapshot<'s> {
        use std::borrow::Cow;
        let qqt = match state {
            State::Qqt(qqt) => Some(Cow::Borrowed(qqt)),
            State::Network(net) => net.q_matrix().map(|q| Cow::Owned(&q * q.transpose())),
        };
        let (product, factors) = match (&qqt, state) {
            (Some(qqt), _) => (product_from_qqt(qqt, n_in), NtkFactors::from_qqt(qqt, n_in)),
            (None, State::Network(net)) => (net.product(), NtkFactors::from_network(net)),
            (None, State::Qqt(_)) => unreachable!("a QQᵀ state always has its QQᵀ"),
        };
        Snapshot { state, qqt, product, factors }
    }

    /// `W1ᵀW1` (input side) and `W_L W_Lᵀ` (output side).
    fn representations(&self, n_in: usize) -> (DMatrix<f64>, DMatrix<f64>) {
        match (&self.qqt, self.state) {
            (Some(qqt), _) => (input_representation(qqt, n_in), output_representation(qqt, n_in)),
            (None, State::Network(net)) => {
                let first = &net.layers[0];
                let last = &net.layers[net.layers.len() - 1];
                (first.transpose() * first, last * last.transpose())
            }
            (None, State::Qqt(_)) => unreachable!("a QQᵀ state always has its QQᵀ"),
        }
    }
}

/// Where a phase started: what its summaries are measured against.
struct PhaseStart {
    t: f64,
    /// Index in the per-time series of the phase's first time.
    first: usize,
    loss: f64,
    factors: NtkFactors,
    rep_in: DMatrix<f64>,
    rep_out: DMatrix<f64>,
}

/// Turns the events of the primary run into the row's series and per-phase summaries.
struct Recorder<'a> {
    point: &'a Point,
    protocol: &'a Protocol,
    objectives: Vec<Objective>,
    specificity: Vec<TaskSpecificity>,
    reference: KernelReference,
    start: Option<PhaseStart>,
}

impl<'a> Recorder<'a> {
    fn new(point: &'a Point, protocol: &'a Protocol, net: &Network) -> Recorder<'a> {
        Recorder {
            point,
            protocol,
            objectives: protocol.tasks.iter().map(Objective::new).collect(),
            specificity: protocol.tasks.iter().map(|p| TaskSpecificity::new(&p.sigma_yx)).collect(),
            reference: KernelReference::new(NtkFactors::from_network(net), None),
            start: None,
        }
    }

    fn phase_loss(&self, phase: usize, product: &DMatrix<f64>) -> f64 {
        self.objectives[self.protocol.phases[phase].task].loss_of_product(product)
    }

    fn record(&mut self, row: &mut PointRow, event: Event<'_>) {
        let n_in = self.point.n_in();
        match event {
            Event::Start { phase, t, state } => {
                let snap = Snapshot::of(state, n_in);
                let (rep_in, rep_out) = snap.representations(n_in);
                self.start = Some(PhaseStart {
                    t,
                    first: row.t.len(),
                    loss: self.phase_loss(phase, &snap.product),
                    factors: snap.factors,
                    rep_in,
                    rep_out,
                });
            }
            Event::At { phase, t, requested, state, last } => {
                let snap = Snapshot::of(state, n_in);
                let loss = self.phase_loss(phase, &snap.product);
                row.t.push(t);
                row.phase.push(u32::try_from(phase).unwrap_or(u32::MAX));
                row.loss.push(loss);
                row.kernel_distance.push(self.reference.distance(&snap.factors));
                if self.point.record.singular_values {
                    row.singular_values.push(singular_values(&snap.product));
                }
                if self.protocol.tasks.len() > 1 {
                    row.task_losses.push(self.task_losses(&snap.product));
                }
                if let Some(qqt) = &snap.qqt
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
                if last {
                    self.end_phase(row, phase, t, loss, &snap);
                }
            }
        }
    }

    fn task_losses(&self, product: &DMatrix<f64>) -> Vec<f64> {
        self.objectives.iter().map(|o| o.loss_of_product(product)).collect()
    }

    /// The per-phase summaries, at the phase's last grid time.
    fn end_phase(&mut self, row: &mut PointRow, phase: usize, t: f64, loss: f64, snap: &Snapshot) {
        let Some(start) = self.start.take() else { return };
        let n_in = self.point.n_in();
        let (rep_in, rep_out) = snap.representations(n_in);
        let task = self.protocol.phases[phase].task;
        let t_rel: Vec<f64> = row.t[start.first..].iter().map(|&x| x - start.t).collect();
        let t_half = if start.loss > loss {
            time_to_fraction(
                &t_rel,
                &row.loss[start.first..],
                start.loss,
                start.loss - 0.5 * (start.loss - loss),
            )
        } else {
            None
        };
        row.phase_t_start.push(start.t);
        row.phase_t_end.push(t);
        row.phase_task_losses.push(self.task_losses(&snap.product));
        row.phase_t_half.push(t_half);
        row.phase_kernel_distance
            .push(KernelReference::new(start.factors, None).distance(&snap.factors));
        row.phase_rep_change_in.push((&rep_in - &start.rep_in).norm());
        row.phase_rep_change_out.push((&rep_out - &start.rep_out).norm());
        row.phase_tsc_in.push(self.specificity[task].input(&rep_in));
        row.phase_tsc_out.push(self.specificity[task].output(&rep_out));
    }

    /// Forgetting between consecutive completed phases, measured and predicted (MATH §5.1).
    fn forgetting(&self, row: &mut PointRow) {
        row.forgetting.clear();
        row.forgetting_formula.clear();
        let phases = &self.protocol.phases;
        for k in 1..row.phase_task_losses.len() {
            let (before, after) = (&row.phase_task_losses[k - 1], &row.phase_task_losses[k]);
            row.forgetting.push(after.iter().zip(before).map(|(a, b)| a - b).collect());
            let (from, to) = (phases[k - 1].task, phases[k].task);
            row.forgetting_formula.push(
                (0..self.protocol.tasks.len())
                    .map(|i| forgetting_formula(&self.protocol.tasks, from, to, i))
                    .collect(),
            );
        }
    }
}

fn evaluate(point: &Point, row: &mut PointRow) -> Result<(), Outcome> {
    let protocol = build_protocol(point)?;
    let net = build_network(point, &protocol.problem(0).sigma_yx)?;
    let lambdas = net.lambdas();
    if !lambdas.is_empty() {
        row.lambda_measured = Some(lambdas.iter().sum::<f64>() / lambdas.len() as f64);
    }
    let mut recorder = Recorder::new(point, &protocol, &net);
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
    let Some(sim) = point.method.simulation() else {
        recorder.forgetting(row);
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

/// Final loss, end kernel distance, t90 (of the first phase) and the reversal escape time.
fn summarize(row: &mut PointRow) {
    row.final_loss = row.loss.last().copied();
    row.kernel_distance_end = row.kernel_distance.last().copied();
    if let Some(&t_last) = row.t.last() {
        row.t_end = t_last;
    }
    // The first phase: its entries come first in the series.
    let first = row.phase.iter().take_while(|&&p| p == 0).count();
    let first_final = row.loss[..first].last().copied();
    row.t90 = match (row.initial_loss, first_final) {
        (Some(initial), Some(fin)) if initial > fin => time_to_fraction(
            &row.t[..first],
            &row.loss[..first],
            initial,
            initial - 0.9 * (initial - fin),
        ),
        _ => None,
    };
    if row.task == "reversal" {
        row.escape_time = row.phase_t_half.get(1).copied().flatten();
    }
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
