//! The `solve` problem file: JSON text → validated [`SolveInput`].
//!
//! Parsing goes through [`serde_json::Value`] field by field rather than a derived struct, so
//! that every error names its field (`w1: row 2 has 3 entries, row 1 has 2`), unknown and
//! duplicate fields are refused, and no input can make the program panic. Shapes and values are
//! checked here; conditions only the solver can judge (λ-balance for the closed form) are
//! checked by the solver and reported as bad input by the caller.

use lazyrich_solver::{Network, Problem};
use nalgebra::DMatrix;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::describe;
use crate::error::BadInput;

/// Default time constant τ.
pub const DEFAULT_TAU: f64 = 1.0;
/// Default RK4 time step (in units of t).
pub const DEFAULT_DT: f64 = 1e-3;
/// Default gradient-descent learning rate (one step advances t by lr·τ).
pub const DEFAULT_LR: f64 = 1e-3;
/// Default tolerance of the adaptive integrator (relative, docs/math.md §6.1).
pub const DEFAULT_TOLERANCE: f64 = lazyrich_sweep::DEFAULT_ADAPTIVE_TOLERANCE;
/// Largest number of integrator steps a simulation may need to reach the last time.
pub const MAX_STEPS: f64 = 1e8;

/// Largest magnitude of a matrix entry. `QQᵀ` is quadratic in the weights and the NTK norm
/// quartic in `QQᵀ`; with entries up to 1e30 every quantity stays inside double precision.
pub const MAX_ENTRY_MAGNITUDE: f64 = 1e30;

/// Every field a problem file may contain, in documentation order.
const KNOWN_FIELDS: [&str; 14] = [
    "w1",
    "w2",
    "widths",
    "init",
    "task",
    "sigma_yx",
    "sigma_xx",
    "trace_sigma_yy",
    "times",
    "method",
    "dt",
    "lr",
    "tolerance",
    "tau",
];

/// How the trajectory is computed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// The exact solution (`closed_form::Exact`).
    ClosedForm,
    /// RK4 integration of the gradient flow with step `dt`.
    Rk4 {
        /// Time step, in units of t.
        dt: f64,
    },
    /// Plain gradient descent with learning rate `lr`; step k is at t = k·lr·τ.
    GradientDescent {
        /// Learning rate.
        lr: f64,
    },
    /// Adaptive (Dormand–Prince 5(4)) integration of the gradient flow to `tolerance`.
    Adaptive {
        /// Relative accuracy, in [1e-12, 1).
        tolerance: f64,
    },
}

impl Method {
    /// The spelling used in the `method` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::ClosedForm => "closed-form",
            Method::Rk4 { .. } => "rk4",
            Method::GradientDescent { .. } => "gd",
            Method::Adaptive { .. } => "adaptive",
        }
    }
}

/// A validated `solve` problem.
#[derive(Clone, Debug, PartialEq)]
pub struct SolveInput {
    /// The two-layer network at t = 0.
    pub net: Network,
    /// Σyx, optional Σxx and tr Σyy, τ.
    pub problem: Problem,
    /// Requested times: finite, non-negative, ascending (ties allowed).
    pub times: Vec<f64>,
    /// How to compute the trajectory.
    pub method: Method,
    /// The weights (and, with `task`, Σyx) were built from a description (`widths`, `init`,
    /// `task`): the output shows them.
    pub described: bool,
    /// A deep aligned description (depth ≥ 3): `net` is deep and the trajectory is the deep
    /// aligned closed form's (`method` is then `closed-form`).
    pub deep: Option<describe::DeepInit>,
}

/// Parses and validates a problem file's text.
pub fn parse(text: &str) -> Result<SolveInput, BadInput> {
    let fields = serde_json::from_str::<Fields>(text)
        .map_err(|err| BadInput::new(format!("invalid JSON: {err}")))?;
    let mut raw = RawFields::default();
    for (name, value) in fields.0 {
        let slot = match name.as_str() {
            "w1" => &mut raw.w1,
            "w2" => &mut raw.w2,
            "widths" => &mut raw.widths,
            "init" => &mut raw.init,
            "task" => &mut raw.task,
            "sigma_yx" => &mut raw.sigma_yx,
            "sigma_xx" => &mut raw.sigma_xx,
            "trace_sigma_yy" => &mut raw.trace_sigma_yy,
            "times" => &mut raw.times,
            "method" => &mut raw.method,
            "dt" => &mut raw.dt,
            "lr" => &mut raw.lr,
            "tolerance" => &mut raw.tolerance,
            "tau" => &mut raw.tau,
            _ => return Err(unknown_field(&name)),
        };
        if slot.is_some() {
            return Err(BadInput::new(format!("{name}: field given twice")));
        }
        *slot = Some(value);
    }
    raw.validate()
}

