//! One point of a sweep.
//!
//! A [`Point`] is everything the runner needs to compute one trajectory: architecture, task,
//! initialization, method, times, what to record, and the seeds. Its [`Point::canonical`] text
//! defines its `point_id` (see `docs/spec.md`, "Ids and seeds").

use std::sync::Arc;

use crate::ids;
use crate::params::{InitKind, Method, Record, Sim, Step};
use crate::task::TaskSpec;

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
    /// λ; `None` for inits that ignore it (gaussian, lecun), and when the per-layer λ of a
    /// `lambdas` profile differ.
    pub lambda: Option<f64>,
    /// The per-layer λ (hidden layer 1 first, `depth − 1` values) of a `lambdas` profile whose
    /// values differ; `None` otherwise (a profile of equal values is its `lambda`).
    pub lambdas: Option<Vec<f64>>,
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
    /// The tolerance of the simulation's error check (docs/spec.md `tolerance`), when the spec
    /// sets one and the method runs RK4 (the only simulation it applies to); `None` otherwise,
    /// and then the runner uses [`crate::DEFAULT_TOLERANCE`]. Part of the id only when `Some`.
    pub tolerance: Option<f64>,
}

impl Point {
    /// The versioned canonical text whose hash is the point id (see `docs/spec.md`).
    pub fn canonical(&self) -> String {
        ids::canonical(&ids::CanonicalParts {
            lambda: self.lambda,
            lambdas: self.lambdas.as_deref(),
            scale: self.scale,
            lr: self.lr,
            dt: self.dt,
            widths: &ids::widths_text(&self.widths),
            task: &self.task.canonical(),
            init: self.init,
            method: self.method,
            replicate: self.replicate,
            time_hash: ids::hash_f64s(&self.times),
            record: &ids::record_text(&self.record),
            tolerance: self.tolerance,
        })
    }

    /// A readable one-line description for people (`lazyrich plan --list`): every parameter in
    /// decimal (Rust's shortest text that reads back to the same number), the time grid by its
    /// count and range, e.g. `lambda=-5 scale=0.05 widths=4-4-4 task=random(samples=64)
    /// init=balanced method=closed-form replicate=0 times=50 in [0.01, 100]`. Not an id: the
    /// id hashes [`Point::canonical`], which keeps the exact bits of every number.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        let mut field = |name: &str, value: String| {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(name);
            text.push('=');
            text.push_str(&value);
        };
        if let Some(lambda) = self.lambda {
            field("lambda", lambda.to_string());
        }
        if let Some(lambdas) = &self.lambdas {
            let values: Vec<String> = lambdas.iter().map(ToString::to_string).collect();
            field("lambdas", values.join(","));
        }
        if let Some(scale) = self.scale {
            field("scale", scale.to_string());
        }
        let widths: Vec<String> = self.widths.iter().map(ToString::to_string).collect();
        field("widths", widths.join("-"));
        field("task", self.task.canonical());
        field("init", self.init.as_str().to_owned());
        field("method", self.method.as_str().to_owned());
        if let Some(lr) = self.lr {
            field("lr", lr.to_string());
        }
        if let Some(dt) = self.dt {
            field("dt", dt.to_string());
        }
        if let Some(tolerance) = self.tolerance {
            field("tolerance", tolerance.to_string());
        }
        field("replicate", self.replicate.to_string());
        let times = match (self.times.first(), self.times.last()) {
            (Some(first), Some(last)) if self.times.len() > 1 => {
                format!("{} in [{first}, {last}]", self.times.len())
            }
            (Some(only), _) => format!("1 at {only}"),
            _ => "0".to_owned(),
        };
        field("times", times);
        if !self.record.matrices_at.is_empty() {
            let at: Vec<String> = self.record.matrices_at.iter().map(ToString::to_string).collect();
            field("matrices_at", at.join(","));
        }
        text
    }

    /// The λ of every hidden layer (`depth − 1` values, hidden layer 1 first): the profile, or
    /// `lambda` repeated; `None` when the point has no λ (inits that ignore it).
    pub fn layer_lambdas(&self) -> Option<Vec<f64>> {
        match (&self.lambdas, self.lambda) {
            (Some(lambdas), _) => Some(lambdas.clone()),
            (None, Some(lambda)) => Some(vec![lambda; self.widths.len().saturating_sub(2)]),
            (None, None) => None,
        }
    }

    /// The largest |λ_l| of the point (`|λ|` for a scalar λ); `None` without λ.
    pub fn max_abs_lambda(&self) -> Option<f64> {
        match (&self.lambdas, self.lambda) {
            (Some(lambdas), _) => lambdas.iter().map(|l| l.abs()).reduce(f64::max),
            (None, lambda) => lambda.map(f64::abs),
        }
    }

    /// The tolerance in force: [`Point::tolerance`], or the default of the method's simulation
    /// ([`crate::DEFAULT_ADAPTIVE_TOLERANCE`] for `adaptive`, [`crate::DEFAULT_TOLERANCE`]
    /// otherwise).
    pub fn tolerance_or_default(&self) -> f64 {
        self.tolerance.unwrap_or_else(|| {
            self.method
                .simulation()
                .map_or(crate::params::DEFAULT_TOLERANCE, Sim::default_tolerance)
        })
    }

    /// The simulation of the method with its step: [`Step::Rk4`] with `dt` or [`Step::Gd`] with
    /// `lr`. `None` when the method simulates nothing (the closed form alone), and also for a
    /// point built by hand without the step its method needs (a parsed spec always sets it):
    /// there is no default step.
    pub fn step(&self) -> Option<Step> {
        match self.method.simulation()? {
            Sim::Rk4 => self.dt.map(|dt| Step::Rk4 { dt }),
            Sim::Gd => self.lr.map(|lr| Step::Gd { lr }),
            Sim::Adaptive => Some(Step::Adaptive { tolerance: self.tolerance_or_default() }),
        }
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
    fn shape_accessors() {
        let mut point = Point {
            raw_index: 0,
            block: 0,
            point_id: 0,
            seed: 0,
            task_seed: 0,
            init_seed: 0,
            lambda: None,
            lambdas: None,
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
            tolerance: None,
        };
        assert_eq!((point.depth(), point.n_in(), point.n_hidden(), point.n_out()), (2, 5, 3, 2));
        assert_eq!(point.step(), Some(Step::Rk4 { dt: 0.01 }));
        point.method = Method::ClosedFormGd;
        assert_eq!(point.step(), None, "no lr: no default step");
        point.lr = Some(0.5);
        assert_eq!(point.step(), Some(Step::Gd { lr: 0.5 }));
        point.method = Method::ClosedForm;
        assert_eq!(point.step(), None);
        point.widths = vec![5, 2];
        assert_eq!((point.depth(), point.n_in(), point.n_hidden(), point.n_out()), (1, 5, 0, 2));
    }
}
