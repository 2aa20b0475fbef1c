#!/usr/bin/env bash
# Prints the Bulwark agent ID of a private key, public key, certificate or CSR (PEM), computed
# with openssl alone: the first 32 hex digits of SHA-256 over the DER SubjectPublicKeyInfo.
# Use it to check independently which agent a certificate speaks for.
set -euo pipefail
file=${1:?usage: agent-id.sh FILE.pem}
if grep -q "BEGIN CERTIFICATE-----" "$file"; then
  spki() { openssl x509 -in "$file" -noout -pubkey | openssl pkey -pubin -outform DER; }
elif grep -q "BEGIN CERTIFICATE REQUEST" "$file"; then
  spki() { openssl req -in "$file" -noout -pubkey | openssl pkey -pubin -outform DER; }
elif grep -q "PRIVATE KEY" "$file"; then
  spki() { openssl pkey -in "$file" -pubout -outform DER; }
else
  spki() { openssl pkey -pubin -in "$file" -outform DER; }
fi
spki | openssl dgst -sha256 -r | cut -c1-32
