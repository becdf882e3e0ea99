# /// script
# requires-python = ">=3.11"
# dependencies = ["polars>=1.10", "numpy>=1.24", "matplotlib>=3.7"]
# ///
"""Applications (paper Section 6, App. D): continual learning, reversal learning, transfer to a
new feature, fine-tuning after re-balancing.

Reads the dataset of ``sweeps/paper/applications.toml`` (multi-phase protocols, closed form
restarted at every switch). Panels:

(a) continual: loss on each of the 4 tasks through the sequence (one λ, one replicate);
(b) continual: forgetting measured at the end of each phase against the formula of docs/math.md §5.1,
    every task, transition, λ and replicate;
(c) reversal: escape time (50 % of the loss drop recovered after the switch to −Σyx) against λ;
    λ = 0 starts phase 2 on the saddle and is reported singular;
(d) transfer: loss on the new task (hierarchy + a new feature) after the switch, per λ;
(e) fine-tuning: how far the NTK moves during fine-tuning against λ_ft;
(f) fine-tuning: how far W1ᵀW1 and W2W2ᵀ move during fine-tuning against λ_ft.

Claims checked: forgetting equals the formula (1e-8) and does not depend on λ; reversal at λ = 0
is singular in phase 2, the escape time falls as |λ| grows on both sides, and λ = ±1 learn −Σyx;
the new feature is learned at every λ, ten times faster at λ = −4 than at λ = +4 (the delayed
side of Ni < No, docs/math.md §4.7); fine-tuning moves the NTK less as |λ_ft| grows (lazy), and
fine-tuning at the pre-training λ is plain transfer.
"""

from __future__ import annotations

import sys

import matplotlib.pyplot as plt
import numpy as np
import polars as pl

import common


def main() -> int:
    args = common.arguments(__doc__, "applications", "applications.png")
    common.style()
    df = common.load(args.data)
    claims = common.Claims("Applications")
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.4))
    continual(df.filter(pl.col("task") == "continual"), axes[0, 0], axes[0, 1], claims)
    reversal(df.filter(pl.col("task") == "reversal"), axes[0, 2], claims)
    transfer(df.filter(pl.col("task") == "transfer", pl.col("n_out") != pl.col("n_in")), axes[1, 0], claims)
    fine_tuning(df.filter(pl.col("block") == 3), axes[1, 1], axes[1, 2], claims)
    for ax, letter in zip(axes.flat, "abcdef"):
        title = ax.get_title()
        ax.set_title("")
        ax.set_title(f"({letter}) {title}", loc="left")
    fig.tight_layout()
    common.save(fig, args.out)
    return claims.finish()


def continual(df: pl.DataFrame, ax_loss, ax_forget, claims: common.Claims) -> None:
    row = df.filter(pl.col("lambda") == 1.0, pl.col("replicate") == 0).row(0, named=True)
    t = np.array(row["t"])
    losses = np.array(row["task_losses"])
    for i in range(losses.shape[1]):
        ax_loss.plot(t, losses[:, i], lw=1.8, label=f"task {i + 1}")
    for start in row["phase_t_start"][1:]:
        ax_loss.axvline(start, color="grey", lw=0.8, ls="--")
    ax_loss.set_xlabel("time t (units of τ); a new task every 1000")
    ax_loss.set_ylabel("loss on each task")
    ax_loss.set_title("Continual learning: 4 tasks in sequence (λ = 1)")
    ax_loss.legend(ncol=2)

    ok = df.filter(pl.col("status") == "ok")
    flat = (ok.select("lambda", "replicate", "forgetting", "forgetting_formula")
            .explode("forgetting", "forgetting_formula")
            .with_columns(task=pl.int_ranges(pl.col("forgetting").list.len()))
            .explode("forgetting", "forgetting_formula", "task"))
    lambdas = sorted(flat["lambda"].unique().to_list())
    cmap = plt.get_cmap("coolwarm")
    for k, lam in enumerate(lambdas):
        sel = flat.filter(pl.col("lambda") == lam)
        ax_forget.scatter(sel["forgetting_formula"], sel["forgetting"], s=14, color=cmap(k / max(1, len(lambdas) - 1)),
                          label=common.lambda_label(lam), alpha=0.8)
    lim = [flat["forgetting_formula"].min(), flat["forgetting_formula"].max()]
    ax_forget.plot(lim, lim, color="black", lw=0.8)
    ax_forget.set_xlabel("predicted: ½(‖Σk − Σi‖² − ‖Σj − Σi‖²)")
    ax_forget.set_ylabel("measured change of the loss on task i")
    ax_forget.set_title("Forgetting at convergence: the same at every λ")
    ax_forget.legend(ncol=2, fontsize=7)

    worst = (flat["forgetting"] - flat["forgetting_formula"]).abs().max()
    claims.check(worst < 1e-8, "continual: forgetting equals the formula", f"max |Δ| = {worst:.1e}")
    spread = (flat.group_by("replicate", "task", pl.col("forgetting_formula").round(12))
              .agg(spread=pl.col("forgetting").max() - pl.col("forgetting").min())["spread"].max())
    claims.check(spread < 1e-8, "continual: forgetting does not depend on λ", f"largest spread over λ {spread:.1e}")


