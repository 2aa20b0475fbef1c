#!/usr/bin/env bash
# Issues the collector's TLS server certificate from an organisation's CA with openssl alone:
# a new ECDSA P-256 key, subjectAltName for every NAME (DNS names and IP addresses), key usage
# digitalSignature, extended key usage serverAuth, 825 days at most (what clients accept).
# Writes OUT/server.pem (the certificate) and OUT/server-key.pem (0600). Serve it with
#   bulwark-collector serve --tls-cert OUT/server.pem --tls-key OUT/server-key.pem --tls-ca CA.pem
# (or tls_cert/tls_key/tls_ca in collector.yaml) and give agents the CA's fingerprint.
#   usage: issue-server.sh CA.pem CA-KEY.pem OUT NAME...
set -euo pipefail
ca=${1:?usage: issue-server.sh CA.pem CA-KEY.pem OUT NAME...}
ca_key=${2:?usage: issue-server.sh CA.pem CA-KEY.pem OUT NAME...}
out=${3:?usage: issue-server.sh CA.pem CA-KEY.pem OUT NAME...}
shift 3
(($# > 0)) || { echo "give at least one DNS name or IP address agents use to reach the collector" >&2; exit 64; }
sans=()
for name in "$@"; do
  if [[ $name =~ ^[0-9.]+$ || $name == *:* ]]; then sans+=("IP:$name"); else sans+=("DNS:$name"); fi
done
san=$(IFS=,; echo "${sans[*]}")
mkdir -p "$out"
(umask 077 && openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/server-key.pem")
extensions=$(mktemp)
trap 'rm -f "$extensions" "$out/server.csr"' EXIT
cat > "$extensions" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
openssl req -new -key "$out/server-key.pem" -subj "/CN=$1" -out "$out/server.csr"
openssl x509 -req -in "$out/server.csr" -CA "$ca" -CAkey "$ca_key" -CAcreateserial -sha256 -days 825 \
  -extfile "$extensions" -out "$out/server.pem" 2>/dev/null
echo "server certificate: $out/server.pem for $san (key $out/server-key.pem, 0600)"
