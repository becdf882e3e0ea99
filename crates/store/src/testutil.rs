//! Test helpers: self-removing temporary directories and sample rows.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dataset::{Dataset, DatasetMeta};
use crate::row::PointRow;
use crate::writer::WriterOptions;

/// A unique directory under the system temp dir, removed on drop.
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(label: &str) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir()
            .join(format!("lazyrich-store-{label}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub(crate) fn meta(hash: &str) -> DatasetMeta {
    DatasetMeta {
        spec_name: "quickstart".into(),
        spec_hash: hash.into(),
        spec_text: "name = \"quickstart\"\nseed = 1\n".into(),
        lazyrich_version: "0.1.0".into(),
        git_commit: "abc1234".into(),
    }
}

pub(crate) fn options(flush_points: usize) -> WriterOptions {
    WriterOptions {
        flush_points,
        flush_seconds: 3600.0,
        shard: (0, 1),
        relayout: false,
        encoders: 0,
    }
}

/// A row exercising every column: nulls, empty lists, nested lists with an empty inner list,
/// and floats whose bits must survive (−0.0, subnormal, infinity), varying with `id`.
///
/// Ids with `id % 4` in {0, 1} are multi-phase (3 phases over 2 tasks: per-phase lists of 3,
/// per-transition lists of 2, a null inside `phase_t_half`), the others single-phase (one entry
/// per phase list, empty `task_losses` and `forgetting*`). Even ids have per-time data, odd ids
/// none, so every combination occurs among ids 0..4.
pub(crate) fn sample_row(id: u64, task: &str) -> PointRow {
    let x = id as f64;
    let odd = id % 2 == 1;
    let multi = id % 4 < 2;
    PointRow {
        point_id: id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        seed: u64::MAX - id,
        block: (id % 3) as u32,
        replicate: (id % 5) as u32,
        spec_hash: "0123456789abcdef".into(),
        schema_version: crate::SCHEMA_VERSION,
        lazyrich_version: "0.1.0".into(),
        git_commit: "abc1234".into(),
        shard: "0/1".into(),
        lambda: if odd { None } else { Some(-0.0) },
        lambdas: if odd { Vec::new() } else { vec![-0.0] },
        lambda_ft: if multi && !odd { Some(0.25 + x) } else { None },
        scale: Some(0.1 + x),
        depth: 2,
        widths: vec![4, 3, 2],
        n_in: 4,
        n_hidden: 3,
        n_out: 2,
        task: task.into(),
        task_params: format!("{task}(samples=64)"),
        task_samples: if odd { None } else { Some(64) },
        n_phases: if multi { 3 } else { 1 },
        init: "balanced".into(),
        method: if odd { "rk4".into() } else { "closed-form".into() },
        lr: None,
        dt: if odd { Some(1e-3) } else { None },
        status: if id.is_multiple_of(3) { "singular".into() } else { "ok".into() },
        error: if id.is_multiple_of(3) {
            Some("Σxx is singular: \"quoted\"".into())
        } else {
            None
        },
        lambda_measured: Some(f64::MIN_POSITIVE / 4.0),
        balance_defect: if odd { None } else { Some(0.96875) },
        balance_entry_defect: if id.is_multiple_of(3) { None } else { Some(0.125 + x) },
        t_end: if id % 5 == 4 { None } else { Some(100.0) },
        initial_loss: Some(1.5 + x),
        final_loss: Some(f64::EPSILON),
        t90: if odd { None } else { Some(3.25) },
        escape_time: if multi && !odd { Some(12.5 + x) } else { None },
        kernel_distance_end: Some(0.5),
        balance_drift: if odd { Some(1e-300) } else { None },
        tolerance: if odd { Some(1e-6) } else { None },
        cf_sim_error: None,
        wall_time_s: 0.001 * x,
        t: if odd { vec![] } else { vec![0.0, 0.5, 100.0] },
        phase: match (odd, multi) {
            (true, _) => vec![],
            (false, true) => vec![0, 1, 2],
            (false, false) => vec![0, 0, 0],
        },
        loss: if odd { vec![] } else { vec![1.5, f64::INFINITY, -0.0] },
        task_losses: if odd || !multi {
            vec![]
        } else {
            vec![vec![1.5, 2.0 + x], vec![0.75, f64::MIN_POSITIVE / 8.0], vec![-0.0, 3.5]]
        },
        kernel_distance: if odd { vec![] } else { vec![0.0, 0.25, 0.5] },
        singular_values: if odd { vec![] } else { vec![vec![1.0, 0.5], vec![], vec![2.0]] },
        sim_loss: vec![],
        phase_t_start: if multi { vec![0.0, 0.5, 50.0] } else { vec![0.0] },
        phase_t_end: if multi { vec![0.5, 50.0, 100.0] } else { vec![100.0] },
        phase_task_losses: if multi {
            vec![vec![0.5 + x, 2.0], vec![1.25, 1e-300], vec![-0.0, 0.125]]
        } else {
            vec![vec![f64::EPSILON + x]]
        },
        phase_t_half: if multi { vec![Some(0.125), None, Some(7.5 + x)] } else { vec![None] },
        phase_kernel_distance: if multi { vec![0.1, 0.2 + x, 0.3] } else { vec![0.5] },
        phase_rep_change_in: if multi { vec![1.0, -0.0, 2.5 + x] } else { vec![0.75] },
        phase_rep_change_out: if multi { vec![0.5, 1.5, f64::INFINITY] } else { vec![0.25 + x] },
        phase_tsc_in: if multi { vec![0.9, 0.8, 0.7 + x] } else { vec![1.0] },
        phase_tsc_out: if multi { vec![0.6 + x, 0.5, 0.4] } else { vec![f64::MIN_POSITIVE] },
        forgetting: if multi { vec![vec![0.75 + x, -0.5], vec![-1.25, 0.125]] } else { vec![] },
        forgetting_formula: if multi {
            vec![vec![0.7, -0.45 - x], vec![-1.2, f64::MIN_POSITIVE / 2.0]]
        } else {
            vec![]
        },
        qqt_t: vec![100.0],
        qqt: vec![(0..36).map(|i| f64::from(i) / 7.0 + x).collect()],
    }
}

/// Writes `rows` through one writer of `dataset` with one flush per `flush_points` rows.
pub(crate) fn write_rows(dataset: &Dataset, rows: &[PointRow], flush_points: usize) {
    let mut writer = dataset.writer(options(flush_points)).unwrap();
    for row in rows {
        writer.push(row.clone()).unwrap();
    }
    writer.finish().unwrap();
}

/// Names in the dataset's `_lazyrich/tmp/` other than lock files: what a finished or failed
/// operation must not leave behind.
pub(crate) fn tmp_leftovers(root: &Path) -> Vec<String> {
    crate::layout::list_names(&crate::layout::tmp_dir(root))
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| !name.ends_with(".lock"))
        .collect()
}

/// Inverts `len` bytes of the file at `path` from `offset` (clamped to the file).
pub(crate) fn flip_bytes(path: &Path, offset: u64, len: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let start = usize::try_from(offset).unwrap().min(bytes.len());
    let end = usize::try_from(offset + len).unwrap().min(bytes.len());
    for byte in &mut bytes[start..end] {
        *byte = !*byte;
    }
    std::fs::write(path, bytes).unwrap();
}

/// `(column path, start, length)` of every column chunk of the part file at `path`: where its
/// pages (headers and data) lie.
pub(crate) fn column_chunks(path: &Path) -> Vec<(String, u64, u64)> {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
    let metadata = parquet::file::reader::FileReader::metadata(&reader);
    let mut chunks = Vec::new();
    for row_group in metadata.row_groups() {
        for column in row_group.columns() {
            let (start, len) = column.byte_range();
            chunks.push((column.column_path().string(), start, len));
        }
    }
    chunks
}
