//! A point → what it runs: the tasks crate's [`TaskDef`] and [`Protocol`], the initial
//! [`Network`], and the row's parameter columns.

use std::sync::Arc;

use lazyrich_solver::Network;
use lazyrich_solver::init::{self, BalancedDraws, BalancedFactors, ProductBases, ProductValues};
use lazyrich_solver::linalg::FullSvd;
use lazyrich_solver::metrics::{Objective, TaskSpecificity};
use lazyrich_store::PointRow;
use lazyrich_sweep::{InitKind, Point, TaskSpec, TransferSource};
use lazyrich_tasks::{Protocol, SourceDef, TaskDef};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::outcome::{Outcome, invalid};

/// The row of `point` with its parameter columns filled in (results empty).
pub(super) fn parameters_row(point: &Point) -> PointRow {
    let to_u32 = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    PointRow {
        point_id: point.point_id,
        seed: point.seed,
        block: point.block,
        replicate: point.replicate,
        lambda: point.lambda,
        lambdas: point.layer_lambdas().unwrap_or_default(),
        lambda_ft: point.task.lambda_ft(),
        scale: point.scale,
        depth: to_u32(point.depth()),
        widths: point.widths.iter().map(|&w| to_u32(w)).collect(),
        n_in: to_u32(point.n_in()),
        n_hidden: to_u32(point.n_hidden()),
        n_out: to_u32(point.n_out()),
        task: point.task.kind().to_owned(),
        task_params: point.task.canonical(),
        task_samples: point.task.samples(),
        n_phases: point.task.n_phases(),
        init: point.init.as_str().to_owned(),
        method: point.method.as_str().to_owned(),
        lr: point.lr,
        dt: point.dt,
        // Set from the times actually computed (summary), null if none is.
        t_end: None,
        ..PointRow::default()
    }
}

/// The tasks crate's description of a spec task.
fn task_def(task: &TaskSpec) -> Result<TaskDef, Outcome> {
    let source_def = |source: &TransferSource| match *source {
        TransferSource::Random { samples, shared } => {
            SourceDef::Random { samples: samples as usize, shared: shared as usize }
        }
        TransferSource::Hierarchy { levels, split } => SourceDef::Hierarchy { levels, split },
    };
    Ok(match *task {
        TaskSpec::Random { samples } => TaskDef::Random { samples: samples as usize },
        TaskSpec::Hierarchy { levels, split } => TaskDef::Hierarchy { levels, split },
        TaskSpec::Reversal { samples, .. } => TaskDef::Reversal { samples: samples as usize },
        TaskSpec::Continual { tasks, samples, .. } => {
            TaskDef::Continual { tasks: tasks as usize, samples: samples as usize }
        }
        TaskSpec::Transfer { ref source, .. } => TaskDef::Transfer(source_def(source)),
        TaskSpec::FineTune { ref source, lambda_ft, .. } => {
            TaskDef::FineTune { source: source_def(source), lambda_ft: lambda_ft.get() }
        }
        ref other => {
            return Err(invalid(format!(
                "task kind '{}' is not supported by this runner",
                other.kind()
            )));
        }
    })
}

/// The protocol of `point`: its tasks drawn from `task_seed`, its phases, its `until`.
pub(crate) fn build_protocol(point: &Point) -> Result<Protocol, Outcome> {
    let def = task_def(&point.task)?;
    let mut rng = ChaCha8Rng::seed_from_u64(point.task_seed);
    let mut protocol = lazyrich_tasks::protocol(&def, point.n_in(), point.n_out(), &mut rng)
        .map_err(|err| invalid(err.to_string()))?;
    protocol.until = point.task.until();
    Ok(protocol)
}

/// The initial network of `point`, drawn from `init_seed` (`balanced-signed` matches the sign
/// of `det Σyx` of `first_task`, docs/math.md P2).
pub(crate) fn build_network(point: &Point, first_task: &DMatrix<f64>) -> Result<Network, Outcome> {
    build_network_and_factors(point, first_task).map(|(net, _)| net)
}

/// [`build_network`], with the init's factors for init `aligned` (what the deep aligned closed
/// form evolves, docs/math.md §3.6; the same draws, the same network).
pub(crate) fn build_network_and_factors(
    point: &Point,
    first_task: &DMatrix<f64>,
) -> Result<(Network, Option<BalancedFactors>), Outcome> {
    network_and_factors(point, first_task, None)
}

