//! The counts behind `lazyrich status`: done, missing and failed points, overall and per
//! shard, from the spec and the `(point_id, status, shard)` of every row, in one pass over the
//! spec whatever the number of shards.

use std::collections::{BTreeMap, HashMap, HashSet};

use lazyrich_sweep::{Shard, Spec};
use serde::Serialize;

/// Done / missing / failed counts of a set of points.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Points with a row.
    pub done: u64,
    /// Points of the spec without a row (`None`: unknown, the rows disagree on N).
    pub missing: Option<u64>,
    /// Done points whose status is not `ok`, by status.
    pub failed: BTreeMap<String, u64>,
}

impl Counts {
    /// Done points whose status is not `ok`.
    pub fn n_failed(&self) -> u64 {
        self.failed.values().sum()
    }

    /// `0`, or `3 (diverged 1, singular 2)`.
    pub fn failed_text(&self) -> String {
        let n_failed = self.n_failed();
        if n_failed == 0 {
            return "0".to_owned();
        }
        let parts: Vec<String> = self.failed.iter().map(|(s, n)| format!("{s} {n}")).collect();
        format!("{n_failed} ({})", parts.join(", "))
    }

    fn add(&mut self, status: &str) {
        self.done += 1;
        if status != "ok" {
            *self.failed.entry(status.to_owned()).or_insert(0) += 1;
        }
    }
}

/// One shard's line of the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardCounts {
    /// The shard as the rows record it (`"k/N"`), or as `--shards N` names it.
    pub text: String,
    /// The shard, when `text` is a valid `k/N`.
    pub shard: Option<Shard>,
    /// Its counts.
    pub counts: Counts,
}

/// The status of a dataset against its spec.
#[derive(Debug, PartialEq, Eq)]
pub struct Report {
    /// Distinct point ids of the spec.
    pub expected: u64,
    /// Counts over every point.
    pub overall: Counts,
    /// The N the per-shard counts use: given, or the one every row agrees on.
    pub shard_count: Option<u32>,
    /// Per shard: every shard `k/N` of `shard_count` (with or without rows), else the shards
    /// as the rows record them, without missing counts.
    pub shards: Vec<ShardCounts>,
    /// Rows beyond the first of their point id.
    pub duplicate_rows: u64,
    /// Distinct ids in the dataset that the spec does not have.
    pub unexpected: u64,
}

impl Report {
    /// Counts the rows `(point_id, status, shard)` against the spec, per shard of `shard_count`
    /// (default: the N every row agrees on), in one pass over the spec's points.
    pub fn build(spec: &Spec, rows: &[(u64, String, String)], shard_count: Option<u32>) -> Report {
        // First row of each id: its status and shard.
        let mut present: HashMap<u64, (&str, &str)> = HashMap::with_capacity(rows.len());
        for (id, status, shard) in rows {
            present.entry(*id).or_insert((status.as_str(), shard.as_str()));
        }
        let duplicate_rows = (rows.len() - present.len()) as u64;
        let shard_count = shard_count.or_else(|| common_shard_count(present.values()));
        let n = shard_count.unwrap_or(1);
        let mut buckets = vec![Counts { missing: Some(0), ..Counts::default() }; n as usize];
        let mut overall = Counts { missing: Some(0), ..Counts::default() };
        let (mut expected, mut matched) = (0u64, 0u64);
        // Each distinct id once: no set is needed when no two points can share an id.
        let mut seen = (!spec.ids_distinct()).then(HashSet::new);
        for point in spec.points(Shard::ALL) {
            let id = point.point_id;
            if let Some(seen) = &mut seen
                && !seen.insert(id)
            {
                continue;
            }
            expected += 1;
            let bucket = &mut buckets[(id % u64::from(n)) as usize];
            match present.get(&id) {
                Some(&(status, _)) => {
                    matched += 1;
                    overall.add(status);
                    bucket.add(status);
                }
                None => {
                    for counts in [&mut overall, bucket] {
                        counts.missing = counts.missing.map(|m| m + 1);
                    }
                }
            }
        }
        let unexpected = present.len() as u64 - matched;
        let shards = match shard_count {
            Some(count) => buckets
                .into_iter()
                .zip(0..count)
                .map(|(counts, index)| {
                    let shard = Shard { index, count };
                    ShardCounts { text: shard.to_string(), shard: Some(shard), counts }
                })
                .collect(),
            None => as_recorded(present.values()),
        };
        Report { expected, overall, shard_count, shards, duplicate_rows, unexpected }
    }

