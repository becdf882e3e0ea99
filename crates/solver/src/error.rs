//! Error and status types of the solver.
//!
//! Two kinds of failure are kept apart:
//! - [`InitError`] and [`SolverError::InvalidInput`]: the caller asked for something impossible
//!   (wrong shapes, an inadmissible width/λ combination). These are bugs in the input.
//! - The remaining [`SolverError`] variants are *outcomes* of a well-posed problem (a singular
//!   `B`, a diverging gradient descent, a value beyond the range of `f64`, a factorization that
//!   did not converge). Callers record them as a [`Status`] in the result row, never as a NaN.
//!
//! No function of the solver loops without bound or panics on non-finite input: every iterative
//! factorization has an iteration cap and checks that its input is finite first
//! ([`crate::linalg`]), returning [`SolverError::Overflow`] or [`SolverError::NoConvergence`].

/// The outcome of one trajectory, as recorded in results.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Every requested value was computed and is finite.
    Ok,
    /// `B` (= P₊ᵀ, docs/math.md §3.3/§3.4) is numerically singular: the flow converges to a saddle.
    Singular,
    /// The task Σyx is rank deficient at λ = 0, outside the closed form's assumptions (docs/math.md P9).
    RankDeficientTask,
    /// The generic (Nh > min(Ni, No)) closed form was asked for a time beyond its accurate range.
    BeyondValidity,
    /// A simulation produced a non-finite value from a finite start (learning rate or dt too
    /// large).
    Diverged,
    /// A value of the initialization or of the inputs is beyond the range of `f64` (docs/math.md
    /// P15): nothing meaningful can be computed from it.
    Overflow,
    /// A result is not accurate to the requested tolerance: a simulation whose balance drift
    /// exceeds it (docs/math.md P16), or an iterative factorization that did not converge.
    Inaccurate,
}

impl Status {
    /// The stable spelling used in JSON and Parquet output.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Singular => "singular",
            Status::RankDeficientTask => "rank_deficient_task",
            Status::BeyondValidity => "beyond_validity",
            Status::Diverged => "diverged",
            Status::Overflow => "overflow",
            Status::Inaccurate => "inaccurate",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an initialization could not be built.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// Fewer than two widths (depth 0) were given.
    #[error("a network needs at least one weight matrix (got {n_widths} widths)")]
    TooShallow {
        /// Number of widths given.
        n_widths: usize,
    },
    /// A width of zero.
    #[error("width {index} is zero")]
    ZeroWidth {
        /// Position of the zero width (0 = input).
        index: usize,
    },
    /// A hidden layer narrower than min(Ni, No): the product cannot represent a full-rank task.
    #[error(
        "hidden width {width} at layer {index} is a bottleneck narrower than min(Ni, No) = {min_io}"
    )]
    Bottleneck {
        /// Position of the hidden width.
        index: usize,
        /// The hidden width.
        width: usize,
        /// min(Ni, No).
        min_io: usize,
    },
    /// The widths and λ cannot be λ-balanced (docs/math.md §2.1).
    #[error("widths {widths:?} cannot be balanced with lambda = {lambda}: {reason}")]
    Inadmissible {
        /// All widths, input first.
        widths: Vec<usize>,
        /// The requested λ.
        lambda: f64,
        /// Human-readable reason.
        reason: String,
    },
    /// A parameter out of its domain (negative scale, non-finite λ, ...).
    #[error("invalid parameter {name} = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Its value.
        value: f64,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// Wrong number of given singular values, or a task matrix of the wrong shape.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// A numerical failure while building the network: a value beyond the range of `f64` (the
    /// scale is too large, docs/math.md P15) or a factorization that did not converge.
    #[error(transparent)]
    Numerical(#[from] SolverError),
}

impl InitError {
    /// The status of a row whose initialization failed this way: `Some` for numerical failures
    /// (an outcome of the parameters), `None` for invalid parameters (a bug in the input).
    pub fn status(&self) -> Option<Status> {
        match self {
            InitError::Numerical(err) => err.status(),
            _ => None,
        }
    }
}

/// Why a trajectory could not be computed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SolverError {
    /// Inconsistent shapes, unbalanced weights for the closed form, bad time values.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// `B` is numerically singular (docs/math.md P2, P7).
    #[error(
        "B is numerically singular (cond = {condition:.3e}, sigma_min/||W|| = {relative_sigma_min:.3e})"
    )]
    Singular {
        /// Condition number of P₊.
        condition: f64,
        /// σ_min(P₊) / max(‖W1‖₂, ‖W2‖₂).
        relative_sigma_min: f64,
    },
    /// Σyx is rank deficient and λ = 0 (docs/math.md P9).
    #[error("the task is rank deficient at lambda = 0 (smallest singular value {smallest:.3e})")]
    RankDeficientTask {
        /// Smallest singular value of Σyx.
        smallest: f64,
    },
    /// The generic closed form is not accurate at this time.
    #[error("time {t} is beyond the accurate range of the generic closed form (t <= {t_max:.6e})")]
    BeyondValidity {
        /// Requested time.
        t: f64,
        /// Largest accurate time.
        t_max: f64,
    },
    /// A simulation produced a non-finite value from a finite start.
    #[error("simulation diverged at t = {t} (learning rate or dt too large)")]
    Diverged {
        /// Time of the first non-finite value.
        t: f64,
    },
    /// A value is beyond the range of `f64`: a non-finite weight, an overflowing product, or a
    /// non-finite input to a factorization (docs/math.md P15).
    #[error("overflow: {0}")]
    Overflow(String),
    /// An iterative factorization (SVD, symmetric eigendecomposition) did not converge within
    /// its iteration cap ([`crate::linalg::max_iterations`]).
    #[error("the {what} of a {rows}x{cols} matrix did not converge within {max_iter} iterations")]
    NoConvergence {
        /// The factorization and what it was applied to.
        what: String,
        /// Rows of the matrix.
        rows: usize,
        /// Columns of the matrix.
        cols: usize,
        /// The iteration cap.
        max_iter: usize,
    },
    /// A computed intermediate is less accurate than the next step needs (for example the
    /// weights a protocol restarts the closed form from, docs/math.md §4.3).
    #[error("inaccurate: {0}")]
    Inaccurate(String),
}

impl SolverError {
    /// The status recorded for this outcome; `None` for invalid input, which is not an outcome.
    pub fn status(&self) -> Option<Status> {
        match self {
            SolverError::InvalidInput(_) => None,
            SolverError::Singular { .. } => Some(Status::Singular),
            SolverError::RankDeficientTask { .. } => Some(Status::RankDeficientTask),
            SolverError::BeyondValidity { .. } => Some(Status::BeyondValidity),
            SolverError::Diverged { .. } => Some(Status::Diverged),
            SolverError::Overflow(_) => Some(Status::Overflow),
            SolverError::NoConvergence { .. } | SolverError::Inaccurate(_) => {
                Some(Status::Inaccurate)
            }
        }
    }
}
