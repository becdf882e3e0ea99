//! Row summaries computed from the recorded series: final loss, end kernel distance, t90 and the
//! reversal escape time.

use lazyrich_store::PointRow;

/// Final loss, end kernel distance, t90 (of the first phase) and the reversal escape time.
pub(super) fn summarize(row: &mut PointRow) {
    row.final_loss = row.loss.last().copied();
    row.kernel_distance_end = row.kernel_distance.last().copied();
    if let Some(&t_last) = row.t.last() {
        row.t_end = Some(t_last);
    }
    // The first phase: its entries come first in the series.
    let first = row.phase.iter().take_while(|&&p| p == 0).count();
    let first_final = row.loss[..first].last().copied();
    row.t90 = match (row.initial_loss, first_final) {
        (Some(initial), Some(fin)) if initial > fin => time_to_fraction(
            &row.t[..first],
            0.0,
            &row.loss[..first],
            initial,
            initial - 0.9 * (initial - fin),
        ),
        _ => None,
    };
    if row.task == "reversal" {
        row.escape_time = row.phase_t_half.get(1).copied().flatten();
    }
}

/// First time the loss reaches `threshold`, linearly interpolated on the grid of the times
/// `t − t0` (times since `t0`, computed on the fly), starting from `(0, initial)` when the grid
/// does not start at 0.
pub(super) fn time_to_fraction(
    t: &[f64],
    t0: f64,
    loss: &[f64],
    initial: f64,
    threshold: f64,
) -> Option<f64> {
    let (mut t_prev, mut l_prev) = (0.0, initial);
    for (&ti, &li) in t.iter().zip(loss) {
        let ti = ti - t0;
        if li <= threshold {
            if ti == t_prev {
                return Some(ti);
            }
            let frac = (l_prev - threshold) / (l_prev - li);
            return Some(t_prev + frac * (ti - t_prev));
        }
        (t_prev, l_prev) = (ti, li);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t90_interpolates_between_grid_points() {
        let t = [1.0, 2.0, 3.0];
        let loss = [8.0, 4.0, 0.0];
        // initial 10, final 0: threshold 1 is reached between t = 2 (4) and t = 3 (0).
        assert_eq!(time_to_fraction(&t, 0.0, &loss, 10.0, 1.0), Some(2.75));
        // From (0, 10) to (1, 8) when the threshold is 9.
        assert_eq!(time_to_fraction(&t, 0.0, &loss, 10.0, 9.0), Some(0.5));
        assert_eq!(time_to_fraction(&t, 0.0, &loss, 10.0, -1.0), None);
        // The same grid shifted by t0 = 5 (a later phase's times).
        let later = [6.0, 7.0, 8.0];
        assert_eq!(time_to_fraction(&later, 5.0, &loss, 10.0, 1.0), Some(2.75));
    }
}
