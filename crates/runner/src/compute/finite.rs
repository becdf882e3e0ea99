//! [`sanitize`]: the row's last line of defence, so that no float it holds is NaN or infinite
//! (docs/dataset.md "Statuses"). A leaf module.
//!
//! The policy, for any status:
//! - a scalar column that is not finite becomes null;
//! - the per-time series (`t`, `phase`, `loss`, `kernel_distance`, `task_losses`,
//!   `singular_values`) stop at the first time at which any of them is not finite, so they keep
//!   one common length; `sim_loss` (an overlay) stops at its own first non-finite value;
//! - the QQᵀ checkpoints at or after that time, or from a checkpoint with a non-finite entry on,
//!   are dropped;
//! - the per-phase lists keep the phases completed before that time whose values are all finite;
//!   `phase_t_half` items that are not finite become null; `forgetting` and
//!   `forgetting_formula` keep the transitions between kept phases, up to their first
//!   non-finite entry.

use lazyrich_store::PointRow;

/// Which part of a row a non-finite value was in (the caller turns it into a status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// A parameter column (`lambda`, `scale`, …): a point that bypassed the spec's checks.
    Parameter,
    /// The initial state (`initial_loss`, `lambda_measured`, the balance defects).
    Initial,
    /// The primary run: its per-time series, checkpoints and per-phase summaries, and the
    /// scalars derived from them.
    Primary,
    /// The simulation next to a closed form (`sim_loss`, `cf_sim_error`), or a simulation's
    /// `balance_drift`.
    Simulation,
}

/// The first non-finite value found in a row.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct NonFinite {
    /// Its column.
    pub(super) column: &'static str,
    /// The time of its entry, for a per-time column.
    pub(super) at: Option<f64>,
    /// Its part of the row.
    pub(super) part: Part,
}

/// Whether every value of `xs` is finite: `xs.iter().all(|x| x.is_finite())` without the early
/// exit, a loop the compiler vectorises (rows are finite throughout but for the rare status).
fn finite(xs: &[f64]) -> bool {
    !xs.iter().fold(false, |bad, x| bad | !x.is_finite())
}

/// Keeps the first finding.
struct Findings(Option<NonFinite>);

impl Findings {
    fn note(&mut self, column: &'static str, at: Option<f64>, part: Part) {
        if self.0.is_none() {
            self.0 = Some(NonFinite { column, at, part });
        }
    }

    /// `None` for a non-finite value (noting it).
    fn scalar(&mut self, value: &mut Option<f64>, column: &'static str, part: Part) {
        if value.is_some_and(|x| !x.is_finite()) {
            *value = None;
            self.note(column, None, part);
        }
    }
}

