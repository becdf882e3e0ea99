#!/usr/bin/env bash
# Speed comparison of the Rust solver with the plain numpy reference (single-threaded).
#
# Installs the Python dependencies (numpy, threadpoolctl) for the current python3, checks the numpy
# reference against the golden values and RK4, runs `cargo bench -p lazyrich-benches` (about a
# minute and a half) and prints the table of medians: N, rust ns, numpy ns, numpy/rust.
# Extra arguments go to compare.py, e.g. `scripts/bench/run.sh --filter closed_form_point`.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m pip install -q numpy threadpoolctl
python3 numpy_reference.py --check > /dev/null || {
    echo "numpy reference self-check failed: run python3 numpy_reference.py --check" >&2
    exit 1
}
exec python3 compare.py --run-cargo "$@"