def reversal(df: pl.DataFrame, ax, claims: common.Claims) -> None:
    ok = df.filter(pl.col("status") == "ok").sort("lambda")
    # The two signs coincide (the escape time depends on |λ|): large hollow and small filled markers.
    for sign, color, name, style in ((-1, common.NEG, "λ < 0", dict(ms=10, mfc="none", lw=3, alpha=0.6)),
                                     (1, common.POS, "λ > 0", dict(ms=4, lw=1.2))):
        side = ok.filter(pl.col("lambda") * sign > 0)
        ax.plot(np.abs(side["lambda"]), side["escape_time"], "o-", color=color, label=name, **style)
    singular = df.filter(pl.col("status") == "singular")
    if singular.height:
        ax.axvline(ok["lambda"].abs().min() / 3, color=common.ZERO, lw=1, ls=":")
        ax.annotate("λ = 0: singular\n(stays on the saddle)", xy=(ok["lambda"].abs().min() / 3, ok["escape_time"].max()),
                    xytext=(5, -30), textcoords="offset points", color=common.ZERO, fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("|λ|")
    ax.set_ylabel("escape time after the switch (units of τ)")
    ax.set_title("Reversal learning: Σyx → −Σyx")
    ax.legend()

    zero = df.filter(pl.col("lambda") == 0.0)
    claims.check(zero.height == 1 and zero["status"][0] == "singular" and "phase 2 of 2" in zero["error"][0],
                 "reversal: λ = 0 is singular in phase 2", zero["error"][0] if zero.height else "no λ = 0 row")
    for sign in (-1, 1):
        side = ok.filter(pl.col("lambda") * sign > 0).with_columns(abs=pl.col("lambda").abs()).sort("abs")
        times = side["escape_time"].to_numpy()
        claims.check(bool(np.all(np.diff(times) < 0)), f"reversal: escape time falls as |λ| grows (λ {'>' if sign > 0 else '<'} 0)",
                     " → ".join(f"{x:.3g}" for x in times))
    for lam in (-1.0, 1.0):
        row = ok.filter(pl.col("lambda") == lam).row(0, named=True)
        first, second = row["phase_task_losses"][0][0], row["phase_task_losses"][1][1]
        claims.check(abs(first - second) < 1e-10 * max(1.0, first), f"reversal: λ = {lam:g} learns −Σyx",
                     f"loss on −Σyx after phase 2 = {second:.1e}, on Σyx after phase 1 = {first:.1e}")


def transfer(df: pl.DataFrame, ax, claims: common.Claims) -> None:
    ok = df.filter(pl.col("status") == "ok").sort("lambda")
    cmap = plt.get_cmap("coolwarm")
    lambdas = ok["lambda"].to_list()
    learned = []
    for k, row in enumerate(ok.iter_rows(named=True)):
        phase = np.array(row["phase"])
        t = np.array(row["t"])[phase == 1] - row["phase_t_start"][1]
        loss = np.array(row["task_losses"])[phase == 1, 1]
        ax.plot(t, loss, color=cmap(k / max(1, len(lambdas) - 1)), lw=1.6, label=common.lambda_label(row["lambda"]))
        start = np.array(row["task_losses"])[phase == 0, 1][-1]
        learned.append(loss[-1] / start)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-8)
    ax.set_xlabel("time since the switch (units of τ)")
    ax.set_ylabel("loss on the new task")
    ax.set_title("Transfer: hierarchy + a new feature")
    ax.legend(ncol=2, fontsize=7)
    claims.check(max(learned) < 1e-9, "transfer: the new feature is learned at every λ", f"largest final/initial {max(learned):.1e}")
    half = dict(zip(ok["lambda"].to_list(), ok["phase_t_half"].list.get(1).to_list()))
    lo, hi = min(half), max(half)
    claims.check(half[hi] > 10 * half[lo], f"transfer: slow (delayed) at λ = {hi:g}, fast at λ = {lo:g} (Ni < No)",
                 f"t_half {half[hi]:.3g} vs {half[lo]:.3g}")


