# Sourced by .ci/run: the openssl CLI, which deploy/tls/make-certs.sh (the certificate recipe of
# docs/DEPLOY.md) runs and tests/deploy_configs.rs exercises. Exports ARGUS_TEST_OPENSSL.
if ! command -v openssl >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openssl >/dev/null
fi
ARGUS_TEST_OPENSSL="$(command -v openssl)"
export ARGUS_TEST_OPENSSL
echo "openssl ready: $("$ARGUS_TEST_OPENSSL" version)"
