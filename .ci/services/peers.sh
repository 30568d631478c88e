# Sourced by .ci/run: the peers argus-bench compares Argus with, from Debian's packages:
# Prometheus (remote-write receiver), Alertmanager, node_exporter and VictoriaMetrics, plus a
# TrueType font for the plots' labels. argus-bench starts its own instances (loopback, temporary
# data directories), so nothing is started here; this only installs and exports where the
# binaries are. Idempotent: apt-get skips what is installed (the transfer's prometheus.sh may
# install prometheus too).
argus_peers_missing=()
command -v prometheus >/dev/null || argus_peers_missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || argus_peers_missing+=(prometheus-alertmanager)
command -v prometheus-node-exporter >/dev/null || argus_peers_missing+=(prometheus-node-exporter)
command -v victoria-metrics >/dev/null || argus_peers_missing+=(victoria-metrics)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || argus_peers_missing+=(fonts-dejavu-core)
if [ "${#argus_peers_missing[@]}" -gt 0 ]; then
  # Debian's packages start their services through invoke-rc.d; in a container without an init
  # that is refused harmlessly, and argus-bench runs its own instances anyway.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${argus_peers_missing[@]}" >/dev/null
fi
export ARGUS_BENCH_PROMETHEUS_BIN="$(command -v prometheus)"
export ARGUS_BENCH_ALERTMANAGER_BIN="$(command -v prometheus-alertmanager)"
export ARGUS_BENCH_NODE_EXPORTER_BIN="$(command -v prometheus-node-exporter)"
export ARGUS_BENCH_VICTORIAMETRICS_BIN="$(command -v victoria-metrics)"
export ARGUS_BENCH_FONT=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
echo "peers ready: $ARGUS_BENCH_PROMETHEUS_BIN, $ARGUS_BENCH_ALERTMANAGER_BIN, $ARGUS_BENCH_NODE_EXPORTER_BIN, $ARGUS_BENCH_VICTORIAMETRICS_BIN"
