#!/usr/bin/env bash
# `make demo`: a collector with its SQLite store in ./demo-data, one enrolled agent running on
# this machine, a selftest through the real pipeline, and what the collector now knows.
# Leaves both running until Ctrl-C.
set -euo pipefail
BIN=${1:?usage: demo.sh BIN_DIR}
DATA=${DEMO_DATA:-$PWD/demo-data}
AGENT_PORT=${DEMO_AGENT_PORT:-8443}
API_PORT=${DEMO_API_PORT:-9443}
mkdir -p "$DATA"
pids=()
GUARDED=""
cleanup() {
  echo
  echo "stopping the demo agent and collector (state stays in $DATA; 'make clean' removes it)"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ -n "$GUARDED" ]]; then umount "$GUARDED" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 0' INT TERM

# Scenes show what happened in this run, not in earlier runs on the same ./demo-data.
DEMO_START=$(date -u +%Y-%m-%dT%H:%M:%SZ)
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

for port in "$AGENT_PORT" "$API_PORT"; do
  if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
    echo "port $port is already in use (another demo still running?); stop it or set DEMO_AGENT_PORT/DEMO_API_PORT" >&2
    exit 1
  fi
done

if [[ ! -f "$DATA/collector/ca.pem" ]]; then
  step "bulwark-collector init: a new deployment (CA, server certificate, HMAC key, SQLite)"
  "$BIN/bulwark-collector" init --data "$DATA/collector" --hostname localhost --hostname 127.0.0.1 | tee "$DATA/init.txt"
fi
FINGERPRINT=$(tail -n 1 "$DATA/init.txt")

step "bulwark-collector serve: agent endpoint (mTLS) :$AGENT_PORT, API :$API_PORT"
"$BIN/bulwark-collector" serve --data "$DATA/collector" --agent-listen "127.0.0.1:$AGENT_PORT" --api-listen "127.0.0.1:$API_PORT" \
  >"$DATA/collector.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do grep -q "api listener ready" "$DATA/collector.log" 2>/dev/null && break; sleep 0.1; done
grep "listener ready" "$DATA/collector.log"

if [[ ! -f "$DATA/agent/agent.pem" ]]; then
  step "bulwark-agent enroll: one-time token, key generated locally, CA pinned by fingerprint"
  TOKEN=$("$BIN/bulwark-collector" enroll-token create --data "$DATA/collector" --uses 1 --ttl 1h --label demo 2>/dev/null)
  echo "token: ${TOKEN:0:12}…  CA fingerprint: $FINGERPRINT"
  "$BIN/bulwark-agent" enroll --state "$DATA/agent" --collector "https://127.0.0.1:$AGENT_PORT" --token "$TOKEN" --ca-sha256 "$FINGERPRINT"
fi
# The file guard marks whole mounts (docs/FILES.md). Rather than mark this machine's /home and
# /tmp, the demo guards a small tmpfs of its own (root only: mounting and fanotify need it).
FILE_GUARD=false
FILE_PATHS="[]"
if [[ $(id -u) -eq 0 ]]; then
  mkdir -p "$DATA/guarded"
  umount "$DATA/guarded" 2>/dev/null || true
  if mount -t tmpfs -o size=16m bulwark-demo "$DATA/guarded"; then
    GUARDED="$DATA/guarded"
    FILE_GUARD=true
    FILE_PATHS="[$GUARDED]"
  fi
fi
cat >"$DATA/agent.yaml" <<YAML
heartbeat_interval: 10
retry_cap: 10
policy_sync_interval: 2
session_socket: $DATA/session.sock
file_guard: $FILE_GUARD
file_paths: $FILE_PATHS
YAML

step "bulwark-agent run: spool → compressed mTLS uploads"
"$BIN/bulwark-agent" run --state "$DATA/agent" --config "$DATA/agent.yaml" >"$DATA/agent.log" 2>&1 &
pids+=($!)
AGENT_PID=$!

step "bulwark-agent selftest: an event through the real pipeline, acknowledged by the collector"
"$BIN/bulwark-agent" selftest --state "$DATA/agent"

