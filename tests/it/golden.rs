//! Golden values G1–G3 (docs/golden.md; independent numpy reference, agreeing with RK4 to 1e-14).
//! Tolerance: 1e-10 absolute on every entry.

use lazyrich_solver::aligned::AlignedMode;
use lazyrich_solver::closed_form::ClosedForm;
use lazyrich_tests::{golden_g1, golden_g2, rk4_qqt};
use nalgebra::DMatrix;

fn assert_entries(actual: &DMatrix<f64>, expected: &[f64], tol: f64, what: &str) {
    let n = actual.nrows();
    let expected = DMatrix::from_row_slice(n, n, expected);
    let err = (actual - &expected).amax();
    assert!(err < tol, "{what}: max abs error {err:e}\nactual {actual}expected {expected}");
}

const G1_T1: [f64; 16] = [
    1.41499639168,
    0.307440200727,
    1.872827350227,
    0.065179547504, //
    0.307440200727,
    0.457704792301,
    0.445457530261,
    0.750523507262, //
    1.872827350227,
    0.445457530261,
    2.482592714937,
    0.158873602912, //
    0.065179547504,
    0.750523507262,
    0.158873602912,
    1.390108469043,
];
const G1_T5: [f64; 16] = [
    1.538064143109e+00,
    3.102977812490e-01,
    1.999997541047e+00,
    1.664130445408e-05, //
    3.102977812490e-01,
    6.847449054084e-01,
    5.000075430930e-01,
    9.999488290854e-01, //
    1.999997541047e+00,
    5.000075430930e-01,
    2.615638563159e+00,
    1.551488879081e-01, //
    1.664130445408e-05,
    9.999488290854e-01,
    1.551488879081e-01,
    1.607170485358e+00,
];
const G2_T1: [f64; 25] = [
    0.991038731565,
    0.24662614796,
    -0.309917040212,
    0.800877284944,
    0.045902122085, //
    0.24662614796,
    0.737162050728,
    0.234001083165,
    0.260632387694,
    0.471676357193, //
    -0.309917040212,
    0.234001083165,
    0.240156313807,
    -0.222214561921,
    0.197541553513, //
    0.800877284944,
    0.260632387694,
    -0.222214561921,
    0.652769936272,
    0.078863304189, //
    0.045902122085,
    0.471676357193,
    0.197541553513,
    0.078863304189,
    0.315587159829,
];
const G2_T5: [f64; 25] = [
    1.192040253981,
    0.271837708022,
    -0.332552269997,
    1.000315600166,
    0.093783217942, //
    0.271837708022,
    0.740340677964,
    0.398771965488,
    0.199575068238,
    0.609112955507, //
    -0.332552269997,
    0.398771965488,
    0.424835243341,
    -0.299034166687,
    0.385040286473, //
    1.000315600166,
    0.199575068238,
    -0.299034166687,
    0.840628277299,
    0.053971301633, //
    0.093783217942,
    0.609112955507,
    0.385040286473,
    0.053971301633,
    0.516587897987,
];

#[test]
fn g1_initial_weights() {
    let (net, _) = golden_g1();
    let w1 = DMatrix::from_row_slice(
        2,
        2,
        &[0.042875705674, -0.15206279321, 0.225566990198, -0.130978069009],
    );
    let w2 = DMatrix::from_row_slice(
        2,
        2,
        &[0.783568011625, 0.676769422788, -0.641079238764, 0.781037047782],
    );
    assert!((&net.layers[0] - w1).amax() < 1e-11);
    assert!((&net.layers[1] - w2).amax() < 1e-11);
    assert!((net.lambdas()[0] - 1.0).abs() < 1e-14);
}

#[test]
fn g1_closed_form() {
    let (net, problem) = golden_g1();
    let cf = ClosedForm::new(&net, &problem).unwrap();
    assert_entries(&cf.qqt(1.0).unwrap(), &G1_T1, 1e-10, "G1 t=1");
    assert_entries(&cf.qqt(5.0).unwrap(), &G1_T5, 1e-10, "G1 t=5");
}

#[test]
fn g1_rk4_agrees_with_the_golden_values() {
    let (net, problem) = golden_g1();
    let qqts = rk4_qqt(&net, &problem, &[1.0, 5.0], 1e-3);
    assert_entries(&qqts[0], &G1_T1, 1e-10, "G1 RK4 t=1");
    assert_entries(&qqts[1], &G1_T5, 1e-10, "G1 RK4 t=5");
}

#[test]
fn g2_initial_weights() {
    let (net, _) = golden_g2();
    let w1 = DMatrix::from_row_slice(
        2,
        3,
        &[
            0.142749197781,
            0.781808950738,
            0.204405058102,
            -0.726582832371,
            -0.035781829335,
            0.29877804499,
        ],
    );
    let w2 = DMatrix::from_row_slice(
        2,
        2,
        &[0.32705496048, -0.318589925348, 0.25771893513, 0.130275597263],
    );
    assert!((&net.layers[0] - w1).amax() < 1e-11);
    assert!((&net.layers[1] - w2).amax() < 1e-11);
}

#[test]
fn g2_closed_form_funnel() {
    let (net, problem) = golden_g2();
    let cf = ClosedForm::new(&net, &problem).unwrap();
    assert_entries(&cf.qqt(1.0).unwrap(), &G2_T1, 1e-10, "G2 t=1");
    let late = cf.qqt(5.0).unwrap();
    assert_entries(&late, &G2_T5, 1e-10, "G2 t=5");
    assert!((late[(3, 0)] - 1.000315600166).abs() < 1e-10, "T4");
}

#[test]
fn g2_rk4_agrees_with_the_golden_values() {
    let (net, problem) = golden_g2();
    let qqts = rk4_qqt(&net, &problem, &[1.0, 5.0], 1e-3);
    assert_entries(&qqts[0], &G2_T1, 1e-10, "G2 RK4 t=1");
    assert_entries(&qqts[1], &G2_T5, 1e-10, "G2 RK4 t=5");
}

#[test]
fn g3_aligned_mode() {
    let cases = [
        (0.0, [0.178183811182, 1.472915932271, 1.499996596107]),
        (2.0, [1.410449770237, 1.499931047117, 1.499999998617]),
        (-2.0, [1.410449770237, 1.499931047117, 1.499999998617]),
    ];
    for (lambda, expected) in cases {
        let mode = AlignedMode::new(1.5, 0.01, lambda, 1.0).unwrap();
        for (t, want) in [1.0, 3.0, 6.0].into_iter().zip(expected) {
            let got = mode.value(t);
            assert!((got - want).abs() < 1e-11, "lambda {lambda} t {t}: {got} vs {want}");
        }
    }
}
