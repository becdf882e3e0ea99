//! Initializations (docs/math.md §2.2): λ-balanced (two-layer and deep), task-aligned, and the
//! unbalanced Gaussian / LeCun controls used by simulation.
//!
//! A λ-balanced network satisfies $W_{l+1}^\top W_{l+1} - W_l W_l^\top = \lambda I$ at every
//! hidden layer. We build it as $W_l = R_l S_l R_{l-1}^\top$ with $R_0 = V$, $R_L = U$ the singular
//! bases of the desired product and $R_l$ Haar-random for hidden layers. The rectangular diagonal
//! $S_l$ follow from the balance equations index by index (see [`diagonal_entries`]); for depth 2
//! this is exactly the recipe of docs/math.md §2.2, with the cancellation-free split of P4.

use nalgebra::{DMatrix, DVector};
use rand::Rng;

use crate::error::{InitError, SolverError};
use crate::linalg::{
    FullSvd, all_finite, check_finite, gaussian_matrix, product, random_orthogonal,
};
use crate::network::Network;

/// Where the singular values of the initial product `W_L ⋯ W_1` come from.
#[derive(Clone, Copy, Debug)]
pub enum ProductValues<'a> {
    /// Those of a product of i.i.d. `σ N(0,1)` matrices of the requested widths (docs/math.md §2.2
    /// steps 1–2): `σ` sets the absolute scale.
    GaussianProduct {
        /// Entry standard deviation σ of every factor.
        sigma: f64,
    },
    /// Exactly these `min(Ni, No)` values (non-negative).
    Given(&'a [f64]),
}

/// Where the singular bases of the initial product come from.
#[derive(Clone, Copy, Debug)]
pub enum ProductBases<'a> {
    /// Random: those of the Gaussian product, or Haar-random when values are given.
    Random,
    /// Task-aligned: the singular bases of this Σyx (`No × Ni`), so `W_L⋯W_1 = Ũ diag(a) Ṽᵀ`.
    TaskAligned(&'a DMatrix<f64>),
}

/// Parameters of a λ-balanced initialization.
#[derive(Clone, Copy, Debug)]
pub struct Balanced<'a> {
    /// Relative scale λ, the same at every hidden layer.
    pub lambda: f64,
    /// Singular values of the product.
    pub values: ProductValues<'a>,
    /// Singular bases of the product.
    pub bases: ProductBases<'a>,
}

/// A λ-balanced network with widths `[Ni, N1, …, No]` (depth = `widths.len() − 1 ≥ 1`).
///
/// Errors name the reason when the widths and λ are not admissible (docs/math.md §2.1): a bottleneck
/// narrower than `min(Ni, No)`, a hidden width above both neighbours with λ ≠ 0, or an extra
/// dimension whose sign requirement λ violates. A scale or λ so large that the Gaussian product
/// or a weight overflows `f64` is [`InitError::Numerical`] with [`SolverError::Overflow`]
/// (docs/math.md P15), never an endless loop or a panic.
pub fn balanced<R: Rng + ?Sized>(
    widths: &[usize],
    params: &Balanced<'_>,
    rng: &mut R,
) -> Result<Network, InitError> {
    balanced_factors(widths, params, rng)?.network()
}

/// The factors `W_l = R_l S_l R_{l−1}ᵀ` of a λ-balanced network (docs/math.md §2.2): the
/// orthogonal bases `R_0 … R_L` (`R_0 = V`, `R_L = U`, the product's singular bases) and the
/// diagonals of the rectangular `S_l`. For a task-aligned init these are what the deep aligned
/// closed form (docs/math.md §3.6) evolves: the bases stay, the diagonals move.
#[derive(Clone, Debug, PartialEq)]
pub struct BalancedFactors {
    /// `R_0` (`Ni × Ni`) … `R_L` (`No × No`), input side first.
    pub bases: Vec<DMatrix<f64>>,
    /// The diagonal of every `S_l` (`min(N_l, N_{l−1})` entries), layer 1 first.
    pub diagonals: Vec<Vec<f64>>,
}

impl BalancedFactors {
    /// The widths `[Ni, N1, …, No]`.
    pub fn widths(&self) -> Vec<usize> {
        self.bases.iter().map(|b| b.nrows()).collect()
    }

    /// The network of these factors, refused as [`SolverError::Overflow`] when a weight is not
    /// finite.
    pub fn network(&self) -> Result<Network, InitError> {
        finite_network(self.layers_with(&self.diagonals))
    }

    /// The layers `R_l S_l R_{l−1}ᵀ` for other diagonals of the same lengths (the product
    /// is formed exactly as at initialization, so `network()` is bitwise what [`balanced`]
    /// returned before the factors were exposed).
    pub fn layers_with(&self, diagonals: &[Vec<f64>]) -> Vec<DMatrix<f64>> {
        layers(&self.bases, diagonals)
    }
}

/// The layers `R_l S_l R_{l−1}ᵀ` of `bases` and `diagonals` ([`BalancedFactors::layers_with`]).
fn layers(bases: &[DMatrix<f64>], diagonals: &[Vec<f64>]) -> Vec<DMatrix<f64>> {
    (1..bases.len())
        .map(|l| {
            let (upper, lower) = (&bases[l], &bases[l - 1]);
            let mut s = DMatrix::zeros(upper.nrows(), lower.nrows());
            for (j, &value) in diagonals[l - 1].iter().enumerate() {
                s[(j, j)] = value;
            }
            product(&product(upper, &s), &lower.transpose())
        })
        .collect()
}

/// [`balanced`] as its factors (same draws from `rng`, same weights).
pub fn balanced_factors<R: Rng + ?Sized>(
    widths: &[usize],
    params: &Balanced<'_>,
    rng: &mut R,
) -> Result<BalancedFactors, InitError> {
    check_widths(widths)?;
    let lambda = params.lambda;
    if !lambda.is_finite() {
        return Err(InitError::InvalidParameter {
            name: "lambda",
            value: lambda,
            reason: "must be finite",
        });
    }
    let lambdas = vec![lambda; widths.len() - 2];
    balanced_factors_layers(widths, &lambdas, params.values, params.bases, rng)
}

/// A balanced network with one λ per hidden layer: `W_{l+1}ᵀW_{l+1} − W_lW_lᵀ = λ_l I`
/// (`lambdas` has `depth − 1` entries, hidden layer 1 first; docs/math.md §2.2, §3.6), as its
/// factors. With all `λ_l` equal this is exactly [`balanced_factors`].
pub fn balanced_factors_layers<R: Rng + ?Sized>(
    widths: &[usize],
    lambdas: &[f64],
    values: ProductValues<'_>,
    bases: ProductBases<'_>,
    rng: &mut R,
) -> Result<BalancedFactors, InitError> {
    check_balanced_layers(widths, lambdas)?;
    balanced_draws(widths, values, bases, rng)?.factors(lambdas)
}

/// The checks of [`balanced_factors_layers`] that come before any draw: admissible widths and
/// one finite λ per hidden layer. A caller that reuses [`BalancedDraws`] runs them first, so that
/// a point reports the same error with and without the reuse.
pub fn check_balanced_layers(widths: &[usize], lambdas: &[f64]) -> Result<(), InitError> {
    check_widths(widths)?;
    check_lambdas(widths, lambdas)
}

