//! Learning protocols: which tasks exist and in which order the network trains on them.

use lazyrich_solver::Problem;
use rand::Rng;

use crate::{
    TaskError, hierarchy, hierarchy_new_feature, random_regression, related_random, reversal,
};

/// A task kind with its parameters (the runner maps the spec's task tables onto this).
#[derive(Clone, Debug, PartialEq)]
pub enum TaskDef {
    /// One random regression task on `samples` samples.
    Random {
        /// P.
        samples: usize,
    },
    /// The semantic hierarchy with `2^levels` items and features.
    Hierarchy {
        /// Depth of the binary tree.
        levels: u32,
        /// Split the degenerate singular values (`correct=True`).
        split: bool,
    },
    /// Reversal: the Braun et al. data, then the same with targets negated.
    Reversal {
        /// P.
        samples: usize,
    },
    /// `tasks` random regression tasks in sequence.
    Continual {
        /// Number of tasks (≥ 1).
        tasks: usize,
        /// P of every task.
        samples: usize,
    },
    /// Pre-training on a source task, then training on a related task.
    Transfer(SourceDef),
    /// Like transfer, but the network is re-balanced to `lambda_ft` before the second phase.
    FineTune {
        /// The two tasks.
        source: SourceDef,
        /// Balance of the re-balanced network (docs/math.md §4.3, §5.1 D.4).
        lambda_ft: f64,
    },
}

/// The pair of tasks of a transfer or fine-tuning protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceDef {
    /// A random task and [`related_random`] with `shared` common singular-vector pairs.
    Random {
        /// P of the first task.
        samples: usize,
        /// Shared singular-vector pairs (≤ min(Ni, No)).
        shared: usize,
    },
    /// The hierarchy without, then with, a new feature ([`hierarchy_new_feature`]).
    Hierarchy {
        /// Depth of the binary tree.
        levels: u32,
        /// Split the degenerate singular values.
        split: bool,
    },
}

/// One phase: train on `tasks[task]`, after re-balancing the network to `rebalance` if set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phase {
    /// Index into [`Protocol::tasks`].
    pub task: usize,
    /// Re-balance to this λ at the start of the phase (fine-tuning).
    pub rebalance: Option<f64>,
}

/// The tasks of a protocol and its phases. Every phase trains on one task; the loss of every
/// task is tracked through all phases (forgetting, transfer).
#[derive(Clone, Debug)]
pub struct Protocol {
    /// Every task of the protocol, whitened, all with the network's `(Ni, No)`.
    pub tasks: Vec<Problem>,
    /// The phases, in order (at least one).
    pub phases: Vec<Phase>,
    /// Convergence criterion: a phase ends at the first time of the grid at which its excess
    /// loss (over the task's optimum) is at most `until` times the excess loss it started with.
    /// `None`: every phase runs the whole grid.
    pub until: Option<f64>,
}

impl Protocol {
    /// A single-phase protocol on one task.
    pub fn single(problem: Problem) -> Protocol {
        Protocol {
            tasks: vec![problem],
            phases: vec![Phase { task: 0, rebalance: None }],
            until: None,
        }
    }

    /// Phases that train on the tasks in order, without re-balancing.
    fn sequence(tasks: Vec<Problem>) -> Protocol {
        let phases = (0..tasks.len()).map(|task| Phase { task, rebalance: None }).collect();
        Protocol { tasks, phases, until: None }
    }

    /// The problem phase `phase` trains on.
    pub fn problem(&self, phase: usize) -> &Problem {
        &self.tasks[self.phases[phase].task]
    }
}

/// Builds the protocol of `def` for a network with `n_in` inputs and `n_out` outputs, drawing
/// random tasks from `rng`.
pub fn protocol<R: Rng + ?Sized>(
    def: &TaskDef,
    n_in: usize,
    n_out: usize,
    rng: &mut R,
) -> Result<Protocol, TaskError> {
    Ok(match *def {
        TaskDef::Random { samples } => {
            Protocol::single(random_regression(n_in, n_out, samples, rng)?.problem)
        }
        TaskDef::Hierarchy { levels, split } => Protocol::single(hierarchy(levels, split)?.problem),
        TaskDef::Reversal { samples } => {
            let first = reversal(n_in, n_out, samples, rng)?.problem;
            let mut second = first.clone();
            second.sigma_yx.neg_mut();
            Protocol::sequence(vec![first, second])
        }
        TaskDef::Continual { tasks, samples } => {
            if tasks == 0 {
                return Err(TaskError::Invalid("a continual protocol needs tasks >= 1".into()));
            }
            let problems = (0..tasks)
                .map(|_| random_regression(n_in, n_out, samples, rng).map(|task| task.problem))
                .collect::<Result<Vec<_>, _>>()?;
            Protocol::sequence(problems)
        }
        TaskDef::Transfer(ref source) => {
            Protocol::sequence(source_tasks(source, n_in, n_out, rng)?)
        }
        TaskDef::FineTune { ref source, lambda_ft } => {
            if !lambda_ft.is_finite() {
                return Err(TaskError::Invalid(format!(
                    "lambda_ft must be finite, got {lambda_ft}"
                )));
            }
            let mut protocol = Protocol::sequence(source_tasks(source, n_in, n_out, rng)?);
            protocol.phases[1].rebalance = Some(lambda_ft);
            protocol
        }
    })
    .and_then(|protocol| {
        // Every task must fit the network (the hierarchy fixes its own dimensions).
        for problem in &protocol.tasks {
            let expected = (problem.n_in(), problem.n_out());
            if expected != (n_in, n_out) {
                return Err(TaskError::Dims {
                    task: describe(def),
                    expected,
                    found: (n_in, n_out),
                });
            }
        }
        Ok(protocol)
    })
}

