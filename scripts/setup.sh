#!/usr/bin/env bash
# Installs what warren needs on Debian 12 (only the packages that are missing)
# and builds it into build/. Idempotent. Needs root, or sudo.
#
#   scripts/setup.sh            install + configure + build (RelWithDebInfo)
#   WARREN_BUILD_DIR=dir ...    build elsewhere
#   WARREN_SKIP_BUILD=1 ...     only install packages
#   WARREN_CMAKE_ARGS="..."     extra cmake options (e.g. -DWARREN_SANITIZE=ON)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${WARREN_BUILD_DIR:-$root/build}

packages=(
  build-essential cmake pkg-config clang-format
  clang libclang-rt-14-dev
  libcaf-dev librabbitmq-dev libsqlite3-dev sqlite3 libboost-json1.81-dev
  catch2 libcli11-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libcpp-httplib-dev prometheus libjs-chart.js chromium
  libvalijson-dev json-schema-test-suite
  rabbitmq-server openssl
  python3-pika amqp-tools
  # The [partition] tests: a node in a network namespace, forwarders to the brokers.
  iproute2 socat
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  # The package's own service must not start: warren runs private nodes only.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo_cmd[@]}" chmod +x /usr/sbin/policy-rc.d
    remove_policy=1
  fi
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  if [ "${remove_policy:-0}" = 1 ]; then "${sudo_cmd[@]}" rm -f /usr/sbin/policy-rc.d; fi
fi

[ "${WARREN_SKIP_BUILD:-0}" = 1 ] && exit 0
# shellcheck disable=SC2086 # WARREN_CMAKE_ARGS is a list of options
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE="${WARREN_BUILD_TYPE:-RelWithDebInfo}" \
  ${WARREN_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j"$(nproc)"