/// Everything a λ-balanced init draws before λ enters (docs/math.md §2.2): the orthogonal bases
/// `R_0 … R_L` and the singular values of the product. They depend on the widths, the product's
/// values and bases, and the generator alone, so points that differ only in λ can share one
/// draw: [`BalancedDraws::factors`] then gives bitwise the factors of
/// [`balanced_factors_layers`] with the same generator.
#[derive(Clone, Debug, PartialEq)]
pub struct BalancedDraws {
    widths: Vec<usize>,
    /// `R_0` (`Ni × Ni`) … `R_L` (`No × No`), input side first.
    bases: Vec<DMatrix<f64>>,
    /// The `min(Ni, No)` singular values of the product, largest first.
    values: Vec<f64>,
}

/// The draws of a λ-balanced init with widths `[Ni, N1, …, No]` ([`BalancedDraws`]): the same
/// draws from `rng`, in the same order, as [`balanced_factors_layers`].
pub fn balanced_draws<R: Rng + ?Sized>(
    widths: &[usize],
    values: ProductValues<'_>,
    bases: ProductBases<'_>,
    rng: &mut R,
) -> Result<BalancedDraws, InitError> {
    check_widths(widths)?;
    let depth = widths.len() - 1;
    let (n_in, n_out) = (widths[0], widths[depth]);
    let m = n_in.min(n_out);

    // Singular values and bases of the target product.
    let (u, values, v) = match (values, bases) {
        (ProductValues::GaussianProduct { sigma }, bases) => {
            check_sigma(sigma)?;
            let mut product = gaussian_matrix(widths[1], n_in, sigma, rng);
            for l in 2..=depth {
                product = crate::linalg::product(
                    &gaussian_matrix(widths[l], widths[l - 1], sigma, rng),
                    &product,
                );
            }
            let svd = FullSvd::new(&product, "the Gaussian product of the init")?;
            let values: Vec<f64> = svd.s.iter().copied().collect();
            match bases {
                ProductBases::Random => (svd.u_full(), values, svd.v_full()),
                ProductBases::TaskAligned(sigma_yx) => {
                    let task = task_svd(sigma_yx, n_in, n_out)?;
                    (task.u_full(), values, task.v_full())
                }
            }
        }
        (ProductValues::Given(given), bases) => {
            if given.len() != m {
                return Err(InitError::Shape(format!(
                    "{} singular values given but min(Ni, No) = {m}",
                    given.len()
                )));
            }
            if let Some(&bad) = given.iter().find(|x| !(x.is_finite() && **x >= 0.0)) {
                return Err(InitError::InvalidParameter {
                    name: "singular value",
                    value: bad,
                    reason: "must be finite and non-negative",
                });
            }
            match bases {
                ProductBases::Random => {
                    (random_orthogonal(n_out, rng), given.to_vec(), random_orthogonal(n_in, rng))
                }
                ProductBases::TaskAligned(sigma_yx) => {
                    let task = task_svd(sigma_yx, n_in, n_out)?;
                    (task.u_full(), given.to_vec(), task.v_full())
                }
            }
        }
    };

    let mut bases: Vec<DMatrix<f64>> = Vec::with_capacity(depth + 1);
    bases.push(v);
    for &width in &widths[1..depth] {
        bases.push(random_orthogonal(width, rng));
    }
    bases.push(u);
    Ok(BalancedDraws { widths: widths.to_vec(), bases, values })
}

impl BalancedDraws {
    /// The factors of the λ-balanced init with one λ per hidden layer (`lambdas`, as in
    /// [`balanced_factors_layers`]) on these draws.
    pub fn factors(&self, lambdas: &[f64]) -> Result<BalancedFactors, InitError> {
        check_lambdas(&self.widths, lambdas)?;
        let diagonals = diagonal_entries_layers(&self.widths, lambdas, &self.values)?;
        Ok(BalancedFactors { bases: self.bases.clone(), diagonals })
    }

    /// The network of [`BalancedDraws::factors`], without copying the bases: bitwise
    /// `self.factors(lambdas)?.network()`.
    pub fn network(&self, lambdas: &[f64]) -> Result<Network, InitError> {
        check_lambdas(&self.widths, lambdas)?;
        let diagonals = diagonal_entries_layers(&self.widths, lambdas, &self.values)?;
        finite_network(layers(&self.bases, &diagonals))
    }

    /// Heap bytes these draws hold (what a cache of them counts).
    pub fn heap_bytes(&self) -> usize {
        let matrices: usize = self.bases.iter().map(|b| b.len()).sum();
        8 * (matrices + self.values.len()) + std::mem::size_of::<usize>() * self.widths.len()
    }
}

fn check_lambdas(widths: &[usize], lambdas: &[f64]) -> Result<(), InitError> {
    let depth = widths.len() - 1;
    if lambdas.len() != depth - 1 {
        return Err(InitError::Shape(format!(
            "{} lambdas given for {} hidden layers (depth {depth})",
            lambdas.len(),
            depth - 1
        )));
    }
    if let Some(&bad) = lambdas.iter().find(|x| !x.is_finite()) {
        return Err(InitError::InvalidParameter {
            name: "lambda",
            value: bad,
            reason: "must be finite",
        });
    }
    Ok(())
}

/// The network of `layers`, refused as [`SolverError::Overflow`] when a weight is not finite.
fn finite_network(layers: Vec<DMatrix<f64>>) -> Result<Network, InitError> {
    for (idx, w) in layers.iter().enumerate() {
        // The layer's name only for the error (formatting it costs more than the check).
        if !all_finite(w.as_slice()) {
            check_finite(w, &format!("layer {} of the initial network", idx + 1))?;
        }
    }
    Ok(Network { layers })
}

