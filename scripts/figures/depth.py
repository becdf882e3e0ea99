# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Depth: time to learn and kernel distance against λ, and singular values at λ = 0 and λ = 4,
for depths L = 2, 3, 4, 6.

Reads the dataset of ``sweeps/paper/depth.toml``: widths 3 at every layer, σ = 0.1, one λ at every
hidden layer; the task-aligned init (the exact deep aligned dynamics, one scalar chain per mode,
docs/math.md §6.3) as lines, a non-aligned init (λ-balanced, random bases, determinant-signed,
simulated) as markers or dashed lines. Top: t90 and the kernel distance NTK(0) → NTK(end) against
λ. Middle: the singular values of W_L⋯W_1 at λ = 0 (log time: the plateau). Bottom: at λ = 4
against κ_L·t, κ_L = (L − 1)!·λ^(L−1) the linearised rate, with the exponential
s̃ − (s̃ − s0)·e^(−κ_L t) dotted.

Claims checked (docs/math.md §6.3), on the aligned init unless said otherwise:
- λ = 0: every mode that converges is sigmoidal (its growth peaks in the interior of the run, at
  10–90 % of its way), every recorded time from its plateau to 99 % of its way agrees within 1e-6
  (relative) with the exact integral t(s) = ∫ ds / (L s^(2−2/L) (s̃ − s)) from s(t0) (Saxe et
  al.), and t90 and the half-time of the strongest mode
  grow strictly with depth (at this small init);
- λ = ±4: every mode is exponential: its rate −d ln(s̃ − s)/dt stays within [0.95, 1.25]·κ_L up
  to 90 % of its way, and t90 is within 10 % of ln 10 / (2κ_L);
- t90 decreases strictly as |λ| grows, at every depth, and is even in λ (square network);
- the kernel distance at |λ| = 4 is below 0.01 at every depth for both inits, and falls strictly
  with depth; the non-aligned init is rich at λ = 0 (kernel distance above 0.2, at least 20× its
  value at |λ| = 4).
