# Sourced by .ci/run: Alertmanager's amtool, which the routing conformance test of web
# (web/tests/routes.rs) runs as `amtool config routes test` beside Argus's POST
# /api/v1/routes/test. Installs Debian's prometheus-alertmanager if missing (idempotent; its
# service is not started) and exports ARGUS_TEST_AMTOOL.
if ! command -v amtool >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus-alertmanager >/dev/null
fi
ARGUS_TEST_AMTOOL="$(command -v amtool)"
export ARGUS_TEST_AMTOOL
echo "amtool ready: $("$ARGUS_TEST_AMTOOL" --version 2>&1 | head -n 1)"
