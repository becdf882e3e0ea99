# /// script
# requires-python = ">=3.10"
# dependencies = ["numpy>=1.24"]
# ///
"""Plain numpy reference for the lazyrich speed comparison (and a correctness self-check).

Written the way a researcher would write it: straightforward numpy, vectorised where natural,
not micro-optimised. It holds

- ``lambda_balanced``: the λ-balanced initialisation of docs/math.md §2.2 (with the §2.2 numerical fix);
- ``ClosedForm``: the numerically stable closed form of docs/math.md §3.4 for a two-layer linear
  network with Nh = min(Ni, No), whitened inputs and λ-balanced weights. The setup (full SVD of
  Σyx, O₊, O₋, O⊥, P₊, N₋, N⊥, H, K⊥) runs once per trajectory; ``qqt(t)`` then forms Z, A,
  the Cholesky factor L of A, Y = L⁻¹Zᵀ and returns QQᵀ = YᵀY;
- ``gd_step`` and ``rk4_step``: one step of gradient descent / of RK4 on the gradient flow of the
  whitened two-layer net.

Conventions (docs/math.md, docs/golden.md): W1 is Nh×Ni, W2 is No×Nh, Σyx is No×Ni, the balance is
W2ᵀW2 − W1W1ᵀ = λI, and QQᵀ = [[W1ᵀW1, W1ᵀW2ᵀ], [W2W1, W2W2ᵀ]].

``python3 numpy_reference.py --check`` compares the closed form with golden values G1 and G2 of
docs/golden.md (1e-10), with an RK4 integration of the weight ODE (several shapes and λ, relative
Frobenius error < 1e-7), with the t = 0 and t → ∞ limits, and checks GD against the flow for a small
learning rate. It exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

#: Refuse P₊ (the paper's Bᵀ) when its condition number exceeds this (docs/math.md §3.4).
MAX_COND_P_PLUS = 1e12
#: Refuse P₊ when σ_min(P₊) / max(‖W1‖₂, ‖W2‖₂) falls below this (docs/math.md §3.4, pitfall P7).
MIN_REL_SIGMA_P_PLUS = 1e-12


class SingularError(ValueError):
    """P₊ = O₊ᵀQ₀ is (numerically) singular: the closed form does not apply (docs/math.md §3.3, P2)."""


# ----------------------------------------------------------------------------------------------
# Initialisation (docs/math.md §2.2)
# ----------------------------------------------------------------------------------------------


def split_singular_values(s, lam):
    """Split product singular values s into (s1, s2) with s1*s2 = s and s2² − s1² = λ.

    Uses the cancellation-free form of docs/math.md §2.2 ("numerical fix") for |λ| ≫ s.
    """
    s = np.asarray(s, dtype=float)
    s_lam = np.sqrt(s**2 + lam**2 / 4)
    if lam >= 0:
        s2_sq = s_lam + lam / 2
        s1_sq = s**2 / s2_sq
    else:
        s1_sq = s_lam - lam / 2
        s2_sq = s**2 / s1_sq
    return np.sqrt(s1_sq), np.sqrt(s2_sq)


def random_orthogonal(rng, n):
    """Q factor of the QR decomposition of an n×n Gaussian matrix (docs/math.md §2.2 step 3)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def lambda_balanced(rng, lam, n_in, n_hidden, n_out, sigma=1.0):
    """λ-balanced two-layer init (docs/math.md §2.2): returns (W1, W2), W2ᵀW2 − W1W1ᵀ = λI."""
    m = min(n_in, n_out)
    if n_hidden < m:
        raise ValueError(f"bottleneck: n_hidden={n_hidden} < min(n_in, n_out)={m}")
    if lam != 0 and n_hidden > max(n_in, n_out):
        raise ValueError("n_hidden > max(n_in, n_out) needs λ = 0")
    if n_hidden > m and lam != 0 and np.sign(lam) != np.sign(n_out - n_in):
        raise ValueError("λ has the wrong sign for n_hidden > min(n_in, n_out)")
    w1 = sigma * rng.standard_normal((n_hidden, n_in))
    w2 = sigma * rng.standard_normal((n_out, n_hidden))
    u, s, vt = np.linalg.svd(w2 @ w1, full_matrices=True)
    s = s[:m]
    r = random_orthogonal(rng, n_hidden)
    s1, s2 = split_singular_values(s, lam)
    big_s2 = np.zeros((n_out, n_hidden))
    big_s1 = np.zeros((n_hidden, n_in))
    big_s2[:m, :m] = np.diag(s2)
    big_s1[:m, :m] = np.diag(s1)
    extra = range(m, n_hidden)
    for k in extra:
        if n_out > n_in:
            big_s2[k, k] = np.sqrt(lam)
        else:
            big_s1[k, k] = np.sqrt(-lam)
    return r @ big_s1 @ vt, u @ big_s2 @ r.T


