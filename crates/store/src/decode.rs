//! Arrow to rows: typed column access on batches read back from part files.
//!
//! Every accessor checks the column's presence and type and reports a mismatch as
//! [`StoreError::BadFile`] naming the file, so a foreign or damaged file never panics a reader.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type, UInt64Type};
use arrow_array::{
    Array, DictionaryArray, Float64Array, ListArray, RecordBatch, StringArray, UInt32Array,
    UInt64Array,
};

use crate::error::StoreError;
use crate::row::PointRow;
use crate::schema::describe_type;

/// A batch read from `path`, with typed access to its columns by name.
pub(crate) struct Columns<'a> {
    batch: &'a RecordBatch,
    path: &'a Path,
}

fn wrong_type(path: &Path, name: &str, found: &dyn Array, expected: &str) -> StoreError {
    StoreError::bad_file(
        path,
        format!("column `{name}` is {}, expected {expected}", describe_type(found.data_type())),
    )
}

impl<'a> Columns<'a> {
    pub(crate) fn new(batch: &'a RecordBatch, path: &'a Path) -> Self {
        Self { batch, path }
    }

    fn column(&self, name: &str) -> Result<&'a dyn Array, StoreError> {
        self.batch
            .column_by_name(name)
            .map(|array| array.as_ref())
            .ok_or_else(|| StoreError::bad_file(self.path, format!("column `{name}` is missing")))
    }

    pub(crate) fn u64(&self, name: &str) -> Result<&'a UInt64Array, StoreError> {
        let column = self.column(name)?;
        column
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| wrong_type(self.path, name, column, "u64"))
    }

    pub(crate) fn u32(&self, name: &str) -> Result<&'a UInt32Array, StoreError> {
        let column = self.column(name)?;
        column
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| wrong_type(self.path, name, column, "u32"))
    }

    pub(crate) fn f64(&self, name: &str) -> Result<&'a Float64Array, StoreError> {
        let column = self.column(name)?;
        column
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| wrong_type(self.path, name, column, "f64"))
    }

    pub(crate) fn utf8(&self, name: &str) -> Result<&'a StringArray, StoreError> {
        let column = self.column(name)?;
        column.as_string_opt::<i32>().ok_or_else(|| wrong_type(self.path, name, column, "utf8"))
    }

    pub(crate) fn dictionary(&self, name: &str) -> Result<Dictionary<'a>, StoreError> {
        let column = self.column(name)?;
        let expected = "dict<utf8>";
        let keys: &DictionaryArray<Int32Type> = column
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(|| wrong_type(self.path, name, column, expected))?;
        let values = keys
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| wrong_type(self.path, name, column, expected))?;
        Ok(Dictionary { keys, values })
    }

    pub(crate) fn list(&self, name: &str) -> Result<List<'a>, StoreError> {
        let column = self.column(name)?;
        let array = column
            .as_list_opt::<i32>()
            .ok_or_else(|| wrong_type(self.path, name, column, "list"))?;
        Ok(List { array, name: name.to_owned(), path: self.path })
    }
}

/// A dictionary-encoded string column.
pub(crate) struct Dictionary<'a> {
    keys: &'a DictionaryArray<Int32Type>,
    values: &'a StringArray,
}

impl Dictionary<'_> {
    /// The string of row `row_idx` (empty for a null or dangling key).
    pub(crate) fn value(&self, row_idx: usize) -> &str {
        if self.keys.is_null(row_idx) {
            return "";
        }
        usize::try_from(self.keys.keys().value(row_idx))
            .ok()
            .filter(|&key| key < self.values.len())
            .map_or("", |key| self.values.value(key))
    }
}

/// A list column.
pub(crate) struct List<'a> {
    array: &'a ListArray,
    name: String,
    path: &'a Path,
}

impl List<'_> {
    fn element(&self, row_idx: usize) -> Option<std::sync::Arc<dyn Array>> {
        (!self.array.is_null(row_idx)).then(|| self.array.value(row_idx))
    }

    pub(crate) fn u32s(&self, row_idx: usize) -> Result<Vec<u32>, StoreError> {
        let Some(values) = self.element(row_idx) else { return Ok(Vec::new()) };
        let values = values
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| wrong_type(self.path, &self.name, self.array, "list<u32>"))?;
        Ok(values.values().to_vec())
    }

    pub(crate) fn f64s(&self, row_idx: usize) -> Result<Vec<f64>, StoreError> {
        let Some(values) = self.element(row_idx) else { return Ok(Vec::new()) };
        let values = values
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| wrong_type(self.path, &self.name, self.array, "list<f64>"))?;
        Ok(values.values().to_vec())
    }

    /// A `list<f64?>` element: nulls as `None`.
    pub(crate) fn opt_f64s(&self, row_idx: usize) -> Result<Vec<Option<f64>>, StoreError> {
        let Some(values) = self.element(row_idx) else { return Ok(Vec::new()) };
        let values = values
            .as_primitive_opt::<Float64Type>()
            .ok_or_else(|| wrong_type(self.path, &self.name, self.array, "list<f64?>"))?;
        Ok(values.iter().collect())
    }

    pub(crate) fn f64_lists(&self, row_idx: usize) -> Result<Vec<Vec<f64>>, StoreError> {
        let Some(lists) = self.element(row_idx) else { return Ok(Vec::new()) };
        let expected = "list<list<f64>>";
        let lists = lists
            .as_list_opt::<i32>()
            .ok_or_else(|| wrong_type(self.path, &self.name, self.array, expected))?;
        let mut out = Vec::with_capacity(lists.len());
        for inner_idx in 0..lists.len() {
            if lists.is_null(inner_idx) {
                out.push(Vec::new());
                continue;
            }
            let inner = lists.value(inner_idx);
            let values = inner
                .as_primitive_opt::<Float64Type>()
                .ok_or_else(|| wrong_type(self.path, &self.name, self.array, expected))?;
            out.push(values.values().to_vec());
        }
        Ok(out)
    }
}

