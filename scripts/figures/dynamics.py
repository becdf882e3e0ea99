# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Figure 2: learning dynamics over time for λ < 0, λ ≈ 0, λ > 0, closed form over simulation.

Reads the dataset of ``sweeps/paper/fig2.toml`` (every λ run by the closed form and by gradient
descent from the same initial weights, QQᵀ at every time). One row of panels per λ: loss, the
entries of W2W1, of W1ᵀW1, of W2W2ᵀ, and the kernel distance of NTK(t) from NTK(0). Simulation
solid, closed form dotted on top.

Claims checked: closed form and gradient descent agree (loss to 1e-3 of its drop, every QQᵀ
entry to 1e-2); λ ≈ 0 is rich and slow (kernel distance at the end more than 10× that of
λ = ±2, and a later t90); λ = ±2 give the same loss curve (the loss depends on |λ| only for this
init, whose product is the same at both signs).
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np

import common


def main() -> int:
    args = common.arguments(__doc__, "fig2", "fig2_dynamics.png")
    common.style()
    df = common.load(args.data).sort("lambda", "method")
    claims = common.Claims("Fig 2")
    lambdas = sorted(df["lambda"].unique().to_list())
    rows = {(r["lambda"], str(r["method"])): r for r in df.iter_rows(named=True)}

    titles = ["loss", "network function W2W1", "input representation W1ᵀW1",
              "output representation W2W2ᵀ", "NTK change"]
    ylabels = ["L(t)", "entries", "entries", "entries", "kernel distance to NTK(0)"]
    fig, axes = plt.subplots(len(lambdas), 5, figsize=(16, 2.6 * len(lambdas)), sharex=True)
    for i, lam in enumerate(lambdas):
        sim, exact = rows[(lam, "gd")], rows[(lam, "closed-form")]
        n_in = exact["n_in"]
        t = np.array(exact["t"])
        series = {}
        for name, row in (("sim", sim), ("cf", exact)):
            a, w, m = common.blocks(common.matrices(row), n_in)
            series[name] = [np.array(row["loss"])[:, None], w.reshape(len(t), -1),
                            a.reshape(len(t), -1), m.reshape(len(t), -1),
                            np.array(row["kernel_distance"])[:, None]]
        for j in range(5):
            ax = axes[i, j]
            sim_y, cf_y = series["sim"][j], series["cf"][j]
            colors = plt.cm.tab10(np.arange(sim_y.shape[1]) % 10)
            for k in range(sim_y.shape[1]):
                ax.plot(np.array(sim["t"]), sim_y[:, k], color=colors[k], lw=1.6, alpha=0.8)
                ax.plot(t, cf_y[:, k], color="black", lw=1.0, ls=":")
            if i == 0:
                ax.set_title(titles[j])
            if i == len(lambdas) - 1:
                ax.set_xlabel("time t (units of τ)")
            ax.set_ylabel(ylabels[j] if j != 0 else f"{common.lambda_label(lam)}\nL(t)")
        # Agreement of the two methods (GD steps land on the grid times exactly here).
        loss_drop = exact["initial_loss"] - exact["final_loss"]
        loss_err = np.max(np.abs(np.array(sim["loss"]) - np.array(exact["loss"]))) / loss_drop
        qqt_err = np.max(np.abs(common.matrices(sim) - common.matrices(exact)))
        claims.check(loss_err < 1e-3, f"λ = {lam:g}: GD loss follows the closed form", f"{loss_err:.1e} of the drop")
        claims.check(qqt_err < 1e-2, f"λ = {lam:g}: GD QQᵀ follows the closed form", f"max |Δ| = {qqt_err:.1e}")
    handles = [plt.Line2D([], [], color="tab:blue", lw=1.6, label="gradient descent (lr = 2e-4)"),
               plt.Line2D([], [], color="black", lw=1.0, ls=":", label="closed form")]
    fig.legend(handles=handles, loc="upper center", ncol=2, bbox_to_anchor=(0.5, 1.02))
    fig.suptitle("Exact learning dynamics of a 3-3-3 network across λ", y=1.06)
    fig.tight_layout()
    common.save(fig, args.out)

    exact = {r["lambda"]: r for r in df.filter(df["method"].cast(str) == "closed-form").iter_rows(named=True)}
    near_zero = min(lambdas, key=abs)
    for lam in (min(lambdas), max(lambdas)):
        kd0, kd = exact[near_zero]["kernel_distance_end"], exact[lam]["kernel_distance_end"]
        claims.check(kd0 > 10 * kd, f"λ ≈ 0 is rich, λ = {lam:g} lazy: kernel distance at the end",
                     f"{kd0:.3f} vs {kd:.2e}")
        claims.check(exact[near_zero]["t90"] > exact[lam]["t90"], f"λ ≈ 0 learns more slowly than λ = {lam:g}",
                     f"t90 {exact[near_zero]['t90']:.2f} vs {exact[lam]['t90']:.2f}")
    lo, hi = np.array(exact[min(lambdas)]["loss"]), np.array(exact[max(lambdas)]["loss"])
    claims.check(np.max(np.abs(lo - hi)) < 1e-10, "λ = ±2 give the same loss curve",
                 f"max |Δ| = {np.max(np.abs(lo - hi)):.1e}")
    return claims.finish()


if __name__ == "__main__":
    sys.exit(main())
