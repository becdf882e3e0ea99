//! Rows to Arrow: one `RecordBatch` of the `points` schema from a slice of `PointRow`s.

use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, ListBuilder, StringBuilder, StringDictionaryBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::ArrowError;

use crate::row::PointRow;
use crate::schema::{f64_item, f64_list_item, f64_opt_item, points_schema, u32_item};

fn u64s(rows: &[PointRow], get: impl Fn(&PointRow) -> u64) -> ArrayRef {
    let mut builder = UInt64Builder::with_capacity(rows.len());
    for row in rows {
        builder.append_value(get(row));
    }
    Arc::new(builder.finish())
}

fn u32s(rows: &[PointRow], get: impl Fn(&PointRow) -> Option<u32>) -> ArrayRef {
    let mut builder = UInt32Builder::with_capacity(rows.len());
    for row in rows {
        builder.append_option(get(row));
    }
    Arc::new(builder.finish())
}

fn f64s(rows: &[PointRow], get: impl Fn(&PointRow) -> Option<f64>) -> ArrayRef {
    let mut builder = Float64Builder::with_capacity(rows.len());
    for row in rows {
        builder.append_option(get(row));
    }
    Arc::new(builder.finish())
}

fn strings(rows: &[PointRow], get: impl Fn(&PointRow) -> Option<&str>) -> ArrayRef {
    let mut builder = StringBuilder::new();
    for row in rows {
        builder.append_option(get(row));
    }
    Arc::new(builder.finish())
}

fn dictionary(rows: &[PointRow], get: impl Fn(&PointRow) -> &str) -> Result<ArrayRef, ArrowError> {
    let mut builder = StringDictionaryBuilder::<Int32Type>::new();
    for row in rows {
        builder.append(get(row))?;
    }
    Ok(Arc::new(builder.finish()))
}

// The list columns reserve their values up front (the per-time series of a part file hold up
// to millions of values: grown by doubling, they were copied about once more in reallocations).