[[ -f "$DATA/analyst.token" ]] || "$BIN/bulwark-collector" api-token create --data "$DATA/collector" --role analyst --name demo-analyst >"$DATA/analyst.token"
chmod 600 "$DATA/analyst.token"
[[ -f "$DATA/helpdesk.token" ]] || "$BIN/bulwark-collector" api-token create --data "$DATA/collector" --role helpdesk --name demo-helpdesk >"$DATA/helpdesk.token"
chmod 600 "$DATA/helpdesk.token"
export BULWARK_API="https://127.0.0.1:$API_PORT" BULWARK_CA="$DATA/collector/ca.pem"
BULWARK_TOKEN=$(cat "$DATA/analyst.token"); export BULWARK_TOKEN

step "bulwark agents: what the collector knows about its agents"
"$BIN/bulwark" agents
step "bulwark events: the latest telemetry"
"$BIN/bulwark" events --limit 10

AGENT_ID=$(sed -n 's/.*"agent_id":"\([0-9a-f]*\)".*/\1/p' "$DATA/agent/enrollment.json")
step "bulwark-agent status"
"$BIN/bulwark-agent" status --state "$DATA/agent"

step "bulwark-agent doctor: each dependency of the agent, ok / warn / FAIL with the fix"
"$BIN/bulwark-agent" doctor --system --state "$DATA/agent" --config "$DATA/agent.yaml" || true
step "Prometheus metrics of the collector (from its own host no token is needed)"
curl -sS --cacert "$BULWARK_CA" "$BULWARK_API/metrics" | grep -E '^bulwark_collector_(events_stored_total|batches_accepted_total|agents_connected) ' || true

step "DLP: what the default policy does with a paste of customer data into ChatGPT"
cat >"$DATA/customer.txt" <<'SAMPLE'
Refund for Jane Roe, card number 4556 7375 8689 9855 exp 12/28, SSN 536-22-1904.
Deploy key: ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U
SAMPLE
cat "$DATA/customer.txt"
echo "--- bulwark-agent scan (masked snippets, keyed hashes with the deployment key):"
KEYOPT=(); [[ -f "$DATA/agent/hash.key" ]] && KEYOPT=(--key "$DATA/agent/hash.key")
"$BIN/bulwark-agent" scan "${KEYOPT[@]}" "$DATA/customer.txt"
echo "--- bulwark-agent policy test --activity paste --dest chatgpt:"
"$BIN/bulwark-agent" policy test --activity paste --dest chatgpt "$DATA/customer.txt"
echo "--- the same paste into a local LLM (ollama) is only audited:"
"$BIN/bulwark-agent" policy test --activity paste --dest ollama "$DATA/customer.txt" | head -1

