#!/usr/bin/env bash
# Every test of lazyrich: the Rust workspace (unit, golden, MATH.md T1–T12, property and CLI
# tests). This is the README's test command; .ci/run runs it after fmt and clippy.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
