#!/usr/bin/env bash
# Starts, waits for and stops a PRIVATE RabbitMQ node for warren's demo and tests.
#
#   scripts/broker.sh start [NAME]   start node NAME (default: warren-test) and wait until ready
#   scripts/broker.sh stop  [NAME]   stop it (only a node this script started, by its name)
#   scripts/broker.sh kill  [NAME]   kill -9 it (fault tests)
#   scripts/broker.sh status [NAME]  exit 0 when it is running
#   scripts/broker.sh uri   [NAME]   print its amqp:// URI
#   scripts/broker.sh tls-uri [NAME] print its amqps:// URI (TLS listener)
#   scripts/broker.sh ca    [NAME]   print the path of the CA that signed its certificate
#   scripts/broker.sh add-user NAME USER PASSWORD   a user with every permission on "/"
#   scripts/broker.sh close-connections NAME USER   the broker closes USER's connections (fault tests)
#   scripts/broker.sh set-permissions NAME USER CONF WRITE READ   USER's permission patterns on "/"
#   scripts/broker.sh memory-alarm NAME on|off      raise (watermark 0) or clear the memory alarm:
#                                                   the broker blocks publishing connections
#
# A RabbitMQ cluster of SIZE (default 3) nodes NAME-1 .. NAME-SIZE on this machine:
#   scripts/broker.sh cluster-start NAME [SIZE]  start them (in parallel), join them to NAME-1, wait
#   scripts/broker.sh cluster-stop  NAME [SIZE]  stop every node of it
#   scripts/broker.sh cluster-kill  NAME [SIZE]  kill -9 every node of it
#   scripts/broker.sh cluster-uris  NAME [SIZE]  their amqp:// URIs, comma-separated (WARREN_BROKER_URI)
#   scripts/broker.sh cluster-nodes NAME [I]     the running members as NAME-I (default 1) sees them, one per line
#   scripts/broker.sh management-uri [NAME]      its management API's http:// URI (cluster members)
# Node NAME-i listens on WARREN_CLUSTER_PORT + i - 1 (default 5700: keep
# SIZE free ports from there, and a single node's ports out of the way), serves
# the management API on that port + 10000, and shares one Erlang cookie with
# the others. Each is an ordinary node of this script: `kill NAME-2`, `stop
# NAME-2` and `start NAME-2` (which rejoins it) act on one member. Every
# node (a cluster member or not) keeps the ports and schedulers it was first
# started with (.state/broker/NAME/node.env), so a restart needs no
# environment. Members run one Erlang scheduler each
# (WARREN_BROKER_SCHEDULERS, default 1 for a cluster member): three brokers
# share the 2 cores of a small machine with the clients.
#
# Everything of the node lives under .state/broker/NAME in the project: its own
# node name, Erlang cookie (HOME), ports, config, data and log dirs. It never
# touches a broker it did not start. The node also listens for TLS on
# WARREN_BROKER_TLS_PORT (default AMQP port + 1000) with a certificate for the
# host name "localhost" only, signed by a CA generated for this node under
# .state/broker/NAME/tls. Ports come from WARREN_BROKER_PORT (default
# 5690) and WARREN_BROKER_DIST_PORT (default AMQP port + 20000). rabbitmqctl itself
# binds dist port + 10000 and up, so keep the AMQP port out of that range.
set -euo pipefail

cmd=${1:-}
name=${2:-warren-test}
root=$(cd "$(dirname "$0")/.." && pwd)
base="$root/.state/broker/$name"
# A node started before keeps the ports and schedulers it was first started
# with, whatever the environment says (its URI must not change under its
# clients); delete .state/broker/NAME to give it others.
saved_port="" saved_dist_port="" saved_tls_port="" saved_schedulers="" saved_management=""
# shellcheck disable=SC1091
[ -f "$base/node.env" ] && . "$base/node.env"
if [ -n "$saved_port" ]; then
  port=$saved_port dist_port=$saved_dist_port tls_port=$saved_tls_port schedulers=$saved_schedulers