"""

from __future__ import annotations

import math
import sys

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import common

DEPTHS = [2, 3, 4, 6]
COLORS = {2: "#1b9e77", 3: "#d95f02", 4: "#7570b3", 6: "#e7298a"}
LAZY = 4.0
#: Relative agreement asked of the λ = 0 trajectories with the exact integral (of this script's
#: quadrature, and of the stored singular values: see ROUNDING).
TIME_TOLERANCE = 1e-6
#: Absolute error of a stored singular value, in units of the largest one: the values are those
#: of the dense product W_L⋯W_1, whose rounding is a few ulps of its norm. A mode 1e-9 of the
#: largest (depth 6) is thus known to about 1e-7 relative, and on its plateau, where s barely
#: moves, that is a far larger error in the time t(s) it implies: the check allows
#: ROUNDING·s_max·(dt/ds at s(t0) + dt/ds at s) on top of TIME_TOLERANCE·t.
ROUNDING = 16 * np.finfo(float).eps
ALIGNED, OVERLAY = "aligned", "balanced-signed"


def kappa(depth: int, lam: float) -> float:
    """Linearised rate of every aligned mode at large |λ|: (L − 1)!·|λ|^(L−1)."""
    return math.factorial(depth - 1) * abs(lam) ** (depth - 1)


def saxe_times(depth: int, s0: float, target: float, values: np.ndarray) -> np.ndarray:
    """Time an aligned λ = 0 mode takes to grow from s0 to each of ``values`` (all in
    (s0, target)): ∫ ds / (L s^(2−2/L) (s̃ − s)), trapezoids on a fine log grid of s."""
    u = np.linspace(math.log(s0), math.log(values.max()), 200001)
    s = np.exp(u)
    integrand = s / (depth * s ** (2 - 2 / depth) * (target - s))   # ds = s du
    cumulative = np.concatenate([[0.0], np.cumsum((integrand[1:] + integrand[:-1]) / 2 * np.diff(u))])
    return np.interp(np.log(values), u, cumulative)


def crossing(t: np.ndarray, y: np.ndarray, level: float) -> float | None:
    """First time y reaches level (linear interpolation), None if never."""
    above = np.nonzero(y >= level)[0]
    if len(above) == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(t[0])
    return float(t[i - 1] + (level - y[i - 1]) / (y[i] - y[i - 1]) * (t[i] - t[i - 1]))


def main() -> int:
    args = common.arguments(__doc__, "depth", "depth.png")
    common.style()
    df = common.load(args.data)
    claims = common.Claims("Depth")
    bad = df.filter(pl.col("status") != "ok")
    claims.check(bad.height == 0, "every point computes (status ok)", f"{bad.height} not ok")
    rows = {(r["init"], r["depth"], r["lambda"]): r for r in df.iter_rows(named=True)}

    def series(init: str, depth: int, lam: float) -> tuple[np.ndarray, np.ndarray]:
        r = rows[(init, depth, lam)]
        return np.array(r["t"]), np.array(r["singular_values"])

    # The task's singular values: the aligned modes at |λ| = 4 converge well inside their grid.
    targets = {d: series(ALIGNED, d, LAZY)[1][-1] for d in DEPTHS}

    fig = plt.figure(figsize=(15, 10.5))
    grid = fig.add_gridspec(3, 4, height_ratios=[1.1, 1, 1])
    ax_t90 = fig.add_subplot(grid[0, :2])
    ax_kd = fig.add_subplot(grid[0, 2:])
    for d in DEPTHS:
        for init, style, label in ((ALIGNED, "-", f"L = {d}, aligned"), (OVERLAY, "o", f"L = {d}, non-aligned")):
            part = df.filter(pl.col("init") == init, pl.col("depth") == d).sort("lambda")
            kw = dict(color=COLORS[d], label=label)
            kw.update(ls="-") if style == "-" else kw.update(ls="none", marker="o", mfc="none", ms=5)
            ax_t90.plot(part["lambda"], part["t90"], **kw)
            ax_kd.plot(part["lambda"], part["kernel_distance_end"], **kw)
    ax_t90.set_yscale("log")
    ax_t90.set_xlabel("λ (every hidden layer)")
    ax_t90.set_ylabel("t90 (units of τ)")
    ax_t90.set_title("Time to learn 90 % of the task: deeper is slower at λ = 0, faster at large |λ|")
    ax_t90.legend(ncol=2, fontsize=7)
    ax_kd.set_yscale("log")
    ax_kd.set_xlabel("λ (every hidden layer)")
    ax_kd.set_ylabel("kernel distance NTK(0) → NTK(end)")
    ax_kd.set_title("How far the NTK moves: lazy at large |λ|, the more so the deeper")

    for col, d in enumerate(DEPTHS):
        ax0 = fig.add_subplot(grid[1, col])
        ax4 = fig.add_subplot(grid[2, col])
        k = kappa(d, LAZY)
        for init, ls in ((ALIGNED, "-"), (OVERLAY, "--")):
            t, s = series(init, d, 0.0)
            for a in range(s.shape[1]):
                ax0.plot(t, s[:, a], ls, color=COLORS[d], alpha=1.0 - 0.25 * a, lw=1.8 if ls == "-" else 1.0)
            t, s = series(init, d, LAZY)
            for a in range(s.shape[1]):
                ax4.plot(k * t, s[:, a], ls, color=COLORS[d], alpha=1.0 - 0.25 * a, lw=1.8 if ls == "-" else 1.0)
        t, s = series(ALIGNED, d, LAZY)
        for a in range(s.shape[1]):
            ax4.plot(k * t, targets[d][a] - (targets[d][a] - s[0, a]) * np.exp(-k * (t - t[0])), ":", color="k", lw=0.8)
        for a in range(len(targets[d])):
            ax0.axhline(targets[d][a], color="grey", lw=0.5, ls=":")
        ax0.set_xscale("log")
        ax0.set_title(f"L = {d}, λ = 0: sigmoidal")
        ax0.set_xlabel("time t (units of τ)")
        ax4.set_xlim(0, 5)
        ax4.set_title(f"L = {d}, λ = 4: exponential, κ = {k:.3g}")
        ax4.set_xlabel("κ_L · t")
        if col == 0:
            ax0.set_ylabel("singular values of W_L⋯W_1")
            ax4.set_ylabel("singular values of W_L⋯W_1")
    fig.suptitle("Depth: exact aligned dynamics (solid) and a simulated non-aligned init (dashed, "
                 "markers); widths 3, σ = 0.1; dotted bottom: the linearised exponential", y=1.0)
    fig.tight_layout()
    common.save(fig, args.out)

    # λ = 0: sigmoidal modes, the half-times of Saxe et al., plateaus growing with depth.
    half_first = {}
    for d in DEPTHS:
        t, s = series(ALIGNED, d, 0.0)
        for a in range(s.shape[1]):
            target = targets[d][a]
            if abs(s[-1, a] - target) > 0.01 * target:
                print(f"note Depth: L = {d}, λ = 0, mode {a + 1} has not converged by t = {t[-1]:g} "
                      f"(starts at {s[0, a]:.1e}; not checked)")
                continue
            progress = (s[:, a] - s[0, a]) / (target - s[0, a])
            rate = np.diff(s[:, a]) / np.diff(t)
            peak = int(np.argmax(rate))
            mid = 0.5 * (progress[peak] + progress[peak + 1])
            claims.check(0 < peak < len(rate) - 1 and 0.1 < mid < 0.9,
                         f"L = {d}, λ = 0, mode {a + 1}: sigmoidal (growth peaks mid-way)",
                         f"peak near t = {t[peak]:.3g}, progress {mid:.2f}")
            # Every recorded time on the plateau and the rise, until 99 % of the way: the integral
            # is well conditioned there (no longer once s is close to s̃).
            way = (s[:, a] > s[0, a] * 1.001) & (progress <= 0.99)
            if way.sum() < 2:
                claims.check(False, f"L = {d}, λ = 0, mode {a + 1}: recorded on its way",
                             f"{way.sum()} recorded times between s(t0) and 99 % of the way")
                continue
            predicted = t[0] + saxe_times(d, s[0, a], target, s[way, a])

            def slope(v: np.ndarray) -> np.ndarray:
                return 1.0 / (d * v ** (2 - 2 / d) * (target - v))   # dt/ds

            allowed = (TIME_TOLERANCE * t[way]
                       + ROUNDING * s[:, 0].max()
                       * (slope(np.array([s[0, a]])) + slope(s[way, a])))
            worst = float(np.max(np.abs(predicted - t[way]) / allowed))
            error = float(np.max(np.abs(predicted - t[way]) / t[way]))
            claims.check(worst < 1,
                         f"L = {d}, λ = 0, mode {a + 1}: follows the exact integral of Saxe et al.",
                         f"{way.sum()} times up to 99 % of the way, within {error:.1e} relative, "
                         f"{worst:.2f} of the allowance")
            if a == 0:
                half_first[d] = crossing(t, s[:, a], target / 2)
    t90_zero = [rows[(ALIGNED, d, 0.0)]["t90"] for d in DEPTHS]
    claims.check(bool(np.all(np.diff(t90_zero) > 0)), "λ = 0: t90 grows strictly with depth",
                 ", ".join(f"L = {d}: {v:.3g}" for d, v in zip(DEPTHS, t90_zero)))
    halves = [half_first.get(d) for d in DEPTHS]
    claims.check(None not in halves and bool(np.all(np.diff(halves) > 0)),
                 "λ = 0: the plateau (half-time of the strongest mode) grows strictly with depth",
                 ", ".join(f"L = {d}: {v:.3g}" for d, v in zip(DEPTHS, halves) if v is not None))

    # λ = ±4: exponential at the linearised rate.
    for d in DEPTHS:
        k = kappa(d, LAZY)
        for lam in (-LAZY, LAZY):
            t, s = series(ALIGNED, d, lam)
            lo, hi = np.inf, 0.0
            for a in range(s.shape[1]):
                gap = targets[d][a] - s[:, a]
                keep = gap >= 0.1 * gap[0]
                rate = -np.diff(np.log(gap[keep])) / np.diff(t[keep]) / k
                lo, hi = min(lo, rate.min()), max(hi, rate.max())
            claims.check(0.95 <= lo and hi <= 1.25,
                         f"L = {d}, λ = {lam:g}: every mode exponential at the linearised rate κ = {k:.3g}",
                         f"rate/κ in [{lo:.3f}, {hi:.3f}] up to 90 % of the way")
            t90 = rows[(ALIGNED, d, lam)]["t90"]
            predicted = math.log(10) / (2 * k)
            claims.check(abs(t90 - predicted) < 0.1 * predicted, f"L = {d}, λ = {lam:g}: t90 = ln 10/(2κ)",
                         f"{t90:.3g} vs {predicted:.3g}")

    # t90 against |λ|; evenness in λ.
    for d in DEPTHS:
        part = df.filter(pl.col("init") == ALIGNED, pl.col("depth") == d).sort("lambda")
        lam, t90 = part["lambda"].to_numpy(), part["t90"].to_numpy()
        pos = lam >= 0
        even = max(abs(rows[(ALIGNED, d, x)]["t90"] / rows[(ALIGNED, d, -x)]["t90"] - 1) for x in lam[lam > 0])
        claims.check(bool(np.all(np.diff(t90[pos]) < 0)) and even < 1e-6,
                     f"L = {d}: t90 falls strictly as |λ| grows, and is even in λ",
                     f"t90 {t90[pos][0]:.3g} at λ = 0 → {t90[pos][-1]:.3g} at λ = {lam[pos][-1]:g}; "
                     f"largest relative difference ±λ {even:.1e}")

    # Kernel distance: lazy at |λ| = 4 for every depth and both inits, lazier with depth; the
    # non-aligned init is rich at λ = 0.
    for init in (ALIGNED, OVERLAY):
        kd = [max(rows[(init, d, -LAZY)]["kernel_distance_end"], rows[(init, d, LAZY)]["kernel_distance_end"])
              for d in DEPTHS]
        claims.check(max(kd) < 0.01 and bool(np.all(np.diff(kd) < 0)),
                     f"{init}: lazy at |λ| = 4 at every depth, lazier the deeper",
                     ", ".join(f"L = {d}: {v:.1e}" for d, v in zip(DEPTHS, kd)))
    for d in DEPTHS:
        rich = rows[(OVERLAY, d, 0.0)]["kernel_distance_end"]
        lazy = rows[(OVERLAY, d, LAZY)]["kernel_distance_end"]
        claims.check(rich > 0.2 and rich > 20 * lazy, f"non-aligned, L = {d}: rich at λ = 0",
                     f"kernel distance {rich:.2f} at λ = 0, {lazy:.1e} at λ = 4")
    return claims.finish()


if __name__ == "__main__":
    sys.exit(main())
