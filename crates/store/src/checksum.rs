//! The content checksum of a part file: xxh3-64 over a canonical encoding of the decoded values.
//!
//! The writer computes it from the batches it writes and appends it to the footer
//! ([`KEY_CONTENT_XXH3`], with the row count in [`KEY_CONTENT_ROWS`]); a verifier recomputes it
//! from the batches it decodes. The encoding depends only on the decoded values, in row order,
//! never on how they are split into batches, row groups or pages, nor on dictionary keys, so a
//! file read back in batches of any size hashes as it was written.
//!
//! Encoding (`docs/dataset.md`, "Integrity"): every column is a tree of nodes (a list column has
//! a child node for its items). A node hashes three streams with xxh3-64: *validity*, one byte
//! per value (1 valid, 0 null); *values*, for each valid value its little-endian bytes (u32,
//! u64, f64 bits), or its length (u64) and UTF-8 bytes (strings, dictionary strings decoded), or
//! its length (u64, lists); and its child node over the items of the valid lists. The checksum
//! is xxh3-64 of `lazyrich-content-v1`, the row count (u64), every footer key-value pair whose
//! key starts with `lazyrich.` except the checksum keys (sorted by key; length-prefixed), and for each column its name and the digests of
//! its node tree (u64 each, depth first).

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray, RecordBatch};
use arrow_schema::DataType;
use xxhash_rust::xxh3::Xxh3Default;

pub(crate) use crate::schema::{KEY_CONTENT_ROWS, KEY_CONTENT_XXH3};

/// Version tag hashed first: changing the encoding changes it.
const TAG: &[u8] = b"lazyrich-content-v1";

/// The hash state of one column (or list item) node.
struct Node {
    validity: Xxh3Default,
    values: Xxh3Default,
    child: Option<Box<Node>>,
}

fn hash_len(hasher: &mut Xxh3Default, len: usize) {
    hasher.update(&(len as u64).to_le_bytes());
}

fn hash_str(hasher: &mut Xxh3Default, bytes: &[u8]) {
    hash_len(hasher, bytes.len());
    hasher.update(bytes);
}

impl Node {
    fn for_type(data_type: &DataType) -> Result<Node, String> {
        let child = match data_type {
            DataType::UInt32 | DataType::UInt64 | DataType::Float64 | DataType::Utf8 => None,
            DataType::Dictionary(key, value)
                if **key == DataType::Int32 && **value == DataType::Utf8 =>
            {
                None
            }
            DataType::List(item) => Some(Box::new(Node::for_type(item.data_type())?)),
            other => return Err(format!("cannot checksum a column of type {other}")),
        };
        Ok(Node { validity: Xxh3Default::new(), values: Xxh3Default::new(), child })
    }