/// The fields of the top-level object, in file order, duplicates kept.
struct Fields(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fields, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object with the problem's fields")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// Each field's raw JSON value, before validation.
#[derive(Default)]
struct RawFields {
    w1: Option<Value>,
    w2: Option<Value>,
    widths: Option<Value>,
    init: Option<Value>,
    task: Option<Value>,
    sigma_yx: Option<Value>,
    sigma_xx: Option<Value>,
    trace_sigma_yy: Option<Value>,
    times: Option<Value>,
    method: Option<Value>,
    dt: Option<Value>,
    lr: Option<Value>,
    tolerance: Option<Value>,
    tau: Option<Value>,
}

impl RawFields {
    fn validate(self) -> Result<SolveInput, BadInput> {
        let described = self.init.is_some();
        let mut task_trace = None;
        let (w1, w2, sigma_yx) = match &self.init {
            Some(init) => {
                for (name, given) in [("w1", self.w1.is_some()), ("w2", self.w2.is_some())] {
                    if given {
                        return Err(BadInput::new(format!(
                            "{name}: give either the weights (w1, w2) or a description of them \
                             (widths, init), not both"
                        )));
                    }
                }
                let sigma_yx = match &self.sigma_yx {
                    None => None,
                    Some(value) => Some(matrix("sigma_yx", value)?),
                };
                let widths = required("widths", self.widths.clone())?;
                let built = describe::build(init, &widths, self.task.as_ref(), sigma_yx)?;
                if let Some(deep) = built.deep {
                    return self.validate_deep(built.net, built.sigma_yx, deep);
                }
                task_trace = built.trace_sigma_yy;
                let layers = built.net.layers;
                let (w1, w2) = (layers[0].clone(), layers[1].clone());
                (w1, w2, built.sigma_yx)
            }
            None => {
                for (name, given) in
                    [("widths", self.widths.is_some()), ("task", self.task.is_some())]
                {
                    if given {
                        return Err(BadInput::new(format!(
                            "{name}: only with init (a description of the weights); with w1 and \
                             w2, give sigma_yx"
                        )));
                    }
                }
                let w1 = matrix("w1", &required("w1", self.w1)?)?;
                let w2 = matrix("w2", &required("w2", self.w2)?)?;
                let sigma_yx = matrix("sigma_yx", &required("sigma_yx", self.sigma_yx)?)?;
                (w1, w2, sigma_yx)
            }
        };
        let times = times(&required("times", self.times)?)?;
        let method_name = string("method", &required("method", self.method)?)?;

        let (n_hidden, n_in, n_out) = (w1.nrows(), w1.ncols(), w2.nrows());
        if w2.ncols() != n_hidden {
            return Err(BadInput::new(format!(
                "w2: expected {n_hidden} columns (= rows of w1), got {}",
                w2.ncols()
            )));
        }
        if sigma_yx.shape() != (n_out, n_in) {
            return Err(BadInput::new(format!(
                "sigma_yx: expected {n_out}x{n_in} (rows of w2 x columns of w1), got {}x{}",
                sigma_yx.nrows(),
                sigma_yx.ncols()
            )));
        }
        let sigma_xx = match &self.sigma_xx {
            None => None,
            Some(value) => Some(covariance(value, n_in)?),
        };
        // A description's task gives tr Σyy unless the problem gives its own: the loss is then
        // the dataset's, at every depth.
        let trace_sigma_yy = match &self.trace_sigma_yy {
            None => task_trace,
            Some(value) => Some(non_negative("trace_sigma_yy", value)?),
        };
        let tau = match &self.tau {
            None => DEFAULT_TAU,
            Some(value) => positive("tau", value)?,
        };

        let method = match method_name.as_str() {
            "closed-form" => Method::ClosedForm,
            "rk4" => Method::Rk4 {
                dt: match &self.dt {
                    None => DEFAULT_DT,
                    Some(value) => positive("dt", value)?,
                },
            },
            "gd" => Method::GradientDescent {
                lr: match &self.lr {
                    None => DEFAULT_LR,
                    Some(value) => positive("lr", value)?,
                },
            },
            "adaptive" => Method::Adaptive {
                tolerance: match &self.tolerance {
                    None => DEFAULT_TOLERANCE,
                    Some(value) => tolerance(value)?,
                },
            },
            other => {
                return Err(BadInput::new(format!(
                    "method: unknown method {other:?} (expected \"closed-form\", \"rk4\", \"gd\" \
                     or \"adaptive\")"
                )));
            }
        };
        unused_knob("dt", self.dt.is_some(), method, matches!(method, Method::Rk4 { .. }))?;
        unused_knob(
            "lr",
            self.lr.is_some(),
            method,
            matches!(method, Method::GradientDescent { .. }),
        )?;
        unused_knob(
            "tolerance",
            self.tolerance.is_some(),
            method,
            matches!(method, Method::Adaptive { .. }),
        )?;
        check_n_steps(method, tau, &times)?;

        let net = Network::two_layer(w1, w2).map_err(|err| BadInput::new(format!("w2: {err}")))?;
        let problem = Problem { sigma_yx, sigma_xx, trace_sigma_yy, tau };
        // Every condition of `Problem::check` is already enforced above; this is a safety net.
        problem.check(n_in, n_out).map_err(|err| BadInput::new(err.to_string()))?;
        Ok(SolveInput { net, problem, times, method, described, deep: None })
    }

    /// The rest of a deep aligned description: only the closed form, on a whitened task.
    fn validate_deep(
        self,
        net: Network,
        sigma_yx: DMatrix<f64>,
        deep: describe::DeepInit,
    ) -> Result<SolveInput, BadInput> {
        let times = times(&required("times", self.times)?)?;
        let method_name = string("method", &required("method", self.method)?)?;
        if method_name != "closed-form" {
            return Err(BadInput::new(format!(
                "method: a deep description (depth {}) is computed by the deep aligned closed \
                 form only: use \"closed-form\", got {method_name:?}",
                net.depth()
            )));
        }
        for (name, given) in [
            ("dt", self.dt.is_some()),
            ("lr", self.lr.is_some()),
            ("tolerance", self.tolerance.is_some()),
        ] {
            unused_knob(name, given, Method::ClosedForm, false)?;
        }
        if self.sigma_xx.is_some() {
            return Err(BadInput::new(
                "sigma_xx: the deep aligned closed form needs whitened inputs; remove sigma_xx",
            ));
        }
        // Without a trace_sigma_yy, the task's: the loss is then the dataset's.
        let trace_sigma_yy = match &self.trace_sigma_yy {
            None => deep.trace_sigma_yy,
            Some(value) => Some(non_negative("trace_sigma_yy", value)?),
        };
        let tau = match &self.tau {
            None => DEFAULT_TAU,
            Some(value) => positive("tau", value)?,
        };
        let t_max = times.last().copied().unwrap_or(0.0);
        if !(t_max / tau).is_finite() {
            return Err(BadInput::new(format!(
                "times: t / tau = {} / {} is beyond double precision (the deep aligned closed form \
                 needs a finite t / tau); use a larger tau or shorter times",
                show(t_max),
                show(tau)
            )));
        }
        let problem = Problem { sigma_yx, sigma_xx: None, trace_sigma_yy, tau };
        problem.check(net.n_in(), net.n_out()).map_err(|err| BadInput::new(err.to_string()))?;
        Ok(SolveInput {
            net,
            problem,
            times,
            method: Method::ClosedForm,
            described: true,
            deep: Some(deep),
        })
    }
}

/// Refuses `dt` without rk4, `lr` without gd and `tolerance` without adaptive: a knob that does nothing is likely a mistake.
fn unused_knob(name: &str, given: bool, method: Method, used: bool) -> Result<(), BadInput> {
    if given && !used {
        let owner = match name {
            "dt" => "rk4",
            "lr" => "gd",
            _ => "adaptive",
        };
        return Err(BadInput::new(format!(
            "{name}: only used by method \"{owner}\" (method is \"{}\"); remove it",
            method.as_str()
        )));
    }
    Ok(())
}

/// Refuses simulations that would need more than [`MAX_STEPS`] steps to reach the last time.
fn check_n_steps(method: Method, tau: f64, times: &[f64]) -> Result<(), BadInput> {
    let t_max = times.last().copied().unwrap_or(0.0);
    let (name, step, n_steps) = match method {
        // The adaptive step count is not known before the run: the solver's budget bounds it.
        Method::ClosedForm | Method::Adaptive { .. } => return Ok(()),
        Method::Rk4 { dt } => ("dt", dt, t_max / dt),
        Method::GradientDescent { lr } => ("lr", lr, t_max / (lr * tau)),
    };
    if n_steps > MAX_STEPS {
        return Err(BadInput::new(format!(
            "{name}: reaching t = {} with {name} = {} takes {n_steps:.3e} steps, more than the \
             limit of {MAX_STEPS:.0e}; use a larger {name} or shorter times",
            show(t_max),
            show(step)
        )));
    }
    Ok(())
}

fn required(name: &str, value: Option<Value>) -> Result<Value, BadInput> {
    value.ok_or_else(|| BadInput::new(format!("{name}: missing field")))
}

fn unknown_field(name: &str) -> BadInput {
    let suggestion = KNOWN_FIELDS
        .iter()
        .map(|known| (edit_distance(name, known), known))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, known)| format!(" (did you mean \"{known}\"?)"))
        .unwrap_or_default();
    BadInput::new(format!(
        "{name}: unknown field{suggestion}; known fields are {}",
        KNOWN_FIELDS.join(", ")
    ))
}