step "Clipboard guard: a real copy and paste on a real X server (Xvfb + xclip)"
if command -v Xvfb >/dev/null && command -v xclip >/dev/null; then
  # An X server of its own (it picks a free display), the session helper connected to the agent.
  : >"$DATA/xvfb.display"
  Xvfb -displayfd 1 -nolisten tcp -screen 0 1024x768x24 >"$DATA/xvfb.display" 2>"$DATA/xvfb.log" &
  pids+=($!)
  for _ in $(seq 1 100); do [[ -s "$DATA/xvfb.display" ]] && break; sleep 0.1; done
  DISPLAY_NUMBER=":$(head -n 1 "$DATA/xvfb.display")"
  "$BIN/bulwark-agent" session --backend x11 --display "$DISPLAY_NUMBER" --socket "$DATA/session.sock" \
    --browser-socket "$DATA/browser/browser.sock" >"$DATA/session.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q "from the agent" "$DATA/session.log" 2>/dev/null && break; sleep 0.1; done
  echo "session helper on $DISPLAY_NUMBER: $(grep -m1 'from the agent' "$DATA/session.log")"
  # The default policy blocks credentials on their way to AI coding tools (cards there are audited).
  sed -n 2p "$DATA/customer.txt" >"$DATA/copied.txt"
  echo "--- a user copies: $(cat "$DATA/copied.txt")"
  DISPLAY=$DISPLAY_NUMBER xclip -selection clipboard -quiet "$DATA/copied.txt" >/dev/null 2>&1 &
  COPY=$!
  for _ in $(seq 1 100); do kill -0 "$COPY" 2>/dev/null || break; sleep 0.1; done   # xclip exits: the helper guards it
  cp "$(command -v xclip)" "$DATA/claude"   # Claude Code's executable is named claude
  echo "--- pasted into Claude Code (a program named claude): '$(DISPLAY=$DISPLAY_NUMBER "$DATA/claude" -o -selection clipboard 2>/dev/null)'"
  echo "--- pasted into an ordinary app (xclip -o): '$(DISPLAY=$DISPLAY_NUMBER xclip -o -selection clipboard)'"
  for _ in $(seq 1 100); do "$BIN/bulwark" events --type paste.blocked --since "$DEMO_START" --limit 1 | grep -q paste.blocked && break; sleep 0.2; done
  echo "--- the collector has the incident (no content, just types, app, rule):"
  "$BIN/bulwark" events --type paste.blocked --since "$DEMO_START" --limit 1
  "$BIN/bulwark" events --type paste.blocked --since "$DEMO_START" --limit 1 --json | grep -o '"incident_id":"BW-[0-9A-Z]*"' | head -n 1 | sed 's/.*"\(BW-[0-9A-Z]*\)"/helpdesk looks this up as \1/'
  echo "--- the collector's inventory of discovered AI apps now holds it too:"
  "$BIN/bulwark" inventory
  CLIP_HINT="  DISPLAY=$DISPLAY_NUMBER xclip -selection clipboard <<< 'token ghp_4Jd8s2KqLm9Xv3Tb7Wn1Pz6Yc5Rf0Hg2Ea8U'; DISPLAY=$DISPLAY_NUMBER $DATA/claude -o -selection clipboard"
else
  echo "(install xvfb and xclip to see a paste blocked live: apt-get install -y xvfb xclip)"
fi

step "Browser extension: Chromium with Bulwark's extension; a paste into chatgpt.com, an unsanctioned AI site"
PEERS="$(cd "$(dirname "$0")/.." && pwd)/Tests/EndToEndTests/Peers"
EXTENSION="$(cd "$(dirname "$0")/.." && pwd)/agent/browser-extension"
if [[ -n "${DISPLAY_NUMBER:-}" ]] && command -v chromium >/dev/null && "$(dirname "$0")/ensure-python-peers.sh" >/dev/null 2>&1; then
  # chatgpt.com and chat.deepseek.com are a local HTTPS server here (the browser maps the names).
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$DATA/site.key" -out "$DATA/site.pem" -days 2 \
    -subj /CN=chatgpt.com -addext "subjectAltName=DNS:chatgpt.com,DNS:chat.deepseek.com" >/dev/null 2>&1
  python3 "$PEERS/ai_site.py" "$DATA/site.pem" "$DATA/site.key" >"$DATA/site.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 50); do grep -q listening "$DATA/site.log" && break; sleep 0.1; done
  SITE_PORT=$(awk '/listening/{print $2; exit}' "$DATA/site.log")
  # The native messaging host, as the package installs it (here for the demo's browser profile).
  mkdir -p "$DATA/chromium/NativeMessagingHosts"
  printf '#!/bin/sh\nexec %s native-host --socket %s "$@"\n' "$BIN/bulwark-agent" "$DATA/browser/browser.sock" >"$DATA/native-host"
  chmod 755 "$DATA/native-host"
  sed "s#/usr/lib/bulwark-agent/native-host#$DATA/native-host#" "$EXTENSION/native-host/chromium.json" >"$DATA/chromium/NativeMessagingHosts/dev.bulwark.agent.json"
  DISPLAY=$DISPLAY_NUMBER chromium --no-sandbox --user-data-dir="$DATA/chromium" --no-first-run --disable-gpu --password-store=basic \
    --ignore-certificate-errors --remote-debugging-port=0 --load-extension="$EXTENSION" \
    --host-resolver-rules="MAP chatgpt.com 127.0.0.1:$SITE_PORT, MAP chat.deepseek.com 127.0.0.1:$SITE_PORT" about:blank >"$DATA/chromium.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q "browser extension connected" "$DATA/session.log" && break; sleep 0.2; done
  grep -m1 "browser extension connected" "$DATA/session.log" || echo "(the extension has not connected yet)"
  "$BIN/bulwark" apps set-state deepseek unsanctioned --reason "demo: data stored in CN, no DPA" >/dev/null
  sleep 3   # the agent's next policy pull carries the new state to the helper and the extension
  WS=$(grep -o 'ws://[^ ]*' "$DATA/chromium.log" | head -n 1)
  PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)/.build/test-peers/python" python3 "$PEERS/devtools.py" "$WS" >"$DATA/browser.out" 2>"$DATA/devtools.log" <<'STEPS' || true
{"op": "navigate", "url": "https://chatgpt.com/c/budget-review"}
{"op": "eval", "expr": "(async () => { const box = document.getElementById('box'); box.focus(); const data = new DataTransfer(); data.setData('text/plain', 'Refund card 4556 7375 8689 9855 exp 12/28'); box.dispatchEvent(new ClipboardEvent('paste', {clipboardData: data, bubbles: true, cancelable: true})); await new Promise(r => setTimeout(r, 1500)); return 'text box after the paste: [' + box.value + ']'; })()"}
{"op": "navigate", "url": "https://chat.deepseek.com/"}
{"op": "eval", "expr": "document.title + ': ' + document.querySelector('main p').textContent"}
STEPS
  sed -n 's/^{"value": "\(.*\)"}$/\1/p; s/^{"url": "\(.*\)"}$/tab at \1/p' "$DATA/browser.out"
  BROWSER_HINT="  $BIN/bulwark events --type browser.navigation           # AI sites the browser extension saw (docs/BROWSER.md)
