use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::aligned::AlignedMode;
use crate::init::{ProductBases, ProductValues, balanced_factors_layers, mode_chain_layers};
use crate::linalg::gaussian_matrix;
use crate::simulate::{Integrator, simulate};

/// Signed initial values of a chain with product magnitude `a`, the sign pattern `signs`.
fn chain(lambdas: &[f64], a: f64, signs: &[f64]) -> Vec<f64> {
    mode_chain_layers(lambdas, a).iter().zip(signs).map(|(sq, s)| s * sq.sqrt()).collect()
}

/// RK4 of the per-layer chain `τ ȧ_l = (s̃ − p) Π_{k≠l} a_k` to each of `times`.
fn rk4_chain(s: f64, a0: &[f64], tau: f64, times: &[f64], dt: f64) -> Vec<Vec<f64>> {
    let rate = |a: &[f64]| -> Vec<f64> {
        let p: f64 = a.iter().product();
        (0..a.len())
            .map(|l| {
                let others: f64 =
                    a.iter().enumerate().filter(|&(k, _)| k != l).map(|(_, x)| x).product();
                (s - p) * others / tau
            })
            .collect()
    };
    let mut a = a0.to_vec();
    let mut now = 0.0;
    let mut out = Vec::new();
    for &t in times {
        let n = ((t - now) / dt).ceil().max(0.0) as usize;
        if n > 0 {
            let h = (t - now) / n as f64;
            for _ in 0..n {
                let k1 = rate(&a);
                let y: Vec<f64> = a.iter().zip(&k1).map(|(x, k)| x + 0.5 * h * k).collect();
                let k2 = rate(&y);
                let y: Vec<f64> = a.iter().zip(&k2).map(|(x, k)| x + 0.5 * h * k).collect();
                let k3 = rate(&y);
                let y: Vec<f64> = a.iter().zip(&k3).map(|(x, k)| x + h * k).collect();
                let k4 = rate(&y);
                for l in 0..a.len() {
                    a[l] += h / 6.0 * (k1[l] + 2.0 * k2[l] + 2.0 * k3[l] + k4[l]);
                }
            }
        }
        now = t;
        out.push(a.clone());
    }
    out
}

fn values_at(mode: &DeepAlignedMode, times: &[f64]) -> Vec<Vec<f64>> {
    let depth = mode.all_offsets.len();
    mode.trajectory(times)
        .unwrap()
        .iter()
        .map(|&c| {
            let mut v = vec![0.0; depth];
            mode.layer_values(c, &mut v);
            v
        })
        .collect()
}

#[test]
fn depth_two_equals_the_two_layer_aligned_closed_form() {
    let times = [0.0, 1e-3, 0.3, 1.0, 4.0, 20.0, 1e3, 1e12];
    for lambda in [-4.0, -1.0, 0.0, 1e-3, 1.0, 4.0, 200.0] {
        for a0 in [0.01, 0.3, 1.5, 2.5, -0.2, 0.0, 1e-8] {
            for tau in [1.0, 2.5] {
                let exact = AlignedMode::new(1.5, a0, lambda, tau).unwrap();
                let sign = if a0 < 0.0 { -1.0 } else { 1.0 };
                let init = chain(&[lambda], a0.abs(), &[sign, 1.0]);
                let mode = DeepAlignedMode::new(1.5, &init, &[lambda], tau).unwrap();
                let cs = mode.trajectory(&times).unwrap();
                for (&t, &c) in times.iter().zip(&cs) {
                    let (ours, theirs) = (mode.strength(c), exact.value(t));
                    assert!(
                        (ours - theirs).abs() <= 1e-12 * theirs.abs().max(1.0),
                        "lambda {lambda} a0 {a0} tau {tau} t {t}: {ours} vs {theirs}"
                    );
                }
            }
        }
    }
}

