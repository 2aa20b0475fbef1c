#!/usr/bin/env bash
# Prints the SHA-256 fingerprint of a certificate (PEM) in the form agents pin with
# --ca-sha256 (lower-case hex, no colons). Use it to check the fingerprint printed by
# 'bulwark-collector init' against the CA file out of band before enrolling a fleet.
set -euo pipefail
file=${1:?usage: fingerprint.sh ca.pem}
openssl x509 -in "$file" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d ':' | tr 'A-F' 'a-f'