/// The diagonal of every rectangular `S_l` (`min(N_l, N_{l−1})` entries each, layer 1 first),
/// from the balance equations `S_{l+1}ᵀS_{l+1} − S_l S_lᵀ = λI` and the product values.
///
/// Index `j` of the diagonal lives on a run of consecutive layers. Along a run,
/// `s_{l+1,j}² = s_{l,j}² + λ`. A run that starts at a hidden layer has `s² = λ` there; one that
/// ends at a hidden layer has `s² = −λ` there; a run through every layer carries product value
/// `a_j = Π_l s_{l,j}`.
#[expect(clippy::needless_range_loop, reason = "index j addresses the same entry in every layer")]
pub fn diagonal_entries(
    widths: &[usize],
    lambda: f64,
    product_values: &[f64],
) -> Result<Vec<Vec<f64>>, InitError> {
    check_widths(widths)?;
    let depth = widths.len() - 1;
    let m = widths[0].min(widths[depth]);
    let mut diagonals: Vec<Vec<f64>> =
        (1..=depth).map(|l| vec![0.0; widths[l].min(widths[l - 1])]).collect();
    let inadmissible =
        |reason: String| InitError::Inadmissible { widths: widths.to_vec(), lambda, reason };

    for (j, &value) in product_values.iter().enumerate().take(m) {
        let squares = mode_chain(depth, lambda, value);
        for l in 1..=depth {
            diagonals[l - 1][j] = squares[l - 1].sqrt();
        }
    }

    let max_width = *widths.iter().max().expect("non-empty");
    for j in m..max_width {
        // Hidden nodes holding index j with neither adjacent entry: 0 = λ.
        if let Some(h) = isolated_hidden(widths, j).find(|_| lambda != 0.0) {
            return Err(inadmissible(format!(
                "{}; only lambda = 0 balances the extra dimensions",
                exceeds_both(widths, h)
            )));
        }
        for (start, end) in index_runs(widths, j) {
            let start_fixed = start > 1;
            let end_fixed = end < depth;
            let first_square = match (start_fixed, end_fixed) {
                (true, false) => {
                    if lambda < 0.0 {
                        return Err(inadmissible(format!(
                            "the output side is wider (extra dimension {j} enters at layer \
                             {start}), which needs lambda >= 0"
                        )));
                    }
                    lambda
                }
                (false, true) => {
                    if lambda > 0.0 {
                        return Err(inadmissible(format!(
                            "the input side is wider (extra dimension {j} leaves at layer {end}), \
                             which needs lambda <= 0"
                        )));
                    }
                    -lambda * end as f64
                }
                (true, true) => {
                    if lambda != 0.0 {
                        return Err(inadmissible(format!(
                            "extra dimension {j} exists only between hidden layers {start} and \
                             {end}, which only lambda = 0 balances"
                        )));
                    }
                    0.0
                }
                (false, false) => unreachable!("index {j} >= min(Ni, No) cannot span all layers"),
            };
            for (offset, layer) in (start..=end).enumerate() {
                let square = first_square + offset as f64 * lambda;
                diagonals[layer - 1][j] = square.max(0.0).sqrt();
            }
        }
    }
    Ok(diagonals)
}

/// Whether index `j` of the diagonal exists in layer `l` (1-based): `j < min(N_l, N_{l−1})`.
fn index_in_layer(widths: &[usize], l: usize, j: usize) -> bool {
    j < widths[l].min(widths[l - 1])
}

/// The runs `(start, end)` of consecutive layers (1-based, inclusive) in which index `j` of the
/// diagonal exists, input side first.
fn index_runs(widths: &[usize], j: usize) -> Vec<(usize, usize)> {
    let depth = widths.len() - 1;
    let mut runs = Vec::new();
    let mut l = 1;
    while l <= depth {
        if !index_in_layer(widths, l, j) {
            l += 1;
            continue;
        }
        let start = l;
        while l < depth && index_in_layer(widths, l + 1, j) {
            l += 1;
        }
        runs.push((start, l));
        l += 1;
    }
    runs
}

/// The hidden layers `h` that hold index `j` with neither adjacent layer holding it: their
/// balance reads `0 = λ_h`.
fn isolated_hidden(widths: &[usize], j: usize) -> impl Iterator<Item = usize> + '_ {
    (1..widths.len() - 1).filter(move |&h| {
        j < widths[h] && !index_in_layer(widths, h, j) && !index_in_layer(widths, h + 1, j)
    })
}

/// "hidden width N at layer h exceeds both neighbours (…)", the start of that refusal.
fn exceeds_both(widths: &[usize], h: usize) -> String {
    format!(
        "hidden width {} at layer {h} exceeds both neighbours ({} and {})",
        widths[h],
        widths[h - 1],
        widths[h + 1]
    )
}

/// [`diagonal_entries`] with one λ per hidden layer (`lambdas[h − 1]` at hidden layer `h`;
/// docs/math.md §2.2): `S_{l+1}ᵀS_{l+1} − S_l S_lᵀ = λ_l I`. With all λ equal it is exactly
/// [`diagonal_entries`].
///
/// Along a run of index `j` through layers `start..=end`, `s_{l+1,j}² = s_{l,j}² + λ_l`. A run
/// entering at a hidden layer (`start > 1`) has `s² = λ_{start−1}` there, one leaving at a
/// hidden layer (`end < L`) has `s² = −λ_end` there; every square on the run must be
/// non-negative (and a run between two hidden layers must meet both), else the widths and λs
/// are inadmissible, with the layer named.
#[expect(clippy::needless_range_loop, reason = "index j addresses the same entry in every layer")]
pub fn diagonal_entries_layers(
    widths: &[usize],
    lambdas: &[f64],
    product_values: &[f64],
) -> Result<Vec<Vec<f64>>, InitError> {
    check_widths(widths)?;
    check_lambdas(widths, lambdas)?;
    if lambdas.windows(2).all(|w| w[0] == w[1]) {
        return diagonal_entries(widths, lambdas.first().copied().unwrap_or(0.0), product_values);
    }
    let depth = widths.len() - 1;
    let m = widths[0].min(widths[depth]);
    let mut diagonals: Vec<Vec<f64>> =
        (1..=depth).map(|l| vec![0.0; widths[l].min(widths[l - 1])]).collect();
    let scale: f64 = lambdas.iter().map(|x| x.abs()).sum();
    let slack = 1e-12 * scale;
    let inadmissible = |layer: usize, reason: String| InitError::Inadmissible {
        widths: widths.to_vec(),
        lambda: lambdas[layer - 1],
        reason: format!("{reason} (lambdas = {lambdas:?})"),
    };

    for (j, &value) in product_values.iter().enumerate().take(m) {
        let squares = mode_chain_layers(lambdas, value);
        for l in 1..=depth {
            diagonals[l - 1][j] = squares[l - 1].sqrt();
        }
    }

    let max_width = *widths.iter().max().expect("non-empty");
    for j in m..max_width {
        if let Some(h) = isolated_hidden(widths, j).find(|&h| lambdas[h - 1] != 0.0) {
            return Err(inadmissible(
                h,
                format!(
                    "{}; only lambda_{h} = 0 balances the extra dimensions",
                    exceeds_both(widths, h)
                ),
            ));
        }
        for (start, end) in index_runs(widths, j) {
            // Squares along the run, from the fixed end.
            let mut squares = vec![0.0; end - start + 1];
            if start > 1 {
                squares[0] = lambdas[start - 2];
                for layer in start..end {
                    squares[layer + 1 - start] = squares[layer - start] + lambdas[layer - 1];
                }
                if end < depth && (squares[end - start] + lambdas[end - 1]).abs() > slack {
                    return Err(inadmissible(
                        end,
                        format!(
                            "extra dimension {j} exists only between hidden layers {} and \
                             {end}, which needs lambda_{} + … + lambda_{end} = 0",
                            start - 1,
                            start - 1
                        ),
                    ));
                }
            } else {
                squares[end - start] = -lambdas[end - 1];
                for layer in (start..end).rev() {
                    squares[layer - start] = squares[layer + 1 - start] - lambdas[layer - 1];
                }
            }
            for (offset, &square) in squares.iter().enumerate() {
                if square < -slack {
                    let layer = start + offset;
                    let side = if start > 1 { "output" } else { "input" };
                    let hidden = if start > 1 { start - 1 } else { end };
                    return Err(inadmissible(
                        hidden,
                        format!(
                            "extra dimension {j} (the {side} side is wider, from hidden layer \
                             {hidden}) would need a negative square {square:e} in layer {layer}"
                        ),
                    ));
                }
                diagonals[start + offset - 1][j] = square.max(0.0).sqrt();
            }
        }
    }
    Ok(diagonals)
}