/// [`build_network_and_factors`], taking the draws of a `balanced`, `balanced-signed` or
/// `aligned` init from `draws` when they are there (and keeping them there): bitwise the same
/// network, factors and errors ([`init::BalancedDraws`]).
fn network_and_factors(
    point: &Point,
    first_task: &DMatrix<f64>,
    draws: Option<&mut Lru<DrawKey, BalancedDraws>>,
) -> Result<(Network, Option<BalancedFactors>), Outcome> {
    let mut rng = ChaCha8Rng::seed_from_u64(point.init_seed);
    // A parsed spec sets λ and scale wherever the init uses them; there are no defaults here.
    let missing = |field: &str| {
        invalid(format!("init `{}` needs `{field}`, and this point has none", point.init.as_str()))
    };
    let scale = || point.scale.ok_or_else(|| missing("scale"));
    let shared_bases = match point.init {
        InitKind::Balanced | InitKind::BalancedSigned => Some(ProductBases::Random),
        InitKind::Aligned => Some(ProductBases::TaskAligned(first_task)),
        InitKind::Gaussian | InitKind::Lecun => None,
    };
    if let (Some(cache), Some(bases)) = (draws, shared_bases) {
        // The checks of `balanced_factors_layers`, in its order, then the draws (shared by
        // every λ of this seed, widths and scale, and for `aligned` of this task), then λ.
        let lambdas = point.layer_lambdas().ok_or_else(|| missing("lambda"))?;
        let sigma = scale()?;
        init::check_balanced_layers(&point.widths, &lambdas)?;
        let key = DrawKey {
            init_seed: point.init_seed,
            init: point.init,
            sigma_bits: sigma.to_bits(),
            widths: point.widths.clone(),
            // The task-aligned bases are the first task's: its identity is part of the key.
            task: matches!(point.init, InitKind::Aligned)
                .then(|| (point.task.clone(), point.task_seed)),
        };
        let draws = cache.get_or_insert_with(key, BalancedDraws::heap_bytes, || {
            let values = ProductValues::GaussianProduct { sigma };
            init::balanced_draws(&point.widths, values, bases, &mut rng)
        })?;
        return match point.init {
            InitKind::Aligned => {
                let factors = draws.factors(&lambdas)?;
                let net = factors.network().map_err(Outcome::from)?;
                Ok((net, Some(factors)))
            }
            InitKind::BalancedSigned => {
                let net = draws.network(&lambdas).map_err(Outcome::from)?;
                Ok((init::match_determinant_sign(net, first_task), None))
            }
            _ => Ok((draws.network(&lambdas).map_err(Outcome::from)?, None)),
        };
    }
    // One λ per hidden layer (`lambda` repeated, or the `lambdas` profile): with all λ_l equal
    // the solver's per-layer init is bitwise its scalar one (docs/math.md §2.2).
    let balanced = |bases, rng: &mut ChaCha8Rng| -> Result<BalancedFactors, Outcome> {
        let lambdas = point.layer_lambdas().ok_or_else(|| missing("lambda"))?;
        let values = ProductValues::GaussianProduct { sigma: scale()? };
        init::balanced_factors_layers(&point.widths, &lambdas, values, bases, rng)
            .map_err(Outcome::from)
    };
    let net = match point.init {
        InitKind::Balanced => balanced(ProductBases::Random, &mut rng)?.network(),
        InitKind::BalancedSigned => balanced(ProductBases::Random, &mut rng)?
            .network()
            .map(|net| init::match_determinant_sign(net, first_task)),
        InitKind::Aligned => {
            let factors = balanced(ProductBases::TaskAligned(first_task), &mut rng)?;
            let net = factors.network().map_err(Outcome::from)?;
            return Ok((net, Some(factors)));
        }
        InitKind::Gaussian => {
            init::gaussian(&point.widths, &vec![scale()?; point.depth()], &mut rng)
        }
        InitKind::Lecun => init::lecun(&point.widths, &mut rng),
    };
    // A numerical failure (an init that overflows f64) is `overflow`, a refused parameter
    // `invalid`.
    net.map(|net| (net, None)).map_err(Outcome::from)
}

