#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (what CI runs), in three phases:
#   release     the Release build in build/ and every test (arguments go to this ctest)
#   asan-ubsan  the unit label again under ASan + UBSan (preset asan-ubsan: clang,
#               build-asan-ubsan/, which also builds the fuzz targets)
#   fuzz        every fuzz target for a few seconds (the same tree; tools/fuzz.sh)
# STRIDE_TEST_PHASES="release fuzz" runs a subset. Every phase runs even when an
# earlier one failed; the exit status is non-zero if any did. Each phase's time
# is printed at the end (docs/FAULTS.md records them).
set -euo pipefail
cd "$(dirname "$0")/.."
phases=${STRIDE_TEST_PHASES:-release asan-ubsan fuzz}
tools/setup.sh test fuzz
jobs=$(nproc)
status=0
summary=()

run_phase() {
  local name=$1 start=$SECONDS result=0
  shift
  echo "test.sh: phase $name"
  "$@" || result=$?
  summary+=("$(printf '%-11s %5d s  %s' "$name" $((SECONDS - start)) "$([ "$result" -eq 0 ] && echo ok || echo "FAILED ($result)")")")
  [ "$result" -eq 0 ] || status=1
}

# Phases run in a `||` context, where `set -e` does not apply: each step says `|| return`.
release() {
  tools/build.sh || return
  local result=0
  (cd build && ctest --output-on-failure -j"$jobs" "$@" | tee ctest.log) || result=$?
  tools/gpu/skipped_gpu_tests.sh build/ctest.log || return
  return "$result"
}

# One clang tree holds the sanitised unit tests and the fuzz targets, so the
# libraries are compiled once for both; the fuzz phase's build is then a no-op.
asan_ubsan() {
  cmake --preset asan-ubsan >/dev/null || return
  cmake --build --preset asan-ubsan -j"$jobs" || return
  ctest --preset asan-ubsan -j"$jobs"
}

fuzz() {
  cmake --preset asan-ubsan >/dev/null || return
  cmake --build --preset fuzz -j"$jobs" || return
  ctest --preset fuzz -j"$jobs"
}

for phase in $phases; do
  case "$phase" in
    release) run_phase release release "$@" ;;
    asan-ubsan) run_phase asan-ubsan asan_ubsan ;;
    fuzz) run_phase fuzz fuzz ;;
    *) echo "test.sh: unknown phase '$phase' in STRIDE_TEST_PHASES (release, asan-ubsan, fuzz)" >&2; exit 2 ;;
  esac
done
printf 'test.sh: %s\n' "${summary[@]}"
exit "$status"
