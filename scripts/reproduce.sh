#!/usr/bin/env bash
# Redraws every figure of "From Lazy to Rich" that lazyrich reproduces, from a clean checkout:
# runs each spec of sweeps/paper/ into results/paper/<name>/ and draws it with its script in
# scripts/figures/ (which reads only the Parquet dataset and checks the claim the figure
# illustrates). Takes about a minute on 2 cores, most of it the release build.
#
#   sweeps/paper/fig2.toml          -> dynamics.py          -> docs/figures/fig2_dynamics.png
#   sweeps/paper/fig3.toml          -> singular_values.py   -> docs/figures/fig3_singular_values.png
#   sweeps/paper/fig4.toml          -> representations.py   -> docs/figures/fig4_representations.png
#                                   -> noise.py             -> docs/figures/fig4e_noise.png
#   sweeps/paper/fig5.toml          -> architectures.py     -> docs/figures/fig5_architectures.png
#   sweeps/paper/a4.toml            -> heatmap.py           -> docs/figures/a4_kernel_distance_heatmap.png
#   sweeps/paper/applications.toml  -> applications.py      -> docs/figures/applications.png
#   sweeps/paper/depth.toml         -> depth.py             -> docs/figures/depth.png
#   sweeps/paper/balance.toml       -> balance.py           -> docs/figures/balance.png
#
# Usage: scripts/reproduce.sh [--dev | --bin PATH] [--results DIR] [--figures DIR]
#   --dev          use the dev-profile binary (what `cargo test` builds; CI) instead of release
#   --bin PATH     use this lazyrich binary as it is (no cargo build at all; e.g. an installed
#                  one, or LAZYRICH_BIN); a release binary already built is reused either way
#                  when cargo finds it up to date
#   --results DIR  where the datasets go (default results/paper; each is rewritten)
#   --figures DIR  where the PNGs go (default docs/figures)
# Exits 1 if any figure's claim is contradicted by its data (every figure is still drawn).
# Python packages come from scripts/requirements.txt (pip, for the python3 on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
bin=${LAZYRICH_BIN:-}
results=results/paper
figures=docs/figures
while [[ $# -gt 0 ]]; do
    case "$1" in
        --dev) profile=dev; shift ;;
        --bin) bin=$2; shift 2 ;;
        --results) results=$2; shift 2 ;;
        --figures) figures=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

echo "== python packages: scripts/requirements.txt"
python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -r scripts/requirements.txt

if [[ -n $bin ]]; then
    if [[ ! -x $bin ]]; then
        echo "--bin $bin: not an executable file" >&2
        exit 2
    fi
    echo "== using $bin ($("$bin" --version))"
    lazyrich=$bin
elif [[ $profile == release ]]; then
    echo "== cargo build --release -p lazyrich-cli"
    cargo build --release --locked -p lazyrich-cli
    lazyrich=target/release/lazyrich
else
    echo "== cargo build -p lazyrich-cli (dev profile)"
    cargo build --locked -p lazyrich-cli
    lazyrich=target/debug/lazyrich
fi

mkdir -p "$results" "$figures"
failed=()
# figure SPEC SCRIPT PNG: run the spec (once per spec), draw the figure, check its claims.
declare -A ran=()
figure() {
    local name=$1 script=$2 png=$3
    local data=$results/$name
    if [[ -z "${ran[$name]:-}" ]]; then
        echo "== lazyrich run sweeps/paper/$name.toml --out $data"
        rm -rf "$data"
        local start=$SECONDS
        "$lazyrich" run "sweeps/paper/$name.toml" --out "$data" --quiet
        echo "   ($((SECONDS - start)) s)"
        ran[$name]=1
    fi
    echo "== scripts/figures/$script -> $figures/$png"
    # LAZYRICH_BIN: for scripts that also call `lazyrich solve` (balance.py).
    if ! LAZYRICH_BIN=$lazyrich python3 "scripts/figures/$script" --data "$data" --out "$figures/$png"; then
        failed+=("$script")
    fi
}

figure fig2 dynamics.py fig2_dynamics.png
figure fig3 singular_values.py fig3_singular_values.png
figure fig4 representations.py fig4_representations.png
figure fig4 noise.py fig4e_noise.png
figure fig5 architectures.py fig5_architectures.png
figure a4 heatmap.py a4_kernel_distance_heatmap.png
figure applications applications.py applications.png
figure depth depth.py depth.png
figure balance balance.py balance.png

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "reproduce: claims contradicted by the data in: ${failed[*]}" >&2
    exit 1
fi
echo "reproduce: every figure drawn, every claim holds"
