#!/usr/bin/env bash
# One bounded fuzz run, as ctest starts it:
#   run_fuzzer.sh FUZZER SEED_DIR ARTIFACT_DIR [libFuzzer flags...]
# New inputs go to a scratch corpus (the seeds in the tree stay as they are);
# a finding is written to ARTIFACT_DIR and fails the run.
set -euo pipefail
fuzzer=$1 seeds=$2 artifacts=$3
shift 3
work=$(mktemp -d "${TMPDIR:-/tmp}/stride-corpus-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")/.." && pwd)/cmake/lsan-suppressions.txt}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"$fuzzer" -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" "$work" "$seeds"
