#!/usr/bin/env bash
# Builds the fuzz targets (in the asan-ubsan preset's tree: clang, ASan +
# UBSan, libFuzzer; build-asan-ubsan/) and runs the fuzz label: each target for
# --fuzz-seconds (default 10) from its seed corpus in fuzz/corpus/. A finding
# fails its test and leaves the input in build-asan-ubsan/fuzz-artifacts/<target>/.
#   tools/fuzz.sh [--fuzz-seconds N] [--seed N] [TARGET...]
# TARGETs (idx cifar folder manifest shard checkpoint config) narrow the run;
# longer runs want --seed 0 (a new seed each run) and one target at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=10 seed=1 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fuzz-seconds) seconds=$2; shift 2 ;;
    --fuzz-seconds=*) seconds=${1#*=}; shift ;;
    --seed) seed=$2; shift 2 ;;
    --seed=*) seed=${1#*=}; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1'" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
case "$seconds" in ''|*[!0-9]*) echo "fuzz.sh: --fuzz-seconds '$seconds': expected a whole number" >&2; exit 2 ;; esac
case "$seed" in ''|*[!0-9]*) echo "fuzz.sh: --seed '$seed': expected a whole number" >&2; exit 2 ;; esac

cmake --preset asan-ubsan -DSTRIDE_FUZZ_SECONDS="$seconds" -DSTRIDE_FUZZ_SEED="$seed" >/dev/null
cmake --build --preset fuzz -j"$(nproc)"
filter=()
if [ "${#targets[@]}" -gt 0 ]; then
  filter=(-R "^fuzz\.($(IFS='|'; echo "${targets[*]}"))\$")
fi
ctest --preset fuzz -j"$(nproc)" "${filter[@]}"
