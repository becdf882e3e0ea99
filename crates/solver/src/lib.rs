//! Exact and simulated learning dynamics of linear networks (lazyrich's solver).
//!
//! This crate is *sans-IO*: no files, no printing, no threads, no serde. It is the mathematics of
//! `docs/math.md`:
//!
//! - [`init`]: λ-balanced, task-aligned, deep λ-balanced, Gaussian and LeCun initializations;
//! - [`closed_form`]: the exact two-layer trajectory $QQ^\top(t)$: for $N_h = \min(N_i, N_o)$
//!   evaluated the numerically stable way (docs/math.md §3.4), for $N_h > \min(N_i, N_o)$ the Fukumizu
//!   form within a stated validity range;
//! - [`aligned`]: the scalar dynamics of one task-aligned mode (docs/math.md §3.5);
//! - [`simulate`]: gradient descent and RK4 of the gradient flow, any depth and any init;
//! - [`ntk`] and [`metrics`]: loss, singular values, NTK kernel distance.
//!
//! Conventions: `W1` is `Nh × Ni`, `W2` is `No × Nh`, the balance is
//! $W_2^\top W_2 - W_1 W_1^\top = \lambda I$, and
//! $QQ^\top = \begin{bmatrix} W_1^\top W_1 & W_1^\top W_2^\top \\ W_2 W_1 & W_2 W_2^\top \end{bmatrix}$.

pub mod aligned;
pub mod closed_form;
pub mod deep_aligned;
pub mod error;
pub mod init;
mod kernels;
pub mod linalg;
pub mod metrics;
pub mod network;
pub mod ntk;
pub mod simulate;

pub use error::{InitError, SolverError, Status};
pub use network::{BalanceStats, Network, Problem};
