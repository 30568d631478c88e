#!/usr/bin/env bash
# Footprint of argus-agent next to Prometheus node_exporter (Debian's prometheus-node-exporter):
# CPU time (user + system) and peak RSS (VmHWM) of each over DURATION seconds (default 600),
# the agent collecting every 10 s and pushing to a local sink, node_exporter scraped every 10 s.
# Both run at the same time on the same machine, with their default collectors.
#
#   bash agent/benches/footprint.sh            # 10 minutes
#   DURATION=60 bash agent/benches/footprint.sh
#   PROFILE=release bash agent/benches/footprint.sh   # the agent as the release profile builds it
# The agent is measured as shipped: built with the `agent` profile (for size; Cargo.toml).
set -euo pipefail
DURATION=${DURATION:-600}
PROFILE=${PROFILE:-agent}
cd "$(dirname "$0")/../.."
cargo build --profile "$PROFILE" -p argus-agent -q
if ! command -v prometheus-node-exporter >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus-node-exporter >/dev/null
fi
work=$(mktemp -d)
# Run a copy, so rebuilding the tree during the run does not matter.
cp "${CARGO_TARGET_DIR:-target}/$PROFILE/argus-agent" "$work/argus-agent"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# A stand-in transfer that acknowledges every batch (its own cost is not measured).
cat > "$work/sink.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b'{"accepted":0,"rejected":[]}'
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
python3 "$work/sink.py" 19861 & pids+=($!)

cat > "$work/agent.toml" <<TOML
listen = "127.0.0.1:19881"
transfers = ["http://127.0.0.1:19861"]
step_secs = 10
data_dir = "$work/agent"
plugin_dir = "$work/plugins"
TOML
RUST_LOG=warn "$work/argus-agent" --config "$work/agent.toml" 2>"$work/agent.log" & agent=$!; pids+=($agent)
prometheus-node-exporter --web.listen-address=127.0.0.1:19100 2>"$work/ne.log" & ne=$!; pids+=($ne)
( while sleep 10; do curl -s -o /dev/null http://127.0.0.1:19100/metrics; done ) & pids+=($!)

sleep "$DURATION"

tck=$(getconf CLK_TCK)
measure() { # pid name
  local cpu hwm rss
  cpu=$(awk -v t="$tck" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat")
  hwm=$(awk '/VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status")
  rss=$(awk '/VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status")
  printf '| %s | %s | %s | %s |\n' "$2" "$cpu" "$hwm" "$rss"
}
echo "duration ${DURATION}s, step/scrape 10 s, $(nproc) CPUs, $(uname -r), $(date -u +%Y-%m-%d)"
echo "| process | CPU time (s) | peak RSS (MiB) | RSS at end (MiB) |"
echo "|---|---|---|---|"
measure "$agent" "argus-agent $("$work/argus-agent" --version | cut -d' ' -f2) ($PROFILE profile)"
measure "$ne" "prometheus-node-exporter $(prometheus-node-exporter --version 2>&1 | head -1 | awk '{print $3}')"
