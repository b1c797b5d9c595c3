#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh test
tools/build.sh
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
