#!/usr/bin/env bash
# A three-node warren cluster on one machine, end to end (README.md here):
# a private three-broker RabbitMQ cluster, three nodes sharing the sharded
# event store `accounts` (6 shards), deposits with stable message ids,
# `kill -9` of a node under load, its restart, and the totals checked
# against what was sent (exit 1 when they differ).
#
#   examples/cluster/run.sh          # from anywhere, after scripts/setup.sh
#   examples/cluster/run.sh --keep   # the same, and leave the cluster running
#   examples/cluster/run.sh --stop   # stop what --keep left running
#
# Environment: WARREN_CLUSTER_NAME (default warren-ex: brokers
# warren-ex-1..3), WARREN_CLUSTER_PORT (default 5730: AMQP ports
# 5730..5732), DEPOSITS (default 300), WARREN (the warren binary, default
# build/cli/warren). Everything it starts (nodes, brokers) is stopped on
# exit (unless --keep); the nodes' files and logs stay in
# examples/cluster/state/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cluster=${WARREN_CLUSTER_NAME:-warren-ex}
export WARREN_CLUSTER_PORT=${WARREN_CLUSTER_PORT:-5730}
export WARREN=${WARREN:-$root/build/cli/warren}
deposits=${DEPOSITS:-300}
broker="$root/scripts/broker.sh"
state="$here/state"
nodes=(node-a node-b node-c)
victim="node-b"
started_brokers=0
keep=0
case "${1:-}" in
  "") ;;
  --keep) keep=1 ;;
  --stop) ;;
  *) echo "usage: $0 [--keep | --stop]" >&2; exit 2 ;;
esac
t0=$SECONDS

step() { printf '\n[%3ds] == %s\n' $((SECONDS - t0)) "$*"; }
die() { echo "run.sh: $*" >&2; exit 1; }

[ -x "$WARREN" ] || die "$WARREN not found: build first (scripts/setup.sh)"
# pika comes with Debian's python3-pika (scripts/setup.sh installs it); a
# python3 of one's own (pyenv, venv) may not have it.
python=
for p in python3 /usr/bin/python3; do
  if command -v "$p" >/dev/null && "$p" -c 'import pika' 2>/dev/null; then python=$p; break; fi
done
[ -n "$python" ] || die "no python3 with pika (apt-get install python3-pika)"
client() { "$python" "$here/deposits.py" "$@"; }

# -- nodes --------------------------------------------------------------------

# The CLI takes the brokers from WARREN_BROKER_URI (all three, tried in
# order), set once the brokers run.
status() { "$WARREN" cluster status --actor accounts | sed 's/^/  /' || true; }

pid_of() { cat "$state/$1.pid" 2>/dev/null || true; }

# Node k (0, 1, 2) lists the brokers from the k-th on, as its config does:
# each node starts on a broker of its own and fails over to the next.
start_node() {
  local node=$1 log="$state/$1.log" k uris
  case $node in node-a) k=0 ;; node-b) k=1 ;; *) k=2 ;; esac
  IFS=, read -r -a uris <<<"$WARREN_BROKER_URI"
  uris=("${uris[@]:k}" "${uris[@]:0:k}")
  (IFS=,; WARREN_BROKER_URI="${uris[*]}" exec "$WARREN" run "$here/$node.json") >>"$log" 2>&1 &
  echo $! > "$state/$node.pid"
}

wait_ready() {
  local node=$1 log="$state/$1.log" deadline=$((SECONDS + 60))
  until [ "$(grep -c "node '$node' ready" "$log" 2>/dev/null)" -ge "${2:-1}" ]; do
    kill -0 "$(pid_of "$node")" 2>/dev/null || { tail -20 "$log" >&2; die "$node exited; see $log"; }
    [ $SECONDS -lt $deadline ] || die "$node not ready after 60 s; see $log"
    sleep 0.2
  done
}

# A node of ours: its pid file names a live `warren run` of its config.
ours() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
    { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -q "run $here/$1.json"
}