else
  port=${WARREN_BROKER_PORT:-5690}
  dist_port=${WARREN_BROKER_DIST_PORT:-$((port + 20000))}
  tls_port=${WARREN_BROKER_TLS_PORT:-$((port + 1000))}
  schedulers=${WARREN_BROKER_SCHEDULERS:-}
fi
# The management plugin, on AMQP port + 10000 (RabbitMQ's own 5672/15672):
# cluster-start turns it on for its members; a member restarted alone keeps it.
management=${WARREN_BROKER_MANAGEMENT:-$saved_management}
host=$(hostname -s 2>/dev/null || echo localhost)
nodename="$name@localhost"
rabbit_bin=/usr/lib/rabbitmq/bin

die() { echo "broker.sh: $*" >&2; exit 1; }

broker_env() {
  export HOME="$base/home"
  export RABBITMQ_NODENAME="$nodename"
  export RABBITMQ_USE_LONGNAME=false
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$port"
  export RABBITMQ_DIST_PORT="$dist_port"
  export RABBITMQ_MNESIA_BASE="$base/mnesia"
  export RABBITMQ_LOG_BASE="$base/log"
  export RABBITMQ_CONFIG_FILE="$base/rabbitmq"
  export RABBITMQ_ADVANCED_CONFIG_FILE="$base/advanced.config"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$base/enabled_plugins"
  export RABBITMQ_PID_FILE="$base/rabbit.pid"
  export RABBITMQ_CONF_ENV_FILE="$base/rabbitmq-env.conf"
  export ERL_EPMD_ADDRESS=127.0.0.1
  # Erlang distribution on loopback only.
  # No scheduler busy-waiting: on a small shared machine spinning Erlang
  # schedulers take the CPU from the clients the broker is waiting for.
  local erl_args="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
  [ -z "$schedulers" ] || erl_args="$erl_args +S $schedulers:$schedulers +SDcpu $schedulers:$schedulers"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="$erl_args"
}

ctl() { "$rabbit_bin/rabbitmqctl" -n "$nodename" "$@"; }

# A killed node whose parent (init, in a container maybe none that reaps)
# has not reaped it yet is a zombie: not running.
is_running() {
  [ -f "$base/rabbit.pid" ] || return 1
  local pid state
  pid=$(cat "$base/rabbit.pid")
  kill -0 "$pid" 2>/dev/null || return 1
  # /proc/PID/stat: "pid (comm) state ..." (beam.smp has no space in comm).
  read -r _ _ state _ < "/proc/$pid/stat" 2>/dev/null || return 1
  [ "$state" != Z ]
}

# A throw-away CA and a server certificate for "localhost" (not 127.0.0.1, so
# tests can show that host-name verification is on).
make_certificates() {
  local dir="$base/tls"
  [ -f "$dir/server.pem" ] && return 0
  command -v openssl >/dev/null || die "openssl is not installed (run scripts/setup.sh)"
  mkdir -p "$dir"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=warren test CA" \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$dir/ext.cnf"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -extfile "$dir/ext.cnf" -out "$dir/server.pem" 2>/dev/null
}

