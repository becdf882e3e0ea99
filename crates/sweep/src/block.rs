//! One validated block: its axes, their mixed-radix layout, filters, and point construction.
//!
//! A block's points are the product of its *dims*: one dim per axis, except that the axes of a
//! zip group share one dim (they advance together). Dims are ordered by [`AxisName::ALL`], the
//! first varying slowest, so local index `k` decodes to one value index per axis by repeated
//! division — point `k` is computed from `k` alone, and no grid is ever materialised.

use std::collections::HashSet;
use std::sync::Arc;

use crate::axes::{AxisName, Choice, Indices, N_AXES};
use crate::error::Location;
use crate::filter::Test;
use crate::ids;
use crate::params::{InitKind, Method, Record, Sim, f64_bits};
use crate::point::Point;
use crate::task::TaskSpec;

/// One mixed-radix digit: one axis, or a zip group of equal-length axes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Dim {
    pub axes: Vec<AxisName>,
    pub len: u64,
}

/// A validated block.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    pub tasks: Vec<TaskSpec>,
    pub widths: Vec<Vec<usize>>,
    pub replicates: u32,
    pub inits: Vec<InitKind>,
    pub methods: Vec<Method>,
    pub scale: Option<Vec<f64>>,
    pub lambda: Option<Vec<f64>>,
    pub lr: Option<Vec<f64>>,
    pub dt: Option<Vec<f64>>,
    pub dims: Vec<Dim>,
    pub n_points: u64,
    pub times: Arc<[f64]>,
    pub time_hash: u64,
    pub record: Arc<Record>,
    pub record_text: String,
    pub where_tests: Vec<Test>,
    pub exclude: Vec<Vec<Test>>,
    /// `tolerance`, when the block (or `[defaults]`) sets it.
    pub tolerance: Option<f64>,
    /// Location of each field's value (the block's own or the inherited default).
    pub locations: Vec<(&'static str, Location)>,
    /// Path of the `widths` value (`block[i].widths`, or `defaults.widths` when inherited).
    pub widths_path: String,
}

impl Block {
    /// Whether the block has any `where` or `exclude` filter.
    pub(crate) fn has_filters(&self) -> bool {
        !self.where_tests.is_empty() || !self.exclude.is_empty()
    }

    /// Value indices of local point `local` (< `n_points`).
    pub(crate) fn decode(&self, mut local: u64) -> Indices {
        let mut indices = [None; N_AXES];
        for dim in self.dims.iter().rev() {
            let digit = (local % dim.len) as usize;
            local /= dim.len;
            for axis in &dim.axes {
                indices[axis.idx()] = Some(digit);
            }
        }
        indices
    }

    /// Every combination of the dims that touch `axes` (other axes left `None`), in order.
    pub(crate) fn enumerate(&self, axes: &[AxisName]) -> Vec<Indices> {
        let dims: Vec<&Dim> = self
            .dims
            .iter()
            .filter(|dim| dim.axes.iter().any(|axis| axes.contains(axis)))
            .collect();
        let total: u64 = dims.iter().map(|dim| dim.len).product();
        (0..total)
            .map(|mut combo| {
                let mut indices = [None; N_AXES];
                for dim in dims.iter().rev() {
                    let digit = (combo % dim.len) as usize;
                    combo /= dim.len;
                    for axis in &dim.axes {
                        indices[axis.idx()] = Some(digit);
                    }
                }
                indices
            })
            .collect()
    }

