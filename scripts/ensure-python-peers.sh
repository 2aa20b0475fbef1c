#!/usr/bin/env bash
# Installs the Python packages the tests use as independent peers (an OpenAPI validator, a
# WebSocket client to drive headless Chromium over the DevTools protocol, the Prometheus
# text-format parser) into
# .build/test-peers/python, once; tests put that directory on PYTHONPATH. Never touches the
# system's Python packages.
set -euo pipefail
target="$(cd "$(dirname "$0")/.." && pwd)/.build/test-peers/python"
packages=("openapi-spec-validator==0.9.0" "websocket-client==1.8.0" "prometheus-client==0.21.1")
[[ -f "$target/.installed" ]] && [[ "$(cat "$target/.installed")" == "${packages[*]}" ]] && exit 0
if ! python3 -m pip --version >/dev/null 2>&1; then
  "$(dirname "$0")/ensure-debs.sh" python3-pip
fi
rm -rf "$target"
mkdir -p "$target"
echo "installing Python test peers: ${packages[*]}"
# --target keeps them out of the system; Debian's pip also wants --break-system-packages.
python3 -m pip install --quiet --disable-pip-version-check --target "$target" "${packages[@]}" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages --target "$target" "${packages[@]}"
echo "${packages[*]}" > "$target/.installed"
