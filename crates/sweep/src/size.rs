//! Sizes of a point: the row it writes and the memory it needs while it is computed.
//!
//! Both are estimates from the spec alone (task, widths, method, time grid, record), used by
//! `lazyrich plan` (the size of the output) and by validation (no point may need more than
//! [`MAX_POINT_BYTES`]). A leaf module: it imports only the parameter and task types.

use crate::params::{Method, Record};
use crate::task::{TaskSpec, TransferSource};

/// Most memory one point may need while it is computed (task data, network, its row): 1 GiB.
/// A run holds about `--threads` points at once, plus the rows waiting to be written.
pub const MAX_POINT_BYTES: u64 = 1 << 30;

/// Bytes of fixed-width and short string values every row has, besides its lists: 2 u64 ids,
/// 8 u32 (block, replicate, schema_version, depth, n_in, n_hidden, n_out, n_phases),
/// task_samples, 18 f64 (λ, λ_ft, scale, lr, dt, λ measured, the two balance defects, t_end,
/// initial and final loss, t90, escape time, end kernel distance, balance drift, tolerance,
/// cf_sim_error, wall time),
/// and the strings (spec hash, version, commit, shard, task, task params, init, method, status)
/// at a typical length.
const FIXED_ROW_BYTES: u64 = 2 * 8 + 9 * 4 + 18 * 8 + 16 + 8 + 12 + 4 + 6 + 20 + 8 + 15 + 2;
/// Arrow keeps one 4-byte offset per list and per string.
const OFFSET_BYTES: u64 = 4;

/// What one point is made of, as far as its sizes go.
#[derive(Clone, Copy, Debug)]
pub struct Shape<'a> {
    /// The task.
    pub task: &'a TaskSpec,
    /// `[Ni, N1, …, No]`.
    pub widths: &'a [usize],
    /// The method.
    pub method: Method,
    /// The time grid of one phase.
    pub times: &'a [f64],
    /// What is recorded.
    pub record: &'a Record,
}

/// A point's estimated working memory, by part (bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    /// The task's data while it is generated (inputs, targets, their whitened copy; for
    /// `reversal`, the samples × samples rotation and its SVD).
    pub task: u64,
    /// The network and the solver's work space (integrator stages, NTK factors, closed form).
    pub network: u64,
    /// The point's row ([`Shape::row_bytes`]).
    pub row: u64,
}

impl Memory {
    /// The sum of the parts.
    pub fn total(&self) -> u64 {
        self.task.saturating_add(self.network).saturating_add(self.row)
    }
}

impl Shape<'_> {
    /// Number of times of the whole protocol: every phase runs the grid, and a later phase skips
    /// its first time when the grid starts at 0.
    pub fn n_times(&self) -> u64 {
        let n_phases = u64::from(self.task.n_phases());
        let len = self.times.len() as u64;
        let skipped = u64::from(self.times.first() == Some(&0.0));
        len.saturating_add(n_phases.saturating_sub(1).saturating_mul(len.saturating_sub(skipped)))
    }

    /// Estimated uncompressed size of the point's row: its values as Arrow holds them in memory
    /// (8 bytes per float, 4 per u32, strings at full length, one offset per list or string),
    /// assuming it completes (a failed point stops its series early). This is roughly what the
    /// loaded table takes in polars or pandas; the zstd-compressed Parquet files are smaller.
    pub fn row_bytes(&self) -> u64 {
        let n_phases = u64::from(self.task.n_phases());
        // Multi-phase protocols train on one task per phase and track the loss of each.
        let n_tasks = if n_phases > 1 { n_phases } else { 0 };
        let n_times = self.n_times();
        let n_in = self.widths.first().copied().unwrap_or(0) as u64;
        let n_out = self.widths.last().copied().unwrap_or(0) as u64;
        let record = self.record;
        // The widths (u32) and, at most, one λ per hidden layer (`lambdas`, f64).
        let depth = self.widths.len().saturating_sub(1) as u64;
        let mut bytes = FIXED_ROW_BYTES
            + 34 * OFFSET_BYTES
            + 4 * self.widths.len() as u64
            + 8 * depth.saturating_sub(1);
        // Per phase: 7 f64 lists and the losses on every task; per transition, two lists of
        // n_tasks.
        bytes += n_phases * (7 * 8 + n_tasks.max(1) * 8 + OFFSET_BYTES);
        bytes += n_phases.saturating_sub(1) * 2 * (n_tasks * 8 + OFFSET_BYTES);
        let mut per_time = 0u64;
        if record.per_time {
            // t, loss, kernel_distance (f64) and phase (u32); losses on every task.
            per_time += 3 * 8 + 4;
            if n_tasks > 0 {
                per_time += 8 * n_tasks + OFFSET_BYTES;
            }
            if record.singular_values {
                per_time += 8 * n_in.min(n_out) + OFFSET_BYTES;
            }
            if self.method.uses_closed_form() && self.method.simulation().is_some() {
                per_time += 8;
            }
        }
        bytes = bytes.saturating_add(per_time.saturating_mul(n_times));
        if self.widths.len() == 3 {
            let side = n_in + n_out;
            let n_matrices = n_phases.saturating_mul(record.matrices_at.len() as u64);
            bytes =
                bytes.saturating_add(n_matrices.saturating_mul(8 + 8 * side * side + OFFSET_BYTES));
        }
        bytes
    }

    /// The point's estimated working memory (an upper estimate, not a measurement).
    pub fn memory(&self) -> Memory {
        let n_in = self.widths.first().copied().unwrap_or(0) as u64;
        let n_out = self.widths.last().copied().unwrap_or(0) as u64;
        let widest = self.widths.iter().copied().max().unwrap_or(0) as u64;
        let depth = self.widths.len().saturating_sub(1) as u64;
        let weights: u64 = self
            .widths
            .windows(2)
            .map(|pair| (pair[0] as u64).saturating_mul(pair[1] as u64))
            .fold(0, u64::saturating_add);
        // Sampled tasks: raw inputs, their whitened copy and transpose, targets and their copy.
        let sampled = |samples: u32| u64::from(samples).saturating_mul(3 * n_in + 2 * n_out);
        let task_floats = match self.task {
            // A samples × samples Gaussian rotation, its full SVD (U, work), and the data.
            TaskSpec::Reversal { samples, .. } => {
                let p = u64::from(*samples);
                p.saturating_mul(p).saturating_mul(4).saturating_add(sampled(*samples))
            }
            TaskSpec::Random { samples }
            | TaskSpec::Continual { samples, .. }
            | TaskSpec::Transfer { source: TransferSource::Random { samples, .. }, .. }
            | TaskSpec::FineTune { source: TransferSource::Random { samples, .. }, .. } => {
                sampled(*samples)
            }
            // The hierarchy's items × features table and its SVD.
            _ => 4 * (n_in + 1) * (n_out + 1),
        };
        // 16 floats per weight (weights, gradients, RK4 stages, work space), 4 widest × widest
        // NTK factors per layer, 32 (Ni + No)² for the closed form.
        let side = n_in + n_out;
        let network_floats = weights
            .saturating_mul(16)
            .saturating_add(depth.saturating_mul(4).saturating_mul(widest.saturating_mul(widest)))
            .saturating_add(side.saturating_mul(side).saturating_mul(32));
        Memory {
            task: task_floats.saturating_mul(8),
            network: network_floats.saturating_mul(8),
            row: self.row_bytes(),
        }
    }
}

