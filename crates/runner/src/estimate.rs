//! How long a spec's points take: a timed, deterministic sample of them (for choosing shards).

use std::time::{Duration, Instant};

use lazyrich_store::PointRow;
use lazyrich_sweep::Spec;

use crate::compute::compute_point;

/// Raw indices tried after a sample position whose point a filter drops, before giving up on it.
const FILTER_TRIES: u64 = 64;

/// What [`estimate`] measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    /// Points computed (at least 1 when the spec has a point).
    pub sample_points: usize,
    /// Mean wall time of one point on one thread, in seconds.
    pub seconds_per_point: f64,
}

/// Computes a spread sample of `spec`'s points on this thread and returns the mean time per point.
///
/// The sample is deterministic: up to `max_points` raw indices evenly spread over the whole
/// spec (so every block is represented in proportion to its size; a position a filter drops
/// moves on to the next kept point). It stops early once `budget` has elapsed, after at least
/// one point. The rows are thrown away. A spec without a point gives 0 sample points.
pub fn estimate(spec: &Spec, max_points: usize, budget: Duration) -> Estimate {
    sample(spec, max_points, budget).estimate
}

/// The rows of [`estimate`]'s sample, with the estimate (for size estimates).
#[derive(Clone, Debug)]
pub struct Sample {
    /// What the sample measured.
    pub estimate: Estimate,
    /// The sampled points' rows, as `run` would write them (provenance columns empty).
    pub rows: Vec<PointRow>,
}

/// Like [`estimate`], keeping the sampled rows.
pub fn sample(spec: &Spec, max_points: usize, budget: Duration) -> Sample {
    let n_raw = spec.n_raw();
    let mut rows = Vec::new();
    let positions = (max_points.max(1) as u64).min(n_raw);
    let start = Instant::now();
    let mut sample_points = 0;
    for k in 0..positions {
        // Position k of `positions`, spread evenly over [0, n_raw).
        let first = ((u128::from(k) * u128::from(n_raw)) / u128::from(positions)) as u64;
        let end = first.saturating_add(FILTER_TRIES).min(n_raw);
        let Some(point) = (first..end).find_map(|raw| spec.point(raw)) else { continue };
        rows.push(compute_point(&point));
        sample_points += 1;
        if start.elapsed() >= budget {
            break;
        }
    }
    let seconds_per_point =
        if sample_points == 0 { 0.0 } else { start.elapsed().as_secs_f64() / sample_points as f64 };
    Sample { estimate: Estimate { sample_points, seconds_per_point }, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: &str = "name = \"e\"\nseed = 1\n[[block]]\ntask = { kind = \"random\", samples = 8 }\n\
                        init = \"balanced\"\nmethod = \"closed-form\"\ntime = [0.0, 1.0]\n\
                        lambda = { linspace = [-1, 1, 200] }\nscale = 0.5\nwidths = [2, 2, 2]\n";

    #[test]
    fn samples_at_most_the_requested_points() {
        let spec = Spec::parse(SPEC, "e.toml").unwrap();
        let estimate = estimate(&spec, 7, Duration::from_secs(60));
        assert_eq!(estimate.sample_points, 7);
        assert!(estimate.seconds_per_point > 0.0 && estimate.seconds_per_point < 10.0);
    }

    #[test]
    fn stops_after_the_budget_with_at_least_one_point() {
        let spec = Spec::parse(SPEC, "e.toml").unwrap();
        let estimate = estimate(&spec, 50, Duration::ZERO);
        assert_eq!(estimate.sample_points, 1);
    }
}
