//! The neural tangent kernel (NTK) of a deep linear network and the kernel distance between two
//! NTKs, without forming the $N_oP \times N_oP$ matrix (docs/math.md §4 items 4–5).
//!
//! For $f(x) = W_L \cdots W_1 x$ on inputs $X \in \mathbb R^{N_i \times P}$ the NTK is
//! $$K = \sum_{l=1}^{L} M_l \otimes X^\top A_l X, \qquad
//! M_l = (W_L \cdots W_{l+1})(W_L \cdots W_{l+1})^\top, \quad
//! A_l = (W_{l-1} \cdots W_1)^\top (W_{l-1} \cdots W_1),$$
//! with $M_L = I_{N_o}$, $A_1 = I_{N_i}$ and the output index $(o, p) \mapsto oP + p$. For two
//! layers this is $I \otimes X^\top W_1^\top W_1 X + W_2 W_2^\top \otimes X^\top X$.
//!
//! With $XX^\top = P\,\Sigma_{xx}$ the Frobenius inner product of two such kernels is
//! $$\langle K_a, K_b \rangle_F = P^2 \sum_{l,k} \langle M^a_l, M^b_k \rangle_F \,
//! \operatorname{tr}(\Sigma_{xx} A^a_l \Sigma_{xx} A^b_k),$$
//! so the kernel distance $S(K_a, K_b) = 1 - \langle K_a, K_b\rangle_F / (\|K_a\|_F \|K_b\|_F)$
//! (Fort et al. 2020) depends only on the $(M_l, A_l)$ and $\Sigma_{xx}$: $P$ cancels. Identity
//! factors are kept symbolic, which for two whitened layers gives the $O(N^2)$ form of docs/math.md §4.5,
//! $N_o \operatorname{tr}(A_aA_b) + \operatorname{tr}(M_b)\operatorname{tr}(A_a)
//! + \operatorname{tr}(M_a)\operatorname{tr}(A_b) + N_i \langle M_a, M_b \rangle_F$.
//!
//! **Zero kernels.** The NTK of the all-zero network is zero for every depth $L \ge 2$, and the
//! distance is then 0/0. We define the distance between two zero kernels as 0 (they are equal)
//! and between a zero and a non-zero kernel as 1 (no overlap, as for orthogonal kernels). "Zero"
//! means that every term has an exactly zero factor.
//!
//! **No overflow.** The inner products are of degree $4(L-1)$ in the weights and overflow `f64`
//! long before the weights do (at entries of about $10^{77/(L-1)}$). Each dense factor is
//! therefore stored scaled by the power of two of its largest entry (exactly: a multiplication
//! by $2^{-k}$ rounds nothing), with the exponent $k$ kept per term, and inner products are
//! accumulated relative to the largest term with weights that are powers of two (formed
//! exactly, no `exp` or `ln`): the kernel distance,
//! which does not change when a kernel is multiplied by a positive number, is finite for any
//! finite weights whose Gram matrices are finite. [`ntk_inner`] and
//! [`KernelReference::norm_squared`] return the true (unscaled) values, which may overflow.

use nalgebra::DMatrix;

use crate::kernels::{Kernel, Lanes, NR, Portable, dispatch};
use crate::metrics::DotOrder;
use crate::network::Network;

/// A symmetric Gram factor, with the identity kept symbolic.
#[derive(Clone, Debug, PartialEq)]
enum Gram {
    /// `I_n`.
    Identity(usize),
    /// A dense symmetric matrix.
    Dense(DMatrix<f64>),
}

impl Gram {
    /// `⟨self, other⟩_F` (= `tr(self · other)` for symmetric factors).
    fn inner(&self, other: &Gram) -> f64 {
        match (self, other) {
            (Gram::Identity(n), Gram::Identity(m)) => {
                debug_assert_eq!(n, m);
                *n as f64
            }
            (Gram::Identity(_), Gram::Dense(d)) | (Gram::Dense(d), Gram::Identity(_)) => d.trace(),
            (Gram::Dense(x), Gram::Dense(y)) => x.dot(y),
        }
    }

    /// `Σ self Σ` (`self` unchanged when `sigma` is `None`, i.e. Σ = I).
    fn sandwich(&self, sigma: Option<&DMatrix<f64>>) -> Gram {
        match (sigma, self) {
            (None, gram) => gram.clone(),
            (Some(s), Gram::Identity(_)) => Gram::Dense(s * s),
            (Some(s), Gram::Dense(d)) => Gram::Dense(s * d * s),
        }
    }
}

/// One term `2^{exponent} M ⊗ XᵀAX` of the NTK, with each dense factor scaled by the power of
/// two of its largest entry ([`normalized`]).
#[derive(Clone, Debug, PartialEq)]
struct Term {
    /// `M_l / m_l` (`No × No`).
    output: Gram,
    /// `A_l / a_l` (`Ni × Ni`).
    input: Gram,
    /// `k_m + k_a`, the exponents of the two factors' scales (an integer; `−∞` for a zero
    /// term, and NaN or `+∞` for a non-finite one, which then propagates).
    exponent: f64,
}

impl Term {
    /// The term `output ⊗ XᵀinputX`, each dense factor scaled to a largest entry in `[1, 2)`.
    fn new(output: Gram, input: Gram) -> Term {
        let (output, k_out) = normalized(output);
        let (input, k_in) = normalized(input);
        Term { output, input, exponent: k_out + k_in }
    }
}

/// `g · 2^{−k}` and `k`, with `k` the [`scale_exponent`] of `max|g|` (`g` and `−∞` for a zero
/// matrix, `g` and NaN or `+∞` for a non-finite one; the identity is left as it is, `k = 0`).
fn normalized(g: Gram) -> (Gram, f64) {
    match g {
        Gram::Identity(n) => (Gram::Identity(n), 0.0),
        Gram::Dense(d) => {
            let largest = largest_abs(&d);
            let k = scale_exponent(largest);
            if largest > 0.0 && largest.is_finite() {
                (Gram::Dense(d * pow2(-k)), k)
            } else {
                (Gram::Dense(d), k)
            }
        }
    }
}

/// The exponent `k` of the power of two a factor whose largest |entry| is `largest` is scaled
/// by: `⌊log₂ largest⌋`, at least −1022 (so that `2^{−k}` is a normal number; a factor of
/// subnormal entries keeps entries below 1), as an integer-valued `f64`. `−∞` for 0, `+∞` for
/// `+∞`, NaN for NaN: the values `ln` gave the earlier logarithmic scale, so a zero term drops
/// out and a non-finite one propagates the same way.
fn scale_exponent(largest: f64) -> f64 {
    if largest == 0.0 {
        f64::NEG_INFINITY
    } else if !largest.is_finite() {
        largest
    } else {
        // A normal `largest`: its biased exponent field; a subnormal one has field 0 → −1023,
        // raised to −1022.
        let field = ((largest.to_bits() >> 52) & 0x7ff) as i32;
        f64::from((field - 1023).max(-1022))
    }
}

/// `2^x`, exactly, for an integer-valued `x` (as the exponents and their sums and differences
/// here are): 0 below `2^{−1074}` (and for `−∞`), `+∞` above the largest `f64`, `x` itself for a
/// NaN (as `exp` propagates it). It replaces `e^x` of the earlier logarithmic scale: a few
/// integer operations, no rounding.
fn pow2(x: f64) -> f64 {
    if x.is_nan() {
        x
    } else if x > 1023.0 {
        f64::INFINITY
    } else if x >= -1022.0 {
        // A normal number: the biased exponent x + 1023 in 1..=2046, a zero mantissa.
        f64::from_bits(((x as i64 + 1023) as u64) << 52)
    } else if x >= -1074.0 {
        // A subnormal number: the mantissa bit 1074 + x.
        f64::from_bits(1u64 << (x as i64 + 1074) as u64)
    } else {
        0.0
    }
}