/// Levenshtein distance, for "did you mean" suggestions.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A number for a message: plain when moderate (`0.001`, `-1`), scientific otherwise (`1e-9`).
fn show(x: f64) -> String {
    if x == 0.0 || (1e-4..1e7).contains(&x.abs()) { format!("{x}") } else { format!("{x:e}") }
}

/// A short description of a JSON value's kind, for error messages.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn number(name: &str, value: &Value) -> Result<f64, BadInput> {
    // Without serde_json's `arbitrary_precision`, every JSON number is a finite f64 (literals
    // beyond f64's range are parse errors); the finiteness test is a safety net.
    match value.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        Some(x) => Err(BadInput::new(format!("{name}: must be finite, got {}", show(x)))),
        None => Err(BadInput::new(format!("{name}: expected a number, got {}", kind(value)))),
    }
}

/// `tolerance`: a number in [1e-12, 1) (docs/math.md §6.1).
fn tolerance(value: &Value) -> Result<f64, BadInput> {
    let x = number("tolerance", value)?;
    let min = lazyrich_sweep::MIN_ADAPTIVE_TOLERANCE;
    if (min..1.0).contains(&x) {
        Ok(x)
    } else {
        Err(BadInput::new(format!(
            "tolerance: must be in [{min:e}, 1) (the relative accuracy of the adaptive \
             integrator), got {}",
            show(x)
        )))
    }
}