/// Squares `s_l²` (layer 1 first) of one product mode with value `a` in a λ-balanced chain of
/// `depth` layers: `s_{l+1}² = s_l² + λ` and `Π_l s_l = a`.
///
/// Written as `s_l² = y + o_l` with offsets `o_l ≥ 0` (the smallest is zero) so that no
/// subtraction cancels. Depth 2 uses the closed-form split of docs/math.md §2.2 with the fix of P4.
pub fn mode_chain(depth: usize, lambda: f64, a: f64) -> Vec<f64> {
    if depth == 1 {
        return vec![a * a];
    }
    if depth == 2 {
        let (s1_sq, s2_sq) = split_two_layer(a, lambda);
        return vec![s1_sq, s2_sq];
    }
    let offsets: Vec<f64> = (0..depth)
        .map(|l| if lambda >= 0.0 { l as f64 * lambda } else { (depth - 1 - l) as f64 * -lambda })
        .collect();
    let y = chain_base(&offsets, a);
    offsets.iter().map(|o| y + o).collect()
}

/// `y ≥ 0` with `Π_l (y + o_l) = a²` for offsets `o_l ≥ 0` (the smallest zero) and `a ≥ 0`:
/// bisection on the geometric mean, then Newton from the left; every loop bounded.
fn chain_base(offsets: &[f64], a: f64) -> f64 {
    if a == 0.0 {
        0.0
    } else {
        let depth = offsets.len();
        // g(y) = Σ ln(y + o_l) − 2 ln a is increasing and concave on y > 0.
        let target = 2.0 * a.ln();
        let g = |y: f64| offsets.iter().map(|o| (y + o).ln()).sum::<f64>() - target;
        let mut hi = a.powf(2.0 / depth as f64).max(f64::MIN_POSITIVE);
        let mut expansions = 0;
        while g(hi) < 0.0 && expansions < 2200 {
            hi *= 2.0;
            expansions += 1;
        }
        let mut lo = hi;
        while g(lo) > 0.0 && lo > f64::MIN_POSITIVE {
            lo *= 0.5;
        }
        for _ in 0..200 {
            let mid = if lo > 0.0 { (lo * hi).sqrt() } else { 0.5 * hi };
            if mid <= lo || mid >= hi {
                break;
            }
            if g(mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        // Newton from the left converges monotonically for a concave increasing g.
        let mut y = lo;
        for _ in 0..4 {
            let dg: f64 = offsets.iter().map(|o| 1.0 / (y + o)).sum();
            let step = -g(y) / dg;
            if !(step.is_finite()) || step <= 0.0 {
                break;
            }
            y += step;
        }
        y
    }
}

/// [`mode_chain`] with one λ per hidden layer: squares `a_l² = u + Λ_{l−1}` (`Λ_l` the partial
/// sums of `lambdas`, `Λ_0 = 0`) with `Π_l a_l = a` (docs/math.md §3.6). Written with the
/// non-negative offsets `Λ_{l−1} − min_k Λ_k`, so no subtraction cancels.
pub fn mode_chain_layers(lambdas: &[f64], a: f64) -> Vec<f64> {
    let depth = lambdas.len() + 1;
    if depth == 1 {
        return vec![a * a];
    }
    if depth == 2 {
        let (s1_sq, s2_sq) = split_two_layer(a, lambdas[0]);
        return vec![s1_sq, s2_sq];
    }
    let offsets = chain_offsets(lambdas);
    let y = chain_base(&offsets, a);
    offsets.iter().map(|o| y + o).collect()
}

/// The offsets `D_l = Λ_{l−1} − min_k Λ_{k−1} ≥ 0` of a chain (one per layer; at least one is
/// zero), `Λ` the partial sums of `lambdas` with `Λ_0 = 0`.
pub fn chain_offsets(lambdas: &[f64]) -> Vec<f64> {
    let mut partial = Vec::with_capacity(lambdas.len() + 1);
    let mut sum = 0.0;
    partial.push(0.0);
    for &lambda in lambdas {
        sum += lambda;
        partial.push(sum);
    }
    let min = partial.iter().copied().fold(f64::INFINITY, f64::min);
    partial.iter().map(|p| p - min).collect()
}

/// Split a product singular value `s` into `(s1², s2²)` with `s1 s2 = s` and `s2² − s1² = λ`,
/// without cancellation (docs/math.md §2.2 "numerical fix", P4).
pub fn split_two_layer(s: f64, lambda: f64) -> (f64, f64) {
    let half = 0.5 * lambda;
    let s_lambda = s.hypot(half);
    if lambda >= 0.0 {
        let s2_sq = s_lambda + half;
        let s1_sq = if s2_sq > 0.0 { s * s / s2_sq } else { 0.0 };
        (s1_sq, s2_sq)
    } else {
        let s1_sq = s_lambda - half;
        (s1_sq, s * s / s1_sq)
    }
}

/// An unbalanced network with i.i.d. `N(0, σ_l²)` entries, one σ per layer.
pub fn gaussian<R: Rng + ?Sized>(
    widths: &[usize],
    sigmas: &[f64],
    rng: &mut R,
) -> Result<Network, InitError> {
    check_widths(widths)?;
    if sigmas.len() != widths.len() - 1 {
        return Err(InitError::Shape(format!(
            "{} standard deviations for {} layers",
            sigmas.len(),
            widths.len() - 1
        )));
    }
    for &sigma in sigmas {
        check_sigma(sigma)?;
    }
    let layers = (1..widths.len())
        .map(|l| gaussian_matrix(widths[l], widths[l - 1], sigmas[l - 1], rng))
        .collect();
    finite_network(layers)
}

/// LeCun initialization: `σ_l² = 1 / fan_in`. Approximately λ-balanced with
/// `λ ≈ N_{l+1}/N_l − 1` for wide layers (docs/math.md §2.2 "infinite-width link").
pub fn lecun<R: Rng + ?Sized>(widths: &[usize], rng: &mut R) -> Result<Network, InitError> {
    check_widths(widths)?;
    let sigmas: Vec<f64> =
        widths[..widths.len() - 1].iter().map(|&n| (n as f64).sqrt().recip()).collect();
    gaussian(widths, &sigmas, rng)
}

/// The `balanced-signed` initialization (docs/math.md §2.2): `net` with the sign of
/// `det(W_L⋯W_1)` matched to that of `det Σyx`.
///
/// With `Ni = No`, a λ = 0 flow cannot change the sign of `det(W_L⋯W_1)`, so an init whose sign
/// differs from that of `det Σyx` ends on a saddle (and has a long plateau for small |λ|;
/// docs/math.md P2). When the product is square, `sigma_yx` has its shape and
/// `det(W_L⋯W_1) · det Σyx < 0`, the first row of the last layer is negated: that flips the sign
/// of the determinant and keeps the product's singular values and every balance (`W_LᵀW_L` is
/// unchanged, exactly). Otherwise (also when the product is not finite, whose determinant has no
/// sign) `net` is returned as it is.
pub fn match_determinant_sign(mut net: Network, sigma_yx: &DMatrix<f64>) -> Network {
    let product = net.product();
    let finite = product.iter().chain(sigma_yx.iter()).all(|x| x.is_finite());
    if finite && product.is_square() && sigma_yx.shape() == product.shape() {
        let sign = product.determinant() * sigma_yx.determinant();
        if sign < 0.0
            && let Some(last) = net.layers.last_mut()
        {
            last.row_mut(0).neg_mut();
        }
    }
    net
}

fn task_svd(sigma_yx: &DMatrix<f64>, n_in: usize, n_out: usize) -> Result<FullSvd, InitError> {
    if sigma_yx.shape() != (n_out, n_in) {
        return Err(InitError::Shape(format!(
            "task-aligned bases need sigma_yx of shape {n_out}x{n_in}, got {}x{}",
            sigma_yx.nrows(),
            sigma_yx.ncols()
        )));
    }
    Ok(FullSvd::new(sigma_yx, "the task Σyx")?)
}

fn check_sigma(sigma: f64) -> Result<(), InitError> {
    if sigma.is_finite() && sigma >= 0.0 {
        Ok(())
    } else {
        Err(InitError::InvalidParameter {
            name: "sigma",
            value: sigma,
            reason: "must be finite and non-negative",
        })
    }
}

fn check_widths(widths: &[usize]) -> Result<(), InitError> {
    if widths.len() < 2 {
        return Err(InitError::TooShallow { n_widths: widths.len() });
    }
    if let Some(index) = widths.iter().position(|&w| w == 0) {
        return Err(InitError::ZeroWidth { index });
    }
    let depth = widths.len() - 1;
    let min_io = widths[0].min(widths[depth]);
    for (index, &width) in widths.iter().enumerate().take(depth).skip(1) {
        if width < min_io {
            return Err(InitError::Bottleneck { index, width, min_io });
        }
    }
    Ok(())
}

/// Singular values of `a`, descending (bounded: [`crate::linalg::singular_values`]).
pub fn singular_values(a: &DMatrix<f64>) -> Result<DVector<f64>, SolverError> {
    crate::linalg::singular_values(a, "a matrix")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn assert_balanced(net: &Network, lambda: f64) {
        for idx in 0..net.depth() - 1 {
            let mut b = net.balance(idx);
            for i in 0..b.nrows() {
                b[(i, i)] -= lambda;
            }
            let scale = net.layers.iter().map(|w| w.norm_squared()).fold(1.0, f64::max);
            assert!(b.amax() < 1e-12 * scale, "balance {idx} off by {:e}", b.amax());
        }
    }

    /// One [`BalancedDraws`] reused for many λ gives bitwise the factors and the network of
    /// [`balanced_factors_layers`] drawn afresh from the same seed for each λ (what lets a sweep
    /// draw an init once per seed, widths and scale): depth 1 to 3, square and funnel widths,
    /// random and task-aligned bases, Gaussian and given values, per-layer λ; and the same
    /// errors (an inadmissible λ, a wrong count of λ).
    #[test]
    fn reused_draws_give_bitwise_the_factors_of_fresh_draws() {
        let sigma_yx = gaussian_matrix(3, 4, 1.0, &mut ChaCha8Rng::seed_from_u64(5));
        let given = [2.0, 0.5, 1e-3];
        let cases: [(&[usize], ProductValues<'_>, ProductBases<'_>); 6] = [
            (&[4, 3], ProductValues::GaussianProduct { sigma: 0.3 }, ProductBases::Random),
            (&[4, 3, 3], ProductValues::GaussianProduct { sigma: 0.3 }, ProductBases::Random),
            (&[8, 8, 8], ProductValues::GaussianProduct { sigma: 1e-3 }, ProductBases::Random),
            (&[4, 5, 5, 3], ProductValues::GaussianProduct { sigma: 1.0 }, ProductBases::Random),
            (
                &[4, 3, 3],
                ProductValues::GaussianProduct { sigma: 0.1 },
                ProductBases::TaskAligned(&sigma_yx),
            ),
            (&[4, 3, 3, 3], ProductValues::Given(&given), ProductBases::Random),
        ];
        let bits = |m: &DMatrix<f64>| m.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (seed, (widths, values, bases)) in cases.into_iter().enumerate() {
            let hidden = widths.len() - 2;
            let draws =
                balanced_draws(widths, values, bases, &mut ChaCha8Rng::seed_from_u64(seed as u64))
                    .unwrap();
            for lambda in [-2.0, -0.25, 0.0, 0.7, 3.0] {
                let lambdas: Vec<f64> =
                    (0..hidden).map(|l| lambda + if l == 1 { 0.5 } else { 0.0 }).collect();
                let mut rng = ChaCha8Rng::seed_from_u64(seed as u64);
                let fresh = balanced_factors_layers(widths, &lambdas, values, bases, &mut rng);
                let reused = draws.factors(&lambdas);
                match (&fresh, &reused) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(a.diagonals.len(), b.diagonals.len());
                        for (x, y) in a.diagonals.iter().zip(&b.diagonals) {
                            let to_bits =
                                |v: &Vec<f64>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                            assert_eq!(to_bits(x), to_bits(y), "{widths:?} λ {lambda}");
                        }
                        for (x, y) in a.bases.iter().zip(&b.bases) {
                            assert_eq!(bits(x), bits(y), "{widths:?} λ {lambda}");
                        }
                        let (net_a, net_b) =
                            (a.network().unwrap(), draws.network(&lambdas).unwrap());
                        for (x, y) in net_a.layers.iter().zip(&net_b.layers) {
                            assert_eq!(bits(x), bits(y), "{widths:?} λ {lambda}");
                        }
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string(), b.to_string(), "{widths:?} λ {lambda}");
                        let c = draws.network(&lambdas).unwrap_err();
                        assert_eq!(a.to_string(), c.to_string());
                    }
                    _ => panic!("{widths:?} λ {lambda}: {fresh:?} against {reused:?}"),
                }
            }
            // A wrong number of λ: the same error either way.
            let wrong = vec![0.5; hidden + 1];
            let fresh = balanced_factors_layers(
                widths,
                &wrong,
                values,
                bases,
                &mut ChaCha8Rng::seed_from_u64(seed as u64),
            );
            assert_eq!(
                fresh.unwrap_err().to_string(),
                draws.factors(&wrong).unwrap_err().to_string()
            );
        }
    }

    #[test]
    fn two_layer_admissible_widths_balance() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let cases: &[(&[usize], f64)] = &[
            (&[4, 4, 4], 0.5),
            (&[4, 4, 4], -3.0),
            (&[3, 2, 2], -0.5),
            (&[2, 2, 3], 0.7),
            (&[3, 4, 5], 1.5),
            (&[5, 4, 2], -1.5),
            (&[3, 5, 3], 0.0),
            (&[2, 3, 5], 0.0),
        ];
        for &(widths, lambda) in cases {
            let params = Balanced {
                lambda,
                values: ProductValues::GaussianProduct { sigma: 1.0 },
                bases: ProductBases::Random,
            };
            let net = balanced(widths, &params, &mut rng).unwrap();
            assert_eq!(net.widths(), widths);
            assert_balanced(&net, lambda);
        }
    }

    /// Scales (or λ) whose squares overflow f64 used to loop forever in the SVD of the Gaussian
    /// product (`[4, 4, 4]`, `[3, 3, 3]`) or panic on NaN singular values (`[8, 2, 2]`): now a
    /// typed overflow error, for every init and depth.
    #[test]
    fn overflowing_scales_and_lambdas_are_errors_not_hangs() {
        let overflow = |result: Result<Network, InitError>| match result {
            Err(err @ InitError::Numerical(SolverError::Overflow(_))) => {
                assert_eq!(err.status(), Some(crate::Status::Overflow));
                err.to_string()
            }
            other => panic!("expected an overflow, got {other:?}"),
        };
        for widths in [&[4usize, 4, 4][..], &[8, 2, 2], &[3, 3, 3], &[2, 2, 8], &[4, 4, 4, 4]] {
            let task = gaussian_matrix(widths[widths.len() - 1], widths[0], 1.0, &mut rng(3));
            for sigma in [1e300, 1e155, f64::MAX] {
                for bases in [ProductBases::Random, ProductBases::TaskAligned(&task)] {
                    let params = Balanced {
                        lambda: 0.5,
                        values: ProductValues::GaussianProduct { sigma },
                        bases,
                    };
                    let message = overflow(balanced(widths, &params, &mut rng(1)));
                    assert!(message.starts_with("overflow: "), "{message}");
                }
            }
            // A λ whose chain of squares overflows, and a Gaussian init beyond f64.
            let params = Balanced {
                lambda: f64::MAX,
                values: ProductValues::GaussianProduct { sigma: 0.5 },
                bases: ProductBases::Random,
            };
            if widths.len() > 3 {
                overflow(balanced(widths, &params, &mut rng(1)));
            }
            let sigmas = vec![f64::MAX; widths.len() - 1];
            overflow(gaussian(widths, &sigmas, &mut rng(1)));
        }
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    #[test]
    fn inadmissible_widths_are_named() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let params = |lambda| Balanced {
            lambda,
            values: ProductValues::GaussianProduct { sigma: 1.0 },
            bases: ProductBases::Random,
        };
        let err = balanced(&[3, 4, 5], &params(-1.0), &mut rng).unwrap_err();
        assert!(err.to_string().contains("needs lambda >= 0"), "{err}");
        let err = balanced(&[5, 4, 3], &params(1.0), &mut rng).unwrap_err();
        assert!(err.to_string().contains("needs lambda <= 0"), "{err}");
        let err = balanced(&[3, 6, 3], &params(1.0), &mut rng).unwrap_err();
        assert!(err.to_string().contains("exceeds both neighbours"), "{err}");
        let err = balanced(&[4, 2, 4], &params(1.0), &mut rng).unwrap_err();
        assert!(matches!(err, InitError::Bottleneck { .. }), "{err}");
        assert!(matches!(
            balanced(&[4], &params(1.0), &mut rng),
            Err(InitError::TooShallow { .. })
        ));
    }

    #[test]
    fn given_values_are_kept_by_the_product() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let values = [0.3, 0.1];
        for lambda in [-200.0, -1.0, 0.0, 1.0, 200.0] {
            let funnel: &[usize] = if lambda >= 0.0 { &[2, 3, 4, 4] } else { &[4, 4, 3, 2] };
            for widths in [&[2usize, 2, 2][..], funnel, &[2, 2, 2, 2, 2]] {
                let params = Balanced {
                    lambda,
                    values: ProductValues::Given(&values),
                    bases: ProductBases::Random,
                };
                let net = balanced(widths, &params, &mut rng).unwrap();
                assert_balanced(&net, lambda);
                let s = singular_values(&net.product()).unwrap();
                assert!((s[0] - 0.3).abs() < 1e-12 * (1.0 + lambda.abs()), "{s} at {lambda}");
                assert!((s[1] - 0.1).abs() < 1e-12 * (1.0 + lambda.abs()), "{s} at {lambda}");
            }
        }
    }

    /// Per-layer λ (docs/math.md §2.2, §3.6): every admissible profile balances layer by layer
    /// and keeps the product values; the inadmissible ones are named; equal λs are bitwise the
    /// single-λ init.
    #[test]
    fn per_layer_lambdas_balance_or_are_named() {
        let values = [0.3, 0.1];
        let ok: &[(&[usize], &[f64])] = &[
            (&[2, 2, 2, 2], &[0.5, -0.3]),
            (&[2, 2, 2, 2, 2], &[-1.0, 0.0, 2.0]),
            (&[2, 3, 4, 4], &[0.5, 0.2]),
            (&[4, 4, 3, 2], &[-0.2, -0.5]),
            (&[4, 4, 3, 2], &[-0.6, -0.1]),
            (&[2, 3, 2, 2], &[0.0, 0.4]),
        ];
        for (seed, &(widths, lambdas)) in ok.iter().enumerate() {
            let factors = balanced_factors_layers(
                widths,
                lambdas,
                ProductValues::Given(&values),
                ProductBases::Random,
                &mut rng(seed as u64),
            )
            .unwrap_or_else(|err| panic!("{widths:?} {lambdas:?}: {err}"));
            let net = factors.network().unwrap();
            for (idx, &lambda) in lambdas.iter().enumerate() {
                let mut b = net.balance(idx);
                for i in 0..b.nrows() {
                    b[(i, i)] -= lambda;
                }
                assert!(b.amax() < 1e-12, "{widths:?} {lambdas:?} balance {idx}: {:e}", b.amax());
            }
            let s = singular_values(&net.product()).unwrap();
            assert!((s[0] - 0.3).abs() < 1e-12 && (s[1] - 0.1).abs() < 1e-12, "{s}");
        }
        let bad: &[(&[usize], &[f64], &str)] = &[
            (&[2, 3, 4, 4], &[-0.5, 0.2], "output side is wider"),
            (&[2, 3, 4, 4], &[0.5, -0.7], "negative square"),
            (&[2, 3, 4, 4], &[0.5, -0.2], "from hidden layer 2"),
            (&[4, 4, 3, 2], &[-0.2, 0.5], "input side is wider"),
            (&[2, 3, 2, 2], &[0.1, 0.4], "exceeds both neighbours"),
            (&[2, 2, 2], &[0.1, 0.4], "2 lambdas given for 1 hidden layers"),
        ];
        for &(widths, lambdas, reason) in bad {
            let err = diagonal_entries_layers(widths, lambdas, &values).unwrap_err().to_string();
            assert!(err.contains(reason), "{widths:?} {lambdas:?}: {err}");
        }
        for widths in [&[2usize, 3, 4, 4][..], &[4, 4, 3, 2], &[2, 2, 2, 2, 2]] {
            for lambda in [-0.7, 0.0, 0.4] {
                let lambdas = vec![lambda; widths.len() - 2];
                assert_eq!(
                    diagonal_entries_layers(widths, &lambdas, &values).ok(),
                    diagonal_entries(widths, lambda, &values).ok()
                );
            }
        }
    }

    #[test]
    fn split_is_cancellation_free() {
        let (s1_sq, s2_sq) = split_two_layer(1e-3, 1e4);
        assert!((s1_sq * s2_sq).sqrt() - 1e-3 < 1e-18);
        assert!(((s2_sq - s1_sq) - 1e4).abs() < 1e-10);
        assert!((s1_sq - 1e-10).abs() < 1e-22, "s1² = {s1_sq}");
        let (s1_sq, s2_sq) = split_two_layer(1e-3, -1e4);
        assert!((s2_sq - 1e-10).abs() < 1e-22, "s2² = {s2_sq}");
        assert!(((s2_sq - s1_sq) + 1e4).abs() < 1e-10);
    }

    #[test]
    fn task_aligned_product_shares_task_bases() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let sigma_yx = DMatrix::from_row_slice(2, 3, &[1.0, 0.2, -0.3, 0.1, 0.6, 0.4]);
        let params = Balanced {
            lambda: 0.0,
            values: ProductValues::Given(&[0.01, 0.02]),
            bases: ProductBases::TaskAligned(&sigma_yx),
        };
        let net = balanced(&[3, 2, 2], &params, &mut rng).unwrap();
        let task = FullSvd::new(&sigma_yx, "task").unwrap();
        let inner = task.u_m.transpose() * net.product() * &task.v_m;
        assert!((inner[(0, 1)]).abs() < 1e-14 && (inner[(1, 0)]).abs() < 1e-14, "{inner}");
        assert!((inner[(0, 0)] - 0.01).abs() < 1e-14);
    }

    #[test]
    fn lecun_balance_approaches_the_width_ratio() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let net = lecun(&[40, 200, 80], &mut rng).unwrap();
        let lambda = net.lambdas()[0];
        assert!((lambda - (80.0 / 200.0 - 1.0)).abs() < 0.05, "lambda = {lambda}");
    }

    /// docs/math.md §2.2 "Infinite-width link", by Monte Carlo: for LeCun `[Ni, Nh, No]` the
    /// balance `B = W2ᵀW2 − W1W1ᵀ` has `E λ̄ = No/Nh − 1`, `Var λ̄ = 2No/Nh³ + 2/(Ni Nh)`,
    /// `E‖B − λ̄I‖_F² = (Nh − 1)(Nh + 2)(No/Nh² + 1/Ni)` and
    /// `E‖B‖_F² = E‖B − λ̄I‖_F² + Nh (E λ̄)² + Nh Var λ̄`. Hence at fixed width ratios the entry
    /// (RMS) defect `‖B − λ̄I‖_F/Nh` falls like `1/√width`, while the relative defect
    /// `‖B − λ̄I‖_F/‖B‖_F` tends to a constant (0.968 at the ratios 40:200:80), not to 0.
    #[test]
    fn lecun_balance_moments_match_the_derivation() {
        struct Moments {
            lambda: f64,
            lambda_var: f64,
            residual2: f64,
            norm2: f64,
            relative: f64,
            entry: f64,
        }
        let predicted = |w: [usize; 3]| {
            let (ni, nh, no) = (w[0] as f64, w[1] as f64, w[2] as f64);
            let lambda = no / nh - 1.0;
            let lambda_var = 2.0 * no / nh.powi(3) + 2.0 / (ni * nh);
            let residual2 = (nh - 1.0) * (nh + 2.0) * (no / (nh * nh) + 1.0 / ni);
            let norm2 = residual2 + nh * lambda * lambda + nh * lambda_var;
            Moments {
                lambda,
                lambda_var,
                residual2,
                norm2,
                relative: (residual2 / norm2).sqrt(),
                entry: residual2.sqrt() / nh,
            }
        };
        let mut entry_means = Vec::new();
        for (widths, draws) in [([8, 40, 16], 2000), ([40, 200, 80], 200)] {
            let mut rng = ChaCha8Rng::seed_from_u64(14);
            let stats: Vec<_> =
                (0..draws).map(|_| lecun(&widths, &mut rng).unwrap().balance_stats()[0]).collect();
            let n = f64::from(draws);
            let mean =
                |f: &dyn Fn(&crate::BalanceStats) -> f64| stats.iter().map(f).sum::<f64>() / n;
            // Mean within 4 standard errors (sample standard deviation).
            let close = |f: &dyn Fn(&crate::BalanceStats) -> f64, expected: f64, what: &str| {
                let m = mean(f);
                let sd = (stats.iter().map(|s| (f(s) - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                assert!(
                    (m - expected).abs() < 4.0 * sd / n.sqrt(),
                    "{widths:?} {what}: mean {m} vs {expected} (sd {sd})"
                );
                m
            };
            let p = predicted(widths);
            let lambda = close(&|s| s.lambda, p.lambda, "λ̄");
            close(&|s| (s.lambda - p.lambda).powi(2), p.lambda_var, "Var λ̄");
            close(&|s| s.residual * s.residual, p.residual2, "‖B − λ̄I‖²");
            close(&|s| s.norm * s.norm, p.norm2, "‖B‖²");
            assert!((lambda - (widths[2] as f64 / widths[1] as f64 - 1.0)).abs() < 0.01);
            // The relative defect concentrates near sqrt(E‖B − λ̄I‖²/E‖B‖²) ≈ 0.968: it does
            // not vanish with width.
            let relative = mean(&|s| s.relative_defect().unwrap());
            assert!(
                (relative - p.relative).abs() < 0.01,
                "{widths:?}: {relative} vs {}",
                p.relative
            );
            assert!(relative > 0.95, "{widths:?}: {relative}");
            let entry = mean(&|s| s.entry_defect());
            assert!((entry - p.entry).abs() < 0.01 * p.entry, "{widths:?}: {entry} vs {}", p.entry);
            entry_means.push(entry);
        }
        // Widths × 5 at fixed ratios: the entry defect falls by about √5 (2.26 with the finite-Nh
        // factors).
        let ratio = entry_means[0] / entry_means[1];
        assert!((ratio - 5f64.sqrt()).abs() < 0.05, "ratio {ratio}");
    }

    /// [`Network::balance_stats`] is bitwise its earlier form on nalgebra's products and
    /// iterators (kept here): balanced inits of depths 2–3 at λ ∈ {0, ±0.7}, LeCun and Gaussian
    /// weights of widths below, at and above eight, weights scaled by 1e76, and a zero network.
    #[test]
    fn balance_stats_are_bitwise_those_of_nalgebras_products() {
        fn scaled_norm(m: &DMatrix<f64>) -> f64 {
            let largest = m.amax();
            if largest == 0.0 || !largest.is_finite() {
                return largest;
            }
            largest * m.iter().map(|x| (x / largest).powi(2)).sum::<f64>().sqrt()
        }
        fn reference(net: &Network) -> Vec<[u64; 4]> {
            (0..net.layers.len() - 1)
                .map(|idx| {
                    let (lower, upper) = (&net.layers[idx], &net.layers[idx + 1]);
                    let gram_upper = upper.tr_mul(upper);
                    let gram_lower = lower * lower.transpose();
                    let mut b = &gram_upper - &gram_lower;
                    let lambda = b.trace() / b.nrows() as f64;
                    let norm = scaled_norm(&b);
                    for i in 0..b.nrows() {
                        b[(i, i)] -= lambda;
                    }
                    let terms = scaled_norm(&gram_upper) + scaled_norm(&gram_lower);
                    [lambda, scaled_norm(&b), norm, terms].map(f64::to_bits)
                })
                .collect()
        }
        let bits = |net: &Network| -> Vec<[u64; 4]> {
            let stats = net.balance_stats();
            stats
                .iter()
                .map(|s| [s.lambda, s.residual, s.norm, s.terms].map(f64::to_bits))
                .collect()
        };
        let mut rng = ChaCha8Rng::seed_from_u64(37);
        let mut nets = Vec::new();
        for lambda in [0.0, 0.7, -0.7] {
            for widths in [vec![8, 8, 8], vec![5, 5, 5], vec![4, 4, 4, 4], vec![12, 12, 12]] {
                let params = Balanced {
                    lambda,
                    values: ProductValues::GaussianProduct { sigma: 0.5 },
                    bases: ProductBases::Random,
                };
                nets.push(balanced(&widths, &params, &mut rng).unwrap());
            }
        }
        for widths in [vec![8, 8, 8], vec![3, 9, 17, 4], vec![13, 16, 13]] {
            nets.push(lecun(&widths, &mut rng).unwrap());
            nets.push(gaussian(&widths, &vec![0.3; widths.len() - 1], &mut rng).unwrap());
        }
        let huge = Network { layers: nets[12].layers.iter().map(|w| w * 1e76).collect() };
        let zero = Network { layers: nets[0].layers.iter().map(|w| w * 0.0).collect() };
        nets.extend([huge, zero]);
        for net in &nets {
            assert_eq!(bits(net), reference(net), "{:?}", net.layers.iter().map(|w| w.shape()));
        }
        assert_eq!(nets.len(), 20);
    }

    #[test]
    fn balance_stats_of_balanced_inits_are_exact_and_undefined_at_zero() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for (lambda, depth_widths) in
            [(0.7, vec![4, 4, 4]), (-1.5, vec![6, 4, 4, 3]), (0.0, vec![3, 3, 3])]
        {
            let params = Balanced {
                lambda,
                values: ProductValues::GaussianProduct { sigma: 0.5 },
                bases: ProductBases::Random,
            };
            let net = balanced(&depth_widths, &params, &mut rng).unwrap();
            let stats = net.balance_stats();
            assert_eq!(stats.len(), depth_widths.len() - 2);
            for (s, l) in stats.iter().zip(net.lambdas()) {
                assert_eq!(s.lambda, l);
                assert!((s.lambda - lambda).abs() < 1e-12);
                assert!(s.entry_defect() < 1e-12, "{s:?}");
                match s.relative_defect() {
                    Some(d) => assert!(lambda != 0.0 && d < 1e-12, "{s:?}"),
                    // B = 0 to rounding: a relative defect means nothing.
                    None => assert_eq!(lambda, 0.0, "{s:?}"),
                }
            }
        }
        let shallow = Network::new(vec![DMatrix::identity(2, 3)]).unwrap();
        assert!(shallow.balance_stats().is_empty());

        // Weights near the P15 bound: B's entries (~1e152) square beyond f64, its norms do not.
        let net = lecun(&[40, 200, 80], &mut rng).unwrap();
        let huge = Network::new(net.layers.iter().map(|w| w * 1e76).collect()).unwrap();
        let (small, large) = (net.balance_stats()[0], huge.balance_stats()[0]);
        assert!(large.residual.is_finite() && large.norm.is_finite() && large.terms.is_finite());
        let relative = large.relative_defect().unwrap();
        assert!((relative - small.relative_defect().unwrap()).abs() < 1e-12, "{large:?}");
        assert!((large.entry_defect() / 1e152 / small.entry_defect() - 1.0).abs() < 1e-12);
    }

    /// A random λ-balanced network of `widths` and a task whose determinant has the opposite
    /// sign to the product's (and one with the same sign), for square `Ni = No`.
    fn opposite_and_same_sign_tasks(
        widths: &[usize],
        lambda: f64,
        seed: u64,
    ) -> (Network, DMatrix<f64>, DMatrix<f64>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let params = Balanced {
            lambda,
            values: ProductValues::GaussianProduct { sigma: 0.5 },
            bases: ProductBases::Random,
        };
        let net = balanced(widths, &params, &mut rng).unwrap();
        let n = widths[0];
        let mut task = gaussian_matrix(n, n, 1.0, &mut rng);
        if net.product().determinant() * task.determinant() > 0.0 {
            task.row_mut(0).neg_mut();
        }
        let mut same = task.clone();
        same.row_mut(0).neg_mut();
        (net, task, same)
    }

    #[test]
    fn determinant_sign_matching_flips_the_sign_and_keeps_every_balance() {
        let cases: &[(&[usize], f64)] =
            &[(&[3, 3, 3], 0.0), (&[4, 4, 4], 0.3), (&[2, 2, 2], -1.0), (&[3, 3, 3, 3], 0.5)];
        for (seed, &(widths, lambda)) in cases.iter().enumerate() {
            let (net, opposite, same) = opposite_and_same_sign_tasks(widths, lambda, seed as u64);
            assert!(net.product().determinant() * opposite.determinant() < 0.0);
            let signed = match_determinant_sign(net.clone(), &opposite);
            assert!(signed.product().determinant() * opposite.determinant() > 0.0, "{widths:?}");
            for idx in 0..net.depth() - 1 {
                assert_eq!(signed.balance(idx), net.balance(idx), "{widths:?} balance {idx}");
            }
            assert_eq!(signed.layers[..net.depth() - 1], net.layers[..net.depth() - 1]);
            let (before, after) = (
                singular_values(&net.product()).unwrap(),
                singular_values(&signed.product()).unwrap(),
            );
            assert!((before - after).amax() < 1e-14, "{widths:?}");
            // Already matched: nothing changes.
            assert_eq!(match_determinant_sign(net.clone(), &same), net, "{widths:?}");
        }
    }

    #[test]
    fn determinant_sign_matching_leaves_non_square_products_alone() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let params = Balanced {
            lambda: 0.5,
            values: ProductValues::GaussianProduct { sigma: 0.5 },
            bases: ProductBases::Random,
        };
        let net = balanced(&[2, 2, 3], &params, &mut rng).unwrap();
        let task = gaussian_matrix(3, 2, 1.0, &mut rng);
        for task in [task.clone(), -task] {
            assert_eq!(match_determinant_sign(net.clone(), &task), net);
        }
        // A square product with a task of another shape is left alone too.
        let square = balanced(&[2, 2, 2], &params, &mut rng).unwrap();
        let task = gaussian_matrix(3, 3, 1.0, &mut rng);
        assert_eq!(match_determinant_sign(square.clone(), &task), square);
    }
}