    /// The shards with missing points, by index.
    pub fn incomplete(&self) -> impl Iterator<Item = Shard> + '_ {
        self.shards
            .iter()
            .filter(|s| s.counts.missing.is_some_and(|m| m > 0))
            .filter_map(|s| s.shard)
    }
}

/// Per shard as the rows record it (no missing counts: the rows disagree on N).
fn as_recorded<'a>(present: impl Iterator<Item = &'a (&'a str, &'a str)>) -> Vec<ShardCounts> {
    let mut per_shard: BTreeMap<&str, Counts> = BTreeMap::new();
    for &(status, shard) in present {
        per_shard.entry(shard).or_default().add(status);
    }
    let mut shards: Vec<ShardCounts> = per_shard
        .into_iter()
        .map(|(text, counts)| ShardCounts {
            text: text.to_owned(),
            shard: text.parse().ok().filter(|s: &Shard| s.is_valid()),
            counts,
        })
        .collect();
    shards.sort_by_key(|s| s.shard.map(|s| (s.count, s.index)));
    shards
}

/// N, if every row's shard is a valid `k/N` with the same N.
fn common_shard_count<'a>(present: impl Iterator<Item = &'a (&'a str, &'a str)>) -> Option<u32> {
    let mut count = None;
    for &(_, text) in present {
        let shard: Shard = text.parse().ok().filter(|s: &Shard| s.is_valid())?;
        match count {
            None => count = Some(shard.count),
            Some(n) if n == shard.count => {}
            Some(_) => return None,
        }
    }
    count
}

