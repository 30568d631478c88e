# Sourced by .ci/run: one PostgreSQL server for the tests of alarm and web.
# Installs Debian's postgresql if missing, starts it on 127.0.0.1 (idempotent: reuses a running
# one), and exports ARGUS_TEST_PG_URL. Tests create their own databases from it (role argus has
# CREATEDB), so they can run in parallel.
ARGUS_PG_PORT="${ARGUS_PG_PORT:-55432}"
ARGUS_PG_DIR="${ARGUS_PG_DIR:-/var/tmp/argus-pg}"
argus_pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$argus_pg_bin" ] || [ ! -x "$argus_pg_bin/postgres" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null
  argus_pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
getent passwd postgres >/dev/null || useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
argus_pg_as() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! "$argus_pg_bin/pg_isready" -q -h 127.0.0.1 -p "$ARGUS_PG_PORT"; then
  if [ ! -f "$ARGUS_PG_DIR/PG_VERSION" ]; then
    mkdir -p "$ARGUS_PG_DIR"
    [ "$(id -u)" = 0 ] && chown postgres: "$ARGUS_PG_DIR"
    chmod 700 "$ARGUS_PG_DIR"
    argus_pg_as "$argus_pg_bin/initdb" -D "$ARGUS_PG_DIR" -U postgres --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  fi
  # Test settings: loopback only, no fsync (throwaway data), room for parallel test pools.
  # The port lies in the kernel's ephemeral range, so a passing outbound connection can hold it
  # for a moment: a refused start is tried again.
  for argus_pg_try in 1 2 3 4 5; do
    argus_pg_as "$argus_pg_bin/pg_ctl" -D "$ARGUS_PG_DIR" -l "$ARGUS_PG_DIR/server.log" -w -t 60 start \
      -o "-p $ARGUS_PG_PORT -c listen_addresses=127.0.0.1 -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" >/dev/null && break
    [ "$argus_pg_try" = 5 ] && { tail -n 5 "$ARGUS_PG_DIR/server.log"; return 1 2>/dev/null || exit 1; }
    echo "PostgreSQL did not start (try $argus_pg_try), trying again"
    sleep 2
  done
fi
for _ in $(seq 1 60); do
  "$argus_pg_bin/pg_isready" -q -h 127.0.0.1 -p "$ARGUS_PG_PORT" && break
  sleep 1
done
argus_pg_as "$argus_pg_bin/psql" -q -h /tmp -p "$ARGUS_PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'argus') THEN
    CREATE ROLE argus LOGIN PASSWORD 'argus' CREATEDB;
  END IF;
END $$;
SELECT 'CREATE DATABASE argus OWNER argus' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'argus')\gexec
SQL
export ARGUS_TEST_PG_URL="postgres://argus:argus@127.0.0.1:${ARGUS_PG_PORT}/argus"
echo "PostgreSQL ready: $ARGUS_TEST_PG_URL"