def match_determinant_sign(w1, w2, sigma_yx):
    """Square case: flip the first row of W2 if det(W2W1)·det(Σyx) < 0 (docs/math.md P2).

    Flipping a row of W2 leaves W2ᵀW2, hence the balance, unchanged.
    """
    if np.linalg.det(w2 @ w1) * np.linalg.det(sigma_yx) < 0:
        w2 = w2.copy()
        w2[0, :] *= -1
    return w1, w2


def q_matrix(w1, w2):
    """Q = [W1ᵀ; W2], size (Ni+No)×Nh."""
    return np.vstack([w1.T, w2])


def balance_lambda(w1, w2):
    """λ read off the weights: mean diagonal of W2ᵀW2 − W1W1ᵀ."""
    return float(np.trace(w2.T @ w2 - w1 @ w1.T) / w1.shape[0])


# ----------------------------------------------------------------------------------------------
# Closed form (docs/math.md §3.2 – §3.4)
# ----------------------------------------------------------------------------------------------


class ClosedForm:
    """QQᵀ(t) of a λ-balanced two-layer linear net with Nh = min(Ni, No) (docs/math.md §3.4)."""

    def __init__(self, w1, w2, sigma_yx, lam=None, tau=1.0):
        w1 = np.asarray(w1, dtype=float)
        w2 = np.asarray(w2, dtype=float)
        sigma_yx = np.asarray(sigma_yx, dtype=float)
        n_hidden, n_in = w1.shape
        n_out = w2.shape[0]
        m = min(n_in, n_out)
        if w2.shape[1] != n_hidden or sigma_yx.shape != (n_out, n_in):
            raise ValueError("shape mismatch between W1, W2 and Σyx")
        if n_hidden != m:
            raise ValueError(f"closed form needs n_hidden = min(n_in, n_out) = {m}")
        if lam is None:
            lam = balance_lambda(w1, w2)
        self.lam, self.tau, self.n_in, self.n_out = lam, tau, n_in, n_out

        # §3.2: full SVD of Σyx and the eigenvectors of F.
        u, s, vt = np.linalg.svd(sigma_yx, full_matrices=True)
        v = vt.T
        u_m, v_m = u[:, :m], v[:, :m]
        s_lam = np.sqrt(s**2 + lam**2 / 4)
        if np.any(s_lam == 0):
            raise ValueError("rank-deficient task at λ = 0 (docs/math.md P9)")
        # Ĉ² = 1 − λ/(2sλ), D̂² = 1 + λ/(2sλ), the cancelling one via s²/(sλ ± λ/2) (P4).
        if lam >= 0:
            c_sq = s**2 / (s_lam * (s_lam + lam / 2))
            d_sq = 2 - c_sq
        else:
            d_sq = s**2 / (s_lam * (s_lam - lam / 2))
            c_sq = 2 - d_sq
        c_hat, d_hat = np.sqrt(c_sq), np.sqrt(d_sq)
        o_plus = np.vstack([v_m * c_hat, u_m * d_hat]) / np.sqrt(2)
        o_minus = np.vstack([-v_m * d_hat, u_m * c_hat]) / np.sqrt(2)
        if n_in > n_out:
            o_perp = np.vstack([v[:, m:], np.zeros((n_out, n_in - m))])
            lam_perp = -lam / 2
        elif n_out > n_in:
            o_perp = np.vstack([np.zeros((n_in, n_out - m)), u[:, m:]])
            lam_perp = lam / 2
        else:
            o_perp = np.zeros((n_in + n_out, 0))
            lam_perp = 0.0

        # §3.4: precompute once per trajectory.
        q0 = q_matrix(w1, w2)
        p_plus = o_plus.T @ q0
        p_minus = o_minus.T @ q0
        p_perp = o_perp.T @ q0
        sv = np.linalg.svd(p_plus, compute_uv=False)
        scale = max(np.linalg.norm(w1, 2), np.linalg.norm(w2, 2))
        if sv[-1] == 0 or sv[0] / sv[-1] > MAX_COND_P_PLUS or sv[-1] / scale < MIN_REL_SIGMA_P_PLUS:
            raise SingularError(f"P+ is singular: singular values {sv}")
        p_plus_inv = np.linalg.inv(p_plus)
        self.n_minus = p_minus @ p_plus_inv
        self.n_perp = p_perp @ p_plus_inv
        self.h = p_plus_inv.T @ p_plus_inv
        self.k_perp = self.n_perp.T @ self.n_perp
        self.o_plus, self.o_minus, self.o_perp = o_plus, o_minus, o_perp
        self.s_lam, self.lam_perp = s_lam, lam_perp
        self.u_m, self.v_m = u_m, v_m

    def qqt(self, t):
        """QQᵀ(t), (Ni+No)×(Ni+No), symmetric PSD by construction."""
        big_t = t / self.tau
        s_lam, lam_perp = self.s_lam, self.lam_perp
        e = np.exp(-s_lam * big_t)
        f = -np.expm1(-2 * s_lam * big_t) / (2 * s_lam)
        ee = np.outer(e, e)
        z = self.o_plus + self.o_minus @ (ee * self.n_minus)
        a = ee * self.h + np.diag(f) + ee * (self.n_minus.T @ (f[:, None] * self.n_minus))
        if self.o_perp.shape[1] > 0:
            z = z + self.o_perp @ (self.n_perp * np.exp((lam_perp - s_lam) * big_t)[None, :])
            sigma = s_lam[:, None] + s_lam[None, :]
            if lam_perp == 0:
                h = big_t * np.exp(-sigma * big_t)
            elif 2 * lam_perp * big_t > 1:
                h = (np.exp((2 * lam_perp - sigma) * big_t) - np.exp(-sigma * big_t)) / (2 * lam_perp)
            else:
                h = np.exp(-sigma * big_t) * np.expm1(2 * lam_perp * big_t) / (2 * lam_perp)
            a = a + self.k_perp * h
        a = (a + a.T) / 2
        chol = np.linalg.cholesky(a)
        y = np.linalg.solve(chol, z.T)
        return y.T @ y

    def steady_state(self):
        """lim_{t→∞} QQᵀ = 2 O₊ S_λ O₊ᵀ (docs/math.md §3.3)."""
        return 2 * (self.o_plus * self.s_lam) @ self.o_plus.T


