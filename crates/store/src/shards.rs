//! Shard layouts: which runs may write into one dataset at once, or one after the other.
//!
//! A run of shard `k/N` computes the points whose id `p` has `p % N == k` (unsharded: `0/1`).
//! Two layouts `k/N` and `j/M` can compute a common point iff `k ≡ j (mod gcd(N, M))`: `k/N` and
//! `j/N` with `k ≠ j` never do, nor do `0/2` and `1/4`; `0/2` and `2/4` do, and the unsharded run
//! overlaps every shard. A writer of layout `L` claims it before computing anything, holding its
//! shard lock (`_lazyrich/tmp/s<k>of<N>.lock`) and then the manifest lock:
//!
//! - a running layout (its shard lock held by another writer) that overlaps `L` refuses the run;
//! - a layout recorded in the manifest that overlaps `L` (and is not `L`) refuses it too, unless
//!   the caller says the recorded runs have finished (`relayout`; still checked against the
//!   running ones);
//! - otherwise `L` is recorded in the manifest.
//!
//! Re-running a recorded layout (resume) is always allowed. Since every writer holds its shard
//! lock from before its claim until it stops, of two overlapping runs the second to claim sees
//! the first running and is refused.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::dataset::Dataset;
use crate::error::StoreError;
use crate::layout;
use crate::lock::{is_held, lock_blocking};
use crate::manifest::{read_manifest, replace_manifest};

/// Shard `index` of `count` (`0/1`: unsharded).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ShardLayout {
    pub(crate) index: u32,
    pub(crate) count: u32,
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl ShardLayout {
    /// Whether some point id `p` has `p % N == k` and `p % M == j`: iff `k ≡ j (mod gcd(N, M))`
    /// (Chinese remainder theorem).
    pub(crate) fn overlaps(self, other: ShardLayout) -> bool {
        let g = gcd(self.count, other.count).max(1);
        self.index % g == other.index % g
    }

    /// Parses `"k/N"` with `k < N`.
    pub(crate) fn parse(text: &str) -> Option<ShardLayout> {
        let (index, count) = text.trim().split_once('/')?;
        let layout = ShardLayout { index: index.parse().ok()?, count: count.parse().ok()? };
        (layout.index < layout.count).then_some(layout)
    }

    /// `the unsharded run (0/1)` or `shard k/N`.
    fn describe(self) -> String {
        if self.count == 1 { "the unsharded run (0/1)".to_owned() } else { format!("shard {self}") }
    }
}

impl fmt::Display for ShardLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The layouts whose shard lock is held now (by a writer other than the caller, who passes its
/// own layout as `own`), with their lock files.
fn running(
    root: &Path,
    own: Option<ShardLayout>,
) -> Result<Vec<(ShardLayout, PathBuf)>, StoreError> {
    let mut running = Vec::new();
    for (name, path) in layout::list_names(&layout::tmp_dir(root))? {
        let Some((index, count)) = layout::parse_lock_name(&name) else { continue };
        let shard = ShardLayout { index, count };
        if Some(shard) == own || index >= count {
            continue;
        }
        if is_held(&path)? {
            running.push((shard, path));
        }
    }
    Ok(running)
}

fn recorded(layouts: &[String]) -> Vec<ShardLayout> {
    let mut recorded: Vec<ShardLayout> =
        layouts.iter().filter_map(|l| ShardLayout::parse(l)).collect();
    recorded.sort_by_key(|l| (l.count, l.index));
    recorded.dedup();
    recorded
}

/// Claims layout `own` for a writer of the dataset at `root` that holds the shard lock of `own`;
/// see the module docs.
pub(crate) fn claim(root: &Path, own: ShardLayout, relayout: bool) -> Result<(), StoreError> {
    let _guard = lock_blocking(&layout::manifest_lock_path(root))?;
    let mut manifest =
        read_manifest(root)?.ok_or_else(|| StoreError::NotADataset { root: root.to_owned() })?;
    if let Some((other, lock)) =
        running(root, Some(own))?.into_iter().find(|(other, _)| other.overlaps(own))
    {
        return Err(StoreError::LayoutRunning {
            root: root.to_owned(),
            own: own.describe(),
            other: other.describe(),
            lock,
        });
    }
    let recorded = recorded(&manifest.layouts);
    if recorded.contains(&own) {
        return Ok(());
    }
    if !relayout && let Some(other) = recorded.iter().find(|other| other.overlaps(own)) {
        let list: Vec<String> = recorded.iter().map(ToString::to_string).collect();
        return Err(StoreError::LayoutConflict {
            root: root.to_owned(),
            own: own.describe(),
            other: other.to_string(),
            recorded: list.join(", "),
        });
    }
    let mut layouts = recorded;
    layouts.push(own);
    layouts.sort_by_key(|l| (l.count, l.index));
    manifest.layouts = layouts.iter().map(ToString::to_string).collect();
    replace_manifest(root, &manifest)
}

/// The shard layouts of a dataset: those recorded in its manifest and those running now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layouts {
    /// Layouts whose runs have written into the dataset (`"k/N"`), sorted by N then k.
    pub recorded: Vec<String>,
    /// Layouts whose writer holds its shard lock now, sorted likewise.
    pub running: Vec<String>,
}

impl Dataset {
    /// The layouts recorded in the manifest (read afresh) and those running now.
    pub fn layouts(&self) -> Result<Layouts, StoreError> {
        let manifest = read_manifest(self.root())?
            .ok_or_else(|| StoreError::NotADataset { root: self.root().to_owned() })?;
        let mut running: Vec<ShardLayout> =
            running(self.root(), None)?.into_iter().map(|(l, _)| l).collect();
        running.sort_by_key(|l| (l.count, l.index));
        Ok(Layouts {
            recorded: recorded(&manifest.layouts).iter().map(ToString::to_string).collect(),
            running: running.iter().map(ToString::to_string).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(text: &str) -> ShardLayout {
        ShardLayout::parse(text).unwrap()
    }

    #[test]
    fn layouts_overlap_iff_their_indices_agree_modulo_the_gcd() {
        let cases = [
            ("0/2", "1/2", false),
            ("0/2", "0/2", true),
            ("0/2", "1/4", false),
            ("0/2", "3/4", false),
            ("0/2", "2/4", true),
            ("1/2", "3/4", true),
            ("0/1", "5/7", true),
            ("2/6", "1/4", false),
            ("2/6", "0/4", true),
            ("1/3", "2/5", true),
        ];
        for (a, b, overlap) in cases {
            assert_eq!(shard(a).overlaps(shard(b)), overlap, "{a} vs {b}");
            assert_eq!(shard(b).overlaps(shard(a)), overlap, "{b} vs {a}");
        }
        // Against brute force on small ids.
        for n in 1..7u32 {
            for m in 1..7u32 {
                for k in 0..n {
                    for j in 0..m {
                        let brute = (0..u64::from(n * m)).any(|p| {
                            p % u64::from(n) == u64::from(k) && p % u64::from(m) == u64::from(j)
                        });
                        let (a, b) = (
                            ShardLayout { index: k, count: n },
                            ShardLayout { index: j, count: m },
                        );
                        assert_eq!(a.overlaps(b), brute, "{a} vs {b}");
                    }
                }
            }
        }
        assert_eq!(ShardLayout::parse("2/2"), None);
        assert_eq!(ShardLayout::parse("x/2"), None);
    }
}
