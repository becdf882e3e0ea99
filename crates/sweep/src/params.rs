//! The parameter types a point is made of: [`Real`], [`InitKind`], [`Sim`], [`Method`] and
//! [`Record`]. A leaf module: it imports nothing else of the crate.

/// The bits of `x` with −0.0 normalised to 0.0 (the identity of a number in ids and hashes).
pub(crate) fn f64_bits(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

/// A finite `f64` with `Eq` and `Hash` by its bits (−0.0 is normalised to 0.0 on construction),
/// so a task holding one can be compared, hashed and deduplicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Real(u64);

impl Real {
    /// Wraps a finite number, turning −0.0 into 0.0.
    ///
    /// # Panics
    ///
    /// If `x` is NaN or infinite (the spec parser only ever builds a `Real` from finite numbers).
    pub fn new(x: f64) -> Real {
        assert!(x.is_finite(), "Real::new: {x} is not finite");
        Real(f64_bits(x))
    }

    /// The number.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0)
    }
}

impl std::fmt::Display for Real {
    /// Rust's `Display` of the `f64`: the shortest text that reads back to the same number.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.get())
    }
}

/// The tolerance of an RK4 point that does not set `tolerance`: an RK4 simulation of depth ≥ 2
/// whose relative balance drift exceeds it is reported `inaccurate` (docs/math.md P16,
/// docs/spec.md).
pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// The tolerance of an adaptive point that does not set `tolerance`: the relative accuracy the
/// integrator aims at, and the bound on its balance drift (docs/math.md §6.1).
pub const DEFAULT_ADAPTIVE_TOLERANCE: f64 = 1e-8;

/// The smallest tolerance of an adaptive point (`lazyrich_solver::simulate::MIN_TOLERANCE`):
/// below it the rounding of the steps is of the same order.
pub const MIN_ADAPTIVE_TOLERANCE: f64 = 1e-12;

/// The budget of [`max_scale`]: `σ^{2L} Π N_l` may reach this, leaving a factor of about 1.8e8
/// below `f64::MAX` for the fluctuations of a random draw.
const SCALE_BUDGET: f64 = 1e300;

/// The largest init scale σ that widths `[N_0, …, N_L]` (depth `L ≥ 1`) can represent: the
/// largest σ with `σ^{2L} · N_0 N_1 ⋯ N_L ≤ 1e300` (docs/math.md P15).
///
/// The network function of a σ-scaled init (`balanced`, `balanced-signed`, `aligned`, whose
/// product has the singular values of a product of σ-Gaussian matrices, and `gaussian`) has
/// `E‖W_L⋯W_1‖²_F = σ^{2L} Π_l N_l`, and every point evaluates its loss
/// `½‖W_L⋯W_1 − Σyx‖²_F` at t = 0, a polynomial of degree 2L in σ. Beyond this bound it
/// overflows `f64` (about 1.8e308) for a typical draw, and no value of the row would be finite.
/// `+∞` for fewer than two widths.
pub fn max_scale(widths: &[usize]) -> f64 {
    let depth = widths.len().saturating_sub(1);
    if depth == 0 {
        return f64::INFINITY;
    }
    let log_widths: f64 = widths.iter().map(|&n| (n.max(1) as f64).ln()).sum();
    ((SCALE_BUDGET.ln() - log_widths) / (2 * depth) as f64).exp()
}

/// How the weights are initialized.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InitKind {
    /// λ-balanced with random orthogonal bases; σ = scale.
    Balanced,
    /// `Balanced`, with the sign of `det(W_L⋯W_1)` matched to that of `det Σyx` when `Ni = No`
    /// (one row of the last layer reflected, which keeps every balance): the same draw as
    /// `Balanced`, but never on the λ = 0 saddle of docs/math.md P2.
    BalancedSigned,
    /// λ-balanced with the task's singular bases; σ = scale.
    Aligned,
    /// I.i.d. N(0, scale²) entries; not balanced (λ is ignored).
    Gaussian,
    /// LeCun normal; not balanced (λ and scale are ignored).
    Lecun,
}

