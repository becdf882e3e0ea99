//! One point of a sweep and the parameter types it is made of.
//!
//! A [`Point`] is everything the runner needs to compute one trajectory: architecture, task,
//! initialization, method, times, what to record, and the seeds. Its [`Point::canonical`] text
//! defines its `point_id` (see `docs/spec.md`, "Ids and seeds").

use std::sync::Arc;

use crate::ids;

/// A task generator with its typed parameters. One variant per kind; more kinds will come.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskSpec {
    /// A random linear teacher on `samples` whitened random inputs.
    Random {
        /// Number of samples P (must be ≥ Ni).
        samples: u32,
    },
}

impl TaskSpec {
    /// Default sample count of a `random` task.
    pub const DEFAULT_SAMPLES: u32 = 64;

    /// The kind's spelling in specs and output (`random`).
    pub fn kind(&self) -> &'static str {
        match self {
            TaskSpec::Random { .. } => "random",
        }
    }

    /// Versioned canonical text, part of the point id: `random(samples=64)`.
    pub fn canonical(&self) -> String {
        match self {
            TaskSpec::Random { samples } => format!("random(samples={samples})"),
        }
    }

    /// The kinds known to this version, in documentation order.
    pub const KINDS: &'static [&'static str] = &["random"];
}

/// How the weights are initialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InitKind {
    /// λ-balanced with random orthogonal bases; σ = scale.
    Balanced,
    /// λ-balanced with the task's singular bases; σ = scale.
    Aligned,
    /// I.i.d. N(0, scale²) entries; not balanced (λ is ignored).
    Gaussian,
    /// LeCun normal; not balanced (λ and scale are ignored).
    Lecun,
}

impl InitKind {
    /// Every kind, in documentation order.
    pub const ALL: [InitKind; 4] =
        [InitKind::Balanced, InitKind::Aligned, InitKind::Gaussian, InitKind::Lecun];

    /// The spelling in specs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            InitKind::Balanced => "balanced",
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
        matches!(self, InitKind::Balanced | InitKind::Aligned)
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
    /// Seed of the task draw: shared by every point with the same replicate, task, Ni and No.
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