    fn update(&mut self, array: &dyn Array) -> Result<(), String> {
        let nulls = array.logical_nulls();
        let valid = |i: usize| nulls.as_ref().is_none_or(|n| n.is_valid(i));
        let n = array.len();
        match &nulls {
            None => {
                const ONES: [u8; 1024] = [1; 1024];
                let mut left = n;
                while left > 0 {
                    let chunk = left.min(ONES.len());
                    self.validity.update(&ONES[..chunk]);
                    left -= chunk;
                }
            }
            Some(nulls) => {
                let bytes: Vec<u8> = (0..n).map(|i| u8::from(nulls.is_valid(i))).collect();
                self.validity.update(&bytes);
            }
        }
        let all_valid = nulls.is_none();
        match array.data_type() {
            DataType::UInt32 => self.primitive::<UInt32Type>(array, all_valid, &valid)?,
            DataType::UInt64 => self.primitive::<UInt64Type>(array, all_valid, &valid)?,
            DataType::Float64 => self.primitive::<Float64Type>(array, all_valid, &valid)?,
            DataType::Utf8 => {
                let strings = array.as_string_opt::<i32>().ok_or("not a utf8 array")?;
                let mut bytes = Vec::new();
                for i in (0..n).filter(|&i| valid(i)) {
                    let s = strings.value(i).as_bytes();
                    bytes.extend_from_slice(&(s.len() as u64).to_le_bytes());
                    bytes.extend_from_slice(s);
                }
                self.values.update(&bytes);
            }
            DataType::Dictionary(_, _) => {
                let dict = array
                    .as_dictionary_opt::<Int32Type>()
                    .ok_or("not a dictionary array with i32 keys")?;
                let strings =
                    dict.values().as_string_opt::<i32>().ok_or("dictionary values are not utf8")?;
                let mut bytes = Vec::new();
                for i in (0..n).filter(|&i| valid(i)) {
                    let key = usize::try_from(dict.keys().value(i))
                        .ok()
                        .filter(|&k| k < strings.len())
                        .ok_or_else(|| format!("dictionary key out of range at row {i}"))?;
                    let s = strings.value(key).as_bytes();
                    bytes.extend_from_slice(&(s.len() as u64).to_le_bytes());
                    bytes.extend_from_slice(s);
                }
                self.values.update(&bytes);
            }
            DataType::List(_) => {
                let list = array.as_list_opt::<i32>().ok_or("not a list array")?;
                let child = self.child.as_mut().ok_or("list without an item node")?;
                let offsets = list.value_offsets();
                let range = |i: usize| -> Result<(usize, usize), String> {
                    let start = usize::try_from(offsets[i]).map_err(|_| "negative list offset")?;
                    let end =
                        usize::try_from(offsets[i + 1]).map_err(|_| "negative list offset")?;
                    if end < start || end > list.values().len() {
                        return Err(format!("list offsets out of range at row {i}"));
                    }
                    Ok((start, end))
                };
                let mut lengths = Vec::with_capacity(n * 8);
                // Items of consecutive valid lists are contiguous: hash them as one run.
                let mut run: Option<(usize, usize)> = None;
                for i in (0..n).filter(|&i| valid(i)) {
                    let (start, end) = range(i)?;
                    lengths.extend_from_slice(&((end - start) as u64).to_le_bytes());
                    run = match run {
                        Some((run_start, run_end)) if run_end == start => Some((run_start, end)),
                        Some((run_start, run_end)) => {
                            child.update(
                                list.values().slice(run_start, run_end - run_start).as_ref(),
                            )?;
                            Some((start, end))
                        }
                        None => Some((start, end)),
                    };
                }
                if let Some((run_start, run_end)) = run {
                    child.update(list.values().slice(run_start, run_end - run_start).as_ref())?;
                }
                self.values.update(&lengths);
            }
            other => return Err(format!("cannot checksum a column of type {other}")),
        }
        Ok(())
    }

    fn primitive<T>(
        &mut self,
        array: &dyn Array,
        all_valid: bool,
        valid: &dyn Fn(usize) -> bool,
    ) -> Result<(), String>
    where
        T: ArrowPrimitiveType,
        T::Native: LeBytes,
    {
        let values: &PrimitiveArray<T> =
            array.as_primitive_opt::<T>().ok_or("primitive array of another type")?;
        if all_valid && cfg!(target_endian = "little") {
            self.values.update(values.values().inner().as_slice());
        } else {
            let mut bytes = Vec::with_capacity(values.len() * size_of::<T::Native>());
            for i in (0..values.len()).filter(|&i| valid(i)) {
                values.value(i).extend_le(&mut bytes);
            }
            self.values.update(&bytes);
        }
        Ok(())
    }

    /// The digests of the node tree, depth first.
    fn digests(&self, out: &mut Xxh3Default) {
        out.update(&self.validity.digest().to_le_bytes());
        out.update(&self.values.digest().to_le_bytes());
        if let Some(child) = &self.child {
            child.digests(out);
        }
    }
}