"
  echo "--- the collector has the pastes (the browser's with origin https://chatgpt.com, selection browser) and the visits:"
  for _ in $(seq 1 50); do "$BIN/bulwark" events --type browser.navigation --since "$DEMO_START" | grep -q deepseek && break; sleep 0.2; done
  "$BIN/bulwark" events --type paste.blocked --since "$DEMO_START"
  "$BIN/bulwark" events --type browser.navigation --since "$DEMO_START"
else
  echo "(needs the live clipboard scene's X server, chromium and python3: apt-get install -y chromium python3-pip; docs/BROWSER.md)"
fi

step "AI app discovery: a local LLM runtime starts, the agent notices, the inventory lists it"
# A stand-in for Ollama: a copy of sleep under Ollama's executable name (the agent matches names
# and records the program's SHA-256, never its command line).
cp "$(command -v sleep)" "$DATA/ollama"
"$DATA/ollama" 3600 &
pids+=($!)
for _ in $(seq 1 150); do "$BIN/bulwark" events --type ai.process.started --limit 5 | grep -q "app=ollama" && break; sleep 0.2; done
"$BIN/bulwark" events --type ai.process.started --limit 5
echo "--- bulwark inventory:"
"$BIN/bulwark" inventory
echo "--- why ChatGPT scores what it does (bulwark apps show chatgpt, first lines):"
"$BIN/bulwark" apps show chatgpt | head -9

