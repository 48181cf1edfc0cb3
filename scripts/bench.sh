#!/usr/bin/env bash
# The end-to-end benchmark (make bench; make bench-ci runs it with "ci").
# Each benchmark gets a fresh in-memory Azurite and Service Bus fake on free
# ports (Azurite slows as it fills), runs the whole connector through
# funchost (localworld/testworld: the real handler binary, the simulators),
# and stops what it started. devtools/cmd/benchtable then prints one table:
#   make bench     writes it, with the machine and the commit, into
#                  docs/performance.md (its own section)
#   make bench-ci  checks it against thresholds and fails on a regression
# Sizes: the full sync runs at 10,000 rows and at BENCH_ROWS (100,000;
# e.g. BENCH_ROWS=1000000; CI only 10,000),
# REPORTS (1,000; CI 200), THROTTLED_REPORTS (900; CI 0 = skipped),
# COLD_STARTS (20; CI 5), BENCH_DOC_MB (the downloaded document, 50).
source "$(dirname "$0")/lib.sh"
trap stop_started EXIT
trap 'exit 130' INT TERM

mode=${1:-full}
case "$mode" in
  full) rows=${BENCH_ROWS:-100000} reports=${REPORTS:-1000} throttled=${THROTTLED_REPORTS:-900} starts=${COLD_STARTS:-20} ;;
  ci) rows=${BENCH_ROWS:-10000} reports=${REPORTS:-200} throttled=${THROTTLED_REPORTS:-0} starts=${COLD_STARTS:-5} ;;
  *) die "usage: scripts/bench.sh [full|ci]" ;;
esac

ensure_node_tools
# A million rows are two million entities (mirror and change log) in
# Azurite's memory: more than Node's default heap.
if [ "$rows" -gt 200000 ]; then export NODE_OPTIONS="--max-old-space-size=12288"; fi
out="$RUN_DIR/bench-$mode.txt"
: >"$out"

# bench PACKAGE PATTERN N [ROWS]: one benchmark against services of its own.
bench() {
  local blob queue table sb sbadmin
  blob=$(free_port) queue=$(free_port) table=$(free_port)
  start_azurite "$blob" "$queue" "$table" memory
  sb=$(free_port) sbadmin=$(free_port)
  start_servicebus "$sb" "$sbadmin"
  say "== $2 ($3x) in $1"
  CONNECTOR_TEST_STORAGE=$(azurite_connection_string "$blob" "$queue" "$table") \
    CONNECTOR_TEST_SERVICEBUS=$(servicebus_connection_string "$sb") \
    CONNECTOR_TEST_SERVICEBUS_ADMIN="http://127.0.0.1:$sbadmin" \
    CONNECTOR_TEST_REQUIRE_SERVICES=1 BENCH_ROWS=${4:-$rows} \
    go test -run '^$' -bench "^$2\$" -benchtime "${3}x" -timeout 180m "./$1" | tee -a "$out"
  stop_started
}

cd "$ROOT"
say "make bench ($mode): $rows rows, $reports reports, $throttled throttled reports, $starts cold starts; commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo +)"
bench internal/syncer/e2e BenchmarkSyncEndToEnd 1 10000
if [ "$rows" != 10000 ]; then bench internal/syncer/e2e BenchmarkSyncEndToEnd 1 "$rows"; fi
bench internal/uploader BenchmarkUploads "$reports"
bench internal/notefiles/e2e BenchmarkDocumentDownload 1
if [ "$throttled" -gt 0 ]; then bench internal/uploader BenchmarkUploadsThrottled "$throttled"; fi
bench localworld/testworld BenchmarkHandlerColdStart "$starts"

command="BENCH_ROWS=$rows REPORTS=$reports THROTTLED_REPORTS=$throttled COLD_STARTS=$starts scripts/bench.sh $mode"
if [ "$mode" = ci ]; then
  go run ./devtools/cmd/benchtable -check <"$out"
else
  go run ./devtools/cmd/benchtable -doc docs/performance.md -command "$command" <"$out"
fi