impl InitKind {
    /// Every kind, in documentation order.
    pub const ALL: [InitKind; 5] = [
        InitKind::Balanced,
        InitKind::BalancedSigned,
        InitKind::Aligned,
        InitKind::Gaussian,
        InitKind::Lecun,
    ];

    /// The spelling in specs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            InitKind::Balanced => "balanced",
            InitKind::BalancedSigned => "balanced-signed",
            InitKind::Aligned => "aligned",
            InitKind::Gaussian => "gaussian",
            InitKind::Lecun => "lecun",
        }
    }

    /// Parses the spec spelling.
    pub fn from_name(name: &str) -> Option<InitKind> {
        InitKind::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    /// Whether λ matters (the λ-balanced inits).
    pub fn uses_lambda(self) -> bool {
        matches!(self, InitKind::Balanced | InitKind::BalancedSigned | InitKind::Aligned)
    }

    /// The name the init seed hashes: `balanced-signed` draws exactly what `balanced` draws.
    pub fn draw_name(self) -> &'static str {
        match self {
            InitKind::BalancedSigned => InitKind::Balanced.as_str(),
            other => other.as_str(),
        }
    }

    /// Whether `scale` matters (every init but LeCun).
    pub fn uses_scale(self) -> bool {
        !matches!(self, InitKind::Lecun)
    }
}

/// A simulation scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sim {
    /// Classical Runge–Kutta of the gradient flow with step `dt`.
    Rk4,
    /// Full-batch gradient descent with learning rate `lr`.
    Gd,
    /// Dormand–Prince 5(4) of the gradient flow with error control at `tolerance`.
    Adaptive,
}

impl Sim {
    /// The spelling in specs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Sim::Rk4 => "rk4",
            Sim::Gd => "gd",
            Sim::Adaptive => "adaptive",
        }
    }

    /// Whether `tolerance` applies: the flow integrators (RK4 is checked against it, adaptive
    /// aims at it), not gradient descent.
    pub fn uses_tolerance(self) -> bool {
        matches!(self, Sim::Rk4 | Sim::Adaptive)
    }

    /// The tolerance in force when the spec sets none.
    pub fn default_tolerance(self) -> f64 {
        match self {
            Sim::Adaptive => DEFAULT_ADAPTIVE_TOLERANCE,
            Sim::Rk4 | Sim::Gd => DEFAULT_TOLERANCE,
        }
    }
}

/// A simulation scheme with its step, as resolved for one point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// RK4 of the gradient flow with time step `dt`.
    Rk4 {
        /// Time step.
        dt: f64,
    },
    /// Gradient descent with learning rate `lr` (step k is time k·lr·τ).
    Gd {
        /// Learning rate.
        lr: f64,
    },
    /// Adaptive integration of the gradient flow to `tolerance` (docs/math.md §6.1).
    Adaptive {
        /// Relative accuracy.
        tolerance: f64,
    },
}

/// How a point's trajectory is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// The exact closed form (depth 2, λ-balanced init).
    ClosedForm,
    /// RK4 simulation of the gradient flow.
    Rk4,
    /// Gradient descent.
    Gd,
    /// Both the closed form and RK4, recording their difference.
    ClosedFormRk4,
    /// Both the closed form and gradient descent, recording their difference.
    ClosedFormGd,
    /// Adaptive (Dormand–Prince 5(4)) simulation of the gradient flow to `tolerance`.
    Adaptive,
    /// Both the closed form and the adaptive simulation, recording their difference.
    ClosedFormAdaptive,
}

impl Method {
    /// Every method, in documentation order.
    pub const ALL: [Method; 7] = [
        Method::ClosedForm,
        Method::Rk4,
        Method::Gd,
        Method::ClosedFormRk4,
        Method::ClosedFormGd,
        Method::Adaptive,
        Method::ClosedFormAdaptive,
    ];

