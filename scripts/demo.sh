#!/usr/bin/env bash
# The demo on a fresh Debian 12 machine: install what is missing, build, start
# a private RabbitMQ node when no broker answers at the configured URI, run the
# hello example node, and talk to it.
#
#   scripts/demo.sh
#   WARREN_BROKER_URI=amqp://user:pass@host:5672/ scripts/demo.sh   (your broker)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export WARREN_BUILD_DIR=${WARREN_BUILD_DIR:-$root/build}
"$root/scripts/setup.sh"
warren="$WARREN_BUILD_DIR/cli/warren"
config="$root/examples/hello/node.json"

uri=${WARREN_BROKER_URI:-amqp://guest:guest@localhost:5672/}
hostport=${uri#*://}; hostport=${hostport#*@}; hostport=${hostport%%/*}
host=${hostport%%:*}; port=${hostport##*:}; [ "$port" = "$hostport" ] && port=5672
started_broker=""
if ! (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  echo "demo: no broker at $host:$port; starting a private one"
  WARREN_BROKER_PORT=5691 "$root/scripts/broker.sh" start warren-demo
  uri=$(WARREN_BROKER_PORT=5691 "$root/scripts/broker.sh" uri warren-demo)
  started_broker=warren-demo
fi
export WARREN_BROKER_URI=$uri

log=$(mktemp -d)/node.log
node_pid=""
cleanup() {
  [ -n "$node_pid" ] && kill -INT "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
  [ -n "$started_broker" ] && WARREN_BROKER_PORT=5691 "$root/scripts/broker.sh" stop "$started_broker" || true
}
trap cleanup EXIT

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step warren check examples/hello/node.json
"$warren" check "$config"

step warren run examples/hello/node.json "&"
"$warren" run "$config" >"$log" 2>&1 &
node_pid=$!
for _ in $(seq 1 300); do grep -q "ready" "$log" && break; sleep 0.1; done
cat "$log"

step warren call greeter -t greet '{"name": "world"}'
"$warren" call greeter -t greet '{"name": "world"}'
step warren call greeter -t greet '{"name": "warren"}'
"$warren" call greeter -t greet '{"name": "warren"}'
step warren call echo '{"ping": [1, 2, 3]}'
"$warren" call echo '{"ping": [1, 2, 3]}'
step "warren call greeter -t greet '{\"name\": \"\"}'   # a permanent failure: error reply + dead letter"
"$warren" call greeter -t greet '{"name": ""}' || echo "(exit code $?: the service answered with an error)"
step warren send --exchange hello.events -t note '{"text": "fan-out to the audit subscriber"}'
"$warren" send --exchange hello.events -t note '{"text": "fan-out to the audit subscriber"}'
step "warren send --actor greeter --raw 'this is not JSON'   # dead-lettered with the reason"
"$warren" send --actor greeter --raw 'this is not JSON'
sleep 0.5

step "kill -INT node   # graceful stop"
kill -INT "$node_pid"; wait "$node_pid" || true; node_pid=""
cat "$log"
echo
echo "demo: done. Node log above; dead letters are in the queue greeter.dlq."
