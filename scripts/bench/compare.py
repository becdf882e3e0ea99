# /// script
# requires-python = ">=3.10"
# dependencies = ["numpy>=1.24", "threadpoolctl>=3"]
# ///
"""Compare the Rust solver's criterion timings with the plain numpy reference, single-threaded.

Times, with ``timeit`` (median of repeats), the numpy implementation in ``numpy_reference.py``:

- ``closed_form_point``: one ``ClosedForm.qqt(t)`` evaluation (t cycles over a fixed list);
- ``closed_form_setup``: ``ClosedForm(w1, w2, sigma_yx)`` (SVDs, O±⊥, P₊, N₋, N⊥, H, K⊥);
- ``gd_step``: one gradient-descent step of the whitened two-layer net;
- ``rk4_step``: one RK4 step of its gradient flow;
- ``gd_step_depth4``, ``rk4_step_depth4``: the same steps of a depth-4 network, every width N ∈
  {8, 64} (``--deep-sizes``; Gaussian weights of entry scale 1/√N: the cost of a step does not
  depend on the values);

at N = Ni = Nh = No ∈ {2, 8, 32, 64}, λ = 0.5, σ = 0.5, and reads the Rust medians from
``target/criterion/<group>/<N>/new/estimates.json`` (written by ``cargo bench -p lazyrich-benches``;
the group names are those of ``benches/solver.rs``). Prints N, rust ns, numpy ns and numpy/rust.

BLAS runs on one thread: the thread variables are set before numpy is imported. The BLAS in use
is reported via threadpoolctl when installed, else numpy.show_config.

Usage: ``python3 compare.py [--run-cargo] [--sizes 2 8 32 64] [--json out.json]``.
"""

from __future__ import annotations

import os

# Must happen before numpy is imported. OPENBLAS_CORETYPE, if set, is deliberately left alone.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import timeit  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import numpy_reference as ref  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Benchmark groups, in print order; must match the group names in benches/solver.rs.
GROUPS = ("closed_form_point", "closed_form_setup", "gd_step", "rk4_step")
LAMBDA = 0.5
SIGMA = 0.5
LEARNING_RATE = 0.001
RK4_DT = 0.001
#: Deep step groups (benches/solver.rs), their depth and sizes.
DEEP_GROUPS = ("gd_step_depth4", "rk4_step_depth4")
DEEP_DEPTH = 4
DEEP_SIZES = (8, 64)
#: Time points cycled through by the per-point benchmark (same list as benches/solver.rs).
TIME_POINTS = (0.05, 0.3, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0)
#: Targets of the issue (single thread): (group, N, kind, value).
TARGETS = (
    ("closed_form_point", 8, "rust_ns_at_most", 1000.0),
    ("closed_form_point", 64, "ratio_at_least", 3.0),
    ("gd_step", 8, "rust_ns_at_most", 1000.0),
)


def blas_description():
    """One line naming the BLAS numpy uses, and its thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        threadpool_info = None
    if threadpool_info is not None:
        pools = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if pools:
            return "; ".join(
                f"{p.get('internal_api')} {p.get('version')} ({p.get('architecture')}, "
                f"threading {p.get('threading_layer')}, {p.get('num_threads')} thread(s)) "
                f"from {p.get('filepath')}"
                for p in pools
            )
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name')} {blas.get('version')} (from numpy.show_config; threads not verified)"
    except Exception as exc:  # numpy < 1.25 has no mode="dicts"
        return f"unknown ({exc})"


def problem(n, seed):
    """Random whitened task and λ-balanced init at N = Ni = Nh = No, with a non-singular P₊."""
    rng = np.random.default_rng(seed)
    syx = rng.standard_normal((n, n))
    w1, w2 = ref.lambda_balanced(rng, LAMBDA, n, n, n, SIGMA)
    try:
        ref.ClosedForm(w1, w2, syx)
    except ref.SingularError:
        w2 = w2.copy()
        w2[0, :] *= -1  # keeps W2ᵀW2, hence the balance
    return w1, w2, syx


def median_seconds(stmt, repeat, min_time):
    """Median over `repeat` runs of the per-call time of `stmt`, each run ≥ `min_time` seconds."""
    timer = timeit.Timer(stmt)
    number = 1
    while True:
        if timer.timeit(number) >= min_time:
            break
        number *= 2
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number


def time_numpy(n, repeat, min_time):
    """Per-call numpy times (ns) for each group at size n."""
    w1, w2, syx = problem(n, seed=1000 + n)
    cf = ref.ClosedForm(w1, w2, syx)
    times = {}

    def per_point():
        for t in TIME_POINTS:
            cf.qqt(t)

    times["closed_form_point"] = median_seconds(per_point, repeat, min_time) / len(TIME_POINTS)
    times["closed_form_setup"] = median_seconds(lambda: ref.ClosedForm(w1, w2, syx), repeat, min_time)
    a, b = w1.copy(), w2.copy()
    times["gd_step"] = median_seconds(lambda: ref.gd_step(a, b, syx, LEARNING_RATE), repeat, min_time)
    state = [w1.copy(), w2.copy()]

    def rk4():
        state[0], state[1] = ref.rk4_step(state[0], state[1], syx, RK4_DT)

    times["rk4_step"] = median_seconds(rk4, repeat, min_time)
    return {k: v * 1e9 for k, v in times.items()}


def time_numpy_deep(n, repeat, min_time):
    """Per-call numpy times (ns) of the deep step groups at size n."""
    rng = np.random.default_rng(2000 + n)
    syx = rng.standard_normal((n, n))
    ws = [rng.standard_normal((n, n)) / np.sqrt(n) for _ in range(DEEP_DEPTH)]
    times = {"gd_step_depth4": median_seconds(lambda: ref.deep_gd_step(ws, syx, LEARNING_RATE),
                                              repeat, min_time)}
    state = [w.copy() for w in ws]

    def rk4():
        state[:] = ref.deep_rk4_step(state, syx, RK4_DT)

    times["rk4_step_depth4"] = median_seconds(rk4, repeat, min_time)
    return {k: v * 1e9 for k, v in times.items()}


def rust_median_ns(criterion_dir, group, n):
    """Median point estimate (ns) of criterion's latest run, or None if absent."""
    path = criterion_dir / group / str(n) / "new" / "estimates.json"
    if not path.is_file():
        return None
    with path.open() as fh:
        return float(json.load(fh)["median"]["point_estimate"])


