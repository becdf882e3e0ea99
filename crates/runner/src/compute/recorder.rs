//! [`Recorder`]: turns the protocol's events into the row's per-time series, per-phase summaries
//! and forgetting; [`Snapshot`]: what the metrics need of one observed state.

use lazyrich_solver::linalg::{JacobiScratch, WarmSeries8, block_difference_norm, warm_started};
use lazyrich_solver::metrics::{
    Objective, TaskSpecificity, input_representation, output_representation, singular_values_into,
};
use lazyrich_solver::ntk::{KernelReference, NtkFactors};
use lazyrich_solver::{Network, SolverError};
use lazyrich_store::PointRow;
use lazyrich_sweep::Point;
use lazyrich_tasks::{Event, Protocol, State, forgetting_formula};
use nalgebra::{DMatrix, DMatrixView};

use super::setup::TaskDerived;
use super::summary::time_to_fraction;

/// What the metrics need of one observed state.
///
/// A two-layer state is measured from its `QQᵀ` alone: the loss and the kernel distance straight
/// from its blocks ([`Objective::loss_from_qqt`], [`KernelReference::distance_from_qqt`]: no
/// allocation), the network function read in place where the singular values need it. Other
/// states (depth ≥ 3) take the product and the general NTK factors.
pub(super) struct Snapshot<'s> {
    state: State<'s>,
    /// `QQᵀ` (two layers), computed for simulated networks too, so that both methods are
    /// measured the same way.
    pub(super) qqt: Option<std::borrow::Cow<'s, DMatrix<f64>>>,
    /// The network function of a state without `QQᵀ`.
    product: Option<DMatrix<f64>>,
}

impl<'s> Snapshot<'s> {
    #[inline(always)]
    pub(super) fn of(state: State<'s>) -> Snapshot<'s> {
        use std::borrow::Cow;
        let qqt = match state {
            State::Qqt(qqt) => Some(Cow::Borrowed(qqt)),
            State::Network(net) => net.q_matrix().map(|q| Cow::Owned(&q * q.transpose())),
        };
        let product = match (&qqt, state) {
            (None, State::Network(net)) => Some(net.product()),
            _ => None,
        };
        Snapshot { state, qqt, product }
    }

    /// The loss of `objective` at this state.
    #[inline(always)]
    pub(super) fn loss(&self, objective: &Objective) -> f64 {
        match (&self.qqt, &self.product) {
            (Some(qqt), _) => objective.loss_from_qqt(qqt),
            (None, Some(product)) => objective.loss_of_product(product),
            (None, None) => unreachable!("a state without QQᵀ always has its product"),
        }
    }

    /// The kernel distance from `reference` to this state's NTK.
    #[inline(always)]
    fn kernel_distance(&self, reference: &KernelReference, n_in: usize) -> f64 {
        match (&self.qqt, self.state) {
            (Some(qqt), _) => reference.distance_from_qqt(qqt, n_in),
            (None, State::Network(net)) => reference.distance(&NtkFactors::from_network(net)),
            (None, State::Qqt(_)) => unreachable!("a QQᵀ state always has its QQᵀ"),
        }
    }

    /// The NTK factors of this state (a phase's start).
    fn factors(&self, n_in: usize) -> NtkFactors {
        match (&self.qqt, self.state) {
            (Some(qqt), _) => NtkFactors::from_qqt(qqt, n_in),
            (None, State::Network(net)) => NtkFactors::from_network(net),
            (None, State::Qqt(_)) => unreachable!("a QQᵀ state always has its QQᵀ"),
        }
    }

    /// The network function: this state's own, or the bottom-left block of `QQᵀ` in place.
    fn product(&self, n_in: usize) -> DMatrixView<'_, f64> {
        match (&self.qqt, &self.product) {
            (Some(qqt), _) => {
                let n_out = qqt.nrows() - n_in;
                qqt.view((n_in, 0), (n_out, n_in))
            }
            (None, Some(product)) => product.as_view(),
            (None, None) => unreachable!("a state without QQᵀ always has its product"),
        }
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
pub(super) struct Recorder<'a> {
    point: &'a Point,
    protocol: &'a Protocol,
    objectives: &'a [Objective],
    specificity: &'a [TaskSpecificity],
    reference: KernelReference,
    start: Option<PhaseStart>,
    /// Scratch of the per-time singular values.
    jacobi: JacobiScratch,
    /// The network functions of at most 8 × 8 whose singular values are not yet computed, swept four at a
    /// time ([`WarmSeries8`]; docs/math.md §4.3, "Four matrices in lanes"). Their
    /// slots are the last entries of `row.singular_values`, empty until
    /// [`Recorder::flush_singular_values`].
    series: WarmSeries8,
    /// The first non-convergence of a per-time singular-value computation (the bounded
    /// Jacobi: status `inaccurate`; docs/math.md P15).
    pub(super) failure: Option<SolverError>,
}

impl<'a> Recorder<'a> {
    /// `derived`: what is derived of `protocol`'s tasks (objectives, task-specificity
    /// references); `net`: the initial network (the kernel reference).
    pub(super) fn new(
        point: &'a Point,
        protocol: &'a Protocol,
        derived: &'a TaskDerived,
        net: &Network,
    ) -> Recorder<'a> {
        Recorder {
            point,
            protocol,
            objectives: &derived.objectives,
            specificity: &derived.specificity,
            reference: KernelReference::new(NtkFactors::from_network(net), None),
            start: None,
            jacobi: JacobiScratch::default(),
            series: WarmSeries8::default(),
            failure: None,
        }
    }

