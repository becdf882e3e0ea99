//! Column-chunk statistics of part files: which columns carry them, and their verification.
//!
//! Readers (polars, DuckDB, pyarrow) skip row groups by the min/max statistics in a file's
//! footer, so a statistic that does not match the data hides rows from a filter as surely as
//! a damaged value would change them. The content checksum covers the decoded values only,
//! so the statistics are verified separately, against the same decoded values:
//!
//! - only the numeric scalar columns (`u32`, `u64`, `f64`: the parameters users filter on)
//!   carry statistics, at column-chunk level; strings, lists and the page index carry none
//!   (neither do the offset indexes), so no byte of a file that a reader may trust is left
//!   unverified;
//! - [`StatsCheck`] recomputes, for every row group, the min, max and null count of those
//!   columns from the decoded batches and compares them with the footer; any difference makes
//!   the file damaged. Files written before this (page statistics on every column) verify
//!   their numeric scalar statistics the same way; their other statistics are not used by
//!   lazyrich.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterPropertiesBuilder};
use parquet::file::statistics::Statistics;
use parquet::schema::types::SchemaDescriptor;

/// Whether a column of this Arrow type carries statistics.
fn has_statistics(data_type: &DataType) -> bool {
    matches!(data_type, DataType::UInt32 | DataType::UInt64 | DataType::Float64)
}

/// Writer settings for statistics: chunk statistics for the top-level numeric columns of
/// `arrow` (as `parquet` names them), none elsewhere, no offset index.
pub(crate) fn configure(
    mut builder: WriterPropertiesBuilder,
    arrow: &arrow_schema::Schema,
    parquet: &SchemaDescriptor,
) -> WriterPropertiesBuilder {
    builder =
        builder.set_statistics_enabled(EnabledStatistics::None).set_offset_index_disabled(true);
    for column in parquet.columns() {
        let path = column.path();
        let parts = path.parts();
        let numeric = parts.len() == 1
            && arrow.field_with_name(&parts[0]).is_ok_and(|f| has_statistics(f.data_type()));
        if numeric {
            builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::Chunk);
        }
    }
    builder
}

/// Min, max and null count of one column chunk, as the decoded values give them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Observed {
    /// Min and max, as the footer stores them for this type (`u32`/`u64` as their bits in
    /// `i32`/`i64`, the unsigned order kept; floats by value).
    min: Option<Value>,
    max: Option<Value>,
    nulls: u64,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Value {
    U32(u32),
    U64(u64),
    F64(f64),
}

impl Value {
    fn less(self, other: Value) -> bool {
        match (self, other) {
            (Value::U32(a), Value::U32(b)) => a < b,
            (Value::U64(a), Value::U64(b)) => a < b,
            (Value::F64(a), Value::F64(b)) => a < b,
            _ => false,
        }
    }
}

impl Observed {
    fn see(&mut self, value: Value) {
        if self.min.is_none_or(|m| value.less(m)) {
            self.min = Some(value);
        }
        if self.max.is_none_or(|m| m.less(value)) {
            self.max = Some(value);
        }
    }
}

/// Recomputes the chunk statistics of a file's numeric columns from its decoded batches
/// (fed in file order) and compares them with its footer.
pub(crate) struct StatsCheck {
    /// First row of each row group, and the end.
    starts: Vec<u64>,
    /// The checked columns: index in the batches and in the Parquet leaves.
    columns: Vec<(usize, usize, String)>,
    /// Per row group, per checked column.
    observed: Vec<Vec<Observed>>,
    row: u64,
}

