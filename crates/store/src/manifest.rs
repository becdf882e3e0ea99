//! `_lazyrich/manifest.json`: what a dataset directory is bound to. The spec (name and hash),
//! the schema version, the creation time, the shard layouts that have written into it, and,
//! once `run --extend` has changed its spec, every spec whose results it holds.
//!
//! Created once, atomically and without clobbering (of several shards starting at once exactly
//! one creates it); later changes (a new layout) replace it atomically (temporary file, fsync,
//! rename, fsync of the directory) under the lock `_lazyrich/tmp/manifest.lock`.

use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::SCHEMA_VERSION;
use crate::durable::{
    create_new_atomic, remove_if_exists, rename_synced, sibling_temp, write_synced,
};
use crate::error::StoreError;
use crate::layout;

/// Contents of `_lazyrich/manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The spec's `name`.
    pub spec_name: String,
    /// Hash of the spec whose results the dataset holds.
    pub spec_hash: String,
    /// Schema version of the dataset's files.
    pub schema_version: u32,
    /// When the dataset was created (UTC RFC 3339).
    pub created: String,
    /// The shard layouts (`"k/N"`; `"0/1"` unsharded) whose runs have written into the
    /// dataset, sorted by N then k.
    #[serde(default)]
    pub layouts: Vec<String>,
    /// Every spec whose results the dataset holds, oldest first, the current one
    /// (`spec_hash`) last; each spec's text is `_lazyrich/specs/<hash>.toml`. Empty (and
    /// absent from the file) until `run --extend` first changes the spec.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub specs: Vec<SpecEntry>,
}

/// One spec of an extended dataset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecEntry {
    /// The spec's hash.
    pub hash: String,
    /// The spec's `name`.
    pub name: String,
    /// When it became the dataset's spec (UTC RFC 3339).
    pub added: String,
}

impl Manifest {
    /// Whether part files of spec `hash` belong to the dataset: the current spec's, or, in an
    /// extended dataset, those of any earlier spec.
    pub fn holds_spec(&self, hash: &str) -> bool {
        hash == self.spec_hash || self.specs.iter().any(|entry| entry.hash == hash)
    }

    /// The hashes of every spec the dataset holds, oldest first.
    pub fn spec_hashes(&self) -> Vec<String> {
        if self.specs.is_empty() {
            vec![self.spec_hash.clone()]
        } else {
            self.specs.iter().map(|entry| entry.hash.clone()).collect()
        }
    }

    /// The manifest after `run --extend` with spec `name` of hash `hash` (added at `now`): the
    /// current spec becomes the latest entry of [`Manifest::specs`] (moved to the end if it
    /// was already there).
    pub(crate) fn extended(&self, hash: &str, name: &str, now: &str) -> Manifest {
        let mut next = self.clone();
        if next.specs.is_empty() {
            next.specs.push(SpecEntry {
                hash: self.spec_hash.clone(),
                name: self.spec_name.clone(),
                added: self.created.clone(),
            });
        }
        next.specs.retain(|entry| entry.hash != hash);
        next.specs.push(SpecEntry {
            hash: hash.to_owned(),
            name: name.to_owned(),
            added: now.to_owned(),
        });
        next.spec_hash = hash.to_owned();
        next.spec_name = name.to_owned();
        next
    }
}

/// The manifest of the dataset at `root`, or `None` if it has none. A manifest of another
/// schema version is refused.
pub(crate) fn read_manifest(root: &Path) -> Result<Option<Manifest>, StoreError> {
    let path = layout::manifest_path(root);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", path, e)),
    };
    let manifest: Manifest = serde_json::from_str(&text).map_err(|source| StoreError::Json {
        action: "parse",
        path: path.clone(),
        source,
    })?;
    if manifest.schema_version != SCHEMA_VERSION {
        return Err(StoreError::SchemaVersion {
            path,
            found: manifest.schema_version,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(Some(manifest))
}

fn encode(manifest: &Manifest, root: &Path) -> Result<Vec<u8>, StoreError> {
    let mut json = serde_json::to_string_pretty(manifest).map_err(|source| StoreError::Json {
        action: "encode",
        path: layout::manifest_path(root),
        source,
    })?;
    json.push('\n');
    Ok(json.into_bytes())
}

/// Creates the manifest unless one exists; returns whether this call created it.
pub(crate) fn create_manifest(root: &Path, manifest: &Manifest) -> Result<bool, StoreError> {
    create_new_atomic(&layout::manifest_path(root), &encode(manifest, root)?)
}

/// Replaces the manifest atomically; on failure the old one stays and no temporary file does.
/// The caller holds the manifest lock.
pub(crate) fn replace_manifest(root: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let path = layout::manifest_path(root);
    let temp = sibling_temp(&path);
    write_synced(&temp, &encode(manifest, root)?)?;
    if let Err(e) = rename_synced(&temp, &path) {
        let _ = remove_if_exists(&temp);
        return Err(e);
    }
    Ok(())
}
