#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine: install what is missing,
# build, start a private RabbitMQ node and a private three-node RabbitMQ
# cluster, run every test, stop them.
#
#   scripts/test.sh             every test, then a short fuzz run (CI runs exactly this)
#   scripts/test.sh -R regex    extra arguments go to ctest
#   WARREN_TEST_FULL=1 ...      the long crash matrix and 10^6 fuzz executions per target
#   WARREN_TEST_SANITIZE=1 ...  the tests built with ASan and UBSan, in build-asan/
#   WARREN_TEST_FUZZ=0 ...      no fuzz run (scripts/fuzz.sh runs it alone)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ "${WARREN_TEST_SANITIZE:-0}" = 1 ]; then
  # Every report stops the process that made it, so a test fails on it.
  build_dir=${WARREN_BUILD_DIR:-$root/build-asan}
  export WARREN_CMAKE_ARGS="-DWARREN_SANITIZE=ON ${WARREN_CMAKE_ARGS:-}"
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
else
  build_dir=${WARREN_BUILD_DIR:-$root/build}
fi
export WARREN_BUILD_DIR="$build_dir"

"$root/scripts/setup.sh"

broker_name=warren-test
cluster_name=warren-test-cluster
export WARREN_BROKER_PORT=${WARREN_BROKER_PORT:-5690}
export WARREN_CLUSTER_PORT=${WARREN_CLUSTER_PORT:-5700}
cleanup() {
  "$root/scripts/broker.sh" stop "$broker_name" || true
  "$root/scripts/broker.sh" cluster-stop "$cluster_name" || true
}
trap cleanup EXIT
"$root/scripts/broker.sh" start "$broker_name"
# Three more brokers in one RabbitMQ cluster, for the [cluster] tests.
"$root/scripts/broker.sh" cluster-start "$cluster_name"
export WARREN_TEST_CLUSTER_NAME=$cluster_name
export WARREN_TEST_CLUSTER_URIS=$("$root/scripts/broker.sh" cluster-uris "$cluster_name")
export WARREN_TEST_AMQP_URI=$("$root/scripts/broker.sh" uri "$broker_name")
export WARREN_TEST_AMQPS_URI=$("$root/scripts/broker.sh" tls-uri "$broker_name")
export WARREN_TEST_TLS_CA=$("$root/scripts/broker.sh" ca "$broker_name")
export WARREN_TEST_BROKER_NAME=$broker_name
export WARREN_TEST_BROKER_SCRIPT="$root/scripts/broker.sh"

cd "$build_dir"
ctest --output-on-failure --timeout 600 "$@"

# Fuzzing needs no broker: stop them first.
cleanup
trap - EXIT
if [ "${WARREN_TEST_FUZZ:-1}" = 1 ]; then
  "$root/scripts/fuzz.sh"
fi
