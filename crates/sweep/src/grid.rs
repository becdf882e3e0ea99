//! Float grids: `linspace`, `logspace` and `range`, each built from an integer index.
//!
//! No grid accumulates `x += step`: value `i` is computed from `i` alone, so a grid is the same
//! whatever its length and the endpoints of `linspace` are exact. A [`Grid`] is never
//! materialised: it holds its parameters and computes value `i` on demand, so a 10⁷-value λ grid
//! costs a few bytes, not 80 MB. Errors are plain reasons; the caller attaches the file position.

use std::sync::OnceLock;

/// Most values one grid object may produce.
pub const MAX_GRID_VALUES: u64 = 10_000_000;

/// Largest |exponent| accepted by `logspace` (10^±300 is still a normal f64).
pub const MAX_LOG_EXPONENT: f64 = 300.0;

/// A validated grid object, its values computed from their index.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Grid {
    /// `linspace = [start, stop, num]`.
    Linspace { start: f64, stop: f64, num: u64 },
    /// `logspace = [start_exp, stop_exp, num]`: `10^x` of the linspace of the exponents.
    Logspace { start_exp: f64, stop_exp: f64, num: u64 },
    /// `range = [start, stop, step]` with its `num` values `start + i·step`.
    Range { start: f64, step: f64, num: u64 },
}

impl Grid {
    /// Number of values (≥ 1).
    pub(crate) fn len(&self) -> u64 {
        match *self {
            Grid::Linspace { num, .. } | Grid::Logspace { num, .. } | Grid::Range { num, .. } => {
                num
            }
        }
    }

    /// Value `idx` (< `len`).
    pub(crate) fn get(&self, idx: u64) -> f64 {
        match *self {
            Grid::Linspace { start, stop, num } => linspace_value(start, stop, num, idx),
            Grid::Logspace { start_exp, stop_exp, num } => {
                power_of_ten(linspace_value(start_exp, stop_exp, num, idx))
            }
            Grid::Range { start, step, .. } => start + (idx as f64) * step,
        }
    }

    /// Every value, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.len()).map(|idx| self.get(idx))
    }
}

/// `x_i = start + i·(stop − start)/(num − 1)`, with `x_{num−1} = stop` exactly.
fn linspace_value(start: f64, stop: f64, num: u64, idx: u64) -> f64 {
    if num <= 1 {
        return start;
    }
    let last = num - 1;
    if idx >= last {
        return stop;
    }
    // The same operations as a materialised grid (so `-0.0 + 0·w` is `0.0` at index 0, as before).
    start + (idx as f64) * (stop - start) / (last as f64)
}

/// `num` evenly spaced values from `start` to `stop`, both included (exactly).
///
/// `x_i = start + i·(stop − start)/(num − 1)`, with `x_{num−1} = stop` set exactly; `num = 1`
/// gives `[start]`.
pub(crate) fn linspace(start: f64, stop: f64, num: u64) -> Result<Grid, String> {
    if num == 0 {
        return Err("linspace needs num ≥ 1, found 0".to_owned());
    }
    if num > MAX_GRID_VALUES {
        return Err(format!("linspace num = {num} is more than {MAX_GRID_VALUES} values"));
    }
    let width = stop - start;
    if !width.is_finite() {
        return Err(format!("linspace from {start} to {stop} spans more than a finite float"));
    }
    Ok(Grid::Linspace { start, stop, num })
}

/// `10^x` for `x` in `linspace(start_exp, stop_exp, num)`.
///
/// Integral exponents give the correctly rounded power of ten (so `logspace(-2, 2, 5)` is
/// exactly `[0.01, 0.1, 1, 10, 100]` as written in decimal); others use `powf`.
pub(crate) fn logspace(start_exp: f64, stop_exp: f64, num: u64) -> Result<Grid, String> {
    for exp in [start_exp, stop_exp] {
        if exp.abs() > MAX_LOG_EXPONENT {
            return Err(format!(
                "logspace exponent {exp} is out of range: use exponents in [-300, 300] \
                 (the grid is 10^exponent)"
            ));
        }
    }
    match linspace(start_exp, stop_exp, num) {
        Ok(_) => Ok(Grid::Logspace { start_exp, stop_exp, num }),
        Err(reason) => Err(reason.replacen("linspace", "logspace", 1)),
    }
}

/// The correctly rounded powers of ten 10^-300 … 10^300 (decimal parsing is correctly rounded).
fn exact_powers() -> &'static [f64] {
    static POWERS: OnceLock<Vec<f64>> = OnceLock::new();
    POWERS.get_or_init(|| {
        (-300..=300).map(|exp: i32| format!("1e{exp}").parse().unwrap_or(f64::NAN)).collect()
    })
}

