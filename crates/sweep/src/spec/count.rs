//! Counting a spec's points in bounded memory: per block, per shard, and distinct ids.
//!
//! Counting after filters needs no id. Distinct ids are counted without enumerating them when
//! no two points can share one ([`Spec::ids_distinct`]: within a block, every dim of more than
//! one value has an axis of pairwise distinct values that no point drops; across blocks, some
//! part of the canonical text cannot coincide). Otherwise the ids are enumerated in passes:
//! pass `k` of `K` keeps the ids with `id % K == k` in a buffer of at most [`PASS_IDS`] entries
//! (64 MiB), sorted and deduplicated whenever it fills; `K` doubles when a pass would not fit.

use std::collections::HashSet;

use super::Spec;
use crate::axes::AxisName;
use crate::block::Block;
use crate::grid::Floats;
use crate::shard::Shard;

/// Most (id, row bytes) entries one counting pass holds: 2²² entries of 16 bytes, 64 MiB.
pub const PASS_IDS: usize = 1 << 22;

/// Blocks beyond which their pairwise comparison is skipped (ids are then enumerated).
const MAX_COMPARED_BLOCKS: usize = 256;

/// What counting a spec's points finds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    /// Points after filters, per block.
    pub per_block: Vec<u64>,
    /// Distinct point ids among them: the rows a complete run writes.
    pub distinct: u64,
    /// The estimated uncompressed size of those rows (one per distinct id), in bytes.
    pub row_bytes: u64,
    /// Passes over the points that counting the distinct ids took: 0 when no two points can
    /// share an id (counted from the grid).
    pub passes: u32,
}

impl Spec {
    /// Whether no two points of the spec can share an id, so that the distinct ids can be
    /// counted without enumerating them. Sufficient, not necessary: a spec with possible repeats
    /// (λ crossed with a Gaussian init, a value listed twice, overlapping blocks) answers false.
    pub fn ids_distinct(&self) -> bool {
        if !self.blocks.iter().all(Block::ids_distinct) {
            return false;
        }
        if self.blocks.len() > MAX_COMPARED_BLOCKS {
            return false;
        }
        let summaries: Vec<Summary<'_>> = self.blocks.iter().map(Summary::of).collect();
        summaries
            .iter()
            .enumerate()
            .all(|(idx, a)| summaries[idx + 1..].iter().all(|b| a.disjoint(b)))
    }

    /// Number of points of a shard after filters (a point id at several raw indices counts at
    /// each; [`Spec::count_distinct`] counts it once).
    pub fn count(&self, shard: Shard) -> u64 {
        if !shard.is_valid() {
            return 0;
        }
        if shard.count == 1 {
            return self.blocks.iter().map(|block| block.count_strided(0, 1, block.n_points)).sum();
        }
        let mut count = 0;
        self.for_each_kept(false, |id, _| {
            count += u64::from(shard.contains(id));
            true
        });
        count
    }

    /// Points after filters per block, distinct ids and the estimated size of their rows.
    pub fn tally(&self) -> Tally {
        let counted: Vec<(u64, u64)> = self.blocks.iter().map(Block::count_with_bytes).collect();
        let per_block: Vec<u64> = counted.iter().map(|&(kept, _)| kept).collect();
        if self.ids_distinct() {
            return Tally {
                distinct: per_block.iter().sum(),
                row_bytes: counted.iter().map(|&(_, bytes)| bytes).fold(0, u64::saturating_add),
                per_block,
                passes: 0,
            };
        }
        let kept: u64 = per_block.iter().sum();
        let (distinct, row_bytes, passes) =
            self.distinct_by_passes(Shard::ALL, kept, true, PASS_IDS);
        Tally { per_block, distinct, row_bytes, passes }
    }

    /// Number of distinct point ids of a shard (the rows a complete run of it writes), counted
    /// without enumerating ids when [`Spec::ids_distinct`], else in bounded memory.
    pub fn count_distinct(&self, shard: Shard) -> u64 {
        if !shard.is_valid() {
            return 0;
        }
        if self.ids_distinct() {
            return self.count(shard);
        }
        let kept = if shard.count == 1 { self.count(shard) } else { self.n_raw };
        self.distinct_by_passes(shard, kept, false, PASS_IDS).0
    }

    /// Points after filters of each of `n_shards` shards (`point_id % n_shards`), in one pass.
    pub fn shard_counts(&self, n_shards: u32) -> Vec<u64> {
        let mut counts = vec![0u64; n_shards as usize];
        if n_shards == 0 {
            return counts;
        }
        self.for_each_kept(false, |id, _| {
            counts[(id % u64::from(n_shards)) as usize] += 1;
            true
        });
        counts
    }

