#!/usr/bin/env bash
# Sweep speed and memory of `lazyrich run` (a benchmark, not a test).
#
# Generates closed-form specs (widths [8, 8, 8], random task on 64 samples, λ-balanced init,
# 100 λ × 10 scales × R replicates, 100 log-spaced times, loss and kernel distance per time,
# no singular values), then measures with GNU `/usr/bin/time -v` (wall time, CPU time, peak RSS):
#
#   per-time  `lazyrich run` of 1e5 points at --threads 1 and --threads 2 (each --repeats times);
#   no-per-time-3-times  `lazyrich run` of 1e6 points at --threads 2 for the peak RSS, with
#             `record.per_time = false` and 3 times (so it takes about a minute, not ten);
#   solver    `cargo bench --bench sweep`: criterion group sweep_point/closed_form_n8_t100, one
#             `lazyrich_runner::compute_point` per iteration on the same kind of points, single
#             thread, nothing written (the solver-only rate);
#   numpy     scripts/bench/sweep_baseline.py on the first --baseline-points points of the same
#             grid (numpy loop + pandas.to_parquet, single-threaded BLAS).
#
# Prints a table: points, wall s, CPU s, points/s, per-time rows/s (points × 100), peak RSS,
# and the ratios: 2-thread speed-up, end-to-end / solver-only, lazyrich / numpy.
# The machine may be shared: timings are noisy, so each lazyrich run is repeated and the best
# (shortest) wall time is used for the ratios; every run is listed.
#
# Usage: scripts/bench/sweep.sh [--repeats N] [--replicates R] [--baseline-points K]
#                               [--skip-1e6] [--skip-criterion] [--no-build] [--tsv FILE]
# --no-build uses the existing target/release/lazyrich; --skip-criterion reuses the last
# criterion estimate in target/criterion/sweep_point/ if there is one.
# Needs: cargo, python3 with pip (installs numpy, pandas, pyarrow), GNU time (installed with
# apt-get when missing). Takes about 6 minutes on 2 idle cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

repeats=2
replicates=100          # 100 λ × 10 scales × 100 replicates = 1e5 points
big_replicates=1000     # 1e6 points
baseline_points=400
skip_big=0
skip_criterion=0
build=1
tsv_out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --repeats) repeats=$2; shift 2 ;;
        --replicates) replicates=$2; shift 2 ;;
        --baseline-points) baseline_points=$2; shift 2 ;;
        --skip-1e6) skip_big=1; shift ;;
        --skip-criterion) skip_criterion=1; shift ;;
        --no-build) build=0; shift ;;
        --tsv) tsv_out=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

if ! /usr/bin/time -v true >/dev/null 2>&1; then
    echo "== installing GNU time (apt-get)" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >&2
fi
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    "numpy>=1.24" "pandas>=2.0" "pyarrow>=14"

if [[ $build == 1 ]]; then
    echo "== cargo build --release -p lazyrich-cli" >&2
    cargo build --release -p lazyrich-cli >&2
fi
lazyrich=$root/target/release/lazyrich

