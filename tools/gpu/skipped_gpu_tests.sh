#!/usr/bin/env bash
# Prints how many GPU tests a ctest run skipped (its output in the file given):
# the cuda cases of the backend fixtures and the gpu-labelled suites, which
# skip with a reason where no CUDA GPU is visible.
#   tools/gpu/skipped_gpu_tests.sh build/ctest.log
set -euo pipefail
log="${1:?usage: skipped_gpu_tests.sh CTEST_OUTPUT}"
[ -f "$log" ] || { echo "skipped_gpu_tests.sh: $log: no such file" >&2; exit 2; }
count=$(grep -E '\(Skipped\)' "$log" | grep -ciE 'cuda|nccl|gpu' || true)
if [ "$count" -gt 0 ]; then
  echo "test.sh: $count GPU tests skipped (no CUDA GPU visible: they run where one is)"
else
  echo "test.sh: no GPU test skipped"
fi
