# shellcheck shell=bash
# Shared helpers of the local-world scripts: install the Node tools, start
# services in the background, wait for their ports, and stop exactly the
# processes this script started (by PID), also on failure or Ctrl-C.

set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RUN_DIR="$ROOT/.run"
mkdir -p "$RUN_DIR"
STARTED_PIDS=()

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# ensure_node_tools installs the npm dev tools from the lockfile unless the
# installed tree was made from this very lockfile (its hash is kept in
# node_modules, since npm may touch its own markers without installing).
ensure_node_tools() {
  command -v node >/dev/null || die "Node.js is not installed; install Node 20+ and npm"
  local want have
  want=$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)
  have=$(cat "$ROOT/node_modules/.installed-lockfile-sha256" 2>/dev/null || true)
  if [ "$want" != "$have" ]; then
    say "Installing the Node dev tools (npm ci)..."
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) >&2
    echo "$want" >"$ROOT/node_modules/.installed-lockfile-sha256"
  fi
}

# free_port prints a free TCP port on 127.0.0.1.
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

port_busy() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_port PORT NAME PID [SECONDS]: wait until PORT accepts connections, or
# fail if the process PID dies first.
wait_port() {
  local port=$1 name=$2 pid=$3 secs=${4:-30} i
  for ((i = 0; i < secs * 20; i++)); do
    port_busy "$port" && return 0
    kill -0 "$pid" 2>/dev/null || die "$name exited before it listened on port $port (see its log in .run/)"
    sleep 0.05
  done
  die "$name did not listen on port $port within ${secs}s"
}

# start NAME LOGFILE CMD...: start CMD in the background, remember its PID.
start() {
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  local pid=$!
  STARTED_PIDS+=("$pid")
  echo "$pid" >"$RUN_DIR/$name.pid"
  LAST_PID=$pid
}

# stop_started stops every process this script started, newest first.
stop_started() {
  local i pid
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${STARTED_PIDS[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

# start_azurite BLOB QUEUE TABLE [memory|DIR]: start Azurite on loopback.
start_azurite() {
  local blob=$1 queue=$2 table=$3 store=${4:-memory} p
  for p in "$blob" "$queue" "$table"; do
    port_busy "$p" && die "port $p is in use; is another Azurite running? Stop it first (by its PID)"
  done
  local args=(--silent --skipApiVersionCheck --blobHost 127.0.0.1 --queueHost 127.0.0.1 --tableHost 127.0.0.1
    --blobPort "$blob" --queuePort "$queue" --tablePort "$table")
  if [ "$store" = memory ]; then args+=(--inMemoryPersistence); else mkdir -p "$store" && args+=(--location "$store"); fi
  start azurite "$RUN_DIR/azurite.log" "$ROOT/node_modules/.bin/azurite" "${args[@]}"
  wait_port "$table" Azurite "$LAST_PID"
  wait_port "$blob" Azurite "$LAST_PID"
  wait_port "$queue" Azurite "$LAST_PID"
}

# azurite_connection_string BLOB QUEUE TABLE prints the connection string of
# Azurite's well-known development account on those ports.
azurite_connection_string() {
  printf 'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:%s/devstoreaccount1;QueueEndpoint=http://127.0.0.1:%s/devstoreaccount1;TableEndpoint=http://127.0.0.1:%s/devstoreaccount1;' "$1" "$2" "$3"
}

# start_servicebus PORT [ADMIN_PORT]: start the Service Bus fake
# (localworld/servicebus-fake) on loopback with the repository's queues; with
# ADMIN_PORT also its test admin API. It logs one line per operation to
# .run/servicebus.log.
start_servicebus() {
  local port=$1 admin=${2:-}
  port_busy "$port" && die "port $port is in use; is another Service Bus fake or emulator running? Stop it first (by its PID)"
  local args=(--port "$port" --log)
  [ -n "$admin" ] && args+=(--admin-port "$admin")
  start servicebus "$RUN_DIR/servicebus.log" node "$ROOT/localworld/servicebus-fake/main.js" "${args[@]}"
  wait_port "$port" "the Service Bus fake" "$LAST_PID"
  [ -z "$admin" ] || wait_port "$admin" "the Service Bus fake's admin API" "$LAST_PID"
}

# servicebus_connection_string PORT prints the connection string of the
# Service Bus fake on PORT, in the official emulator's form.
servicebus_connection_string() {
  printf 'Endpoint=sb://127.0.0.1:%s;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;' "$1"
}

# use_test_azurite starts an in-memory Azurite on free ports and exports
# CONNECTOR_TEST_STORAGE for the tests.
use_test_azurite() {
  local blob queue table
  blob=$(free_port) queue=$(free_port) table=$(free_port)
  start_azurite "$blob" "$queue" "$table" memory
  CONNECTOR_TEST_STORAGE=$(azurite_connection_string "$blob" "$queue" "$table")
  export CONNECTOR_TEST_STORAGE
}

# use_test_servicebus starts the Service Bus fake with its admin API on free
# ports and exports CONNECTOR_TEST_SERVICEBUS(_ADMIN) for the tests.
use_test_servicebus() {
  local sb sbadmin
  sb=$(free_port) sbadmin=$(free_port)
  start_servicebus "$sb" "$sbadmin"
  CONNECTOR_TEST_SERVICEBUS=$(servicebus_connection_string "$sb")
  CONNECTOR_TEST_SERVICEBUS_ADMIN="http://127.0.0.1:$sbadmin"
  export CONNECTOR_TEST_SERVICEBUS CONNECTOR_TEST_SERVICEBUS_ADMIN
}

# chromium_path prints the Chromium the browser tests use (as
# localworld/browser finds it), or fails when there is none.
chromium_path() {
  local exe
  for exe in "${CONNECTOR_TEST_CHROMIUM:-}" /usr/lib/chromium/chromium; do
    [ -n "$exe" ] && [ -x "$exe" ] && { echo "$exe"; return 0; }
  done
  for exe in chromium chromium-browser google-chrome google-chrome-stable; do
    command -v "$exe" && return 0
  done
  return 1
}
