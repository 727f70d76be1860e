#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is missing,
# build, start a private RabbitMQ node, run every test, stop the node.
#
#   scripts/test.sh             every test (CI runs exactly this)
#   scripts/test.sh -R regex    extra arguments go to ctest
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${WARREN_BUILD_DIR:-$root/build}
export WARREN_BUILD_DIR="$build_dir"

"$root/scripts/setup.sh"

broker_name=warren-test
export WARREN_BROKER_PORT=${WARREN_BROKER_PORT:-5690}
cleanup() { "$root/scripts/broker.sh" stop "$broker_name" || true; }
trap cleanup EXIT
"$root/scripts/broker.sh" start "$broker_name"
export WARREN_TEST_AMQP_URI=$("$root/scripts/broker.sh" uri "$broker_name")
export WARREN_TEST_AMQPS_URI=$("$root/scripts/broker.sh" tls-uri "$broker_name")
export WARREN_TEST_TLS_CA=$("$root/scripts/broker.sh" ca "$broker_name")
export WARREN_TEST_BROKER_NAME=$broker_name
export WARREN_TEST_BROKER_SCRIPT="$root/scripts/broker.sh"

cd "$build_dir"
ctest --output-on-failure --timeout 600 "$@"
