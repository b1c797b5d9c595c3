#!/usr/bin/env bash
# One bounded fuzz run, as ctest starts it:
#   run_fuzzer.sh FUZZER SEED_DIR REGRESSION_DIR ARTIFACT_DIR [libFuzzer flags...]
# The run starts from the seeds (fuzz/corpus/<target>, which make_corpus.sh
# rewrites) and the inputs of earlier findings (fuzz/regressions/<target>,
# kept by hand; each must run clean before any mutation does). New inputs go
# to a scratch corpus (the trees stay as they are); a finding is written to
# ARTIFACT_DIR and fails the run.
set -euo pipefail
fuzzer=$1 seeds=$2 regressions=$3 artifacts=$4
shift 4
inputs=("$seeds")
[ -d "$regressions" ] && inputs+=("$regressions")
work=$(mktemp -d "${TMPDIR:-/tmp}/stride-corpus-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$(cd "$(dirname "$0")/.." && pwd)/cmake/lsan-suppressions.txt}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"$fuzzer" -artifact_prefix="$artifacts/" -print_final_stats=1 "$@" "$work" "${inputs[@]}"
