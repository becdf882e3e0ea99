//! `plan`'s warnings: combinations a spec accepts but that are likely not what the user wants.
//!
//! - `init = "balanced"` at λ = 0 on a network with `Ni = No`: about half of such draws end on a
//!   saddle (status `singular`, docs/math.md P2); `balanced-signed` avoids it.
//! - A simulation whose `lr` or `dt` is likely unstable for the block's largest scale, |λ| or
//!   step ([`lazyrich_runner::step_check`]): evaluated on at most three points per block, the
//!   largest by `step × scale²`, `step × |λ|` and `step` among an evenly spread scan of the
//!   spec's points.

use std::collections::BTreeMap;

use lazyrich_runner::step_check;
use lazyrich_sweep::{InitKind, Point, Spec, Step, located_message};

/// Most points scanned for step candidates.
const SCAN_POINTS: u64 = 20_000;

/// The warnings for `spec` (read from `origin`), one line each.
pub fn warnings(spec: &Spec, origin: &str) -> Vec<String> {
    let mut lines = saddle_warnings(spec, origin);
    lines.extend(step_warnings(spec, origin));
    lines
}

fn saddle_warnings(spec: &Spec, origin: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for block in 0..spec.n_blocks() {
        let square_at_zero = spec
            .block_width_lambda_pairs(block)
            .into_iter()
            .find(|(w, l, i)| *i == InitKind::Balanced && *l == Some(0.0) && w.first() == w.last());
        if let Some((widths, _, _)) = square_at_zero {
            let n = widths.first().copied().unwrap_or(0);
            lines.push(located_message(
                origin,
                spec.location(block, "init"),
                &format!("block[{block}].init"),
                &format!(
                    "`balanced` at λ = 0 with Ni = No = {n}: about half of these draws end on a \
                     saddle and are `singular` (docs/math.md P2); init = \"balanced-signed\" \
                     avoids it"
                ),
            ));
        }
    }
    lines
}

/// The points of each block to check: the largest by step × scale², step × |λ| (the largest
/// |λ_l| of a `lambdas` profile) and step.
fn candidates(spec: &Spec) -> BTreeMap<u32, Vec<Point>> {
    let n_raw = spec.n_raw();
    let stride = n_raw.div_ceil(SCAN_POINTS).max(1);
    let mut best: BTreeMap<u32, [Option<(f64, Point)>; 3]> = BTreeMap::new();
    for raw in (0..n_raw).step_by(usize::try_from(stride).unwrap_or(usize::MAX)) {
        let Some(point) = spec.point(raw) else { continue };
        let Some(step) = point.step() else { continue };
        let size = match step {
            Step::Gd { lr } => lr,
            Step::Rk4 { dt } => dt,
            // It chooses its own stable steps: nothing to warn of.
            Step::Adaptive { .. } => continue,
        };
        let scale = point.scale.unwrap_or(1.0);
        let keys = [size * scale * scale, size * point.max_abs_lambda().unwrap_or(0.0), size];
        let slots = best.entry(point.block).or_default();
        for (slot, key) in slots.iter_mut().zip(keys) {
            if slot.as_ref().is_none_or(|(k, _)| key > *k) {
                *slot = Some((key, point.clone()));
            }
        }
    }
    best.into_iter()
        .map(|(block, slots)| {
            let mut points: Vec<Point> = Vec::new();
            for (_, point) in slots.into_iter().flatten() {
                if !points.iter().any(|p| p.point_id == point.point_id) {
                    points.push(point);
                }
            }
            (block, points)
        })
        .collect()
}

fn step_warnings(spec: &Spec, origin: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for (block, points) in candidates(spec) {
        let worst = points
            .iter()
            .filter_map(|p| step_check(p).map(|check| (p, check)))
            .filter(|(_, check)| check.unstable())
            .max_by(|a, b| (a.1.product / a.1.limit).total_cmp(&(b.1.product / b.1.limit)));
        let Some((point, check)) = worst else { continue };
        let (field, name, size, what) = match check.step {
            Step::Gd { lr } => ("lr", "lr", lr, "gradient descent"),
            Step::Rk4 { dt } => ("dt", "dt", dt, "RK4"),
            // `step_check` checks no adaptive point.
            Step::Adaptive { .. } => continue,
        };
        // The curvature is an upper bound near the start: above twice the limit divergence is
        // all but certain, between 1× and 2× it is possible.
        let how = if check.product > 2.0 * check.limit { "is likely to" } else { "may" };
        let mut at = Vec::new();
        if let Some(scale) = point.scale {
            at.push(format!("scale = {scale}"));
        }
        if let Some(lambda) = point.lambda {
            at.push(format!("λ = {lambda}"));
        }
        if let Some(lambdas) = &point.lambdas {
            at.push(format!("λ_l = {lambdas:?}"));
        }
        let widths: Vec<String> = point.widths.iter().map(ToString::to_string).collect();
        at.push(format!("widths {}", widths.join("-")));
        lines.push(located_message(
            origin,
            spec.location(block as usize, field),
            &format!("block[{block}].{field}"),
            &format!(
                "{name} = {size} at {} (point {:016x}): {name} × curvature ≈ {:.3} > {}: {what} \
                 {how} diverge (status diverged or inaccurate); {name} below {:.3} is stable there",
                at.join(", "),
                point.point_id,
                check.product,
                check.limit,
                check.largest_stable_step()
            ),
        ));
    }
    lines
}