# ----------------------------------------------------------------------------------------------
# Simulation of the whitened two-layer net (docs/math.md §1)
# ----------------------------------------------------------------------------------------------


def gd_step(w1, w2, sigma_yx, lr):
    """One (simultaneous) gradient-descent step on ½‖W2W1 − Σyx‖², in place."""
    err = w2 @ w1 - sigma_yx
    g1 = w2.T @ err
    g2 = err @ w1.T
    w1 -= lr * g1
    w2 -= lr * g2


def _flow(w1, w2, sigma_yx):
    err = sigma_yx - w2 @ w1
    return w2.T @ err, err @ w1.T


def rk4_step(w1, w2, sigma_yx, dt):
    """One classical RK4 step of the gradient flow τẆ = −∇L with τ = 1; returns new (W1, W2)."""
    k1 = _flow(w1, w2, sigma_yx)
    k2 = _flow(w1 + dt / 2 * k1[0], w2 + dt / 2 * k1[1], sigma_yx)
    k3 = _flow(w1 + dt / 2 * k2[0], w2 + dt / 2 * k2[1], sigma_yx)
    k4 = _flow(w1 + dt * k3[0], w2 + dt * k3[1], sigma_yx)
    w1 = w1 + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0])
    w2 = w2 + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1])
    return w1, w2


def _deep_flow(ws, sigma_yx):
    """−∇L of ½‖W_L⋯W_1 − Σyx‖² for every layer (whitened): 3(L−1) matrix products, the count of
    the Rust simulator (prefix products, then one backward sweep)."""
    prefix = [ws[0]]
    for w in ws[1:]:
        prefix.append(w @ prefix[-1])
    back = sigma_yx - prefix[-1]
    grads = [None] * len(ws)
    for i in range(len(ws) - 1, 0, -1):
        grads[i] = back @ prefix[i - 1].T
        back = ws[i].T @ back
    grads[0] = back
    return grads


def deep_gd_step(ws, sigma_yx, lr):
    """One (simultaneous) gradient-descent step of a network of any depth, in place."""
    for w, g in zip(ws, _deep_flow(ws, sigma_yx)):
        w += lr * g