/// The task as users write it, for error messages.
fn describe(def: &TaskDef) -> String {
    match def {
        TaskDef::Hierarchy { levels, .. } => format!("the hierarchy task with levels = {levels}"),
        TaskDef::Transfer(SourceDef::Hierarchy { levels, .. })
        | TaskDef::FineTune { source: SourceDef::Hierarchy { levels, .. }, .. } => {
            format!("transfer from the hierarchy with levels = {levels} (a new feature output)")
        }
        other => format!("{other:?}"),
    }
}

/// The two tasks of a transfer or fine-tuning protocol.
fn source_tasks<R: Rng + ?Sized>(
    source: &SourceDef,
    n_in: usize,
    n_out: usize,
    rng: &mut R,
) -> Result<Vec<Problem>, TaskError> {
    match *source {
        SourceDef::Random { samples, shared } => {
            let first = random_regression(n_in, n_out, samples, rng)?.problem;
            let second = related_random(&first, shared, rng)?;
            Ok(vec![first, second])
        }
        SourceDef::Hierarchy { levels, split } => Ok(vec![
            hierarchy_new_feature(levels, split, false)?.problem,
            hierarchy_new_feature(levels, split, true)?.problem,
        ]),
    }
}

/// Forgetting of task `i` predicted at convergence (docs/math.md §5.1, whitened tasks) when training
/// moves from task `from` to task `to`: `½(‖Σ_to − Σ_i‖² − ‖Σ_from − Σ_i‖²)`. It does not depend
/// on λ.
pub fn forgetting_formula(tasks: &[Problem], from: usize, to: usize, i: usize) -> f64 {
    let target = &tasks[i].sigma_yx;
    0.5 * ((&tasks[to].sigma_yx - target).norm_squared()
        - (&tasks[from].sigma_yx - target).norm_squared())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn shapes_and_phases() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let p = protocol(&TaskDef::Continual { tasks: 3, samples: 16 }, 4, 3, &mut rng).unwrap();
        assert_eq!((p.tasks.len(), p.phases.len()), (3, 3));
        assert!(p.phases.iter().enumerate().all(|(k, ph)| ph.task == k && ph.rebalance.is_none()));

        let p = protocol(&TaskDef::Reversal { samples: 8 }, 4, 4, &mut rng).unwrap();
        assert!((&p.tasks[0].sigma_yx + &p.tasks[1].sigma_yx).amax() == 0.0);

        let fine = TaskDef::FineTune {
            source: SourceDef::Random { samples: 16, shared: 1 },
            lambda_ft: 2.0,
        };
        let p = protocol(&fine, 3, 3, &mut rng).unwrap();
        assert_eq!(p.phases[1].rebalance, Some(2.0));
        assert_eq!(p.phases[0].rebalance, None);
    }

    #[test]
    fn dims_are_checked() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let err =
            protocol(&TaskDef::Hierarchy { levels: 3, split: false }, 4, 4, &mut rng).unwrap_err();
        assert!(matches!(err, TaskError::Dims { expected: (8, 8), found: (4, 4), .. }), "{err}");
        let transfer = TaskDef::Transfer(SourceDef::Hierarchy { levels: 2, split: true });
        assert!(protocol(&transfer, 4, 4, &mut rng).is_err());
        assert!(protocol(&transfer, 4, 5, &mut rng).is_ok());
    }

    #[test]
    fn forgetting_formula_by_hand() {
        let tasks: Vec<Problem> = [1.0, 3.0, -1.0]
            .iter()
            .map(|&x| Problem::whitened(nalgebra::DMatrix::from_element(1, 1, x)))
            .collect();
        // Task 0 (Σ = 1) when moving from task 1 (Σ = 3) to task 2 (Σ = −1): ½(4 − 4) = 0.
        assert_eq!(forgetting_formula(&tasks, 1, 2, 0), 0.0);
        // Task 1 moving 0 → 2: ½(16 − 4) = 6.
        assert_eq!(forgetting_formula(&tasks, 0, 2, 1), 6.0);
    }
}
