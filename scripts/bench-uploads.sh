#!/usr/bin/env bash
# The upload pipeline's benchmarks (docs/performance.md, "Uploads"): starts
# Azurite and the Service Bus fake on free ports (unless
# CONNECTOR_TEST_STORAGE / CONNECTOR_TEST_SERVICEBUS name them), runs
#   BenchmarkUploads           REPORTS reports (default 1000), unthrottled
#   BenchmarkUploadsThrottled  THROTTLED_REPORTS reports (default 900) at 600 requests per 30 s per user
# through funchost, the real handler and the Dataverse simulator, and stops
# what it started. Extra arguments go to go test (e.g. -count 3).
source "$(dirname "$0")/lib.sh"
trap stop_started EXIT
trap 'exit 130' INT TERM

ensure_node_tools
if [ -z "${CONNECTOR_TEST_STORAGE:-}" ]; then
  blob=$(free_port) queue=$(free_port) table=$(free_port)
  start_azurite "$blob" "$queue" "$table" memory
  export CONNECTOR_TEST_STORAGE
  CONNECTOR_TEST_STORAGE=$(azurite_connection_string "$blob" "$queue" "$table")
fi
if [ -z "${CONNECTOR_TEST_SERVICEBUS:-}" ]; then
  sb=$(free_port) sbadmin=$(free_port)
  start_servicebus "$sb" "$sbadmin"
  export CONNECTOR_TEST_SERVICEBUS CONNECTOR_TEST_SERVICEBUS_ADMIN="http://127.0.0.1:$sbadmin"
  CONNECTOR_TEST_SERVICEBUS=$(servicebus_connection_string "$sb")
fi
export CONNECTOR_TEST_REQUIRE_SERVICES=1
cd "$ROOT"
say "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo +), $(nproc) CPUs, $(go version | cut -d' ' -f3)"
go test -run '^$' -bench 'BenchmarkUploads$' -benchtime "${REPORTS:-1000}x" -timeout 60m "$@" ./internal/uploader
go test -run '^$' -bench 'BenchmarkUploadsThrottled$' -benchtime "${THROTTLED_REPORTS:-900}x" -timeout 60m "$@" ./internal/uploader