work=$(mktemp -d "${TMPDIR:-/tmp}/lazyrich-sweep-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
results=$work/results.tsv
printf 'label\tthreads\tpoints\ttimes\twall_s\tcpu_s\tpeak_rss_kib\tload_before\n' > "$results"

# spec FILE REPLICATES PER_TIME TIMES: the benchmark spec (the grid of benches/sweep.rs).
spec() {
    local file=$1 reps=$2 per_time=$3 times=$4
    cat > "$file" <<EOF
name = "bench_sweep"
seed = 7
max_points = $((100 * 10 * reps))

[defaults]
task = { kind = "random", samples = 64 }
init = "balanced"
method = "closed-form"
time = $times
record = { per_time = $per_time, singular_values = false }

[[block]]
lambda = { linspace = [-5, 5, 100] }
scale = { logspace = [-2, 0, 10] }
widths = [8, 8, 8]
replicates = $reps
EOF
}

# Rows in a dataset, from the Parquet footers.
dataset_rows() {
    python3 -c '
import pathlib, sys
import pyarrow.parquet as pq
print(sum(pq.read_metadata(f).num_rows for f in pathlib.Path(sys.argv[1]).glob("points/**/*.parquet")))
' "$1"
}

# measure LABEL SPEC THREADS TIMES: one timed `lazyrich run` into a fresh directory.
measure() {
    local label=$1 spec_file=$2 threads=$3 times=$4
    local out=$work/out-$label-$threads timing=$work/time.txt
    rm -rf "$out"
    local points
    points=$("$lazyrich" plan "$spec_file" | awk '$1 == "estimated" && $2 == "rows" { print $3 }')
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "== lazyrich run $(basename "$spec_file") --threads $threads --quiet ($points points, load $load)" >&2
    /usr/bin/time -v -o "$timing" "$lazyrich" run "$spec_file" --out "$out" --threads "$threads" --quiet
    local rows
    rows=$(dataset_rows "$out")
    if [[ "$rows" != "$points" ]]; then
        echo "run wrote $rows rows, expected $points" >&2
        exit 1
    fi
    awk -v label="$label" -v threads="$threads" -v points="$points" -v times="$times" \
        -v load="$load" -F': ' '
        /User time/ { cpu += $2 }
        /System time/ { cpu += $2 }
        /Maximum resident set size/ { rss = $2 }
        /Elapsed \(wall clock\)/ {
            n = split($2, parts, ":"); wall = 0
            for (i = 1; i <= n; i++) wall = wall * 60 + parts[i]
        }
        END {
            printf "%s\t%s\t%s\t%s\t%.3f\t%.3f\t%s\t%s\n", label, threads, points, times, wall, cpu, rss, load
        }
    ' "$timing" >> "$results"
    rm -rf "$out"
}

spec "$work/sweep-1e5.toml" "$replicates" true '{ logspace = [-2, 2, 100] }'
for ((r = 0; r < repeats; r++)); do
    measure per-time "$work/sweep-1e5.toml" 1 100
    measure per-time "$work/sweep-1e5.toml" 2 100
done
if [[ $skip_big == 0 ]]; then
    spec "$work/sweep-1e6.toml" "$big_replicates" false '[1.0, 10.0, 100.0]'
    measure no-per-time-3-times "$work/sweep-1e6.toml" 2 3
fi

criterion_home=$root/target/criterion
estimates=$criterion_home/sweep_point/closed_form_n8_t100/new/estimates.json
if [[ $skip_criterion == 0 ]]; then
    echo "== cargo bench -p lazyrich-benches --bench sweep" >&2
    CRITERION_HOME=$criterion_home cargo bench -p lazyrich-benches --bench sweep -- --noplot >&2
fi

echo "== numpy baseline: sweep_baseline.py --limit $baseline_points" >&2
baseline_json=$work/baseline.json
python3 scripts/bench/sweep_baseline.py --replicates 1 --limit "$baseline_points" --json > "$baseline_json"
cat "$baseline_json" >&2

[[ -n "$tsv_out" ]] && cp "$results" "$tsv_out"

python3 - "$results" "$estimates" "$baseline_json" <<'PY'
import csv, json, pathlib, sys

results, estimates, baseline = map(pathlib.Path, sys.argv[1:])
runs = list(csv.DictReader(results.open(), delimiter="\t"))
head = (f"{'what':<46} {'points':>8} {'wall s':>7} {'CPU s':>7} {'points/s':>9} {'rows/s':>8} "
        f"{'pts/CPU-s':>9} {'RSS MiB':>7} {'load':>5}")
print(head)
print("-" * len(head))
for r in runs:
    points, times, wall, cpu = int(r["points"]), int(r["times"]), float(r["wall_s"]), float(r["cpu_s"])
    what = f"lazyrich run ({r['label']}) --threads {r['threads']}"
    print(f"{what:<46} {points:>8} {wall:>7.1f} {cpu:>7.1f} {points / wall:>9.0f} "
          f"{points * times / wall:>8.0f} {points / cpu:>9.0f} {int(r['peak_rss_kib']) / 1024:>7.1f} "
          f"{r['load_before']:>5}")

def best(label, threads, key):
    sel = [r for r in runs if r["label"] == label and r["threads"] == str(threads)]
    return max(int(r["points"]) / float(r[key]) for r in sel) if sel else None

solver = None
if estimates.is_file():
    ns = json.loads(estimates.read_text())["median"]["point_estimate"]
    solver = 1e9 / ns
    what = "solver only: criterion median, 1 thread"
    print(f"{what:<46} {'':>8} {'':>7} {'':>7} {solver:>9.0f} {solver * 100:>8.0f} {solver:>9.0f}")
b = json.loads(baseline.read_text())
what = "numpy loop + pandas.to_parquet, 1 thread"
print(f"{what:<46} {b['points']:>8} {b['wall_s']:>7.1f} {'':>7} {b['points_per_s']:>9.1f} "
      f"{b['rows_per_s']:>8.0f}")

one, two = best("per-time", 1, "wall_s"), best("per-time", 2, "wall_s")
one_cpu = best("per-time", 1, "cpu_s")
print()
print("ratios (best run of each lazyrich configuration; rows/s = points/s x times per point):")
if one and two:
    print(f"  2-thread speed-up, wall time:                 {two / one:.2f}x")
if one and solver:
    print(f"  end-to-end / solver only, 1 thread, wall:     {one / solver:.2f}")
if one_cpu and solver:
    print(f"  end-to-end / solver only, per CPU second:     {one_cpu / solver:.2f}")
if one:
    print(f"  lazyrich 1 thread / numpy baseline:           {one / b['points_per_s']:.0f}x")
if two:
    print(f"  lazyrich 2 threads / numpy baseline:          {two / b['points_per_s']:.0f}x")
print("load = 1-minute load average before the run (2 cores: above ~0.5 the machine was shared)")
PY