fn positive(name: &str, value: &Value) -> Result<f64, BadInput> {
    let x = number(name, value)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(BadInput::new(format!("{name}: must be positive, got {}", show(x))))
    }
}

fn non_negative(name: &str, value: &Value) -> Result<f64, BadInput> {
    let x = number(name, value)?;
    if x >= 0.0 {
        Ok(x)
    } else {
        Err(BadInput::new(format!("{name}: must be non-negative, got {}", show(x))))
    }
}

fn string(name: &str, value: &Value) -> Result<String, BadInput> {
    match value {
        Value::String(s) => Ok(s.clone()),
        other => Err(BadInput::new(format!("{name}: expected a string, got {}", kind(other)))),
    }
}

/// A non-empty rectangular matrix given as an array of rows (row-major). Rows and entries are
/// numbered from 1 in messages.
fn matrix(name: &str, value: &Value) -> Result<DMatrix<f64>, BadInput> {
    let Value::Array(rows) = value else {
        return Err(BadInput::new(format!(
            "{name}: expected a matrix (an array of rows, each an array of numbers), got {}",
            kind(value)
        )));
    };
    if rows.is_empty() {
        return Err(BadInput::new(format!("{name}: matrix is empty (no rows)")));
    }
    let mut n_cols = 0;
    let mut entries = Vec::new();
    for (row_idx, row) in rows.iter().enumerate() {
        let row_no = row_idx + 1;
        let Value::Array(row) = row else {
            return Err(BadInput::new(format!(
                "{name}: row {row_no} is not an array of numbers (got {})",
                kind(row)
            )));
        };
        if row.is_empty() {
            return Err(BadInput::new(format!("{name}: row {row_no} is empty")));
        }
        if row_idx == 0 {
            n_cols = row.len();
        } else if row.len() != n_cols {
            return Err(BadInput::new(format!(
                "{name}: row {row_no} has {} entries, row 1 has {n_cols}",
                row.len()
            )));
        }
        for (col_idx, entry) in row.iter().enumerate() {
            let place = format!("{name}: row {row_no}, entry {}", col_idx + 1);
            let x = number(&place, entry)?;
            if x.abs() > MAX_ENTRY_MAGNITUDE {
                return Err(BadInput::new(format!(
                    "{place}: {} is too large (the limit is {MAX_ENTRY_MAGNITUDE:e} in magnitude)",
                    show(x)
                )));
            }
            entries.push(x);
        }
    }
    Ok(DMatrix::from_row_slice(rows.len(), n_cols, &entries))
}