#[test]
fn depth_one_is_the_exponential() {
    let mode = DeepAlignedMode::new(2.0, &[0.5], &[], 3.0).unwrap();
    for t in [0.0, 0.1, 1.0, 10.0, 100.0] {
        let c = mode.trajectory(&[t]).unwrap()[0];
        let exact = 2.0 + (0.5 - 2.0) * (-t / 3.0f64).exp();
        assert!((c - exact).abs() < 1e-13, "t {t}: {c} vs {exact}");
    }
}

/// The cases of docs/math.md §3.6 against RK4 of the per-layer chain: depths 3, 4, 6, λ_l of
/// mixed signs and zeros, small, moderate and large products, both signs of the coordinate.
#[test]
fn deep_modes_match_rk4_of_the_layer_chain() {
    let profiles: &[&[f64]] = &[
        &[0.0, 0.0],
        &[0.5, -0.3],
        &[-1.0, 0.0],
        &[0.0, 0.7],
        &[0.4, 0.0, -0.4],
        &[1.0, -2.0, 0.5],
        &[0.0, 0.0, 0.0],
        &[0.3, -0.1, 0.0, 0.2, -0.5],
        &[0.0; 5],
    ];
    let times = [0.0, 0.05, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0];
    for (case, lambdas) in profiles.iter().enumerate() {
        let depth = lambdas.len() + 1;
        for (a, s_task) in [(0.05, 1.5), (0.4, 0.8), (3.0, 1.0), (0.9, 0.0)] {
            for flip in [false, true] {
                let mut signs = vec![1.0; depth];
                if flip {
                    signs[case % depth] = -1.0;
                }
                let init = chain(lambdas, a, &signs);
                let mode = DeepAlignedMode::new(s_task, &init, lambdas, 1.3).unwrap();
                let ours = values_at(&mode, &times);
                let reference = rk4_chain(s_task, &init, 1.3, &times, 2e-4);
                for ((t, x), y) in times.iter().zip(&ours).zip(&reference) {
                    for l in 0..depth {
                        let scale = y.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                        assert!(
                            (x[l] - y[l]).abs() <= 1e-10 * scale,
                            "lambdas {lambdas:?} a {a} s {s_task} flip {flip} t {t} layer {l}: \
                             {x:?} vs {y:?}"
                        );
                    }
                    // The balances are conserved exactly by construction.
                    for l in 0..depth - 1 {
                        let balance = x[l + 1] * x[l + 1] - x[l] * x[l];
                        assert!((balance - lambdas[l]).abs() < 1e-12 * (1.0 + a * a));
                    }
                }
            }
        }
    }
}

