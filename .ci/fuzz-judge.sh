#!/usr/bin/env bash
# Fuzzes the strategy condition parser and evaluator (core::condition, target `condition`) for a
# short while (default 20 s). CI runs every target through .ci/extra/fuzz.sh; this is the quick
# one-target run for whoever changes the condition language.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-20}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cargo fuzz run --sanitizer none condition "$work" fuzz/corpus/condition -- \
  -max_total_time="$secs" -timeout=10 -max_len=512 -print_final_stats=1