stop_nodes() {
  local node pid
  for node in "${nodes[@]}"; do
    if ours "$node"; then kill -TERM "$(pid_of "$node")" 2>/dev/null || true; fi
  done
  for node in "${nodes[@]}"; do
    pid=$(pid_of "$node")
    for _ in $(seq 100); do ours "$node" || break; sleep 0.1; done
    if ours "$node"; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -f "$state/$node.pid"
  done
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  set +e
  [ -n "${client_pid:-}" ] && kill "$client_pid" 2>/dev/null
  if [ $keep = 1 ] && [ $rc = 0 ]; then
    step "left running (--keep)"
    echo "  brokers $cluster-1..3, nodes: $(cd "$state" && for n in *.pid; do printf '%s (pid %s) ' "${n%.pid}" "$(cat "$n")"; done)"
    echo "  export WARREN_BROKER_URI=$WARREN_BROKER_URI"
    echo "  stop them all: $0 --stop"
    exit 0
  fi
  step "stopping the nodes and the brokers"
  stop_nodes
  [ $started_brokers = 1 ] && "$broker" cluster-stop "$cluster" | sed 's/^/  /'
  echo "run.sh: done in $((SECONDS - t0)) s, exit $rc (logs and files in ${state#"$root"/}/)"
  exit $rc
}

# -- run ----------------------------------------------------------------------

cd "$root"
if [ "${1:-}" = --stop ]; then
  [ -d "$state" ] && stop_nodes
  "$broker" cluster-stop "$cluster"
  exit 0
fi
for i in 1 2 3; do
  ! "$broker" status "$cluster-$i" ||
    die "broker $cluster-$i is running (left by run.sh --keep?); stop it first: $0 --stop"
done
# Nodes an interrupted earlier run left behind (its pid files) go first.
[ -d "$state" ] && stop_nodes
rm -rf "$state"
mkdir -p "$state"
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

step "starting the brokers: scripts/broker.sh cluster-start $cluster (ports $WARREN_CLUSTER_PORT..$((WARREN_CLUSTER_PORT + 2)))"
started_brokers=1
nice "$broker" cluster-start "$cluster" | sed 's/^/  /'
WARREN_BROKER_URI=$("$broker" cluster-uris "$cluster")
export WARREN_BROKER_URI # every node, and the client, get all three
client reset | sed 's/^/  /' # an earlier run's queues and changelog, if any

step "starting three nodes: warren run node-a.json / node-b.json / node-c.json"
for node in "${nodes[@]}"; do
  start_node "$node"
  wait_ready "$node"   # one after the other: the first owns every shard at first
  echo "  $node ready (pid $(pid_of "$node"), log ${state#"$root"/}/$node.log)"
done
client owners --live 3 --wait 60 || die "the shards did not spread over the three nodes"
status

step "sending $deposits deposits (ids dep-0001..) to 'accounts'; kill -9 of $victim under load"
client send "$deposits" --rate 60 --copies $((deposits < 30 ? deposits : 30)) > "$state/client.log" 2>&1 &
client_pid=$!
sleep 2.5
victim_pid=$(pid_of "$victim")
killed_at=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
kill -9 "$victim_pid"
wait "$victim_pid" 2>/dev/null || true # (no "Killed" message from bash)
echo "  $killed_at kill -9 $victim_pid ($victim), 2.5 s into the load"
client owners --gone "$victim" --live 2 --wait 60 || die "the shards of $victim were not taken over"
echo "  $victim is gone; its shards are owned by the others, in newer epochs:"
status
grep -h "taken over in epoch" "$state"/node-*.log | sort | awk -v t="$killed_at" '$1 > t' | sed 's/^/  log: /'
wait "$client_pid" || { cat "$state/client.log"; die "the client failed"; }
client_pid=
sed 's/^/  /' "$state/client.log"

step "restarting $victim: it reads the changelog it missed, then takes shards again"
start_node "$victim"
wait_ready "$victim" 2
client owners --live 3 --wait 60 || echo "  (the shards have not spread again yet)"
status

step "totals: through the cluster (event_store.read_stream) and in each node's SQLite file"
echo "  $ warren call accounts -t event_store.read_stream '{\"stream\": \"acct-01\", \"count\": 2}'"
"$WARREN" call accounts -t event_store.read_stream \
  '{"stream": "acct-01", "count": 2}' | sed 's/^/  /'
dbs=()
for node in "${nodes[@]}"; do dbs+=(--db "$state/$node/warren.db"); done
client totals "$deposits" "${dbs[@]}" | sed 's/^/  /'