    /// The effective parameters at `indices`: λ is dropped for inits that ignore it, scale for
    /// LeCun, `lr` unless the method runs gradient descent, `dt` unless it runs RK4.
    pub(crate) fn choice(&self, indices: &Indices) -> Choice<'_> {
        let at = |axis: AxisName| indices[axis.idx()];
        let float = |axis: AxisName, values: &Option<Vec<f64>>| {
            at(axis).and_then(|idx| values.as_ref().and_then(|v| v.get(idx).copied()))
        };
        let init = at(AxisName::Init).and_then(|idx| self.inits.get(idx).copied());
        let method = at(AxisName::Method).and_then(|idx| self.methods.get(idx).copied());
        let simulation = method.map(Method::simulation);
        let keep_if = |known: Option<bool>, value: Option<f64>| match known {
            Some(false) => None,
            _ => value,
        };
        Choice {
            task: at(AxisName::Task).and_then(|idx| self.tasks.get(idx)),
            widths: at(AxisName::Widths).and_then(|idx| self.widths.get(idx)).map(Vec::as_slice),
            replicate: at(AxisName::Replicate).and_then(|idx| u32::try_from(idx).ok()),
            init,
            method,
            scale: keep_if(init.map(InitKind::uses_scale), float(AxisName::Scale, &self.scale)),
            lambda: keep_if(init.map(InitKind::uses_lambda), float(AxisName::Lambda, &self.lambda)),
            lr: keep_if(simulation.map(|s| s == Some(Sim::Gd)), float(AxisName::Lr, &self.lr)),
            dt: keep_if(simulation.map(|s| s == Some(Sim::Rk4)), float(AxisName::Dt, &self.dt)),
        }
    }

    /// Whether filters keep a point: every `where` test holds or is undecided, and no
    /// `exclude` entry matches on all its keys.
    pub(crate) fn keeps(&self, choice: &Choice<'_>) -> bool {
        self.where_tests.iter().all(|test| test.eval(choice) != Some(false))
            && !self
                .exclude
                .iter()
                .any(|entry| entry.iter().all(|test| test.eval(choice) == Some(true)))
    }

    /// Local point `local` if it passes the filters.
    pub(crate) fn point(
        &self,
        local: u64,
        raw_index: u64,
        block: u32,
        spec_seed: u64,
    ) -> Option<Point> {
        if local >= self.n_points {
            return None;
        }
        let indices = self.decode(local);
        let choice = self.choice(&indices);
        if !self.keeps(&choice) {
            return None;
        }
        let task = choice.task?;
        let widths = choice.widths?;
        let init = choice.init?;
        let method = choice.method?;
        let replicate = choice.replicate?;
        // Like lr and dt, the tolerance is dropped where it is not used: it checks RK4 only.
        let tolerance = self.tolerance.filter(|_| method.simulation() == Some(Sim::Rk4));
        let canonical = ids::canonical(&ids::CanonicalParts {
            lambda: choice.lambda,
            scale: choice.scale,
            lr: choice.lr,
            dt: choice.dt,
            widths,
            task,
            init,
            method,
            replicate,
            time_hash: self.time_hash,
            record: &self.record_text,
            tolerance,
        });
        let point_id = ids::point_id(&canonical, spec_seed);
        let n_in = widths.first().copied().unwrap_or(0);
        let n_out = widths.last().copied().unwrap_or(0);
        Some(Point {
            raw_index,
            block,
            point_id,
            seed: ids::point_seed(point_id, spec_seed),
            task_seed: ids::task_seed(spec_seed, replicate, task, n_in, n_out),
            init_seed: ids::init_seed(spec_seed, replicate, widths, init),
            lambda: choice.lambda,
            scale: choice.scale,
            widths: widths.to_vec(),
            task: task.clone(),
            init,
            method,
            lr: choice.lr,
            dt: choice.dt,
            replicate,
            times: Arc::clone(&self.times),
            record: Arc::clone(&self.record),
            tolerance,
        })
    }

    /// Number of kept points among local indices `first, first + step, …` below `end`.
    pub(crate) fn count_strided(&self, first: u64, step: u64, end: u64) -> u64 {
        if first >= end || step == 0 {
            return 0;
        }
        if !self.has_filters() {
            return (end - first - 1) / step + 1;
        }
        let mut kept = 0;
        let mut local = first;
        while local < end {
            if self.keeps(&self.choice(&self.decode(local))) {
                kept += 1;
            }
            local = match local.checked_add(step) {
                Some(next) => next,
                None => break,
            };
        }
        kept
    }

    /// Distinct (widths, λ, init) combinations that survive the filters decidable on them.
    pub(crate) fn width_lambda_pairs(&self) -> Vec<(Vec<usize>, Option<f64>, InitKind)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for indices in self.enumerate(&[AxisName::Widths, AxisName::Lambda, AxisName::Init]) {
            let choice = self.choice(&indices);
            if !self.keeps(&choice) {
                continue;
            }
            let (Some(widths), Some(init)) = (choice.widths, choice.init) else { continue };
            if seen.insert((widths.to_vec(), choice.lambda.map(f64_bits), init)) {
                out.push((widths.to_vec(), choice.lambda, init));
            }
        }
        out
    }

    /// Normalised text of everything that defines the block's points (for the spec hash).
    pub(crate) fn canonical_dump(&self) -> String {
        let floats = |values: &Option<Vec<f64>>| match values {
            Some(values) => format!("{}:{:016x}", values.len(), ids::hash_f64s(values)),
            None => "-".to_owned(),
        };
        let tasks: Vec<String> = self.tasks.iter().map(TaskSpec::canonical).collect();
        let widths: Vec<String> = self.widths.iter().map(|w| ids::widths_text(w)).collect();
        let inits: Vec<&str> = self.inits.iter().map(|i| i.as_str()).collect();
        let methods: Vec<&str> = self.methods.iter().map(|m| m.as_str()).collect();
        let dims: Vec<String> = self
            .dims
            .iter()
            .map(|dim| dim.axes.iter().map(|a| a.as_str()).collect::<Vec<_>>().join("+"))
            .collect();
        let wheres: Vec<String> = self.where_tests.iter().map(Test::canonical).collect();
        let excludes: Vec<String> = self
            .exclude
            .iter()
            .map(|entry| entry.iter().map(Test::canonical).collect::<Vec<_>>().join("&"))
            .collect();
        // `tolerance` is written only when set: the hash of a spec without it is unchanged.
        let tolerance = match self.tolerance {
            Some(x) => format!("tolerance={:016x}\n", f64_bits(x)),
            None => String::new(),
        };
        format!(
            "task={}\nwidths={}\nreplicates={}\ninit={}\nmethod={}\nscale={}\nlambda={}\nlr={}\n\
             dt={}\ndims={}\ntime={}:{:016x}\nrecord={}\nwhere={}\nexclude={}\n{tolerance}",
            tasks.join(";"),
            widths.join(";"),
            self.replicates,
            inits.join(";"),
            methods.join(";"),
            floats(&self.scale),
            floats(&self.lambda),
            floats(&self.lr),
            floats(&self.dt),
            dims.join("|"),
            self.times.len(),
            self.time_hash,
            self.record_text,
            wheres.join(";"),
            excludes.join(";"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Widths (2 values) × replicate (3) × lambda (2), plus single-valued task/init/method.
    fn small_block() -> Block {
        let dim = |axis: AxisName, len: u64| Dim { axes: vec![axis], len };
        Block {
            tasks: vec![TaskSpec::Random { samples: 8 }],
            widths: vec![vec![2, 2, 2], vec![3, 3, 3]],
            replicates: 3,
            inits: vec![InitKind::Balanced],
            methods: vec![Method::ClosedForm],
            scale: Some(vec![1.0]),
            lambda: Some(vec![-1.0, 1.0]),
            lr: None,
            dt: None,
            dims: vec![
                dim(AxisName::Task, 1),
                dim(AxisName::Widths, 2),
                dim(AxisName::Replicate, 3),
                dim(AxisName::Init, 1),
                dim(AxisName::Method, 1),
                dim(AxisName::Scale, 1),
                dim(AxisName::Lambda, 2),
            ],
            n_points: 12,
            times: Arc::from(vec![0.0, 1.0]),
            time_hash: 0,
            record: Arc::new(Record::default()),
            record_text: String::new(),
            where_tests: Vec::new(),
            exclude: Vec::new(),
            tolerance: None,
            locations: Vec::new(),
            widths_path: String::new(),
        }
    }

    #[test]
    fn decode_is_nested_loops() {
        let block = small_block();
        let mut local = 0;
        for widths_idx in 0..2 {
            for replicate in 0..3 {
                for lambda_idx in 0..2 {
                    let indices = block.decode(local);
                    assert_eq!(indices[AxisName::Widths.idx()], Some(widths_idx));
                    assert_eq!(indices[AxisName::Replicate.idx()], Some(replicate));
                    assert_eq!(indices[AxisName::Lambda.idx()], Some(lambda_idx));
                    assert_eq!(indices[AxisName::Lr.idx()], None);
                    local += 1;
                }
            }
        }
        assert_eq!(block.count_strided(0, 1, block.n_points), 12);
        assert_eq!(block.count_strided(1, 5, block.n_points), 3);
    }

    #[test]
    fn enumerate_touches_only_requested_dims() {
        let block = small_block();
        let combos = block.enumerate(&[AxisName::Widths, AxisName::Lambda]);
        assert_eq!(combos.len(), 4);
        assert!(combos.iter().all(|c| c[AxisName::Replicate.idx()].is_none()));
        assert_eq!(block.width_lambda_pairs().len(), 4);
    }

    #[test]
    fn choice_drops_ignored_values() {
        let mut block = small_block();
        block.inits = vec![InitKind::Lecun];
        block.lr = Some(vec![0.1]);
        let mut indices = block.decode(0);
        indices[AxisName::Lr.idx()] = Some(0);
        let choice = block.choice(&indices);
        assert_eq!((choice.lambda, choice.scale, choice.lr), (None, None, None));
        // Unknown init (not enumerated): λ is kept as written.
        indices[AxisName::Init.idx()] = None;
        assert_eq!(block.choice(&indices).lambda, Some(-1.0));
    }
}
