//! One point of a sweep and the parameter types it is made of.
//!
//! A [`Point`] is everything the runner needs to compute one trajectory: architecture, task,
//! initialization, method, times, what to record, and the seeds. Its [`Point::canonical`] text
//! defines its `point_id` (see `docs/spec.md`, "Ids and seeds").

use std::sync::Arc;

use crate::ids;

/// A finite `f64` with `Eq` and `Hash` by its bits (−0.0 is normalised to 0.0 on construction),
/// so a task holding one can be compared, hashed and deduplicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Real(u64);

impl Real {
    /// Wraps a finite number, turning −0.0 into 0.0.
    ///
    /// # Panics
    ///
    /// If `x` is NaN or infinite (the spec parser only ever builds a `Real` from finite numbers).
    pub fn new(x: f64) -> Real {
        assert!(x.is_finite(), "Real::new: {x} is not finite");
        Real(ids::f64_bits(x))
    }

    /// The number.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl std::fmt::Display for Real {
    /// Rust's `Display` of the `f64`: the shortest text that reads back to the same number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// A task generator with its typed parameters. One variant per kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskSpec {
    /// A random linear teacher on `samples` whitened random inputs.
    Random {
        /// Number of samples P (must be ≥ Ni).
        samples: u32,
    },
    /// Semantic hierarchy: binary tree with 2^levels items (inputs) and 2^levels features
    /// (outputs).
    Hierarchy {
        /// Depth of the tree, 1..=10.
        levels: u32,
        /// Scale feature column j by 1 + 0.1/j to split degenerate singular values.
        split: bool,
    },
    /// Reversal (Braun et al. construction): phase 1 Σyx, phase 2 −Σyx.
    Reversal {
        /// Number of samples P (must be ≥ max(Ni, No)).
        samples: u32,
        /// Convergence criterion: a phase ends at the first grid time at which its excess loss
        /// is at most this fraction of the excess loss it started with (in (0, 1)); `None`: each
        /// phase runs the whole time grid.
        until: Option<Real>,
    },
    /// `tasks` random regression tasks in sequence (same dims), each on `samples` samples.
    Continual {
        /// Number of tasks (phases), 2..=64.
        tasks: u32,
        /// Number of samples P of each task (must be ≥ Ni).
        samples: u32,
        /// Convergence criterion: a phase ends at the first grid time at which its excess loss
        /// is at most this fraction of the excess loss it started with (in (0, 1)); `None`: each
        /// phase runs the whole time grid.
        until: Option<Real>,
    },
    /// Pre-train on a source task, then train on a related one.
    Transfer {
        /// The source task and how the second task relates to it.
        source: TransferSource,
        /// Convergence criterion: a phase ends at the first grid time at which its excess loss
        /// is at most this fraction of the excess loss it started with (in (0, 1)); `None`: each
        /// phase runs the whole time grid.
        until: Option<Real>,
    },
    /// Pre-train on a source task, re-balance the learned function to λ_ft, train on the related
    /// task.
    FineTune {
        /// The source task and how the second task relates to it.
        source: TransferSource,
        /// The balance λ_ft of the re-balanced network.
        lambda_ft: Real,
        /// Convergence criterion: a phase ends at the first grid time at which its excess loss
        /// is at most this fraction of the excess loss it started with (in (0, 1)); `None`: each
        /// phase runs the whole time grid.
        until: Option<Real>,
    },
}

/// The source task of a transfer or fine-tuning task, and how its second task relates to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TransferSource {
    /// Random task A, then random task B with the same singular values that shares the first
    /// `shared` singular-vector pairs of A (the others are fresh random directions orthogonal to
    /// them).
    Random {
        /// Number of samples P of each task (must be ≥ Ni).
        samples: u32,
        /// Number of shared singular-vector pairs (must be ≤ min(Ni, No)).
        shared: u32,
    },
    /// The hierarchy with one extra output (a new feature): phase 1 trains the hierarchy with the
    /// new feature absent (target 0), phase 2 adds the new feature. Needs Ni = 2^levels,
    /// No = 2^levels + 1.
    Hierarchy {
        /// Depth of the tree, 1..=10.
        levels: u32,
        /// Scale feature column j by 1 + 0.1/j to split degenerate singular values.
        split: bool,
    },
}