/// Σxx: an `n_in × n_in` symmetric matrix.
fn covariance(value: &Value, n_in: usize) -> Result<DMatrix<f64>, BadInput> {
    let sxx = matrix("sigma_xx", value)?;
    if sxx.shape() != (n_in, n_in) {
        return Err(BadInput::new(format!(
            "sigma_xx: expected {n_in}x{n_in} (Ni x Ni, Ni = columns of w1), got {}x{}",
            sxx.nrows(),
            sxx.ncols()
        )));
    }
    let asymmetry = (&sxx - sxx.transpose()).amax();
    if asymmetry > 1e-10 * sxx.amax().max(1.0) {
        return Err(BadInput::new(format!(
            "sigma_xx: must be symmetric (largest |sigma_xx - sigma_xx^T| entry is {asymmetry:.3e})"
        )));
    }
    Ok(sxx)
}

/// Times: a non-empty array of finite, non-negative numbers in ascending order (ties allowed).
fn times(value: &Value) -> Result<Vec<f64>, BadInput> {
    let Value::Array(entries) = value else {
        return Err(BadInput::new(format!(
            "times: expected an array of numbers, got {}",
            kind(value)
        )));
    };
    if entries.is_empty() {
        return Err(BadInput::new("times: is empty; give at least one time"));
    }
    let mut times = Vec::with_capacity(entries.len());
    for (idx, entry) in entries.iter().enumerate() {
        let entry_no = idx + 1;
        let t = number(&format!("times: entry {entry_no}"), entry)?;
        if t < 0.0 {
            return Err(BadInput::new(format!(
                "times: entry {entry_no} is negative ({})",
                show(t)
            )));
        }
        if let Some(&previous) = times.last()
            && t < previous
        {
            return Err(BadInput::new(format!(
                "times: must be in ascending order, but entry {entry_no} ({}) is smaller than \
                 entry {idx} ({})",
                show(t),
                show(previous)
            )));
        }
        times.push(t);
    }
    Ok(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1_LIKE: &str = r#"{"w1": [[1, 0], [0, 1]], "w2": [[1, 0], [0, 1]],
        "sigma_yx": [[2, 0.5], [0, 1]], "times": [0, 1, 5], "method": "closed-form"}"#;

    fn with(extra: &str) -> String {
        G1_LIKE.replacen('{', &format!("{{{extra},"), 1)
    }

    fn err(text: &str) -> String {
        match parse(text) {
            Ok(input) => panic!("expected an error, parsed {input:?}"),
            Err(BadInput(message)) => message,
        }
    }

    #[test]
    fn parses_a_minimal_problem_with_defaults() {
        let input = parse(G1_LIKE).unwrap();
        assert_eq!(input.net.widths(), vec![2, 2, 2]);
        assert_eq!(input.problem.sigma_yx[(0, 1)], 0.5);
        assert_eq!(input.problem.tau, DEFAULT_TAU);
        assert_eq!(input.problem.sigma_xx, None);
        assert_eq!(input.times, vec![0.0, 1.0, 5.0]);
        assert_eq!(input.method, Method::ClosedForm);
    }

    #[test]
    fn matrices_are_row_major() {
        let input = parse(
            r#"{"w1": [[1, 2, 3], [4, 5, 6]], "w2": [[1, 0]], "sigma_yx": [[1, 2, 3]],
                "times": [0], "method": "rk4"}"#,
        )
        .unwrap();
        let w1 = &input.net.layers[0];
        assert_eq!(w1.shape(), (2, 3));
        assert_eq!((w1[(0, 2)], w1[(1, 0)]), (3.0, 4.0));
        assert_eq!(input.method, Method::Rk4 { dt: DEFAULT_DT });
    }

    #[test]
    fn method_knobs_and_optional_fields() {
        let text = with(r#""tau": 2, "trace_sigma_yy": 7, "sigma_xx": [[1, 0], [0, 1]]"#)
            .replace("closed-form", "gd")
            .replacen('{', r#"{"lr": 0.01,"#, 1);
        let input = parse(&text).unwrap();
        assert_eq!(input.method, Method::GradientDescent { lr: 0.01 });
        assert_eq!(input.problem.tau, 2.0);
        assert_eq!(input.problem.trace_sigma_yy, Some(7.0));
        assert!(input.problem.sigma_xx.is_some());
    }

    #[test]
    fn errors_name_the_field() {
        assert_eq!(
            err(&with(r#""methd": 1"#)).split(';').next().unwrap(),
            "methd: unknown field (did you mean \"method\"?)"
        );
        assert_eq!(err(&with(r#""w1": 1"#)), "w1: field given twice");
        assert_eq!(
            err(&G1_LIKE.replace("[[1, 0], [0, 1]], \"w2\"", "[[1, 0], [0, 1, 2]], \"w2\"")),
            "w1: row 2 has 3 entries, row 1 has 2"
        );
        assert_eq!(
            err(&G1_LIKE.replace("\"w2\": [[1, 0], [0, 1]]", "\"w2\": [[1, 0, 0], [0, 1, 0]]")),
            "w2: expected 2 columns (= rows of w1), got 3"
        );
        assert!(err(&G1_LIKE.replace("[0, 1, 5]", "[0, 5, 1]")).contains("ascending"));
        assert!(
            err(&G1_LIKE.replace("[0, 1, 5]", "[-1]")).starts_with("times: entry 1 is negative")
        );
        assert!(err(&G1_LIKE.replace("closed-form", "euler")).starts_with("method: unknown"));
        assert!(err(&with(r#""dt": 0.1"#)).starts_with("dt: only used by method \"rk4\""));
        assert!(err(&with(r#""tau": 0"#)).starts_with("tau: must be positive"));
        assert!(err("{").starts_with("invalid JSON: "));
        assert!(err("[]").starts_with("invalid JSON: invalid type: sequence"));
        assert!(err(&G1_LIKE.replace("\"times\": [0, 1, 5],", "")).starts_with("times: missing"));
    }

    #[test]
    fn too_many_steps_is_refused() {
        let text = G1_LIKE.replace("closed-form", "rk4").replace("[0, 1, 5]", "[0, 1e12]");
        assert!(
            err(&text).starts_with("dt: reaching t = 1e12 with dt = 0.001 takes 1.000e15 steps")
        );
    }

    #[test]
    fn numbers_in_messages_are_readable() {
        assert_eq!(show(0.001), "0.001");
        assert_eq!(show(-1.0), "-1");
        assert_eq!(show(0.0), "0");
        assert_eq!(show(1e-9), "1e-9");
        assert_eq!(show(1e300), "1e300");
    }

    #[test]
    fn huge_entries_are_refused() {
        let message = err(&G1_LIKE.replace("[[2, 0.5]", "[[2e60, 0.5]"));
        assert_eq!(
            message,
            "sigma_yx: row 1, entry 1: 2e60 is too large (the limit is 1e30 in magnitude)"
        );
    }

    #[test]
    fn deep_aligned_descriptions_take_the_deep_path() {
        let deep = r#"{"widths": [3, 3, 3, 3], "init": {"kind": "aligned", "lambdas": [0.5, 0],
            "scale": 0.3, "seed": 2}, "task": {"kind": "random", "samples": 16},
            "times": [0, 1], "method": "closed-form"}"#;
        let input = parse(deep).unwrap();
        assert_eq!(input.net.depth(), 3);
        assert_eq!(input.method, Method::ClosedForm);
        let init = input.deep.as_ref().unwrap();
        assert_eq!(init.lambdas, vec![0.5, 0.0]);
        // The task's tr Σyy: the loss is the dataset's.
        assert!(init.trace_sigma_yy.is_some());
        assert_eq!(input.problem.trace_sigma_yy, init.trace_sigma_yy);
        assert!(
            err(&deep.replacen('{', r#"{"dt": 0.1,"#, 1)).starts_with("dt: only used by method")
        );
        assert!(
            err(&deep.replace("\"samples\": 16}", "\"samples\": 16}, \"trace_sigma_yy\": -1"))
                .starts_with("trace_sigma_yy: must be non-negative")
        );
        // Two layers stay on the two-layer path.
        let two = deep.replace("[3, 3, 3, 3]", "[3, 3, 3]").replace("[0.5, 0]", "[0.5]");
        assert!(parse(&two).unwrap().deep.is_none());
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("methd", "method"), 1);
        assert_eq!(edit_distance("", "lr"), 2);
        assert_eq!(edit_distance("tau", "tau"), 0);
        assert_eq!(edit_distance("sigma_yx", "sigma_xy"), 2);
    }
}