#[test]
fn special_starts_and_limits() {
    let tau = 1.0;
    // c0 = c*: nothing moves.
    let lambdas = [0.5, -0.2];
    let at_rest = chain(&lambdas, 1.2, &[1.0, 1.0, 1.0]);
    let mode = DeepAlignedMode::new(1.2, &at_rest, &lambdas, tau).unwrap();
    for c in mode.trajectory(&[0.0, 1.0, 1e9]).unwrap() {
        assert!((mode.strength(c) - 1.2).abs() < 1e-14);
    }
    // A vanishing mode with Q(0) = 0 (ties at λ = 0) stays at zero.
    let zero = [0.0, 0.0, 0.0];
    let mode = DeepAlignedMode::new(1.2, &zero, &[0.0, 0.0], tau).unwrap();
    assert_eq!(mode.trajectory(&[0.0, 5.0, 1e12]).unwrap(), vec![0.0, 0.0, 0.0]);
    // A vanishing mode with Q(0) > 0 is learned, like RK4 says.
    let lambdas = [0.6, 0.3];
    let init = chain(&lambdas, 0.0, &[1.0, 1.0, 1.0]);
    let mode = DeepAlignedMode::new(1.2, &init, &lambdas, tau).unwrap();
    let times = [0.0, 0.5, 2.0, 6.0];
    let ours = values_at(&mode, &times);
    let reference = rk4_chain(1.2, &init, tau, &times, 1e-4);
    for (x, y) in ours.iter().zip(&reference) {
        for l in 0..3 {
            assert!((x[l] - y[l]).abs() < 1e-10, "{x:?} vs {y:?}");
        }
    }
    let far = mode.trajectory(&[1e12]).unwrap()[0];
    assert!((mode.strength(far) - 1.2).abs() < 1e-13);
    // A negative mode with Q(0) = 0 decays onto the saddle; with Q(0) > 0 it crosses.
    let saddle = chain(&[0.0, 0.0, 0.0], 0.2, &[-1.0, 1.0, 1.0, 1.0]);
    let mode = DeepAlignedMode::new(1.2, &saddle, &[0.0, 0.0, 0.0], tau).unwrap();
    assert_eq!(mode.limit(), 0.0);
    let cs = mode.trajectory(&[0.0, 1.0, 10.0, 1e3, 1e12]).unwrap();
    assert!(cs.windows(2).all(|w| w[0] < 0.0 && w[1] >= w[0] && w[1] <= 0.0), "{cs:?}");
    let crossing = chain(&[0.5, 0.5], 0.3, &[-1.0, 1.0, 1.0]);
    let mode = DeepAlignedMode::new(1.2, &crossing, &[0.5, 0.5], tau).unwrap();
    let far = mode.trajectory(&[0.0, 1e6]).unwrap()[1];
    assert!((mode.strength(far) - 1.2).abs() < 1e-13);
    // s̃ = 0: every mode decays to zero (algebraically when two layers tie).
    for lambdas in [[0.0, 0.0], [0.4, -0.1]] {
        let init = chain(&lambdas, 0.7, &[1.0, -1.0, 1.0]);
        let mode = DeepAlignedMode::new(0.0, &init, &lambdas, tau).unwrap();
        let times = [0.0, 0.3, 3.0, 30.0];
        let ours = values_at(&mode, &times);
        let reference = rk4_chain(0.0, &init, tau, &times, 1e-4);
        for (x, y) in ours.iter().zip(&reference) {
            for l in 0..3 {
                assert!((x[l] - y[l]).abs() < 1e-10, "{lambdas:?}: {x:?} vs {y:?}");
            }
        }
        let far = mode.trajectory(&[1e12]).unwrap()[0];
        assert!(mode.strength(far).abs() < 1e-5, "{far}");
    }
}

/// The loss of every mode never increases, and a long time reaches the limit.
#[test]
fn the_mode_loss_is_monotone_and_the_limit_is_reached() {
    let times: Vec<f64> = (0..400).map(|k| 0.05 * f64::from(k)).chain([1e4, 1e8, 1e12]).collect();
    for lambdas in [&[0.0, 0.0, 0.0][..], &[2.0, -1.0, 0.0], &[-0.5, -0.5, 3.0]] {
        for a in [1e-3, 0.2, 5.0] {
            let init = chain(lambdas, a, &[1.0; 4]);
            let mode = DeepAlignedMode::new(1.7, &init, lambdas, 1.0).unwrap();
            let cs = mode.trajectory(&times).unwrap();
            let losses: Vec<f64> = cs.iter().map(|&c| (1.7 - mode.strength(c)).powi(2)).collect();
            assert!(
                losses.windows(2).all(|w| w[1] <= w[0] * (1.0 + 1e-12) + 1e-30),
                "{lambdas:?} {a}: {losses:?}"
            );
            assert!((mode.strength(*cs.last().unwrap()) - 1.7).abs() < 1e-12);
        }
    }
}