/// `d.amax()` (the largest `|entry|`, 0 for an empty matrix) by the same fold over the entries
/// (`a >= |b|` keeps `a`, as simba's `simd_max`; NaN entries behave as there), on the slice: the
/// same value without nalgebra's per-entry iterator, which cost more than the rest of
/// [`NtkFactors::from_qqt`] at the sizes of a time point.
fn largest_abs(d: &DMatrix<f64>) -> f64 {
    let mut entries = d.as_slice().iter();
    let first = entries.next().map_or(0.0, |x| x.abs());
    entries.fold(first, |a, b| {
        let b = b.abs();
        if a >= b { a } else { b }
    })
}

/// The largest `exponent` of `terms` (`−∞` when every term is zero).
fn exponent_reference(terms: &[Term]) -> f64 {
    terms.iter().map(|t| t.exponent).fold(f64::NEG_INFINITY, |a, b| {
        // NaN-propagating max.
        if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
    })
}

/// The factors `(M_l, A_l)` of an NTK `K = Σ_l M_l ⊗ XᵀA_lX`, one pair per layer.
#[derive(Clone, Debug, PartialEq)]
pub struct NtkFactors {
    n_in: usize,
    n_out: usize,
    terms: Vec<Term>,
}

impl NtkFactors {
    /// The factors of a network of any depth: `M_l = S_{l+1}S_{l+1}ᵀ` and `A_l = P_{l−1}ᵀP_{l−1}`
    /// with `S_{l+1} = W_L⋯W_{l+1}` and `P_{l−1} = W_{l−1}⋯W_1` (identities kept symbolic).
    /// The products are [`crate::linalg::product`] and [`crate::linalg::gram_of_columns`]:
    /// bitwise nalgebra's `*` and `tr_mul`, without their packing and per-entry views (a
    /// point's kernel reference is built from its initial network).
    pub fn from_network(net: &Network) -> NtkFactors {
        let depth = net.depth();
        let (n_in, n_out) = (net.n_in(), net.n_out());
        // input_side[i] = W_i ⋯ W_1, the map below 0-based layer i (None for the first layer: the
        // identity).
        let mut input_side: Vec<Option<DMatrix<f64>>> = vec![None; depth];
        for l in 1..depth {
            let below = match &input_side[l - 1] {
                Some(p) => crate::linalg::product(&net.layers[l - 1], p),
                None => net.layers[0].clone(),
            };
            input_side[l] = Some(below);
        }
        // output_side[i] = W_L ⋯ W_{i+2}, the map above 0-based layer i (None for the last layer:
        // the identity).
        let mut output_side: Vec<Option<DMatrix<f64>>> = vec![None; depth];
        for i in (0..depth.saturating_sub(1)).rev() {
            let above = match &output_side[i + 1] {
                Some(s) => crate::linalg::product(s, &net.layers[i + 1]),
                None => net.layers[i + 1].clone(),
            };
            output_side[i] = Some(above);
        }
        let terms = input_side
            .iter()
            .zip(&output_side)
            .map(|(p, s)| {
                Term::new(
                    match s {
                        Some(s) => Gram::Dense(crate::linalg::product(s, &s.transpose())),
                        None => Gram::Identity(n_out),
                    },
                    match p {
                        Some(p) => Gram::Dense(crate::linalg::gram_of_columns(p)),
                        None => Gram::Identity(n_in),
                    },
                )
            })
            .collect();
        NtkFactors { n_in, n_out, terms }
    }

    /// Two-layer factors from the QQᵀ blocks: `A = W1ᵀW1 = qqt[..n_in, ..n_in]`,
    /// `M = W2W2ᵀ = qqt[n_in.., n_in..]`, i.e. `K = I ⊗ XᵀAX + M ⊗ XᵀX`.
    ///
    /// # Panics
    /// If `qqt` is not square or `n_in` exceeds its size (a programming error: the closed form
    /// always returns an `(Ni+No) × (Ni+No)` matrix).
    pub fn from_qqt(qqt: &DMatrix<f64>, n_in: usize) -> NtkFactors {
        assert!(qqt.is_square() && n_in <= qqt.nrows(), "QQᵀ must be square with n_in <= its size");
        let n_out = qqt.nrows() - n_in;
        let a = crate::metrics::input_representation(qqt, n_in);
        let m = crate::metrics::output_representation(qqt, n_in);
        NtkFactors {
            n_in,
            n_out,
            terms: vec![
                Term::new(Gram::Dense(m), Gram::Identity(n_in)),
                Term::new(Gram::Identity(n_out), Gram::Dense(a)),
            ],
        }
    }

    /// Input dimension Ni.
    pub fn n_in(&self) -> usize {
        self.n_in
    }

    /// Output dimension No.
    pub fn n_out(&self) -> usize {
        self.n_out
    }

    /// Number of Kronecker terms (the depth).
    pub fn n_terms(&self) -> usize {
        self.terms.len()
    }

    fn check_compatible(&self, other: &NtkFactors, sigma_xx: Option<&DMatrix<f64>>) {
        assert_eq!(
            (self.n_in, self.n_out),
            (other.n_in, other.n_out),
            "NTK factors of networks with different input/output sizes"
        );
        if let Some(s) = sigma_xx {
            assert_eq!(s.shape(), (self.n_in, self.n_in), "sigma_xx must be Ni x Ni");
        }
    }
}

/// `Σ_{l,k} ⟨M^a_l, M^b_k⟩ ⟨Ã^a_l, A^b_k⟩ / 2^{r_a + r_b}` with `Ã^a = Σ A^a Σ` given by
/// `a_weighted` (or `A^a` itself when `None`, i.e. whitened) and `r_x` the
/// [`exponent_reference`] of `x`: every weight `2^{…}` of a pair of terms is at most 1, so
/// nothing overflows. 0 when either kernel is zero.
fn inner_terms(a: &[Term], a_weighted: Option<&[Gram]>, b: &[Term]) -> f64 {
    let (ref_a, ref_b) = (exponent_reference(a), exponent_reference(b));
    if ref_a == f64::NEG_INFINITY || ref_b == f64::NEG_INFINITY {
        return 0.0;
    }
    let mut total = 0.0;
    for (l, term_a) in a.iter().enumerate() {
        let input_a = a_weighted.map_or(&term_a.input, |w| &w[l]);
        for term_b in b {
            let weight = pow2((term_a.exponent - ref_a) + (term_b.exponent - ref_b));
            if weight == 0.0 {
                continue;
            }
            total += weight * term_a.output.inner(&term_b.output) * input_a.inner(&term_b.input);
        }
    }
    total
}

/// `2^{r_a + r_b}`, the scale [`inner_terms`] divided by (`0` when either kernel is zero).
fn inner_scale(a: &[Term], b: &[Term]) -> f64 {
    pow2(exponent_reference(a) + exponent_reference(b))
}

fn weighted_inputs(f: &NtkFactors, sigma_xx: Option<&DMatrix<f64>>) -> Option<Vec<Gram>> {
    sigma_xx.map(|s| f.terms.iter().map(|t| t.input.sandwich(Some(s))).collect())
}

/// `⟨K_a, K_b⟩_F / P²` for inputs with `XXᵀ = P Σxx`; `sigma_xx` `None` means whitened (Σxx = I).
///
/// Costs `O(L N³)` for the Σxx products (none when whitened) plus `O(L² N²)`.
///
/// # Panics
/// If the factors have different `Ni`/`No`, or `sigma_xx` is not `Ni × Ni`.
pub fn ntk_inner(a: &NtkFactors, b: &NtkFactors, sigma_xx: Option<&DMatrix<f64>>) -> f64 {
    a.check_compatible(b, sigma_xx);
    let weighted = weighted_inputs(a, sigma_xx);
    let scaled = inner_terms(&a.terms, weighted.as_deref(), &b.terms);
    if scaled == 0.0 { 0.0 } else { scaled * inner_scale(&a.terms, &b.terms) }
}

