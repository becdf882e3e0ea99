//! One validated block: its axes, their mixed-radix layout, filters, and point construction.
//!
//! A block's points are the product of its *dims*: one dim per axis, except that the axes of a
//! zip group share one dim (they advance together). Dims are ordered by [`AxisName::ALL`], the
//! first varying slowest, so local index `k` decodes to one value index per axis by repeated
//! division — point `k` is computed from `k` alone, and no grid is ever materialised.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use crate::axes::{AxisName, Choice, Indices, N_AXES};
use crate::error::Location;
use crate::filter::Test;
use crate::grid::Floats;
use crate::ids;
use crate::params::{InitKind, Method, Record, Sim};
use crate::point::Point;
use crate::size::Shape;
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
    /// [`TaskSpec::canonical`] of each task (part of every point id).
    pub task_texts: Vec<String>,
    /// [`TaskSpec::draw_key`] of each task (part of every task seed).
    pub task_draw_keys: Vec<String>,
    pub widths: Vec<Vec<usize>>,
    /// [`ids::widths_text`] of each widths value.
    pub widths_texts: Vec<String>,
    pub replicates: u32,
    pub inits: Vec<InitKind>,
    pub methods: Vec<Method>,
    pub scale: Option<Floats>,
    pub lambda: Option<Floats>,
    /// The `lambdas` profiles: the values of the λ axis when set (`lambda` is then `None`).
    pub profiles: Option<Vec<Vec<f64>>>,
    pub lr: Option<Floats>,
    pub dt: Option<Floats>,
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

/// The digits one dim takes in an enumeration: every one, or one per distinct value.
enum Digits {
    All(u64),
    Listed(Vec<u64>),
}

impl Digits {
    fn len(&self) -> u64 {
        match self {
            Digits::All(len) => *len,
            Digits::Listed(digits) => digits.len() as u64,
        }
    }

    fn get(&self, idx: u64) -> u64 {
        match self {
            Digits::All(_) => idx,
            Digits::Listed(digits) => digits[idx as usize],
        }
    }
}

/// The sign class of λ (negative, zero, positive); admissibility depends on λ through it alone.
fn sign_class(lambda: f64) -> i8 {
    if lambda < 0.0 {
        -1
    } else if lambda > 0.0 {
        1
    } else {
        0
    }
}