fn power_of_ten(exp: f64) -> f64 {
    if exp.fract() == 0.0 && exp.abs() <= MAX_LOG_EXPONENT {
        // |exp| ≤ 300 and integral: an index into the table.
        let idx = (exp + MAX_LOG_EXPONENT) as usize;
        match exact_powers().get(idx) {
            Some(&power) if power.is_finite() => power,
            _ => 10f64.powf(exp),
        }
    } else {
        10f64.powf(exp)
    }
}

/// The values of a float axis: a list as written, or a grid object (never materialised).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Floats {
    /// Values written one by one.
    List(Vec<f64>),
    /// A grid object.
    Grid(Grid),
}

impl Default for Floats {
    fn default() -> Floats {
        Floats::List(Vec::new())
    }
}

impl Floats {
    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        match self {
            Floats::List(values) => values.len(),
            // A grid has at most MAX_GRID_VALUES values.
            Floats::Grid(grid) => usize::try_from(grid.len()).unwrap_or(usize::MAX),
        }
    }

    /// Value `idx`, if there is one.
    pub(crate) fn get(&self, idx: usize) -> Option<f64> {
        match self {
            Floats::List(values) => values.get(idx).copied(),
            Floats::Grid(grid) => {
                let idx = idx as u64;
                (idx < grid.len()).then(|| grid.get(idx))
            }
        }
    }

    /// Every value, in order.
    pub(crate) fn iter(&self) -> Box<dyn Iterator<Item = f64> + '_> {
        match self {
            Floats::List(values) => Box::new(values.iter().copied()),
            Floats::Grid(grid) => Box::new(grid.iter()),
        }
    }

    /// Whether no two values are equal (as numbers: −0.0 equals 0.0), found without allocating
    /// for strictly monotonic sequences (every grid, most lists) and by sorting a copy of a list
    /// otherwise.
    pub(crate) fn all_distinct(&self) -> bool {
        let mut previous: Option<f64> = None;
        let mut direction = 0i8;
        let mut monotonic = true;
        for x in self.iter() {
            if let Some(p) = previous {
                let step = if x > p {
                    1
                } else if x < p {
                    -1
                } else {
                    0
                };
                if step == 0 || (direction != 0 && step != direction) {
                    monotonic = false;
                    break;
                }
                direction = step;
            }
            previous = Some(x);
        }
        if monotonic {
            return true;
        }
        match self {
            Floats::List(values) => {
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                sorted.windows(2).all(|pair| pair[0] != pair[1])
            }
            // A grid that is not strictly monotonic (rounding) is treated as having repeats.
            Floats::Grid(_) => false,
        }
    }

    /// The smallest and the largest value (`None` when empty).
    pub(crate) fn bounds(&self) -> Option<(f64, f64)> {
        self.iter().fold(None, |acc, x| match acc {
            None => Some((x, x)),
            Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
        })
    }
}

/// Relative tolerance (in units of |step|) of the `range` end test.
const RANGE_TOLERANCE: f64 = 1e-9;

