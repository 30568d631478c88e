# Sourced by .ci/run: a real Prometheus server (Debian's package) for the transfer's
# remote-write test and benchmark. Installs it if missing and exports its binary path as
# ARGUS_TEST_PROMETHEUS_BIN; each test starts its own Prometheus (scraping itself and
# remote-writing to the transfer under test) on a free loopback port.
if ! command -v prometheus >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus >/dev/null
fi
# The package may start a system service; the tests need only the binary.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  systemctl stop prometheus || true
fi
ARGUS_TEST_PROMETHEUS_BIN="$(command -v prometheus)"
export ARGUS_TEST_PROMETHEUS_BIN
"$ARGUS_TEST_PROMETHEUS_BIN" --version 2>&1 | head -n 1
