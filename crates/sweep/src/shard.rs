//! Shards: a static split of a spec's points into `N` parts.
//!
//! A point belongs to shard `k` of `N` iff `point_id % N == k`. Ids are hashes, so the split is
//! balanced and interleaves every block (shards cost about the same even when blocks differ in
//! cost), and points with equal ids — the same computation reached from two places of the spec —
//! always fall into one shard, so shards running at the same time never duplicate a row.

use std::fmt;
use std::str::FromStr;

/// Shard `index` of `count` (written `k/N`, 0 ≤ k < N).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Shard {
    /// k, in `0..count`.
    pub index: u32,
    /// N ≥ 1.
    pub count: u32,
}

impl Shard {
    /// The whole spec: `0/1`.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Whether `index < count` (a shard built by hand may be neither).
    pub fn is_valid(self) -> bool {
        self.count >= 1 && self.index < self.count
    }

    /// Whether the point with id `point_id` belongs to this shard.
    pub fn contains(self, point_id: u64) -> bool {
        self.is_valid() && point_id % u64::from(self.count) == u64::from(self.index)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Why a `k/N` shard text is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardError {
    /// Not of the form `k/N`.
    #[error("invalid shard `{0}`: expected k/N with 0 ≤ k < N, e.g. 0/4")]
    Format(String),
    /// `N` is 0.
    #[error("invalid shard `{0}`: the shard count N must be at least 1")]
    ZeroCount(String),
    /// `k ≥ N`.
    #[error("invalid shard `{text}`: the index k must be below N = {count} (shards are numbered 0 to {last})", last = count - 1)]
    IndexTooLarge {
        /// The text as given.
        text: String,
        /// N.
        count: u32,
    },
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let format_error = || ShardError::Format(text.to_owned());
        let (index, count) = text.trim().split_once('/').ok_or_else(format_error)?;
        let parse = |part: &str| {
            let part = part.trim();
            if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format_error());
            }
            part.parse::<u32>().map_err(|_| format_error())
        };
        let (index, count) = (parse(index)?, parse(count)?);
        if count == 0 {
            return Err(ShardError::ZeroCount(text.to_owned()));
        }
        if index >= count {
            return Err(ShardError::IndexTooLarge { text: text.to_owned(), count });
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_k_of_n() {
        assert_eq!("0/1".parse::<Shard>().unwrap(), Shard::ALL);
        assert_eq!("3/8".parse::<Shard>().unwrap(), Shard { index: 3, count: 8 });
        assert_eq!(" 2 / 4 ".parse::<Shard>().unwrap(), Shard { index: 2, count: 4 });
        assert_eq!(Shard { index: 3, count: 8 }.to_string(), "3/8");
    }

    #[test]
    fn explains_errors() {
        let message = |text: &str| text.parse::<Shard>().unwrap_err().to_string();
        assert!(message("3").contains("expected k/N"));
        assert!(message("a/4").contains("expected k/N"));
        assert!(message("-1/4").contains("expected k/N"));
        assert!(message("1/0").contains("at least 1"));
        assert!(message("4/4").contains("below N = 4"));
        assert!(message("4/4").contains("0 to 3"));
        assert!(message("99999999999/4").contains("expected k/N"));
    }

    #[test]
    fn membership() {
        let shard = Shard { index: 1, count: 3 };
        assert!(shard.contains(1) && shard.contains(4) && !shard.contains(3));
        assert!(!Shard { index: 0, count: 0 }.contains(0));
        assert!(Shard::ALL.contains(12345));
    }
}