/// Kernel distance `1 − ⟨a,b⟩/(‖a‖‖b‖)` from the inner products, with the zero-kernel convention
/// of the module docs, clamped to `[0, 2]` against rounding.
fn cosine_distance(cross: f64, norm_sq_a: f64, norm_sq_b: f64) -> f64 {
    match (norm_sq_a == 0.0, norm_sq_b == 0.0) {
        (true, true) => 0.0,
        (true, false) | (false, true) => 1.0,
        (false, false) => (1.0 - cross / (norm_sq_a.sqrt() * norm_sq_b.sqrt())).clamp(0.0, 2.0),
    }
}

/// `(M/m, A/a)` of the whitened two-layer factors `[(M, I), (I, A)]` ([`NtkFactors::from_qqt`],
/// and [`NtkFactors::from_network`] of two layers); `None` for any other.
fn two_layer_blocks(terms: &[Term]) -> Option<(&DMatrix<f64>, &DMatrix<f64>)> {
    match terms {
        [
            Term { output: Gram::Dense(m), input: Gram::Identity(_), .. },
            Term { output: Gram::Identity(_), input: Gram::Dense(a), .. },
        ] => Some((m, a)),
        _ => None,
    }
}

/// What [`inner_terms`] needs of each of two whitened two-layer factors besides their inner
/// products: the scale exponents and the traces of the normalised blocks.
#[derive(Clone, Copy, Debug)]
struct TwoLayerScalars {
    k_m: f64,
    k_a: f64,
    trace_m: f64,
    trace_a: f64,
    /// The larger of the two exponents, as [`exponent_reference`] folds it (NaN-propagating).
    k_reference: f64,
}

impl TwoLayerScalars {
    #[inline(always)]
    fn new(k_m: f64, k_a: f64, trace_m: f64, trace_a: f64) -> TwoLayerScalars {
        let k_reference = [k_m, k_a].into_iter().fold(f64::NEG_INFINITY, |x, y| {
            if x.is_nan() || y.is_nan() { f64::NAN } else { x.max(y) }
        });
        TwoLayerScalars { k_m, k_a, trace_m, trace_a, k_reference }
    }
}

/// [`inner_terms`] of two whitened two-layer factors `[(M, I_i), (I_o, A)]`, bitwise, from their
/// scalars and `dots = [⟨M_a, M_b⟩, ⟨A_a, A_b⟩]` of the normalised blocks: the four pairs of
/// terms in the same order, with the same weights and the same products of [`Gram::inner`]
/// (`⟨I_i, I_i⟩ = Ni`, `⟨M, I⟩ = tr M`).
#[inline(always)]
fn inner_two_layer(
    a: &TwoLayerScalars,
    b: &TwoLayerScalars,
    dots: [f64; 2],
    n_in: f64,
    n_out: f64,
) -> f64 {
    let (ref_a, ref_b) = (a.k_reference, b.k_reference);
    if ref_a == f64::NEG_INFINITY || ref_b == f64::NEG_INFINITY {
        return 0.0;
    }
    // (a_l, b_k) → ⟨output_a, output_b⟩ · ⟨input_a, input_b⟩, as in `inner_terms` (written out:
    // no array of pairs to index).
    let mut total = 0.0;
    #[inline(always)]
    fn add(total: &mut f64, x: f64, output: f64, input: f64) {
        let weight = pow2(x);
        if weight != 0.0 {
            *total += weight * output * input;
        }
    }
    let (m_a, a_a, m_b, a_b) = (a.k_m - ref_a, a.k_a - ref_a, b.k_m - ref_b, b.k_a - ref_b);
    add(&mut total, m_a + m_b, dots[0], n_in);
    add(&mut total, m_a + a_b, a.trace_m, b.trace_a);
    add(&mut total, a_a + m_b, b.trace_m, a.trace_a);
    add(&mut total, a_a + a_b, n_out, dots[1]);
    total
}

/// The scalars of one diagonal block `B` of `QQᵀ` (`M` or `A`), normalised as [`normalized`]
/// does (`B · 2^{−k}` when `max|B|` is positive and finite).
struct BlockScalars {
    /// `k`, the [`scale_exponent`] of `max|B|`, as [`normalized`] gives it.
    exponent: f64,
    /// `tr B̃` (nalgebra's `trace` order).
    trace: f64,
    /// `⟨R, B̃⟩` with the reference's normalised block `R` (nalgebra's `dot` order).
    dot_reference: f64,
    /// `⟨B̃, B̃⟩` (nalgebra's `dot` order).
    norm_sq: f64,
}

impl BlockScalars {
    /// The scalars of the `len × len` block of `qqt` at `(start, start)` against `reference`
    /// ([`BlockScalars::of_columns`]), with the size a constant for a block of eight rows (the
    /// compiler then unrolls the passes: the same operations in the same order).
    #[inline(always)]
    fn of<L: Lanes>(
        l: L,
        qqt: &DMatrix<f64>,
        start: usize,
        len: usize,
        reference: &DMatrix<f64>,
    ) -> BlockScalars {
        let n = qqt.nrows();
        assert!(start + len <= n && qqt.ncols() == n, "block out of range");
        assert_eq!(reference.shape(), (len, len), "reference block of another size");
        let (data, ref_data) = (qqt.as_slice(), reference.as_slice());
        if len == 8 {
            Self::of_columns::<L, 8>(
                l,
                len,
                |j| &data[(start + j) * n + start..][..8],
                |j| &ref_data[j * 8..][..8],
            )
        } else {
            Self::of_columns::<L, 0>(
                l,
                len,
                |j| &data[(start + j) * n + start..][..len],
                |j| &ref_data[j * len..][..len],
            )
        }
    }

    /// The scalars of the block whose column `j` is `column(j)` (`len` entries), against the
    /// reference block whose column `j` is `ref_column(j)`, with vectors `l`: one pass for
    /// [`largest_abs`] (the block's entries in column-major order, as on its copy), one for the
    /// rest. `FIXED` is `len` as a constant, or 0 for a size known at run time only.
    #[inline(always)]
    fn of_columns<'q, 'r, L: Lanes, const FIXED: usize>(
        l: L,
        len: usize,
        column: impl Fn(usize) -> &'q [f64] + Copy,
        ref_column: impl Fn(usize) -> &'r [f64],
    ) -> BlockScalars {
        debug_assert!(FIXED == 0 || FIXED == len);
        let len = if FIXED > 0 { FIXED } else { len };
        let keep = |a: f64, b: f64| if a >= b { a } else { b };
        // `largest_abs` of the block's copy is the fold `a >= |b| ? a : |b|` over its entries in
        // column-major order. Without a NaN entry that is the largest |entry| in any order (all
        // |b| ≥ +0), taken here in two vectors of four lanes (`|x| > lane ? |x| : lane`, the
        // same value without a NaN) and a scalar for the rows past a multiple of eight. A NaN
        // entry makes the squared norm NaN (`x · 2^{−k}` or `x` squared, whatever the lanes
        // kept), and then the fold in order decides.
        let (mut low, mut high, mut rest_largest) = (l.splat(0.0), l.splat(0.0), 0.0);
        let larger = |lane: L::V, x: L::V| {
            let x = l.abs(x);
            l.select_gt(x, lane, x, lane)
        };
        for j in 0..len {
            let (chunks, rest) = column(j).as_chunks::<8>();
            for x8 in chunks {
                let (x_low, x_high) = x8.split_at(NR);
                low = larger(low, l.load_slice(x_low));
                high = larger(high, l.load_slice(x_high));
            }
            for &x in rest {
                rest_largest = keep(rest_largest, x.abs());
            }
        }
        let (mut lanes, mut lanes_high) = ([0.0; NR], [0.0; NR]);
        l.store(&mut lanes, low);
        l.store(&mut lanes_high, high);
        let largest = lanes.into_iter().chain(lanes_high).fold(rest_largest, keep);
        let scalars = Self::with_largest(l, len, column, &ref_column, largest);
        if !scalars.norm_sq.is_nan() {
            return scalars;
        }
        let mut entries = (0..len).flat_map(column);
        let first = entries.next().map_or(0.0, |x| x.abs());
        Self::with_largest(
            l,
            len,
            column,
            &ref_column,
            entries.fold(first, |a, b| keep(a, b.abs())),
        )
    }

