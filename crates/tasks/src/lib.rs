//! Tasks and learning protocols (docs/math.md §5): data sets reduced to the second-order statistics the
//! solver needs, and multi-phase protocols built on them.
//!
//! A task draws or constructs inputs `X` (`Ni × P`) and targets `Y` (`No × P`), whitens the inputs
//! exactly (`XXᵀ/P = I`, docs/math.md §1 assumption A1 and pitfall P12) and returns `Σyx = YXᵀ/P` and
//! `tr Σyy = ‖Y‖²_F/P` as a whitened [`Problem`]:
//!
//! - [`random_regression`]: Gaussian inputs and targets;
//! - [`hierarchy`]: the semantic hierarchy of docs/math.md §5.1 (binary trees of any depth);
//! - [`reversal`]: the construction of Braun et al. (2022) whose second phase is `−Σyx`;
//! - [`related_random`]: a second random task sharing chosen singular-vector pairs (transfer).
//!
//! A [`Protocol`] is a sequence of phases, each training on one of its tasks (continual,
//! reversal, transfer, fine-tuning; docs/math.md §5.1). [`run_closed_form`] evaluates it exactly,
//! restarting the closed form at every switch (λ is conserved by the flow), and
//! [`run_simulation`] continues one simulation through the phases; both report the same
//! [`Event`]s so that callers compute metrics once.

mod execute;
mod hierarchy;
mod protocol;
mod random;
mod reversal;
mod transfer;

pub use execute::{
    Event, ProtocolError, SimulationOutcome, State, rebalance, run_closed_form,
    run_closed_form_with_svds, run_deep_aligned, run_simulation,
};
pub use hierarchy::{hierarchy, hierarchy_targets};
pub use protocol::{Phase, Protocol, SourceDef, TaskDef, forgetting_formula, protocol};
pub use random::{random_regression, whiten};
pub use reversal::reversal;
pub use transfer::{hierarchy_new_feature, related_random};

use lazyrich_solver::Problem;
use nalgebra::DMatrix;

/// Why a task or protocol could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// Fewer samples than a task needs (inputs that cannot be whitened).
    #[error("the task needs samples >= {needed} (samples = {samples})")]
    TooFewSamples {
        /// Requested P.
        samples: usize,
        /// The smallest admissible P.
        needed: usize,
    },
    /// The drawn inputs were numerically rank deficient.
    #[error("the drawn inputs are rank deficient (smallest eigenvalue of XXᵀ/P = {smallest:e})")]
    RankDeficient {
        /// Smallest eigenvalue of the input covariance.
        smallest: f64,
    },
    /// The network's widths do not fit the task.
    #[error("{task} needs Ni = {}, No = {}, but the network has Ni = {}, No = {}", .expected.0, .expected.1, .found.0, .found.1)]
    Dims {
        /// The task, as the user wrote it.
        task: String,
        /// (Ni, No) the task has.
        expected: (usize, usize),
        /// (Ni, No) of the network.
        found: (usize, usize),
    },
    /// A parameter outside its range.
    #[error("{0}")]
    Invalid(String),
    /// A factorization of the generated data failed (bounded: it cannot loop forever).
    #[error(transparent)]
    Numerical(#[from] lazyrich_solver::SolverError),
}

/// A generated task: the whitened problem and the data it came from.
#[derive(Clone, Debug)]
pub struct Task {
    /// Σyx, tr Σyy, whitened inputs, τ = 1.
    pub problem: Problem,
    /// Whitened inputs (`Ni × P`), `XXᵀ/P = I`.
    pub inputs: DMatrix<f64>,
    /// Targets (`No × P`).
    pub targets: DMatrix<f64>,
}

impl Task {
    /// The task with inputs `inputs` (already whitened) and targets `targets`.
    pub(crate) fn from_data(inputs: DMatrix<f64>, targets: DMatrix<f64>) -> Task {
        let p = inputs.ncols() as f64;
        let sigma_yx = lazyrich_solver::linalg::product(&targets, &inputs.transpose()) / p;
        let trace_sigma_yy = targets.norm_squared() / p;
        let problem =
            Problem { sigma_yx, sigma_xx: None, trace_sigma_yy: Some(trace_sigma_yy), tau: 1.0 };
        Task { problem, inputs, targets }
    }
}
