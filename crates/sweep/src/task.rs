//! Tasks in a spec: [`TaskSpec`] and [`TransferSource`], their canonical texts, and the parsing
//! of one task table (`task = { kind = "random", samples = 64 }`).

use toml::de::DeTable;

use crate::error::SpecError;
use crate::params::Real;
use crate::value::{Ctx, boolean, bounded, entries, number, pos, string, unknown_key, unsigned};

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
    /// Largest `samples` of any task: 10⁷ (a point's memory is also bounded, see
    /// [`MAX_POINT_BYTES`](crate::MAX_POINT_BYTES)).
    pub const MAX_SAMPLES: u32 = 10_000_000;
    /// Largest `samples` of a `reversal` task, whose construction takes the full SVD of a
    /// samples × samples matrix (O(samples³) work): 2048.
    pub const MAX_REVERSAL_SAMPLES: u32 = 2048;

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

/// The keys a task table of `kind` may have (for a transfer/fine-tune: with `source`).
fn task_keys(kind: &str, source: Option<&str>) -> &'static [&'static str] {
    match (kind, source) {
        ("random", _) => &["kind", "samples"],
        ("reversal", _) => &["kind", "samples", "until"],
        ("hierarchy", _) => &["kind", "levels", "split"],
        ("continual", _) => &["kind", "tasks", "samples", "until"],
        ("transfer", Some("hierarchy")) => &["kind", "source", "levels", "split", "until"],
        ("transfer", _) => &["kind", "source", "samples", "shared", "until"],
        ("fine-tune", Some("hierarchy")) => {
            &["kind", "lambda_ft", "source", "levels", "split", "until"]
        }
        ("fine-tune", _) => &["kind", "lambda_ft", "source", "samples", "shared", "until"],
        _ => &["kind"],
    }
}

/// The parameters a task table may hold, each checked on its own.
#[derive(Default)]
struct TaskParams {
    samples: Option<u32>,
    levels: Option<u32>,
    split: Option<bool>,
    tasks: Option<u32>,
    shared: Option<u32>,
    lambda_ft: Option<f64>,
    until: Option<f64>,
}