/// Every combination of the given digits of the given dims (the other axes `None`), the last
/// dim varying fastest, computed lazily. The product is at most the block's number of points.
fn product(dims: Vec<(&Dim, Digits)>) -> impl Iterator<Item = Indices> + '_ {
    let total: u64 = dims.iter().map(|(_, digits)| digits.len()).product();
    (0..total).map(move |mut combo| {
        let mut indices = [None; N_AXES];
        for (dim, digits) in dims.iter().rev() {
            let digit = digits.get(combo % digits.len()) as usize;
            combo /= digits.len();
            for axis in &dim.axes {
                indices[axis.idx()] = Some(digit);
            }
        }
        indices
    })
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

    /// The class of each value of a discrete axis: the index of its first equal value.
    fn value_classes(&self, axis: AxisName) -> Option<Vec<usize>> {
        fn classes<T: Eq + std::hash::Hash>(values: impl Iterator<Item = T>) -> Vec<usize> {
            let mut first: HashMap<T, usize> = HashMap::new();
            values.enumerate().map(|(idx, value)| *first.entry(value).or_insert(idx)).collect()
        }
        match axis {
            AxisName::Task => Some(classes(self.task_texts.iter())),
            AxisName::Widths => Some(classes(self.widths.iter())),
            AxisName::Init => Some(classes(self.inits.iter())),
            AxisName::Method => Some(classes(self.methods.iter())),
            AxisName::Replicate
            | AxisName::Scale
            | AxisName::Lambda
            | AxisName::Lr
            | AxisName::Dt => None,
        }
    }

    /// The digits of `dim` to visit: one per distinct combination of its values when every axis
    /// of the dim is discrete (task, widths, init, method), else all of them.
    fn representative_digits(&self, dim: &Dim) -> Digits {
        let classes: Option<Vec<Vec<usize>>> =
            dim.axes.iter().map(|&axis| self.value_classes(axis)).collect();
        let Some(classes) = classes else { return Digits::All(dim.len) };
        let mut seen = HashSet::new();
        let digits = (0..dim.len)
            .filter(|&digit| {
                let key: Vec<usize> =
                    classes.iter().map(|c| c.get(digit as usize).copied().unwrap_or(0)).collect();
                seen.insert(key)
            })
            .collect();
        Digits::Listed(digits)
    }

    /// Every combination of the dims that touch `axes` (the other dims left `None`), in order,
    /// computed lazily. A dim whose axes are all discrete visits one digit per distinct value
    /// (the first), so repeated tasks, widths, inits or methods are visited once; a dim with a
    /// float axis visits every digit.
    pub(crate) fn combos(&self, axes: &[AxisName]) -> impl Iterator<Item = Indices> + '_ {
        let dims: Vec<(&Dim, Digits)> = self
            .dims
            .iter()
            .filter(|dim| dim.axes.iter().any(|axis| axes.contains(axis)))
            .map(|dim| (dim, self.representative_digits(dim)))
            .collect();
        product(dims)
    }

    /// The effective parameters at `indices`: λ is dropped for inits that ignore it, scale for
    /// LeCun, `lr` unless the method runs gradient descent, `dt` unless it runs RK4.
    pub(crate) fn choice(&self, indices: &Indices) -> Choice<'_> {
        let at = |axis: AxisName| indices[axis.idx()];
        let float = |axis: AxisName, values: &Option<Floats>| {
            at(axis).and_then(|idx| values.as_ref().and_then(|v| v.get(idx)))
        };
        let init = at(AxisName::Init).and_then(|idx| self.inits.get(idx).copied());
        let method = at(AxisName::Method).and_then(|idx| self.methods.get(idx).copied());
        let simulation = method.map(Method::simulation);
        let keep_if = |known: Option<bool>, value: Option<f64>| match known {
            Some(false) => None,
            _ => value,
        };
        let uses_lambda = init.map(InitKind::uses_lambda);
        // A profile whose values are all equal is the scalar λ of that value (same id, row).
        let profile =
            at(AxisName::Lambda).and_then(|idx| self.profiles.as_ref().and_then(|p| p.get(idx)));
        let (lambda, lambdas) = match profile {
            Some(values) if values.windows(2).all(|w| w[0] == w[1]) => {
                (values.first().copied(), None)
            }
            Some(values) => (None, Some(values.as_slice())),
            None => (float(AxisName::Lambda, &self.lambda), None),
        };
        Choice {
            task: at(AxisName::Task).and_then(|idx| self.tasks.get(idx)),
            widths: at(AxisName::Widths).and_then(|idx| self.widths.get(idx)).map(Vec::as_slice),
            replicate: at(AxisName::Replicate).and_then(|idx| u32::try_from(idx).ok()),
            init,
            method,
            scale: keep_if(init.map(InitKind::uses_scale), float(AxisName::Scale, &self.scale)),
            lambda: keep_if(uses_lambda, lambda),
            lambdas: match uses_lambda {
                Some(false) => None,
                _ => lambdas,
            },
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

    /// The canonical text of the point at `indices` (every axis set) into `buf`, and its id.
    pub(crate) fn id_of(
        &self,
        indices: &Indices,
        choice: &Choice<'_>,
        spec_seed: u64,
        buf: &mut Vec<u8>,
    ) -> Option<u64> {
        let task = self.task_texts.get(indices[AxisName::Task.idx()]?)?;
        let widths = self.widths_texts.get(indices[AxisName::Widths.idx()]?)?;
        ids::canonical_into(
            buf,
            &ids::CanonicalParts {
                lambda: choice.lambda,
                lambdas: choice.lambdas,
                scale: choice.scale,
                lr: choice.lr,
                dt: choice.dt,
                widths,
                task,
                init: choice.init?,
                method: choice.method?,
                replicate: choice.replicate?,
                time_hash: self.time_hash,
                record: &self.record_text,
                // Like lr and dt, the tolerance is dropped where it is not used: RK4 and adaptive.
                tolerance: self.tolerance.filter(|_| {
                    choice.method.and_then(Method::simulation).is_some_and(Sim::uses_tolerance)
                }),
            },
        );
        Some(ids::point_id(buf, spec_seed))
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
        let mut canonical = Vec::with_capacity(256);
        let point_id = self.id_of(&indices, &choice, spec_seed, &mut canonical)?;
        let task = choice.task?;
        let widths = choice.widths?;
        let init = choice.init?;
        let method = choice.method?;
        let replicate = choice.replicate?;
        // Like lr and dt, the tolerance is dropped where it is not used: RK4 and adaptive.
        let tolerance =
            self.tolerance.filter(|_| method.simulation().is_some_and(Sim::uses_tolerance));
        let n_in = widths.first().copied().unwrap_or(0);
        let n_out = widths.last().copied().unwrap_or(0);
        let draw_key = self.task_draw_keys.get(indices[AxisName::Task.idx()]?)?;
        let widths_text = self.widths_texts.get(indices[AxisName::Widths.idx()]?)?;
        Some(Point {
            raw_index,
            block,
            point_id,
            seed: ids::point_seed(point_id, spec_seed),
            task_seed: ids::task_seed_of_key(spec_seed, replicate, draw_key, n_in, n_out),
            init_seed: ids::init_seed_of_text(spec_seed, replicate, widths_text, init),
            lambda: choice.lambda,
            lambdas: choice.lambdas.map(<[f64]>::to_vec),
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

    /// The size-relevant parts of the point at `indices` (task, widths and method set).
    pub(crate) fn shape(&self, indices: &Indices) -> Option<Shape<'_>> {
        Some(Shape {
            task: self.tasks.get(indices[AxisName::Task.idx()]?)?,
            widths: self.widths.get(indices[AxisName::Widths.idx()]?)?,
            method: *self.methods.get(indices[AxisName::Method.idx()]?)?,
            times: &self.times,
            record: &self.record,
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

    /// Kept points and the sum of their estimated row bytes ([`Shape::row_bytes`]), counted
    /// from the dims of task, widths and method alone when the block has no filters, else point
    /// by point (without building points or ids).
    pub(crate) fn count_with_bytes(&self) -> (u64, u64) {
        let axes = [AxisName::Task, AxisName::Widths, AxisName::Method];
        if !self.has_filters() {
            let dims: Vec<(&Dim, Digits)> = self
                .dims
                .iter()
                .filter(|dim| dim.axes.iter().any(|axis| axes.contains(axis)))
                .map(|dim| (dim, Digits::All(dim.len)))
                .collect();
            let touched: u64 = dims.iter().map(|(dim, _)| dim.len).product();
            // Every combination, repeats included: each stands for `per_combo` points.
            let per_combo = self.n_points / touched.max(1);
            let bytes = product(dims)
                .filter_map(|indices| self.shape(&indices))
                .map(|shape| shape.row_bytes().saturating_mul(per_combo))
                .fold(0u64, u64::saturating_add);
            return (self.n_points, bytes);
        }
        let (mut kept, mut bytes) = (0u64, 0u64);
        for local in 0..self.n_points {
            let indices = self.decode(local);
            if self.keeps(&self.choice(&indices)) {
                kept += 1;
                if let Some(shape) = self.shape(&indices) {
                    bytes = bytes.saturating_add(shape.row_bytes());
                }
            }
        }
        (kept, bytes)
    }

    /// Whether no two points of the block can share an id: every dim of more than one value
    /// has an axis whose values are pairwise distinct and which no point of the block drops (λ
    /// is dropped by inits that ignore it, scale by LeCun, `lr` unless a method runs GD, `dt`
    /// unless it runs RK4). Sufficient, not necessary: filters are not looked at.
    pub(crate) fn ids_distinct(&self) -> bool {
        self.dims.iter().all(|dim| {
            dim.len <= 1 || dim.axes.iter().any(|&axis| self.axis_distinct_and_kept(axis))
        })
    }

    fn axis_distinct_and_kept(&self, axis: AxisName) -> bool {
        fn distinct<T: Eq + std::hash::Hash>(values: &[T]) -> bool {
            let mut seen = HashSet::with_capacity(values.len());
            values.iter().all(|value| seen.insert(value))
        }
        let floats = |values: &Option<Floats>| values.as_ref().is_some_and(Floats::all_distinct);
        match axis {
            AxisName::Task => distinct(&self.task_texts),
            AxisName::Widths => distinct(&self.widths),
            AxisName::Replicate => true,
            AxisName::Init => distinct(&self.inits),
            AxisName::Method => distinct(&self.methods),
            AxisName::Scale => !self.drops(AxisName::Scale) && floats(&self.scale),
            AxisName::Lambda => {
                !self.drops(AxisName::Lambda)
                    && match &self.profiles {
                        // Distinct profiles can still share an id: [1, 1] is λ = 1, like [1].
                        Some(profiles) => {
                            let texts: Vec<Vec<u64>> = profiles
                                .iter()
                                .map(|p| {
                                    if p.windows(2).all(|w| w[0] == w[1]) {
                                        p.iter()
                                            .take(1)
                                            .map(|&x| crate::params::f64_bits(x))
                                            .collect()
                                    } else {
                                        p.iter().map(|&x| crate::params::f64_bits(x)).collect()
                                    }
                                })
                                .collect();
                            distinct(&texts)
                        }
                        None => floats(&self.lambda),
                    }
            }
            AxisName::Lr => !self.drops(AxisName::Lr) && floats(&self.lr),
            AxisName::Dt => !self.drops(AxisName::Dt) && floats(&self.dt),
        }
    }

    /// Whether some init or method of the block drops the values of `axis` (or the block does
    /// not set it): such points write `-` for it in their canonical text.
    pub(crate) fn drops(&self, axis: AxisName) -> bool {
        let any_init = |f: fn(InitKind) -> bool| self.inits.iter().any(|&init| f(init));
        let any_method = |sim: Sim| self.methods.iter().any(|m| m.simulation() != Some(sim));
        match axis {
            AxisName::Scale => self.scale.is_none() || any_init(|i| !i.uses_scale()),
            AxisName::Lambda => {
                (self.lambda.is_none() && self.profiles.is_none()) || any_init(|i| !i.uses_lambda())
            }
            AxisName::Lr => self.lr.is_none() || any_method(Sim::Gd),
            AxisName::Dt => self.dt.is_none() || any_method(Sim::Rk4),
            AxisName::Task
            | AxisName::Widths
            | AxisName::Replicate
            | AxisName::Init
            | AxisName::Method => false,
        }
    }

    /// One (widths, λ, init) combination per widths value, init and sign of λ (negative, zero,
    /// positive) among the combinations that survive the filters decidable on them; λ is the
    /// first such value in grid order, `None` for inits that ignore it. Admissibility (docs/math.md
    /// §2.1) depends on λ only through its sign, so these decide it for every λ of the block.
    pub(crate) fn width_lambda_pairs(&self) -> Vec<(Vec<usize>, Option<f64>, InitKind)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        let mut visit = |choice: &Choice<'_>| {
            let (Some(widths), Some(init)) = (choice.widths, choice.init) else { return };
            if seen.insert((widths.to_vec(), choice.lambda.map(sign_class), init)) {
                out.push((widths.to_vec(), choice.lambda, init));
            }
        };
        let lambda_dim = self.dims.iter().find(|dim| dim.axes.contains(&AxisName::Lambda));
        let lambda_alone = lambda_dim.is_none_or(|dim| {
            !dim.axes.contains(&AxisName::Widths) && !dim.axes.contains(&AxisName::Init)
        });
        if !self.has_filters() && lambda_alone && self.profiles.is_none() {
            // The first λ of each sign, in grid order, stands for every λ of that sign.
            let mut representatives: Vec<Option<f64>> = Vec::new();
            match &self.lambda {
                None => representatives.push(None),
                Some(values) => {
                    let mut classes = Vec::with_capacity(3);
                    for lambda in values.iter() {
                        if !classes.contains(&sign_class(lambda)) {
                            classes.push(sign_class(lambda));
                            representatives.push(Some(lambda));
                            if classes.len() == 3 {
                                break;
                            }
                        }
                    }
                }
            }
            for indices in self.combos(&[AxisName::Widths, AxisName::Init]) {
                let choice = self.choice(&indices);
                let uses_lambda = choice.init.is_none_or(InitKind::uses_lambda);
                for &lambda in &representatives {
                    visit(&Choice { lambda: lambda.filter(|_| uses_lambda), ..choice });
                }
            }
        } else {
            for indices in self.combos(&[AxisName::Widths, AxisName::Lambda, AxisName::Init]) {
                let choice = self.choice(&indices);
                if self.keeps(&choice) {
                    visit(&choice);
                }
            }
        }
        out
    }

    /// One (widths, per-layer λ, init) combination per widths value, init and sign pattern of
    /// the profile, for the `lambdas` profiles whose values differ among the combinations that
    /// survive the filters decidable on them (the equal ones are in
    /// [`Block::width_lambda_pairs`]); admissibility depends on each λ_l through its sign alone.
    pub(crate) fn width_profile_pairs(&self) -> Vec<(Vec<usize>, Vec<f64>, InitKind)> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        if self.profiles.is_none() {
            return out;
        }
        for indices in self.combos(&[AxisName::Widths, AxisName::Lambda, AxisName::Init]) {
            let choice = self.choice(&indices);
            let (Some(widths), Some(init), Some(lambdas)) =
                (choice.widths, choice.init, choice.lambdas)
            else {
                continue;
            };
            let signs: Vec<i8> = lambdas.iter().map(|&l| sign_class(l)).collect();
            if self.keeps(&choice) && seen.insert((widths.to_vec(), signs, init)) {
                out.push((widths.to_vec(), lambdas.to_vec(), init));
            }
        }
        out
    }

    /// Normalised text of everything that defines the block's points (for the spec hash).
    pub(crate) fn canonical_dump(&self) -> String {
        let floats = |values: &Option<Floats>| match values {
            Some(values) => format!("{}:{:016x}", values.len(), ids::hash_f64_iter(values.iter())),
            None => "-".to_owned(),
        };
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
            Some(x) => format!("tolerance={:016x}\n", crate::params::f64_bits(x)),
            None => String::new(),
        };
        // `lambdas` is written only when set: the hash of a spec without it is unchanged.
        let profiles = match &self.profiles {
            Some(profiles) => {
                let all: Vec<f64> = profiles.iter().flatten().copied().collect();
                let lens: Vec<String> = profiles.iter().map(|p| p.len().to_string()).collect();
                format!("lambdas={}:{:016x}\n", lens.join(","), ids::hash_f64s(&all))
            }
            None => String::new(),
        };
        format!(
            "task={}\nwidths={}\nreplicates={}\ninit={}\nmethod={}\nscale={}\nlambda={}\nlr={}\n\
             dt={}\ndims={}\ntime={}:{:016x}\nrecord={}\nwhere={}\nexclude={}\n{tolerance}{profiles}",
            self.task_texts.join(";"),
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
            task_texts: vec!["random(samples=8)".to_owned()],
            task_draw_keys: vec!["random(samples=8)".to_owned()],
            widths: vec![vec![2, 2, 2], vec![3, 3, 3]],
            widths_texts: vec!["2,2,2".to_owned(), "3,3,3".to_owned()],
            replicates: 3,
            inits: vec![InitKind::Balanced],
            methods: vec![Method::ClosedForm],
            scale: Some(Floats::List(vec![1.0])),
            lambda: Some(Floats::List(vec![-1.0, 1.0])),
            profiles: None,
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
        let combos: Vec<Indices> = block.combos(&[AxisName::Widths, AxisName::Lambda]).collect();
        assert_eq!(combos.len(), 4);
        assert!(combos.iter().all(|c| c[AxisName::Replicate.idx()].is_none()));
        assert_eq!(block.width_lambda_pairs().len(), 4);
    }

    #[test]
    fn choice_drops_ignored_values() {
        let mut block = small_block();
        block.inits = vec![InitKind::Lecun];
        block.lr = Some(Floats::List(vec![0.1]));
        let mut indices = block.decode(0);
        indices[AxisName::Lr.idx()] = Some(0);
        let choice = block.choice(&indices);
        assert_eq!((choice.lambda, choice.scale, choice.lr), (None, None, None));
        // Unknown init (not enumerated): λ is kept as written.
        indices[AxisName::Init.idx()] = None;
        assert_eq!(block.choice(&indices).lambda, Some(-1.0));
    }
}
