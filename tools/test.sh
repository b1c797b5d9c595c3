#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test
tools/build.sh
cd build
status=0
ctest --output-on-failure -j"$(nproc)" "$@" | tee ctest.log || status=$?
../tools/gpu/skipped_gpu_tests.sh ctest.log
exit "$status"
