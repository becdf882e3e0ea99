#!/usr/bin/env bash
# `lazyrich submit slurm` on a real one-node Slurm cluster (scripts/slurm/local-cluster.sh),
# started here with MaxArraySize=4 and stopped on exit, whatever happens. Needs root on Debian
# (apt-get installs slurm-wlm and munge when missing). Called by scripts/test.sh.
#
#   bash scripts/slurm/test.sh [BIN]      # BIN: the lazyrich binary (default target/debug/lazyrich)
#
# (a) sweeps/quickstart.toml as 4 shards (--wait) holds the single-process run's table, value
#     for value (the read-back package scripts/tests/readback/, --same-as);
# (b) a slower spec (RK4 points; their number calibrated so that a shard takes about 10 s with
#     this binary, optimised or not) as 2 shards; one array task is cancelled mid-run
#     (scancel: SIGTERM, SIGKILL after KillWait); the merge job then fails naming the resubmit
#     command; --resubmit-missing --wait submits that shard alone and completes the dataset: no
#     row lost or duplicated;
# (c) 10 shards on a cluster whose MaxArraySize is 4: three job arrays (shard offsets 0, 4, 8),
#     the same table as the single run;
# (d) the task stopped in (b) saved every row it computed: its log's "stopped by SIGTERM: ...
#     N rows saved" equals the rows of its shard in the dataset before the resubmission.
set -euo pipefail
cd "$(dirname "$0")/../.."

lazyrich=$(realpath "${1:-target/debug/lazyrich}")
[[ -x $lazyrich ]] || { echo "slurm test: no binary at $lazyrich (cargo build first)" >&2; exit 1; }
started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/lazyrich-slurm-test.XXXXXX")
chmod 0755 "$work" # munged (user munge) reaches its socket inside
# The cluster's private directory: in /tmp, where every "node" (this machine) sees it.
export LAZYRICH_SLURM_DIR=$work/cluster
export LAZYRICH_SLURM_MAX_ARRAY_SIZE=4
export LAZYRICH_SLURM_KILL_WAIT=10
cleanup() {
    bash scripts/slurm/local-cluster.sh down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "slurm test FAILED: $*" >&2; exit 1; }
readback() {
    PYTHONPATH="$PWD/scripts/tests${PYTHONPATH:+:$PYTHONPATH}" python3 -m readback "$@"
}
json_field() { # json_field FILE PYTHON-EXPRESSION-ON-d
    python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print($2)" "$1"
}
# Blocks until squeue no longer lists job $1 (at most $2 seconds).
wait_gone() {
    local deadline=$((SECONDS + $2))
    while squeue -h -j "$1" 2>/dev/null | grep -q .; do
        ((SECONDS < deadline)) || fail "job $1 still queued after $2 s"
        sleep 1
    done
}

t=$SECONDS
bash scripts/slurm/local-cluster.sh up
# shellcheck disable=SC1091
source "$LAZYRICH_SLURM_DIR/env.sh"
echo "slurm: cluster up in $((SECONDS - t)) s"

spec=sweeps/quickstart.toml
planned=$("$lazyrich" plan "$spec" | awk '$1 == "estimated" && $2 == "rows" { print $3 }')
"$lazyrich" run "$spec" --out "$work/single" --threads 1 --quiet

echo "== (a) $spec as 4 shards through Slurm: the single run's table"
t=$SECONDS
"$lazyrich" submit slurm "$spec" --out "$work/a" --shards 4 --wait
readback "$work/a" --spec "$spec" --expected "$planned" --same-as "$work/single" --quiet
echo "(a) passed in $((SECONDS - t)) s"

echo "== (c) 10 shards with MaxArraySize=4: three arrays"
t=$SECONDS
"$lazyrich" submit slurm "$spec" --out "$work/c" --shards 10 --wait | tee "$work/c.out"
arrays=$(grep -c '^submitted shards' "$work/c.out" || true)
[[ $arrays == 3 ]] || fail "(c) expected 3 job arrays for 10 shards, submitted $arrays"
grep -q -- '--shards 10 --shard-offset 8$' "$work/c/_lazyrich/slurm/shards-2.sh" \
    || fail "(c) the third array does not run shards 8-9"
readback "$work/c" --spec "$spec" --expected "$planned" --same-as "$work/single" --quiet
echo "(c) passed in $((SECONDS - t)) s"