    pub(super) fn phase_loss(&self, phase: usize, product: &DMatrix<f64>) -> f64 {
        self.phase_objective(phase).loss_of_product(product)
    }

    /// The objective of phase `phase`'s task.
    pub(super) fn phase_objective(&self, phase: usize) -> &Objective {
        &self.objectives[self.protocol.phases[phase].task]
    }

    pub(super) fn record(&mut self, row: &mut PointRow, event: Event<'_>) {
        let n_in = self.point.n_in();
        match event {
            Event::Start { phase, t, state } => {
                if phase == 0 {
                    self.reserve(row);
                }
                let snap = Snapshot::of(state);
                let (rep_in, rep_out) = snap.representations(n_in);
                self.start = Some(PhaseStart {
                    t,
                    first: row.t.len(),
                    loss: snap.loss(self.phase_objective(phase)),
                    factors: snap.factors(n_in),
                    rep_in,
                    rep_out,
                });
            }
            Event::At { phase, t, requested, state, last } => {
                let snap = Snapshot::of(state);
                let loss = snap.loss(self.phase_objective(phase));
                row.t.push(t);
                row.phase.push(u32::try_from(phase).unwrap_or(u32::MAX));
                row.loss.push(loss);
                row.kernel_distance.push(snap.kernel_distance(&self.reference, n_in));
                // Singular values feed no summary: only the per-time series stores them, and
                // `record.per_time = false` drops it (they are always finite or empty, so they
                // never cut the series either; `finite::sanitize`).
                if self.point.record.singular_values && self.point.record.per_time {
                    self.singular_values(row, snap.product(n_in));
                }
                if self.protocol.tasks.len() > 1 {
                    row.task_losses.push(self.task_losses(&snap));
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

    /// Reserves the row's series and per-phase lists to the lengths a complete run gives them
    /// (a phase that converges early leaves some unused): no reallocation while they grow.
    fn reserve(&mut self, row: &mut PointRow) {
        let phases = self.protocol.phases.len();
        let times = self.point.times.len().saturating_mul(phases);
        row.t.reserve(times);
        row.phase.reserve(times);
        row.loss.reserve(times);
        row.kernel_distance.reserve(times);
        if self.point.record.singular_values && self.point.record.per_time {
            row.singular_values.reserve(times);
            self.series.reserve(times);
        }
        if self.protocol.tasks.len() > 1 {
            row.task_losses.reserve(times);
        }
        row.phase_t_start.reserve(phases);
        row.phase_t_end.reserve(phases);
        row.phase_task_losses.reserve(phases);
        row.phase_t_half.reserve(phases);
        row.phase_kernel_distance.reserve(phases);
        row.phase_rep_change_in.reserve(phases);
        row.phase_rep_change_out.reserve(phases);
        row.phase_tsc_in.reserve(phases);
        row.phase_tsc_out.reserve(phases);
    }

    /// The singular values of `product` into the next slot of `row.singular_values`: a product
    /// with both sides at most 8 ([`warm_started`]) is held for
    /// [`Recorder::flush_singular_values`] (its slot stays empty until then), any other shape
    /// takes the cold method.
    fn singular_values(&mut self, row: &mut PointRow, product: DMatrixView<'_, f64>) {
        let (rows, cols) = product.shape();
        if warm_started(rows, cols) {
            row.singular_values.push(Vec::with_capacity(rows.min(cols)));
            if self.series.push(product) {
                self.flush_singular_values(row);
            }
            return;
        }
        self.flush_singular_values(row);
        row.singular_values.push(Vec::with_capacity(rows.min(cols)));
        let values = row.singular_values.last_mut().expect("just pushed");
        let result = singular_values_into(product, &mut self.jacobi, values);
        self.note(result);
    }

    /// Computes the singular values of the held 8 × 8 network functions into their slots, the
    /// last entries of `row.singular_values`. Called when the series is full, before the row's
    /// series are cleared, and when the run ends ([`Recorder::finish`]).
    pub(super) fn flush_singular_values(&mut self, row: &mut PointRow) {
        let held = self.series.len();
        if held == 0 {
            return;
        }
        let first = row.singular_values.len() - held;
        let failure = &mut self.failure;
        self.series.flush("the network function", &mut row.singular_values[first..], |result| {
            if let Err(err @ SolverError::NoConvergence { .. }) = result {
                failure.get_or_insert(err);
            }
        });
    }

    /// A non-finite product (overflow, divergence) leaves its values empty: its loss reports
    /// it. Non-convergence is `inaccurate`.
    fn note(&mut self, result: Result<(), SolverError>) {
        if let Err(err @ SolverError::NoConvergence { .. }) = result {
            self.failure.get_or_insert(err);
        }
    }

    fn task_losses(&self, snap: &Snapshot) -> Vec<f64> {
        self.objectives.iter().map(|o| snap.loss(o)).collect()
    }

    /// The per-phase summaries, at the phase's last grid time.
    fn end_phase(&mut self, row: &mut PointRow, phase: usize, t: f64, loss: f64, snap: &Snapshot) {
        let Some(start) = self.start.take() else { return };
        let n_in = self.point.n_in();
        let task = self.protocol.phases[phase].task;
        let t_half = if start.loss > loss {
            time_to_fraction(
                &row.t[start.first..],
                start.t,
                &row.loss[start.first..],
                start.loss,
                start.loss - 0.5 * (start.loss - loss),
            )
        } else {
            None
        };
        row.phase_t_start.push(start.t);
        row.phase_t_end.push(t);
        row.phase_task_losses.push(self.task_losses(snap));
        row.phase_t_half.push(t_half);
        row.phase_kernel_distance
            .push(snap.kernel_distance(&KernelReference::new(start.factors, None), n_in));
        let specificity = &self.specificity[task];
        let (change_in, change_out, tsc_in, tsc_out) = match &snap.qqt {
            // The representations are blocks of `QQᵀ`: read in place (bitwise the values of
            // their copies).
            Some(qqt) => (
                block_difference_norm(qqt, (0, 0), &start.rep_in),
                block_difference_norm(qqt, (n_in, n_in), &start.rep_out),
                specificity.input_from_qqt(qqt, n_in),
                specificity.output_from_qqt(qqt, n_in),
            ),
            None => {
                let (rep_in, rep_out) = snap.representations(n_in);
                (
                    (&rep_in - &start.rep_in).norm(),
                    (&rep_out - &start.rep_out).norm(),
                    specificity.input(&rep_in),
                    specificity.output(&rep_out),
                )
            }
        };
        row.phase_rep_change_in.push(change_in);
        row.phase_rep_change_out.push(change_out);
        row.phase_tsc_in.push(tsc_in);
        row.phase_tsc_out.push(tsc_out);
    }

    /// The end of the run: the held singular values, then forgetting.
    pub(super) fn finish(&mut self, row: &mut PointRow) {
        self.flush_singular_values(row);
        self.forgetting(row);
    }

    /// Forgetting between consecutive completed phases, measured and predicted (docs/math.md §5.1).
    fn forgetting(&mut self, row: &mut PointRow) {
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
