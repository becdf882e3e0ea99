#!/usr/bin/env bash
# Every test of lazyrich. This is the README's test command; .ci/run runs it after fmt and clippy.
#
# 0. the module graph: no two modules of a crate import each other (scripts/tests/module_graph.py),
#    and the maths docs name only tests that exist, cited only by identifiers that exist
#    (scripts/tests/doc_refs.py);
# 1. the Rust workspace: unit, golden, docs/math.md T1–T12, property and CLI tests;
# 2. the numpy cross-check of the closed form (scripts/bench/numpy_reference.py --check);
# 3. read-back: runs `lazyrich run sweeps/quickstart.toml` into a
#    temporary directory and reads the dataset back with polars, pandas (pyarrow) and DuckDB
#    (the package scripts/tests/readback/), against the point count that an independent Python
#    expansion of the spec and `lazyrich plan` both give; likewise for the same spec run as two
#    shards on 2 threads into one directory, and after `lazyrich merge` (these two must also
#    hold the same values as the single-thread run);
# 4. protocols: runs `lazyrich run sweeps/tasks.toml` (every task kind × λ × scale) and reads it
#    back with polars (scripts/tests/readback_tasks.py: forgetting vs formula, reversal, tidy
#    recipes) and with the generic checks of readback (--multi-phase);
# 5. the Python package python/ (`import lazyrich`, docs/python.md): installed with pip, its
#    pytest suite (python/tests/, datasets made by the dev binary) and the example analysis
#    python/examples/analysis.py (runs the quickstart sweep into a temporary directory and draws
#    its figures there);
# 6. doc blocks: every code block of README.md and docs/*.md (commands, specs, `solve` problems,
#    Python recipes, docs/python.md with the package of step 5) runs against the dev binary
#    (scripts/tests/docblocks.py);
# 7. figures: scripts/reproduce.sh --bin (the dev binary of step 1) runs every paper spec
#    (sweeps/paper/, the full grids: about 30 s with this build) and draws every figure into a
#    temporary directory; each script checks the claim its figure illustrates;
# 8. cluster submission: the Kubernetes manifest of `lazyrich submit k8s` parsed with PyYAML
#    (scripts/tests/k8s_manifest.py), then scripts/slurm/test.sh: a real one-node Slurm cluster
#    (scripts/slurm/local-cluster.sh; as root, apt-get installs slurm-wlm and munge when missing)
#    runs `lazyrich submit slurm --wait`: 4 shards equal the single run, 10 shards in 3 arrays
#    (MaxArraySize 4), a shard cancelled mid-run saves its rows and is resubmitted (about a
#    minute; LAZYRICH_SKIP_SLURM=1 skips it, e.g. without root);
# 9. torture: scripts/torture/run.py --quick (docs/torture.md) attacks the binary: random
#    SIGKILLs and resumes, concurrent shards, merge and status, a full disk (as root where
#    tmpfs mounts), corrupted part files, and 300 mutants each of the bundled specs and solve
#    problems (about two minutes).
#
# Python packages (scripts/requirements.txt: numpy, polars, pandas, pyarrow, duckdb, matplotlib,
# pytest; then ./python) are installed with pip for the python3 on PATH; a fresh machine needs
# network access to PyPI for that step.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== module graph: no two modules of a crate import each other (scripts/tests/module_graph.py)"
python3 scripts/tests/module_graph.py
echo "== maths docs: every named test exists, every citation resolves (scripts/tests/doc_refs.py)"
python3 scripts/tests/doc_refs.py

echo "== cargo test --workspace --locked"
cargo test --workspace --locked

echo "== python packages: scripts/requirements.txt"
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore \
    -r scripts/requirements.txt

echo "== numpy cross-check of the closed form: scripts/bench/numpy_reference.py --check"
python3 scripts/bench/numpy_reference.py --check

# The binary `cargo test` just built (for the CLI's integration tests): the dev profile is
# optimised and `cargo test` inherits it (Cargo.toml). No `cargo build` here: its features differ
# from the test build's (dev-dependencies enable more of serde, either and rayon), so it would
# compile serde, rayon, store, runner and the CLI a second time (about a minute on 2 cores) for
# the same program. A release build would add minutes more for no extra coverage.
lazyrich=target/debug/lazyrich
echo "== the binary cargo test built: $lazyrich ($("$lazyrich" --version))"

out=$(mktemp -d "${TMPDIR:-/tmp}/lazyrich-readback.XXXXXX")
trap 'rm -rf "$out"' EXIT

# The read-back test is the Python package scripts/tests/readback/ (one module per reader).
readback() {
    PYTHONPATH="$PWD/scripts/tests${PYTHONPATH:+:$PYTHONPATH}" python3 -m readback "$@"
}

