//! One Parquet part file: writing it (synced, removed again on failure) and reading it back.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriter;

use crate::SCHEMA_VERSION;
use crate::durable::remove_if_exists;
use crate::error::StoreError;
use crate::schema::{KEY_SCHEMA_VERSION, check_schema, points_schema, writer_properties};

/// Rows per batch when reading.
const READ_BATCH_ROWS: usize = 8192;

/// A part file being written at a temporary location. Dropped unfinished (an error on the way),
/// it removes its file.
pub(crate) struct PartSink {
    path: PathBuf,
    writer: Option<ArrowWriter<File>>,
    n_rows: u64,
}

impl PartSink {
    /// Creates the file at `path` with `metadata` for its footer.
    pub(crate) fn create(
        path: &Path,
        metadata: Vec<(&'static str, String)>,
    ) -> Result<Self, StoreError> {
        let properties =
            writer_properties(metadata).map_err(|e| StoreError::parquet("configure", path, e))?;
        let file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
        match ArrowWriter::try_new(file, points_schema(), Some(properties)) {
            Ok(writer) => Ok(Self { path: path.to_owned(), writer: Some(writer), n_rows: 0 }),
            Err(e) => {
                let _ = remove_if_exists(path);
                Err(StoreError::parquet("write", path, e))
            }
        }
    }

    /// Appends a batch of [`points_schema`].
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        writer.write(batch).map_err(|e| StoreError::parquet("write", &self.path, e))?;
        self.n_rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Writes the footer and fsyncs the file; returns the number of rows.
    pub(crate) fn finish(mut self) -> Result<u64, StoreError> {
        let Some(writer) = self.writer.take() else { return Ok(self.n_rows) };
        let finished = writer
            .into_inner()
            .map_err(|e| StoreError::parquet("write", &self.path, e))
            .and_then(|file| file.sync_all().map_err(|e| StoreError::io("sync", &self.path, e)));
        if let Err(e) = finished {
            // Best effort: the write error is the one to report.
            let _ = remove_if_exists(&self.path);
            return Err(e);
        }
        Ok(self.n_rows)
    }
}

impl Drop for PartSink {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = remove_if_exists(&self.path);
        }
    }
}

/// Writes a part file at `path` (a temporary location) from `batches`, with `metadata` in the
/// footer, and fsyncs it. On failure the partial file is removed. Returns the number of rows.
pub(crate) fn write_part<I>(
    path: &Path,
    metadata: Vec<(&'static str, String)>,
    batches: I,
) -> Result<u64, StoreError>
where
    I: IntoIterator<Item = Result<RecordBatch, StoreError>>,
{
    let mut sink = PartSink::create(path, metadata)?;
    for batch in batches {
        sink.write(&batch?)?;
    }
    sink.finish()
}

/// Footer of a part file: its key-value metadata and row count.
#[derive(Debug)]
pub(crate) struct Footer {
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) n_rows: u64,
}

fn builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, StoreError> {
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| StoreError::parquet("read", path, e))
}

/// Reads the footer of the part file at `path`.
pub(crate) fn read_footer(path: &Path) -> Result<Footer, StoreError> {
    let builder = builder(path)?;
    let file_metadata = builder.metadata().file_metadata();
    let metadata = file_metadata
        .key_value_metadata()
        .into_iter()
        .flatten()
        .filter_map(|kv| kv.value.as_ref().map(|v| (kv.key.clone(), v.clone())))
        .collect();
    let n_rows = u64::try_from(file_metadata.num_rows())
        .map_err(|_| StoreError::bad_file(path, "negative row count"))?;
    Ok(Footer { metadata, n_rows })
}

/// Refuses a file whose footer records a schema version other than [`SCHEMA_VERSION`] (a file
/// without the key is left to the schema check).
fn check_footer_version(
    builder: &ParquetRecordBatchReaderBuilder<File>,
    path: &Path,
) -> Result<(), StoreError> {
    let metadata = builder.metadata().file_metadata().key_value_metadata();
    let Some(version) = metadata
        .into_iter()
        .flatten()
        .find(|kv| kv.key == KEY_SCHEMA_VERSION)
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(());
    };
    match version.trim().parse::<u32>() {
        Ok(found) if found == SCHEMA_VERSION => Ok(()),
        Ok(found) => Err(StoreError::SchemaVersion {
            path: path.to_owned(),
            found,
            expected: SCHEMA_VERSION,
        }),
        Err(_) => Err(StoreError::bad_file(
            path,
            format!("footer key {KEY_SCHEMA_VERSION} is '{version}', not a version number"),
        )),
    }
}

/// Calls `each` with every batch of the part file at `path`, restricted to `columns` (all when
/// `None`). The footer's schema version, when present, must be [`SCHEMA_VERSION`]; with all
/// columns, the file's schema must be exactly [`points_schema`].
pub(crate) fn read_batches(
    path: &Path,
    columns: Option<&[&str]>,
    mut each: impl FnMut(&RecordBatch) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let mut builder = builder(path)?.with_batch_size(READ_BATCH_ROWS);
    check_footer_version(&builder, path)?;
    match columns {
        Some(columns) => {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder = builder.with_projection(mask);
        }
        None => {
            check_schema(builder.schema()).map_err(|reason| StoreError::bad_file(path, reason))?
        }
    }
    let reader = builder.build().map_err(|e| StoreError::parquet("read", path, e))?;
    for batch in reader {
        let batch = batch.map_err(|e| StoreError::arrow("read", path, e))?;
        each(&batch)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode;
    use crate::testutil::{TempDir, sample_row};

    #[test]
    fn a_written_part_reads_back_with_its_footer() {
        let dir = TempDir::new("part");
        let path = dir.path().join("a.parquet");
        let batch = encode(&[sample_row(1, "random"), sample_row(2, "random")]).unwrap();
        let n = write_part(&path, vec![("lazyrich.shard", "0/1".into())], [Ok(batch)]).unwrap();
        assert_eq!(n, 2);
        let footer = read_footer(&path).unwrap();
        assert_eq!(footer.n_rows, 2);
        assert_eq!(footer.metadata.get("lazyrich.shard").map(String::as_str), Some("0/1"));
        let mut ids: Vec<u64> = Vec::new();
        read_batches(&path, Some(&["point_id"]), |batch| {
            assert_eq!(batch.num_columns(), 1);
            ids.extend(crate::decode::Columns::new(batch, &path).u64("point_id")?.values().iter());
            Ok(())
        })
        .unwrap();
        assert_eq!(ids.len(), 2);
    }

    #[test]
    fn a_failed_write_removes_its_file() {
        let dir = TempDir::new("part-fail");
        let path = dir.path().join("a.parquet");
        let failing = [Err(StoreError::InvalidOptions { reason: "boom".into() })];
        let err = write_part(&path, vec![], failing).unwrap_err();
        assert_eq!(err.to_string(), "invalid options: boom");
        assert!(!path.exists());
    }

    #[test]
    fn a_truncated_file_is_an_error_naming_it() {
        let dir = TempDir::new("part-trunc");
        let path = dir.path().join("a.parquet");
        std::fs::write(&path, b"PAR1garbage").unwrap();
        let err = read_footer(&path).unwrap_err().to_string();
        assert!(err.starts_with(&format!("failed to read {}", path.display())), "{err}");
    }
}
