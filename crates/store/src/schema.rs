//! The Arrow schema of the `points` table, the footer keys and the Parquet writer settings.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowSchemaConverter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

/// Footer key: the spec text as given.
pub(crate) const KEY_SPEC_TEXT: &str = "lazyrich.spec_text";
/// Footer key: the spec hash.
pub(crate) const KEY_SPEC_HASH: &str = "lazyrich.spec_hash";
/// Footer key: the shard ("k/N"; a merged file lists its shards separated by commas).
pub(crate) const KEY_SHARD: &str = "lazyrich.shard";
/// Footer key: the schema version.
pub(crate) const KEY_SCHEMA_VERSION: &str = "lazyrich.schema_version";
/// Footer key: when the file was written (UTC RFC 3339).
pub(crate) const KEY_CREATED: &str = "lazyrich.created";
/// Footer key: the lazyrich version.
pub(crate) const KEY_LAZYRICH_VERSION: &str = "lazyrich.lazyrich_version";
/// Footer key: the git commit.
pub(crate) const KEY_GIT_COMMIT: &str = "lazyrich.git_commit";

/// Footer key: the content checksum (`checksum.rs`), 16 lowercase hex digits.
pub(crate) const KEY_CONTENT_XXH3: &str = "lazyrich.content_xxh3";
/// Footer key: the number of rows the content checksum covers.
pub(crate) const KEY_CONTENT_ROWS: &str = "lazyrich.content_rows";

/// The key-value metadata keys in the footer of every part file.
pub const FOOTER_KEYS: [&str; 9] = [
    KEY_SPEC_TEXT,
    KEY_SPEC_HASH,
    KEY_SHARD,
    KEY_SCHEMA_VERSION,
    KEY_CREATED,
    KEY_LAZYRICH_VERSION,
    KEY_GIT_COMMIT,
    KEY_CONTENT_XXH3,
    KEY_CONTENT_ROWS,
];

/// Largest number of rows in one row group.
const ROW_GROUP_MAX_ROWS: usize = 128 * 1024;
/// Largest estimated encoded size of one row group (bounds the writer's memory).
const ROW_GROUP_MAX_BYTES: usize = 128 * 1024 * 1024;

/// Top-level columns whose values rarely repeat: no dictionary page, plain encoding.
/// (The time grids `t`, `qqt_t`, `phase_t_start`, `phase_t_end`, the `phase` indices and
/// `forgetting_formula`, which depends on the tasks only, repeat across points and keep theirs.)
const NO_DICTIONARY: [&str; 17] = [
    "point_id",
    "seed",
    "loss",
    "task_losses",
    "kernel_distance",
    "singular_values",
    "sim_loss",
    "phase_task_losses",
    "phase_t_half",
    "phase_kernel_distance",
    "phase_rep_change_in",
    "phase_rep_change_out",
    "phase_tsc_in",
    "phase_tsc_out",
    "forgetting",
    "qqt",
    "wall_time_s",
];

/// The per-time float series, the bulk of a file with per-time records (the singular values
/// alone are about 85 % of the default record's bytes), byte-stream split: their values change
/// slowly along a point's times, so once the eight bytes of each value are split into eight
/// streams, the sign, exponent and leading mantissa bytes repeat and zstd finds in them what it
/// cannot find in the interleaved bytes (the default record's files 27 % smaller, README
/// "Part-file encoding"). Not the other float columns: one value per point or phase, or a
/// symmetric `QQᵀ` (whose mirrored entries zstd matches as whole values), compress better as
/// plain values.
const SERIES: [&str; 5] = ["loss", "task_losses", "kernel_distance", "singular_values", "sim_loss"];

fn dictionary_utf8() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, false)))
}