/// A point's task side, before its init: the protocol, and what is derived from its tasks alone.
/// A function of the task, its seed and `(Ni, No)`, shared by the points of a replicate through
/// [`SetupCache`].
pub(crate) struct TaskParts {
    pub(crate) protocol: Protocol,
    /// The derived parts, or the outcome that stopped them (which the point reports after its
    /// init, as without the cache).
    pub(crate) derived: Result<TaskDerived, Outcome>,
}

/// What the row needs of each task of a protocol: the SVD of its Σyx (the closed form of every
/// phase on it and the task-specificity references share it), its objective and its
/// task-specificity references.
pub(crate) struct TaskDerived {
    pub(crate) svds: Vec<FullSvd>,
    pub(crate) objectives: Vec<Objective>,
    pub(crate) specificity: Vec<TaskSpecificity>,
}

impl TaskParts {
    /// The task side of `point` (errors: those of [`build_protocol`]).
    fn new(point: &Point) -> Result<TaskParts, Outcome> {
        let protocol = build_protocol(point)?;
        let derived = TaskDerived::new(&protocol);
        Ok(TaskParts { protocol, derived })
    }

    /// Heap bytes, estimated from the shapes: per task its Σyx, Σxx and the derived matrices
    /// (SVD bases, `W*`, four references), each at most `(Ni + No)²` entries.
    fn heap_bytes(&self) -> usize {
        let per_task = self.protocol.tasks.first().map_or(0, |task| {
            let n = task.sigma_yx.nrows() + task.sigma_yx.ncols();
            8 * n * n
        });
        10 * per_task * self.protocol.tasks.len()
    }
}

impl TaskDerived {
    fn new(protocol: &Protocol) -> Result<TaskDerived, Outcome> {
        // Each task's Σyx is decomposed once.
        let svds = protocol
            .tasks
            .iter()
            .map(|task| FullSvd::new(&task.sigma_yx, "the task Σyx"))
            .collect::<Result<Vec<_>, _>>()?;
        let objectives = protocol.tasks.iter().map(Objective::new).collect();
        let specificity = protocol
            .tasks
            .iter()
            .zip(&svds)
            .map(|(p, svd)| TaskSpecificity::from_svd(&p.sigma_yx, svd))
            .collect::<Result<_, _>>()?;
        Ok(TaskDerived { svds, objectives, specificity })
    }
}

/// What consecutive points share, kept by a worker from one point to the next: the task side of
/// a replicate (`TaskParts`: its tasks, their SVDs and references) and the draws of a
/// `balanced`, `balanced-signed` or `aligned` init (shared by every λ of one seed, widths and
/// scale).
///
/// The points of a block enumerate λ fastest, then the scale, inside each replicate (docs/spec.md),
/// so a few entries serve nearly every point. An entry is a function of its key alone and is
/// stored only once complete, so a row is bitwise the same with or without the cache, on any
/// thread and in any order
/// (`tests/it/bundled_sweeps.rs::cached_rows_are_bitwise_uncached_rows`). Memory is bounded: at
/// most 8 entries of each kind and 4 MiB of estimated heap in each (so 8 MiB per worker, 1 GiB
/// for 128 workers, in the worst case of large widths); a larger entry is not kept.
#[derive(Default)]
pub struct SetupCache {
    tasks: Lru<TaskKey, TaskParts>,
    draws: Lru<DrawKey, BalancedDraws>,
}

/// Entries kept of each kind by one [`SetupCache`].
const CACHE_ENTRIES: usize = 8;

/// Estimated heap bytes kept of each kind by one [`SetupCache`].
const CACHE_BYTES: usize = 4 << 20;

impl SetupCache {
    /// The task side of `point`, from the cache or built (and then kept).
    pub(crate) fn task(&mut self, point: &Point) -> Result<Arc<TaskParts>, Outcome> {
        let key = TaskKey {
            task: point.task.clone(),
            task_seed: point.task_seed,
            n_in: point.n_in(),
            n_out: point.n_out(),
        };
        self.tasks.get_or_insert_with(key, TaskParts::heap_bytes, || TaskParts::new(point))
    }

    /// The initial network of `point` ([`build_network_and_factors`]), the draws of a balanced
    /// init from the cache.
    pub(crate) fn network(
        &mut self,
        point: &Point,
        first_task: &DMatrix<f64>,
    ) -> Result<(Network, Option<BalancedFactors>), Outcome> {
        network_and_factors(point, first_task, Some(&mut self.draws))
    }
}

