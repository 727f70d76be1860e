#!/usr/bin/env bash
# Checks the Prometheus alert rules (monitoring/alerts.yml) and runs their
# unit tests (monitoring/alerts.test.yml). Needs promtool: on Debian,
# `apt-get install --no-install-recommends prometheus`.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null 2>&1; then
  echo "check-alerts: promtool is not installed (apt-get install --no-install-recommends prometheus)" >&2
  exit 1
fi
promtool check rules monitoring/alerts.yml
promtool test rules monitoring/alerts.test.yml
echo "alerts: rules valid, unit tests pass"