impl TransferSource {
    /// The spelling of the source in specs (`random`, `hierarchy`).
    pub fn kind(&self) -> &'static str {
        match self {
            TransferSource::Random { .. } => "random",
            TransferSource::Hierarchy { .. } => "hierarchy",
        }
    }

    /// The sources known to this version, in documentation order.
    pub const KINDS: &'static [&'static str] = &["random", "hierarchy"];

    /// The source's part of a canonical text: `source=random,samples=64,shared=2`.
    fn canonical_params(&self) -> String {
        match self {
            TransferSource::Random { samples, shared } => {
                format!("source=random,samples={samples},shared={shared}")
            }
            TransferSource::Hierarchy { levels, split } => {
                format!("source=hierarchy,levels={levels},split={split}")
            }
        }
    }
}

impl TaskSpec {
    /// Default sample count of the tasks that have one (`random`, `reversal`, `continual`, and
    /// `transfer`/`fine-tune` from a random source).
    pub const DEFAULT_SAMPLES: u32 = 64;
    /// Default depth of a hierarchy.
    pub const DEFAULT_LEVELS: u32 = 3;
    /// Largest depth of a hierarchy (1024 items).
    pub const MAX_LEVELS: u32 = 10;
    /// Default number of tasks of a `continual` task.
    pub const DEFAULT_TASKS: u32 = 4;
    /// Largest number of tasks of a `continual` task.
    pub const MAX_TASKS: u32 = 64;

    /// The kind's spelling in specs and output (`random`, `hierarchy`, …, `fine-tune`).
    pub fn kind(&self) -> &'static str {
        match self {
            TaskSpec::Random { .. } => "random",
            TaskSpec::Hierarchy { .. } => "hierarchy",
            TaskSpec::Reversal { .. } => "reversal",
            TaskSpec::Continual { .. } => "continual",
            TaskSpec::Transfer { .. } => "transfer",
            TaskSpec::FineTune { .. } => "fine-tune",
        }
    }

    /// Versioned canonical text, part of the point id and shown as `task_params`:
    /// `random(samples=64)`, `hierarchy(levels=3,split=false)`, `reversal(samples=16)`,
    /// `continual(tasks=4,samples=64)`, `transfer(source=random,samples=64,shared=2)`,
    /// `transfer(source=hierarchy,levels=3,split=false)`,
    /// `fine-tune(lambda_ft=2,source=random,samples=64,shared=2)` (λ_ft in Rust's `Display`).
    pub fn canonical(&self) -> String {
        // `until` in exponent form (`1e-6`), the shortest text that reads back to the same number.
        let until = |until: &Option<Real>| {
            until.map_or_else(String::new, |u| format!(",until={:e}", u.get()))
        };
        match self {
            TaskSpec::Random { samples } => format!("random(samples={samples})"),
            TaskSpec::Hierarchy { levels, split } => {
                format!("hierarchy(levels={levels},split={split})")
            }
            TaskSpec::Reversal { samples, until: u } => {
                format!("reversal(samples={samples}{})", until(u))
            }
            TaskSpec::Continual { tasks, samples, until: u } => {
                format!("continual(tasks={tasks},samples={samples}{})", until(u))
            }
            TaskSpec::Transfer { source, until: u } => {
                format!("transfer({}{})", source.canonical_params(), until(u))
            }
            TaskSpec::FineTune { source, lambda_ft, until: u } => {
                format!(
                    "fine-tune(lambda_ft={lambda_ft},{}{})",
                    source.canonical_params(),
                    until(u)
                )
            }
        }
    }

    /// The text the task seed hashes: [`TaskSpec::canonical`] without `until` (the criterion
    /// does not change the tasks), and for `fine-tune` the canonical text of the `transfer` with
    /// the same source. So the plain transfer and the fine-tuning at every λ_ft, with or
    /// without a convergence criterion, draw the same tasks.
    pub fn draw_key(&self) -> String {
        match self {
            TaskSpec::FineTune { source, .. } | TaskSpec::Transfer { source, .. } => {
                TaskSpec::Transfer { source: source.clone(), until: None }.canonical()
            }
            TaskSpec::Reversal { samples, .. } => {
                TaskSpec::Reversal { samples: *samples, until: None }.canonical()
            }
            TaskSpec::Continual { tasks, samples, .. } => {
                TaskSpec::Continual { tasks: *tasks, samples: *samples, until: None }.canonical()
            }
            _ => self.canonical(),
        }
    }

    /// The convergence criterion of a multi-phase task ([`TaskSpec::Continual`] `until`), if set.
    pub fn until(&self) -> Option<f64> {
        match self {
            TaskSpec::Reversal { until, .. }
            | TaskSpec::Continual { until, .. }
            | TaskSpec::Transfer { until, .. }
            | TaskSpec::FineTune { until, .. } => until.map(Real::get),
            _ => None,
        }
    }

    /// Number of training phases: 1 for `random` and `hierarchy`, 2 for `reversal`, `transfer`
    /// and `fine-tune`, `tasks` for `continual`.
    pub fn n_phases(&self) -> u32 {
        match self {
            TaskSpec::Random { .. } | TaskSpec::Hierarchy { .. } => 1,
            TaskSpec::Reversal { .. } | TaskSpec::Transfer { .. } | TaskSpec::FineTune { .. } => 2,
            TaskSpec::Continual { tasks, .. } => *tasks,
        }
    }

    /// λ_ft of a `fine-tune` task; `None` for the other kinds.
    pub fn lambda_ft(&self) -> Option<f64> {
        match self {
            TaskSpec::FineTune { lambda_ft, .. } => Some(lambda_ft.get()),
            _ => None,
        }
    }

    /// The sample count P of `random`, `reversal`, `continual`, and `transfer`/`fine-tune` from a
    /// random source; `None` for the hierarchy and hierarchy sources.
    pub fn samples(&self) -> Option<u32> {
        match self {
            TaskSpec::Random { samples }
            | TaskSpec::Reversal { samples, .. }
            | TaskSpec::Continual { samples, .. }
            | TaskSpec::Transfer { source: TransferSource::Random { samples, .. }, .. }
            | TaskSpec::FineTune { source: TransferSource::Random { samples, .. }, .. } => {
                Some(*samples)
            }
            TaskSpec::Hierarchy { .. }
            | TaskSpec::Transfer { source: TransferSource::Hierarchy { .. }, .. }
            | TaskSpec::FineTune { source: TransferSource::Hierarchy { .. }, .. } => None,
        }
    }

    /// The (Ni, No) the task forces: (2^L, 2^L) for `hierarchy`, (2^L, 2^L + 1) for `transfer`
    /// and `fine-tune` from a hierarchy; `None` for the kinds that take any dims.
    pub fn required_dims(&self) -> Option<(usize, usize)> {
        let items = |levels: u32| 1usize.checked_shl(levels).unwrap_or(usize::MAX);
        match self {
            TaskSpec::Hierarchy { levels, .. } => Some((items(*levels), items(*levels))),
            TaskSpec::Transfer { source: TransferSource::Hierarchy { levels, .. }, .. }
            | TaskSpec::FineTune { source: TransferSource::Hierarchy { levels, .. }, .. } => {
                Some((items(*levels), items(*levels).saturating_add(1)))
            }
            _ => None,
        }
    }

    /// The kinds known to this version, in documentation order.
    pub const KINDS: &'static [&'static str] =
        &["random", "hierarchy", "reversal", "continual", "transfer", "fine-tune"];
}

