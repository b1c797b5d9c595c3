#!/usr/bin/env bash
# Installs what Stride needs from Debian's packages; skips what is present and
# is safe to run twice. Groups: build (always), demo (the Fashion-MNIST data),
# test (what the test suite drives: mpirun, h5py, PyTorch, Chromium),
# bench (the PyTorch peer).
#   tools/setup.sh [demo] [test] [bench]
set -euo pipefail

build_packages=(
  build-essential cmake pkg-config git
  libdnnl-dev                      # oneDNN: CPU kernels
  ocl-icd-opencl-dev opencl-c-headers  # Debian's oneDNN CMake config requires OpenCL
  libopenmpi-dev openmpi-bin       # MPI: ranks, CPU all-reduce, NCCL bootstrap
  libhdf5-dev                      # shards and checkpoints
  libsqlite3-dev sqlite3           # experiment store
  libboost-program-options-dev     # command line and config files
  libgtest-dev                     # tests
  nlohmann-json3-dev               # manifest, model config
  libspdlog-dev libfmt-dev         # logging, formatting
  libstb-dev                       # PNG/JPEG decode and resize
  zlib1g-dev                       # gzip IDX files, checksums
)
demo_packages=(dataset-fashion-mnist)
test_packages=(dataset-fashion-mnist python3 python3-numpy python3-h5py python3-torch chromium iproute2 procps)
bench_packages=(python3 python3-numpy python3-torch)

wanted=("${build_packages[@]}")
for group in "$@"; do
  case "$group" in
    demo) wanted+=("${demo_packages[@]}") ;;
    test) wanted+=("${test_packages[@]}") ;;
    bench) wanted+=("${bench_packages[@]}") ;;
    *) echo "setup.sh: unknown group '$group' (expected demo, test or bench)" >&2; exit 2 ;;
  esac
done

missing=()
for package in "${wanted[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done
# Drop duplicates (a package may sit in two groups).
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk 'NF && !seen[$0]++')

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup.sh: all ${#wanted[@]} packages present"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
echo "setup.sh: installing ${missing[*]}"
if ! $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"; then
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
