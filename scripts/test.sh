#!/usr/bin/env bash
# Runs the whole test suite with the race detector. Starts the services the
# tests need on free ports (Azurite in memory, the Service Bus fake and
# oidc-provider) unless CONNECTOR_TEST_STORAGE / CONNECTOR_TEST_SERVICEBUS /
# CONNECTOR_TEST_OIDC_PROVIDER already name them, and stops what it started.
# The browser tests (localworld/browser) run when Chromium is installed
# (scripts/install-chromium.sh); without it they are skipped, with a note,
# unless CI or CONNECTOR_TEST_REQUIRE_BROWSER requires them.
# Extra arguments go to go test.
source "$(dirname "$0")/lib.sh"
trap stop_started EXIT
trap 'exit 130' INT TERM

ensure_node_tools
if [ -z "${CONNECTOR_TEST_STORAGE:-}" ]; then
  blob=$(free_port) queue=$(free_port) table=$(free_port)
  start_azurite "$blob" "$queue" "$table" memory
  export CONNECTOR_TEST_STORAGE
  CONNECTOR_TEST_STORAGE=$(azurite_connection_string "$blob" "$queue" "$table")
  say "Azurite (pid $LAST_PID) on 127.0.0.1:$blob/$queue/$table"
fi
if [ -z "${CONNECTOR_TEST_OIDC_PROVIDER:-}" ]; then
  oidc_port=$(free_port)
  start oidc-provider "$RUN_DIR/oidc-provider.log" node "$ROOT/localworld/oidc-provider/server.mjs" "$oidc_port"
  wait_port "$oidc_port" oidc-provider "$LAST_PID"
  export CONNECTOR_TEST_OIDC_PROVIDER="http://127.0.0.1:$oidc_port"
  say "oidc-provider (pid $LAST_PID) on 127.0.0.1:$oidc_port"
fi
if [ -z "${CONNECTOR_TEST_SERVICEBUS:-}" ]; then
  sb=$(free_port) sbadmin=$(free_port)
  start_servicebus "$sb" "$sbadmin"
  export CONNECTOR_TEST_SERVICEBUS CONNECTOR_TEST_SERVICEBUS_ADMIN="http://127.0.0.1:$sbadmin"
  CONNECTOR_TEST_SERVICEBUS=$(servicebus_connection_string "$sb")
  say "Service Bus fake (pid $LAST_PID) on 127.0.0.1:$sb, admin API :$sbadmin, log .run/servicebus.log"
fi
export CONNECTOR_TEST_REQUIRE_SERVICES=1
if ! chromium_path >/dev/null; then
  if [ -n "${CONNECTOR_TEST_REQUIRE_BROWSER:-}${CI:-}" ]; then
    die "Chromium is not installed, and the browser tests (localworld/browser) are required here; scripts/install-chromium.sh installs it"
  fi
  say "note: Chromium is not installed, so the browser tests (localworld/browser) are skipped; \`make install-chromium\` installs it"
fi
cd "$ROOT"
node --test localworld/servicebus-fake/
go test -race "$@" ./...