fn list_of_nullable(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// The `item` field of `list<f64>` columns.
pub(crate) fn f64_item() -> Arc<Field> {
    Arc::new(Field::new_list_field(DataType::Float64, false))
}

/// The `item` field of `list<f64?>` columns (nullable items).
pub(crate) fn f64_opt_item() -> Arc<Field> {
    Arc::new(Field::new_list_field(DataType::Float64, true))
}

/// The `item` field of `list<u32>` columns.
pub(crate) fn u32_item() -> Arc<Field> {
    Arc::new(Field::new_list_field(DataType::UInt32, false))
}

/// The `item` field of `list<list<f64>>` columns.
pub(crate) fn f64_list_item() -> Arc<Field> {
    Arc::new(Field::new_list_field(list_of(DataType::Float64), false))
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let u64_ = || DataType::UInt64;
    let u32_ = || DataType::UInt32;
    let f64_ = || DataType::Float64;
    let f64_list = || list_of(DataType::Float64);
    let f64_list_list = || list_of(list_of(DataType::Float64));
    let columns: Vec<(&str, DataType, bool)> = vec![
        // identity / provenance
        ("point_id", u64_(), false),
        ("seed", u64_(), false),
        ("block", u32_(), false),
        ("replicate", u32_(), false),
        ("spec_hash", dictionary_utf8(), false),
        ("schema_version", u32_(), false),
        ("lazyrich_version", dictionary_utf8(), false),
        ("git_commit", dictionary_utf8(), false),
        ("shard", dictionary_utf8(), false),
        // parameters
        ("lambda", f64_(), true),
        ("lambdas", f64_list(), false),
        ("lambda_ft", f64_(), true),
        ("scale", f64_(), true),
        ("depth", u32_(), false),
        ("widths", list_of(DataType::UInt32), false),
        ("n_in", u32_(), false),
        ("n_hidden", u32_(), false),
        ("n_out", u32_(), false),
        ("task", dictionary_utf8(), false),
        ("task_params", DataType::Utf8, false),
        ("task_samples", u32_(), true),
        ("n_phases", u32_(), false),
        ("init", dictionary_utf8(), false),
        ("method", dictionary_utf8(), false),
        ("lr", f64_(), true),
        ("dt", f64_(), true),
        // outcome
        ("status", dictionary_utf8(), false),
        ("error", DataType::Utf8, true),
        ("lambda_measured", f64_(), true),
        ("balance_defect", f64_(), true),
        ("balance_entry_defect", f64_(), true),
        // summaries
        ("t_end", f64_(), true),
        ("initial_loss", f64_(), true),
        ("final_loss", f64_(), true),
        ("t90", f64_(), true),
        ("escape_time", f64_(), true),
        ("kernel_distance_end", f64_(), true),
        ("balance_drift", f64_(), true),
        ("tolerance", f64_(), true),
        ("cf_sim_error", f64_(), true),
        ("wall_time_s", f64_(), false),
        // per time
        ("t", f64_list(), false),
        ("phase", list_of(DataType::UInt32), false),
        ("loss", f64_list(), false),
        ("task_losses", f64_list_list(), false),
        ("kernel_distance", f64_list(), false),
        ("singular_values", f64_list_list(), false),
        ("sim_loss", f64_list(), false),
        // per phase
        ("phase_t_start", f64_list(), false),
        ("phase_t_end", f64_list(), false),
        ("phase_task_losses", f64_list_list(), false),
        ("phase_t_half", list_of_nullable(DataType::Float64), false),
        ("phase_kernel_distance", f64_list(), false),
        ("phase_rep_change_in", f64_list(), false),
        ("phase_rep_change_out", f64_list(), false),
        ("phase_tsc_in", f64_list(), false),
        ("phase_tsc_out", f64_list(), false),
        // per phase transition
        ("forgetting", f64_list_list(), false),
        ("forgetting_formula", f64_list_list(), false),
        // checkpoints
        ("qqt_t", f64_list(), false),
        ("qqt", f64_list_list(), false),
    ];
    let fields: Vec<Field> = columns
        .into_iter()
        .map(|(name, data_type, nullable)| Field::new(name, data_type, nullable))
        .collect();
    Arc::new(Schema::new(fields))
});

