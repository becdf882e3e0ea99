//! The JSON document `lazyrich solve` prints (its field names are a stable interface).

use nalgebra::DMatrix;
use serde::Serialize;

/// The whole output: a status, λ and the points computed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SolveOutput {
    /// `"ok"`, or the solver's status (`"singular"`, `"diverged"`, ...) when the trajectory
    /// stopped early; `points` then holds the times computed before.
    pub status: &'static str,
    /// The method used: `"closed-form"`, `"rk4"` or `"gd"`.
    pub method: &'static str,
    /// λ = mean diagonal of `W2ᵀW2 − W1W1ᵀ` at t = 0; deep: the mean over hidden layers of
    /// `λ_l = tr B_l / N_l` (the dataset's `lambda_measured`).
    pub lambda: f64,
    /// Deep: `λ_l = tr B_l / N_l` of every hidden layer at t = 0, `B_l = W_{l+1}ᵀW_{l+1} −
    /// W_l W_lᵀ`, layer 1 first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lambdas: Option<Vec<f64>>,
    /// How far `B = W2ᵀW2 − W1W1ᵀ` at t = 0 is from `λI`: `‖B − λI‖_F / ‖B‖_F` (the dataset's
    /// `balance_defect`, docs/math.md §2.2); omitted when B is zero to rounding. Deep: the worst
    /// layer's, omitted when one `B_l` is zero to rounding (as the dataset's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_defect: Option<f64>,
    /// The same per entry, `‖B − λI‖_F / Nh` (the dataset's `balance_entry_defect`); deep: the
    /// worst layer's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_entry_defect: Option<f64>,
    /// Why the status is not `"ok"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Simulations: the number of integrator steps taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n_steps: Option<u64>,
    /// A problem given as a description (`widths`, `init`, `task`): the weights at t = 0 it
    /// built…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w1: Option<Vec<Vec<f64>>>,
    /// …the second layer…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub w2: Option<Vec<Vec<f64>>>,
    /// …and Σyx.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_yx: Option<Vec<Vec<f64>>>,
    /// Deep: the layers at t = 0, input layer first, each `N_l × N_{l−1}` (instead of `w1`,
    /// `w2`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<Vec<Vec<f64>>>>,
    /// One entry per requested time, in order.
    pub points: Vec<Point>,
}

/// The state at one time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    /// The time; for gradient descent, `k·lr·τ` of the step k actually used.
    pub t: f64,
    /// `QQᵀ = [[W1ᵀW1, W1ᵀW2ᵀ], [W2W1, W2W2ᵀ]]`, `(Ni+No) × (Ni+No)`, row-major; two layers
    /// only (omitted for a deep network).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qqt: Option<Vec<Vec<f64>>>,
    /// The loss (`metrics::Objective::loss_from_qqt`).
    pub loss: f64,
    /// Kernel distance between the NTK at t = 0 and at t.
    pub kernel_distance: f64,
    /// Singular values of the network function (`W2W1`, or `W_L⋯W_1`), descending.
    pub singular_values: Vec<f64>,
    /// Simulations: `‖B(t) − B(0)‖_F` with `B = W2ᵀW2 − W1W1ᵀ` (zero for the exact flow).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_drift: Option<f64>,
    /// Deep: every layer at `t`, input layer first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<Vec<Vec<f64>>>>,
}

impl Point {
    /// Whether every number in the point is finite (JSON has no NaN or infinity).
    pub fn is_finite(&self) -> bool {
        self.t.is_finite()
            && self.loss.is_finite()
            && self.kernel_distance.is_finite()
            && self.qqt.iter().flatten().flatten().all(|x| x.is_finite())
            && self.weights.iter().flatten().flatten().flatten().all(|x| x.is_finite())
            && self.singular_values.iter().all(|x| x.is_finite())
            && self.balance_drift.is_none_or(f64::is_finite)
    }
}

/// A matrix as nested rows.
pub fn rows(m: &DMatrix<f64>) -> Vec<Vec<f64>> {
    m.row_iter().map(|row| row.iter().copied().collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_row_major() {
        let m = DMatrix::from_row_slice(2, 3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!(rows(&m), vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
    }

    #[test]
    fn optional_fields_are_omitted() {
        let out = SolveOutput {
            status: "ok",
            method: "closed-form",
            lambda: 1.0,
            lambdas: None,
            balance_defect: None,
            balance_entry_defect: None,
            message: None,
            n_steps: None,
            w1: None,
            w2: None,
            sigma_yx: None,
            weights: None,
            points: vec![Point {
                t: 0.0,
                qqt: Some(vec![vec![1.0]]),
                loss: 0.5,
                kernel_distance: 0.0,
                singular_values: vec![1.0],
                balance_drift: None,
                weights: None,
            }],
        };
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(
            json,
            r#"{"status":"ok","method":"closed-form","lambda":1.0,"points":[{"t":0.0,"qqt":[[1.0]],"loss":0.5,"kernel_distance":0.0,"singular_values":[1.0]}]}"#
        );
    }
}
