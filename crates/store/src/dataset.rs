//! `Dataset`: creating or opening a dataset directory, its manifest, and reading it back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::decode::{Columns, decode_rows};
use crate::durable::{
    create_dir_synced, create_new_atomic, remove_if_exists, rename_synced, sibling_temp, sync_dir,
    write_synced,
};
use crate::error::StoreError;
use crate::journal::recover_interrupted_merge;
use crate::layout::{self, CONTROL_DIR, POINTS_DIR};
use crate::lock::{lock_blocking, try_lock};
use crate::manifest::{Manifest, create_manifest, read_manifest, replace_manifest};
use crate::part::read_batches;
use crate::row::PointRow;
use crate::time::now_rfc3339;
use crate::{SCHEMA_VERSION, part};

/// What a run records about itself: written to the manifest, `spec.toml`, every file footer and
/// the provenance columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetMeta {
    /// The spec's `name`.
    pub spec_name: String,
    /// Hash of the validated spec (hex).
    pub spec_hash: String,
    /// The spec text as given.
    pub spec_text: String,
    /// Version of lazyrich.
    pub lazyrich_version: String,
    /// Git commit of the build.
    pub git_commit: String,
}

/// An open dataset directory.
#[derive(Debug, Clone)]
pub struct Dataset {
    root: PathBuf,
    manifest: Manifest,
    /// Present when opened with [`Dataset::create_or_open`]: needed to write.
    meta: Option<DatasetMeta>,
}

/// Refuses a directory that holds anything but a (possibly half-created) dataset.
fn check_empty_or_dataset(root: &Path) -> Result<(), StoreError> {
    let names = layout::list_names(root)?;
    if names.iter().any(|(name, _)| name != CONTROL_DIR && name != POINTS_DIR) {
        return Err(StoreError::NotEmpty { root: root.to_owned() });
    }
    Ok(())
}

/// Refuses a directory without a manifest whose `points/` holds files: they were written for a
/// spec the directory no longer names (a deleted manifest or `_lazyrich/`), and adopting them
/// would bind the directory to whatever spec comes next. (A creation interrupted before the
/// manifest leaves `points/` empty.)
fn refuse_orphaned_points(root: &Path) -> Result<(), StoreError> {
    if layout::holds_files(&layout::points_dir(root))? {
        return Err(StoreError::ManifestMissing { root: root.to_owned() });
    }
    Ok(())
}

/// Removes the files of `_lazyrich/tmp/` whose writer or merge is gone: a writer's files only
/// when its shard lock is free, a merge's only when the merge lock is free. Lock files stay.
/// Returns whether it removed anything.
fn clean_tmp(root: &Path) -> Result<bool, StoreError> {
    let tmp = layout::tmp_dir(root);
    let mut removed = false;
    for (name, path) in layout::list_names(&tmp)? {
        if name.ends_with(".lock") || !path.is_file() {
            continue;
        }
        let lock_path = if let Some((index, count, _)) = layout::parse_part_name(&name) {
            Some(layout::shard_lock_path(root, index, count))
        } else if name.starts_with("merge-") {
            Some(layout::merge_lock_path(root))
        } else {
            None
        };
        let _guard = match lock_path {
            Some(lock_path) => match try_lock(&lock_path)? {
                Some(guard) => Some(guard),
                None => continue,
            },
            None => None,
        };
        remove_if_exists(&path)?;
        removed = true;
    }
    Ok(removed)
}

/// Replaces `_lazyrich/spec.toml` atomically with `text`.
fn replace_spec_text(root: &Path, text: &[u8]) -> Result<(), StoreError> {
    let path = layout::spec_path(root);
    let temp = sibling_temp(&path);
    write_synced(&temp, text)?;
    if let Err(e) = rename_synced(&temp, &path) {
        let _ = remove_if_exists(&temp);
        return Err(e);
    }
    Ok(())
}