    /// The scalars of the block of columns `column(j)` whose largest |entry| is `largest`, the
    /// sums in vector lanes (`DotOrder::column_lanes`: bitwise those of `DotOrder::column`).
    #[inline(always)]
    fn with_largest<'q, 'r, L: Lanes>(
        l: L,
        len: usize,
        column: impl Fn(usize) -> &'q [f64],
        ref_column: &impl Fn(usize) -> &'r [f64],
        largest: f64,
    ) -> BlockScalars {
        let exponent = scale_exponent(largest);
        let (mut trace, mut sums) = (0.0, [0.0; 2]);
        let scaled = largest > 0.0 && largest.is_finite();
        let factor = if scaled { pow2(-exponent) } else { 1.0 };
        let factor_v = l.splat(factor);
        for j in 0..len {
            let (x, r) = (column(j), ref_column(j));
            if scaled {
                DotOrder::column_lanes(
                    l,
                    &mut sums,
                    x,
                    r,
                    |x, r| {
                        let x = l.mul(x, factor_v);
                        [l.mul(r, x), l.mul(x, x)]
                    },
                    |x, r| {
                        let x = x * factor;
                        [r * x, x * x]
                    },
                );
                trace += x[j] * factor;
            } else {
                DotOrder::column_lanes(
                    l,
                    &mut sums,
                    x,
                    r,
                    |x, r| [l.mul(r, x), l.mul(x, x)],
                    |x, r| [r * x, x * x],
                );
                trace += x[j];
            }
        }
        BlockScalars { exponent, trace, dot_reference: sums[0], norm_sq: sums[1] }
    }
}

/// The passes of [`KernelReference::distance_from_qqt`] over the two diagonal blocks of `QQᵀ`
/// (`M`, then `A`), as one [`Kernel`].
struct BlockPasses<'a> {
    qqt: &'a DMatrix<f64>,
    n_in: usize,
    m_ref: &'a DMatrix<f64>,
    a_ref: &'a DMatrix<f64>,
}

impl Kernel for BlockPasses<'_> {
    type Output = [BlockScalars; 2];

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> [BlockScalars; 2] {
        let n_out = self.qqt.nrows() - self.n_in;
        [
            BlockScalars::of(l, self.qqt, self.n_in, n_out, self.m_ref),
            BlockScalars::of(l, self.qqt, 0, self.n_in, self.a_ref),
        ]
    }
}

impl<'a> BlockPasses<'a> {
    /// These passes on fixed-size arrays when both blocks have eight rows (an 8-8-8 network:
    /// `QQᵀ` is 16 × 16); `None` for any other size.
    #[inline(always)]
    fn square8(&self) -> Option<BlockPasses8<'a>> {
        let columns = |m: &'a DMatrix<f64>| m.as_slice().as_chunks::<8>().0.try_into().ok();
        if self.n_in != 8 || self.qqt.shape() != (16, 16) {
            return None;
        }
        Some(BlockPasses8 {
            qqt: self.qqt.as_slice().as_chunks::<16>().0.try_into().ok()?,
            m_ref: columns(self.m_ref)?,
            a_ref: columns(self.a_ref)?,
        })
    }
}

/// [`BlockPasses`] of a 16 × 16 `QQᵀ` with `n_in = 8`, its columns and those of the reference
/// blocks as fixed-size arrays: every index a constant (no bounds checks or index arithmetic),
/// the same operations in the same order, so bitwise the same scalars.
struct BlockPasses8<'a> {
    qqt: &'a [[f64; 16]; 16],
    m_ref: &'a [[f64; 8]; 8],
    a_ref: &'a [[f64; 8]; 8],
}

impl BlockPasses8<'_> {
    /// The scalars of the 8 × 8 block at `(START, START)`.
    #[inline(always)]
    fn block<L: Lanes, const START: usize>(
        l: L,
        qqt: &[[f64; 16]; 16],
        reference: &[[f64; 8]; 8],
    ) -> BlockScalars {
        BlockScalars::of_columns::<L, 8>(
            l,
            8,
            |j| &qqt[START + j][START..START + 8],
            |j| &reference[j],
        )
    }
}

impl Kernel for BlockPasses8<'_> {
    type Output = [BlockScalars; 2];

    #[inline(always)]
    fn run<L: Lanes>(self, l: L) -> [BlockScalars; 2] {
        [Self::block::<L, 8>(l, self.qqt, self.m_ref), Self::block::<L, 0>(l, self.qqt, self.a_ref)]
    }
}

/// A fixed reference kernel (e.g. NTK(0)) with its norm and Σxx-weighted factors precomputed.
///
/// [`KernelReference::distance`] then costs `O(L² N²)` when whitened (`O(N²)` for two layers, the
/// form of docs/math.md §4.5), plus `O(L N³)` for the other kernel's own norm when Σxx is general.
#[derive(Clone, Debug)]
pub struct KernelReference {
    reference: NtkFactors,
    sigma_xx: Option<DMatrix<f64>>,
    /// `Σ A_l Σ` of the reference (`None` when whitened).
    weighted: Option<Vec<Gram>>,
    /// `‖K_ref‖² / P²` divided by the scale of [`inner_terms`].
    norm_sq: f64,
    /// The scalars of a whitened two-layer reference (`None` for any other), for
    /// [`KernelReference::distance_from_qqt`].
    two_layer: Option<TwoLayerScalars>,
}

impl KernelReference {
    /// Precomputes the reference side. `sigma_xx` `None` means whitened inputs.
    ///
    /// # Panics
    /// If `sigma_xx` is not `Ni × Ni`.
    pub fn new(reference: NtkFactors, sigma_xx: Option<&DMatrix<f64>>) -> KernelReference {
        reference.check_compatible(&reference, sigma_xx);
        let weighted = weighted_inputs(&reference, sigma_xx);
        let norm_sq = inner_terms(&reference.terms, weighted.as_deref(), &reference.terms);
        let two_layer = match sigma_xx {
            None => two_layer_blocks(&reference.terms).map(|(m, a)| {
                let (k_m, k_a) = (reference.terms[0].exponent, reference.terms[1].exponent);
                TwoLayerScalars::new(k_m, k_a, m.trace(), a.trace())
            }),
            Some(_) => None,
        };
        KernelReference { reference, sigma_xx: sigma_xx.cloned(), weighted, norm_sq, two_layer }
    }

    /// Kernel distance `S(K_ref, K_other) = 1 − ⟨K_ref, K_other⟩/(‖K_ref‖‖K_other‖)`.
    ///
    /// In `[0, 2]` (in `[0, 1]` up to rounding, since NTKs are positive semi-definite). When
    /// both kernels are zero the distance is 0; when exactly one is zero it is 1.
    ///
    /// # Panics
    /// If `other` has a different `Ni`/`No` than the reference.
    pub fn distance(&self, other: &NtkFactors) -> f64 {
        let sigma_xx = self.sigma_xx.as_ref();
        self.reference.check_compatible(other, sigma_xx);
        let cross = inner_terms(&self.reference.terms, self.weighted.as_deref(), &other.terms);
        let other_weighted = weighted_inputs(other, sigma_xx);
        let other_sq = inner_terms(&other.terms, other_weighted.as_deref(), &other.terms);
        cosine_distance(cross, self.norm_sq, other_sq)
    }