def deep_rk4_step(ws, sigma_yx, dt):
    """One classical RK4 step of the gradient flow of a network of any depth (τ = 1)."""
    k1 = _deep_flow(ws, sigma_yx)
    k2 = _deep_flow([w + dt / 2 * k for w, k in zip(ws, k1)], sigma_yx)
    k3 = _deep_flow([w + dt / 2 * k for w, k in zip(ws, k2)], sigma_yx)
    k4 = _deep_flow([w + dt * k for w, k in zip(ws, k3)], sigma_yx)
    return [w + dt / 6 * (a + 2 * b + 2 * c + d) for w, a, b, c, d in zip(ws, k1, k2, k3, k4)]


def rk4_trajectory(w1, w2, sigma_yx, times, dt):
    """QQᵀ from RK4 at the (increasing, dt-multiple) times; also returns the final weights."""
    out = []
    t_now, step_idx = 0.0, 0
    for t in times:
        n_target = round(t / dt)
        while step_idx < n_target:
            w1, w2 = rk4_step(w1, w2, sigma_yx, dt)
            step_idx += 1
        t_now = step_idx * dt
        q = q_matrix(w1, w2)
        out.append(q @ q.T)
    assert abs(t_now - times[-1]) < 1e-9
    return out, w1, w2


# ----------------------------------------------------------------------------------------------
# Self-check
# ----------------------------------------------------------------------------------------------


def _rot(theta):
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def golden_g1():
    """docs/golden.md G1: square 2-2-2, λ = 1."""
    s1, s2 = split_singular_values([0.3, 0.1], 1.0)
    u, v, r = _rot(0.4), _rot(-0.7), _rot(1.1)
    w1 = r @ np.diag(s1) @ v.T
    w2 = u @ np.diag(s2) @ r.T
    return w1, w2, np.array([[2.0, 0.5], [0.0, 1.0]])


def golden_g2():
    """docs/golden.md G2: funnel Ni = 3 > No = Nh = 2, λ = −0.5."""
    s1, s2 = split_singular_values([0.4, 0.2], -0.5)
    u, r = _rot(0.3), _rot(-0.6)
    cz, sz, cx, sx = np.cos(0.9), np.sin(0.9), np.cos(0.5), np.sin(0.5)
    rz = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    v = rz @ rx
    big_s1 = np.zeros((2, 3))
    big_s1[:, :2] = np.diag(s1)
    w1 = r @ big_s1 @ v.T
    w2 = u @ np.diag(s2) @ r.T
    return w1, w2, np.array([[1.0, 0.2, -0.3], [0.1, 0.6, 0.4]])


class _Checker:
    def __init__(self):
        self.n_failed = 0
        self.n_passed = 0

    def expect(self, name, value, limit):
        ok = bool(np.isfinite(value)) and value <= limit
        self.n_passed += ok
        self.n_failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {value:.3e} (limit {limit:.0e})")


