#!/usr/bin/env bash
# Smoke test of the benchmark harness: `argus-bench run --quick` drives Argus and the installed
# peers (.ci/services/peers.sh) with tiny sizes, then `report` renders tables and plots into a
# scratch copy of docs/BENCHMARKS.md. It checks that the harness works end to end, never how fast
# anything is. The build is shared with the test step; the run itself must take under 3 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q -p argus-bench
bin="${CARGO_TARGET_DIR:-target}/debug/argus-bench"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
start=$(date +%s)
timeout 180 "$bin" run --quick --out "$scratch/results.json"
cp docs/BENCHMARKS.md "$scratch/BENCHMARKS.md" 2>/dev/null || true
"$bin" report --results "$scratch/results.json" --doc "$scratch/BENCHMARKS.md" --plots "$scratch/bench"
grep -q '^## Scenario (argus-bench)' "$scratch/BENCHMARKS.md"
# Every system that was installed must have been measured (the harness must not silently skip).
for sys in argus argus-rw prometheus victoriametrics; do
  grep -q "\"system\": \"$sys\"" "$scratch/results.json" || { echo "bench-quick: no $sys result"; exit 1; }
done
ls "$scratch/bench"/ingest.png >/dev/null
# The PromQL query benchmark ran against every system (a failed query fails the run) and was
# rendered with a column per system.
grep -q '^### PromQL queries' "$scratch/BENCHMARKS.md"
grep -q '^| query | range, step | series out | Argus p50 / p99 | .* Prometheus p50 / p99 | .* VictoriaMetrics p50 / p99 |' "$scratch/BENCHMARKS.md" \
  || { echo "bench-quick: PromQL table lacks a system"; exit 1; }
ls "$scratch/bench"/queries.png >/dev/null
# A dashboard of 12 panels was opened on every system (a failed panel is counted, none may fail).
grep -q '^\*\*Opening a dashboard\*\*: 12 panels' "$scratch/BENCHMARKS.md" || { echo "bench-quick: no dashboard load"; exit 1; }
for sys in Argus Prometheus VictoriaMetrics; do
  grep -qE "^\| $sys \| [0-9]+ \| " "$scratch/BENCHMARKS.md" || { echo "bench-quick: no dashboard load on $sys"; exit 1; }
done
if grep -qE '^\| [A-Za-z ]+ \| [0-9]+ \([0-9]+ failed\)' "$scratch/BENCHMARKS.md"; then echo "bench-quick: a dashboard panel failed"; exit 1; fi
# The rules benchmark ran on Argus and Prometheus (every rule evaluated in both, or the run
# fails) and was rendered.
grep -q '^### Recording and alert rules' "$scratch/BENCHMARKS.md" || { echo "bench-quick: no rules section"; exit 1; }
python3 - "$scratch/results.json" <<'PY'
import json, sys
rules = json.load(open(sys.argv[1])).get("rules", [])
systems = sorted(r["system"] for r in rules)
assert systems == ["argus", "prometheus"], f"bench-quick: rules measured on {systems}"
assert all(r["failing_rules"] == 0 for r in rules), f"bench-quick: failing rules: {rules}"
assert len({r["recorded_series"] for r in rules}) == 1, f"bench-quick: recorded series differ: {rules}"
PY
# The fairness scenario ran: the flooding tenant was refused, the quiet one never was.
grep -q '^### Tenant fairness under a flood' "$scratch/BENCHMARKS.md" || { echo "bench-quick: no flood section"; exit 1; }
python3 - "$scratch/results.json" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))["flood"]
assert f["alone_requests"] > 0 and f["flooded_requests"] > 0, f"bench-quick: flood phases empty: {f}"
assert f["alone_failed"] == 0 and f["flooded_failed"] == 0, f"bench-quick: the quiet tenant was refused: {f}"
assert f["flood_refused"] > 0, f"bench-quick: the flooding tenant was never refused: {f}"
PY
echo "bench-quick: ok in $(( $(date +%s) - start )) s"