start() {
  [ -x "$rabbit_bin/rabbitmq-server" ] || die "rabbitmq-server is not installed (run scripts/setup.sh)"
  mkdir -p "$base/home" "$base/mnesia" "$base/log"
  if is_running; then
    echo "broker.sh: $nodename already running on port $port"
    return 0
  fi
  # guest may log in from 127.0.0.1 only (RabbitMQ's default); the test node
  # needs nothing more. Modest disk/memory alarms suit a shared CI machine.
  make_certificates
  cat > "$base/rabbitmq.conf" <<CONF
listeners.ssl.default = 127.0.0.1:$tls_port
ssl_options.cacertfile = $base/tls/ca.pem
ssl_options.certfile = $base/tls/server.pem
ssl_options.keyfile = $base/tls/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
loopback_users.guest = true
disk_free_limit.absolute = 50MB
vm_memory_high_watermark.relative = 0.4
log.console = false
log.file.level = warning
CONF
  # At-least-once dead-lettering of quorum queues (the retry ladder's steps)
  # tries a target queue that refused a message (full, reject-publish) again
  # after this many ms; RabbitMQ's default is 120 s, too long for a test.
  echo "[{rabbit, [{dead_letter_worker_publisher_confirm_timeout, 1000}]}]." > "$base/advanced.config"
  echo "[]." > "$base/enabled_plugins"
  : > "$base/rabbitmq-env.conf"
  if [ ! -f "$base/home/.erlang.cookie" ]; then
    # Cluster members share their cluster's cookie (cluster-start sets it).
    if [ -n "${WARREN_BROKER_COOKIE:-}" ]; then
      printf '%s' "$WARREN_BROKER_COOKIE" > "$base/home/.erlang.cookie"
    else
      head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$base/home/.erlang.cookie"
    fi
    chmod 400 "$base/home/.erlang.cookie"
  fi
  if [ -n "$management" ]; then
    # The management API (cluster members): warren nodes that down a silent
    # node close its connections through it (README.md, "Downing").
    echo "[rabbitmq_management]." > "$base/enabled_plugins"
    printf 'management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = %s\n' "$((port + 10000))" >> "$base/rabbitmq.conf"
  fi
  printf 'saved_port=%s\nsaved_dist_port=%s\nsaved_tls_port=%s\nsaved_schedulers=%s\nsaved_management=%s\n' \
    "$port" "$dist_port" "$tls_port" "$schedulers" "$management" > "$base/node.env"
  broker_env
  rm -f "$base/log/erl_crash.dump"
  "$rabbit_bin/rabbitmq-server" -detached > "$base/log/start.out" 2>&1 || die "rabbitmq-server failed to start; see $base/log"
  local deadline=$((SECONDS + 60))
  until ctl await_startup --timeout 5 >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "node $nodename not ready after 60 s; see $base/log"
    if [ -f "$base/log/erl_crash.dump" ] && [ "$base/log/erl_crash.dump" -nt "$base/log/start.out" ]; then
      die "node $nodename crashed while starting; see $base/log"
    fi
    sleep 0.5
  done
  echo "broker.sh: $nodename ready on amqp://127.0.0.1:$port/"
}

stop() {
  broker_env
  if ! is_running; then
    echo "broker.sh: $nodename not running"
    return 0
  fi
  ctl stop "$base/rabbit.pid" >/dev/null 2>&1 || kill_node
  echo "broker.sh: $nodename stopped"
}

kill_node() {
  if [ -f "$base/rabbit.pid" ]; then
    kill -9 "$(cat "$base/rabbit.pid")" 2>/dev/null || true
  fi
  # epmd keeps the name registered until the VM is gone; nothing else to clean.
}

cluster_size() {
  local size=${1:-3}
  [[ "$size" =~ ^[1-9][0-9]?$ ]] || die "a cluster size is a number from 1 to 99, not '$size'"
  echo "$size"
}

# Starts the members in parallel (a restarted cluster's members wait for
# each other while loading their tables), then joins the new ones to
# NAME-1: stop_app, reset, join_cluster, start_app.
cluster_start() {
  local size first_port cookie_file cookie i pids=() failed=0
  size=$(cluster_size "${1:-}")
  first_port=${WARREN_CLUSTER_PORT:-5700}
  mkdir -p "$root/.state/broker"
  cookie_file="$root/.state/broker/$name.cookie"
  [ -f "$cookie_file" ] || { head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$cookie_file"; chmod 400 "$cookie_file"; }
  cookie=$(cat "$cookie_file")
  for ((i = 1; i <= size; i++)); do
    # (A member started before keeps its ports: its node.env.)
    WARREN_BROKER_PORT=$((first_port + i - 1)) WARREN_BROKER_COOKIE=$cookie \
      WARREN_BROKER_DIST_PORT="" WARREN_BROKER_TLS_PORT="" \
      WARREN_BROKER_SCHEDULERS=${WARREN_BROKER_SCHEDULERS:-1} \
      WARREN_BROKER_MANAGEMENT=1 "$0" start "$name-$i" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ $failed = 0 ] || die "cluster $name: a member did not start"
  for ((i = 2; i <= size; i++)); do
    local member="$name-$i" member_base="$root/.state/broker/$name-$i"
    [ -f "$member_base/joined" ] && continue
    local -a member_ctl=("$rabbit_bin/rabbitmqctl" -n "$member@localhost")
    (
      export HOME="$member_base/home" ERL_EPMD_ADDRESS=127.0.0.1
      exec >>"$member_base/log/join.out" 2>&1
      "${member_ctl[@]}" stop_app
      "${member_ctl[@]}" reset
      "${member_ctl[@]}" join_cluster "$name-1@localhost"
      "${member_ctl[@]}" start_app
      "${member_ctl[@]}" await_startup --timeout 60
    ) || die "cluster $name: $member did not join $name-1; see $member_base/log"
    touch "$member_base/joined"
  done
  echo "broker.sh: cluster $name ready: $(cluster_uris "$size")"
}

