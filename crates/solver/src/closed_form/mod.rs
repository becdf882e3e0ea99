//! The exact two-layer trajectory for $N_h = \min(N_i, N_o)$ (docs/math.md §3.3), evaluated the
//! numerically stable way (docs/math.md §3.4).
//!
//! Under whitened inputs and a λ-balanced start, $QQ^\top$ solves the Riccati equation
//! $\tau \tfrac{d}{dt} QQ^\top = F QQ^\top + QQ^\top F - (QQ^\top)^2$ with
//! $F = \begin{bmatrix} -\tfrac\lambda2 I & \Sigma_{yx}^\top \\ \Sigma_{yx} & \tfrac\lambda2 I\end{bmatrix}$.
//! With $F = O\Lambda O^\top$, $O = [O_+, O_-, O_\perp]$ and $P_\bullet = O_\bullet^\top Q_0$:
//!
//! $$QQ^\top(t) = Z A^{-1} Z^\top,\quad Z = O_+ + O_-(ee^\top\odot N_-) + O_\perp(N_\perp \odot \mathbf 1 g^\top),$$
//! $$A = ee^\top \odot (H + N_-^\top \operatorname{diag}(f) N_-) + \operatorname{diag}(f) + K_\perp \odot h,$$
//!
//! with $e_\alpha = e^{-s_{\lambda,\alpha}T}$, $f_\alpha = (1-e_\alpha^2)/(2 s_{\lambda,\alpha})$,
//! $g_\beta = e^{(\lambda_\perp - s_{\lambda,\beta})T}$, $h_{\alpha\beta} = G(T) e_\alpha e_\beta$,
//! $N_- = P_-P_+^{-1}$, $N_\perp = P_\perp P_+^{-1}$, $H = P_+^{-\top}P_+^{-1}$,
//! $K_\perp = N_\perp^\top N_\perp$. Every exponent is non-positive, no quantity is divided by λ,
//! and `A` is factored by Cholesky, so the result is finite and symmetric PSD for any
//! $t \ge 0$ (tested to $t = 10^{12}$ and $|\lambda| = 10^4$).
//!
//! Setup is $O(N^3)$ once per trajectory; a time point costs $O((N_i+N_o)^2 m)$ with no
//! allocation (see [`Workspace`]): it runs the register-blocked kernels of `point`, with AVX2 +
//! FMA when the CPU has them (detected at run time).
//!
//! The forms live in submodules, re-exported here: [`ClosedForm`] (`stable`, per-trajectory
//! constants, and `point`, the evaluation of one time point), [`GenericClosedForm`] (`generic`,
//! the Fukumizu form for $N_h > \min(N_i, N_o)$), and their shared preconditions and eigenbasis
//! of F (`eigenbasis`). [`Exact`] picks the form from the widths.

use nalgebra::DMatrix;

use crate::error::SolverError;
use crate::linalg::FullSvd;
use crate::network::{Network, Problem};

mod eigenbasis;
mod generic;
mod point;
mod stable;

pub use eigenbasis::{BALANCE_TOLERANCE, WHITENING_TOLERANCE};
pub use generic::{GENERIC_MAX_CONDITION, GenericClosedForm};
pub use stable::{
    ClosedForm, EARLY_MAX_CONDITION, MAX_CONDITION, MIN_RELATIVE_SIGMA, Workspace, weights_from_qqt,
};

/// The exact solution for any admissible two-layer width: the stable form when
/// `Nh = min(Ni, No)`, the generic Fukumizu form (with a validity limit) when `Nh` is larger.
#[derive(Clone, Debug)]
pub enum Exact {
    /// `Nh = min(Ni, No)`: [`ClosedForm`].
    Stable(Box<ClosedForm>),
    /// `Nh > min(Ni, No)`: [`GenericClosedForm`].
    Generic(GenericClosedForm),
}

impl Exact {
    /// Chooses the form from the widths of `net`.
    pub fn new(net: &Network, problem: &Problem) -> Result<Exact, SolverError> {
        Self::build(net, problem, None)
    }

    /// [`Exact::new`] with the SVD of the task's Σyx already computed (`task_svd` must be
    /// `FullSvd::new(&problem.sigma_yx, …)`; its shape is checked).
    pub fn with_task_svd(
        net: &Network,
        problem: &Problem,
        task_svd: &FullSvd,
    ) -> Result<Exact, SolverError> {
        Self::build(net, problem, Some(task_svd))
    }

    fn build(
        net: &Network,
        problem: &Problem,
        task_svd: Option<&FullSvd>,
    ) -> Result<Exact, SolverError> {
        if net.depth() == 2 && net.layers[0].nrows() > net.n_in().min(net.n_out()) {
            Ok(Exact::Generic(match task_svd {
                Some(svd) => GenericClosedForm::with_task_svd(net, problem, svd)?,
                None => GenericClosedForm::new(net, problem)?,
            }))
        } else {
            Ok(Exact::Stable(Box::new(match task_svd {
                Some(svd) => ClosedForm::with_task_svd(net, problem, svd)?,
                None => ClosedForm::new(net, problem)?,
            })))
        }
    }

    /// λ of the initial weights.
    pub fn lambda(&self) -> f64 {
        match self {
            Exact::Stable(cf) => cf.lambda(),
            Exact::Generic(g) => g.lambda(),
        }
    }

    /// `QQᵀ(t)`.
    pub fn qqt(&self, t: f64) -> Result<DMatrix<f64>, SolverError> {
        match self {
            Exact::Stable(cf) => cf.qqt(t),
            Exact::Generic(g) => g.qqt(t),
        }
    }

    /// `QQᵀ(t)` into `out`, reusing `ws` (resized on first use; any [`Workspace`], e.g.
    /// `Workspace::default()`, will do): no allocation per time point for the stable form
    /// ([`ClosedForm::qqt_into`]); the generic form allocates as [`Exact::qqt`] does.
    pub fn qqt_into(
        &self,
        t: f64,
        ws: &mut Workspace,
        out: &mut DMatrix<f64>,
    ) -> Result<(), SolverError> {
        match self {
            Exact::Stable(cf) => cf.qqt_into(t, ws, out),
            Exact::Generic(g) => {
                *out = g.qqt(t)?;
                Ok(())
            }
        }
    }
}
