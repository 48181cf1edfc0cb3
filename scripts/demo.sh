#!/usr/bin/env bash
# The runnable story of the downstream sync (make demo): starts Azurite and
# the Service Bus fake on free ports, then runs localworld/demo, which starts
# the rest of a local world (funchost + the handler, entra-sim,
# dataverse-sim), approves a tenant, signs a user in, syncs, edits and
# deletes rows in the simulator, syncs again and prints what the Changes
# API returns, then uploads a meeting report and follows it into Dynamics
# and back. It exits non-zero when any step does not do what it says.
source "$(dirname "$0")/lib.sh"
trap stop_started EXIT
trap 'exit 130' INT TERM

ensure_node_tools
use_test_azurite
use_test_servicebus
export CONNECTOR_TEST_REQUIRE_SERVICES=1
cd "$ROOT"
go test -count=1 -run '^TestDemo$' -v ./localworld/demo/ | grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS$' -e '^ok '
exit "${PIPESTATUS[0]}"