/// Removes every non-finite float of `row` (module documentation) and returns the first one
/// found, parameters first, then the initial state, the per-time series (earliest time first),
/// the checkpoints, the per-phase lists, the simulation overlay and the other scalars. `None`
/// when every float was finite; the row is then unchanged.
pub(super) fn sanitize(row: &mut PointRow) -> Option<NonFinite> {
    let mut found = Findings(None);
    for (value, column) in [
        (&mut row.lambda, "lambda"),
        (&mut row.lambda_ft, "lambda_ft"),
        (&mut row.scale, "scale"),
        (&mut row.lr, "lr"),
        (&mut row.dt, "dt"),
    ] {
        found.scalar(value, column, Part::Parameter);
    }
    // The per-layer λ: a list that is kept whole or emptied (a point that bypassed the spec).
    if !finite(&row.lambdas) {
        row.lambdas.clear();
        found.note("lambdas", None, Part::Parameter);
    }
    found.scalar(&mut row.initial_loss, "initial_loss", Part::Initial);
    found.scalar(&mut row.lambda_measured, "lambda_measured", Part::Initial);
    found.scalar(&mut row.balance_defect, "balance_defect", Part::Initial);
    found.scalar(&mut row.balance_entry_defect, "balance_entry_defect", Part::Initial);

    // Per-time series: the first index with a non-finite value in any of them (none when each
    // series is finite throughout: then without the search, index by index).
    let mut cut = None;
    let series_finite = finite(&row.t)
        && finite(&row.loss)
        && finite(&row.kernel_distance)
        && row.task_losses.iter().all(|xs| finite(xs))
        && row.singular_values.iter().all(|xs| finite(xs));
    for idx in 0..if series_finite { 0 } else { row.t.len() } {
        let checks: [(&'static str, bool); 5] = [
            ("t", row.t[idx].is_finite()),
            ("loss", row.loss.get(idx).is_none_or(|x| x.is_finite())),
            ("kernel_distance", row.kernel_distance.get(idx).is_none_or(|x| x.is_finite())),
            ("task_losses", row.task_losses.get(idx).is_none_or(|xs| finite(xs))),
            ("singular_values", row.singular_values.get(idx).is_none_or(|xs| finite(xs))),
        ];
        if let Some(&(column, _)) = checks.iter().find(|(_, ok)| !ok) {
            found.note(column, Some(row.t[idx]), Part::Primary);
            cut = Some(idx);
            break;
        }
    }
    // After a cut: the last time kept (`Some(None)` when none is) and the number of phases
    // completed before the cut (those before the phase of the first dropped time).
    let (last_kept, phases_before_cut) = match cut {
        Some(idx) => {
            row.t.truncate(idx);
            row.loss.truncate(idx);
            row.kernel_distance.truncate(idx);
            row.task_losses.truncate(idx);
            row.singular_values.truncate(idx);
            let phase = row.phase.get(idx).map_or(0, |&p| p as usize);
            row.phase.truncate(idx);
            (Some(row.t.last().copied()), Some(phase))
        }
        None => (None, None),
    };

    // Checkpoints: up to the last kept time, each entirely finite.
    let n_checkpoints = row.qqt_t.len().min(row.qqt.len());
    let mut kept_checkpoints = n_checkpoints;
    for idx in 0..n_checkpoints {
        let t = row.qqt_t[idx];
        let after_cut = match last_kept {
            Some(Some(last)) => t > last,
            Some(None) => true,
            None => false,
        };
        if after_cut {
            kept_checkpoints = idx;
            break;
        }
        if !(t.is_finite() && finite(&row.qqt[idx])) {
            found.note(if t.is_finite() { "qqt" } else { "qqt_t" }, Some(t), Part::Primary);
            kept_checkpoints = idx;
            break;
        }
    }
    row.qqt_t.truncate(kept_checkpoints);
    row.qqt.truncate(kept_checkpoints);

    // Per-phase lists: the completed phases, up to the first with a non-finite value.
    let lengths = [
        row.phase_t_start.len(),
        row.phase_t_end.len(),
        row.phase_task_losses.len(),
        row.phase_t_half.len(),
        row.phase_kernel_distance.len(),
        row.phase_rep_change_in.len(),
        row.phase_rep_change_out.len(),
        row.phase_tsc_in.len(),
        row.phase_tsc_out.len(),
    ];
    let mut n_phases = lengths.iter().copied().min().unwrap_or(0);
    if let Some(completed) = phases_before_cut {
        n_phases = n_phases.min(completed);
    }
    for k in 0..n_phases {
        let checks: [(&'static str, bool); 8] = [
            ("phase_t_start", row.phase_t_start[k].is_finite()),
            ("phase_t_end", row.phase_t_end[k].is_finite()),
            ("phase_task_losses", finite(&row.phase_task_losses[k])),
            ("phase_kernel_distance", row.phase_kernel_distance[k].is_finite()),
            ("phase_rep_change_in", row.phase_rep_change_in[k].is_finite()),
            ("phase_rep_change_out", row.phase_rep_change_out[k].is_finite()),
            ("phase_tsc_in", row.phase_tsc_in[k].is_finite()),
            ("phase_tsc_out", row.phase_tsc_out[k].is_finite()),
        ];
        if let Some(&(column, _)) = checks.iter().find(|(_, ok)| !ok) {
            found.note(column, None, Part::Primary);
            n_phases = k;
            break;
        }
    }
    row.phase_t_start.truncate(n_phases);
    row.phase_t_end.truncate(n_phases);
    row.phase_task_losses.truncate(n_phases);
    row.phase_t_half.truncate(n_phases);
    row.phase_kernel_distance.truncate(n_phases);
    row.phase_rep_change_in.truncate(n_phases);
    row.phase_rep_change_out.truncate(n_phases);
    row.phase_tsc_in.truncate(n_phases);
    row.phase_tsc_out.truncate(n_phases);
    for half in &mut row.phase_t_half {
        if half.is_some_and(|x| !x.is_finite()) {
            *half = None;
            found.note("phase_t_half", None, Part::Primary);
        }
    }
    let mut n_transitions =
        n_phases.saturating_sub(1).min(row.forgetting.len()).min(row.forgetting_formula.len());
    for k in 0..n_transitions {
        let (measured, formula) = (finite(&row.forgetting[k]), finite(&row.forgetting_formula[k]));
        if !(measured && formula) {
            let column = if measured { "forgetting_formula" } else { "forgetting" };
            found.note(column, None, Part::Primary);
            n_transitions = k;
            break;
        }
    }
    row.forgetting.truncate(n_transitions);
    row.forgetting_formula.truncate(n_transitions);

    // The overlay: its own first non-finite value.
    if let Some(idx) = row.sim_loss.iter().position(|x| !x.is_finite()) {
        found.note("sim_loss", row.t.get(idx).copied(), Part::Simulation);
        row.sim_loss.truncate(idx);
    }
    found.scalar(&mut row.cf_sim_error, "cf_sim_error", Part::Simulation);
    found.scalar(&mut row.balance_drift, "balance_drift", Part::Simulation);
    found.scalar(&mut row.tolerance, "tolerance", Part::Simulation);

    // Scalars derived from the series (recomputed from the kept series by the caller).
    found.scalar(&mut row.t_end, "t_end", Part::Primary);
    found.scalar(&mut row.final_loss, "final_loss", Part::Primary);
    found.scalar(&mut row.t90, "t90", Part::Primary);
    found.scalar(&mut row.escape_time, "escape_time", Part::Primary);
    found.scalar(&mut row.kernel_distance_end, "kernel_distance_end", Part::Primary);
    if !row.wall_time_s.is_finite() {
        row.wall_time_s = 0.0;
    }
    found.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A two-phase row with finite values everywhere: times 0, 1, 2 (phase 0), 3, 4 (phase 1).
    fn row() -> PointRow {
        PointRow {
            lambda: Some(1.0),
            lambdas: vec![1.0],
            scale: Some(0.5),
            initial_loss: Some(2.0),
            t_end: Some(4.0),
            final_loss: Some(0.1),
            t: vec![0.0, 1.0, 2.0, 3.0, 4.0],
            phase: vec![0, 0, 0, 1, 1],
            loss: vec![2.0, 1.0, 0.5, 0.3, 0.1],
            kernel_distance: vec![0.0, 0.1, 0.2, 0.3, 0.4],
            task_losses: vec![vec![1.0, 2.0]; 5],
            singular_values: vec![vec![1.0, 0.5]; 5],
            sim_loss: vec![2.0, 1.0, 0.5, 0.3, 0.1],
            cf_sim_error: Some(1e-3),
            qqt_t: vec![0.0, 2.0, 4.0],
            qqt: vec![vec![1.0; 4]; 3],
            phase_t_start: vec![0.0, 2.0],
            phase_t_end: vec![2.0, 4.0],
            phase_task_losses: vec![vec![0.5, 1.0]; 2],
            phase_t_half: vec![Some(0.5), Some(1.5)],
            phase_kernel_distance: vec![0.2, 0.2],
            phase_rep_change_in: vec![1.0, 1.0],
            phase_rep_change_out: vec![1.0, 1.0],
            phase_tsc_in: vec![0.9, 0.9],
            phase_tsc_out: vec![0.9, 0.9],
            forgetting: vec![vec![0.1, -0.1]],
            forgetting_formula: vec![vec![0.1, -0.1]],
            ..PointRow::default()
        }
    }

    fn all_finite(row: &PointRow) -> bool {
        let scalars = [
            row.lambda,
            row.scale,
            row.initial_loss,
            row.t_end,
            row.final_loss,
            row.t90,
            row.escape_time,
            row.kernel_distance_end,
            row.balance_drift,
            row.tolerance,
            row.cf_sim_error,
            row.lambda_measured,
            row.balance_defect,
            row.balance_entry_defect,
        ];
        let lists = [
            &row.lambdas,
            &row.t,
            &row.loss,
            &row.kernel_distance,
            &row.sim_loss,
            &row.qqt_t,
            &row.phase_t_start,
            &row.phase_t_end,
            &row.phase_kernel_distance,
            &row.phase_rep_change_in,
            &row.phase_rep_change_out,
            &row.phase_tsc_in,
            &row.phase_tsc_out,
        ];
        let nested = [
            &row.task_losses,
            &row.singular_values,
            &row.qqt,
            &row.phase_task_losses,
            &row.forgetting,
            &row.forgetting_formula,
        ];
        scalars.iter().flatten().all(|x| x.is_finite())
            && lists.iter().all(|xs| finite(xs))
            && nested.iter().all(|xss| xss.iter().all(|xs| finite(xs)))
            && row.phase_t_half.iter().flatten().all(|x| x.is_finite())
    }

    /// [`finite`] (no early exit) is `all(is_finite)`, for every length up to 9 with one NaN or
    /// ±∞ at each place, and with none.
    #[test]
    fn finite_is_all_finite() {
        for len in 0..10 {
            let clean: Vec<f64> = (0..len).map(|k| k as f64 * -1.5e300).collect();
            assert!(finite(&clean) && clean.iter().all(|x| x.is_finite()));
            for at in 0..len {
                for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
                    let mut xs = clean.clone();
                    xs[at] = bad;
                    assert!(!finite(&xs), "{xs:?}");
                }
            }
        }
    }

    #[test]
    fn a_finite_row_is_left_alone() {
        let mut clean = row();
        assert_eq!(sanitize(&mut clean), None);
        assert_eq!(clean, row());
    }

    #[test]
    fn a_non_finite_loss_cuts_every_series_at_its_time() {
        let mut r = row();
        r.loss[3] = f64::INFINITY;
        r.singular_values[4][0] = f64::NAN;
        let found = sanitize(&mut r).unwrap();
        assert_eq!(found, NonFinite { column: "loss", at: Some(3.0), part: Part::Primary });
        assert_eq!(r.t, [0.0, 1.0, 2.0]);
        for len in [r.phase.len(), r.loss.len(), r.kernel_distance.len(), r.task_losses.len()] {
            assert_eq!(len, 3);
        }
        assert_eq!(r.singular_values.len(), 3);
        // The checkpoint at t = 4 is after the cut; phase 1 did not complete before it.
        assert_eq!(r.qqt_t, [0.0, 2.0]);
        assert_eq!((r.phase_t_end.as_slice(), r.phase_t_half.len()), (&[2.0][..], 1));
        assert!(r.forgetting.is_empty() && r.forgetting_formula.is_empty());
        // The overlay is finite: it is kept whole.
        assert_eq!(r.sim_loss.len(), 5);
        assert!(all_finite(&r));
        // A second pass finds nothing.
        assert_eq!(sanitize(&mut r), None);
    }

    #[test]
    fn a_non_finite_first_time_empties_the_series() {
        let mut r = row();
        r.kernel_distance[0] = f64::NAN;
        let found = sanitize(&mut r).unwrap();
        assert_eq!((found.column, found.at), ("kernel_distance", Some(0.0)));
        assert!(r.t.is_empty() && r.loss.is_empty() && r.qqt.is_empty());
        assert!(r.phase_t_start.is_empty() && r.forgetting.is_empty());
    }

    #[test]
    fn overlay_phase_and_scalar_values_are_cut_or_nulled_on_their_own() {
        let mut r = row();
        r.sim_loss[2] = f64::INFINITY;
        r.cf_sim_error = Some(f64::INFINITY);
        let found = sanitize(&mut r).unwrap();
        assert_eq!(found, NonFinite { column: "sim_loss", at: Some(2.0), part: Part::Simulation });
        assert_eq!((r.sim_loss.len(), r.cf_sim_error, r.t.len()), (2, None, 5));

        let mut r = row();
        r.phase_rep_change_out[1] = f64::NAN;
        r.phase_t_half[0] = Some(f64::INFINITY);
        assert_eq!(sanitize(&mut r).unwrap().column, "phase_rep_change_out");
        assert_eq!((r.phase_t_end.len(), r.phase_t_half.as_slice()), (1, &[None][..]));
        assert!(r.forgetting.is_empty());
        assert_eq!(r.t.len(), 5, "the series are untouched");

        let mut r = row();
        r.forgetting_formula[0][1] = f64::NEG_INFINITY;
        assert_eq!(sanitize(&mut r).unwrap().column, "forgetting_formula");
        assert!(r.forgetting.is_empty() && r.forgetting_formula.is_empty());

        let mut r = row();
        r.qqt[1][3] = f64::NAN;
        assert_eq!(sanitize(&mut r).unwrap().column, "qqt");
        assert_eq!(r.qqt_t, [0.0]);

        let mut r = row();
        r.initial_loss = Some(f64::INFINITY);
        r.scale = Some(f64::NAN);
        r.final_loss = Some(f64::NAN);
        let found = sanitize(&mut r).unwrap();
        assert_eq!((found.column, found.part), ("scale", Part::Parameter));
        assert_eq!((r.scale, r.initial_loss, r.final_loss), (None, None, None));
        assert!(all_finite(&r));

        // A per-layer λ that is not finite empties the list.
        let mut r = row();
        r.lambdas = vec![1.0, f64::INFINITY];
        let found = sanitize(&mut r).unwrap();
        assert_eq!((found.column, found.part), ("lambdas", Part::Parameter));
        assert!(r.lambdas.is_empty() && all_finite(&r));
    }
}
