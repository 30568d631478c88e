#!/bin/sh
# The private CA of an Argus installation and the certificate of one node, with the openssl CLI.
#
#   deploy/tls/make-certs.sh PKI_DIR NODE NAME [NAME...]
#
# PKI_DIR/ca.pem + ca.key   the CA, made on the first call and reused after (keep ca.key off the
#                           nodes, ideally offline; only ca.pem is installed on them);
# PKI_DIR/NODE/             what to install as /etc/argus/tls/ on that node: node.pem (its
#                           certificate, for every NAME: DNS names, or IPv4 addresses), node.key
#                           (its key, mode 0600) and ca.pem.
#
# Example: deploy/tls/make-certs.sh ~/argus-pki east-transfer-1 \
#              east-transfer-1.argus.internal east-transfer.argus.internal
# Keys are ECDSA P-256; the CA lasts 10 years, node certificates 825 days.
set -eu
[ $# -ge 3 ] || { sed -n '2,16p' "$0"; exit 2; }
pki=$1 node=$2
shift 2
umask 077
mkdir -p "$pki/$node"
if [ ! -f "$pki/ca.pem" ]; then
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
        -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 3650 -subj "/CN=Argus private CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi
san=""
for n in "$@"; do
    case $n in
        *[!0-9.]*) san="$san,DNS:$n" ;;
        *) san="$san,IP:$n" ;;
    esac
done
ext="$pki/$node/ext.cnf"
printf 'subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
    "${san#,}" >"$ext"
openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$pki/$node/node.key" -out "$pki/$node/node.csr" -subj "/CN=$1" 2>/dev/null
openssl x509 -req -in "$pki/$node/node.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" \
    -CAcreateserial -out "$pki/$node/node.pem" -days 825 -extfile "$ext" 2>/dev/null
rm -f "$pki/$node/node.csr" "$ext"
cp "$pki/ca.pem" "$pki/$node/ca.pem"
chmod 0644 "$pki/$node/node.pem" "$pki/$node/ca.pem" "$pki/ca.pem"
echo "$pki/$node: node.pem node.key ca.pem for $*"