/// The Arrow schema of the `points` table, as stored in every part file.
pub fn points_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// Writer settings of every part file: zstd, dictionaries for repeating values, the per-time
/// series byte-stream split ([`SERIES`]), chunk statistics of the numeric scalar columns only
/// (verified on read, `stats.rs`), bounded row groups, and `metadata` as footer key-value
/// metadata.
pub(crate) fn writer_properties(
    metadata: Vec<(&'static str, String)>,
) -> Result<WriterProperties, ParquetError> {
    let key_values =
        metadata.into_iter().map(|(key, value)| KeyValue::new(key.to_owned(), value)).collect();
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_dictionary_enabled(true)
        .set_max_row_group_row_count(Some(ROW_GROUP_MAX_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_MAX_BYTES))
        .set_key_value_metadata(Some(key_values));
    let parquet_schema = ArrowSchemaConverter::new().convert(&SCHEMA)?;
    for column in parquet_schema.columns() {
        let path = column.path();
        let Some(root) = path.parts().first() else { continue };
        if NO_DICTIONARY.contains(&root.as_str()) {
            builder = builder.set_column_dictionary_enabled(path.clone(), false);
        }
        if SERIES.contains(&root.as_str()) {
            builder = builder.set_column_encoding(path.clone(), Encoding::BYTE_STREAM_SPLIT);
        }
    }
    Ok(crate::stats::configure(builder, &SCHEMA, &parquet_schema).build())
}

/// Checks that `schema` has exactly the columns and types of [`points_schema`] (metadata aside).
pub(crate) fn check_schema(schema: &Schema) -> Result<(), String> {
    let expected = SCHEMA.fields();
    let found = schema.fields();
    for field in expected {
        match found.find(field.name()) {
            None => return Err(format!("column `{}` is missing", field.name())),
            Some((_, other))
                if other.data_type() != field.data_type()
                    || other.is_nullable() != field.is_nullable() =>
            {
                return Err(format!(
                    "column `{}` is {}{}, expected {}{}",
                    field.name(),
                    describe_type(other.data_type()),
                    if other.is_nullable() { " (nullable)" } else { "" },
                    describe_type(field.data_type()),
                    if field.is_nullable() { " (nullable)" } else { "" },
                ));
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = found.iter().find(|f| expected.find(f.name()).is_none()) {
        return Err(format!("unexpected column `{}`", extra.name()));
    }
    Ok(())
}

/// A short spelling of an Arrow type: `u64`, `f64`, `utf8`, `dict<utf8>`, `list<f64>`, ...
pub(crate) fn describe_type(data_type: &DataType) -> String {
    match data_type {
        DataType::UInt32 => "u32".to_owned(),
        DataType::UInt64 => "u64".to_owned(),
        DataType::Float64 => "f64".to_owned(),
        DataType::Utf8 => "utf8".to_owned(),
        DataType::Dictionary(key, value) if **key == DataType::Int32 => {
            format!("dict<{}>", describe_type(value))
        }
        DataType::List(item) => {
            let nullable = if item.is_nullable() { "?" } else { "" };
            format!("list<{}{nullable}>", describe_type(item.data_type()))
        }
        other => format!("{other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_accepts_itself_and_names_a_wrong_type() {
        assert_eq!(check_schema(&SCHEMA), Ok(()));
        let mut fields: Vec<Field> = SCHEMA.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields[0] = Field::new("point_id", DataType::Int64, false);
        let err = check_schema(&Schema::new(fields.clone())).unwrap_err();
        assert_eq!(err, "column `point_id` is Int64, expected u64");
        fields[0] = SCHEMA.fields()[0].as_ref().clone();
        fields.pop();
        let err = check_schema(&Schema::new(fields)).unwrap_err();
        assert_eq!(err, "column `qqt` is missing");
    }

    #[test]
    fn phase_t_half_has_nullable_items_and_the_other_lists_do_not() {
        let nullable_items: Vec<(&str, String)> = SCHEMA
            .fields()
            .iter()
            .filter(|f| describe_type(f.data_type()).contains('?'))
            .map(|f| (f.name().as_str(), describe_type(f.data_type())))
            .collect();
        assert_eq!(nullable_items, [("phase_t_half", "list<f64?>".to_owned())]);
        let field = SCHEMA.field_with_name("phase_t_half").unwrap();
        assert!(!field.is_nullable());
        // A list<f64> where list<f64?> is expected is reported with both spellings.
        let fields: Vec<Field> = SCHEMA
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                "phase_t_half" => Field::new("phase_t_half", list_of(DataType::Float64), false),
                _ => f.as_ref().clone(),
            })
            .collect();
        let err = check_schema(&Schema::new(fields)).unwrap_err();
        assert_eq!(err, "column `phase_t_half` is list<f64>, expected list<f64?>");
    }

    #[test]
    fn float_series_have_no_dictionary_but_strings_do() {
        let props = writer_properties(vec![]).unwrap();
        let path = |parts: &[&str]| {
            parquet::schema::types::ColumnPath::new(parts.iter().map(|s| (*s).to_owned()).collect())
        };
        assert!(!props.dictionary_enabled(&path(&["loss", "list", "item"])));
        assert!(!props.dictionary_enabled(&path(&[
            "singular_values",
            "list",
            "item",
            "list",
            "item"
        ])));
        assert!(!props.dictionary_enabled(&path(&["phase_t_half", "list", "item"])));
        assert!(!props.dictionary_enabled(&path(&["task_losses", "list", "item", "list", "item"])));
        assert!(props.dictionary_enabled(&path(&["t", "list", "item"])));
        assert!(props.dictionary_enabled(&path(&["phase", "list", "item"])));
        assert!(props.dictionary_enabled(&path(&["phase_t_end", "list", "item"])));
        assert!(props.dictionary_enabled(&path(&["status"])));
    }

    #[test]
    fn the_per_time_series_and_only_they_are_byte_stream_split() {
        let props = writer_properties(vec![]).unwrap();
        let parquet_schema = ArrowSchemaConverter::new().convert(&SCHEMA).unwrap();
        let mut split = Vec::new();
        for column in parquet_schema.columns() {
            let path = column.path();
            let zstd = Compression::ZSTD(ZstdLevel::default());
            assert_eq!(props.compression(path), zstd, "{path}");
            if props.encoding(path) == Some(Encoding::BYTE_STREAM_SPLIT) {
                assert!(!props.dictionary_enabled(path), "{path}");
                split.push(path.string());
            } else {
                assert_eq!(props.encoding(path), None, "{path}");
            }
        }
        assert_eq!(
            split,
            [
                "loss.list.item",
                "task_losses.list.item.list.item",
                "kernel_distance.list.item",
                "singular_values.list.item.list.item",
                "sim_loss.list.item",
            ]
        );
    }
}
