//! Small dense linear-algebra helpers shared by the solver: full SVD bases, orthogonal
//! complements, Haar-random orthogonal matrices.

use nalgebra::{DMatrix, DVector};
use rand::Rng;
use rand_distr::StandardNormal;

/// SVD of an `No × Ni` matrix with *full* singular bases (docs/math.md §3.2, P14).
///
/// `u_m`, `v_m` hold the `m = min(Ni, No)` leading singular vectors; `u_perp`, `v_perp` complete
/// them to orthonormal bases of ℝ^No and ℝ^Ni (at most one of the two is non-empty).
#[derive(Clone, Debug)]
pub struct FullSvd {
    /// Leading left singular vectors (`No × m`).
    pub u_m: DMatrix<f64>,
    /// Singular values, descending (`m`).
    pub s: DVector<f64>,
    /// Leading right singular vectors (`Ni × m`).
    pub v_m: DMatrix<f64>,
    /// Orthonormal complement of `u_m` (`No × (No − m)`).
    pub u_perp: DMatrix<f64>,
    /// Orthonormal complement of `v_m` (`Ni × (Ni − m)`).
    pub v_perp: DMatrix<f64>,
}

impl FullSvd {
    /// Decomposes `a` (`No × Ni`).
    pub fn new(a: &DMatrix<f64>) -> FullSvd {
        let svd = a.clone().svd(true, true);
        let u_m = svd.u.expect("u requested");
        let v_m = svd.v_t.expect("v requested").transpose();
        let u_perp = orthogonal_complement(&u_m);
        let v_perp = orthogonal_complement(&v_m);
        FullSvd { u_m, s: svd.singular_values, v_m, u_perp, v_perp }
    }

    /// Full left basis `[u_m, u_perp]` (`No × No`).
    pub fn u_full(&self) -> DMatrix<f64> {
        hcat(&self.u_m, &self.u_perp)
    }

    /// Full right basis `[v_m, v_perp]` (`Ni × Ni`).
    pub fn v_full(&self) -> DMatrix<f64> {
        hcat(&self.v_m, &self.v_perp)
    }
}

/// Columns `[a, b]`.
pub fn hcat(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    assert_eq!(a.nrows(), b.nrows());
    let mut out = DMatrix::zeros(a.nrows(), a.ncols() + b.ncols());
    out.columns_mut(0, a.ncols()).copy_from(a);
    out.columns_mut(a.ncols(), b.ncols()).copy_from(b);
    out
}

/// Rows `[a; b]`.
pub fn vcat(a: &DMatrix<f64>, b: &DMatrix<f64>) -> DMatrix<f64> {
    assert_eq!(a.ncols(), b.ncols());
    let mut out = DMatrix::zeros(a.nrows() + b.nrows(), a.ncols());
    out.rows_mut(0, a.nrows()).copy_from(a);
    out.rows_mut(a.nrows(), b.nrows()).copy_from(b);
    out
}

/// An orthonormal basis of the orthogonal complement of the columns of `basis` (which must be
/// orthonormal), as an `n × (n − k)` matrix.
///
/// Uses the eigenvectors of the projector `I − BBᵀ` with eigenvalue one, which is accurate to
/// roundoff and needs no random completion.
pub fn orthogonal_complement(basis: &DMatrix<f64>) -> DMatrix<f64> {
    let (n, k) = basis.shape();
    if k >= n {
        return DMatrix::zeros(n, 0);
    }
    let projector = DMatrix::identity(n, n) - basis * basis.transpose();
    let eigen = projector.symmetric_eigen();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
    let mut out = DMatrix::zeros(n, n - k);
    for (col, &idx) in order.iter().take(n - k).enumerate() {
        out.set_column(col, &eigen.eigenvectors.column(idx));
    }
    // One Gram–Schmidt pass against `basis` and the earlier columns removes the residual mixing
    // that near-degenerate eigenvalues leave behind.
    for col in 0..n - k {
        let mut v = out.column(col).clone_owned();
        for j in 0..k {
            let c = basis.column(j).dot(&v);
            v.axpy(-c, &basis.column(j), 1.0);
        }
        for j in 0..col {
            let c = out.column(j).dot(&v);
            v -= c * out.column(j);
        }
        let norm = v.norm();
        out.set_column(col, &(v / norm));
    }
    out
}

/// A matrix of i.i.d. `N(0, σ²)` entries.
pub fn gaussian_matrix<R: Rng + ?Sized>(
    nrows: usize,
    ncols: usize,
    sigma: f64,
    rng: &mut R,
) -> DMatrix<f64> {
    DMatrix::from_fn(nrows, ncols, |_, _| sigma * rng.sample::<f64, _>(StandardNormal))
}

/// A Haar-random orthogonal `n × n` matrix: the Q factor of a Gaussian matrix, with the signs
/// fixed so that R has a positive diagonal.
pub fn random_orthogonal<R: Rng + ?Sized>(n: usize, rng: &mut R) -> DMatrix<f64> {
    if n == 0 {
        return DMatrix::zeros(0, 0);
    }
    let qr = gaussian_matrix(n, n, 1.0, rng).qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..n {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    q
}

/// Spectral norm ‖a‖₂ (largest singular value); 0 for an empty matrix.
pub fn spectral_norm(a: &DMatrix<f64>) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    a.singular_values().max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn full_svd_bases_are_orthonormal_and_reconstruct() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (n_out, n_in) in [(3, 5), (5, 3), (4, 4), (1, 6), (6, 1)] {
            let a = gaussian_matrix(n_out, n_in, 1.0, &mut rng);
            let svd = FullSvd::new(&a);
            let (u, v) = (svd.u_full(), svd.v_full());
            assert!((u.transpose() * &u - DMatrix::identity(n_out, n_out)).amax() < 1e-13);
            assert!((v.transpose() * &v - DMatrix::identity(n_in, n_in)).amax() < 1e-13);
            let back = &svd.u_m * DMatrix::from_diagonal(&svd.s) * svd.v_m.transpose();
            assert!((back - &a).amax() < 1e-13);
            assert!(svd.s.as_slice().windows(2).all(|w| w[0] >= w[1]), "descending");
        }
    }

    #[test]
    fn random_orthogonal_is_orthogonal() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let q = random_orthogonal(6, &mut rng);
        assert!((q.transpose() * &q - DMatrix::identity(6, 6)).amax() < 1e-14);
    }
}
