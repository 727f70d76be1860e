#!/usr/bin/env bash
# Smoke test of examples/cluster: its run.sh as a user runs it (three brokers
# of its own, three nodes, a kill -9 under load, totals checked; exit 1 when
# a total is wrong). About three minutes with its brokers' start, so only in
# the full run (WARREN_TEST_FULL=1); skipped otherwise (exit 77).
#   cluster.sh WARREN_BINARY EXAMPLE_DIR
set -euo pipefail
if [ "${WARREN_TEST_FULL:-0}" != 1 ]; then
  echo "example.cluster: skipped (WARREN_TEST_FULL=1 runs it)"
  exit 77
fi
# Ports of its own, away from the test brokers' and the example's default.
WARREN="$1" WARREN_CLUSTER_NAME=warren-ex-test WARREN_CLUSTER_PORT=5740 \
  "$2/run.sh"
echo "example.cluster passed"
