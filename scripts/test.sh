#!/usr/bin/env bash
# Runs the whole test suite with the race detector. Starts the services the
# tests need on free ports (Azurite in memory, unless CONNECTOR_TEST_STORAGE
# names one; oidc-provider, unless CONNECTOR_TEST_OIDC_PROVIDER names one) and
# stops what it started. Extra arguments go to go test.
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
  start oidc-provider "$RUN_DIR/oidc-provider.log" node "$ROOT/tools/oidc-provider/server.mjs" "$oidc_port"
  wait_port "$oidc_port" oidc-provider "$LAST_PID"
  export CONNECTOR_TEST_OIDC_PROVIDER="http://127.0.0.1:$oidc_port"
  say "oidc-provider (pid $LAST_PID) on 127.0.0.1:$oidc_port"
fi
export CONNECTOR_TEST_REQUIRE_SERVICES=1
cd "$ROOT"
go test -race "$@" ./...
