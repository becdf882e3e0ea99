//! The Parquet dataset of a sweep: schema, atomic part files, resume index, merge.
//!
//! A dataset is a directory `OUT`:
//!
//! ```text
//! OUT/_lazyrich/manifest.json   spec name, spec hash, schema version, created (UTC RFC 3339)
//! OUT/_lazyrich/spec.toml       the spec text as given
//! OUT/_lazyrich/tmp/            files being written (never read by users) and writer locks
//! OUT/points/task=<kind>/part-s<k>of<N>-<seq>.parquet   one table, Hive-partitioned by task kind
//! ```
//!
//! One row per point ([`PointRow`]); per-time data are list columns of equal length. A
//! [`PartWriter`] buffers rows and publishes each batch as one Parquet file per task kind: written
//! to `_lazyrich/tmp/`, fsynced, renamed into `points/`, directory fsynced. A file is therefore
//! either absent or complete, and a killed run loses at most its unflushed rows (and those of
//! the files its encoder threads, [`WriterOptions::encoders`], are still writing). The resume index
//! ([`Dataset::done_ids`]) is the `point_id` column of every published file. [`Dataset::merge`]
//! compacts small files behind a journal that the next open completes or rolls back.
//!
//! The schema, column by column, is documented in `docs/dataset.md`; [`SCHEMA_VERSION`] changes
//! whenever a column is added, renamed, removed or changes type (readers check the exact column
//! set). A dataset holds one schema version: opening one of another version is refused.

mod checksum;
mod dataset;
mod decode;
mod durable;
mod encode;
mod error;
mod journal;
mod layout;
mod lock;
mod manifest;
mod merge;
mod part;
mod publish;
mod quarantine;
mod row;
mod schema;
mod shards;
mod stats;
mod time;
mod verify;
mod writer;

#[cfg(test)]
mod testutil;

pub use dataset::{Dataset, DatasetMeta};
pub use error::StoreError;
pub use manifest::Manifest;
pub use merge::MergeReport;
pub use part::encoded_size;
pub use quarantine::Quarantined;
pub use row::PointRow;
pub use schema::{FOOTER_KEYS, points_schema};
pub use shards::Layouts;
pub use verify::{ForeignPart, Verification};
pub use writer::{PartWriter, TAPER_FLOOR, WriterOptions, WriterStats};

/// Version of the Parquet schema written by this crate (column `schema_version`, footer key
/// `lazyrich.schema_version`, manifest field `schema_version`).
///
/// History: 1, the single-task columns; 2, multi-phase protocols (`lambda_ft`, `n_phases`,
/// `escape_time`, `phase`, `task_losses`, the `phase_*` lists, `forgetting`,
/// `forgetting_formula`); 3, every part file carries a content checksum in its footer
/// (`lazyrich.content_xxh3`, `lazyrich.content_rows`), the manifest records shard layouts (files of
/// version 2 have no checksum and cannot be verified, so they are refused as any other version
/// is), and numeric outcomes: the column `tolerance`, `t_end` nullable, the statuses `overflow`,
/// `inaccurate` and `panic`; 4, the balance of the initial weights: `balance_defect` and
/// `balance_entry_defect`, and the per-layer λ of a balanced init, `lambdas` (`lambda` null when
/// they differ).
pub const SCHEMA_VERSION: u32 = 4;