/// `bytes` with a binary unit: `812 B`, `10.4 MiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(10 * 1024 * 1024), "10.0 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn row_estimate_counts_the_lists() {
        let record = Record { matrices_at: vec![1.0], ..Record::default() };
        let times = [0.0, 1.0, 2.0, 3.0];
        let task = TaskSpec::Random { samples: 8 };
        let shape = Shape {
            task: &task,
            widths: &[3, 3, 2],
            method: Method::ClosedForm,
            times: &times,
            record: &record,
        };
        let per_phase = 7 * 8 + 8 + 4;
        let lists = (3 * 8 + 4) * 4 + 4 * (8 * 2 + 4) + (8 + 8 * 25 + 4) + per_phase;
        let fixed = FIXED_ROW_BYTES + 34 * OFFSET_BYTES + 4 * 3 + 8;
        assert_eq!(shape.row_bytes(), fixed + lists);

        // Three phases of the 4-time grid (later phases skip t = 0): 10 times, 3 task losses
        // each, 3 per-phase entries, 2 transitions; QQᵀ at 1.0 in every phase.
        let continual = TaskSpec::Continual { tasks: 3, samples: 8, until: None };
        let shape = Shape { task: &continual, ..shape };
        assert_eq!(shape.n_times(), 10);
        let per_phase = 7 * 8 + 3 * 8 + 4;
        let lists = (3 * 8 + 4) * 10
            + 10 * (8 * 3 + 4)
            + 10 * (8 * 2 + 4)
            + 3 * (8 + 8 * 25 + 4)
            + 3 * per_phase
            + 2 * 2 * (3 * 8 + 4);
        assert_eq!(shape.row_bytes(), fixed + lists);
    }

    #[test]
    fn memory_grows_with_samples_and_widths() {
        let record = Record::default();
        let times = [0.0, 1.0];
        let small = TaskSpec::Random { samples: 64 };
        let shape = Shape {
            task: &small,
            widths: &[4, 4, 4],
            method: Method::Rk4,
            times: &times,
            record: &record,
        };
        assert!(shape.memory().total() < 1 << 20);
        let huge = TaskSpec::Random { samples: 4_000_000_000 };
        let memory = Shape { task: &huge, ..shape }.memory();
        assert_eq!(memory.task, 4_000_000_000 * (3 * 4 + 2 * 4) * 8);
        assert!(memory.total() > MAX_POINT_BYTES);
        let wide = Shape { widths: &[4096; 20], ..shape }.memory();
        assert!(wide.network > MAX_POINT_BYTES);
        let reversal = TaskSpec::Reversal { samples: 100_000, until: None };
        assert!(Shape { task: &reversal, ..shape }.memory().task > MAX_POINT_BYTES);
    }
}
