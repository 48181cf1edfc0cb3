#!/usr/bin/env bash
# Installs Chromium for the browser tests (localworld/browser): Debian's
# chromium package, without its desktop recommendations (printing, avahi,
# notification daemons), and fonts-liberation for legible screenshots.
# Idempotent and quick when Chromium is there already: it only prints the
# version. Needs apt-get and root (or sudo); CI runs as root. Elsewhere,
# install Chromium by hand and name it in CONNECTOR_TEST_CHROMIUM.
set -euo pipefail

version() { "$1" --version 2>/dev/null | head -1; }

for exe in "${CONNECTOR_TEST_CHROMIUM:-}" /usr/lib/chromium/chromium; do
  if [ -n "$exe" ] && [ -x "$exe" ]; then
    echo "Chromium is installed: $(version "$exe") ($exe)" >&2
    exit 0
  fi
done

command -v apt-get >/dev/null || {
  echo "error: no apt-get here; install Chromium with the system's package manager and set CONNECTOR_TEST_CHROMIUM to it" >&2
  exit 1
}
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "Installing Chromium (Debian's chromium package)..." >&2
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >&2
"${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-liberation >&2
echo "Chromium installed in $((SECONDS - start)) s: $(version /usr/lib/chromium/chromium)" >&2
