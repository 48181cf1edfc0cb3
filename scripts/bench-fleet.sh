#!/usr/bin/env bash
# The fleet benchmark (make bench-fleet; make bench-ci runs its short form
# with "ci"): localworld/fleet's BenchmarkFleet against a fresh in-memory
# Azurite and Service Bus fake on free ports, the whole connector through
# funchost. Sizes: FLEET_USERS (2,000; CI 200), FLEET_TENANTS (20; CI 5),
# FLEET_INTERVAL_MINUTES, the users' sync interval (5; CI 1), FLEET_TICKS
# steady intervals (2; CI 2), FLEET_EDITS, the editor's changes to each set
# per interval (1; CI 4), FLEET_ROWS rows of each set (17). The full form
# is as much as Azurite on this 2-core machine serves: it evaluates every
# Table query over the whole table, so its cost per sync grows with the
# fleet (docs/performance.md, "Fleet"). The CI form checks the structural
# ratios (FLEET_CHECK=1) and fails on a regression. A run takes the
# onboarding, the first syncs, the steady intervals and three more: about
# 40 minutes in full, 6 in CI.
source "$(dirname "$0")/lib.sh"
trap stop_started EXIT
trap 'exit 130' INT TERM

mode=${1:-full}
case "$mode" in
  full) : "${FLEET_USERS:=2000}" "${FLEET_TENANTS:=20}" "${FLEET_TICKS:=2}" "${FLEET_INTERVAL_MINUTES:=5}" "${FLEET_EDITS:=1}" ;;
  ci) : "${FLEET_USERS:=200}" "${FLEET_TENANTS:=5}" "${FLEET_TICKS:=2}" "${FLEET_INTERVAL_MINUTES:=1}" "${FLEET_EDITS:=4}"; export FLEET_CHECK=1 ;;
  *) die "usage: scripts/bench-fleet.sh [full|ci]" ;;
esac
export FLEET_USERS FLEET_TENANTS FLEET_TICKS FLEET_INTERVAL_MINUTES FLEET_EDITS

ensure_node_tools
use_test_azurite
use_test_servicebus
export CONNECTOR_TEST_REQUIRE_SERVICES=1
cd "$ROOT"
say "make bench-fleet ($mode): $FLEET_USERS users in $FLEET_TENANTS tenants, $FLEET_TICKS steady intervals of $FLEET_INTERVAL_MINUTES min, $FLEET_EDITS edits of each set an interval; commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +)"
go test -run '^$' -bench '^BenchmarkFleet$' -benchtime 1x -timeout 60m ./localworld/fleet/ | tee "$RUN_DIR/bench-fleet-$mode.txt"
