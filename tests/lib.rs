//! Shared builders for the integration tests in `it/`: golden networks, random balanced
//! problems with matched determinant signs, and an RK4 reference trajectory.

use lazyrich_solver::init::{self, Balanced, ProductBases, ProductValues};
use lazyrich_solver::linalg::gaussian_matrix;
use lazyrich_solver::simulate::{Integrator, simulate};
use lazyrich_solver::{Network, Problem};
use nalgebra::DMatrix;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// `[[cos θ, −sin θ], [sin θ, cos θ]]`.
pub fn rot(theta: f64) -> DMatrix<f64> {
    let (s, c) = theta.sin_cos();
    DMatrix::from_row_slice(2, 2, &[c, -s, s, c])
}

/// `W1 = R S1 Vᵀ`, `W2 = U S2 Rᵀ` with `S1`, `S2` the two-layer split of `values` (docs/math.md §2.2).
pub fn from_bases(
    u: &DMatrix<f64>,
    v: &DMatrix<f64>,
    r: &DMatrix<f64>,
    values: &[f64],
    lambda: f64,
) -> Network {
    let (n_out, n_in, n_hidden) = (u.nrows(), v.nrows(), r.nrows());
    let mut s1 = DMatrix::zeros(n_hidden, n_in);
    let mut s2 = DMatrix::zeros(n_out, n_hidden);
    for (idx, &s) in values.iter().enumerate() {
        let (a, b) = init::split_two_layer(s, lambda);
        s1[(idx, idx)] = a.sqrt();
        s2[(idx, idx)] = b.sqrt();
    }
    Network::two_layer(r * s1 * v.transpose(), u * s2 * r.transpose()).expect("shapes chain")
}

/// Golden case G1 (docs/golden.md): square 2-2-2, λ = 1.
pub fn golden_g1() -> (Network, Problem) {
    let net = from_bases(&rot(0.4), &rot(-0.7), &rot(1.1), &[0.3, 0.1], 1.0);
    let sigma_yx = DMatrix::from_row_slice(2, 2, &[2.0, 0.5, 0.0, 1.0]);
    (net, Problem::whitened(sigma_yx))
}

/// Golden case G2 (docs/golden.md): funnel 3 → 2 → 2, λ = −0.5.
pub fn golden_g2() -> (Network, Problem) {
    let (sz, cz) = 0.9f64.sin_cos();
    let (sx, cx) = 0.5f64.sin_cos();
    let rz = DMatrix::from_row_slice(3, 3, &[cz, -sz, 0.0, sz, cz, 0.0, 0.0, 0.0, 1.0]);
    let rx = DMatrix::from_row_slice(3, 3, &[1.0, 0.0, 0.0, 0.0, cx, -sx, 0.0, sx, cx]);
    let net = from_bases(&rot(0.3), &(rz * rx), &rot(-0.6), &[0.4, 0.2], -0.5);
    let sigma_yx = DMatrix::from_row_slice(2, 3, &[1.0, 0.2, -0.3, 0.1, 0.6, 0.4]);
    (net, Problem::whitened(sigma_yx))
}

/// A random λ-balanced two-layer problem with `Nh = min(Ni, No)`. For square networks the sign
/// of `det(W2W1)` is matched to `det(Σyx)` by reflecting the first row of `W2`, which keeps the
/// balance (`init::match_determinant_sign`, docs/math.md P2): otherwise λ ≈ 0 would converge to
/// a saddle.
pub fn random_balanced(
    n_in: usize,
    n_out: usize,
    lambda: f64,
    sigma: f64,
    seed: u64,
) -> (Network, Problem) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let params = Balanced {
        lambda,
        values: ProductValues::GaussianProduct { sigma },
        bases: ProductBases::Random,
    };
    let m = n_in.min(n_out);
    let net = init::balanced(&[n_in, m, n_out], &params, &mut rng).expect("admissible");
    let sigma_yx = gaussian_matrix(n_out, n_in, 1.0, &mut rng);
    let net = init::match_determinant_sign(net, &sigma_yx);
    (net, Problem::whitened(sigma_yx))
}

/// `QQᵀ` of a two-layer network.
pub fn qqt_of(net: &Network) -> DMatrix<f64> {
    let q = net.q_matrix().expect("two layers");
    &q * q.transpose()
}

/// `QQᵀ` along an RK4 integration of the gradient flow at each of `times`.
pub fn rk4_qqt(net: &Network, problem: &Problem, times: &[f64], dt: f64) -> Vec<DMatrix<f64>> {
    let mut out = Vec::with_capacity(times.len());
    simulate(net, problem, Integrator::Rk4 { dt }, times, |_, state| out.push(qqt_of(state)))
        .expect("integration succeeds");
    out
}

/// `‖a − b‖_F / max(‖b‖_F, floor)`.
pub fn rel_err(a: &DMatrix<f64>, b: &DMatrix<f64>, floor: f64) -> f64 {
    (a - b).norm() / b.norm().max(floor)
}
