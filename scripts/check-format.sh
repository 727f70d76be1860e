#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what clang-format (with the
# project's .clang-format) makes of it. Run by the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v clang-format >/dev/null || { echo "clang-format is not installed (run scripts/setup.sh)"; exit 1; }
files=$(git ls-files '*.cpp' '*.hpp' 2>/dev/null || find bridges runtime actors tests bench examples -name '*.[ch]pp')
clang-format --dry-run -Werror $files
echo "format: $(echo "$files" | wc -w) files clean"