echo "== (b, d) a shard cancelled mid-run, then --resubmit-missing"
t=$SECONDS
# RK4 points at a small step: about 0.4 s each with the dev-profile binary, 20 ms optimised.
slow_spec() {
    cat <<EOF
name = "slurm-slow"
seed = 7
[defaults]
task = { kind = "random", samples = 8 }
init = "balanced"
method = "rk4"
dt = 0.002
time = { linspace = [0, 20, 5] }
[[block]]
lambda = { linspace = [-1, 1, $1] }
scale = 0.5
widths = [4, 4, 4]
EOF
}
slow_spec 6 >"$work/calibrate.toml"
t0=$(date +%s%N)
"$lazyrich" run "$work/calibrate.toml" --out "$work/calibrate" --threads 1 --quiet
ms_per_point=$((($(date +%s%N) - t0) / 1000000 / 6 + 1))
n_slow=$((2 * 10000 / ms_per_point))
((n_slow >= 12)) || n_slow=12
((n_slow <= 5000)) || n_slow=5000
slow=$work/slow.toml
slow_spec "$n_slow" >"$slow"
echo "(b) $ms_per_point ms a point: $n_slow points, about 10 s a shard"
slow_planned=$("$lazyrich" plan "$slow" | awk '$1 == "estimated" && $2 == "rows" { print $3 }')
"$lazyrich" submit slurm "$slow" --out "$work/b" --shards 2 --threads 1 | tee "$work/b.out"
job=$(sed -n 's/^submitted shards .* as job array \([0-9]*\) .*/\1/p' "$work/b.out")
merge_job=$(sed -n 's/^submitted the merge job \([0-9]*\) .*/\1/p' "$work/b.out")
[[ -n $job && -n $merge_job ]] || fail "(b) no job ids in the submit output"
log=$work/b/_lazyrich/slurm/logs/shard-${job}_1.out
deadline=$((SECONDS + 60))
until grep -q "to compute" "$log" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "(b) task ${job}_1 did not start within 60 s"
    sleep 0.5
done
sleep 3
scancel "${job}_1"
wait_gone "$merge_job" 120
cat "$log"
grep -q "stopped by SIGTERM" "$log" || fail "(d) the cancelled task's log does not say it was stopped by SIGTERM"
saved=$(sed -n 's/.*stopped by SIGTERM: .*, \([0-9][0-9]*\) rows saved to .*/\1/p' "$log")
"$lazyrich" status "$work/b" --shards 2 --json >"$work/b.json"
on_disk=$(json_field "$work/b.json" 'd["shards"][1]["done"]')
missing=$(json_field "$work/b.json" 'd["shards"][1]["missing"]')
echo "(d) the stopped task saved ${saved:-?} rows; shard 1/2 holds $on_disk rows, misses $missing"
[[ -n $saved && $saved -gt 0 ]] || fail "(d) the stopped task saved no row (cancelled too early?)"
[[ $saved == "$on_disk" ]] || fail "(d) the log says $saved rows saved, the dataset holds $on_disk"
[[ $missing -gt 0 ]] || fail "(b) shard 1/2 finished before it was cancelled: no test of the resubmission"
merge_log=$work/b/_lazyrich/slurm/logs/merge-$merge_job.out
grep -q -- "--resubmit-missing" "$merge_log" || fail "(b) the merge job did not name the resubmit command"
"$lazyrich" submit slurm "$slow" --out "$work/b" --shards 2 --threads 1 --resubmit-missing --wait \
    | tee "$work/b2.out"
grep -q "^resubmitting shards 1 of 2" "$work/b2.out" || fail "(b) did not resubmit shard 1 alone"
"$lazyrich" status "$work/b" --shards 2 --json >"$work/b.json"
[[ $(json_field "$work/b.json" 'd["missing"]') == 0 ]] || fail "(b) points still missing"
[[ $(json_field "$work/b.json" 'd["duplicate_rows"]') == 0 ]] || fail "(b) duplicate rows"
readback "$work/b" --spec "$slow" --expected "$slow_planned" --quiet
"$lazyrich" submit slurm "$slow" --out "$work/b" --resubmit-missing | tee "$work/b3.out"
grep -q "^nothing to resubmit" "$work/b3.out" || fail "(b) a complete dataset was resubmitted"
echo "(b, d) passed in $((SECONDS - t)) s"

echo "slurm: all passed in $((SECONDS - started)) s"