step "File guard (fanotify): an AI tool may not read customer data; an unapproved AI runtime may not start"
if [[ -n "$GUARDED" ]]; then
  # Stand-ins again: cat installed as ollama reads files like an AI tool would; true installed as
  # llama-server is a local LLM runtime (llama.cpp) the organisation has not approved.
  mkdir -p "$GUARDED/tools"
  cp "$(type -P cat)" "$GUARDED/tools/ollama"
  cp "$(type -P true)" "$GUARDED/tools/llama-server"
  printf 'Customer: Dana Whitfield, card 4556 7375 8689 9855 exp 12/28\n' >"$GUARDED/customers.txt"
  printf 'Quarterly plan: ship the Linux agent.\n' >"$GUARDED/plan.txt"
  echo "\$ ollama plan.txt           # harmless: allowed, audited once"
  "$GUARDED/tools/ollama" "$GUARDED/plan.txt" || true
  echo "\$ ollama customers.txt      # a card number: the kernel refuses the open"
  "$GUARDED/tools/ollama" "$GUARDED/customers.txt" || true
  echo "\$ cat customers.txt | wc -c # an ordinary program is not an AI tool: allowed"
  cat "$GUARDED/customers.txt" | wc -c
  for _ in $(seq 1 50); do "$BIN/bulwark" events --type file.blocked --since "$DEMO_START" --limit 5 --json | grep -q "customers.txt" && break; sleep 0.2; done
  echo "--- the collector has the incident (the path, the types found, the rule; never the content):"
  "$BIN/bulwark" events --type file.blocked --since "$DEMO_START" --limit 1
  FILE_INCIDENT=$("$BIN/bulwark" events --type file.blocked --since "$DEMO_START" --limit 1 --json | grep -o '"incident_id":"BW-[0-9A-Z]*"' | head -n 1 | sed 's/.*"\(BW-[0-9A-Z]*\)"/\1/')
  echo "--- the user's notification says $FILE_INCIDENT; helpdesk looks it up (bulwark incidents show $FILE_INCIDENT):"
  "$BIN/bulwark" incidents show "$FILE_INCIDENT" || true
  echo "--- helpdesk grants a 10-minute exception from the incident (same rule, user, app and machine):"
  BULWARK_TOKEN=$(cat "$DATA/helpdesk.token") "$BIN/bulwark" exceptions grant --incident "$FILE_INCIDENT" --for 10m \
    --reason "customer list migration" --ticket HD-1001 || true
  for _ in $(seq 1 50); do "$GUARDED/tools/ollama" "$GUARDED/customers.txt" >/dev/null 2>&1 && break; sleep 0.2; done
  echo "\$ ollama customers.txt | wc -c # allowed now, and audited with the exception's id; it ends by itself"
  "$GUARDED/tools/ollama" "$GUARDED/customers.txt" | wc -c || true
  echo "--- and the harmless read, audited once:"
  "$BIN/bulwark" events --type file.audited --since "$DEMO_START" --limit 1
  echo "\$ bulwark apps set-state llama-cpp unsanctioned --reason \"not approved\""
  "$BIN/bulwark" apps set-state llama-cpp unsanctioned --reason "not approved" >/dev/null
  STARTED=yes
  for _ in $(seq 1 50); do
    if ! "$GUARDED/tools/llama-server" 2>/dev/null; then STARTED=no; break; fi
    sleep 0.2
  done
  echo "\$ llama-server"
  "$GUARDED/tools/llama-server" || echo "exit $? (the agent refused to let it start)"
  [[ $STARTED == no ]] || echo "(still starting: the new state has not reached the agent yet)"
  "$BIN/bulwark" apps set-state llama-cpp unreviewed --reason "demo over" >/dev/null
  echo "(blocks also reach the user's desktop through the session helper; see docs/FILES.md)"
else
  echo "(run the demo as root to see the file guard: it mounts a tmpfs and uses fanotify)"
fi

