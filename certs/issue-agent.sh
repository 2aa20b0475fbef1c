#!/usr/bin/env bash
# Issues an agent's client certificate from a CA with openssl alone, for the key the agent
# generated (its agent-key.pem, or a CSR made from it): subject CN = the agent ID (agent-id.sh),
# extended key usage clientAuth, DAYS (default 30). The collector accepts an agent certificate
# only when its CN is the ID derived from the certificate's own key, so a CA cannot make a
# certificate speak for another agent's key.
#   usage: issue-agent.sh CA.pem CA-KEY.pem AGENT-KEY-OR-CSR.pem OUT.pem [DAYS]
set -euo pipefail
ca=${1:?usage: issue-agent.sh CA.pem CA-KEY.pem AGENT-KEY-OR-CSR.pem OUT.pem [DAYS]}
ca_key=${2:?}
input=${3:?}
output=${4:?}
days=${5:-30}
id=$("$(dirname "$0")/agent-id.sh" "$input")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if grep -q "BEGIN CERTIFICATE REQUEST" "$input"; then
  cp "$input" "$work/agent.csr"
else
  openssl req -new -key "$input" -subj "/CN=$id" -out "$work/agent.csr"
fi
cat > "$work/ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
EXT
# The subject is always the agent ID, whatever the CSR claimed.
openssl x509 -req -in "$work/agent.csr" -subj "/CN=$id" -CA "$ca" -CAkey "$ca_key" -CAcreateserial -sha256 -days "$days" \
  -extfile "$work/ext" -out "$output" 2>/dev/null
echo "agent certificate: $output for agent $id, $days days"