/// Little-endian bytes of a primitive value.
trait LeBytes {
    fn extend_le(self, out: &mut Vec<u8>);
}

impl LeBytes for u32 {
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl LeBytes for u64 {
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl LeBytes for f64 {
    fn extend_le(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bits().to_le_bytes());
    }
}

/// A checksum being computed over batches of one schema.
pub(crate) struct Checksum {
    names: Vec<String>,
    columns: Vec<Node>,
    n_rows: u64,
}

/// A finished checksum: the digest and the number of rows it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Digest {
    pub(crate) xxh3: u64,
    pub(crate) n_rows: u64,
}

impl Digest {
    /// The footer spelling of the digest: 16 lowercase hex digits.
    pub(crate) fn hex(&self) -> String {
        format!("{:016x}", self.xxh3)
    }
}

impl Checksum {
    /// A checksum over the columns of `schema` (in order) except those named in `skip`.
    pub(crate) fn new(schema: &arrow_schema::Schema, skip: &[&str]) -> Result<Checksum, String> {
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for field in schema.fields().iter().filter(|f| !skip.contains(&f.name().as_str())) {
            names.push(field.name().clone());
            columns.push(
                Node::for_type(field.data_type())
                    .map_err(|reason| format!("column `{}`: {reason}", field.name()))?,
            );
        }
        Ok(Checksum { names, columns, n_rows: 0 })
    }

    /// Adds the rows of `batch`, whose columns must be those given to [`Checksum::new`] (a batch
    /// may have more columns: those are ignored).
    pub(crate) fn update(&mut self, batch: &RecordBatch) -> Result<(), String> {
        for (name, node) in self.names.iter().zip(&mut self.columns) {
            let column =
                batch.column_by_name(name).ok_or_else(|| format!("column `{name}` is missing"))?;
            node.update(column.as_ref()).map_err(|reason| format!("column `{name}`: {reason}"))?;
        }
        self.n_rows += batch.num_rows() as u64;
        Ok(())
    }

    /// The digest of everything added, with the `lazyrich.*` pairs of `footer` (the checksum
    /// keys themselves left out; other keys, such as the Arrow schema parquet-rs stores, too).
    pub(crate) fn finish(&self, footer: &BTreeMap<String, String>) -> Digest {
        let mut out = Xxh3Default::new();
        out.update(TAG);
        out.update(&self.n_rows.to_le_bytes());
        let pairs =
            footer.iter().filter(|(k, _)| k.starts_with("lazyrich.") && !is_checksum_key(k));
        hash_len(&mut out, pairs.clone().count());
        for (key, value) in pairs {
            hash_str(&mut out, key.as_bytes());
            hash_str(&mut out, value.as_bytes());
        }
        for (name, node) in self.names.iter().zip(&self.columns) {
            hash_str(&mut out, name.as_bytes());
            node.digests(&mut out);
        }
        Digest { xxh3: out.digest(), n_rows: self.n_rows }
    }
}

/// The digest of every column of row `row` of `batch` except those named in `skip`, by column
/// name in batch order: two rows are equal (bitwise, nulls included) where every digest is.
pub(crate) fn row_digests(
    batch: &RecordBatch,
    row: usize,
    skip: &[&str],
) -> Result<Vec<(String, u64)>, String> {
    let mut digests = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if skip.contains(&field.name().as_str()) {
            continue;
        }
        let mut node = Node::for_type(field.data_type())
            .map_err(|reason| format!("column `{}`: {reason}", field.name()))?;
        node.update(column.slice(row, 1).as_ref())
            .map_err(|reason| format!("column `{}`: {reason}", field.name()))?;
        let mut out = Xxh3Default::new();
        node.digests(&mut out);
        digests.push((field.name().clone(), out.digest()));
    }
    Ok(digests)
}