[[ -f "$DATA/admin.token" ]] || "$BIN/bulwark-collector" api-token create --data "$DATA/collector" --role admin --name demo-admin >"$DATA/admin.token"
chmod 600 "$DATA/admin.token"
step "bulwark policy push: the deployment's policy, versioned on the collector; the agent installs it within seconds"
"$BIN/bulwark-agent" policy default >"$DATA/policy.yaml"
BULWARK_TOKEN=$(cat "$DATA/admin.token") "$BIN/bulwark" policy push "$DATA/policy.yaml" --comment "demo: the default policy, managed centrally"
for _ in $(seq 1 50); do grep -q "source=collector policy" "$DATA/agent.log" && break; sleep 0.1; done
grep -m1 "source=collector policy" "$DATA/agent.log" | sed 's/.*bulwark-agent: /agent: /' || echo "(the agent has not pulled it yet)"
# Established TCP connections of process $1 to the agent port: its socket inodes in /proc/net/tcp.
connections_to_collector() {
  local inodes
  inodes=$(ls -l /proc/"$1"/fd 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' '|')
  awk -v port=":$(printf '%04X' "$AGENT_PORT")" -v ids="|$inodes" \
    '$4 == "01" && substr($3, length($3) - 4) == port && index(ids, "|" $10 "|") { n++ } END { print n + 0 }' /proc/net/tcp
}
step "Fleet scale: one HTTP/2 connection per agent, a policy request always waiting on it; a sanction change arrives at once (docs/SCALING.md)"
echo "the agent's connections to the collector: $(connections_to_collector "$AGENT_PID") (uploads and the waiting policy request share it)"
BUNDLES=$(grep -c "policy bundle from the collector" "$DATA/agent.log" || true)
CHANGED_AT=$(date +%s%N)
"$BIN/bulwark" apps set-state deepseek unsanctioned --reason "demo: policy fan-out" >/dev/null
for _ in $(seq 1 100); do
  [[ $(grep -c "policy bundle from the collector" "$DATA/agent.log" || true) -gt $BUNDLES ]] && break
  sleep 0.05
done
if [[ $(grep -c "policy bundle from the collector" "$DATA/agent.log" || true) -gt $BUNDLES ]]; then
  echo "deepseek → unsanctioned reached the agent in $(( ($(date +%s%N) - CHANGED_AT) / 1000000 )) ms (10,000 agents: all within 5 s, docs/BENCHMARKS.md)"
else
  echo "(the change has not reached the agent within 5 s; see $DATA/agent.log)"
fi
"$BIN/bulwark" apps set-state deepseek unreviewed --reason "demo over" >/dev/null
step "bulwark report: AI usage and data exposure over the last 30 days (also --html -o report.html)"
"$BIN/bulwark" report
step "bulwark risk: users whose recent blocks raised their risk level (rules can tighten for them)"
"$BIN/bulwark" risk
step "bulwark audit: every API call, who, from where, allowed or not (admins)"
BULWARK_TOKEN=$(cat "$DATA/admin.token") "$BIN/bulwark" audit --limit 8

cat <<TEXT

The collector and the agent keep running. Try, in another terminal:
  export BULWARK_API=$BULWARK_API BULWARK_CA=$BULWARK_CA BULWARK_TOKEN=\$(cat $DATA/analyst.token)
  $BIN/bulwark events --type agent.heartbeat     # a heartbeat every 10 s
  $BIN/bulwark-agent selftest --state $DATA/agent --count 1000
  $BIN/bulwark-agent status --state $DATA/agent
  $BIN/bulwark login --api $BULWARK_API --ca-sha256 $FINGERPRINT --token-file $DATA/analyst.token   # then no variables needed
  $BIN/bulwark events --export csv -o events.csv                 # every event, streamed (also ndjson; filters as for events)
  $BIN/bulwark report --html -o report.html                      # the printable report
  BULWARK_TOKEN=\$(cat $DATA/admin.token) $BIN/bulwark policy list   # versions; also show, diff A B, rollback V --comment …
  $BIN/bulwark incidents list                                    # every warn and block; then: incidents show|resolve ID
  BULWARK_TOKEN=\$(cat $DATA/helpdesk.token) $BIN/bulwark exceptions list   # helpdesk's time-boxed exceptions (grant|revoke)
  $BIN/bulwark inventory --csv                                   # discovered AI apps
  $BIN/bulwark inventory --min-risk 5 --user \$USER               # one person's riskier AI apps
  $BIN/bulwark catalog --min-risk 8                              # the catalog's riskiest apps
  $BIN/bulwark apps set-state ollama sanctioned --reason "approved local runtime"   # needs an analyst token (the demo's is one)
  $BIN/bulwark-agent scan --json any.docx|.xlsx|.pdf|.zip      # extraction + classification
  $BIN/bulwark-agent policy default > my-policy.yaml             # edit, then: policy check my-policy.yaml
  $BIN/bulwark-collector agent revoke --data $DATA/collector $AGENT_ID   # then: selftest fails with agent_revoked
  $BIN/bulwark-collector config check collector/collector.yaml   # FILE:LINE:COLUMN on a fault; also bulwark-agent config check
  make deb                                                       # the .deb packages IT installs (docs/DEPLOY.md)
${GUARDED:+  $GUARDED/tools/ollama $GUARDED/customers.txt      # refused; then: $BIN/bulwark events --type file.blocked
}${BROWSER_HINT:-}${CLIP_HINT:-}
Logs: $DATA/collector.log, $DATA/agent.log and $DATA/session.log.   Ctrl-C stops everything.
TEXT
wait
