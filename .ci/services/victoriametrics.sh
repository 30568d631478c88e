# Sourced by .ci/run: one VictoriaMetrics server (Debian's package) on loopback, for the
# transfer's InfluxDB v2 sink test (VictoriaMetrics accepts the InfluxDB v2 write API and its
# export API reads the points back). Idempotent: reuses a running one. Exports
# ARGUS_TEST_VICTORIAMETRICS_URL and ARGUS_TEST_VICTORIAMETRICS_BIN.
ARGUS_VM_PORT="${ARGUS_VM_PORT:-58428}"
ARGUS_VM_DIR="${ARGUS_VM_DIR:-/var/tmp/argus-victoriametrics}"
if ! command -v victoria-metrics >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends victoria-metrics >/dev/null
fi
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet victoria-metrics 2>/dev/null; then
  systemctl stop victoria-metrics || true
fi
command -v curl >/dev/null 2>&1 || DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl >/dev/null
ARGUS_TEST_VICTORIAMETRICS_BIN="$(command -v victoria-metrics)"
if ! curl -fsS "http://127.0.0.1:${ARGUS_VM_PORT}/health" >/dev/null 2>&1; then
  mkdir -p "$ARGUS_VM_DIR"
  nohup "$ARGUS_TEST_VICTORIAMETRICS_BIN" -httpListenAddr="127.0.0.1:${ARGUS_VM_PORT}" \
    -storageDataPath="$ARGUS_VM_DIR/data" -retentionPeriod=1d -search.latencyOffset=0s \
    >"$ARGUS_VM_DIR/server.log" 2>&1 &
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:${ARGUS_VM_PORT}/health" >/dev/null 2>&1 && break
    sleep 1
  done
fi
curl -fsS "http://127.0.0.1:${ARGUS_VM_PORT}/health" >/dev/null
export ARGUS_TEST_VICTORIAMETRICS_BIN
export ARGUS_TEST_VICTORIAMETRICS_URL="http://127.0.0.1:${ARGUS_VM_PORT}"
echo "VictoriaMetrics ready: $ARGUS_TEST_VICTORIAMETRICS_URL"