/// Parses one task table at `path` (`block[0].task`, `block[0].task[1]`); `task_pos` is the
/// position of the table, for errors that concern it as a whole.
pub(crate) fn parse_task(
    ctx: &Ctx<'_>,
    task_table: &DeTable<'_>,
    task_pos: usize,
    path: &str,
) -> Result<TaskSpec, SpecError> {
    let Some(kind_value) = task_table.get("kind") else {
        return Err(ctx.err(
            task_pos,
            path,
            format!("a task needs `kind` (one of: {})", TaskSpec::KINDS.join(", ")),
        ));
    };
    let kind_path = format!("{path}.kind");
    let kind = string(ctx, kind_value, &kind_path)?;
    if !TaskSpec::KINDS.contains(&kind) {
        return Err(ctx.err(
            pos(kind_value),
            &kind_path,
            format!("unknown task kind `{kind}`; expected one of: {}", TaskSpec::KINDS.join(", ")),
        ));
    }
    let has_source = matches!(kind, "transfer" | "fine-tune");
    // The source decides which other keys are allowed, so it is read first.
    let source = match task_table.get("source") {
        Some(source_value) if has_source => {
            let source_path = format!("{path}.source");
            let source = string(ctx, source_value, &source_path)?;
            if !TransferSource::KINDS.contains(&source) {
                return Err(ctx.err(
                    pos(source_value),
                    &source_path,
                    format!(
                        "unknown transfer source `{source}`; expected one of: {}",
                        TransferSource::KINDS.join(", ")
                    ),
                ));
            }
            Some(source)
        }
        _ => None,
    };
    let known = task_keys(kind, source);
    let mut params = TaskParams::default();
    for (key, key_pos, value) in entries(task_table) {
        let field_path = format!("{path}.{key}");
        if !known.contains(&key) {
            if has_source {
                let other_source = if source == Some("hierarchy") { "random" } else { "hierarchy" };
                if task_keys(kind, Some(other_source)).contains(&key) {
                    let this_source = source.unwrap_or("random");
                    let default = if source.is_none() { " (the default)" } else { "" };
                    return Err(ctx.err(
                        key_pos,
                        &field_path,
                        format!(
                            "`{key}` only applies to source = \"{other_source}\", \
                             but this {kind} task has source = \"{this_source}\"{default}"
                        ),
                    ));
                }
            }
            return Err(unknown_key(ctx, key, key_pos, &field_path, known));
        }
        match key {
            "samples" => {
                let max = if kind == "reversal" {
                    TaskSpec::MAX_REVERSAL_SAMPLES
                } else {
                    TaskSpec::MAX_SAMPLES
                };
                let n = bounded(ctx, value, &field_path, 1, u64::MAX)?;
                if n > u64::from(max) {
                    let why = if kind == "reversal" {
                        " (the reversal construction takes the SVD of a samples × samples matrix)"
                    } else {
                        ""
                    };
                    return Err(ctx.err(
                        pos(value),
                        &field_path,
                        format!("must be at most {max}{why}, found {n}"),
                    ));
                }
                params.samples = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "levels" => {
                let n = unsigned(ctx, value, &field_path)?;
                if n < 1 || n > u64::from(TaskSpec::MAX_LEVELS) {
                    return Err(ctx.err(
                        pos(value),
                        &field_path,
                        format!(
                            "the hierarchy has 2^levels items: levels must be in 1..={}, found {n}",
                            TaskSpec::MAX_LEVELS
                        ),
                    ));
                }
                params.levels = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "split" => params.split = Some(boolean(ctx, value, &field_path)?),
            "tasks" => {
                let n = unsigned(ctx, value, &field_path)?;
                if n < 2 || n > u64::from(TaskSpec::MAX_TASKS) {
                    return Err(ctx.err(
                        pos(value),
                        &field_path,
                        format!(
                            "a continual task trains on a sequence of tasks: tasks must be in 2..={}, \
                             found {n}",
                            TaskSpec::MAX_TASKS
                        ),
                    ));
                }
                params.tasks = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "shared" => {
                let n = bounded(ctx, value, &field_path, 0, u64::from(u32::MAX))?;
                params.shared = Some(u32::try_from(n).unwrap_or(u32::MAX));
            }
            "lambda_ft" => params.lambda_ft = Some(number(ctx, value, &field_path)?),
            "until" => {
                let tol = number(ctx, value, &field_path)?;
                if !(tol > 0.0 && tol < 1.0) {
                    return Err(ctx.err(
                        pos(value),
                        &field_path,
                        format!(
                            "until is the fraction of a phase's excess loss left when it counts as \
                             converged: it must be in (0, 1), e.g. 1e-6, found {tol}"
                        ),
                    ));
                }
                params.until = Some(tol);
            }
            // `kind` and `source` were read above.
            _ => {}
        }
    }
    let samples = params.samples.unwrap_or(TaskSpec::DEFAULT_SAMPLES);
    let levels = params.levels.unwrap_or(TaskSpec::DEFAULT_LEVELS);
    let split = params.split.unwrap_or(false);
    let until = params.until.map(Real::new);
    let transfer_source = || -> Result<TransferSource, SpecError> {
        if source == Some("hierarchy") {
            return Ok(TransferSource::Hierarchy { levels, split });
        }
        let Some(shared) = params.shared else {
            return Err(ctx.err(
                task_pos,
                path,
                format!(
                    "a {kind} task with source = \"random\" needs `shared` (the number of \
                     singular-vector pairs the second task shares with the first, \
                     0 ≤ shared ≤ min(Ni, No)), e.g. {{ kind = \"{kind}\", shared = 2 }}"
                ),
            ));
        };
        Ok(TransferSource::Random { samples, shared })
    };
    Ok(match kind {
        "random" => TaskSpec::Random { samples },
        "hierarchy" => TaskSpec::Hierarchy { levels, split },
        "reversal" => TaskSpec::Reversal { samples, until },
        "continual" => TaskSpec::Continual {
            tasks: params.tasks.unwrap_or(TaskSpec::DEFAULT_TASKS),
            samples,
            until,
        },
        "transfer" => TaskSpec::Transfer { source: transfer_source()?, until },
        _ => {
            let Some(lambda_ft) = params.lambda_ft else {
                return Err(ctx.err(
                    task_pos,
                    path,
                    "a fine-tune task needs `lambda_ft` (the balance λ of the re-balanced network, \
                     a finite number), e.g. { kind = \"fine-tune\", lambda_ft = 1.0, shared = 2 }",
                ));
            };
            TaskSpec::FineTune {
                source: transfer_source()?,
                lambda_ft: Real::new(lambda_ft),
                until,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Parses `task = TEXT` as the task of `block[0]`.
    fn task_of(text: &str) -> Result<TaskSpec, String> {
        let text = format!("task = {text}");
        let ctx = Ctx::new("f.toml", &text);
        let document = DeTable::parse(&text).map_err(|err| err.to_string())?;
        let value = document.get_ref().get("task").ok_or("no task")?;
        let toml::de::DeValue::Table(table) = value.get_ref() else {
            return Err("not a table".to_owned());
        };
        parse_task(&ctx, table, pos(value), "block[0].task").map_err(|err| err.to_string())
    }

    #[test]
    fn task_kinds_with_defaults() {
        let random = |samples, shared| TransferSource::Random { samples, shared };
        let cases = [
            ("{ kind = \"random\" }", TaskSpec::Random { samples: 64 }),
            ("{ kind = \"hierarchy\" }", TaskSpec::Hierarchy { levels: 3, split: false }),
            ("{ kind = \"reversal\" }", TaskSpec::Reversal { samples: 64, until: None }),
            (
                "{ kind = \"continual\" }",
                TaskSpec::Continual { tasks: 4, samples: 64, until: None },
            ),
            (
                "{ kind = \"transfer\", shared = 2 }",
                TaskSpec::Transfer { source: random(64, 2), until: None },
            ),
            (
                "{ kind = \"transfer\", source = \"hierarchy\" }",
                TaskSpec::Transfer {
                    source: TransferSource::Hierarchy { levels: 3, split: false },
                    until: None,
                },
            ),
            (
                "{ kind = \"fine-tune\", lambda_ft = 2, shared = 0 }",
                TaskSpec::FineTune {
                    source: random(64, 0),
                    lambda_ft: Real::new(2.0),
                    until: None,
                },
            ),
            (
                "{ kind = \"fine-tune\", source = \"hierarchy\", lambda_ft = -0.0 }",
                TaskSpec::FineTune {
                    source: TransferSource::Hierarchy { levels: 3, split: false },
                    lambda_ft: Real::new(0.0),
                    until: None,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(task_of(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn task_kinds_with_explicit_values() {
        let cases = [
            ("{ kind = \"random\", samples = 8 }", TaskSpec::Random { samples: 8 }),
            (
                "{ kind = \"hierarchy\", levels = 10, split = true }",
                TaskSpec::Hierarchy { levels: 10, split: true },
            ),
            (
                "{ kind = \"hierarchy\", levels = 1 }",
                TaskSpec::Hierarchy { levels: 1, split: false },
            ),
            (
                "{ kind = \"reversal\", samples = 16 }",
                TaskSpec::Reversal { samples: 16, until: None },
            ),
            (
                "{ samples = 10, kind = \"continual\", tasks = 64 }",
                TaskSpec::Continual { tasks: 64, samples: 10, until: None },
            ),
            (
                "{ kind = \"continual\", tasks = 2 }",
                TaskSpec::Continual { tasks: 2, samples: 64, until: None },
            ),
            (
                "{ kind = \"transfer\", source = \"random\", samples = 12, shared = 3 }",
                TaskSpec::Transfer {
                    source: TransferSource::Random { samples: 12, shared: 3 },
                    until: None,
                },
            ),
            (
                "{ kind = \"transfer\", split = true, levels = 2, source = \"hierarchy\" }",
                TaskSpec::Transfer {
                    source: TransferSource::Hierarchy { levels: 2, split: true },
                    until: None,
                },
            ),
            (
                "{ kind = \"fine-tune\", lambda_ft = -1.5, source = \"random\", samples = 9, shared = 1 }",
                TaskSpec::FineTune {
                    source: TransferSource::Random { samples: 9, shared: 1 },
                    lambda_ft: Real::new(-1.5),
                    until: None,
                },
            ),
            (
                "{ kind = \"fine-tune\", lambda_ft = 1e-3, source = \"hierarchy\", levels = 4, split = true }",
                TaskSpec::FineTune {
                    source: TransferSource::Hierarchy { levels: 4, split: true },
                    lambda_ft: Real::new(1e-3),
                    until: None,
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(task_of(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn until_is_a_convergence_criterion_of_multi_phase_tasks() {
        let task = task_of("{ kind = \"continual\", until = 1e-6 }").unwrap();
        assert_eq!(task.until(), Some(1e-6));
        assert_eq!(task.canonical(), "continual(tasks=4,samples=64,until=1e-6)");
        assert_eq!(task.draw_key(), "continual(tasks=4,samples=64)");
        let tuned =
            task_of("{ kind = \"fine-tune\", lambda_ft = 1, shared = 1, until = 0.01 }").unwrap();
        assert_eq!(
            tuned.canonical(),
            "fine-tune(lambda_ft=1,source=random,samples=64,shared=1,until=1e-2)"
        );
        assert_eq!(tuned.draw_key(), "transfer(source=random,samples=64,shared=1)");
        for text in [
            "{ kind = \"reversal\", until = 0.5 }",
            "{ kind = \"transfer\", source = \"hierarchy\", until = 0.5 }",
        ] {
            assert_eq!(task_of(text).unwrap().until(), Some(0.5), "{text}");
        }
        assert_eq!(task_of("{ kind = \"continual\" }").unwrap().until(), None);
        for bad in ["0", "1", "-1e-3", "2.5"] {
            let err = task_of(&format!("{{ kind = \"continual\", until = {bad} }}")).unwrap_err();
            assert!(err.contains("must be in (0, 1)"), "{bad}: {err}");
        }
        let err = task_of("{ kind = \"random\", until = 1e-3 }").unwrap_err();
        assert!(err.contains("unknown field `until`"), "{err}");
        let err = task_of("{ kind = \"hierarchy\", until = 1e-3 }").unwrap_err();
        assert!(err.contains("unknown field `until`"), "{err}");
    }

    #[test]
    fn task_parse_errors() {
        let reason = |text: &str| task_of(text).unwrap_err();
        let cases = [
            (
                "{ kind = \"hierarchy\", level = 3 }",
                "`block[0].task.level`: unknown field `level`; did you mean `levels`? expected one of: kind, levels, split",
            ),
            ("{ kind = \"hierarchy\", levels = 0 }", "levels must be in 1..=10, found 0"),
            ("{ kind = \"hierarchy\", levels = 11 }", "levels must be in 1..=10, found 11"),
            (
                "{ kind = \"hierarchy\", levels = 2.0 }",
                "expected a non-negative integer, found a float",
            ),
            ("{ kind = \"hierarchy\", split = 1 }", "expected true or false, found an integer"),
            ("{ kind = \"hierarchy\", samples = 8 }", "unknown field `samples`"),
            ("{ kind = \"reversal\", samples = 0 }", "must be at least 1, found 0"),
            (
                "{ kind = \"reversal\", tasks = 2 }",
                "unknown field `tasks`; expected one of: kind, samples",
            ),
            ("{ kind = \"continual\", tasks = 1 }", "tasks must be in 2..=64, found 1"),
            ("{ kind = \"continual\", tasks = 65 }", "tasks must be in 2..=64, found 65"),
            ("{ kind = \"random\", source = \"random\" }", "unknown field `source`"),
            (
                "{ kind = \"transfer\" }",
                "`block[0].task`: a transfer task with source = \"random\" needs `shared`",
            ),
            ("{ kind = \"transfer\", samples = 8 }", "needs `shared`"),
            ("{ kind = \"transfer\", shared = -1 }", "expected a non-negative integer, found -1"),
            (
                "{ kind = \"transfer\", source = \"teacher\", shared = 1 }",
                "`block[0].task.source`: unknown transfer source `teacher`; expected one of: random, hierarchy",
            ),
            (
                "{ kind = \"transfer\", source = 1 }",
                "`block[0].task.source`: expected a string, found an integer",
            ),
            (
                "{ kind = \"transfer\", source = \"hierarchy\", shared = 2 }",
                "`block[0].task.shared`: `shared` only applies to source = \"random\", but this transfer task has source = \"hierarchy\"",
            ),
            (
                "{ kind = \"transfer\", source = \"hierarchy\", samples = 2 }",
                "`samples` only applies to source = \"random\"",
            ),
            (
                "{ kind = \"transfer\", levels = 2, shared = 1 }",
                "`levels` only applies to source = \"hierarchy\", but this transfer task has source = \"random\" (the default)",
            ),
            ("{ kind = \"transfer\", shard = 1 }", "unknown field `shard`; did you mean `shared`?"),
            (
                "{ kind = \"fine-tune\", shared = 1 }",
                "`block[0].task`: a fine-tune task needs `lambda_ft`",
            ),
            (
                "{ kind = \"fine-tune\", lambda_ft = 1 }",
                "a fine-tune task with source = \"random\" needs `shared`",
            ),
            (
                "{ kind = \"fine-tune\", lambda_ft = \"2\", shared = 1 }",
                "`block[0].task.lambda_ft`: expected a number, found a string",
            ),
            (
                "{ kind = \"fine-tune\", lambda_ft = inf, shared = 1 }",
                "`block[0].task.lambda_ft`: the number must be finite",
            ),
            ("{ kind = \"fine-tune\", lambda_ft = nan, shared = 1 }", "the number must be finite"),
            ("{ kind = \"fine-tune\", lamda_ft = 1, shared = 1 }", "did you mean `lambda_ft`?"),
            ("{ kind = \"transfer\", lambda_ft = 1, shared = 1 }", "unknown field `lambda_ft`"),
            (
                "{ kind = \"finetune\" }",
                "unknown task kind `finetune`; expected one of: random, hierarchy, reversal, continual, transfer, fine-tune",
            ),
        ];
        for (text, expected) in cases {
            let message = reason(text);
            assert!(message.contains(expected), "{text}:\n  {message}\n  expected: {expected}");
            assert!(message.starts_with("f.toml:1:"), "{message}");
        }
    }
}
