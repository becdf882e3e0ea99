# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Figure 5: funnel, square and inverted-funnel networks against λ: how far the NTK moves and
how long learning takes ("delayed rich").

Reads the dataset of ``sweeps/paper/fig5.toml`` (closed form, σ = 0.1, Nh = min(Ni, No), 5
replicates). Left: kernel distance between NTK(0) and NTK(end); right: t90, the time for the loss
to fall by 90 % of its drop. Lines are medians over replicates, bands their range; points whose
closed form is singular (λ = 0, square, docs/math.md P2) are left out and counted in the legend.

Claims checked (docs/math.md §4.7): the funnel (Ni > No) is lazy at λ = +20 (kernel distance < 1e-3) and
rich at λ = −20 (> 0.5), where it also learns more than 10× more slowly than at +20 (delayed
rich); the inverted funnel is the mirror image; the square network is lazy at both λ = ±20.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import polars as pl

import common

NAMES = {(8, 2): "funnel 8-2-2", (4, 4): "square 4-4-4", (2, 8): "inverted funnel 2-2-8"}
COLORS = {(8, 2): common.NEG, (4, 4): common.ZERO, (2, 8): common.POS}


def main() -> int:
    args = common.arguments(__doc__, "fig5", "fig5_architectures.png")
    common.style()
    df = common.load(args.data)
    claims = common.Claims("Fig 5")
    ok = df.filter(pl.col("status") == "ok")
    stats = (ok.group_by("n_in", "n_out", "lambda")
             .agg(kd=pl.col("kernel_distance_end").median(), kd_lo=pl.col("kernel_distance_end").min(),
                  kd_hi=pl.col("kernel_distance_end").max(), t90=pl.col("t90").median(),
                  t90_lo=pl.col("t90").min(), t90_hi=pl.col("t90").max())
             .sort("lambda"))

    fig, (ax_kd, ax_t) = plt.subplots(1, 2, figsize=(10, 3.8))
    for (n_in, n_out), name in NAMES.items():
        s = stats.filter(pl.col("n_in") == n_in, pl.col("n_out") == n_out)
        if s.height == 0:
            continue
        singular = df.filter(pl.col("n_in") == n_in, pl.col("n_out") == n_out, pl.col("status") != "ok").height
        label = name + (f" ({singular} singular at λ = 0 omitted)" if singular else "")
        color = COLORS[(n_in, n_out)]
        lam = s["lambda"].to_numpy()
        ax_kd.plot(lam, s["kd"], "o-", ms=3, color=color, label=label)
        ax_kd.fill_between(lam, s["kd_lo"], s["kd_hi"], color=color, alpha=0.2)
        ax_t.plot(lam, s["t90"], "o-", ms=3, color=color, label=name)
        ax_t.fill_between(lam, s["t90_lo"], s["t90_hi"], color=color, alpha=0.2)
    ax_kd.set_xlabel("λ")
    ax_kd.set_ylabel("kernel distance NTK(0) → NTK(end)")
    ax_kd.set_title("How far the NTK moves (0: lazy)")
    ax_kd.legend(loc="center left", bbox_to_anchor=(0.0, 0.4), fontsize=7)
    ax_t.set_yscale("log")
    ax_t.set_xlabel("λ")
    ax_t.set_ylabel("t90 (units of τ)")
    ax_t.set_title("Time to learn 90 % of the task")
    fig.suptitle("Architecture × λ: funnels are lazy on one side and rich but slow on the other "
                 "(σ = 0.1, medians of 5 replicates)", y=1.02)
    fig.tight_layout()
    common.save(fig, args.out)

    def at(n_in: int, n_out: int, lam: float, col: str) -> float:
        return stats.filter(pl.col("n_in") == n_in, pl.col("n_out") == n_out, pl.col("lambda") == lam)[col][0]

    for (n_in, n_out), lazy, rich in (((8, 2), 20.0, -20.0), ((2, 8), -20.0, 20.0)):
        name = NAMES[(n_in, n_out)]
        kd_lazy, kd_rich = at(n_in, n_out, lazy, "kd"), at(n_in, n_out, rich, "kd")
        claims.check(kd_lazy < 1e-3, f"{name} is lazy at λ = {lazy:g}", f"kernel distance {kd_lazy:.1e}")
        claims.check(kd_rich > 0.5, f"{name} is rich at λ = {rich:g}", f"kernel distance {kd_rich:.2f}")
        t_lazy, t_rich = at(n_in, n_out, lazy, "t90"), at(n_in, n_out, rich, "t90")
        claims.check(t_rich > 10 * t_lazy, f"{name} is delayed rich at λ = {rich:g}",
                     f"t90 {t_rich:.1f} vs {t_lazy:.2f}")
    for lam in (-20.0, 20.0):
        kd = at(4, 4, lam, "kd")
        claims.check(kd < 1e-3, f"square 4-4-4 is lazy at λ = {lam:g}", f"kernel distance {kd:.1e}")
    return claims.finish()


if __name__ == "__main__":
    sys.exit(main())