/// How the weights are initialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InitKind {
    /// λ-balanced with random orthogonal bases; σ = scale.
    Balanced,
    /// `Balanced`, with the sign of `det(W_L⋯W_1)` matched to that of `det Σyx` when `Ni = No`
    /// (one row of the last layer reflected, which keeps every balance): the same draw as
    /// `Balanced`, but never on the λ = 0 saddle of MATH P2.
    BalancedSigned,
    /// λ-balanced with the task's singular bases; σ = scale.
    Aligned,
    /// I.i.d. N(0, scale²) entries; not balanced (λ is ignored).
    Gaussian,
    /// LeCun normal; not balanced (λ and scale are ignored).
    Lecun,
}

impl InitKind {
    /// Every kind, in documentation order.
    pub const ALL: [InitKind; 5] = [
        InitKind::Balanced,
        InitKind::BalancedSigned,
        InitKind::Aligned,
        InitKind::Gaussian,
        InitKind::Lecun,
    ];

    /// The spelling in specs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            InitKind::Balanced => "balanced",
            InitKind::BalancedSigned => "balanced-signed",
            InitKind::Aligned => "aligned",
            InitKind::Gaussian => "gaussian",
            InitKind::Lecun => "lecun",
        }
    }

    /// Parses the spec spelling.
    pub fn from_name(name: &str) -> Option<InitKind> {
        InitKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether λ matters (the λ-balanced inits).
    pub fn uses_lambda(self) -> bool {
        matches!(self, InitKind::Balanced | InitKind::BalancedSigned | InitKind::Aligned)
    }

    /// The name the init seed hashes: `balanced-signed` draws exactly what `balanced` draws.
    pub fn draw_name(self) -> &'static str {
        match self {
            InitKind::BalancedSigned => InitKind::Balanced.as_str(),
            other => other.as_str(),
        }
    }

    /// Whether `scale` matters (every init but LeCun).
    pub fn uses_scale(self) -> bool {
        !matches!(self, InitKind::Lecun)
    }
}