    /// Calls `visit(id, row bytes)` for every point the filters keep, in raw-index order (row
    /// bytes only when `with_bytes`, else 0), until it returns false. Returns whether it ran to
    /// the end.
    pub(super) fn for_each_kept(
        &self,
        with_bytes: bool,
        mut visit: impl FnMut(u64, u64) -> bool,
    ) -> bool {
        let mut buf = Vec::with_capacity(256);
        for block in &self.blocks {
            for local in 0..block.n_points {
                let indices = block.decode(local);
                let choice = block.choice(&indices);
                if !block.keeps(&choice) {
                    continue;
                }
                let Some(id) = block.id_of(&indices, &choice, self.seed, &mut buf) else {
                    continue;
                };
                let bytes = if with_bytes {
                    block.shape(&indices).map_or(0, |shape| shape.row_bytes())
                } else {
                    0
                };
                if !visit(id, bytes) {
                    return false;
                }
            }
        }
        true
    }

    /// Distinct ids of `shard`, the sum of their row bytes and the passes it took, holding at
    /// most `capacity` entries at a time; `kept` (the points to look at) sizes the first try.
    pub(super) fn distinct_by_passes(
        &self,
        shard: Shard,
        kept: u64,
        with_bytes: bool,
        capacity: usize,
    ) -> (u64, u64, u32) {
        let capacity = capacity.max(4);
        let mut n_parts = kept.div_ceil(capacity as u64).max(1);
        let mut passes = 0u32;
        loop {
            match self.try_parts(shard, n_parts, with_bytes, capacity, &mut passes) {
                Some((distinct, bytes)) => return (distinct, bytes, passes),
                // A part holds too many distinct ids: split the ids finer.
                None => n_parts *= 2,
            }
        }
    }

    /// One try of [`Spec::distinct_by_passes`] with `n_parts` parts (one pass each): `None` when
    /// a part holds more than three quarters of `capacity` distinct ids.
    fn try_parts(
        &self,
        shard: Shard,
        n_parts: u64,
        with_bytes: bool,
        capacity: usize,
        passes: &mut u32,
    ) -> Option<(u64, u64)> {
        let (mut distinct, mut bytes) = (0u64, 0u64);
        let mut entries: Vec<(u64, u64)> = Vec::new();
        for part in 0..n_parts {
            entries.clear();
            *passes += 1;
            let finished = self.for_each_kept(with_bytes, |id, row_bytes| {
                if id % n_parts != part || !shard.contains(id) {
                    return true;
                }
                entries.push((id, row_bytes));
                if entries.len() >= capacity {
                    compact(&mut entries);
                    return entries.len() <= capacity / 4 * 3;
                }
                true
            });
            if !finished {
                return None;
            }
            compact(&mut entries);
            distinct += entries.len() as u64;
            bytes = entries.iter().map(|&(_, b)| b).fold(bytes, u64::saturating_add);
        }
        Some((distinct, bytes))
    }
}

/// Sorts `entries` by id and keeps the first of each id.
fn compact(entries: &mut Vec<(u64, u64)>) {
    entries.sort_unstable_by_key(|&(id, _)| id);
    entries.dedup_by_key(|&mut (id, _)| id);
}

/// What the canonical texts of a block's points can hold, part by part, to tell blocks that
/// cannot share an id.
struct Summary<'a> {
    block: &'a Block,
    /// Per float axis (scale, λ, lr, dt): whether some point writes `-`, and the value range.
    floats: [(bool, Option<(f64, f64)>); 4],
}

impl<'a> Summary<'a> {
    fn of(block: &'a Block) -> Summary<'a> {
        let float = |axis: AxisName, values: &Option<Floats>| {
            (block.drops(axis), values.as_ref().and_then(Floats::bounds))
        };
        Summary {
            block,
            floats: [
                float(AxisName::Scale, &block.scale),
                float(AxisName::Lambda, &block.lambda),
                float(AxisName::Lr, &block.lr),
                float(AxisName::Dt, &block.dt),
            ],
        }
    }

    /// Whether no point of one block can have the canonical text of a point of the other.
    fn disjoint(&self, other: &Summary<'_>) -> bool {
        let (a, b) = (self.block, other.block);
        fn apart<T: Eq + std::hash::Hash>(x: &[T], y: &[T]) -> bool {
            let set: HashSet<&T> = x.iter().collect();
            !y.iter().any(|value| set.contains(value))
        }
        let floats_apart = self.floats.iter().zip(&other.floats).any(|(x, y)| {
            let ((x_dash, x_range), (y_dash, y_range)) = (x, y);
            // Both may write `-`: they can meet there.
            if *x_dash && *y_dash {
                return false;
            }
            match (x_range, y_range) {
                (Some((x_lo, x_hi)), Some((y_lo, y_hi))) => x_hi < y_lo || y_hi < x_lo,
                // One side writes only `-`, the other never does.
                _ => true,
            }
        });
        a.time_hash != b.time_hash
            || a.record_text != b.record_text
            || apart(&a.widths_texts, &b.widths_texts)
            || apart(&a.task_texts, &b.task_texts)
            || apart(&a.inits, &b.inits)
            || apart(&a.methods, &b.methods)
            || floats_apart
    }
}
