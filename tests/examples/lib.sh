# Shared by the example smoke tests: start a node, wait for it, stop it.
set -euo pipefail
: "${WARREN_TEST_AMQP_URI:?run the tests with scripts/test.sh (it starts the private broker)}"
export WARREN_BROKER_URI=$WARREN_TEST_AMQP_URI

node_pid=""
node_log=$(mktemp)
stop_node() {
  if [ -n "$node_pid" ]; then
    kill -INT "$node_pid" 2>/dev/null || true
    wait "$node_pid" || { echo "node exited with $?"; cat "$node_log"; return 1; }
    node_pid=""
  fi
}
trap 'stop_node || true' EXIT

# start_node WARREN CONFIG: runs the node in the background until "ready".
start_node() {
  "$1" run "$2" >"$node_log" 2>&1 &
  node_pid=$!
  for _ in $(seq 1 300); do
    grep -q "ready" "$node_log" && return 0
    kill -0 "$node_pid" 2>/dev/null || { cat "$node_log"; echo "node died"; exit 1; }
    sleep 0.1
  done
  cat "$node_log"; echo "node not ready after 30 s"; exit 1
}

# expect NAME ACTUAL EXPECTED
expect() {
  if [ "$2" != "$3" ]; then
    echo "FAIL $1: expected '$3', got '$2'"; cat "$node_log"; exit 1
  fi
  echo "ok   $1"
}
