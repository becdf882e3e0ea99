//! Seeded property tests: the closed form against our own RK4 for random dimensions 1..=6
//! (equal and unequal Ni, No), λ ∈ [−5, 5] including 0, scales 0.05..2; balance conservation;
//! t → ∞ limits; symmetric PSD output. The proptest RNG is seeded (deterministic runs); failures
//! persist to `proptest-regressions/`.

use lazyrich_solver::closed_form::ClosedForm;
use lazyrich_solver::metrics::product_from_qqt;
use lazyrich_solver::simulate::{Integrator, simulate};
use lazyrich_tests::{qqt_of, random_balanced, rel_err, rk4_qqt};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// RK4 step: the fastest rates here are ≈ |λ| + 2σ² ≈ 13, so dt = 5e-4 keeps the RK4 error
/// (∝ (rate·dt)⁴) well below the 1e-7 tolerance.
const RK4_DT: f64 = 5e-4;

fn lambda_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), -5.0..5.0f64]
}

fn runner(cases: u32) -> TestRunner {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]))
}

#[test]
fn closed_form_agrees_with_rk4() {
    let strategy = (1usize..=6, 1usize..=6, lambda_strategy(), 0.05..2.0f64, any::<u64>());
    runner(128)
        .run(&strategy, |(n_in, n_out, lambda, sigma, seed)| {
            let (net, problem) = random_balanced(n_in, n_out, lambda, sigma, seed);
            let cf = match ClosedForm::new(&net, &problem) {
                Ok(cf) => cf,
                // A numerically singular B is a legitimate outcome (e.g. an unlucky Σyx);
                // it is covered by its own tests.
                Err(err) if err.status().is_some() => return Ok(()),
                Err(err) => return Err(TestCaseError::fail(err.to_string())),
            };
            let times = [0.0, 0.5, 1.5, 3.0];
            let reference = rk4_qqt(&net, &problem, &times, RK4_DT);
            for (t, want) in times.iter().zip(&reference) {
                let got = cf.qqt(*t).unwrap();
                let err = rel_err(&got, want, 1e-12);
                prop_assert!(err < 1e-7, "({n_in},{n_out}) λ {lambda} σ {sigma} t {t}: {err:e}");
                prop_assert!((&got - got.transpose()).amax() == 0.0, "symmetric");
                let eig = got.symmetric_eigen().eigenvalues;
                prop_assert!(eig.min() >= -1e-12 * eig.amax().max(1.0), "PSD");
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn balance_is_conserved_and_limits_hold() {
    let strategy = (1usize..=6, 1usize..=6, lambda_strategy(), 0.05..2.0f64, any::<u64>());
    runner(128)
        .run(&strategy, |(n_in, n_out, lambda, sigma, seed)| {
            let (net, problem) = random_balanced(n_in, n_out, lambda, sigma, seed);
            let b0 = net.balance(0);
            let mut drift: f64 = 0.0;
            simulate(&net, &problem, Integrator::Rk4 { dt: RK4_DT }, &[1.0, 2.0], |_, state| {
                drift = drift.max((state.balance(0) - &b0).norm() / b0.norm().max(1.0));
            })
            .unwrap();
            prop_assert!(drift < 1e-8, "balance drift {drift:e}");
            let Ok(cf) = ClosedForm::new(&net, &problem) else { return Ok(()) };
            let start = rel_err(&cf.qqt(0.0).unwrap(), &qqt_of(&net), 1e-300);
            prop_assert!(start < 1e-13, "t = 0: {start:e}");
            let late = cf.qqt(1e9).unwrap();
            let product = product_from_qqt(&late, n_in);
            let err = rel_err(&product, &problem.sigma_yx, 0.0);
            prop_assert!(err < 1e-10, "t → ∞ product: {err:e}");
            prop_assert!((cf.steady_state() - &late).amax() < 1e-10 * late.amax().max(1.0));
            Ok(())
        })
        .unwrap();
}
