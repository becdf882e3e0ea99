# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Figure 4E: sensitivity of the converged network to input noise and to parameter noise
against λ (semantic hierarchy).

Reads block 2 of ``sweeps/paper/fig4.toml`` (QQᵀ at convergence for 41 values of λ). With
whitened inputs and isotropic noise of variance σ² (docs/math.md §4.8, first order):

- input noise x → x + ε: E‖W2W1 ε‖² = σ² ‖W2W1‖²_F, which does not depend on λ;
- parameter noise W_l → W_l + E_l: E‖Δŷ‖² ≈ σ² (Ni tr W2W2ᵀ + No tr W1ᵀW1), averaged over
  inputs (E‖x‖² = Ni, E xᵀAx = tr A), which grows with |λ| (one layer grows like |λ|).

Both are drawn per unit σ². Claims checked: the input-noise sensitivity is the same at every λ
(relative spread below 1e-6); the parameter-noise sensitivity is smallest at |λ| ≤ 1 and more
than 3× larger at λ = ±10.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import common


def main() -> int:
    args = common.arguments(__doc__, "fig4", "fig4e_noise.png")
    common.style()
    df = common.load(args.data).filter(pl.col("block") == 2).sort("lambda")
    claims = common.Claims("Fig 4E")
    lam, input_noise, param_noise = [], [], []
    for row in df.iter_rows(named=True):
        a, w, m = common.blocks(common.matrices(row)[-1], row["n_in"])
        lam.append(row["lambda"])
        input_noise.append(np.sum(w * w))
        param_noise.append(row["n_in"] * np.trace(m) + row["n_out"] * np.trace(a))
    lam, input_noise, param_noise = map(np.array, (lam, input_noise, param_noise))

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ax.plot(lam, param_noise, "o-", color=common.POS, ms=3, label="parameter noise: Ni tr W2W2ᵀ + No tr W1ᵀW1")
    ax.plot(lam, input_noise, "s-", color=common.NEG, ms=3, label="input noise: ‖W2W1‖²_F")
    ax.set_yscale("log")
    ax.set_xlabel("λ (relative scale of the init)")
    ax.set_ylabel("output variance per unit noise variance σ²")
    ax.set_title("Noise sensitivity of the converged network (8-item hierarchy)")
    ax.legend(loc="center", bbox_to_anchor=(0.5, 0.4))
    fig.tight_layout()
    common.save(fig, args.out)

    spread = (input_noise.max() - input_noise.min()) / input_noise.mean()
    claims.check(spread < 1e-6, "input-noise sensitivity does not depend on λ", f"relative spread {spread:.1e}")
    at_min = lam[np.argmin(param_noise)]
    claims.check(abs(at_min) <= 1, "parameter-noise sensitivity is smallest near λ = 0", f"minimum at λ = {at_min:g}")
    for end in (lam.min(), lam.max()):
        ratio = param_noise[lam == end][0] / param_noise.min()
        claims.check(ratio > 3, f"parameter-noise sensitivity grows with |λ| (λ = {end:g})", f"{ratio:.1f}× the minimum")
    return claims.finish()


if __name__ == "__main__":
    sys.exit(main())
