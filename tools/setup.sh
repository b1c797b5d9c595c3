#!/usr/bin/env bash
# Installs what Stride needs from Debian's packages; skips what is present and
# is safe to run twice. Groups: build (always), demo (the Fashion-MNIST data),
# test (what the test suite drives: mpirun, h5py, PyTorch, Chromium, and from
# PyPI MLflow, TensorBoard and Optuna, which read Stride's exports back),
# bench (the PyTorch peer), fuzz (clang, its libFuzzer and sanitizer runtimes
# and its OpenMP, for the fuzz preset). Python packages from PyPI go into virtual
# environments in the checkout, never the system Python: group test fills
# .venv-test from tools/requirements-test.txt, group bench fills .venv-bench
# from tools/requirements-bench.txt (PyTorch 2.x, the benchmarks' peer).
#   tools/setup.sh [demo] [test] [bench] [fuzz]
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
  libonnx-dev libprotobuf-dev      # stride export --format onnx: ONNX's protobuf classes
  libcpp-httplib-dev               # `stride report serve`: the HTTP server
  libjs-chart.js libjs-d3          # its charts, compiled into the binary
  libyaml-cpp-dev                  # MLflow export: its meta.yaml files
  protobuf-compiler                # TensorBoard export: Event messages compiled by protoc
)
demo_packages=(dataset-fashion-mnist)
test_packages=(dataset-fashion-mnist python3 python3-numpy python3-h5py python3-torch python3-venv chromium iproute2
               procps)
bench_packages=(python3 python3-numpy python3-torch python3-venv)
fuzz_packages=(clang libclang-rt-14-dev libomp-dev)

here="$(cd "$(dirname "$0")" && pwd)"
wanted=("${build_packages[@]}")
venvs=()
for group in "$@"; do
  case "$group" in
    demo) wanted+=("${demo_packages[@]}") ;;
    test) wanted+=("${test_packages[@]}"); venvs+=(test) ;;
    bench) wanted+=("${bench_packages[@]}"); venvs+=(bench) ;;
    fuzz) wanted+=("${fuzz_packages[@]}") ;;
    *) echo "setup.sh: unknown group '$group' (expected demo, test, bench or fuzz)" >&2; exit 2 ;;
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
else
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
fi

# A virtual environment per group, filled from its requirements file; a stamp
# holding the file's checksum skips the install when nothing changed.
for venv in "${venvs[@]}"; do
  requirements="$here/requirements-$venv.txt"
  target="$here/../.venv-$venv"
  grep -qvE '^\s*(#|$)' "$requirements" 2>/dev/null || continue
  stamp="$target/.requirements.sha256"
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "setup.sh: .venv-$venv up to date"
    continue
  fi
  [ -x "$target/bin/python3" ] || python3 -m venv "$target"
  echo "setup.sh: installing $requirements into .venv-$venv"
  "$target/bin/python3" -m pip install -q --disable-pip-version-check -r "$requirements"
  echo "$want" >"$stamp"
done
