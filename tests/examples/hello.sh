#!/usr/bin/env bash
# Smoke test of examples/hello: what scripts/demo.sh shows, with assertions.
#   hello.sh WARREN_BINARY NODE_JSON
source "$(dirname "$0")/lib.sh"
warren=$1
config=$2
"$warren" check "$config"
start_node "$warren" "$config"
expect "greet" "$("$warren" call greeter -t greet '{"name": "world"}')" \
  '{"text":"hello, world","greeter":"greeter","count":1}'
expect "echo" "$("$warren" call echo '{"a": [1, 2]}')" '{"a":[1,2]}'
set +e
reply=$("$warren" call greeter -t greet '{"name": ""}')
code=$?
set -e
expect "empty name exit code" "$code" 6
expect "empty name reply" "$reply" \
  '{"error":{"code":"validation_failed","message":"name must not be empty"}}'
"$warren" send --exchange hello.events -t note '{"text": "fan-out"}' >/dev/null
for _ in $(seq 1 50); do grep -q 'audit note {"text":"fan-out"}' "$node_log" && break; sleep 0.1; done
expect "audit subscriber printed the note" "$(grep -c 'audit note {"text":"fan-out"}' "$node_log")" 1
stop_node
echo "example.hello passed"