/// Whether `key` is one of the footer keys the checksum records (and therefore leaves out).
pub(crate) fn is_checksum_key(key: &str) -> bool {
    key == KEY_CONTENT_XXH3 || key == KEY_CONTENT_ROWS
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::encode;
    use crate::schema::points_schema;
    use crate::testutil::sample_row;

    fn digest(batches: &[RecordBatch]) -> Digest {
        let mut checksum = Checksum::new(&points_schema(), &[]).unwrap();
        for batch in batches {
            checksum.update(batch).unwrap();
        }
        checksum.finish(&BTreeMap::new())
    }

    #[test]
    fn batch_boundaries_do_not_change_the_digest() {
        let rows: Vec<_> = (0..9).map(|id| sample_row(id, "random")).collect();
        let whole = encode(&rows).unwrap();
        let split = [
            encode(&rows[..2]).unwrap(),
            encode(&rows[2..7]).unwrap(),
            encode(&rows[7..]).unwrap(),
        ];
        let sliced = [whole.slice(0, 4), whole.slice(4, 0), whole.slice(4, 5)];
        assert_eq!(digest(std::slice::from_ref(&whole)), digest(&split));
        assert_eq!(digest(&[whole]), digest(&sliced));
        assert_eq!(digest(&split).n_rows, 9);
    }

    #[test]
    fn any_changed_value_changes_the_digest() {
        let rows: Vec<_> = (0..4).map(|id| sample_row(id, "random")).collect();
        let base = digest(&[encode(&rows).unwrap()]);
        let changes: [fn(&mut crate::row::PointRow); 7] = [
            |r| r.lambda = Some(0.0),           // −0.0 → +0.0: bits differ
            |r| r.lambda = None,                // value → null
            |r| r.loss[1] = f64::MAX,           // one list item
            |r| r.singular_values[1].push(0.0), // nested list length
            |r| r.status = "ok ".into(),        // dictionary string
            |r| r.error = Some(String::new()),  // null → empty string
            |r| r.phase_t_half[1] = Some(0.0),  // null list item
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut changed = rows.clone();
            change(&mut changed[0]);
            assert_ne!(digest(&[encode(&changed).unwrap()]), base, "change {i}");
        }
        // Moving items between adjacent lists changes it too.
        let mut moved = rows.clone();
        let item = moved[0].qqt_t.pop().unwrap();
        moved[1].qqt_t.insert(0, item);
        assert_ne!(digest(&[encode(&moved).unwrap()]), base);
        // The footer pairs count; the checksum keys themselves do not.
        let mut checksum = Checksum::new(&points_schema(), &[]).unwrap();
        checksum.update(&encode(&rows).unwrap()).unwrap();
        let mut footer = BTreeMap::new();
        footer.insert(KEY_CONTENT_XXH3.to_owned(), "x".to_owned());
        assert_eq!(checksum.finish(&footer), base);
        footer.insert("lazyrich.shard".to_owned(), "0/1".to_owned());
        assert_ne!(checksum.finish(&footer), base);
    }

    #[test]
    fn row_digests_compare_rows_bitwise_except_the_skipped_columns() {
        let mut rows: Vec<_> = (0..2).map(|_| sample_row(4, "random")).collect();
        rows[1].wall_time_s = 99.0;
        rows[1].shard = "1/2".into();
        let batch = encode(&rows).unwrap();
        let skip = ["wall_time_s", "shard"];
        let digests = |batch: &RecordBatch, row| row_digests(batch, row, &skip).unwrap();
        assert_eq!(digests(&batch, 0), digests(&batch, 1));
        assert_eq!(digests(&batch, 0).len(), points_schema().fields().len() - 2);
        rows[1].lambda = Some(0.0); // −0.0 in row 0
        let batch = encode(&rows).unwrap();
        let (a, b) = (digests(&batch, 0), digests(&batch, 1));
        let differing: Vec<&str> =
            a.iter().zip(&b).filter(|(x, y)| x != y).map(|(x, _)| x.0.as_str()).collect();
        assert_eq!(differing, ["lambda"]);
    }
}