/// A simulation scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sim {
    /// Classical Runge–Kutta of the gradient flow with step `dt`.
    Rk4,
    /// Full-batch gradient descent with learning rate `lr`.
    Gd,
}

impl Sim {
    /// The spelling in specs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Sim::Rk4 => "rk4",
            Sim::Gd => "gd",
        }
    }
}

/// How a point's trajectory is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// The exact closed form (depth 2, λ-balanced init).
    ClosedForm,
    /// RK4 simulation of the gradient flow.
    Rk4,
    /// Gradient descent.
    Gd,
    /// Both the closed form and RK4, recording their difference.
    ClosedFormRk4,
    /// Both the closed form and gradient descent, recording their difference.
    ClosedFormGd,
}

impl Method {
    /// Every method, in documentation order.
    pub const ALL: [Method; 5] =
        [Method::ClosedForm, Method::Rk4, Method::Gd, Method::ClosedFormRk4, Method::ClosedFormGd];

    /// The spelling in specs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ClosedForm => "closed-form",
            Method::Rk4 => "rk4",
            Method::Gd => "gd",
            Method::ClosedFormRk4 => "closed-form+rk4",
            Method::ClosedFormGd => "closed-form+gd",
        }
    }

    /// Parses the spec spelling.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|method| method.as_str() == name)
    }

    /// Whether the closed form is evaluated.
    pub fn uses_closed_form(self) -> bool {
        matches!(self, Method::ClosedForm | Method::ClosedFormRk4 | Method::ClosedFormGd)
    }

    /// The simulation scheme, if any.
    pub fn simulation(self) -> Option<Sim> {
        match self {
            Method::ClosedForm => None,
            Method::Rk4 | Method::ClosedFormRk4 => Some(Sim::Rk4),
            Method::Gd | Method::ClosedFormGd => Some(Sim::Gd),
        }
    }
}

/// What is recorded for every point of a block.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Record the per-time series (loss, kernel distance, …); default true.
    pub per_time: bool,
    /// Record the singular values of the network function at every time; default true.
    pub singular_values: bool,
    /// Times (each one of the time grid, ascending) at which `QQᵀ` is stored; default empty.
    pub matrices_at: Vec<f64>,
}

impl Default for Record {
    fn default() -> Self {
        Record { per_time: true, singular_values: true, matrices_at: Vec::new() }
    }
}

/// One point of a sweep: parameters, seeds and provenance.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Index in the spec's dense index space (concatenation of the blocks, before filters).
    pub raw_index: u64,
    /// Index of the block (0-based, in file order).
    pub block: u32,
    /// Stable id: xxh3-64 of [`Point::canonical`] with the spec seed.
    pub point_id: u64,
    /// Point-specific seed (derived from the id).
    pub seed: u64,
    /// Seed of the task draw: shared by every point with the same replicate, task draw key
    /// ([`TaskSpec::draw_key`]), Ni and No.
    pub task_seed: u64,
    /// Seed of the init draw: shared by every point with the same replicate, widths and init.
    pub init_seed: u64,
    /// λ; `None` for inits that ignore it (gaussian, lecun).
    pub lambda: Option<f64>,
    /// σ of the init; `None` for lecun.
    pub scale: Option<f64>,
    /// `[Ni, N1, …, No]`, at least two entries.
    pub widths: Vec<usize>,
    /// The task.
    pub task: TaskSpec,
    /// The initialization.
    pub init: InitKind,
    /// The method.
    pub method: Method,
    /// Learning rate; `Some` only for gradient-descent methods.
    pub lr: Option<f64>,
    /// RK4 step; `Some` only for RK4 methods.
    pub dt: Option<f64>,
    /// Replicate number, 0-based.
    pub replicate: u32,
    /// Time grid (shared by the points of a block).
    pub times: Arc<[f64]>,
    /// What to record (shared by the points of a block).
    pub record: Arc<Record>,
}

