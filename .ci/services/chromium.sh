# Sourced by .ci/run: headless Chromium and its WebDriver for the web console's browser tests.
# Installs Debian's chromium and chromium-driver if missing (idempotent) and exports
# ARGUS_TEST_CHROMEDRIVER (the chromedriver binary; each test starts its own on a free port) and
# ARGUS_TEST_CHROMIUM (the browser binary).
if ! command -v chromedriver >/dev/null 2>&1 || ! { command -v chromium >/dev/null 2>&1; }; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
fi
ARGUS_TEST_CHROMEDRIVER="$(command -v chromedriver)"
ARGUS_TEST_CHROMIUM="$(command -v chromium)"
export ARGUS_TEST_CHROMEDRIVER ARGUS_TEST_CHROMIUM
"$ARGUS_TEST_CHROMEDRIVER" --version
echo "Chromium ready: $ARGUS_TEST_CHROMIUM, driver $ARGUS_TEST_CHROMEDRIVER"
