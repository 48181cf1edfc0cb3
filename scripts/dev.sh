#!/usr/bin/env bash
# Starts the local world: Azurite (persisted in .azurite/), the Service Bus
# fake (in memory, queues from localworld/servicebus-fake/config.json) and
# funchost, which runs the handler and receives the queues' messages.
# Ctrl-C stops everything this script started.
source "$(dirname "$0")/lib.sh"
trap stop_started EXIT
trap 'exit 0' INT TERM

ensure_node_tools
cd "$ROOT"
say "Building the handler and funchost..."
go build -o bin/local/handler ./cmd/handler
go build -o bin/funchost ./localworld/cmd/funchost
go build -o bin/entra-sim ./localworld/cmd/entra-sim
go build -o bin/dataverse-sim ./localworld/cmd/dataverse-sim
go build -o bin/connectorctl ./cmd/connectorctl

start_azurite 10000 10001 10002 "$ROOT/.azurite"
azurite_pid=$LAST_PID
start_servicebus "${SERVICEBUS_PORT:-5672}"
servicebus_pid=$LAST_PID
if [ -n "${SERVICEBUS_PORT:-}" ]; then # the settings file names port 5672
  export ServiceBusConnection
  ServiceBusConnection=$(servicebus_connection_string "$SERVICEBUS_PORT")
fi
port_busy 7072 && die "port 7072 is in use; is another entra-sim running? Stop it first (by its PID)"
start entra-sim "$RUN_DIR/entra-sim.log" bin/entra-sim --addr 127.0.0.1:7072
entra_pid=$LAST_PID
wait_port 7072 entra-sim "$entra_pid"
# The Dataverse simulator checks the tokens entra-sim issues, as Dataverse checks Entra's.
port_busy 7073 && die "port 7073 is in use; is another dataverse-sim running? Stop it first (by its PID)"
start dataverse-sim "$RUN_DIR/dataverse-sim.log" bin/dataverse-sim --addr 127.0.0.1:7073 --seed 100 \
  --jwks-url http://127.0.0.1:7072/common/discovery/v2.0/keys
dataverse_pid=$LAST_PID
wait_port 7073 dataverse-sim "$dataverse_pid"
port=${FUNCHOST_PORT:-7071}
port_busy "$port" && die "port $port is in use; set FUNCHOST_PORT to another port"
start funchost "$RUN_DIR/funchost.log" bin/funchost -root . -addr "127.0.0.1:$port"
funchost_pid=$LAST_PID
wait_port "$port" funchost "$funchost_pid"
settings=local.settings.json settings_file=local.settings.json
[ -f "$settings" ] || settings="local.settings.json.example (copy it to local.settings.json to change settings)" settings_file=local.settings.json.example

cat >&2 <<TXT

The local world is running:
  Functions (funchost, pid $funchost_pid)  http://127.0.0.1:$port/api/...   log: .run/funchost.log
  Azurite (pid $azurite_pid)               blob 127.0.0.1:10000  queue :10001  table :10002   data: .azurite/
  entra-sim (pid $entra_pid)              http://127.0.0.1:7072   log: .run/entra-sim.log
  Dataverse simulator (pid $dataverse_pid)  http://127.0.0.1:7073/api/data/v9.2/   log: .run/dataverse-sim.log
  Service Bus fake (pid $servicebus_pid)  amqp://127.0.0.1:${SERVICEBUS_PORT:-5672}  queues sync-jobs, uploads   log: .run/servicebus.log
  Settings                             $settings

Try:  curl -i -H 'X-Diagnostics-Key: local-diagnostics-key-for-make-dev-only' http://127.0.0.1:$port/api/diagnostics
      open http://127.0.0.1:$port/api/consent/start?tenant=organizations   (approve a seeded tenant)
      open http://127.0.0.1:$port/api/login                                (sign in as a seeded user)
      curl -X POST http://127.0.0.1:$port/admin/functions/SyncScheduler -d '{}'
      bin/connectorctl --settings $settings_file dlq list --queue uploads
      bin/connectorctl --settings $settings_file doctor                    (every link checked, with fixes)
Ctrl-C stops everything. Following the funchost log:

TXT
tail -n +1 -f "$RUN_DIR/funchost.log" &
tail_pid=$!
STARTED_PIDS+=("$tail_pid")
wait "$funchost_pid" || die "funchost stopped (exit $?); see .run/funchost.log"