spec=sweeps/quickstart.toml
echo "== lazyrich run $spec --out $out/quickstart --threads 1 --quiet"
"$lazyrich" run "$spec" --out "$out/quickstart" --threads 1 --quiet

# The expected row count: readback expands the spec itself (--spec); `lazyrich plan` must
# agree with it (one row per distinct point id).
planned=$("$lazyrich" plan "$spec" | awk '$1 == "estimated" && $2 == "rows" { print $3 }')
if ! [[ "$planned" =~ ^[0-9]+$ ]]; then
    echo "could not read the estimated row count from \`lazyrich plan $spec\`" >&2
    exit 1
fi

# Two shards on 2 threads into one directory with small flushes (many part files), then merged:
# the same table, value for value, must come back each time.
for shard in 0/2 1/2; do
    echo "== lazyrich run $spec --out $out/sharded --shard $shard --threads 2 --flush-points 100 --quiet"
    "$lazyrich" run "$spec" --out "$out/sharded" --shard "$shard" --threads 2 --flush-points 100 --quiet
done
same=(--spec "$spec" --expected "$planned" --same-as "$out/quickstart" --quiet)

echo "== read-back of the sharded dataset (same values as the single run)"
readback "$out/sharded" "${same[@]}"
echo "== lazyrich merge $out/sharded, read-back of the merged dataset"
"$lazyrich" merge "$out/sharded"
readback "$out/sharded" "${same[@]}"

echo "== read-back with polars, pandas and DuckDB: python3 -m readback (scripts/tests/readback/)"
readback "$out/quickstart" --spec "$spec" --expected "$planned"

tasks=sweeps/tasks.toml
echo "== lazyrich run $tasks --out $out/tasks --quiet"
"$lazyrich" run "$tasks" --out "$out/tasks" --quiet
planned=$("$lazyrich" plan "$tasks" | awk '$1 == "estimated" && $2 == "rows" { print $3 }')
echo "== read-back of the protocol dataset: scripts/tests/readback_tasks.py, readback --multi-phase"
python3 scripts/tests/readback_tasks.py "$out/tasks" --expected "$planned"
readback "$out/tasks" --expected "$planned" --multi-phase --quiet

# The Python package (python/, docs/python.md): installed with the same pip flags as the
# requirements, then its tests against datasets the dev binary makes, then the example
# analysis, which runs sweeps/quickstart.toml itself into a directory that does not exist yet.
echo "== python package: pip install ./python; pytest python/tests; python/examples/analysis.py"
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore ./python
LAZYRICH_BIN="$PWD/$lazyrich" python3 -m pytest -q -p no:cacheprovider python/tests
LAZYRICH_BIN="$PWD/$lazyrich" python3 python/examples/analysis.py "$out/analysis/quickstart" \
    --out "$out/analysis/figures"

# Every code block of README.md and docs/*.md runs against this binary in a temporary directory:
# shell commands (`cargo run -p lazyrich-cli --` becomes the binary), sweep specs (`lazyrich plan`,
# and `lazyrich run` when small), `lazyrich solve` problems and the Python recipes on small
# datasets; blocks marked `<!-- docblock: skip (reason) -->` or `output` are not run.
echo "== code blocks of the docs: scripts/tests/docblocks.py --bin $lazyrich"
python3 scripts/tests/docblocks.py --bin "$lazyrich"

echo "== figures: scripts/reproduce.sh --bin $lazyrich (every paper sweep, every figure, every claim)"
bash scripts/reproduce.sh --bin "$lazyrich" --results "$out/paper" --figures "$out/figures"

echo "== the Kubernetes manifest of lazyrich submit k8s: scripts/tests/k8s_manifest.py"
python3 scripts/tests/k8s_manifest.py --bin "$lazyrich"

if [[ ${LAZYRICH_SKIP_SLURM:-0} == 1 ]]; then
    echo "== SKIPPED (LAZYRICH_SKIP_SLURM=1): lazyrich submit slurm on a local Slurm cluster"
else
    echo "== lazyrich submit slurm on a local Slurm cluster: scripts/slurm/test.sh $lazyrich"
    bash scripts/slurm/test.sh "$lazyrich"
fi

# Last, the torture suite (docs/torture.md): kills, concurrency, a full disk, corrupted files and
# fuzzed inputs against the same binary; one line per scenario, `torture: N passed, M failed`.
echo "== torture suite: scripts/torture/run.py --quick --bin $lazyrich"
python3 scripts/torture/run.py --quick --bin "$lazyrich"
