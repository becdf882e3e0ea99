//! `PointRow`: one row of the `points` table, one field per column.

/// One point of a sweep: its identity, parameters, outcome, summaries and time series.
///
/// Field order and meaning follow the columns of `docs/dataset.md`. The provenance fields
/// `spec_hash`, `schema_version`, `lazyrich_version`, `git_commit` and `shard` are filled in by
/// [`crate::PartWriter::push`] from the dataset and the writer's shard: values set here are
/// replaced. Per-time lists (`t`, `phase`, `loss`, `task_losses`, `kernel_distance`,
/// `singular_values`, `sim_loss`) are empty when not recorded; when recorded they have one entry
/// per time of `t` (`task_losses`, `singular_values` and `sim_loss` may stay empty when they do
/// not apply). Per-phase lists (`phase_*`) have `n_phases` entries for every point; per-transition
/// lists (`forgetting`, `forgetting_formula`) have `n_phases − 1`, each with one entry per task of
/// the protocol (all of these are empty only for a degenerate point that failed before they could
/// be computed). Floats are never NaN or infinite: a value that does not exist, or was not finite,
/// is `None` (null), and a per-time series stops at the last time at which every value is finite
/// (the row's `status` then says why, see `docs/dataset.md`).
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
    /// The balance λ_l of every hidden layer (`depth − 1` values, hidden layer 1 first) of a
    /// balanced init, the repeated value of a scalar `lambda`; empty for inits that ignore λ.
    /// `lambda` is then the common value, `None` when the λ_l differ.
    pub lambdas: Vec<f64>,
    /// λ of the re-balanced network in fine-tuning; `None` for other protocols.
    pub lambda_ft: Option<f64>,
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
    /// Number of phases of the point's protocol (1 for single-task kinds).
    pub n_phases: u32,
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
    /// λ measured on the initial weights: the mean over hidden layers of `tr B_l / N_l`,
    /// `B_l = W_{l+1}ᵀW_{l+1} − W_lW_lᵀ`.
    pub lambda_measured: Option<f64>,
    /// How far the initial balance is from `λ_l I`, relative to its size: the largest over hidden
    /// layers of `‖B_l − λ_l I‖_F / ‖B_l‖_F` (`λ_l = tr B_l / N_l`); `None` for depth 1 or when
    /// some `B_l` is zero to rounding (docs/math.md §2.2).
    pub balance_defect: Option<f64>,
    /// The same deviation per entry: the largest over hidden layers of `‖B_l − λ_l I‖_F / N_l`
    /// (the root mean square of the `N_l²` entries of `B_l − λ_l I`); `None` for depth 1.
    pub balance_entry_defect: Option<f64>,

    // summaries
    /// Last time actually computed (the grid's last time, the end of the last phase, or the last
    /// time computed before a failure); `None` when no time was computed.
    pub t_end: Option<f64>,
    /// Loss at t = 0.
    pub initial_loss: Option<f64>,
    /// Loss at `t_end`.
    pub final_loss: Option<f64>,
    /// First time the loss has fallen by 90 % of (initial − final).
    pub t90: Option<f64>,
    /// Reversal: time from the start of phase 2 until the loss has recovered 50 % of its drop;
    /// `None` for other protocols or if it never does.
    pub escape_time: Option<f64>,
    /// Kernel distance at `t_end`.
    pub kernel_distance_end: Option<f64>,
    /// Largest drift of the balance over layers (simulations).
    pub balance_drift: Option<f64>,
    /// The tolerance `balance_drift` was checked against (RK4 simulations of depth ≥ 2); `None`
    /// when no check applies.
    pub tolerance: Option<f64>,
    /// Largest relative Frobenius error of QQᵀ between closed form and simulation.
    pub cf_sim_error: Option<f64>,
    /// Wall time of the point in seconds (not reproducible).
    pub wall_time_s: f64,

    // per time
    /// Time grid.
    pub t: Vec<f64>,
    /// Phase index (0-based) of each time; all 0 for single-phase protocols.
    pub phase: Vec<u32>,
    /// Loss at each time.
    pub loss: Vec<f64>,
    /// Loss on every task of the protocol at each time (`n_tasks` entries each); empty for
    /// single-task kinds.
    pub task_losses: Vec<Vec<f64>>,
    /// Kernel distance at each time.
    pub kernel_distance: Vec<f64>,
    /// Singular values of the network map at each time.
    pub singular_values: Vec<Vec<f64>>,
    /// Loss of the simulation at each time (closed-form+simulation methods).
    pub sim_loss: Vec<f64>,

    // per phase (n_phases entries)
    /// Absolute start time of each phase.
    pub phase_t_start: Vec<f64>,
    /// Absolute end time of each phase.
    pub phase_t_end: Vec<f64>,
    /// Loss on every task of the protocol at the end of each phase (`n_tasks` entries each).
    pub phase_task_losses: Vec<Vec<f64>>,
    /// Time from the phase start until the phase's own loss has recovered 50 % of its drop over
    /// the phase; `None` if it never does.
    pub phase_t_half: Vec<Option<f64>>,
    /// Kernel distance between the NTK at the phase start and at the phase end.
    pub phase_kernel_distance: Vec<f64>,
    /// Frobenius norm of the change of W1ᵀW1 over the phase.
    pub phase_rep_change_in: Vec<f64>,
    /// Frobenius norm of the change of W2W2ᵀ over the phase.
    pub phase_rep_change_out: Vec<f64>,
    /// Task-specificity score of W1ᵀW1 at the phase end w.r.t. the phase's task.
    pub phase_tsc_in: Vec<f64>,
    /// Task-specificity score of W2W2ᵀ at the phase end w.r.t. the phase's task.
    pub phase_tsc_out: Vec<f64>,

    // per phase transition (n_phases − 1 entries k = 1 … n_phases − 1, n_tasks entries each)
    /// L_i(end of phase k) − L_i(end of phase k − 1) for every task i.
    pub forgetting: Vec<Vec<f64>>,
    /// Closed-form prediction ½(‖Σ_k − Σ_i‖² − ‖Σ_{k−1} − Σ_i‖²) of the same entries.
    pub forgetting_formula: Vec<Vec<f64>>,

    // checkpoints
    /// Times of the QQᵀ checkpoints.
    pub qqt_t: Vec<f64>,
    /// QQᵀ at each checkpoint, row-major `(Ni+No)²`.
    pub qqt: Vec<Vec<f64>>,
}