impl Point {
    /// The versioned canonical text whose hash is the point id (see `docs/spec.md`).
    pub fn canonical(&self) -> String {
        ids::canonical(&ids::CanonicalParts {
            lambda: self.lambda,
            scale: self.scale,
            lr: self.lr,
            dt: self.dt,
            widths: &self.widths,
            task: &self.task,
            init: self.init,
            method: self.method,
            replicate: self.replicate,
            time_hash: ids::hash_f64s(&self.times),
            record: &ids::record_text(&self.record),
        })
    }

    /// Number of weight matrices (`widths.len() − 1`).
    pub fn depth(&self) -> usize {
        self.widths.len().saturating_sub(1)
    }

    /// Input dimension Ni.
    pub fn n_in(&self) -> usize {
        self.widths.first().copied().unwrap_or(0)
    }

    /// Output dimension No.
    pub fn n_out(&self) -> usize {
        self.widths.last().copied().unwrap_or(0)
    }

    /// First hidden width N1; 0 for a depth-1 network (no hidden layer).
    pub fn n_hidden(&self) -> usize {
        if self.widths.len() > 2 { self.widths[1] } else { 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for init in InitKind::ALL {
            assert_eq!(InitKind::from_name(init.as_str()), Some(init));
        }
        for method in Method::ALL {
            assert_eq!(Method::from_name(method.as_str()), Some(method));
        }
        assert_eq!(Method::from_name("rk5"), None);
        assert_eq!(Method::ClosedFormGd.as_str(), "closed-form+gd");
        assert_eq!(Sim::Rk4.as_str(), "rk4");
    }

    #[test]
    fn method_parts() {
        assert!(Method::ClosedForm.uses_closed_form());
        assert!(!Method::Gd.uses_closed_form());
        assert_eq!(Method::ClosedForm.simulation(), None);
        assert_eq!(Method::ClosedFormRk4.simulation(), Some(Sim::Rk4));
        assert_eq!(Method::ClosedFormGd.simulation(), Some(Sim::Gd));
        assert_eq!(Method::Gd.simulation(), Some(Sim::Gd));
    }

    #[test]
    fn task_texts() {
        let task = TaskSpec::Random { samples: 64 };
        assert_eq!(task.kind(), "random");
        assert_eq!(task.canonical(), "random(samples=64)");
    }

    fn random_source(samples: u32, shared: u32) -> TransferSource {
        TransferSource::Random { samples, shared }
    }

    #[test]
    fn new_task_texts() {
        let hierarchy_source = TransferSource::Hierarchy { levels: 3, split: false };
        let cases = [
            (TaskSpec::Hierarchy { levels: 3, split: false }, "hierarchy(levels=3,split=false)"),
            (TaskSpec::Hierarchy { levels: 5, split: true }, "hierarchy(levels=5,split=true)"),
            (TaskSpec::Reversal { samples: 16, until: None }, "reversal(samples=16)"),
            (
                TaskSpec::Continual { tasks: 4, samples: 64, until: None },
                "continual(tasks=4,samples=64)",
            ),
            (
                TaskSpec::Transfer { source: random_source(64, 2), until: None },
                "transfer(source=random,samples=64,shared=2)",
            ),
            (
                TaskSpec::Transfer { source: hierarchy_source.clone(), until: None },
                "transfer(source=hierarchy,levels=3,split=false)",
            ),
            (
                TaskSpec::FineTune {
                    source: random_source(64, 2),
                    lambda_ft: Real::new(2.0),
                    until: None,
                },
                "fine-tune(lambda_ft=2,source=random,samples=64,shared=2)",
            ),
            (
                TaskSpec::FineTune {
                    source: hierarchy_source,
                    lambda_ft: Real::new(-0.25),
                    until: None,
                },
                "fine-tune(lambda_ft=-0.25,source=hierarchy,levels=3,split=false)",
            ),
            (
                TaskSpec::FineTune {
                    source: random_source(8, 0),
                    lambda_ft: Real::new(-0.0),
                    until: None,
                },
                "fine-tune(lambda_ft=0,source=random,samples=8,shared=0)",
            ),
        ];
        for (task, text) in cases {
            assert_eq!(task.canonical(), text);
            assert!(text.starts_with(task.kind()), "{text}");
            assert!(TaskSpec::KINDS.contains(&task.kind()));
        }
        assert_eq!(
            TaskSpec::KINDS,
            ["random", "hierarchy", "reversal", "continual", "transfer", "fine-tune"]
        );
    }

    #[test]
    fn draw_keys() {
        let plain = TaskSpec::Random { samples: 64 };
        assert_eq!(plain.draw_key(), plain.canonical());
        for source in [random_source(64, 2), TransferSource::Hierarchy { levels: 2, split: true }] {
            let transfer = TaskSpec::Transfer { source: source.clone(), until: None };
            assert_eq!(transfer.draw_key(), transfer.canonical());
            for lambda_ft in [-2.0, 0.0, 0.5, 3.0] {
                let fine_tune = TaskSpec::FineTune {
                    source: source.clone(),
                    lambda_ft: Real::new(lambda_ft),
                    until: None,
                };
                assert_eq!(fine_tune.draw_key(), transfer.canonical());
                assert_ne!(fine_tune.canonical(), transfer.canonical());
            }
        }
    }

    #[test]
    fn reals_normalise_negative_zero() {
        assert_eq!(Real::new(-0.0), Real::new(0.0));
        assert_eq!(Real::new(-0.0).get().to_bits(), 0.0f64.to_bits());
        assert_eq!(Real::new(-1.5).get(), -1.5);
        assert_ne!(Real::new(1.0), Real::new(-1.0));
        assert_eq!(Real::new(0.1).to_string(), "0.1");
        assert_eq!(Real::new(2.0).to_string(), "2");
        let hash = |real: Real| {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(real)
        };
        assert_eq!(hash(Real::new(-0.0)), hash(Real::new(0.0)));
    }

    #[test]
    fn phases_dims_and_parameters() {
        let hierarchy_source = TransferSource::Hierarchy { levels: 3, split: false };
        let fine_tune = TaskSpec::FineTune {
            source: random_source(32, 1),
            lambda_ft: Real::new(-2.0),
            until: None,
        };
        let rows = [
            (TaskSpec::Random { samples: 8 }, 1, None, Some(8), None),
            (TaskSpec::Hierarchy { levels: 3, split: false }, 1, Some((8, 8)), None, None),
            (TaskSpec::Reversal { samples: 16, until: None }, 2, None, Some(16), None),
            (TaskSpec::Continual { tasks: 5, samples: 20, until: None }, 5, None, Some(20), None),
            (
                TaskSpec::Transfer { source: random_source(64, 2), until: None },
                2,
                None,
                Some(64),
                None,
            ),
            (
                TaskSpec::Transfer { source: hierarchy_source.clone(), until: None },
                2,
                Some((8, 9)),
                None,
                None,
            ),
            (fine_tune, 2, None, Some(32), Some(-2.0)),
            (
                TaskSpec::FineTune {
                    source: hierarchy_source,
                    lambda_ft: Real::new(1.0),
                    until: None,
                },
                2,
                Some((8, 9)),
                None,
                Some(1.0),
            ),
            (TaskSpec::Hierarchy { levels: 10, split: true }, 1, Some((1024, 1024)), None, None),
        ];
        for (task, phases, dims, samples, lambda_ft) in rows {
            assert_eq!(task.n_phases(), phases, "{}", task.canonical());
            assert_eq!(task.required_dims(), dims, "{}", task.canonical());
            assert_eq!(task.samples(), samples, "{}", task.canonical());
            assert_eq!(task.lambda_ft(), lambda_ft, "{}", task.canonical());
        }
        assert_eq!(TransferSource::Hierarchy { levels: 1, split: false }.kind(), "hierarchy");
        assert_eq!(random_source(1, 0).kind(), "random");
    }

    #[test]
    fn shape_accessors() {
        let mut point = Point {
            raw_index: 0,
            block: 0,
            point_id: 0,
            seed: 0,
            task_seed: 0,
            init_seed: 0,
            lambda: None,
            scale: None,
            widths: vec![5, 3, 2],
            task: TaskSpec::Random { samples: 8 },
            init: InitKind::Lecun,
            method: Method::Rk4,
            lr: None,
            dt: Some(0.01),
            replicate: 0,
            times: Arc::from(vec![0.0, 1.0]),
            record: Arc::new(Record::default()),
        };
        assert_eq!((point.depth(), point.n_in(), point.n_hidden(), point.n_out()), (2, 5, 3, 2));
        point.widths = vec![5, 2];
        assert_eq!((point.depth(), point.n_in(), point.n_hidden(), point.n_out()), (1, 5, 0, 2));
    }
}
