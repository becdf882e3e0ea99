//! [`Spec`]: a validated sweep spec and its lazily computed points.
//!
//! The raw index space is the concatenation of the blocks' mixed-radix grids; `point(k)` decodes
//! `k` alone, so any point, shard or count is available without materialising the sweep.

use std::path::Path;

use xxhash_rust::xxh3::xxh3_64;

use crate::block::Block;
use crate::error::{Location, SpecError};
use crate::params::InitKind;
use crate::parse::parse_spec;
use crate::point::Point;
use crate::shard::Shard;
use crate::value::Ctx;

/// Largest spec file: 1 MiB (long axes are grid objects, a few bytes each).
pub const MAX_SPEC_BYTES: u64 = 1 << 20;

/// The error for a spec file above [`MAX_SPEC_BYTES`].
fn too_large(origin: &str) -> SpecError {
    SpecError::Invalid {
        origin: origin.to_owned(),
        location: None,
        field: String::new(),
        reason: format!(
            "the spec is larger than the limit of {MAX_SPEC_BYTES} bytes (1 MiB): write long axes \
             as grid objects such as {{ linspace = [0, 1, 1000] }}"
        ),
    }
}

/// A validated sweep spec. Cheap to share across threads (`Sync`, no interior mutability).
#[derive(Clone, Debug)]
pub struct Spec {
    name: String,
    seed: u64,
    max_points: u64,
    text: String,
    origin: String,
    hash: u64,
    blocks: Vec<Block>,
    /// Raw index of each block's first point.
    starts: Vec<u64>,
    n_raw: u64,
}

