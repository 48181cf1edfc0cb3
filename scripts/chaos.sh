#!/usr/bin/env bash
# The chaos campaign (make chaos, make chaos-ci): runs localworld/chaos's
# TestChaos, which starts its own Azurite (on disk) and Service Bus fake on
# free ports so that it can restart them, then the rest of a local world,
# and injects seeded faults while simulated users upload and an editor
# works in Dynamics; at the end it heals everything, waits for the system
# to quiesce and checks the invariants. Settings (environment):
#   CHAOS_SEED      the fault schedule's seed (default: random, printed)
#   CHAOS_DURATION  how long faults are injected (default 5m)
#   CHAOS_USERS     signed-in users, 1-5 (default 3)
#   CHAOS_ROWS      rows per seeded Dynamics table (default 300)
#   CHAOS_EXCLUDE   kinds of fault to leave out, comma-separated
#   CHAOS_QUIESCE   how long healing may take (default 7m: longer than the uploads
#                   queue's 5-minute lock, after which a message a receiver
#                   lost is delivered again)
# It exits non-zero on any violated invariant, printing the seed.
source "$(dirname "$0")/lib.sh"
trap 'exit 130' INT TERM

ensure_node_tools
export CHAOS_SEED=${CHAOS_SEED:-$(( (RANDOM << 15) | RANDOM ))}
export CHAOS_LOG_DIR=${CHAOS_LOG_DIR:-$RUN_DIR/chaos/$CHAOS_SEED}
cd "$ROOT"
go test -count=1 -timeout 2h -run '^TestChaos$' -v ./localworld/chaos/ | grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS$' -e '^ok '
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || say "chaos: FAILED; reproduce with CHAOS_SEED=$CHAOS_SEED (and the same CHAOS_DURATION/CHAOS_USERS)"
exit "$status"