impl PointRow {
    /// Every float the row holds, with its column: each scalar that is present, each item of a
    /// list, each item of each inner list, each present item of `phase_t_half`. For checks that
    /// no float is NaN or infinite. The destructuring names every field: a new column does not
    /// compile until it is classified here (and `floats_cover_every_float_column_of_the_schema`
    /// checks the classification against the schema).
    pub fn floats(&self) -> Vec<(&'static str, f64)> {
        let PointRow {
            point_id: _,
            seed: _,
            block: _,
            replicate: _,
            spec_hash: _,
            schema_version: _,
            lazyrich_version: _,
            git_commit: _,
            shard: _,
            lambda,
            lambdas,
            lambda_ft,
            scale,
            depth: _,
            widths: _,
            n_in: _,
            n_hidden: _,
            n_out: _,
            task: _,
            task_params: _,
            task_samples: _,
            n_phases: _,
            init: _,
            method: _,
            lr,
            dt,
            status: _,
            error: _,
            lambda_measured,
            balance_defect,
            balance_entry_defect,
            t_end,
            initial_loss,
            final_loss,
            t90,
            escape_time,
            kernel_distance_end,
            balance_drift,
            tolerance,
            cf_sim_error,
            wall_time_s,
            t,
            phase: _,
            loss,
            task_losses,
            kernel_distance,
            singular_values,
            sim_loss,
            phase_t_start,
            phase_t_end,
            phase_task_losses,
            phase_t_half,
            phase_kernel_distance,
            phase_rep_change_in,
            phase_rep_change_out,
            phase_tsc_in,
            phase_tsc_out,
            forgetting,
            forgetting_formula,
            qqt_t,
            qqt,
        } = self;
        let mut out = Vec::new();
        let scalars: [(&'static str, Option<f64>); 18] = [
            ("lambda", *lambda),
            ("lambda_ft", *lambda_ft),
            ("scale", *scale),
            ("lr", *lr),
            ("dt", *dt),
            ("lambda_measured", *lambda_measured),
            ("balance_defect", *balance_defect),
            ("balance_entry_defect", *balance_entry_defect),
            ("t_end", *t_end),
            ("initial_loss", *initial_loss),
            ("final_loss", *final_loss),
            ("t90", *t90),
            ("escape_time", *escape_time),
            ("kernel_distance_end", *kernel_distance_end),
            ("balance_drift", *balance_drift),
            ("tolerance", *tolerance),
            ("cf_sim_error", *cf_sim_error),
            ("wall_time_s", Some(*wall_time_s)),
        ];
        out.extend(scalars.iter().filter_map(|&(name, x)| x.map(|x| (name, x))));
        let lists: [(&'static str, &[f64]); 13] = [
            ("lambdas", lambdas),
            ("t", t),
            ("loss", loss),
            ("kernel_distance", kernel_distance),
            ("sim_loss", sim_loss),
            ("phase_t_start", phase_t_start),
            ("phase_t_end", phase_t_end),
            ("phase_kernel_distance", phase_kernel_distance),
            ("phase_rep_change_in", phase_rep_change_in),
            ("phase_rep_change_out", phase_rep_change_out),
            ("phase_tsc_in", phase_tsc_in),
            ("phase_tsc_out", phase_tsc_out),
            ("qqt_t", qqt_t),
        ];
        for (name, values) in lists {
            out.extend(values.iter().map(|&x| (name, x)));
        }
        let nested: [(&'static str, &[Vec<f64>]); 6] = [
            ("task_losses", task_losses),
            ("singular_values", singular_values),
            ("phase_task_losses", phase_task_losses),
            ("forgetting", forgetting),
            ("forgetting_formula", forgetting_formula),
            ("qqt", qqt),
        ];
        for (name, values) in nested {
            out.extend(values.iter().flatten().map(|&x| (name, x)));
        }
        out.extend(phase_t_half.iter().flatten().map(|&x| ("phase_t_half", x)));
        out
    }

    /// The names of the columns [`PointRow::floats`] reads.
    pub const FLOAT_COLUMNS: [&'static str; 38] = [
        "lambda",
        "lambda_ft",
        "scale",
        "lr",
        "dt",
        "lambda_measured",
        "balance_defect",
        "balance_entry_defect",
        "t_end",
        "initial_loss",
        "final_loss",
        "t90",
        "escape_time",
        "kernel_distance_end",
        "balance_drift",
        "tolerance",
        "cf_sim_error",
        "wall_time_s",
        "lambdas",
        "t",
        "loss",
        "kernel_distance",
        "sim_loss",
        "phase_t_start",
        "phase_t_end",
        "phase_kernel_distance",
        "phase_rep_change_in",
        "phase_rep_change_out",
        "phase_tsc_in",
        "phase_tsc_out",
        "qqt_t",
        "task_losses",
        "singular_values",
        "phase_task_losses",
        "forgetting",
        "forgetting_formula",
        "qqt",
        "phase_t_half",
    ];
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use arrow_schema::DataType;

    use super::*;
    use crate::schema::points_schema;

    /// Whether a column type holds floats at any depth of lists.
    fn holds_floats(data_type: &DataType) -> bool {
        match data_type {
            DataType::Float64 => true,
            DataType::List(item) => holds_floats(item.data_type()),
            _ => false,
        }
    }

    #[test]
    fn floats_cover_every_float_column_of_the_schema() {
        let schema = points_schema();
        let in_schema: BTreeSet<&str> = schema
            .fields()
            .iter()
            .filter(|f| holds_floats(f.data_type()))
            .map(|f| f.name().as_str())
            .collect();
        let listed: BTreeSet<&str> = PointRow::FLOAT_COLUMNS.into_iter().collect();
        assert_eq!(listed, in_schema);
    }

    #[test]
    fn floats_lists_every_value_once() {
        let row = PointRow {
            lambda: Some(1.0),
            scale: None,
            wall_time_s: 2.0,
            t: vec![0.0, 1.0],
            singular_values: vec![vec![3.0], vec![4.0, 5.0]],
            phase_t_half: vec![None, Some(6.0)],
            ..PointRow::default()
        };
        let floats = row.floats();
        assert_eq!(
            floats,
            [
                ("lambda", 1.0),
                ("wall_time_s", 2.0),
                ("t", 0.0),
                ("t", 1.0),
                ("singular_values", 3.0),
                ("singular_values", 4.0),
                ("singular_values", 5.0),
                ("phase_t_half", 6.0),
            ]
        );
    }
}
