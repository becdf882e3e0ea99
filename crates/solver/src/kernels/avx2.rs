//! [`Lanes`] with AVX2 + FMA through `pulp` (safe; detected at run time).

use super::lanes::{Kernel, Lanes, NR};
use pulp::x86::V3;
use pulp::{Simd, WithSimd, cast, f64x4};

impl Lanes for V3 {
    type V = f64x4;
    const FUSED: bool = true;

    #[inline(always)]
    fn splat(self, x: f64) -> f64x4 {
        self.splat_f64s(x)
    }

    #[inline(always)]
    fn load(self, x: &[f64; NR]) -> f64x4 {
        cast(*x)
    }

    #[inline(always)]
    fn store(self, x: &mut [f64; NR], v: f64x4) {
        *x = cast(v);
    }

    #[inline(always)]
    fn mul_add(self, a: f64x4, b: f64x4, c: f64x4) -> f64x4 {
        self.mul_add_f64x4(a, b, c)
    }

    #[inline(always)]
    fn neg_mul_add(self, a: f64x4, b: f64x4, c: f64x4) -> f64x4 {
        self.negate_mul_add_f64x4(a, b, c)
    }

    #[inline(always)]
    fn mul(self, a: f64x4, b: f64x4) -> f64x4 {
        self.mul_f64s(a, b)
    }

    #[inline(always)]
    fn add(self, a: f64x4, b: f64x4) -> f64x4 {
        self.add_f64s(a, b)
    }

    #[inline(always)]
    fn sub(self, a: f64x4, b: f64x4) -> f64x4 {
        self.sub_f64s(a, b)
    }

    #[inline(always)]
    fn div(self, a: f64x4, b: f64x4) -> f64x4 {
        self.div_f64s(a, b)
    }

    #[inline(always)]
    fn transpose(self, cols: [f64x4; NR]) -> [f64x4; NR] {
        let avx = self.avx;
        let [c0, c1, c2, c3] = cols.map(cast);
        let lo01 = avx._mm256_unpacklo_pd(c0, c1);
        let hi01 = avx._mm256_unpackhi_pd(c0, c1);
        let lo23 = avx._mm256_unpacklo_pd(c2, c3);
        let hi23 = avx._mm256_unpackhi_pd(c2, c3);
        [
            cast(avx._mm256_permute2f128_pd::<0x20>(lo01, lo23)),
            cast(avx._mm256_permute2f128_pd::<0x20>(hi01, hi23)),
            cast(avx._mm256_permute2f128_pd::<0x31>(lo01, lo23)),
            cast(avx._mm256_permute2f128_pd::<0x31>(hi01, hi23)),
        ]
    }

    #[inline(always)]
    fn sqrt(self, a: f64x4) -> f64x4 {
        self.sqrt_f64s(a)
    }

    #[inline(always)]
    fn abs(self, a: f64x4) -> f64x4 {
        self.abs_f64s(a)
    }

    #[inline(always)]
    fn select_gt(self, a: f64x4, b: f64x4, x: f64x4, y: f64x4) -> f64x4 {
        self.select_f64s(self.greater_than_f64s(a, b), x, y)
    }

    #[inline(always)]
    fn any_gt(self, a: f64x4, b: f64x4) -> bool {
        self.avx._mm256_movemask_pd(cast(self.greater_than_f64s(a, b))) != 0
    }

    #[inline(always)]
    fn circle_shift(self, x: f64x4, y: f64x4) -> (f64x4, f64x4) {
        let (avx, avx2) = (self.avx, self.avx2);
        let (xv, yv) = (cast(x), cast(y));
        // [x0, x0, x1, x2] with lane 1 from [y0, y0, y0, y0].
        let spread = avx2._mm256_permute4x64_pd::<0b10_01_00_00>(xv);
        let y0 = avx2._mm256_permute4x64_pd::<0>(yv);
        let new_x = avx._mm256_blend_pd::<0b0010>(spread, y0);
        // [y1, y2, y3, y3] with lane 3 from x.
        let shifted = avx2._mm256_permute4x64_pd::<0b11_11_10_01>(yv);
        let new_y = avx._mm256_blend_pd::<0b1000>(shifted, xv);
        (cast(new_x), cast(new_y))
    }

    #[inline(always)]
    fn pow2(self, k: f64x4) -> f64x4 {
        // `k + 1.5·2⁵²` holds `k` in the low bits of its significand (|k| < 2⁵¹): its bits
        // minus those of 1.5·2⁵², plus the bias 1023, shifted into the exponent field.
        const MAGIC: f64 = 6_755_399_441_055_744.0;
        let bits: pulp::u64x4 = cast(self.add_f64s(k, self.splat_f64s(MAGIC)));
        let biased = self.sub_u64s(bits, self.splat_u64s(MAGIC.to_bits() - 1023));
        cast(self.shl_const_u64x4::<52>(biased))
    }
}

/// Runs a [`Kernel`] inside pulp's AVX2 + FMA context (every call below is inlined).
pub(crate) struct OnV3<K>(pub(crate) V3, pub(crate) K);

impl<K: Kernel> WithSimd for OnV3<K> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) -> K::Output {
        self.1.run(self.0)
    }
}

/// The AVX2 + FMA token when the CPU has these features.
#[inline(always)]
pub(crate) fn token() -> Option<V3> {
    V3::try_new()
}

/// The AVX-512 token (F, VL, DQ, BW, CD) when the CPU has these features: the kernels still
/// run on 4-wide [`V3`] vectors, compiled with AVX-512VL enabled, which gives them 32 vector
/// registers instead of 16 (no spills in the two-matrix Jacobi sweeps) and nothing else: the
/// same IEEE operations in the same order, so bitwise the AVX2 results.
#[inline(always)]
pub(crate) fn token_v4() -> Option<pulp::x86::V4> {
    pulp::x86::V4::try_new()
}