cluster_each() {
  local action=$1 size i
  size=$(cluster_size "${2:-}")
  for ((i = 1; i <= size; i++)); do "$0" "$action" "$name-$i"; done
}

cluster_uris() {
  local size i uris=""
  size=$(cluster_size "${1:-}")
  for ((i = 1; i <= size; i++)); do
    uris+="${uris:+,}$("$0" uri "$name-$i")"
  done
  echo "$uris"
}

case "$cmd" in
  start) start ;;
  cluster-start) cluster_start "${3:-}" ;;
  cluster-stop) cluster_each stop "${3:-}" ;;
  cluster-kill) cluster_each kill "${3:-}" ;;
  cluster-uris) cluster_uris "${3:-}" ;;
  cluster-nodes)
    HOME="$root/.state/broker/$name-${3:-1}/home" ERL_EPMD_ADDRESS=127.0.0.1 \
      "$rabbit_bin/rabbitmqctl" -n "$name-${3:-1}@localhost" cluster_status --formatter json |
      python3 -c 'import json,sys; [print(n.split("@")[0]) for n in json.load(sys.stdin)["running_nodes"]]' ;;
  stop) stop ;;
  kill) kill_node; echo "broker.sh: $nodename killed" ;;
  status) is_running ;;
  uri) echo "amqp://guest:guest@127.0.0.1:$port/" ;;
  management-uri)
    [ -n "$management" ] || die "$nodename runs without the management plugin (cluster-start turns it on)"
    echo "http://127.0.0.1:$((port + 10000))/" ;;
  tls-uri) echo "amqps://guest:guest@localhost:$tls_port/" ;;
  ca) echo "$base/tls/ca.pem" ;;
  add-user)
    [ $# -eq 4 ] || die "usage: broker.sh add-user NAME USER PASSWORD"
    broker_env
    ctl add_user "$3" "$4" >/dev/null 2>&1 || ctl change_password "$3" "$4" >/dev/null
    ctl set_permissions -p / "$3" ".*" ".*" ".*" >/dev/null ;;
  set-permissions)
    [ $# -eq 6 ] || die "usage: broker.sh set-permissions NAME USER CONF WRITE READ"
    broker_env
    ctl set_permissions -p / "$3" "$4" "$5" "$6" >/dev/null ;;
  memory-alarm)
    [ $# -eq 3 ] || die "usage: broker.sh memory-alarm NAME on|off"
    broker_env
    case "$3" in
      on) ctl set_vm_memory_high_watermark 0 >/dev/null ;;
      off) ctl set_vm_memory_high_watermark 0.4 >/dev/null ;;
      *) die "memory-alarm takes on or off" ;;
    esac ;;
  close-connections)
    [ $# -eq 3 ] || die "usage: broker.sh close-connections NAME USER"
    broker_env
    ctl close_all_user_connections "$3" "closed by a warren fault test" >/dev/null ;;
  *) sed -n '2,40p' "$0"; exit 2 ;;
esac
