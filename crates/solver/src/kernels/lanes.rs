//! The vector abstraction of the kernels: [`Lanes`] (a 4-wide `f64` vector), its portable
//! implementation, the padding unit [`NR`] and the [`Kernel`] trait that [`super::dispatch`] runs.

/// Width of a vector, of a column block and the padding unit of every row count.
pub(crate) const NR: usize = 4;

/// `x` rounded up to a multiple of [`NR`].
pub(crate) fn round_up(x: usize) -> usize {
    x.div_ceil(NR) * NR
}

/// A leading dimension for `rows` rows: [`round_up`], plus one vector when that is a multiple
/// of 32, so that a column stride is never a multiple of 256 bytes (such strides map a panel's
/// columns to few L1 sets and evict each other: 30% slower at N = 64).
pub(crate) fn leading_dim(rows: usize) -> usize {
    let r = round_up(rows);
    if r >= 32 && r.is_multiple_of(32) { r + NR } else { r }
}

/// A 4-wide `f64` vector: the only operations the kernels need.
pub(crate) trait Lanes: Copy {
    /// The vector type.
    type V: Copy;
    /// Whether [`Lanes::mul_add`] and [`Lanes::neg_mul_add`] round once (as `f64::mul_add`).
    const FUSED: bool;
    /// `[x; 4]`.
    fn splat(self, x: f64) -> Self::V;
    /// Loads four consecutive values.
    fn load(self, x: &[f64; NR]) -> Self::V;
    /// Stores four consecutive values.
    fn store(self, x: &mut [f64; NR], v: Self::V);
    /// `a·b + c` (fused where the hardware has FMA).
    fn mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c − a·b` (fused where the hardware has FMA).
    fn neg_mul_add(self, a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a·b`.
    fn mul(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a + b`.
    fn add(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    fn sub(self, a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`.
    fn div(self, a: Self::V, b: Self::V) -> Self::V;
    /// Loads a slice of exactly four values (as from `chunks_exact(NR)`).
    #[inline(always)]
    fn load_slice(self, x: &[f64]) -> Self::V {
        self.load(x.try_into().expect("four lanes"))
    }
    /// Stores into a slice of exactly four values.
    #[inline(always)]
    fn store_slice(self, x: &mut [f64], v: Self::V) {
        self.store(x.try_into().expect("four lanes"), v);
    }
    /// The transpose of the `4 × 4` tile whose columns are `cols`.
    fn transpose(self, cols: [Self::V; NR]) -> [Self::V; NR];
    /// `√a` (correctly rounded, as `f64::sqrt`).
    fn sqrt(self, a: Self::V) -> Self::V;
    /// `|a|`.
    fn abs(self, a: Self::V) -> Self::V;
    /// `x` in the lanes where `a > b`, `y` in the others (NaN compares false).
    fn select_gt(self, a: Self::V, b: Self::V, x: Self::V, y: Self::V) -> Self::V;
    /// Whether `a > b` in any lane (NaN compares false).
    fn any_gt(self, a: Self::V, b: Self::V) -> bool;
    /// One step of the circle method on the 8 seats `x = [s0, s1, s2, s3]`,
    /// `y = [s7, s6, s5, s4]` (lane `q` pairs `x[q]` with `y[q]`): seat 0 stays, the others
    /// move one place, so `([x0, y0, x1, x2], [y1, y2, y3, x3])`.
    fn circle_shift(self, x: Self::V, y: Self::V) -> (Self::V, Self::V);
    /// `2^k` for lanes `k` that hold integers in `[−1022, 1023]` (exact; other `k` give
    /// unspecified values).
    fn pow2(self, k: Self::V) -> Self::V;
}

/// `2^k` for an integer `k` in `[−1022, 1023]`, exactly: [`Lanes::pow2`] of one lane.
#[inline(always)]
pub(crate) fn pow2(k: f64) -> f64 {
    f64::from_bits(((k as i64 + 1023) as u64) << 52)
}

/// Plain Rust arrays: the fallback for CPUs without AVX2 + FMA (and other architectures).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

impl Lanes for Portable {
    type V = [f64; NR];
    const FUSED: bool = false;

    #[inline(always)]
    fn splat(self, x: f64) -> [f64; NR] {
        [x; NR]
    }

    #[inline(always)]
    fn load(self, x: &[f64; NR]) -> [f64; NR] {
        *x
    }

    #[inline(always)]
    fn store(self, x: &mut [f64; NR], v: [f64; NR]) {
        *x = v;
    }

    #[inline(always)]
    fn mul_add(self, a: [f64; NR], b: [f64; NR], c: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] * b[q] + c[q])
    }

    #[inline(always)]
    fn neg_mul_add(self, a: [f64; NR], b: [f64; NR], c: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| c[q] - a[q] * b[q])
    }

    #[inline(always)]
    fn mul(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] * b[q])
    }

    #[inline(always)]
    fn add(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] + b[q])
    }

    #[inline(always)]
    fn sub(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] - b[q])
    }

    #[inline(always)]
    fn div(self, a: [f64; NR], b: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| a[q] / b[q])
    }

    #[inline(always)]
    fn transpose(self, cols: [[f64; NR]; NR]) -> [[f64; NR]; NR] {
        std::array::from_fn(|r| std::array::from_fn(|c| cols[c][r]))
    }

    #[inline(always)]
    fn sqrt(self, a: [f64; NR]) -> [f64; NR] {
        a.map(f64::sqrt)
    }

    #[inline(always)]
    fn abs(self, a: [f64; NR]) -> [f64; NR] {
        a.map(f64::abs)
    }

    #[inline(always)]
    fn select_gt(self, a: [f64; NR], b: [f64; NR], x: [f64; NR], y: [f64; NR]) -> [f64; NR] {
        std::array::from_fn(|q| if a[q] > b[q] { x[q] } else { y[q] })
    }

    #[inline(always)]
    fn any_gt(self, a: [f64; NR], b: [f64; NR]) -> bool {
        a.iter().zip(&b).any(|(a, b)| a > b)
    }

    #[inline(always)]
    fn circle_shift(self, x: [f64; NR], y: [f64; NR]) -> ([f64; NR], [f64; NR]) {
        ([x[0], y[0], x[1], x[2]], [y[1], y[2], y[3], x[3]])
    }

    #[inline(always)]
    fn pow2(self, k: [f64; NR]) -> [f64; NR] {
        k.map(pow2)
    }
}

/// A computation generic over the vector implementation; `run` must be `#[inline(always)]`
/// so that it is compiled for the dispatched instruction set.
pub(crate) trait Kernel {
    /// What the kernel returns.
    type Output;
    /// Runs the kernel with vectors `lanes`.
    fn run<L: Lanes>(self, lanes: L) -> Self::Output;
}
