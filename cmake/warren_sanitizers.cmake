# Instrumented builds, each in a build directory of its own (scripts/fuzz.sh
# uses build-fuzz, `WARREN_TEST_SANITIZE=1 scripts/test.sh` build-asan); the
# main build stays uninstrumented. Included before the libraries so every
# warren target, tests included, is compiled the same way.
#
#   WARREN_SANITIZE  AddressSanitizer + UndefinedBehaviorSanitizer on
#                    everything (any compiler that has them).
#   WARREN_FUZZ      the libFuzzer targets in fuzz/; needs clang. The
#                    libraries get fuzzer-no-link (coverage for libFuzzer)
#                    plus ASan and UBSan; the targets add -fsanitize=fuzzer.
option(WARREN_SANITIZE "Build everything with ASan and UBSan" OFF)
option(WARREN_FUZZ "Build the libFuzzer targets in fuzz/ (clang only)" OFF)

set(WARREN_SANITIZER_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer)
if(WARREN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "WARREN_FUZZ needs clang (configure with "
                        "CC=clang CXX=clang++ in a build directory of its own)")
  endif()
  # Any UB aborts, so libFuzzer sees it as a crash instead of a log line.
  add_compile_options(${WARREN_SANITIZER_FLAGS} -fsanitize=fuzzer-no-link
                      -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
elseif(WARREN_SANITIZE)
  add_compile_options(${WARREN_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
  # GCC 12's -fsanitize=address makes -Wmaybe-uninitialized fire inside
  # libstdc++'s <regex> (std::function in _NFA::_M_insert_*), which Catch2's
  # main compiles: a false positive of the instrumentation, not of our code.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
endif()
