//! One Parquet part file: writing it (synced, removed again on failure, with its content
//! checksum in the footer) and reading it back, optionally verified against that checksum.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::arrow_writer::ArrowWriter;
use parquet::file::metadata::KeyValue;

use crate::SCHEMA_VERSION;
use crate::checksum::{Checksum, KEY_CONTENT_ROWS, KEY_CONTENT_XXH3};
use crate::durable::remove_if_exists;
use crate::error::StoreError;
use crate::row::PointRow;
use crate::schema::{KEY_SCHEMA_VERSION, check_schema, points_schema, writer_properties};
use crate::stats::StatsCheck;

/// Rows per batch when reading.
const READ_BATCH_ROWS: usize = 8192;

/// A part file being written at a temporary location. Dropped unfinished (an error on the way),
/// it removes its file.
pub(crate) struct PartSink {
    path: PathBuf,
    writer: Option<ArrowWriter<File>>,
    /// The footer pairs given at creation: the checksum covers them.
    footer: BTreeMap<String, String>,
    checksum: Checksum,
}

impl PartSink {
    /// Creates the file at `path` with `metadata` for its footer.
    pub(crate) fn create(
        path: &Path,
        metadata: Vec<(&'static str, String)>,
    ) -> Result<Self, StoreError> {
        let footer = metadata.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let checksum = Checksum::new(&points_schema(), &[])
            .map_err(|reason| StoreError::bad_file(path, reason))?;
        let properties =
            writer_properties(metadata).map_err(|e| StoreError::parquet("configure", path, e))?;
        let file = File::create(path).map_err(|e| StoreError::io("create", path, e))?;
        match ArrowWriter::try_new(file, points_schema(), Some(properties)) {
            Ok(writer) => {
                Ok(Self { path: path.to_owned(), writer: Some(writer), footer, checksum })
            }
            Err(e) => {
                let _ = remove_if_exists(path);
                Err(StoreError::parquet("write", path, e))
            }
        }
    }

    /// Appends a batch of [`points_schema`].
    pub(crate) fn write(&mut self, batch: &RecordBatch) -> Result<(), StoreError> {
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        self.checksum.update(batch).map_err(|reason| StoreError::bad_file(&self.path, reason))?;
        writer.write(batch).map_err(|e| StoreError::parquet("write", &self.path, e))
    }

    /// Appends the content checksum to the footer, writes the footer and fsyncs the file;
    /// returns the number of rows.
    pub(crate) fn finish(mut self) -> Result<u64, StoreError> {
        let digest = self.checksum.finish(&self.footer);
        let Some(mut writer) = self.writer.take() else { return Ok(digest.n_rows) };
        writer.append_key_value_metadata(KeyValue::new(KEY_CONTENT_XXH3.to_owned(), digest.hex()));
        writer.append_key_value_metadata(KeyValue::new(
            KEY_CONTENT_ROWS.to_owned(),
            digest.n_rows.to_string(),
        ));
        let finished = writer
            .into_inner()
            .map_err(|e| StoreError::parquet("write", &self.path, e))
            .and_then(|file| file.sync_all().map_err(|e| StoreError::io("sync", &self.path, e)));
        if let Err(e) = finished {
            // Best effort: the write error is the one to report.
            let _ = remove_if_exists(&self.path);
            return Err(e);
        }
        Ok(digest.n_rows)
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

/// The size of `rows` as one part file (zstd Parquet, the writer's settings, an empty footer):
/// for size estimates. Nothing is written to disk.
pub fn encoded_size(rows: &[PointRow]) -> Result<u64, StoreError> {
    let here = Path::new("<memory>");
    let batch =
        crate::encode::encode(rows).map_err(|e| StoreError::bad_file(here, e.to_string()))?;
    let properties =
        writer_properties(Vec::new()).map_err(|e| StoreError::parquet("configure", here, e))?;
    let mut writer = ArrowWriter::try_new(Vec::new(), points_schema(), Some(properties))
        .map_err(|e| StoreError::parquet("write", here, e))?;
    writer.write(&batch).map_err(|e| StoreError::parquet("write", here, e))?;
    let bytes = writer.into_inner().map_err(|e| StoreError::parquet("write", here, e))?;
    Ok(bytes.len() as u64)
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
    footer_of(&builder(path)?, path)
}

fn footer_of(
    builder: &ParquetRecordBatchReaderBuilder<File>,
    path: &Path,
) -> Result<Footer, StoreError> {
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

/// Reads every batch of the part file at `path` (all columns) and verifies it: the footer's
/// schema version, the exact schema, and the content checksum and row count the footer records,
/// recomputed from the decoded batches. `each` sees every batch as it is decoded (before the
/// verdict: a caller discards what it collected when this fails). Returns the footer.
///
/// A file that cannot be decoded or does not match its checksum is [`StoreError::Damaged`]; a
/// file that cannot be opened is [`StoreError::Io`], one of another schema version
/// [`StoreError::SchemaVersion`]. Errors of `each` are returned as they are.
pub(crate) fn read_verified(
    path: &Path,
    mut each: impl FnMut(&RecordBatch) -> Result<(), StoreError>,
) -> Result<Footer, StoreError> {
    let damaged = |reason: String| StoreError::Damaged { path: path.to_owned(), reason };
    let file = File::open(path).map_err(|e| StoreError::io("open", path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|e| damaged(format!("unreadable Parquet metadata: {e}")))?
        .with_batch_size(READ_BATCH_ROWS);
    match check_footer_version(&builder, path) {
        Err(StoreError::BadFile { reason, .. }) => return Err(damaged(reason)),
        other => other?,
    }
    check_schema(builder.schema()).map_err(damaged)?;
    let footer = footer_of(&builder, path).map_err(|e| damaged(e.to_string()))?;
    let Some(recorded) = footer.metadata.get(KEY_CONTENT_XXH3) else {
        return Err(damaged(format!(
            "no content checksum (footer key {KEY_CONTENT_XXH3}): not written by this version \
             of lazyrich"
        )));
    };
    let recorded = u64::from_str_radix(recorded, 16)
        .ok()
        .filter(|_| recorded.len() == 16)
        .ok_or_else(|| damaged(format!("footer key {KEY_CONTENT_XXH3} is '{recorded}'")))?;
    let rows = footer.metadata.get(KEY_CONTENT_ROWS).map(String::as_str).unwrap_or("");
    let rows: u64 =
        rows.parse().map_err(|_| damaged(format!("footer key {KEY_CONTENT_ROWS} is '{rows}'")))?;
    if rows != footer.n_rows {
        return Err(damaged(format!(
            "the footer records {rows} rows under its checksum and {} in its metadata",
            footer.n_rows
        )));
    }
    let mut checksum = Checksum::new(&points_schema(), &[]).map_err(damaged)?;
    let metadata = std::sync::Arc::clone(builder.metadata());
    let mut statistics = StatsCheck::new(&metadata, builder.schema());
    let reader = builder.build().map_err(|e| damaged(e.to_string()))?;
    for batch in reader {
        let batch = batch.map_err(|e| damaged(e.to_string()))?;
        checksum.update(&batch).map_err(damaged)?;
        statistics.update(&batch);
        each(&batch)?;
    }
    let digest = checksum.finish(&footer.metadata);
    if digest.n_rows != rows {
        return Err(damaged(format!("{} rows decoded, the footer records {rows}", digest.n_rows)));
    }
    if digest.xxh3 != recorded {
        return Err(damaged(format!(
            "content checksum mismatch: the footer records {recorded:016x}, the decoded content \
             hashes to {}",
            digest.hex()
        )));
    }
    statistics.finish(&metadata).map_err(damaged)?;
    Ok(footer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode;
    use crate::testutil::{TempDir, column_chunks, flip_bytes, sample_row};

    fn write_sample(path: &Path, n: u64) {
        let rows: Vec<_> = (0..n).map(|id| sample_row(id, "random")).collect();
        let footer = vec![
            ("lazyrich.shard", "0/1".to_owned()),
            (KEY_SCHEMA_VERSION, SCHEMA_VERSION.to_string()),
        ];
        write_part(path, footer, [Ok(encode(&rows).unwrap())]).unwrap();
    }

    fn verify(path: &Path) -> Result<u64, StoreError> {
        let mut rows = 0;
        read_verified(path, |batch| {
            rows += batch.num_rows() as u64;
            Ok(())
        })?;
        Ok(rows)
    }

    #[test]
    fn a_written_part_carries_its_checksum_and_verifies() {
        let dir = TempDir::new("part-verify");
        let path = dir.path().join("a.parquet");
        write_sample(&path, 12);
        let footer = read_footer(&path).unwrap();
        assert_eq!(footer.metadata[KEY_CONTENT_ROWS], "12");
        assert_eq!(footer.metadata[KEY_CONTENT_XXH3].len(), 16);
        assert_eq!(verify(&path).unwrap(), 12);
    }

    /// The reproduction of the issue: 64 flipped bytes inside a part file went unnoticed. Flips
    /// in the pages of any column are now detected, as undecodable or as a checksum mismatch.
    #[test]
    fn flipped_bytes_in_any_column_chunk_are_detected() {
        let dir = TempDir::new("part-flip");
        let clean = dir.path().join("clean.parquet");
        write_sample(&clean, 40);
        let chunks = column_chunks(&clean);
        assert!(chunks.len() > 50, "{chunks:?}");
        for (column, start, len) in chunks {
            let path = dir.path().join("flipped.parquet");
            std::fs::copy(&clean, &path).unwrap();
            let offset = start + len.saturating_sub(64) / 2;
            flip_bytes(&path, offset, 64.min(len));
            match verify(&path) {
                Err(StoreError::Damaged { path: p, reason }) => {
                    assert_eq!(p, path, "{column}: {reason}");
                }
                other => panic!("{column}: 64 flipped bytes at {offset}: {other:?}"),
            }
        }
    }

    /// A file that decodes fine but whose values differ from those its checksum covers (the
    /// case the flips above may or may not hit): a tampered copy with the original footer.
    #[test]
    fn altered_values_under_the_original_footer_are_a_checksum_mismatch() {
        let dir = TempDir::new("part-tamper");
        let path = dir.path().join("a.parquet");
        write_sample(&path, 3);
        let footer = read_footer(&path).unwrap();
        let mut rows: Vec<_> = (0..3).map(|id| sample_row(id, "random")).collect();
        rows[1].final_loss = Some(0.5);
        let key_values = footer
            .metadata
            .iter()
            .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone()))
            .collect();
        let properties = parquet::file::properties::WriterProperties::builder()
            .set_key_value_metadata(Some(key_values))
            .build();
        let file = File::create(&path).unwrap();
        let mut writer = ArrowWriter::try_new(file, points_schema(), Some(properties)).unwrap();
        writer.write(&encode(&rows).unwrap()).unwrap();
        writer.close().unwrap();
        let err = verify(&path).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "{} is damaged: content checksum mismatch: the footer records {}, the decoded \
                 content hashes to ",
                path.display(),
                footer.metadata[KEY_CONTENT_XXH3]
            )),
            "{err}"
        );
        // Without the checksum keys, the file cannot be verified: damaged as well.
        let file = File::create(&path).unwrap();
        let properties = parquet::file::properties::WriterProperties::builder().build();
        let mut writer = ArrowWriter::try_new(file, points_schema(), Some(properties)).unwrap();
        writer.write(&encode(&rows).unwrap()).unwrap();
        writer.close().unwrap();
        assert_eq!(
            verify(&path).unwrap_err().to_string(),
            format!(
                "{} is damaged: no content checksum (footer key lazyrich.content_xxh3): not \
                 written by this version of lazyrich",
                path.display()
            )
        );
        // A missing file is not damage: it is an error to open it.
        let missing = dir.path().join("missing.parquet");
        assert!(matches!(verify(&missing), Err(StoreError::Io { action: "open", .. })));
    }

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
