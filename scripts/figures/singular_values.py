# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Figure 3: singular values of W2W1 for a task-aligned init: sigmoidal at λ = 0, exponential
at λ = ±2.

Reads the dataset of ``sweeps/paper/fig3.toml`` (task-aligned init, closed form, singular values
at every time). One panel per λ, one curve per mode α, its target s̃_α dashed.

Claims checked, per mode: at λ = 0 the growth rate ds_α/dt peaks in the interior of the run,
when s_α has covered between 10 % and 90 % of its way (a sigmoid); at λ = ±2 it is largest at the
start and the progress (s_α − s_α(0))/(s̃_α − s_α(0)) is concave (an exponential approach); and
λ = +2 and λ = −2 give the same singular values (docs/math.md T7).
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np

import common


def main() -> int:
    args = common.arguments(__doc__, "fig3", "fig3_singular_values.png")
    common.style()
    df = common.load(args.data).sort("lambda")
    claims = common.Claims("Fig 3")
    rows = {r["lambda"]: r for r in df.iter_rows(named=True)}
    lambdas = sorted(rows)
    colors = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a"]

    fig, axes = plt.subplots(1, len(lambdas), figsize=(4.2 * len(lambdas), 3.4), sharey=True)
    for ax, lam in zip(axes, lambdas):
        row = rows[lam]
        t = np.array(row["t"])
        s = np.array(row["singular_values"])
        target = s[-1]
        for alpha in range(s.shape[1]):
            c = colors[alpha % len(colors)]
            ax.plot(t, s[:, alpha], color=c, lw=2, label=f"mode {alpha + 1}")
            ax.axhline(target[alpha], color=c, lw=0.8, ls="--")
            progress = (s[:, alpha] - s[0, alpha]) / (target[alpha] - s[0, alpha])
            rate = np.diff(s[:, alpha]) / np.diff(t)
            peak = int(np.argmax(rate))
            if lam == 0:
                ok = 0 < peak < len(rate) - 1 and 0.1 < progress[peak] < 0.9
                claims.check(ok, f"λ = 0, mode {alpha + 1}: sigmoidal (growth peaks mid-way)",
                             f"peak at t = {t[peak]:.2f}, progress {progress[peak]:.2f}")
            else:
                concave = np.all(np.diff(rate) <= 1e-12 * np.max(np.abs(rate)))
                claims.check(peak == 0 and bool(concave),
                             f"λ = {lam:g}, mode {alpha + 1}: exponential (fastest at t = 0, concave)",
                             f"peak at t = {t[peak]:.2f}")
        ax.set_title(common.lambda_label(lam) + (" (rich: sigmoidal)" if lam == 0 else " (exponential)"))
        ax.set_xlabel("time t (units of τ)")
        if lam == lambdas[0]:
            ax.set_ylabel("singular value s_α(t) of W2W1")
            ax.legend(loc="lower right")
    fig.suptitle("Task-aligned init: each mode learns on its own (dashed: the task's singular values)",
                 y=1.03)
    fig.tight_layout()
    common.save(fig, args.out)

    if -2.0 in rows and 2.0 in rows:
        diff = np.max(np.abs(np.array(rows[2.0]["singular_values"]) - np.array(rows[-2.0]["singular_values"])))
        claims.check(diff < 1e-10, "λ = +2 and λ = −2 give the same singular values", f"max |Δ| = {diff:.1e}")
    return claims.finish()


if __name__ == "__main__":
    sys.exit(main())