    /// [`KernelReference::distance`] to the kernel of the two-layer network with this `qqt`,
    /// bitwise `self.distance(&NtkFactors::from_qqt(qqt, n_in))`.
    ///
    /// For a whitened two-layer reference it is computed straight from the two diagonal blocks
    /// of `qqt`, without allocating: per block one pass for its largest entry and one for the
    /// three scalars of docs/math.md §4.5 that the other kernel contributes (its trace, its
    /// inner product with the reference's block and its own squared norm), each entry scaled by
    /// the power of two [`NtkFactors::from_qqt`] scales it by and summed in nalgebra's `dot`
    /// order (`DotOrder`), both passes in vector lanes (AVX2 where the CPU has it, the same
    /// values portably; for an 8-8-8 network on fixed-size arrays, `BlockPasses8`); the terms
    /// are then weighted and added as the general path does (the same exponents and weights
    /// `2^x`, zero-kernel conventions and NaN propagation). Any other reference (Σxx-weighted,
    /// depth ≥ 3) takes the general path.
    ///
    /// # Panics
    /// As [`NtkFactors::from_qqt`] and [`KernelReference::distance`].
    pub fn distance_from_qqt(&self, qqt: &DMatrix<f64>, n_in: usize) -> f64 {
        let (Some(reference), Some((m_ref, a_ref))) =
            (&self.two_layer, two_layer_blocks(&self.reference.terms))
        else {
            return self.distance(&NtkFactors::from_qqt(qqt, n_in));
        };
        assert!(qqt.is_square() && n_in <= qqt.nrows(), "QQᵀ must be square with n_in <= its size");
        let n_out = qqt.nrows() - n_in;
        assert_eq!(
            (self.reference.n_in, self.reference.n_out),
            (n_in, n_out),
            "NTK factors of networks with different input/output sizes"
        );
        let passes = BlockPasses { qqt, n_in, m_ref, a_ref };
        // Blocks of fewer than eight rows have no vector chunk: the portable code is the same
        // scalar arithmetic without the dispatch.
        let [m, a] = if n_in.max(n_out) < 8 {
            passes.run(Portable)
        } else if let Some(square) = passes.square8() {
            dispatch(square)
        } else {
            dispatch(passes)
        };
        let other = TwoLayerScalars::new(m.exponent, a.exponent, m.trace, a.trace);
        let (n_in, n_out) = (n_in as f64, n_out as f64);
        let dots = [m.dot_reference, a.dot_reference];
        let cross = inner_two_layer(reference, &other, dots, n_in, n_out);
        let dots = [m.norm_sq, a.norm_sq];
        let other_sq = inner_two_layer(&other, &other, dots, n_in, n_out);
        cosine_distance(cross, self.norm_sq, other_sq)
    }

    /// `‖K_ref‖_F² / P²` (unscaled: it may overflow where the distance does not).
    pub fn norm_squared(&self) -> f64 {
        let terms = &self.reference.terms;
        if self.norm_sq == 0.0 { 0.0 } else { self.norm_sq * inner_scale(terms, terms) }
    }
}

/// The Jacobian of `vec(f(X))` (row `oP + p`) with respect to all weights (layer by layer, each
/// column-major), from `∂f[o,p]/∂W_l[r,c] = (W_L⋯W_{l+1})[o,r] · (W_{l−1}⋯W_1 X)[c,p]`.
fn jacobian(net: &Network, x: &DMatrix<f64>) -> DMatrix<f64> {
    let (n_out, n_samples) = (net.n_out(), x.ncols());
    let n_params: usize = net.layers.iter().map(|w| w.len()).sum();
    let mut jac = DMatrix::zeros(n_out * n_samples, n_params);
    let mut offset = 0;
    for (layer_idx, w) in net.layers.iter().enumerate() {
        // Input of this layer, W_{l−1}⋯W_1 X, and the map above it, W_L⋯W_{l+1}.
        let input = net.layers[..layer_idx].iter().fold(x.clone(), |acc, v| v * acc);
        let above = net.layers[layer_idx + 1..]
            .iter()
            .fold(DMatrix::identity(w.nrows(), w.nrows()), |acc, v| v * acc);
        for c in 0..w.ncols() {
            for r in 0..w.nrows() {
                let col = offset + r + c * w.nrows();
                for o in 0..n_out {
                    for p in 0..n_samples {
                        jac[(o * n_samples + p, col)] = above[(o, r)] * input[(c, p)];
                    }
                }
            }
        }
        offset += w.len();
    }
    jac
}

/// The explicit NTK `J Jᵀ` (`NoP × NoP`, index `(o, p) ↦ oP + p`) from the Jacobian of `f(X)`
/// with respect to all weights. For tests and small cross-checks only.
///
/// # Panics
/// If `x` does not have `Ni` rows.
pub fn explicit_ntk(net: &Network, x: &DMatrix<f64>) -> DMatrix<f64> {
    assert_eq!(x.nrows(), net.n_in(), "X must have Ni rows");
    let jac = jacobian(net, x);
    &jac * jac.transpose()
}

