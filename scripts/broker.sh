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
port=${WARREN_BROKER_PORT:-5690}
dist_port=${WARREN_BROKER_DIST_PORT:-$((port + 20000))}
tls_port=${WARREN_BROKER_TLS_PORT:-$((port + 1000))}
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
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none"
}

ctl() { "$rabbit_bin/rabbitmqctl" -n "$nodename" "$@"; }

is_running() {
  [ -f "$base/rabbit.pid" ] && kill -0 "$(cat "$base/rabbit.pid")" 2>/dev/null
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
  [ -f "$base/home/.erlang.cookie" ] || { head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$base/home/.erlang.cookie"; chmod 400 "$base/home/.erlang.cookie"; }
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

case "$cmd" in
  start) start ;;
  stop) stop ;;
  kill) kill_node; echo "broker.sh: $nodename killed" ;;
  status) is_running ;;
  uri) echo "amqp://guest:guest@127.0.0.1:$port/" ;;
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
  *) sed -n '2,25p' "$0"; exit 2 ;;
esac
