//! `PointRow`: one row of the `points` table, one field per column.

/// One point of a sweep: its identity, parameters, outcome, summaries and time series.
///
/// Field order and meaning follow the columns of `docs/dataset.md`. The provenance fields
/// `spec_hash`, `schema_version`, `lazyrich_version`, `git_commit` and `shard` are filled in by
/// [`crate::PartWriter::push`] from the dataset and the writer's shard: values set here are
/// replaced. Per-time lists (`t`, `loss`, `kernel_distance`, `singular_values`, `sim_loss`) are
/// empty when not recorded; when recorded they have one entry per time of `t`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PointRow {
    // identity / provenance
    /// Hash of the point's canonical parameters; unique within a dataset.
    pub point_id: u64,
    /// Seed of the point's own randomness.
    pub seed: u64,
    /// Index of the spec block the point comes from.
    pub block: u32,
    /// Replicate index.
    pub replicate: u32,
    /// Hash of the spec (set by the writer).
    pub spec_hash: String,
    /// [`crate::SCHEMA_VERSION`] (set by the writer).
    pub schema_version: u32,
    /// Version of lazyrich that computed the row (set by the writer).
    pub lazyrich_version: String,
    /// Git commit of that build (set by the writer).
    pub git_commit: String,
    /// Shard that computed the row, "k/N" (set by the writer).
    pub shard: String,

    // parameters
    /// Balance λ of the initialization; `None` for inits that ignore it.
    pub lambda: Option<f64>,
    /// Scale σ of the initialization; `None` for inits that ignore it.
    pub scale: Option<f64>,
    /// Number of weight matrices.
    pub depth: u32,
    /// Layer widths, input first: `[Ni, N1, ..., No]`.
    pub widths: Vec<u32>,
    /// Input width `Ni`.
    pub n_in: u32,
    /// First hidden width `N1`.
    pub n_hidden: u32,
    /// Output width `No`.
    pub n_out: u32,
    /// Task kind; also the Hive partition (`points/task=<kind>/`).
    pub task: String,
    /// Canonical text of the task's parameters.
    pub task_params: String,
    /// Number of samples of the task, when it has one.
    pub task_samples: Option<u32>,
    /// Initialization kind.
    pub init: String,
    /// Method ("closed-form", "rk4", ...).
    pub method: String,
    /// Learning rate (gradient descent).
    pub lr: Option<f64>,
    /// Step of the ODE integrator.
    pub dt: Option<f64>,

    // outcome
    /// "ok" or the degenerate case met (singular, rank_deficient_task, ...).
    pub status: String,
    /// Message when `status` is not "ok".
    pub error: Option<String>,
    /// λ measured on the initial weights.
    pub lambda_measured: Option<f64>,

    // summaries
    /// Last time of the grid.
    pub t_end: f64,
    /// Loss at t = 0.
    pub initial_loss: Option<f64>,
    /// Loss at `t_end`.
    pub final_loss: Option<f64>,
    /// First time the loss has fallen by 90 % of (initial − final).
    pub t90: Option<f64>,
    /// Kernel distance at `t_end`.
    pub kernel_distance_end: Option<f64>,
    /// Largest drift of the balance over layers (simulations).
    pub balance_drift: Option<f64>,
    /// Largest relative Frobenius error of QQᵀ between closed form and simulation.
    pub cf_sim_error: Option<f64>,
    /// Wall time of the point in seconds (not reproducible).
    pub wall_time_s: f64,

    // per time
    /// Time grid.
    pub t: Vec<f64>,
    /// Loss at each time.
    pub loss: Vec<f64>,
    /// Kernel distance at each time.
    pub kernel_distance: Vec<f64>,
    /// Singular values of the network map at each time.
    pub singular_values: Vec<Vec<f64>>,
    /// Loss of the simulation at each time (closed-form+simulation methods).
    pub sim_loss: Vec<f64>,

    // checkpoints
    /// Times of the QQᵀ checkpoints.
    pub qqt_t: Vec<f64>,
    /// QQᵀ at each checkpoint, row-major `(Ni+No)²`.
    pub qqt: Vec<Vec<f64>>,
}
