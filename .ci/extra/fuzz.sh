#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target in fuzz/ for a bounded time (ARGUS_FUZZ_SECS each, 12 s by
# default), starting from its committed seed corpus in fuzz/corpus/<target>/. Fails on the first
# crash, panic, timeout or out-of-memory, naming the target and the input that caused it.
#
# The mutation seed is fixed (ARGUS_FUZZ_SEED, 1 by default) so that a CI run is reproducible and
# a red run means the code changed, not the dice. Exploratory runs use ARGUS_FUZZ_SEED=0 (libFuzzer
# picks a random seed) and a longer ARGUS_FUZZ_SECS; whatever they find becomes a committed seed in
# fuzz/corpus/<target>/ once fixed, so CI keeps checking it.
#
# cargo-fuzz needs nightly compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept
# them. Targets are built without a sanitizer: the parsers are safe Rust, a sanitizer build
# doubles the build time and halves the executions, and libFuzzer still catches panics
# (including arithmetic overflow: cargo-fuzz builds with debug assertions), hangs and OOMs.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${ARGUS_FUZZ_SECS:-12}"
seed="${ARGUS_FUZZ_SEED:-1}"
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "building fuzz targets"
cargo fuzz build --sanitizer none

summary=()
total=0
for target in $(cargo fuzz list); do
  seeds="fuzz/corpus/$target"
  mkdir -p "$seeds"
  # libFuzzer adds what it learns to the first directory: a scratch one, so the committed corpus
  # stays the small hand-made seed set.
  work=$(mktemp -d)
  log=$(mktemp)
  echo "fuzzing $target for ${secs}s"
  set +e
  cargo fuzz run --sanitizer none "$target" "$work" "$seeds" -- \
    -max_total_time="$secs" -seed="$seed" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
  status=$?
  set -e
  if [ "$status" -ne 0 ]; then
    grep -vE '^#[0-9]+' "$log" | tail -60
    echo "fuzz target $target FAILED (exit $status); the input is under fuzz/artifacts/$target/"
    echo "reproduce: RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none $target <artifact>"
    exit 1
  fi
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo '?')
  corp=$(ls "$work" | wc -l)
  summary+=("$(printf '%-20s %10s executions  cov %5s  corpus %s seeds + %s new' \
    "$target" "$runs" "$cov" "$(ls "$seeds" | wc -l)" "$corp")")
  total=$((total + runs))
  rm -rf "$work" "$log"
done
echo
echo "fuzz summary (${secs}s per target, seed $seed):"
printf '  %s\n' "${summary[@]}"
echo "  total: $total executions, no crash"
