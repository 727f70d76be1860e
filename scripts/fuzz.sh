#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang into build-fuzz/ and runs
# each over its corpus (fuzz/corpus/<target>/, which holds the seeds and
# every crash found so far, so each run replays them). Fails when any target
# crashes, leaks, hangs or trips a sanitizer. See fuzz/README.md.
#
#   scripts/fuzz.sh              about 20 s per target, about 60 s in all
#   scripts/fuzz.sh --long       10^6 executions per target (so does WARREN_TEST_FULL=1)
#   scripts/fuzz.sh config ...   only the named targets (envelope, config, outbox, stream)
#   WARREN_FUZZ_SECONDS=N        seconds per target in the short run (default 20)
#   WARREN_FUZZ_ROUNDTRIP=0      the outbox target checks only that nothing crashes
#
# Inputs libFuzzer finds go to build-fuzz/corpus/<target>/ (kept between
# runs, never into the checked-in corpus); a crashing input is written to
# build-fuzz/artifacts/ and named in the output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${WARREN_FUZZ_BUILD_DIR:-$root/build-fuzz}
seconds=${WARREN_FUZZ_SECONDS:-20}
long=${WARREN_TEST_FULL:-0}
targets=()
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    envelope | config | outbox | stream) targets+=("$arg") ;;
    *) echo "fuzz.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(envelope config outbox stream)
command -v clang++ >/dev/null ||
  { echo "fuzz.sh: clang++ is not installed (run scripts/setup.sh)" >&2; exit 1; }

# Only what the targets need: no tests, benchmarks or examples.
cmake -S "$root" -B "$build_dir" -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DWARREN_FUZZ=ON -DWARREN_BUILD_TESTS=OFF \
  -DWARREN_BUILD_BENCH=OFF -DWARREN_BUILD_EXAMPLES=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" --target warren-fuzz -j"$(nproc)"

if [ "$long" = 1 ]; then limit=(-runs=1000000); else limit=(-max_total_time="$seconds"); fi
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build_dir/artifacts"
failed=()
for t in "${targets[@]}"; do
  mkdir -p "$build_dir/corpus/$t"
  log="$build_dir/artifacts/$t.log"
  echo "fuzz: $t (${limit[*]})"
  start=$(date +%s)
  if "$build_dir/fuzz/warren-fuzz-$t" "${limit[@]}" -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$build_dir/artifacts/$t-" \
      "$build_dir/corpus/$t" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    echo "fuzz: $t ok: $runs executions in $(($(date +%s) - start)) s ($rate/s)"
  else
    tail -n 60 "$log"
    echo "fuzz: $t FAILED (full log: $log)"
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]}"
  exit 1
fi