def fmt_ns(x):
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:.1f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 8, 32, 64])
    parser.add_argument("--deep-sizes", type=int, nargs="*", default=list(DEEP_SIZES))
    parser.add_argument("--repeat", type=int, default=15, help="timeit repeats (median taken)")
    parser.add_argument("--min-time", type=float, default=0.02, help="seconds per timeit repeat")
    parser.add_argument("--run-cargo", action="store_true",
                        help="run `cargo bench -p lazyrich-benches -- FILTER...` first")
    parser.add_argument("--filter", nargs="*", default=[],
                        help="criterion filters passed after `--` with --run-cargo")
    parser.add_argument("--criterion-dir", type=pathlib.Path,
                        default=REPO_ROOT / "target" / "criterion")
    parser.add_argument("--json", type=pathlib.Path, help="also write the table as JSON here")
    args = parser.parse_args(argv)

    if args.run_cargo:
        cmd = ["cargo", "bench", "-p", "lazyrich-benches", "--", *args.filter]
        print("$ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=REPO_ROOT, check=True)

    print(f"numpy {np.__version__}; BLAS: {blas_description()}")
    print(f"problem: Ni = Nh = No = N, λ = {LAMBDA}, σ = {SIGMA}, whitened; medians, single thread")
    rows = []
    for n in args.sizes:
        numpy_ns = time_numpy(n, args.repeat, args.min_time)
        for group in GROUPS:
            rust = rust_median_ns(args.criterion_dir, group, n)
            rows.append({"group": group, "n": n, "rust_ns": rust, "numpy_ns": numpy_ns[group],
                         "ratio": None if rust is None else numpy_ns[group] / rust})

    deep_rows = []
    for n in args.deep_sizes:
        numpy_ns = time_numpy_deep(n, args.repeat, args.min_time)
        for group in DEEP_GROUPS:
            rust = rust_median_ns(args.criterion_dir, group, n)
            deep_rows.append({"group": group, "n": n, "rust_ns": rust,
                              "numpy_ns": numpy_ns[group],
                              "ratio": None if rust is None else numpy_ns[group] / rust})
    rows += deep_rows

    for group in GROUPS + DEEP_GROUPS:
        print(f"\n{group}")
        print(f"{'N':>4} {'rust ns':>12} {'numpy ns':>12} {'numpy/rust':>11}")
        for row in (r for r in rows if r["group"] == group):
            ratio = "—" if row["ratio"] is None else f"{row['ratio']:.1f}x"
            print(f"{row['n']:>4} {fmt_ns(row['rust_ns']):>12} {fmt_ns(row['numpy_ns']):>12} {ratio:>11}")

    print("\ntargets")
    for group, n, kind, value in TARGETS:
        row = next((r for r in rows if r["group"] == group and r["n"] == n), None)
        if row is None or row["rust_ns"] is None:
            print(f"  {group}/{n}: no data")
            continue
        if kind == "rust_ns_at_most":
            ok, got = row["rust_ns"] <= value, f"rust {row['rust_ns']:.0f} ns (target ≤ {value:.0f} ns)"
        else:
            ok, got = row["ratio"] >= value, f"numpy/rust {row['ratio']:.1f}x (target ≥ {value:.0f}x)"
        print(f"  {'met ' if ok else 'MISS'} {group}/{n}: {got}")

    if args.json:
        args.json.write_text(json.dumps({"numpy": np.__version__, "blas": blas_description(),
                                         "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