/// Huge balances: the lazy limit, a fast exponential (and no step budget as in a simulation).
#[test]
fn large_balances_are_exact_and_fast() {
    for lambdas in [[50.0, 50.0], [-50.0, 20.0], [1e4, -1e4]] {
        let init = chain(&lambdas, 0.3, &[1.0; 3]);
        let mode = DeepAlignedMode::new(1.0, &init, &lambdas, 1.0).unwrap();
        // K = Σ_l Π_{k≠l} a_k² at the fixed point: the rate of the final exponential.
        let times = [0.0, 1e-4, 1e-3, 1e-2];
        let ours = values_at(&mode, &times);
        let dt = 1e-3 / (lambdas[0].abs() * lambdas[1].abs()).max(1.0);
        let reference = rk4_chain(1.0, &init, 1.0, &times, dt.max(1e-7));
        for (x, y) in ours.iter().zip(&reference) {
            let p: f64 = x.iter().product();
            let q: f64 = y.iter().product();
            assert!((p - q).abs() < 1e-9, "{lambdas:?}: {p} vs {q}");
        }
        let far = mode.trajectory(&[1e3]).unwrap()[0];
        assert!((mode.strength(far) - 1.0).abs() < 1e-13);
    }
}

/// The network solver against the adaptive simulation at tolerance 1e-12: depths 3, 4 and 6,
/// per-layer λ of mixed signs and zeros, wider hidden layers, small and large scales.
#[test]
fn deep_aligned_networks_match_the_adaptive_simulation() {
    let cases: &[(&[usize], &[f64], f64)] = &[
        (&[3, 3, 3, 3], &[0.0, 0.0], 0.3),
        (&[3, 3, 3, 3], &[0.5, -0.3], 0.05),
        (&[2, 4, 4, 5], &[0.4, 0.0], 0.5),
        (&[4, 4, 3, 3, 2], &[-0.2, 0.0, -0.6], 0.4),
        (&[3, 3, 3, 3, 3], &[1.0, -2.0, 0.5], 1.5),
        (&[2, 2, 2, 2, 2, 2, 2], &[0.3, -0.1, 0.0, 0.2, -0.5], 0.6),
    ];
    let times: Vec<f64> = (0..=20).map(|k| 0.5 * f64::from(k)).collect();
    for (seed, &(widths, lambdas, sigma)) in cases.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(100 + seed as u64);
        let depth = widths.len() - 1;
        let sigma_yx = gaussian_matrix(widths[depth], widths[0], 1.0, &mut rng);
        let factors = balanced_factors_layers(
            widths,
            lambdas,
            ProductValues::GaussianProduct { sigma },
            ProductBases::TaskAligned(&sigma_yx),
            &mut rng,
        )
        .unwrap();
        let net = factors.network().unwrap();
        let problem = Problem::whitened(sigma_yx);
        let exact = DeepAligned::new(factors, lambdas, &problem).unwrap();
        let mut ours = Vec::new();
        exact.networks(&times, |_, n| ours.push(n.clone())).unwrap();
        let mut simulated = Vec::new();
        simulate(&net, &problem, Integrator::adaptive(1e-12), &times, |_, n| {
            simulated.push(n.clone())
        })
        .unwrap();
        for ((t, x), y) in times.iter().zip(&ours).zip(&simulated) {
            for (l, (a, b)) in x.layers.iter().zip(&y.layers).enumerate() {
                let err = (a - b).norm() / b.norm().max(1e-300);
                assert!(err < 1e-9, "{widths:?} {lambdas:?} t {t} layer {l}: {err:e}");
            }
        }
    }
}

#[test]
fn bad_inputs_are_refused() {
    assert!(DeepAlignedMode::new(1.0, &[], &[], 1.0).is_err());
    assert!(DeepAlignedMode::new(1.0, &[1.0, 1.0], &[], 1.0).is_err());
    assert!(DeepAlignedMode::new(-1.0, &[1.0], &[], 1.0).is_err());
    assert!(DeepAlignedMode::new(1.0, &[1.0, 1.0], &[0.5], 1.0).is_err());
    assert!(DeepAlignedMode::new(f64::NAN, &[1.0], &[], 1.0).is_err());
    let mode = DeepAlignedMode::new(1.0, &[0.1, 0.1], &[0.0], 1.0).unwrap();
    assert!(mode.trajectory(&[1.0, 0.5]).is_err());
    assert!(mode.trajectory(&[f64::INFINITY]).is_err());
}

