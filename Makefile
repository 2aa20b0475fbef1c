# Bulwark: the two commands of the README are `make demo` and `make test`.
SWIFT ?= swift
# Debian packages the build, the tests and the demo use (openssl and curl are independent
# TLS clients in the end-to-end tests; X11 headers for the clipboard guard, whose libraries are
# loaded at run time).
DEBS := libsqlite3-dev zlib1g-dev libssl-dev openssl curl ca-certificates procps libx11-dev libxfixes-dev libxres-dev

# Packaging (make deb): strip, and dpkg-deb (in dpkg).
DEB_DEBS := binutils

# What the tests start besides our binaries: a real X server, window manager and clipboard
# clients, a session bus and notification server, a browser, a terminal, a clipboard manager,
# a Wayland compositor and its clipboard clients; the sqlite3 shell as a second writer; GNU
# patch to apply the policy diffs the collector makes; rsyslog with TLS as a SIEM; PostgreSQL,
# whose server the store tests start as a private cluster on loopback (Tests/TestSupport), and
# HAProxy in front of several collectors.
TEST_DEBS := postgresql haproxy systemd adduser init-system-helpers file sqlite3 patch rsyslog rsyslog-gnutls xvfb xclip dbus-daemon dbus-bin dunst openbox xdotool chromium firefox-esr parcellite python3-xlib sway wl-clipboard xterm mutter foot

.PHONY: deps test-deps build release deb test demo bench clean

deps:
	@./scripts/ensure-debs.sh $(DEBS)

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The two .deb packages (docs/DEPLOY.md): a release build with the Swift runtime linked in, so the
# packages need nothing but Debian's libc, libstdc++, SQLite and zlib.
DEB_DIR ?= $(CURDIR)/dist
deb: deps
	@./scripts/ensure-debs.sh $(DEB_DEBS)
	$(SWIFT) build -c release --static-swift-stdlib --product bulwark-agent
	$(SWIFT) build -c release --static-swift-stdlib --product bulwark-collector
	$(SWIFT) build -c release --static-swift-stdlib --product bulwark
	./scripts/build-debs.sh $$($(SWIFT) build -c release --show-bin-path) $(DEB_DIR)

test-deps:
	@./scripts/ensure-debs.sh $(TEST_DEBS)
	@./scripts/ensure-python-peers.sh

test: build test-deps deb
	# --no-parallel: the end-to-end suites start real services; run them one at a time.
	BULWARK_BIN_DIR=$$($(SWIFT) build --show-bin-path) BULWARK_DEB_DIR=$(DEB_DIR) $(SWIFT) test --no-parallel

# The demo shows a paste blocked live when it can start an X server and xclip, and the browser extension in Chromium.
DEMO_DEBS := xvfb xclip chromium openssl python3

demo: build
	@./scripts/ensure-debs.sh $(DEMO_DEBS) || echo "(without them the demo skips the live clipboard part)"
	./scripts/demo.sh $$($(SWIFT) build --show-bin-path)

bench: release
	$(SWIFT) run -c release bulwark-bench --help

clean:
	rm -rf .build demo-data dist
