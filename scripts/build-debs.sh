#!/usr/bin/env bash
# Builds bulwark-agent_<ver>_<arch>.deb and bulwark-collector_<ver>_<arch>.deb with dpkg-deb from
# the binaries in BIN (a release build; they are stripped here) into OUT. 'make deb' runs it.
#   usage: build-debs.sh BIN OUT
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:?usage: build-debs.sh BIN OUT}
out=${2:?usage: build-debs.sh BIN OUT}
version=$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' Sources/BulwarkCore/Support/BulwarkVersion.swift)
arch=$(dpkg --print-architecture)
# Distributors set their own.
maintainer=${DEB_MAINTAINER:-Bulwark developers <bulwark@example.org>}
[[ -n $version ]] || { echo "cannot read the version from BulwarkVersion.swift" >&2; exit 1; }
mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# put SOURCE DEST MODE: one file into the package tree.
put() { install -D -m "$3" "$1" "$root/$2"; }
binary() { install -D -m 0755 "$bin/$1" "$root/usr/bin/$1"; strip --strip-unneeded "$root/usr/bin/$1"; }

# control PACKAGE DEPENDS RECOMMENDS DESCRIPTION...: DEBIAN/control, conffiles and scripts.
control() {
  local package=$1 depends=$2 recommends=$3 summary=$4 body=$5
  mkdir -p "$root/DEBIAN"
  install -m 0755 "$package_dir/debian/postinst" "$package_dir/debian/prerm" "$package_dir/debian/postrm" "$root/DEBIAN/"
  (cd "$root" && find etc -type f | sed 's|^|/|' | sort) > "$root/DEBIAN/conffiles"
  cat > "$root/DEBIAN/control" <<CONTROL
Package: $package
Version: $version
Architecture: $arch
Maintainer: $maintainer
Section: admin
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
$( [[ -n $recommends ]] && echo "Recommends: $recommends" )
Description: $summary
$(echo "$body" | fold -s -w 78 | sed 's/^/ /; s/^ $/ ./')
CONTROL
  sed -i '/^$/d' "$root/DEBIAN/control"
}

docs() {
  put README.md "usr/share/doc/$1/README.md" 0644
  put docs/DEPLOY.md "usr/share/doc/$1/DEPLOY.md" 0644
  put docs/CONFIGURATION.md "usr/share/doc/$1/CONFIGURATION.md" 0644
  [[ $1 == bulwark-agent ]] && put docs/BROWSER.md "usr/share/doc/$1/BROWSER.md" 0644
  cat > "$root/usr/share/doc/$1/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Bulwark
Comment: Endpoint DLP and shadow-AI discovery for Linux, built from the Bulwark source tree.
COPYRIGHT
  chmod 0644 "$root/usr/share/doc/$1/copyright"
}

common_depends="libc6, libgcc-s1, libstdc++6, libsqlite3-0, zlib1g"

# The agent: binary, system unit, session helper (user unit + XDG autostart), agent.yaml.
root=$stage/bulwark-agent package_dir=agent
binary bulwark-agent
put agent/bulwark-agent.service lib/systemd/system/bulwark-agent.service 0644
put agent/bulwark-session.service usr/lib/systemd/user/bulwark-session.service 0644
put agent/bulwark-session.desktop etc/xdg/autostart/bulwark-session.desktop 0644
# agent.yaml may hold an enrollment token: root only.
put agent/agent.yaml etc/bulwark/agent.yaml 0600
# The browser extension (docs/BROWSER.md): its files, its native messaging host for each browser
# family's system directory, and enterprise policy examples.
for file in agent/browser-extension/*.{json,js,html,css}; do
  put "$file" "usr/share/bulwark-agent/browser-extension/$(basename "$file")" 0644
done
put agent/browser-extension/native-host/native-host usr/lib/bulwark-agent/native-host 0755
# Brave's system directory is not documented: both places it has been reported to read.
for dir in etc/chromium/native-messaging-hosts etc/opt/chrome/native-messaging-hosts etc/opt/edge/native-messaging-hosts etc/opt/brave/native-messaging-hosts; do
  put agent/browser-extension/native-host/chromium.json "$dir/dev.bulwark.agent.json" 0644
done
put agent/browser-extension/native-host/firefox.json usr/lib/mozilla/native-messaging-hosts/dev.bulwark.agent.json 0644
put agent/browser-extension/deploy/chromium-policy.json usr/share/doc/bulwark-agent/examples/chromium-policy.json 0644
put agent/browser-extension/deploy/firefox-policies.json usr/share/doc/bulwark-agent/examples/firefox-policies.json 0644
docs bulwark-agent
control bulwark-agent "$common_depends, init-system-helpers (>= 1.58)" "libx11-6, libxfixes3, libxres1, libnotify-bin" \
  "Bulwark endpoint agent: DLP for AI apps on Linux" \
  "Watches pastes into AI apps (clipboard guard), file access by AI tools (fanotify) and which AI apps and models are in use; classifies the data involved; audits, warns or blocks by policy; and sends compressed, mutually-authenticated telemetry to a Bulwark collector."
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/bulwark-agent_${version}_${arch}.deb" >/dev/null

# The collector: collector and CLI binaries, system unit, collector.yaml.
root=$stage/bulwark-collector package_dir=collector
binary bulwark-collector
binary bulwark
put collector/bulwark-collector.service lib/systemd/system/bulwark-collector.service 0644
put collector/collector.yaml etc/bulwark/collector.yaml 0640
docs bulwark-collector
control bulwark-collector "$common_depends, adduser, init-system-helpers (>= 1.58)" "" \
  "Bulwark collector: AI app inventory, DLP incidents and policy for Linux agents" \
  "Enrolls Bulwark agents with its own CA, ingests their telemetry over mutual TLS, builds the inventory of AI apps in use, keeps incidents and exceptions, distributes policy, and serves the API, the web console and the bulwark CLI's requests."
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/bulwark-collector_${version}_${arch}.deb" >/dev/null

ls -l "$out"/bulwark-agent_"${version}"_"${arch}".deb "$out"/bulwark-collector_"${version}"_"${arch}".deb
