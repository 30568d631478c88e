# Sourced by .ci/run: real SMTP servers for the alarm tests (aiosmtpd from PyPI), writing every
# message they receive to one Maildir: a plain one, and one requiring STARTTLS with a self-signed
# certificate for 127.0.0.1. Idempotent: reuses servers already listening. Exports
# ARGUS_TEST_SMTP (host:port), ARGUS_TEST_SMTP_STARTTLS (host:port), ARGUS_TEST_SMTP_CA (the
# certificate to trust) and ARGUS_TEST_SMTP_MAILDIR.
ARGUS_SMTP_PORT="${ARGUS_SMTP_PORT:-52525}"
ARGUS_SMTP_TLS_PORT="${ARGUS_SMTP_TLS_PORT:-52526}"
ARGUS_SMTP_DIR="${ARGUS_SMTP_DIR:-/var/tmp/argus-smtp}"
argus_port_up() { python3 -c "import socket,sys; s=socket.socket(); s.settimeout(1); sys.exit(s.connect_ex(('127.0.0.1', $1)))"; }
argus_smtp_up() { argus_port_up "$ARGUS_SMTP_PORT"; }
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
if ! argus_port_up "$ARGUS_SMTP_TLS_PORT"; then
  command -v openssl >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q openssl >/dev/null
  mkdir -p "$ARGUS_SMTP_DIR"
  [ -f "$ARGUS_SMTP_DIR/cert.pem" ] || openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:FALSE" \
    -keyout "$ARGUS_SMTP_DIR/key.pem" -out "$ARGUS_SMTP_DIR/cert.pem" 2>/dev/null
  nohup python3 -m aiosmtpd -n -l "127.0.0.1:$ARGUS_SMTP_TLS_PORT" --tlscert "$ARGUS_SMTP_DIR/cert.pem" \
    --tlskey "$ARGUS_SMTP_DIR/key.pem" -c aiosmtpd.handlers.Mailbox "$ARGUS_SMTP_DIR/Maildir" \
    >"$ARGUS_SMTP_DIR/server-tls.log" 2>&1 &
  for _ in $(seq 1 30); do
    argus_port_up "$ARGUS_SMTP_TLS_PORT" && break
    sleep 0.5
  done
  argus_port_up "$ARGUS_SMTP_TLS_PORT" || { cat "$ARGUS_SMTP_DIR/server-tls.log"; echo "STARTTLS SMTP server did not start"; false; }
fi
export ARGUS_TEST_SMTP="127.0.0.1:$ARGUS_SMTP_PORT"
export ARGUS_TEST_SMTP_STARTTLS="127.0.0.1:$ARGUS_SMTP_TLS_PORT"
export ARGUS_TEST_SMTP_CA="$ARGUS_SMTP_DIR/cert.pem"
export ARGUS_TEST_SMTP_MAILDIR="$ARGUS_SMTP_DIR/Maildir"
echo "SMTP ready: $ARGUS_TEST_SMTP, STARTTLS $ARGUS_TEST_SMTP_STARTTLS, Maildir $ARGUS_TEST_SMTP_MAILDIR"
