#!/usr/bin/env bash
# Starts and stops a PRIVATE Prometheus server for warren's tests: one
# scrape job ("warren") with one target, a node's metrics endpoint.
#
#   scripts/prometheus.sh start NAME HOST:PORT [SCRAPE_INTERVAL]
#       writes .state/prometheus/NAME/prometheus.yml (job "warren", target
#       HOST:PORT, scrape_interval SCRAPE_INTERVAL, default 1s), starts
#       Prometheus with its data under .state/prometheus/NAME/data on
#       127.0.0.1 and a free port, waits until /-/ready answers and prints
#       its base URL (http://127.0.0.1:PORT). Started again while it runs:
#       rewrites the config, reloads it (SIGHUP) and prints the URL.
#   scripts/prometheus.sh stop NAME     stops it (the process of its pid file)
#   scripts/prometheus.sh url NAME      prints its base URL (exit 1: not running)
#   scripts/prometheus.sh status NAME   exit 0 when it is running
#
# Everything of an instance lives under .state/prometheus/NAME: config, data,
# log (prometheus.log), pid file and URL. `stop` removes nothing but the pid
# file. It never touches a Prometheus it did not start: a pid counts only
# while that process is a prometheus whose command line names this
# instance's directory. Needs `prometheus` (Debian package prometheus) and
# python3.
set -euo pipefail

cmd=${1:-}
name=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "prometheus.sh: $*" >&2; exit 1; }
usage() { die "usage: prometheus.sh start NAME HOST:PORT [SCRAPE_INTERVAL] | stop NAME | url NAME | status NAME"; }

if [ -z "$cmd" ] || [ -z "$name" ]; then
  usage
fi
if ! [[ "$name" =~ ^[A-Za-z0-9._-]+$ ]] || [[ "$name" == .* ]]; then
  die "NAME must be letters, digits, '.', '_' or '-' (and not start with '.'): $name"
fi
base="$root/.state/prometheus/$name"

# The pid of this instance's Prometheus, when it runs; nothing otherwise.
running_pid() {
  [ -f "$base/prometheus.pid" ] || return 1
  local pid
  pid=$(cat "$base/prometheus.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -r "/proc/$pid/cmdline" ] || return 1
  local cmdline
  cmdline=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
  case "$cmdline" in
    *prometheus*"--storage.tsdb.path=$base/data "*) echo "$pid" ;;
    *) return 1 ;;
  esac
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Exit 0 when GET $1 answers 200.
answers() {
  python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=2) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

write_config() {
  local target=$1 interval=$2
  mkdir -p "$base/data"
  cat > "$base/prometheus.yml.new" <<YAML
# Written by scripts/prometheus.sh for the instance "$name".
global:
  scrape_interval: $interval
  scrape_timeout: $interval
  evaluation_interval: $interval
scrape_configs:
  - job_name: warren
    static_configs:
      - targets: ['$target']
YAML
  mv "$base/prometheus.yml.new" "$base/prometheus.yml"
}

start() {
  local target=${3:-} interval=${4:-1s}
  [ -n "$target" ] || usage
  [[ "$target" =~ ^[A-Za-z0-9.:_-]+:[0-9]+$ ]] || die "TARGET must be HOST:PORT: $target"
  [[ "$interval" =~ ^[0-9]+(ms|s|m)$ ]] || die "SCRAPE_INTERVAL must be a duration such as 1s or 500ms: $interval"
  command -v prometheus >/dev/null || die "prometheus is not installed (run scripts/setup.sh)"
  command -v python3 >/dev/null || die "python3 is not installed (run scripts/setup.sh)"
  local pid
  if pid=$(running_pid); then
    write_config "$target" "$interval"
    kill -HUP "$pid"
    cat "$base/url"
    return 0
  fi
  write_config "$target" "$interval"
  # A port picked free can be taken before Prometheus binds it: try again.
  local port url
  for _ in 1 2 3; do
    port=$(free_port)
    url="http://127.0.0.1:$port"
    # Its own output goes to the log only: a caller reading this script's
    # output must not wait for Prometheus to close it.
    prometheus \
      --config.file="$base/prometheus.yml" \
      --storage.tsdb.path="$base/data" \
      --storage.tsdb.retention.time=1d \
      --web.listen-address="127.0.0.1:$port" \
      --log.level=warn \
      < /dev/null >> "$base/prometheus.log" 2>&1 &
    pid=$!
    echo "$pid" > "$base/prometheus.pid"
    echo "$url" > "$base/url"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
      if answers "$url/-/ready"; then
        echo "$url"
        return 0
      fi
      [ $SECONDS -lt $deadline ] || { stop_pid "$pid"; die "Prometheus not ready on $url after 30 s; see $base/prometheus.log"; }
      sleep 0.2
    done
    wait "$pid" 2>/dev/null || true
    rm -f "$base/prometheus.pid" "$base/url"
    grep -q 'address already in use' "$base/prometheus.log" || break
  done
  tail -n 20 "$base/prometheus.log" >&2 || true
  die "Prometheus exited while starting; see $base/prometheus.log"
}

# TERM, then KILL after 10 s.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

stop() {
  local pid
  if pid=$(running_pid); then
    stop_pid "$pid"
    rm -f "$base/prometheus.pid"
    echo "prometheus.sh: $name stopped"
  else
    rm -f "$base/prometheus.pid"
    echo "prometheus.sh: $name not running"
  fi
}

case "$cmd" in
  start) start "$@" ;;
  stop) stop ;;
  url) running_pid > /dev/null || die "$name is not running"; cat "$base/url" ;;
  status) running_pid > /dev/null ;;
  *) usage ;;
esac