    /// The spelling in specs and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ClosedForm => "closed-form",
            Method::Rk4 => "rk4",
            Method::Gd => "gd",
            Method::ClosedFormRk4 => "closed-form+rk4",
            Method::ClosedFormGd => "closed-form+gd",
            Method::Adaptive => "adaptive",
            Method::ClosedFormAdaptive => "closed-form+adaptive",
        }
    }

    /// Parses the spec spelling.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|method| method.as_str() == name)
    }

    /// Whether the closed form is evaluated.
    pub fn uses_closed_form(self) -> bool {
        matches!(
            self,
            Method::ClosedForm
                | Method::ClosedFormRk4
                | Method::ClosedFormGd
                | Method::ClosedFormAdaptive
        )
    }

    /// The simulation scheme, if any.
    pub fn simulation(self) -> Option<Sim> {
        match self {
            Method::ClosedForm => None,
            Method::Rk4 | Method::ClosedFormRk4 => Some(Sim::Rk4),
            Method::Gd | Method::ClosedFormGd => Some(Sim::Gd),
            Method::Adaptive | Method::ClosedFormAdaptive => Some(Sim::Adaptive),
        }
    }
}

/// What is recorded for every point of a block.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    /// Record the per-time series (loss, kernel distance, …); default true.
    pub per_time: bool,
    /// Record the singular values of the network function at every time; default true.
    pub singular_values: bool,
    /// Times (each one of the time grid, ascending) at which `QQᵀ` is stored; default empty.
    pub matrices_at: Vec<f64>,
}

impl Default for Record {
    fn default() -> Self {
        Record { per_time: true, singular_values: true, matrices_at: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn spellings_round_trip() {
        for init in InitKind::ALL {
            assert_eq!(InitKind::from_name(init.as_str()), Some(init));
        }
        for method in Method::ALL {
            assert_eq!(Method::from_name(method.as_str()), Some(method));
        }
        assert_eq!(Method::from_name("rk5"), None);
        assert_eq!(Method::ClosedFormGd.as_str(), "closed-form+gd");
        assert_eq!(Sim::Rk4.as_str(), "rk4");
    }

    #[test]
    fn method_parts() {
        assert!(Method::ClosedForm.uses_closed_form());
        assert!(!Method::Gd.uses_closed_form());
        assert_eq!(Method::ClosedForm.simulation(), None);
        assert_eq!(Method::ClosedFormRk4.simulation(), Some(Sim::Rk4));
        assert_eq!(Method::ClosedFormGd.simulation(), Some(Sim::Gd));
        assert_eq!(Method::Gd.simulation(), Some(Sim::Gd));
        assert!(Method::ClosedFormAdaptive.uses_closed_form());
        assert_eq!(Method::ClosedFormAdaptive.simulation(), Some(Sim::Adaptive));
        assert_eq!(Method::from_name("closed-form+adaptive"), Some(Method::ClosedFormAdaptive));
        assert!(Sim::Adaptive.uses_tolerance() && Sim::Rk4.uses_tolerance());
        assert!(!Sim::Gd.uses_tolerance());
    }

    #[test]
    fn reals_normalise_negative_zero() {
        assert_eq!(Real::new(-0.0), Real::new(0.0));
        assert_eq!(Real::new(-0.0).get().to_bits(), 0.0f64.to_bits());
        assert_eq!(Real::new(-1.5).get(), -1.5);
        assert_ne!(Real::new(1.0), Real::new(-1.0));
        assert_eq!(Real::new(0.1).to_string(), "0.1");
        assert_eq!(Real::new(2.0).to_string(), "2");
        let hash = |real: Real| {
            use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
            BuildHasherDefault::<DefaultHasher>::default().hash_one(real)
        };
        assert_eq!(hash(Real::new(-0.0)), hash(Real::new(0.0)));
    }
}