impl Dataset {
    /// Creates the dataset directory `root` for the spec of `meta`, or opens it to resume.
    ///
    /// Creation writes `_lazyrich/manifest.json` atomically and without clobbering, so of
    /// several shards starting at once exactly one creates it and the others read it; then
    /// `_lazyrich/spec.toml` likewise. An existing manifest must carry `meta.spec_hash`.
    /// Opening finishes or rolls back an interrupted merge and removes the leftovers of dead
    /// writers from `_lazyrich/tmp/`. A non-empty directory that is not a dataset is refused.
    pub fn create_or_open(root: &Path, meta: &DatasetMeta) -> Result<Dataset, StoreError> {
        let manifest = match read_manifest(root)? {
            Some(manifest) => manifest,
            None => {
                check_empty_or_dataset(root)?;
                refuse_orphaned_points(root)?;
                create_dir_synced(&layout::tmp_dir(root))?;
                create_dir_synced(&layout::points_dir(root))?;
                let manifest = Manifest {
                    spec_name: meta.spec_name.clone(),
                    spec_hash: meta.spec_hash.clone(),
                    schema_version: SCHEMA_VERSION,
                    created: now_rfc3339(),
                    layouts: Vec::new(),
                    specs: Vec::new(),
                };
                if create_manifest(root, &manifest)? {
                    manifest
                } else {
                    // Another process created it first: compare with theirs.
                    read_manifest(root)?
                        .ok_or_else(|| StoreError::NotADataset { root: root.to_owned() })?
                }
            }
        };
        if manifest.spec_hash != meta.spec_hash {
            return Err(StoreError::SpecMismatch {
                root: root.to_owned(),
                spec_name: manifest.spec_name,
                existing_hash: manifest.spec_hash,
                new_hash: meta.spec_hash.clone(),
            });
        }
        create_dir_synced(&layout::tmp_dir(root))?;
        create_dir_synced(&layout::points_dir(root))?;
        if !layout::spec_path(root).exists() {
            create_new_atomic(&layout::spec_path(root), meta.spec_text.as_bytes())?;
        }
        let dataset = Dataset { root: root.to_owned(), manifest, meta: Some(meta.clone()) };
        dataset.tidy()?;
        Ok(dataset)
    }

    /// Like [`Dataset::create_or_open`], but a dataset of another spec is *extended*
    /// (`run --extend`): the spec of `meta` becomes its current spec, recorded with every
    /// earlier one in the manifest ([`Manifest::specs`]) and stored as
    /// `_lazyrich/specs/<hash>.toml`; `_lazyrich/spec.toml` is replaced by its text. The part
    /// files of every recorded spec stay the dataset's (their rows keep their own
    /// `spec_hash`), so their points count as done and only the new ones are computed.
    ///
    /// The change happens under the manifest lock; the manifest is the commit point (the spec
    /// texts are written before it, `spec.toml` after it and repaired by the next open if that
    /// step was cut short). Returns the dataset and whether its spec changed.
    pub fn create_or_extend(
        root: &Path,
        meta: &DatasetMeta,
    ) -> Result<(Dataset, bool), StoreError> {
        let current = match read_manifest(root)? {
            Some(manifest) if manifest.spec_hash != meta.spec_hash => manifest,
            _ => return Ok((Dataset::create_or_open(root, meta)?, false)),
        };
        let changed = {
            let _guard = lock_blocking(&layout::manifest_lock_path(root))?;
            let manifest = read_manifest(root)?.unwrap_or(current);
            if manifest.spec_hash == meta.spec_hash {
                false
            } else {
                create_dir_synced(&layout::specs_dir(root))?;
                let old_text = std::fs::read(layout::spec_path(root))
                    .map_err(|e| StoreError::io("read", layout::spec_path(root), e))?;
                let old_path = layout::spec_version_path(root, &manifest.spec_hash);
                if !old_path.exists() {
                    create_new_atomic(&old_path, &old_text)?;
                }
                let new_path = layout::spec_version_path(root, &meta.spec_hash);
                if !new_path.exists() {
                    create_new_atomic(&new_path, meta.spec_text.as_bytes())?;
                }
                let extended = manifest.extended(&meta.spec_hash, &meta.spec_name, &now_rfc3339());
                replace_manifest(root, &extended)?;
                replace_spec_text(root, meta.spec_text.as_bytes())?;
                true
            }
        };
        Ok((Dataset::create_or_open(root, meta)?, changed))
    }