impl StatsCheck {
    /// A check of the file whose metadata is `metadata` and whose batches have `schema`.
    pub(crate) fn new(metadata: &ParquetMetaData, schema: &arrow_schema::Schema) -> StatsCheck {
        let mut starts = vec![0];
        for group in metadata.row_groups() {
            let last = *starts.last().unwrap_or(&0);
            starts.push(last + u64::try_from(group.num_rows()).unwrap_or(0));
        }
        let leaves = metadata.file_metadata().schema_descr();
        let columns: Vec<(usize, usize, String)> = schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, field)| has_statistics(field.data_type()))
            .filter_map(|(index, field)| {
                let leaf = leaves.columns().iter().position(|c| {
                    let parts = c.path().parts();
                    parts.len() == 1 && parts[0] == *field.name()
                })?;
                Some((index, leaf, field.name().clone()))
            })
            .collect();
        let observed = vec![vec![Observed::default(); columns.len()]; metadata.num_row_groups()];
        StatsCheck { starts, columns, observed, row: 0 }
    }

    /// Takes the next decoded batch into account.
    pub(crate) fn update(&mut self, batch: &RecordBatch) {
        let n = batch.num_rows() as u64;
        let mut offset = 0u64;
        while offset < n {
            let row = self.row + offset;
            // The row group holding `row`, and how many of the batch's rows it holds.
            let Some(group) = self.starts.windows(2).position(|w| w[0] <= row && row < w[1]) else {
                return;
            };
            let take = (self.starts[group + 1] - row).min(n - offset);
            for (slot, &(index, _, _)) in self.columns.iter().enumerate() {
                let array = batch.column(index).slice(offset as usize, take as usize);
                observe(&mut self.observed[group][slot], array.as_ref());
            }
            offset += take;
        }
        self.row += n;
    }

    /// Compares with the footer's statistics; the first difference, named.
    pub(crate) fn finish(&self, metadata: &ParquetMetaData) -> Result<(), String> {
        for (group, observed) in self.observed.iter().enumerate() {
            let Some(meta) = metadata.row_groups().get(group) else { break };
            for (slot, (_, leaf, name)) in self.columns.iter().enumerate() {
                let Some(stats) = meta.column(*leaf).statistics() else { continue };
                let seen = observed[slot];
                if let Some(problem) = compare(stats, &seen) {
                    return Err(format!(
                        "the statistics of column `{name}` in row group {group} do not match its \
                         values: {problem}"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn observe(seen: &mut Observed, array: &dyn Array) {
    seen.nulls += array.null_count() as u64;
    match array.data_type() {
        DataType::UInt32 => array
            .as_primitive::<UInt32Type>()
            .iter()
            .flatten()
            .for_each(|v| seen.see(Value::U32(v))),
        DataType::UInt64 => array
            .as_primitive::<UInt64Type>()
            .iter()
            .flatten()
            .for_each(|v| seen.see(Value::U64(v))),
        DataType::Float64 => array
            .as_primitive::<Float64Type>()
            .iter()
            .flatten()
            .filter(|v| !v.is_nan())
            .for_each(|v| seen.see(Value::F64(v))),
        _ => {}
    }
}

/// Why `stats` does not describe `seen`, if it does not.
fn compare(stats: &Statistics, seen: &Observed) -> Option<String> {
    if let Some(nulls) = stats.null_count_opt()
        && nulls != seen.nulls
    {
        return Some(format!("null count {nulls}, the values have {}", seen.nulls));
    }
    let (min, max) = match stats {
        // Unsigned columns: the footer holds their bits in the signed type.
        Statistics::Int32(s) => {
            (s.min_opt().map(|&v| Value::U32(v as u32)), s.max_opt().map(|&v| Value::U32(v as u32)))
        }
        Statistics::Int64(s) => {
            (s.min_opt().map(|&v| Value::U64(v as u64)), s.max_opt().map(|&v| Value::U64(v as u64)))
        }
        Statistics::Double(s) => {
            (s.min_opt().map(|&v| Value::F64(v)), s.max_opt().map(|&v| Value::F64(v)))
        }
        other => return Some(format!("statistics of physical type {:?}", other.physical_type())),
    };
    // A footer may leave min/max out; what it states must be exact (0.0 and −0.0 are one
    // value to a filter).
    for (what, stated, actual) in [("min", min, seen.min), ("max", max, seen.max)] {
        if let Some(stated) = stated
            && Some(stated) != actual
            && !both_zero(stated, actual)
        {
            return Some(format!("{what} {stated:?}, the values give {actual:?}"));
        }
    }
    None
}

fn both_zero(a: Value, b: Option<Value>) -> bool {
    matches!((a, b), (Value::F64(x), Some(Value::F64(y))) if x == 0.0 && y == 0.0)
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::path::Path;

    use parquet::file::reader::{FileReader, SerializedFileReader};

    use crate::encode::encode;
    use crate::error::StoreError;
    use crate::part::{read_verified, write_part};
    use crate::testutil::{TempDir, sample_row};

    /// Rows whose `lambda` runs from 0.123456789 up: distinctive footer bytes.
    fn write(path: &Path, n: u64) {
        let rows: Vec<_> = (0..n)
            .map(|id| {
                let mut row = sample_row(id, "random");
                row.lambda = Some(0.123_456_789 + id as f64);
                row
            })
            .collect();
        write_part(
            path,
            vec![("lazyrich.schema_version", crate::SCHEMA_VERSION.to_string())],
            [Ok(encode(&rows).unwrap())],
        )
        .unwrap();
    }

    fn verify(path: &Path) -> Result<(), StoreError> {
        read_verified(path, |_| Ok(())).map(|_| ())
    }

    #[test]
    fn only_numeric_scalar_columns_carry_statistics_and_no_page_index_is_written() {
        let dir = TempDir::new("stats-layout");
        let path = dir.path().join("p.parquet");
        write(&path, 20);
        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        let metadata = reader.metadata();
        let group = metadata.row_group(0);
        let mut with = Vec::new();
        for column in group.columns() {
            let path = column.column_path().string();
            assert!(column.offset_index_offset().is_none(), "{path} has an offset index");
            assert!(column.column_index_offset().is_none(), "{path} has a column index");
            if column.statistics().is_some() {
                with.push(column.column_path().string());
            }
        }
        for name in ["point_id", "lambda", "scale", "n_in", "lr"] {
            assert!(with.contains(&name.to_owned()), "{name} has no statistics: {with:?}");
        }
        for name in [
            "status",
            "task_params",
            "widths.list.element",
            "lambdas.list.element",
            "t.list.element",
            "loss.list.element",
        ] {
            assert!(!with.contains(&name.to_owned()), "{name} has statistics");
        }
        verify(&path).unwrap();
    }

    /// A bit flipped in the footer's min or max of `lambda` (a value readers prune by) makes
    /// the file damaged, though every value decodes as written.
    #[test]
    fn a_flipped_statistic_is_damage() {
        let dir = TempDir::new("stats-flip");
        let path = dir.path().join("p.parquet");
        write(&path, 20);
        let original = std::fs::read(&path).unwrap();
        let size = original.len();
        let footer_len =
            u32::from_le_bytes(original[size - 8..size - 4].try_into().unwrap()) as usize;
        let footer = size - 8 - footer_len..size - 8;
        for value in [0.123_456_789_f64, 19.123_456_789] {
            let needle = value.to_le_bytes();
            let at = original[footer.clone()]
                .windows(8)
                .position(|w| w == needle)
                .map(|i| footer.start + i)
                .unwrap_or_else(|| panic!("{value} is not in the footer"));
            for bit in [0u8, 3, 62 - 56] {
                let mut damaged = original.clone();
                damaged[at + 7 - usize::from(bit / 8)] ^= 1 << (bit % 8);
                std::fs::write(&path, &damaged).unwrap();
                match verify(&path) {
                    Err(StoreError::Damaged { reason, .. }) => {
                        assert!(reason.contains("statistics of column `lambda`"), "{reason}")
                    }
                    other => panic!("flip of bit {bit} of {value}: {other:?}"),
                }
            }
        }
        std::fs::write(&path, &original).unwrap();
        verify(&path).unwrap();
    }
}