/// `x_i = start + i·step` for every `i` with `x_i` strictly before `stop`: the range is half-open,
/// like Python's `range` and numpy's `arange`, so `range(0, 1, 0.1)` has exactly 10 values.
///
/// "Strictly before" allows for rounding: a value within `1e-9·|step|` of `stop` counts as `stop`
/// and is excluded. To include the end point, use `linspace` (or put `stop` half a step further).
pub(crate) fn range(start: f64, stop: f64, step: f64) -> Result<Grid, String> {
    if step == 0.0 {
        return Err("range step must not be 0".to_owned());
    }
    let span = stop - start;
    if !span.is_finite() {
        return Err(format!("range from {start} to {stop} spans more than a finite float"));
    }
    if span == 0.0 {
        return Err(format!("range from {start} to {stop} is empty (stop is excluded)"));
    }
    if span.signum() != step.signum() {
        let needed = if span > 0.0 { "positive" } else { "negative" };
        return Err(format!(
            "range from {start} to {stop} needs a {needed} step, found {step} (the range would never reach stop)"
        ));
    }
    let quotient = span / step;
    if !quotient.is_finite() || quotient > MAX_GRID_VALUES as f64 {
        return Err(format!(
            "range from {start} to {stop} by {step} has about {quotient:.3e} values, more than {MAX_GRID_VALUES}"
        ));
    }
    let tolerance = RANGE_TOLERANCE * step.abs();
    let value = |idx: u64| start + (idx as f64) * step;
    let inside = |x: f64| if step > 0.0 { x < stop - tolerance } else { x > stop + tolerance };
    // Start from the estimate ⌈quotient⌉ and correct it by the exact test (a step or two at most).
    let mut num = quotient.ceil() as u64;
    while num > 0 && !inside(value(num - 1)) {
        num -= 1;
    }
    while num <= MAX_GRID_VALUES && inside(value(num)) {
        num += 1;
    }
    if num == 0 {
        return Err(format!("range from {start} to {stop} by {step} is empty (stop is excluded)"));
    }
    if num > MAX_GRID_VALUES {
        return Err(format!(
            "range from {start} to {stop} by {step} has more than {MAX_GRID_VALUES} values"
        ));
    }
    Ok(Grid::Range { start, step, num })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linspace(start: f64, stop: f64, num: u64) -> Result<Vec<f64>, String> {
        super::linspace(start, stop, num).map(|grid| grid.iter().collect())
    }

    fn logspace(start: f64, stop: f64, num: u64) -> Result<Vec<f64>, String> {
        super::logspace(start, stop, num).map(|grid| grid.iter().collect())
    }

    fn range(start: f64, stop: f64, step: f64) -> Result<Vec<f64>, String> {
        super::range(start, stop, step).map(|grid| grid.iter().collect())
    }

    #[test]
    fn linspace_endpoints_exact() {
        let grid = linspace(-5.0, 5.0, 21).unwrap();
        assert_eq!(grid.len(), 21);
        assert_eq!(grid[0], -5.0);
        assert_eq!(grid[10], 0.0);
        assert_eq!(grid[20], 5.0);
        let awkward = linspace(0.1, 0.7, 7).unwrap();
        assert_eq!(awkward[0], 0.1);
        assert_eq!(awkward[6], 0.7);
        for window in awkward.windows(2) {
            assert!((window[1] - window[0] - 0.1).abs() < 1e-15);
        }
        assert_eq!(linspace(3.0, 9.0, 1).unwrap(), vec![3.0]);
        assert_eq!(linspace(1.0, 0.0, 3).unwrap(), vec![1.0, 0.5, 0.0]);
    }

    #[test]
    fn linspace_rejects() {
        assert!(linspace(0.0, 1.0, 0).unwrap_err().contains("num ≥ 1"));
        assert!(linspace(0.0, 1.0, MAX_GRID_VALUES + 1).is_err());
        assert!(linspace(-f64::MAX, f64::MAX, 3).is_err());
    }

    #[test]
    fn logspace_decades_exact() {
        let grid = logspace(-2.0, 2.0, 5).unwrap();
        assert_eq!(grid, vec![0.01, 0.1, 1.0, 10.0, 100.0]);
        let fine = logspace(-2.0, 2.0, 50).unwrap();
        assert_eq!(fine.len(), 50);
        assert_eq!(fine[0], 0.01);
        assert_eq!(fine[49], 100.0);
        assert!(fine.windows(2).all(|w| w[1] > w[0]));
        let ratio = fine[1] / fine[0];
        assert!((ratio - 10f64.powf(4.0 / 49.0)).abs() < 1e-12);
    }

    #[test]
    fn logspace_rejects_absurd_exponents() {
        assert!(logspace(-2.0, 400.0, 3).unwrap_err().contains("out of range"));
        assert!(logspace(-301.0, 0.0, 3).is_err());
        assert!(logspace(0.0, 1.0, 0).unwrap_err().contains("logspace needs num"));
    }

    #[test]
    fn range_is_half_open() {
        let grid = range(0.0, 1.0, 0.1).unwrap();
        assert_eq!(grid.len(), 10);
        assert_eq!(grid[0], 0.0);
        assert!((grid[9] - 0.9).abs() < 1e-15);
        assert_eq!(range(0.0, 10.0, 1.0).unwrap().len(), 10);
        assert_eq!(range(0.0, 10.5, 1.0).unwrap().len(), 11);
        // Inclusive end: put stop half a step past the last wanted value.
        assert_eq!(range(0.0, 1.05, 0.1).unwrap().len(), 11);
        assert_eq!(range(0.0, 0.3, 0.1).unwrap().len(), 3);
        assert_eq!(range(0.0, 0.7, 0.1).unwrap().len(), 7);
        assert_eq!(range(1.0, 0.0, -0.25).unwrap(), vec![1.0, 0.75, 0.5, 0.25]);
        // Values are start + i·step, never accumulated.
        let long = range(0.0, 1000.0, 0.1).unwrap();
        assert_eq!(long.len(), 10_000);
        assert_eq!(long[7777], 7777.0 * 0.1);
    }

    #[test]
    fn range_counts_match_formula() {
        for num in 1u32..200 {
            let step = 0.01 * f64::from(num % 7 + 1);
            let stop = step * f64::from(num);
            assert_eq!(range(0.0, stop, step).unwrap().len(), num as usize, "num {num}");
        }
    }

    #[test]
    fn range_rejects() {
        assert!(range(0.0, 1.0, 0.0).unwrap_err().contains("must not be 0"));
        assert!(range(0.0, 1.0, -0.1).unwrap_err().contains("positive step"));
        assert!(range(1.0, 0.0, 0.1).unwrap_err().contains("negative step"));
        assert!(range(1.0, 1.0, 0.1).unwrap_err().contains("empty"));
        assert!(range(0.0, 1e9, 1.0).unwrap_err().contains("more than"));
        assert!(range(0.0, 1.0, 1e-300).is_err());
    }
}