    /// Opens an existing dataset for reading and merging (not for writing new rows). Like
    /// [`Dataset::create_or_open`], it completes an interrupted merge and removes leftovers.
    pub fn open(root: &Path) -> Result<Dataset, StoreError> {
        let Some(manifest) = read_manifest(root)? else {
            refuse_orphaned_points(root)?;
            return Err(StoreError::NotADataset { root: root.to_owned() });
        };
        let dataset = Dataset { root: root.to_owned(), manifest, meta: None };
        dataset.tidy()?;
        Ok(dataset)
    }

    fn tidy(&self) -> Result<(), StoreError> {
        recover_interrupted_merge(&self.root)?;
        self.repair_spec_text()?;
        if clean_tmp(&self.root)? {
            sync_dir(&layout::tmp_dir(&self.root))?;
        }
        Ok(())
    }

    /// An extension cut short between the manifest and `spec.toml` leaves the earlier spec's
    /// text there: put the current spec's back (from `_lazyrich/specs/`).
    fn repair_spec_text(&self) -> Result<(), StoreError> {
        if self.manifest.specs.is_empty() {
            return Ok(());
        }
        let current = layout::spec_version_path(&self.root, &self.manifest.spec_hash);
        let Ok(want) = std::fs::read(&current) else { return Ok(()) };
        let path = layout::spec_path(&self.root);
        if std::fs::read(&path).ok().as_deref() != Some(want.as_slice()) {
            let _guard = lock_blocking(&layout::manifest_lock_path(&self.root))?;
            // Only if the manifest still names that spec (another extension may have won).
            if read_manifest(&self.root)?.is_some_and(|m| m.spec_hash == self.manifest.spec_hash) {
                replace_spec_text(&self.root, &want)?;
            }
        }
        Ok(())
    }

    /// The dataset directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// What writers record; `None` for a dataset from [`Dataset::open`].
    pub(crate) fn meta(&self) -> Option<&DatasetMeta> {
        self.meta.as_ref()
    }

    /// The published part files, sorted by path.
    pub fn part_files(&self) -> Result<Vec<PathBuf>, StoreError> {
        layout::part_files(&self.root)
    }

    /// The resume index: the `point_id` of every published row (only that column is read).
    pub fn done_ids(&self) -> Result<HashSet<u64>, StoreError> {
        let mut ids = HashSet::new();
        for path in self.part_files()? {
            read_batches(&path, Some(&["point_id"]), |batch| {
                ids.extend(Columns::new(batch, &path).u64("point_id")?.values().iter().copied());
                Ok(())
            })?;
        }
        Ok(ids)
    }

    /// `(point_id, status, shard)` of every published row, in file order.
    pub fn status_rows(&self) -> Result<Vec<(u64, String, String)>, StoreError> {
        self.status_rows_of(&self.part_files()?)
    }

    /// `(point_id, status, shard)` of every row of the part files `files`, in file order.
    pub fn status_rows_of(
        &self,
        files: &[PathBuf],
    ) -> Result<Vec<(u64, String, String)>, StoreError> {
        let mut rows = Vec::new();
        for path in files {
            read_batches(path, Some(&["point_id", "status", "shard"]), |batch| {
                let columns = Columns::new(batch, path);
                let ids = columns.u64("point_id")?;
                let status = columns.dictionary("status")?;
                let shard = columns.dictionary("shard")?;
                for i in 0..batch.num_rows() {
                    rows.push((
                        ids.value(i),
                        status.value(i).to_owned(),
                        shard.value(i).to_owned(),
                    ));
                }
                Ok(())
            })?;
        }
        Ok(rows)
    }

    /// Every published row, in file order (for tests and small datasets).
    pub fn read_rows(&self) -> Result<Vec<PointRow>, StoreError> {
        let mut rows = Vec::new();
        for path in self.part_files()? {
            read_batches(&path, None, |batch| {
                rows.extend(decode_rows(batch, &path)?);
                Ok(())
            })?;
        }
        Ok(rows)
    }