/// A Slurm array expression of shard indices: `1,7-9` (sorted, runs of consecutive indices
/// as ranges; empty for none).
pub fn array_expression(indices: impl IntoIterator<Item = u32>) -> String {
    let mut indices: Vec<u32> = indices.into_iter().collect();
    indices.sort_unstable();
    indices.dedup();
    let mut parts = Vec::new();
    let mut iter = indices.into_iter().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        parts.push(if first == last { first.to_string() } else { format!("{first}-{last}") });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "name = \"t\"\nseed = 3\n[[block]]\ntask = { kind = \"random\", samples = 8 }\n\
                        init = \"balanced\"\nmethod = \"closed-form\"\ntime = [0.0, 1.0]\n\
                        lambda = [-1.0, 0.0, 1.0]\nscale = 0.5\nwidths = [2, 2, 2]\nreplicates = 2\n";

    fn rows(spec: &Spec, shard_count: u32, keep: &[u64]) -> Vec<(u64, String, String)> {
        spec.points(Shard::ALL)
            .filter(|p| keep.contains(&p.raw_index))
            .map(|p| {
                let shard = Shard {
                    index: (p.point_id % u64::from(shard_count)) as u32,
                    count: shard_count,
                };
                let status = if p.raw_index == 1 { "singular" } else { "ok" };
                (p.point_id, status.to_owned(), shard.to_string())
            })
            .collect()
    }

    fn table(report: &Report) -> Vec<(String, u64, Option<u64>)> {
        report.shards.iter().map(|s| (s.text.clone(), s.counts.done, s.counts.missing)).collect()
    }

    /// (shard, done, missing) of every shard when the points at raw indices `keep` are done,
    /// counted the slow way: one enumeration per shard.
    fn expected_shards(spec: &Spec, n: u32, keep: &[u64]) -> Vec<(String, u64, Option<u64>)> {
        (0..n)
            .map(|k| {
                let shard = Shard { index: k, count: n };
                let done =
                    spec.points(shard).filter(|p| keep.contains(&p.raw_index)).count() as u64;
                (shard.to_string(), done, Some(spec.count(shard) - done))
            })
            .collect()
    }

    #[test]
    fn counts_overall_and_per_shard() {
        let spec = Spec::parse(SPEC, "t.toml").unwrap();
        let rows = rows(&spec, 2, &[0, 1, 2]);
        let report = Report::build(&spec, &rows, None);
        assert_eq!(report.expected, 6);
        assert_eq!(report.overall.done, 3);
        assert_eq!(report.overall.missing, Some(3));
        assert_eq!(report.overall.failed_text(), "1 (singular 1)");
        assert_eq!(report.shard_count, Some(2));
        assert_eq!(table(&report), expected_shards(&spec, 2, &[0, 1, 2]));
        assert_eq!((report.duplicate_rows, report.unexpected), (0, 0));
    }

    #[test]
    fn shards_that_disagree_on_n_have_no_missing_count_unless_n_is_given() {
        let spec = Spec::parse(SPEC, "t.toml").unwrap();
        let mut rows = rows(&spec, 2, &[0, 1]);
        rows.extend(self::rows(&spec, 3, &[4]));
        rows.push(rows[0].clone());
        let report = Report::build(&spec, &rows, None);
        assert_eq!(report.shard_count, None);
        assert!(report.shards.iter().all(|s| s.counts.missing.is_none()), "{report:?}");
        assert_eq!(report.overall.missing, Some(3));
        assert_eq!(report.duplicate_rows, 1);
        let given = Report::build(&spec, &rows, Some(5));
        assert_eq!(table(&given), expected_shards(&spec, 5, &[0, 1, 4]));
    }

    #[test]
    fn a_shard_without_rows_is_listed_with_its_missing_points() {
        let spec = Spec::parse(SPEC, "t.toml").unwrap();
        let rows = rows(&spec, 3, &[0, 3]);
        let report = Report::build(&spec, &rows, None);
        assert_eq!(table(&report), expected_shards(&spec, 3, &[0, 3]));
        assert_eq!(report.shards.len(), 3, "every shard is listed, with or without rows");
        let incomplete: Vec<u32> = report.incomplete().map(|s| s.index).collect();
        assert_eq!(incomplete, vec![0, 1, 2]);
        let nothing = Report::build(&spec, &[], Some(4));
        assert_eq!(table(&nothing), expected_shards(&spec, 4, &[]));
    }

    /// Ids shared by several raw points (a Gaussian init ignores λ) count once.
    #[test]
    fn repeated_ids_count_once() {
        let text = SPEC
            .replace("init = \"balanced\"", "init = \"gaussian\"")
            .replace("method = \"closed-form\"", "method = \"gd\"\nlr = 0.1");
        let spec = Spec::parse(&text, "t.toml").unwrap();
        assert!(!spec.ids_distinct());
        let distinct: HashSet<u64> = spec.points(Shard::ALL).map(|p| p.point_id).collect();
        let report = Report::build(&spec, &[], Some(2));
        assert_eq!(report.expected, distinct.len() as u64);
        assert!(report.expected < spec.count(Shard::ALL));
        let missing: u64 = report.shards.iter().map(|s| s.counts.missing.unwrap()).sum();
        assert_eq!(missing, report.expected);
    }

    #[test]
    fn unexpected_ids_are_counted() {
        let spec = Spec::parse(SPEC, "t.toml").unwrap();
        let mut rows = rows(&spec, 1, &[0]);
        rows.push((12345, "ok".to_owned(), "0/1".to_owned()));
        let report = Report::build(&spec, &rows, None);
        assert_eq!((report.unexpected, report.overall.done), (1, 1));
    }

    #[test]
    fn array_expressions_join_runs() {
        assert_eq!(array_expression([]), "");
        assert_eq!(array_expression([3]), "3");
        assert_eq!(array_expression([9, 1, 7, 8]), "1,7-9");
        assert_eq!(array_expression([0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
        assert_eq!(array_expression([5, 5, 6]), "5-6");
    }
}