/// Kernel distance `1 − ⟨K_a,K_b⟩_F/(‖K_a‖_F‖K_b‖_F)` of two explicit kernels, with the same
/// zero-kernel convention and clamping as [`KernelReference::distance`].
///
/// # Panics
/// If the shapes differ.
pub fn kernel_distance_explicit(ka: &DMatrix<f64>, kb: &DMatrix<f64>) -> f64 {
    assert_eq!(ka.shape(), kb.shape(), "kernels of different shapes");
    cosine_distance(ka.dot(kb), ka.norm_squared(), kb.norm_squared())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::{gaussian_matrix, random_orthogonal};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    fn random_net(widths: &[usize], sigma: f64, seed: u64) -> Network {
        let mut r = rng(seed);
        let layers =
            widths.windows(2).map(|w| gaussian_matrix(w[1], w[0], sigma, &mut r)).collect();
        Network::new(layers).expect("chains")
    }

    #[test]
    fn largest_abs_is_amax_bitwise() {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        let cases: Vec<DMatrix<f64>> = vec![
            DMatrix::zeros(0, 0),
            DMatrix::from_vec(1, 1, vec![-0.0]),
            DMatrix::from_vec(2, 2, vec![-3.0, 2.0, 3.0, -1.0]),
            DMatrix::from_vec(2, 2, vec![nan, 2.0, -5.0, 1.0]),
            DMatrix::from_vec(2, 2, vec![1.0, nan, -5.0, nan]),
            DMatrix::from_vec(1, 3, vec![nan, nan, nan]),
            DMatrix::from_vec(1, 3, vec![-inf, 1.0, nan]),
            gaussian_matrix(8, 8, 3.0, &mut rng(5)),
        ];
        for d in cases {
            assert_eq!(largest_abs(&d).to_bits(), d.amax().to_bits(), "{d}");
        }
    }

    /// Inputs with `XXᵀ = P I` exactly: √P times `Ni` orthonormal rows of a `P × P` rotation.
    fn whitened_inputs(n_in: usize, n_samples: usize, seed: u64) -> DMatrix<f64> {
        let q = random_orthogonal(n_samples, &mut rng(seed));
        q.rows(0, n_in).into_owned() * (n_samples as f64).sqrt()
    }

    fn sigma_xx_of(x: &DMatrix<f64>) -> DMatrix<f64> {
        x * x.transpose() / x.ncols() as f64
    }

    fn kronecker(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
        a.kronecker(b)
    }

    /// `Σ_l M_l ⊗ XᵀA_lX`, written out.
    fn kronecker_ntk(f: &NtkFactors, x: &DMatrix<f64>) -> DMatrix<f64> {
        let dense = |g: &Gram| match g {
            Gram::Identity(n) => DMatrix::identity(*n, *n),
            Gram::Dense(d) => d.clone(),
        };
        let size = f.n_out * x.ncols();
        f.terms.iter().fold(DMatrix::zeros(size, size), |acc, t| {
            let term = kronecker(&dense(&t.output), &(x.transpose() * dense(&t.input) * x));
            acc + term * pow2(t.exponent)
        })
    }

    fn rel_diff(a: &DMatrix<f64>, b: &DMatrix<f64>) -> f64 {
        (a - b).amax() / a.amax().max(b.amax())
    }

    fn distance_from_inner(a: &NtkFactors, b: &NtkFactors, sigma: Option<&DMatrix<f64>>) -> f64 {
        let cross = ntk_inner(a, b, sigma);
        1.0 - cross / (ntk_inner(a, a, sigma) * ntk_inner(b, b, sigma)).sqrt()
    }

    const SHAPES: [&[usize]; 4] = [&[3, 5, 2], &[4, 3, 5], &[3, 4, 2, 5], &[2, 5, 3, 4, 3]];

    #[test]
    fn jacobian_matches_central_differences() {
        // f is linear in each single weight, so central differences are exact up to rounding.
        let net = random_net(&[3, 4, 2, 3], 0.8, 1);
        let x = gaussian_matrix(3, 5, 1.0, &mut rng(2));
        let jac = jacobian(&net, &x);
        let h = 0.5;
        let mut col = 0;
        for layer_idx in 0..net.depth() {
            for entry in 0..net.layers[layer_idx].len() {
                let mut plus = net.clone();
                plus.layers[layer_idx][entry] += h;
                let mut minus = net.clone();
                minus.layers[layer_idx][entry] -= h;
                let diff = (plus.product() * &x - minus.product() * &x) / (2.0 * h);
                // vec with index oP + p: row-major order of the No × P output.
                let numeric = DMatrix::from_row_slice(diff.len(), 1, diff.transpose().as_slice());
                assert!(
                    (jac.column(col) - numeric).amax() < 1e-13,
                    "layer {layer_idx} entry {entry}"
                );
                col += 1;
            }
        }
        assert_eq!(col, jac.ncols());
    }

    #[test]
    fn t9_kronecker_form_equals_explicit_jjt() {
        for (seed, widths) in SHAPES.iter().enumerate() {
            let net = random_net(widths, 0.9, 10 + seed as u64);
            let n_in = widths[0];
            let x = gaussian_matrix(n_in, n_in + 4, 1.0, &mut rng(20 + seed as u64));
            let explicit = explicit_ntk(&net, &x);
            let factors = NtkFactors::from_network(&net);
            assert_eq!(factors.n_terms(), widths.len() - 1);
            let err = rel_diff(&explicit, &kronecker_ntk(&factors, &x));
            assert!(err < 1e-14, "widths {widths:?}: relative error {err:e}");
        }
        // The two-layer formula of docs/math.md §4.4, written out by hand.
        let net = random_net(&[3, 5, 2], 1.0, 30);
        let x = gaussian_matrix(3, 6, 1.0, &mut rng(31));
        let (w1, w2) = (&net.layers[0], &net.layers[1]);
        let by_hand = kronecker(&DMatrix::identity(2, 2), &(x.transpose() * w1.tr_mul(w1) * &x))
            + kronecker(&(w2 * w2.transpose()), &(x.transpose() * &x));
        let err = rel_diff(&explicit_ntk(&net, &x), &by_hand);
        assert!(err < 1e-14, "two-layer relative error {err:e}");
        // Depth 1: K = I ⊗ XᵀX.
        let net = random_net(&[3, 2], 1.0, 32);
        let err = rel_diff(
            &explicit_ntk(&net, &x),
            &kronecker(&DMatrix::identity(2, 2), &(x.transpose() * &x)),
        );
        assert!(err < 1e-14, "depth-1 relative error {err:e}");
    }

    #[test]
    fn inner_product_distance_equals_the_explicit_distance() {
        for (seed, widths) in SHAPES.iter().enumerate() {
            let seed = seed as u64;
            let n_in = widths[0];
            let a = random_net(widths, 0.9, 40 + seed);
            let b = random_net(widths, 0.9, 50 + seed);
            let (fa, fb) = (NtkFactors::from_network(&a), NtkFactors::from_network(&b));
            for whitened in [true, false] {
                let x = if whitened {
                    whitened_inputs(n_in, n_in + 5, 60 + seed)
                } else {
                    gaussian_matrix(n_in, n_in + 5, 1.0, &mut rng(70 + seed))
                };
                let sigma = sigma_xx_of(&x);
                let sigma_arg = if whitened { None } else { Some(&sigma) };
                let (ka, kb) = (explicit_ntk(&a, &x), explicit_ntk(&b, &x));
                let p_sq = (x.ncols() as f64).powi(2);
                let inner = ntk_inner(&fa, &fb, sigma_arg);
                assert!(
                    (inner * p_sq - ka.dot(&kb)).abs() < 1e-12 * ka.dot(&kb).abs(),
                    "widths {widths:?} whitened {whitened}: inner product"
                );
                let explicit = kernel_distance_explicit(&ka, &kb);
                let cheap = distance_from_inner(&fa, &fb, sigma_arg);
                let reference = KernelReference::new(fa.clone(), sigma_arg).distance(&fb);
                assert!(explicit > 1e-3, "distance too small to be a test: {explicit}");
                assert!(
                    (explicit - cheap).abs() < 1e-12,
                    "{widths:?} {whitened}: {explicit} {cheap}"
                );
                assert!((reference - cheap).abs() < 1e-14, "{widths:?} {whitened}: {reference}");
            }
        }
    }

    #[test]
    fn distance_to_itself_and_to_a_rescaled_kernel_is_zero() {
        for (seed, widths) in SHAPES.iter().enumerate() {
            let net = random_net(widths, 0.9, 80 + seed as u64);
            let mut scaled = net.clone();
            for w in &mut scaled.layers {
                *w *= 1.7; // K(cW) = c^{2(L−1)} K(W)
            }
            let (f, fs) = (NtkFactors::from_network(&net), NtkFactors::from_network(&scaled));
            let sigma = sigma_xx_of(&gaussian_matrix(widths[0], 9, 1.0, &mut rng(90)));
            for sigma_arg in [None, Some(&sigma)] {
                let reference = KernelReference::new(f.clone(), sigma_arg);
                assert!(reference.distance(&f).abs() < 1e-14);
                assert!(reference.distance(&fs).abs() < 1e-14, "{widths:?}");
            }
            let x = gaussian_matrix(widths[0], 6, 1.0, &mut rng(91));
            let k = explicit_ntk(&net, &x);
            assert!(kernel_distance_explicit(&k, &k).abs() < 1e-14);
            assert!(kernel_distance_explicit(&k, &(&k * 3.5)).abs() < 1e-14);
            assert!(kernel_distance_explicit(&k, &explicit_ntk(&scaled, &x)).abs() < 1e-14);
        }
    }

    #[test]
    fn reference_distance_matches_the_two_layer_whitened_formula() {
        // docs/math.md §4.5: N_o tr(A_aA_b) + tr(M_b)tr(A_a) + tr(M_a)tr(A_b) + N_i ⟨M_a, M_b⟩.
        let (a, b) = (random_net(&[4, 3, 3], 1.0, 100), random_net(&[4, 3, 3], 1.0, 101));
        let gram = |net: &Network| {
            let (w1, w2) = (&net.layers[0], &net.layers[1]);
            (w1.tr_mul(w1), w2 * w2.transpose())
        };
        let ((aa, ma), (ab, mb)) = (gram(&a), gram(&b));
        let (n_in, n_out) = (4.0, 3.0);
        let inner = |a1: &DMatrix<f64>, m1: &DMatrix<f64>, a2: &DMatrix<f64>, m2: &DMatrix<f64>| {
            n_out * (a1 * a2).trace()
                + m2.trace() * a1.trace()
                + m1.trace() * a2.trace()
                + n_in * m1.dot(m2)
        };
        let expected = 1.0
            - inner(&aa, &ma, &ab, &mb)
                / (inner(&aa, &ma, &aa, &ma) * inner(&ab, &mb, &ab, &mb)).sqrt();
        let (fa, fb) = (NtkFactors::from_network(&a), NtkFactors::from_network(&b));
        let got = KernelReference::new(fa.clone(), None).distance(&fb);
        assert!((got - expected).abs() < 1e-14, "{got} vs {expected}");
        assert!((ntk_inner(&fa, &fb, None) - inner(&aa, &ma, &ab, &mb)).abs() < 1e-12);
    }

    #[test]
    fn qqt_factors_equal_network_factors() {
        let net = random_net(&[3, 4, 5], 1.0, 110);
        let q = net.q_matrix().expect("two layers");
        let from_qqt = NtkFactors::from_qqt(&(&q * q.transpose()), 3);
        let from_net = NtkFactors::from_network(&net);
        assert_eq!((from_qqt.n_in(), from_qqt.n_out()), (3, 5));
        let other = NtkFactors::from_network(&random_net(&[3, 4, 5], 1.0, 111));
        let sigma = sigma_xx_of(&gaussian_matrix(3, 7, 1.0, &mut rng(112)));
        for sigma_arg in [None, Some(&sigma)] {
            let (x, y) =
                (ntk_inner(&from_qqt, &other, sigma_arg), ntk_inner(&from_net, &other, sigma_arg));
            assert!((x - y).abs() < 1e-12 * y.abs());
            let reference = KernelReference::new(from_qqt.clone(), sigma_arg);
            assert!(reference.distance(&from_net).abs() < 1e-14);
        }
    }

    /// Scaling every weight by `c` scales every term of the NTK by `c^{2(L−1)}`, so the distance
    /// is unchanged. The inner products themselves (degree 4(L − 1)) overflow for these weights,
    /// whose Gram matrices (degree up to 2(L − 1)) do not; the distance must not overflow.
    #[test]
    fn huge_weights_give_the_distance_of_the_unscaled_network() {
        for (widths, c) in
            [(&[3, 4, 2][..], 1e140), (&[3, 4, 4, 2], 1e60), (&[2, 3, 3, 3, 2], 1e40)]
        {
            let (a, b) = (random_net(widths, 0.7, 130), random_net(widths, 0.7, 131));
            let scaled =
                |net: &Network| Network { layers: net.layers.iter().map(|w| w * c).collect() };
            let sigma = sigma_xx_of(&gaussian_matrix(widths[0], 9, 1.0, &mut rng(132)));
            for sigma_arg in [None, Some(&sigma)] {
                let plain = KernelReference::new(NtkFactors::from_network(&a), sigma_arg)
                    .distance(&NtkFactors::from_network(&b));
                let huge = KernelReference::new(NtkFactors::from_network(&scaled(&a)), sigma_arg);
                let got = huge.distance(&NtkFactors::from_network(&scaled(&b)));
                assert!(
                    got.is_finite() && (got - plain).abs() < 1e-12,
                    "{widths:?}: {got} vs {plain}"
                );
                assert_eq!(huge.norm_squared(), f64::INFINITY, "the true norm does overflow");
                if widths.len() == 3 {
                    // The two-layer path from QQᵀ (entries about 1e280) too.
                    let fast = huge.distance_from_qqt(&qqt_of(&scaled(&b)), widths[0]);
                    assert!(fast.is_finite() && (fast - plain).abs() < 1e-12, "{fast} vs {plain}");
                }
            }
        }
    }

    /// `QQᵀ` of the two-layer network `(W1, W2)`.
    fn qqt_of(net: &Network) -> DMatrix<f64> {
        let q = net.q_matrix().expect("two layers");
        &q * q.transpose()
    }

    /// Two-layer networks of shape `widths` covering what the fast path must keep: random,
    /// graded (rows and columns scaled over 1e-8..1e8), huge (weights 1e75: QQᵀ entries 1e150,
    /// inner products beyond f64), near the top of f64 (QQᵀ entries 1e300), zero layers.
    fn two_layer_cases(widths: [usize; 3], seed: u64) -> Vec<Network> {
        let random = random_net(&widths, 0.9, seed);
        let mut graded = random_net(&widths, 1.0, seed + 1);
        for (k, w) in graded.layers.iter_mut().enumerate() {
            let (rows, cols) = w.shape();
            for c in 0..cols {
                for r in 0..rows {
                    w[(r, c)] *= 10f64.powi((2 * r as i32 - 3 * c as i32 + k as i32) % 9);
                }
            }
        }
        let scaled = |c: f64, seed| Network {
            layers: random_net(&widths, 1.0, seed).layers.iter().map(|w| w * c).collect(),
        };
        let zero_one = |which: usize, seed| {
            let mut net = random_net(&widths, 1.0, seed);
            net.layers[which].fill(0.0);
            net
        };
        let mut zero = random_net(&widths, 1.0, seed);
        zero.layers.iter_mut().for_each(|w| w.fill(0.0));
        vec![
            random,
            graded,
            scaled(1e75, seed + 2),
            scaled(1e150, seed + 3),
            scaled(1e-80, seed + 4),
            zero_one(0, seed + 5),
            zero_one(1, seed + 6),
            zero,
        ]
    }

    /// The networks of [`two_layer_cases`] and the `QQᵀ` states the bitwise tests run them
    /// against: each network's, states with a NaN in either block, `±∞` entries, entries near
    /// the top of f64, and a NaN masked by a later zero in the largest-entry fold.
    fn bitwise_cases(widths: [usize; 3], seed: u64) -> (Vec<Network>, Vec<DMatrix<f64>>) {
        let n_in = widths[0];
        let nets = two_layer_cases(widths, seed);
        let mut states: Vec<DMatrix<f64>> = nets.iter().map(qqt_of).collect();
        let n = states[0].nrows();
        for (at, value) in [
            (0, f64::NAN),
            (n_in * n + n_in + 1, f64::NAN),
            (n * n - 1, f64::INFINITY),
            (n * n / 2, f64::NEG_INFINITY),
        ] {
            let mut bad = states[0].clone();
            bad.as_mut_slice()[at.min(n * n - 1)] = value;
            states.push(bad);
        }
        states.push(&states[0] * 1e300 / states[0].amax());
        let mut masked = states[7].clone();
        masked[(0, 0)] = f64::NAN;
        states.push(masked);
        (nets, states)
    }

    /// `f(widths, reference, qqt)` for every kernel reference against every state of
    /// [`bitwise_cases`] over six shapes (blocks of fewer than, exactly and more than eight
    /// rows), the cases of shape `k` drawn from seed `seed + 20 k`.
    fn each_reference_and_state(
        seed: u64,
        mut f: impl FnMut([usize; 3], &KernelReference, &DMatrix<f64>),
    ) {
        for (k, widths) in [[8, 8, 8], [3, 4, 5], [9, 2, 17], [16, 5, 1], [1, 1, 1], [11, 11, 8]]
            .into_iter()
            .enumerate()
        {
            let (nets, states) = bitwise_cases(widths, seed + 20 * k as u64);
            for net in &nets {
                let reference = KernelReference::new(NtkFactors::from_network(net), None);
                for qqt in &states {
                    f(widths, &reference, qqt);
                }
            }
        }
    }

    /// The fast path of [`KernelReference::distance_from_qqt`] is bitwise the general
    /// `distance(&NtkFactors::from_qqt(..))`: every reference against every state of
    /// [`two_layer_cases`], several shapes (blocks of fewer than, exactly and more than eight
    /// rows: nalgebra's `dot` order), and states with a NaN or an infinite entry in either
    /// block (NaN propagation, and the largest-entry fold's handling of NaN kept).
    #[test]
    fn distance_from_qqt_is_bitwise_the_general_distance() {
        let (mut checked, mut interior) = (0, 0);
        each_reference_and_state(300, |widths, reference, qqt| {
            let n_in = widths[0];
            assert!(reference.two_layer.is_some());
            let fast = reference.distance_from_qqt(qqt, n_in);
            let general = reference.distance(&NtkFactors::from_qqt(qqt, n_in));
            assert_eq!(fast.to_bits(), general.to_bits(), "{widths:?}: {fast} vs {general}");
            checked += 1;
            interior += usize::from(fast > 1e-3 && fast < 1.0);
        });
        // Most pairs are neither equal kernels nor a zero one (a test of the arithmetic).
        assert!(checked > 500 && interior > checked / 3, "{checked} {interior}");
    }

    /// The passes over the two diagonal blocks of [`KernelReference::distance_from_qqt`] give
    /// bitwise the same scalars portably and dispatched (AVX2 where the CPU has it), and so do
    /// their fixed-size form for an 8-8-8 network ([`BlockPasses8`], portably and dispatched):
    /// every reference against every state of [`two_layer_cases`], blocks of fewer than, exactly
    /// and more than eight rows, states with a NaN (either block, or masked by a later zero in
    /// the ordered fold) or an infinite entry.
    #[test]
    fn block_passes_are_bitwise_the_same_portably_and_dispatched() {
        let (mut checked, mut square) = (0, 0);
        each_reference_and_state(500, |widths, reference, qqt| {
            let n_in = widths[0];
            let (m_ref, a_ref) = two_layer_blocks(&reference.reference.terms).unwrap();
            let kernel = || BlockPasses { qqt, n_in, m_ref, a_ref };
            let bits = |blocks: [BlockScalars; 2]| {
                blocks.map(|b| [b.exponent, b.trace, b.dot_reference, b.norm_sq].map(f64::to_bits))
            };
            let portable = bits(kernel().run(Portable));
            assert_eq!(portable, bits(dispatch(kernel())), "{widths:?}");
            assert_eq!(kernel().square8().is_some(), widths == [8, 8, 8], "{widths:?}");
            if let Some(fixed) = kernel().square8() {
                assert_eq!(portable, bits(fixed.run(Portable)), "{widths:?}: fixed, portably");
                let fixed = kernel().square8().unwrap();
                assert_eq!(portable, bits(dispatch(fixed)), "{widths:?}: fixed, dispatched");
                square += 1;
            }
            checked += 1;
        });
        assert!(checked > 500 && square > 100, "{checked} {square}");
    }

    /// [`pow2`] is `2^x` exactly (`powi`, itself exact for powers of two, and the bits of
    /// every normal and subnormal power), 0 below the smallest subnormal, `+∞` above the largest
    /// `f64`, NaN for NaN; [`scale_exponent`] is `⌊log₂ x⌋` (at least −1022) of normal and
    /// subnormal numbers, with `−∞`, `+∞` and NaN for 0, `+∞` and NaN, and `x · 2^{−k}` lies
    /// in `[1, 2)` for every normal `x` (exactly: the product rounds nothing).
    #[test]
    fn powers_of_two_are_exact() {
        for k in -1074..=1023 {
            let x = f64::from(k);
            let want = if k >= -1022 { 2f64.powi(k) } else { f64::from_bits(1 << (k + 1074)) };
            assert_eq!(pow2(x).to_bits(), want.to_bits(), "2^{k}");
            assert_eq!(scale_exponent(want), x.max(-1022.0), "exponent of 2^{k}");
            // The largest number below the next power of two has the same exponent.
            let below_next = f64::from_bits(pow2(x + 1.0).to_bits() - 1);
            assert_eq!(scale_exponent(below_next), x.max(-1022.0), "exponent below 2^{}", k + 1);
        }
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        for (x, want) in [(-1075.0, 0.0), (-2000.0, 0.0), (-inf, 0.0), (1024.0, inf), (inf, inf)] {
            assert_eq!(pow2(x).to_bits(), f64::to_bits(want), "2^{x}");
        }
        assert!(pow2(nan).is_nan());
        assert_eq!(scale_exponent(0.0), -inf);
        assert_eq!(scale_exponent(inf), inf);
        assert!(scale_exponent(nan).is_nan());
        for x in [1.0, 1.5, 1.999_999_999, 3.0, 1e-300, 7e300, f64::MAX, f64::MIN_POSITIVE, 0.1] {
            let scaled = x * pow2(-scale_exponent(x));
            assert!((1.0..2.0).contains(&scaled), "{x}: {scaled}");
            assert_eq!(scaled * pow2(scale_exponent(x)), x, "{x}: exact");
        }
        for x in [5e-324, 1e-310, f64::MIN_POSITIVE / 2.0] {
            assert_eq!(scale_exponent(x), -1022.0, "{x}");
            assert!(x * pow2(1022.0) < 1.0);
        }
    }

    /// References the fast path does not serve (Σxx-weighted inputs, depth 3) take the general
    /// path through [`KernelReference::distance_from_qqt`] too.
    #[test]
    fn distance_from_qqt_falls_back_for_other_references() {
        let net = random_net(&[3, 4, 5], 1.0, 400);
        let qqt = qqt_of(&random_net(&[3, 4, 5], 1.0, 401));
        let sigma = sigma_xx_of(&gaussian_matrix(3, 7, 1.0, &mut rng(402)));
        let weighted = KernelReference::new(NtkFactors::from_network(&net), Some(&sigma));
        assert!(weighted.two_layer.is_none());
        let deep = KernelReference::new(
            NtkFactors::from_network(&random_net(&[3, 4, 4, 5], 1.0, 403)),
            None,
        );
        assert!(deep.two_layer.is_none());
        for reference in [weighted, deep] {
            let general = reference.distance(&NtkFactors::from_qqt(&qqt, 3));
            assert_eq!(reference.distance_from_qqt(&qqt, 3).to_bits(), general.to_bits());
            assert!(general > 1e-3);
        }
    }

    #[test]
    fn zero_networks_give_zero_kernels_and_no_nan() {
        for widths in [&[3, 4, 2][..], &[3, 4, 4, 2], &[2, 3, 3, 3, 2]] {
            let zero =
                Network::new(widths.windows(2).map(|w| DMatrix::zeros(w[1], w[0])).collect())
                    .expect("chains");
            let fz = NtkFactors::from_network(&zero);
            let fn_ = NtkFactors::from_network(&random_net(widths, 1.0, 120));
            assert_eq!(ntk_inner(&fz, &fz, None), 0.0);
            let reference = KernelReference::new(fz.clone(), None);
            assert_eq!(reference.norm_squared(), 0.0);
            assert_eq!(reference.distance(&fz), 0.0);
            assert_eq!(reference.distance(&fn_), 1.0);
            assert_eq!(KernelReference::new(fn_.clone(), None).distance(&fz), 1.0);
            let x = gaussian_matrix(widths[0], 5, 1.0, &mut rng(121));
            let kz = explicit_ntk(&zero, &x);
            assert_eq!(kz.amax(), 0.0);
            assert_eq!(kernel_distance_explicit(&kz, &kz), 0.0);
            assert_eq!(
                kernel_distance_explicit(&kz, &explicit_ntk(&random_net(widths, 1.0, 122), &x)),
                1.0
            );
        }
        // Depth 1 never has a zero kernel: K = I ⊗ XᵀX.
        let zero = Network::new(vec![DMatrix::zeros(2, 3)]).expect("one layer");
        let f = NtkFactors::from_network(&zero);
        assert_eq!(ntk_inner(&f, &f, None), 2.0 * 3.0);
    }
}