    /// Number of published rows, from the file footers.
    pub fn n_rows(&self) -> Result<u64, StoreError> {
        let mut n_rows = 0;
        for path in self.part_files()? {
            n_rows += part::read_footer(&path)?.n_rows;
        }
        Ok(n_rows)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::testutil::{TempDir, meta, sample_row, write_rows};

    #[test]
    fn creation_writes_manifest_and_spec() {
        let dir = TempDir::new("create");
        let root = dir.path().join("out");
        let dataset = Dataset::create_or_open(&root, &meta("h1")).unwrap();
        assert_eq!(dataset.root(), root);
        let manifest = dataset.manifest();
        assert_eq!(
            (manifest.spec_name.as_str(), manifest.spec_hash.as_str()),
            ("quickstart", "h1")
        );
        assert_eq!(manifest.schema_version, SCHEMA_VERSION);
        assert_eq!(manifest.created.len(), 20);
        let on_disk: Manifest = serde_json::from_str(
            &fs::read_to_string(root.join("_lazyrich/manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(&on_disk, manifest);
        assert_eq!(
            fs::read_to_string(root.join("_lazyrich/spec.toml")).unwrap(),
            meta("h1").spec_text
        );
        assert!(root.join("_lazyrich/tmp").is_dir() && root.join("points").is_dir());
        assert!(dataset.part_files().unwrap().is_empty());
        assert!(dataset.done_ids().unwrap().is_empty());
    }

    #[test]
    fn another_spec_hash_is_refused_and_the_same_reopens() {
        let dir = TempDir::new("mismatch");
        let root = dir.path().join("out");
        let first = Dataset::create_or_open(&root, &meta("h1")).unwrap();
        write_rows(&first, &[sample_row(1, "random")], 10);
        let err = Dataset::create_or_open(&root, &meta("h2")).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} holds results of spec 'quickstart' (hash h1); this spec has hash h2: use \
                 another --out directory, or --extend to make this spec the dataset's (only the \
                 points it lacks are computed)",
                root.display()
            )
        );
        let again = Dataset::create_or_open(&root, &meta("h1")).unwrap();
        // The same manifest, now with the layout of the writer (0/1) recorded.
        let mut expected = first.manifest().clone();
        expected.layouts = vec!["0/1".into()];
        assert_eq!(again.manifest(), &expected);
        assert_eq!(again.done_ids().unwrap().len(), 1);
        assert_eq!(Dataset::open(&root).unwrap().manifest(), &expected);
    }

    /// `run --extend`: the new spec becomes the dataset's, every spec is recorded with its
    /// text, the files of each stay the dataset's (resume, verify, merge), and a spec that was
    /// never recorded is still foreign.
    #[test]
    fn an_extended_dataset_holds_every_spec_and_its_files() {
        let dir = TempDir::new("extend");
        let root = dir.path().join("out");
        let first = Dataset::create_or_open(&root, &meta("h1")).unwrap();
        write_rows(&first, &[sample_row(1, "random"), sample_row(2, "hierarchy")], 10);
        // Extending with the same spec changes nothing.
        let (same, changed) = Dataset::create_or_extend(&root, &meta("h1")).unwrap();
        assert!(!changed);
        assert!(same.manifest().specs.is_empty());
        let mut h2 = meta("h2");
        h2.spec_name = "bigger".into();
        h2.spec_text = "name = \"bigger\"\nseed = 1\n".into();
        let (second, changed) = Dataset::create_or_extend(&root, &h2).unwrap();
        assert!(changed);
        let manifest = second.manifest();
        assert_eq!((manifest.spec_hash.as_str(), manifest.spec_name.as_str()), ("h2", "bigger"));
        let specs: Vec<(&str, &str)> =
            manifest.specs.iter().map(|e| (e.hash.as_str(), e.name.as_str())).collect();
        assert_eq!(specs, [("h1", "quickstart"), ("h2", "bigger")]);
        assert_eq!(manifest.spec_hashes(), ["h1", "h2"]);
        assert!(
            manifest.holds_spec("h1") && manifest.holds_spec("h2") && !manifest.holds_spec("h3")
        );
        let control = root.join("_lazyrich");
        assert_eq!(fs::read_to_string(control.join("spec.toml")).unwrap(), h2.spec_text);
        assert_eq!(fs::read_to_string(control.join("specs/h2.toml")).unwrap(), h2.spec_text);
        assert_eq!(
            fs::read_to_string(control.join("specs/h1.toml")).unwrap(),
            meta("h1").spec_text
        );
        // The files of h1 are the dataset's: resumed, verified and merged with those of h2.
        write_rows(&second, &[sample_row(3, "random")], 10);
        let index = second.resume_index(2).unwrap();
        assert_eq!((index.files, index.ids.len()), (3, 3));
        assert!(second.foreign_files().unwrap().is_empty());
        let report = second.merge(1000, 1).unwrap();
        assert_eq!(report.rows, 3);
        // One merged file per (partition, spec): the two random files are of two specs.
        assert_eq!(second.part_files().unwrap().len(), 3);
        assert_eq!(second.verify(1).unwrap().rows, 3);
        // The plain open still refuses an unrecorded spec, and now names the current one.
        let err = Dataset::create_or_open(&root, &meta("h1")).unwrap_err().to_string();
        assert!(err.contains("holds results of spec 'bigger' (hash h2)"), "{err}");
        // Extending back to h1 makes it the current spec again, listed last.
        let (back, changed) = Dataset::create_or_extend(&root, &meta("h1")).unwrap();
        assert!(changed);
        assert_eq!(back.manifest().spec_hashes(), ["h2", "h1"]);
        assert_eq!(fs::read_to_string(control.join("spec.toml")).unwrap(), meta("h1").spec_text);
    }

    /// An extension cut short after the manifest (the commit point) and before `spec.toml`:
    /// the next open puts the current spec's text back.
    #[test]
    fn a_stale_spec_text_is_repaired_on_open() {
        let dir = TempDir::new("extend-repair");
        let root = dir.path().join("out");
        Dataset::create_or_open(&root, &meta("h1")).unwrap();
        let mut h2 = meta("h2");
        h2.spec_text = "name = \"two\"\n".into();
        Dataset::create_or_extend(&root, &h2).unwrap();
        let spec = root.join("_lazyrich/spec.toml");
        fs::write(&spec, meta("h1").spec_text).unwrap();
        Dataset::open(&root).unwrap();
        assert_eq!(fs::read_to_string(&spec).unwrap(), h2.spec_text);
    }

    #[test]
    fn shards_starting_at_once_agree_on_one_manifest() {
        let dir = TempDir::new("race");
        let root = dir.path().join("out");
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let root = root.clone();
                std::thread::spawn(move || {
                    Dataset::create_or_open(&root, &meta("h1")).map(|d| d.manifest().clone())
                })
            })
            .collect();
        let manifests: Vec<_> = handles.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
        assert!(manifests.iter().all(|m| m == &manifests[0]));
        let control: Vec<_> = layout::list_names(&root.join("_lazyrich"))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(control, ["manifest.json", "spec.toml", "tmp"]);
    }

    #[test]
    fn open_needs_a_manifest_and_a_foreign_directory_is_refused() {
        let dir = TempDir::new("foreign");
        let err = Dataset::open(dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{} is not a lazyrich dataset (no _lazyrich/manifest.json)",
                dir.path().display()
            )
        );
        fs::write(dir.path().join("notes.txt"), b"mine").unwrap();
        let err = Dataset::create_or_open(dir.path(), &meta("h1")).unwrap_err();
        assert!(matches!(err, StoreError::NotEmpty { .. }), "{err}");
        assert!(!dir.path().join("_lazyrich").exists());
    }

    #[test]
    fn a_corrupt_manifest_is_an_error_naming_it() {
        let dir = TempDir::new("corrupt");
        fs::create_dir_all(dir.path().join("_lazyrich")).unwrap();
        fs::write(dir.path().join("_lazyrich/manifest.json"), b"{").unwrap();
        let err = Dataset::open(dir.path()).unwrap_err().to_string();
        let path = dir.path().join("_lazyrich/manifest.json");
        assert!(err.starts_with(&format!("failed to parse {}: ", path.display())), "{err}");
    }

    /// The reproduction: a full disk while writing the manifest left a 0-byte
    /// `.manifest.json.<pid>.0.tmp` behind. A failed write removes its temporary file.
    #[test]
    fn a_failed_manifest_write_leaves_no_temporary_file() {
        let dir = TempDir::new("enospc");
        let root = dir.path().join("out");
        crate::durable::fault::set_full_disk(true);
        let err = Dataset::create_or_open(&root, &meta("h1"));
        crate::durable::fault::set_full_disk(false);
        let err = err.unwrap_err();
        assert!(matches!(&err, StoreError::Io { action: "write", .. }), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("failed to write {}", root.join("_lazyrich").display()))
        );
        let names: Vec<String> = layout::list_names(&root.join("_lazyrich"))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert_eq!(names, ["tmp"], "nothing but the directories the creation made");
        // The disk has room again: the creation succeeds.
        Dataset::create_or_open(&root, &meta("h1")).unwrap();
    }

    /// The reproduction: with `_lazyrich/manifest.json` (or all of `_lazyrich/`) deleted, `run`
    /// adopted the part files and the directory then held two specs. Now a directory whose
    /// `points/` holds files without a manifest is refused, for writing and for reading.
    #[test]
    fn part_files_without_a_manifest_are_not_adopted() {
        for remove in ["_lazyrich/manifest.json", "_lazyrich"] {
            let dir = TempDir::new("orphaned");
            let root = dir.path().join("out");
            let dataset = Dataset::create_or_open(&root, &meta("h1")).unwrap();
            write_rows(&dataset, &[sample_row(1, "random")], 10);
            let target = root.join(remove);
            if target.is_dir() {
                fs::remove_dir_all(&target).unwrap();
            } else {
                fs::remove_file(&target).unwrap();
            }
            let expected = format!(
                "{} holds part files but {} is missing, so they cannot be attributed to a spec: \
                 restore the dataset's _lazyrich/ directory (manifest.json, spec.toml) from a \
                 backup or the copy it came from, or use another --out directory",
                root.join("points").display(),
                root.join("_lazyrich/manifest.json").display()
            );
            for hash in ["h1", "h2"] {
                let err = Dataset::create_or_open(&root, &meta(hash)).unwrap_err();
                assert_eq!(err.to_string(), expected, "{remove}, {hash}");
            }
            assert_eq!(Dataset::open(&root).unwrap_err().to_string(), expected);
            assert!(!root.join("_lazyrich/manifest.json").exists());
        }
        // A creation interrupted before the manifest leaves points/ empty: created as usual.
        let dir = TempDir::new("half-created");
        let root = dir.path().join("out");
        fs::create_dir_all(root.join("points/task=random")).unwrap();
        fs::create_dir_all(root.join("_lazyrich/tmp")).unwrap();
        Dataset::create_or_open(&root, &meta("h1")).unwrap();
    }

    #[test]
    fn another_schema_version_is_refused() {
        let dir = TempDir::new("schema-version");
        fs::create_dir_all(dir.path().join("_lazyrich")).unwrap();
        let manifest = r#"{"spec_name":"x","spec_hash":"h","schema_version":99,"created":"c"}"#;
        fs::write(dir.path().join("_lazyrich/manifest.json"), manifest).unwrap();
        let err = Dataset::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, StoreError::SchemaVersion { found: 99, expected: SCHEMA_VERSION, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_schema_1_dataset_is_refused_for_resume_read_and_merge() {
        let dir = TempDir::new("schema-v1");
        let root = dir.path().join("out");
        let dataset = Dataset::create_or_open(&root, &meta("h1")).unwrap();
        write_rows(&dataset, &[sample_row(1, "random")], 10);
        // The manifest of a dataset written by a schema-1 build.
        let path = root.join("_lazyrich/manifest.json");
        let v1 = fs::read_to_string(&path)
            .unwrap()
            .replace(&format!("\"schema_version\": {SCHEMA_VERSION}"), "\"schema_version\": 1");
        assert!(v1.contains("\"schema_version\": 1"), "{v1}");
        fs::write(&path, v1).unwrap();

        let expected = format!(
            "{} has schema version 1; this lazyrich reads and writes schema version {}: write \
             into a new --out directory, or use a lazyrich of schema version 1 to resume, read \
             or merge this one",
            path.display(),
            SCHEMA_VERSION
        );
        let resume = Dataset::create_or_open(&root, &meta("h1")).unwrap_err();
        assert!(matches!(
            resume,
            StoreError::SchemaVersion { found: 1, expected: SCHEMA_VERSION, .. }
        ));
        assert_eq!(resume.to_string(), expected);
        // Opening (status, merge) is refused the same way, and before any tidying.
        assert_eq!(Dataset::open(&root).unwrap_err().to_string(), expected);
    }
}