fn u32_lists(rows: &[PointRow], get: impl Fn(&PointRow) -> &[u32]) -> ArrayRef {
    let values = UInt32Builder::with_capacity(rows.iter().map(|r| get(r).len()).sum());
    let mut builder = ListBuilder::with_capacity(values, rows.len()).with_field(u32_item());
    for row in rows {
        builder.values().append_slice(get(row));
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn f64_lists(rows: &[PointRow], get: impl Fn(&PointRow) -> &[f64]) -> ArrayRef {
    let values = Float64Builder::with_capacity(rows.iter().map(|r| get(r).len()).sum());
    let mut builder = ListBuilder::with_capacity(values, rows.len()).with_field(f64_item());
    for row in rows {
        builder.values().append_slice(get(row));
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn opt_f64_lists(rows: &[PointRow], get: impl Fn(&PointRow) -> &[Option<f64>]) -> ArrayRef {
    let values = Float64Builder::with_capacity(rows.iter().map(|r| get(r).len()).sum());
    let mut builder = ListBuilder::with_capacity(values, rows.len()).with_field(f64_opt_item());
    for row in rows {
        builder.values().extend(get(row).iter().copied());
        builder.append(true);
    }
    Arc::new(builder.finish())
}

fn f64_list_lists(rows: &[PointRow], get: impl Fn(&PointRow) -> &[Vec<f64>]) -> ArrayRef {
    let lists: usize = rows.iter().map(|r| get(r).len()).sum();
    let values: usize = rows.iter().flat_map(&get).map(Vec::len).sum();
    let inner = ListBuilder::with_capacity(Float64Builder::with_capacity(values), lists)
        .with_field(f64_item());
    let mut builder = ListBuilder::with_capacity(inner, rows.len()).with_field(f64_list_item());
    for row in rows {
        for values in get(row) {
            builder.values().values().append_slice(values);
            builder.values().append(true);
        }
        builder.append(true);
    }
    Arc::new(builder.finish())
}

/// Encodes `rows` as one batch of [`points_schema`], columns in schema order.
pub(crate) fn encode(rows: &[PointRow]) -> Result<RecordBatch, ArrowError> {
    let columns: Vec<ArrayRef> = vec![
        u64s(rows, |r| r.point_id),
        u64s(rows, |r| r.seed),
        u32s(rows, |r| Some(r.block)),
        u32s(rows, |r| Some(r.replicate)),
        dictionary(rows, |r| &r.spec_hash)?,
        u32s(rows, |r| Some(r.schema_version)),
        dictionary(rows, |r| &r.lazyrich_version)?,
        dictionary(rows, |r| &r.git_commit)?,
        dictionary(rows, |r| &r.shard)?,
        f64s(rows, |r| r.lambda),
        f64_lists(rows, |r| &r.lambdas),
        f64s(rows, |r| r.lambda_ft),
        f64s(rows, |r| r.scale),
        u32s(rows, |r| Some(r.depth)),
        u32_lists(rows, |r| &r.widths),
        u32s(rows, |r| Some(r.n_in)),
        u32s(rows, |r| Some(r.n_hidden)),
        u32s(rows, |r| Some(r.n_out)),
        dictionary(rows, |r| &r.task)?,
        strings(rows, |r| Some(&r.task_params)),
        u32s(rows, |r| r.task_samples),
        u32s(rows, |r| Some(r.n_phases)),
        dictionary(rows, |r| &r.init)?,
        dictionary(rows, |r| &r.method)?,
        f64s(rows, |r| r.lr),
        f64s(rows, |r| r.dt),
        dictionary(rows, |r| &r.status)?,
        strings(rows, |r| r.error.as_deref()),
        f64s(rows, |r| r.lambda_measured),
        f64s(rows, |r| r.balance_defect),
        f64s(rows, |r| r.balance_entry_defect),
        f64s(rows, |r| r.t_end),
        f64s(rows, |r| r.initial_loss),
        f64s(rows, |r| r.final_loss),
        f64s(rows, |r| r.t90),
        f64s(rows, |r| r.escape_time),
        f64s(rows, |r| r.kernel_distance_end),
        f64s(rows, |r| r.balance_drift),
        f64s(rows, |r| r.tolerance),
        f64s(rows, |r| r.cf_sim_error),
        f64s(rows, |r| Some(r.wall_time_s)),
        f64_lists(rows, |r| &r.t),
        u32_lists(rows, |r| &r.phase),
        f64_lists(rows, |r| &r.loss),
        f64_list_lists(rows, |r| &r.task_losses),
        f64_lists(rows, |r| &r.kernel_distance),
        f64_list_lists(rows, |r| &r.singular_values),
        f64_lists(rows, |r| &r.sim_loss),
        f64_lists(rows, |r| &r.phase_t_start),
        f64_lists(rows, |r| &r.phase_t_end),
        f64_list_lists(rows, |r| &r.phase_task_losses),
        opt_f64_lists(rows, |r| &r.phase_t_half),
        f64_lists(rows, |r| &r.phase_kernel_distance),
        f64_lists(rows, |r| &r.phase_rep_change_in),
        f64_lists(rows, |r| &r.phase_rep_change_out),
        f64_lists(rows, |r| &r.phase_tsc_in),
        f64_lists(rows, |r| &r.phase_tsc_out),
        f64_list_lists(rows, |r| &r.forgetting),
        f64_list_lists(rows, |r| &r.forgetting_formula),
        f64_lists(rows, |r| &r.qqt_t),
        f64_list_lists(rows, |r| &r.qqt),
    ];
    RecordBatch::try_new(points_schema(), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample_row;

    #[test]
    fn encodes_every_column_with_the_schema_types() {
        let rows = vec![sample_row(1, "random"), sample_row(2, "hierarchy")];
        let batch = encode(&rows).unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.num_columns(), points_schema().fields().len());
    }

    #[test]
    fn encodes_no_rows() {
        assert_eq!(encode(&[]).unwrap().num_rows(), 0);
    }
}