def run_check():
    chk = _Checker()
    rel = lambda a, b: np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)  # noqa: E731

    # Golden values (docs/golden.md, tolerance 1e-10 absolute).
    w1, w2, syx = golden_g1()
    cf = ClosedForm(w1, w2, syx)
    chk.expect("G1 balance λ = 1", abs(cf.lam - 1.0), 1e-12)
    chk.expect("G1 QQᵀ(1)[2,0] = 1.872827350227", abs(cf.qqt(1.0)[2, 0] - 1.872827350227), 1e-10)
    chk.expect("G1 QQᵀ(5)[3,3] = 1.607170485358", abs(cf.qqt(5.0)[3, 3] - 1.607170485358), 1e-10)
    g1_t1 = np.array([[1.41499639168, 0.307440200727, 1.872827350227, 0.065179547504],
                      [0.307440200727, 0.457704792301, 0.445457530261, 0.750523507262],
                      [1.872827350227, 0.445457530261, 2.482592714937, 0.158873602912],
                      [0.065179547504, 0.750523507262, 0.158873602912, 1.390108469043]])
    chk.expect("G1 full QQᵀ(1), max abs diff", np.max(np.abs(cf.qqt(1.0) - g1_t1)), 1e-10)
    w1, w2, syx = golden_g2()
    cf = ClosedForm(w1, w2, syx)
    chk.expect("G2 QQᵀ(5)[3,0] = 1.000315600166", abs(cf.qqt(5.0)[3, 0] - 1.000315600166), 1e-10)
    chk.expect("G2 QQᵀ(1)[2,4] = 0.197541553513", abs(cf.qqt(1.0)[2, 4] - 0.197541553513), 1e-10)

    # Closed form vs RK4 (docs/math.md T5) and limits (T2, T6), random λ-balanced inits.
    rng = np.random.default_rng(20250101)
    times = [0.0, 0.5, 1.0, 2.0, 4.0, 6.0]
    dt = 2e-3
    cases = [((4, 4), -3.0, 1.0), ((4, 4), 0.5, 0.05), ((4, 4), 0.0, 1.0),
             ((6, 3), -0.5, 1.0), ((6, 3), 3.0, 0.05), ((3, 6), 3.0, 1.0), ((3, 6), 0.0, 0.05),
             ((8, 8), 0.5, 0.5)]
    for (n_in, n_out), lam, sigma in cases:
        m = min(n_in, n_out)
        syx = rng.standard_normal((n_out, n_in))
        w1, w2 = lambda_balanced(rng, lam, n_in, m, n_out, sigma)
        if n_in == n_out:
            w1, w2 = match_determinant_sign(w1, w2, syx)
        label = f"({n_in},{m},{n_out}) λ={lam:+} σ={sigma}"
        cf = ClosedForm(w1, w2, syx, lam=lam)
        chk.expect(f"{label} balance", np.linalg.norm(w2.T @ w2 - w1 @ w1.T - lam * np.eye(m)), 1e-12)
        q0 = q_matrix(w1, w2)
        chk.expect(f"{label} QQᵀ(0) = Q0Q0ᵀ", rel(cf.qqt(0.0), q0 @ q0.T), 1e-13)
        ref, _, _ = rk4_trajectory(w1, w2, syx, times, dt)
        err = max(rel(cf.qqt(t), r) for t, r in zip(times, ref))
        chk.expect(f"{label} closed form vs RK4 dt={dt}", err, 1e-7)
        big = cf.qqt(1e8)
        chk.expect(f"{label} QQᵀ(1e8) = steady state", rel(big, cf.steady_state()), 1e-12)
        chk.expect(f"{label} W2W1(1e8) = Σyx", rel(big[n_in:, :n_in], syx), 1e-12)

    # Extreme λ stays finite and symmetric PSD (docs/math.md §3.4, T6).
    for lam in (-200.0, 200.0):
        syx = rng.standard_normal((5, 2))
        w1, w2 = lambda_balanced(rng, lam, 2, 2, 5, 1.0)
        cf = ClosedForm(w1, w2, syx, lam=lam)
        for t in (1e-3, 1.0, 1e8):
            q = cf.qqt(t)
            asym = np.max(np.abs(q - q.T)) / np.max(np.abs(q))
            min_eig = np.min(np.linalg.eigvalsh((q + q.T) / 2)) / np.max(np.abs(q))
            chk.expect(f"λ={lam:+} t={t:g} asymmetry", asym, 1e-14)
            chk.expect(f"λ={lam:+} t={t:g} negative eigenvalue", max(-min_eig, 0.0), 1e-12)

    # Gradient descent with a small learning rate follows the flow (first order in lr).
    syx = rng.standard_normal((4, 4))
    w1, w2 = lambda_balanced(rng, 0.5, 4, 4, 4, 0.5)
    w1, w2 = match_determinant_sign(w1, w2, syx)
    cf = ClosedForm(w1, w2, syx)
    errs = []
    for lr in (1e-2, 1e-3):
        a, b = w1.copy(), w2.copy()
        for _ in range(round(1.0 / lr)):
            gd_step(a, b, syx, lr)
        errs.append(rel(q_matrix(a, b) @ q_matrix(a, b).T, cf.qqt(1.0)))
    chk.expect("GD lr=1e-3 vs flow at t=1", errs[1], 1e-2)
    chk.expect("GD error ratio lr 1e-2 / 1e-3 ≈ 10 (first order)", abs(errs[0] / errs[1] - 10) / 10, 0.2)

    # A singular P+ is refused: λ = 0, square, determinant signs mismatched (docs/math.md P2).
    syx = np.diag([2.0, 1.0])
    w1 = np.diag([0.3, 0.2])
    w2 = np.diag([-0.3, 0.2])  # λ = 0, det(W2W1) < 0 < det(Σyx)
    try:
        ClosedForm(w1, w2, syx)
        refused = False
    except SingularError:
        refused = True
    chk.expect("singular P+ refused (0 = yes)", 0.0 if refused else 1.0, 0.0)

    print(f"{chk.n_passed} passed, {chk.n_failed} failed")
    return chk.n_failed == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="run the correctness self-check")
    args = parser.parse_args(argv)
    if not args.check:
        parser.print_help()
        return 0
    return 0 if run_check() else 1


if __name__ == "__main__":
    sys.exit(main())