/// The key of a [`TaskParts`]: everything [`build_protocol`] reads of a point.
#[derive(PartialEq)]
struct TaskKey {
    task: TaskSpec,
    task_seed: u64,
    n_in: usize,
    n_out: usize,
}

/// The key of a balanced init's draws: everything they depend on (for `aligned`, also the task
/// whose first Σyx gives the bases).
#[derive(PartialEq)]
struct DrawKey {
    init_seed: u64,
    init: InitKind,
    sigma_bits: u64,
    widths: Vec<usize>,
    task: Option<(TaskSpec, u64)>,
}

/// A few values by key, the most recently used first, within [`CACHE_ENTRIES`] and
/// [`CACHE_BYTES`].
struct Lru<K, V> {
    entries: Vec<(K, Arc<V>, usize)>,
}

impl<K, V> Default for Lru<K, V> {
    fn default() -> Self {
        Lru { entries: Vec::new() }
    }
}

impl<K: PartialEq, V> Lru<K, V> {
    /// The value of `key`, or `make()`'s, kept when it succeeds and fits (an error is not kept:
    /// the next point with this key makes it again, with the same result).
    fn get_or_insert_with<E>(
        &mut self,
        key: K,
        bytes: impl FnOnce(&V) -> usize,
        make: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(idx) = self.entries.iter().position(|(k, _, _)| *k == key) {
            let entry = self.entries.remove(idx);
            let value = Arc::clone(&entry.1);
            self.entries.insert(0, entry);
            return Ok(value);
        }
        let value = Arc::new(make()?);
        let size = bytes(&value);
        if size <= CACHE_BYTES {
            self.entries.insert(0, (key, Arc::clone(&value), size));
            let mut total = 0;
            let keep = self
                .entries
                .iter()
                .take(CACHE_ENTRIES)
                .take_while(|(_, _, size)| {
                    total += size;
                    total <= CACHE_BYTES
                })
                .count();
            self.entries.truncate(keep);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cache keeps at most `CACHE_ENTRIES` values and `CACHE_BYTES`, the most recently used
    /// first; a value larger than the budget and a failed `make` are returned but not kept.
    #[test]
    fn lru_is_bounded_by_entries_and_bytes() {
        let mut lru: Lru<u32, u32> = Lru::default();
        let made = std::cell::Cell::new(0_u32);
        let get = |lru: &mut Lru<u32, u32>, key: u32, bytes: usize| {
            *lru.get_or_insert_with(
                key,
                |_| bytes,
                || {
                    made.set(made.get() + 1);
                    Ok::<_, ()>(key * 10)
                },
            )
            .unwrap()
        };
        for key in 0..20 {
            assert_eq!(get(&mut lru, key, 1), key * 10);
        }
        assert_eq!(lru.entries.len(), CACHE_ENTRIES);
        let keys: Vec<u32> = lru.entries.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys, (12..20).rev().collect::<Vec<_>>());
        // A hit moves its entry to the front and makes nothing.
        assert_eq!(get(&mut lru, 13, 1), 130);
        assert_eq!(lru.entries[0].0, 13);
        assert_eq!(made.get(), 20);
        // Too large for the budget: returned, not kept.
        let big = lru.get_or_insert_with(99, |_| CACHE_BYTES + 1, || Ok::<_, ()>(1)).unwrap();
        assert_eq!(*big, 1);
        assert!(lru.entries.iter().all(|(k, _, _)| *k != 99));
        // Two halves of the budget: the older one goes.
        lru.get_or_insert_with(100, |_| CACHE_BYTES / 2 + 1, || Ok::<_, ()>(0)).unwrap();
        lru.get_or_insert_with(101, |_| CACHE_BYTES / 2 + 1, || Ok::<_, ()>(0)).unwrap();
        let keys: Vec<u32> = lru.entries.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(keys, vec![101]);
        // A failure is not kept.
        assert_eq!(lru.get_or_insert_with(7, |_| 1, || Err::<u32, _>("no")).unwrap_err(), "no");
        assert!(lru.entries.iter().all(|(k, _, _)| *k != 7));
    }
}