def fine_tuning(df: pl.DataFrame, ax_kd, ax_rep, claims: common.Claims) -> None:
    ok = df.filter(pl.col("status") == "ok").with_columns(
        kd=pl.col("phase_kernel_distance").list.get(1),
        d_in=pl.col("phase_rep_change_in").list.get(1),
        d_out=pl.col("phase_rep_change_out").list.get(1),
    )
    tuned = ok.filter(pl.col("task") == "fine-tune").sort("lambda_ft")
    plain = ok.filter(pl.col("task") == "transfer")
    pre = plain["lambda"][0]
    stats = tuned.group_by("lambda_ft").agg(pl.col("kd", "d_in", "d_out").median()).sort("lambda_ft")
    for sign, color in ((-1, common.NEG), (1, common.POS)):
        side = stats.filter(pl.col("lambda_ft") * sign > 0)
        ax_kd.plot(side["lambda_ft"], side["kd"], "o-", color=color)
        ax_rep.plot(side["lambda_ft"], side["d_in"], "o-", color=color, label="W1ᵀW1" if sign > 0 else None)
        ax_rep.plot(side["lambda_ft"], side["d_out"], "s--", color=color, label="W2W2ᵀ" if sign > 0 else None)
    ax_kd.axhline(plain["kd"].median(), color="grey", ls=":", label=f"plain transfer (λ stays {pre:g})")
    ax_kd.set_yscale("log")
    ax_kd.set_xlabel("λ_ft of the re-balanced network")
    ax_kd.set_ylabel("kernel distance during fine-tuning")
    ax_kd.set_title(f"Fine-tuning after re-balancing (pre-trained at λ = {pre:g})")
    ax_kd.legend()
    ax_rep.set_yscale("log")
    ax_rep.set_xlabel("λ_ft of the re-balanced network")
    ax_rep.set_ylabel("‖Δ representation‖_F during fine-tuning")
    ax_rep.set_title("How far the representations move (medians of 3)")
    ax_rep.legend()

    for rep in tuned["replicate"].unique().to_list():
        mine = tuned.filter(pl.col("replicate") == rep)
        kd = dict(zip(mine["lambda_ft"].to_list(), mine["kd"].to_list()))
        small, large = min(kd, key=abs), max(kd, key=abs)
        claims.check(kd[large] < kd[small] / 100, f"fine-tuning (replicate {rep}): the NTK moves less at large |λ_ft|",
                     f"{kd[large]:.1e} at λ_ft = {large:g} vs {kd[small]:.1e} at {small:g}")
        same = mine.filter(pl.col("lambda_ft") == pre)
        ref = plain.filter(pl.col("replicate") == rep)
        if same.height and ref.height:
            diff = abs(same["kd"][0] - ref["kd"][0]) / ref["kd"][0]
            claims.check(diff < 1e-9, f"fine-tuning at λ_ft = λ = {pre:g} is plain transfer (replicate {rep})",
                         f"relative Δ = {diff:.1e}")


if __name__ == "__main__":
    sys.exit(main())
