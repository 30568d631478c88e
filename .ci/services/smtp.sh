# Sourced by .ci/run: a real SMTP server for the alarm tests (aiosmtpd from PyPI), writing every
# message it receives to a Maildir. Idempotent: reuses a server already listening. Exports
# ARGUS_TEST_SMTP (host:port) and ARGUS_TEST_SMTP_MAILDIR.
ARGUS_SMTP_PORT="${ARGUS_SMTP_PORT:-52525}"
ARGUS_SMTP_DIR="${ARGUS_SMTP_DIR:-/var/tmp/argus-smtp}"
argus_smtp_up() { python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $ARGUS_SMTP_PORT)))"; }
if ! argus_smtp_up; then
  python3 -c "import aiosmtpd" 2>/dev/null || python3 -m pip install -q aiosmtpd 2>/dev/null \
    || python3 -m pip install -q --break-system-packages aiosmtpd
  mkdir -p "$ARGUS_SMTP_DIR"
  nohup python3 -m aiosmtpd -n -l "127.0.0.1:$ARGUS_SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$ARGUS_SMTP_DIR/Maildir" \
    >"$ARGUS_SMTP_DIR/server.log" 2>&1 &
  for _ in $(seq 1 30); do
    argus_smtp_up && break
    sleep 0.5
  done
  argus_smtp_up || { cat "$ARGUS_SMTP_DIR/server.log"; echo "SMTP server did not start"; false; }
fi
export ARGUS_TEST_SMTP="127.0.0.1:$ARGUS_SMTP_PORT"
export ARGUS_TEST_SMTP_MAILDIR="$ARGUS_SMTP_DIR/Maildir"
echo "SMTP ready: $ARGUS_TEST_SMTP, Maildir $ARGUS_TEST_SMTP_MAILDIR"