/// The Gauss–Kronrod tables: each rule integrates the monomials of its degree exactly.
#[test]
fn quadrature_rules_integrate_polynomials_exactly() {
    let exact = |k: i32| if k % 2 == 1 { 0.0 } else { 2.0 / f64::from(k + 1) };
    let rule = |nodes: &[f64], weights: &[f64], k: i32| {
        let last = nodes.len() - 1;
        (0..=last)
            .map(|i| {
                let x = nodes[i];
                let pair = if i == last { x.powi(k) } else { x.powi(k) + (-x).powi(k) };
                weights[i] * pair
            })
            .sum::<f64>()
    };
    let g7 = [XGK[1], XGK[3], XGK[5], XGK[7]];
    for k in 0..=22 {
        assert!((rule(&XGK, &WGK, k) - exact(k)).abs() < 1e-15, "K15 x^{k}");
        if k <= 13 {
            assert!((rule(&g7, &WG, k) - exact(k)).abs() < 1e-15, "G7 x^{k}");
        }
        if k <= 10 {
            assert!((rule(&XK7, &WK7, k) - exact(k)).abs() < 1e-15, "K7 x^{k}");
        }
        if k <= 5 {
            let g3 = rule(&[XK7[1], 0.0], &[5.0 / 9.0, 8.0 / 9.0], k);
            assert!((g3 - exact(k)).abs() < 1e-15, "G3 x^{k}");
        }
    }
}

/// No input hangs or panics: extreme products, balances, task values and times give finite
/// values or a typed error (docs/math.md P15), never a NaN.
#[test]
fn extreme_inputs_give_finite_values_or_errors() {
    use rand::Rng;
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let times = [0.0, 1e-300, 1e-8, 1.0, 1e3, 1e12, 1e300];
    let mut errors = 0;
    for _ in 0..400 {
        let depth = rng.random_range(1..=6);
        let lambdas: Vec<f64> = (0..depth - 1)
            .map(|_| match rng.random_range(0..4) {
                0 => 0.0,
                1 => rng.random_range(-1.0..1.0),
                2 => {
                    10f64.powf(rng.random_range(-8.0..4.0)) * if rng.random() { 1.0 } else { -1.0 }
                }
                _ => 10f64.powf(rng.random_range(-30.0..30.0)),
            })
            .collect();
        let a = if rng.random_range(0..6) == 0 {
            0.0
        } else {
            10f64.powf(rng.random_range(-40.0..40.0))
        };
        let signs: Vec<f64> = (0..depth).map(|_| if rng.random() { 1.0 } else { -1.0 }).collect();
        let s_task = match rng.random_range(0..4) {
            0 => 0.0,
            _ => 10f64.powf(rng.random_range(-40.0..40.0)),
        };
        let tau = 10f64.powf(rng.random_range(-3.0..3.0));
        let init = chain(&lambdas, a, &signs);
        if init.iter().any(|x| !x.is_finite()) {
            continue;
        }
        let mode = match DeepAlignedMode::new(s_task, &init, &lambdas, tau) {
            Ok(mode) => mode,
            Err(err) => {
                assert!(err.status().is_some(), "{err}");
                errors += 1;
                continue;
            }
        };
        match mode.trajectory(&times) {
            Ok(cs) => {
                for c in cs {
                    let mut values = vec![0.0; depth];
                    mode.layer_values(c, &mut values);
                    assert!(
                        c.is_finite() && values.iter().all(|v| !v.is_nan()),
                        "{lambdas:?} a {a} s {s_task} tau {tau}: c = {c}"
                    );
                }
            }
            Err(err) => {
                assert!(err.status().is_some(), "{err}");
                errors += 1;
            }
        }
    }
    // Measured: 3 of 400 (tails so deep that Q is subnormal) are `inaccurate`.
    assert!(errors <= 8, "{errors} of 400 failed");
}