impl Spec {
    /// Reads and validates the spec at `path`; errors name the file as given.
    pub fn from_path(path: &Path) -> Result<Spec, SpecError> {
        use std::io::Read as _;
        let origin = path.display().to_string();
        let read_error = |error| SpecError::Read { origin: origin.clone(), error };
        // Read at most one byte past the limit: a huge file is refused without being read.
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_SPEC_BYTES + 1).read_to_end(&mut bytes))
            .map_err(read_error)?;
        if bytes.len() as u64 > MAX_SPEC_BYTES {
            return Err(too_large(&origin));
        }
        let text = String::from_utf8(bytes).map_err(|err| {
            read_error(std::io::Error::new(std::io::ErrorKind::InvalidData, err.utf8_error()))
        })?;
        Spec::parse(&text, &origin)
    }

    /// Validates spec text; `origin` is the file name used in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
        if text.len() as u64 > MAX_SPEC_BYTES {
            return Err(too_large(origin));
        }
        let ctx = Ctx::new(origin, text);
        let parsed = parse_spec(&ctx, text)?;
        let mut starts = Vec::with_capacity(parsed.blocks.len());
        let mut n_raw: u64 = 0;
        for block in &parsed.blocks {
            starts.push(n_raw);
            // parse_spec bounds the sum by max_points.
            n_raw = n_raw.saturating_add(block.n_points);
        }
        // The hash text keeps the crate's old name: spec hashes are part of every dataset.
        let mut dump = format!(
            "lazyrich-spec v1\nname={}\nseed={}\nmax_points={}\n",
            parsed.name, parsed.seed, parsed.max_points
        );
        for (idx, block) in parsed.blocks.iter().enumerate() {
            dump.push_str(&format!("block[{idx}]\n"));
            dump.push_str(&block.canonical_dump());
        }
        Ok(Spec {
            name: parsed.name,
            seed: parsed.seed,
            max_points: parsed.max_points,
            text: text.to_owned(),
            origin: origin.to_owned(),
            hash: xxh3_64(dump.as_bytes()),
            blocks: parsed.blocks,
            starts,
            n_raw,
        })
    }

    /// The spec's `name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The spec's root `seed`.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The cap on raw points (`max_points`, default 10 000 000).
    pub fn max_points(&self) -> u64 {
        self.max_points
    }

    /// The spec text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The file name used in messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Hash of the validated content (not of comments or layout): 16 hex digits.
    pub fn hash_hex(&self) -> String {
        format!("{:016x}", self.hash)
    }

    /// Number of blocks.
    pub fn n_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Size of the raw index space (all blocks, before filters).
    pub fn n_raw(&self) -> u64 {
        self.n_raw
    }

    /// Point `raw_index`; `None` if a filter drops it or it is out of range.
    pub fn point(&self, raw_index: u64) -> Option<Point> {
        if raw_index >= self.n_raw {
            return None;
        }
        let block_idx = self.starts.partition_point(|&start| start <= raw_index).checked_sub(1)?;
        let block = self.blocks.get(block_idx)?;
        let block_number = u32::try_from(block_idx).ok()?;
        block.point(raw_index - self.starts[block_idx], raw_index, block_number, self.seed)
    }

    /// The points of a shard, in raw-index order, computed lazily. An invalid shard (count 0 or
    /// index ≥ count) yields nothing.
    ///
    /// A point belongs to shard `k/N` iff `point_id % N == k` (see [`Shard`]): points with the
    /// same id (duplicates) always land in the same shard, so concurrently running shards never
    /// compute a point twice. Each shard decodes every raw index to learn its id (≈ 2 µs a point).
    pub fn points(&self, shard: Shard) -> impl Iterator<Item = Point> + '_ {
        let end = if shard.is_valid() { self.n_raw } else { 0 };
        let mut buf = Vec::with_capacity(256);
        (0..end).filter_map(move |raw_index| {
            // A point of another shard is left as soon as its id is known.
            if shard.count > 1 && !shard.contains(self.point_id(raw_index, &mut buf)?) {
                return None;
            }
            self.point(raw_index)
        })
    }

    /// The id of point `raw_index` if the filters keep it, without building the point (its
    /// canonical text is written into `buf`).
    fn point_id(&self, raw_index: u64, buf: &mut Vec<u8>) -> Option<u64> {
        let block_idx = self.starts.partition_point(|&start| start <= raw_index).checked_sub(1)?;
        let block = self.blocks.get(block_idx)?;
        let local = raw_index - self.starts[block_idx];
        if local >= block.n_points {
            return None;
        }
        let indices = block.decode(local);
        let choice = block.choice(&indices);
        if !block.keeps(&choice) {
            return None;
        }
        block.id_of(&indices, &choice, self.seed, buf)
    }

    /// Location of a block field's value (the block's own, or the `[defaults]` one it inherits).
    /// Field names are the TOML keys: `lambda`, `widths`, `method`, `time`, `where`, …
    pub fn location(&self, block: usize, field: &str) -> Option<Location> {
        let block = self.blocks.get(block)?;
        block.locations.iter().find(|(name, _)| *name == field).map(|&(_, location)| location)
    }

    /// Path of block `block`'s `widths` value, as errors name it: `block[i].widths`, or
    /// `defaults.widths` when the block inherits it.
    pub fn widths_path(&self, block: usize) -> Option<&str> {
        self.blocks.get(block).map(|b| b.widths_path.as_str())
    }

    /// The (widths, λ, init) combinations of a block that decide its admissibility (docs/math.md
    /// §2.1), for the runner: one per widths value, init and sign of λ (negative, zero,
    /// positive) among those that survive the filters decidable on them, λ being the first such
    /// value of the grid (`None` for inits that ignore it). Admissibility depends on λ only
    /// through its sign, so a 10⁷-value λ grid gives at most three entries per widths and init.
    pub fn block_width_lambda_pairs(
        &self,
        block: usize,
    ) -> Vec<(Vec<usize>, Option<f64>, InitKind)> {
        self.blocks.get(block).map(Block::width_lambda_pairs).unwrap_or_default()
    }

    /// The (widths, per-layer λ, init) combinations of a block's `lambdas` profiles whose values
    /// differ (equal ones are λ and in [`Spec::block_width_lambda_pairs`]), one per widths, init
    /// and sign pattern of the profile among those that survive the filters decidable on them:
    /// what decides their admissibility (docs/math.md §2.1, §3.6).
    pub fn block_width_profile_pairs(&self, block: usize) -> Vec<(Vec<usize>, Vec<f64>, InitKind)> {
        self.blocks.get(block).map(Block::width_profile_pairs).unwrap_or_default()
    }
}

pub(crate) mod count;
#[cfg(test)]
mod tests;