fn opt_u32(array: &UInt32Array, row_idx: usize) -> Option<u32> {
    (!array.is_null(row_idx)).then(|| array.value(row_idx))
}

fn opt_f64(array: &Float64Array, row_idx: usize) -> Option<f64> {
    (!array.is_null(row_idx)).then(|| array.value(row_idx))
}

fn opt_str(array: &StringArray, row_idx: usize) -> Option<String> {
    (!array.is_null(row_idx)).then(|| array.value(row_idx).to_owned())
}

/// Decodes every row of a full-width batch read from `path`.
pub(crate) fn decode_rows(batch: &RecordBatch, path: &Path) -> Result<Vec<PointRow>, StoreError> {
    let c = Columns::new(batch, path);
    let (point_id, seed) = (c.u64("point_id")?, c.u64("seed")?);
    let (block, replicate) = (c.u32("block")?, c.u32("replicate")?);
    let spec_hash = c.dictionary("spec_hash")?;
    let schema_version = c.u32("schema_version")?;
    let lazyrich_version = c.dictionary("lazyrich_version")?;
    let git_commit = c.dictionary("git_commit")?;
    let shard = c.dictionary("shard")?;
    let (lambda, lambda_ft, scale) = (c.f64("lambda")?, c.f64("lambda_ft")?, c.f64("scale")?);
    let lambdas = c.list("lambdas")?;
    let depth = c.u32("depth")?;
    let widths = c.list("widths")?;
    let (n_in, n_hidden, n_out) = (c.u32("n_in")?, c.u32("n_hidden")?, c.u32("n_out")?);
    let task = c.dictionary("task")?;
    let task_params = c.utf8("task_params")?;
    let task_samples = c.u32("task_samples")?;
    let n_phases = c.u32("n_phases")?;
    let (init, method) = (c.dictionary("init")?, c.dictionary("method")?);
    let (lr, dt) = (c.f64("lr")?, c.f64("dt")?);
    let status = c.dictionary("status")?;
    let error = c.utf8("error")?;
    let lambda_measured = c.f64("lambda_measured")?;
    let balance_defect = c.f64("balance_defect")?;
    let balance_entry_defect = c.f64("balance_entry_defect")?;
    let t_end = c.f64("t_end")?;
    let (initial_loss, final_loss, t90) =
        (c.f64("initial_loss")?, c.f64("final_loss")?, c.f64("t90")?);
    let escape_time = c.f64("escape_time")?;
    let kernel_distance_end = c.f64("kernel_distance_end")?;
    let balance_drift = c.f64("balance_drift")?;
    let tolerance = c.f64("tolerance")?;
    let cf_sim_error = c.f64("cf_sim_error")?;
    let wall_time_s = c.f64("wall_time_s")?;
    let (t, phase, loss) = (c.list("t")?, c.list("phase")?, c.list("loss")?);
    let task_losses = c.list("task_losses")?;
    let kernel_distance = c.list("kernel_distance")?;
    let singular_values = c.list("singular_values")?;
    let sim_loss = c.list("sim_loss")?;
    let (phase_t_start, phase_t_end) = (c.list("phase_t_start")?, c.list("phase_t_end")?);
    let phase_task_losses = c.list("phase_task_losses")?;
    let phase_t_half = c.list("phase_t_half")?;
    let phase_kernel_distance = c.list("phase_kernel_distance")?;
    let phase_rep_change_in = c.list("phase_rep_change_in")?;
    let phase_rep_change_out = c.list("phase_rep_change_out")?;
    let (phase_tsc_in, phase_tsc_out) = (c.list("phase_tsc_in")?, c.list("phase_tsc_out")?);
    let forgetting = c.list("forgetting")?;
    let forgetting_formula = c.list("forgetting_formula")?;
    let (qqt_t, qqt) = (c.list("qqt_t")?, c.list("qqt")?);

    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        rows.push(PointRow {
            point_id: point_id.value(i),
            seed: seed.value(i),
            block: block.value(i),
            replicate: replicate.value(i),
            spec_hash: spec_hash.value(i).to_owned(),
            schema_version: schema_version.value(i),
            lazyrich_version: lazyrich_version.value(i).to_owned(),
            git_commit: git_commit.value(i).to_owned(),
            shard: shard.value(i).to_owned(),
            lambda: opt_f64(lambda, i),
            lambdas: lambdas.f64s(i)?,
            lambda_ft: opt_f64(lambda_ft, i),
            scale: opt_f64(scale, i),
            depth: depth.value(i),
            widths: widths.u32s(i)?,
            n_in: n_in.value(i),
            n_hidden: n_hidden.value(i),
            n_out: n_out.value(i),
            task: task.value(i).to_owned(),
            task_params: task_params.value(i).to_owned(),
            task_samples: opt_u32(task_samples, i),
            n_phases: n_phases.value(i),
            init: init.value(i).to_owned(),
            method: method.value(i).to_owned(),
            lr: opt_f64(lr, i),
            dt: opt_f64(dt, i),
            status: status.value(i).to_owned(),
            error: opt_str(error, i),
            lambda_measured: opt_f64(lambda_measured, i),
            balance_defect: opt_f64(balance_defect, i),
            balance_entry_defect: opt_f64(balance_entry_defect, i),
            t_end: opt_f64(t_end, i),
            initial_loss: opt_f64(initial_loss, i),
            final_loss: opt_f64(final_loss, i),
            t90: opt_f64(t90, i),
            escape_time: opt_f64(escape_time, i),
            kernel_distance_end: opt_f64(kernel_distance_end, i),
            balance_drift: opt_f64(balance_drift, i),
            tolerance: opt_f64(tolerance, i),
            cf_sim_error: opt_f64(cf_sim_error, i),
            wall_time_s: wall_time_s.value(i),
            t: t.f64s(i)?,
            phase: phase.u32s(i)?,
            loss: loss.f64s(i)?,
            task_losses: task_losses.f64_lists(i)?,
            kernel_distance: kernel_distance.f64s(i)?,
            singular_values: singular_values.f64_lists(i)?,
            sim_loss: sim_loss.f64s(i)?,
            phase_t_start: phase_t_start.f64s(i)?,
            phase_t_end: phase_t_end.f64s(i)?,
            phase_task_losses: phase_task_losses.f64_lists(i)?,
            phase_t_half: phase_t_half.opt_f64s(i)?,
            phase_kernel_distance: phase_kernel_distance.f64s(i)?,
            phase_rep_change_in: phase_rep_change_in.f64s(i)?,
            phase_rep_change_out: phase_rep_change_out.f64s(i)?,
            phase_tsc_in: phase_tsc_in.f64s(i)?,
            phase_tsc_out: phase_tsc_out.f64s(i)?,
            forgetting: forgetting.f64_lists(i)?,
            forgetting_formula: forgetting_formula.f64_lists(i)?,
            qqt_t: qqt_t.f64s(i)?,
            qqt: qqt.f64_lists(i)?,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode;
    use crate::testutil::sample_row;

    #[test]
    fn decode_inverts_encode_bitwise() {
        let rows: Vec<PointRow> = (5..9).map(|id| sample_row(id, "random")).collect();
        let batch = encode(&rows).unwrap();
        let back = decode_rows(&batch, Path::new("mem")).unwrap();
        assert_eq!(format!("{back:?}"), format!("{rows:?}"));
        // Multi-phase (id 5: no per-time data; id 8: per-time data) and single-phase rows.
        let (multi, single) = (&back[3], &back[1]);
        assert_eq!((multi.n_phases, multi.phase.as_slice()), (3, &[0, 1, 2][..]));
        assert_eq!(multi.phase_t_half, [Some(0.125), None, Some(15.5)]);
        assert_eq!(multi.task_losses.len(), multi.t.len());
        assert_eq!((multi.forgetting.len(), multi.forgetting_formula[1].len()), (2, 2));
        assert_eq!((back[0].n_phases, back[0].phase.len(), back[0].lambda_ft), (3, 0, None));
        assert_eq!((single.n_phases, single.phase.as_slice()), (1, &[0, 0, 0][..]));
        assert_eq!(single.phase_t_half, [None]);
        assert!(single.task_losses.is_empty() && single.forgetting.is_empty());
        assert_eq!((single.phase_t_end.len(), single.escape_time), (1, None));
    }

    #[test]
    fn a_missing_or_mistyped_column_is_an_error_naming_the_file() {
        let batch = encode(&[sample_row(1, "random")]).unwrap();
        let projected = batch.project(&[1]).unwrap();
        let err = decode_rows(&projected, Path::new("/d/a.parquet")).unwrap_err();
        assert_eq!(err.to_string(), "failed to read /d/a.parquet: column `point_id` is missing");
        let c = Columns::new(&batch, Path::new("/d/a.parquet"));
        let err = c.u32("point_id").unwrap_err();
        assert_eq!(
            err.to_string(),
            "failed to read /d/a.parquet: column `point_id` is u64, expected u32"
        );
    }
}
