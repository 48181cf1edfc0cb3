#!/usr/bin/env bash
# The sync's benchmark harness (make bench-sync): a fresh in-memory Azurite
# on free ports for each run (Azurite slows down as it fills), then
# BenchmarkFullSync (10,000 and 100,000 rows from the in-process Dataverse
# simulator): rows/s, Dataverse requests, Table writes per row, peak heap.
# Extra arguments go to go test (e.g. -count 3).
source "$(dirname "$0")/lib.sh"
trap stop_started EXIT
trap 'exit 130' INT TERM

ensure_node_tools
use_test_azurite
export CONNECTOR_TEST_REQUIRE_SERVICES=1
cd "$ROOT"
go test -run '^$' -bench 'FullSync' -benchtime 1x "$@" ./internal/syncer/
