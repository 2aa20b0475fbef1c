#!/usr/bin/env bash
# Makes a CA with openssl alone, standing in for an organisation's own (root, ECDSA P-256,
# 10 years): DIR/ca.pem and DIR/ca-key.pem (0600). A real deployment uses its corporate CA and
# skips this; the other scripts take any CA certificate and key openssl can read.
#   usage: make-test-ca.sh DIR [SUBJECT]
set -euo pipefail
dir=${1:?usage: make-test-ca.sh DIR [SUBJECT]}
subject=${2:-/O=Example Corp/CN=Example Corp Test Root CA}
mkdir -p "$dir"
if [[ -e "$dir/ca.pem" ]]; then echo "$dir/ca.pem exists; refusing to overwrite a CA" >&2; exit 1; fi
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca-key.pem")
openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days 3650 -subj "$subject" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" \
  -out "$dir/ca.pem"
echo "CA: $dir/ca.pem (key $dir/ca-key.pem, 0600)"
echo "SHA-256 fingerprint agents pin (--ca-sha256):"
"$(dirname "$0")/fingerprint.sh" "$dir/ca.pem"
