#!/usr/bin/env bash
# Builds what a lent GPU machine lacks into one folder, gpu-bundle/ (ignored
# by git), for tools/gpu/check.sh to run there:
#   stride-gpu.tar.xz   the stride binary and the GPU test binaries (sm_90, no
#                       MPI), and the shared libraries they need that are not
#                       glibc, libstdc++ or CUDA's (the machine has those)
#   fashion-mnist/      the dataset's IDX .gz files
#   check.sh, torch_bench.py
# The build has a folder of its own (build-gpu/). The folder, with the working
# tree, must stay under the 64 MiB a device call carries; this script fails if
# it does not.
#   tools/gpu/bundle.sh [--data DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
data=/usr/share/datasets/fashion-mnist
while [ $# -gt 0 ]; do
  case "$1" in
    --data) data="$2"; shift 2 ;;
    *) echo "bundle.sh: unknown argument '$1' (expected --data DIR)" >&2; exit 2 ;;
  esac
done
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [ -f "$data/$f" ] || { echo "bundle.sh: $data/$f is missing (tools/setup.sh demo installs the dataset)" >&2; exit 1; }
done

[ -f /work/ccache.env ] && source /work/ccache.env
targets=(stride test_core test_core_cuda test_distributed_nccl test_distributed_fork_bootstrap)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DSTRIDE_MPI=OFF -DSTRIDE_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90 >/dev/null
cmake --build build-gpu -j"$(nproc)" --target "${targets[@]}"

bundle=$root/gpu-bundle
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
binaries=(build-gpu/tools/stride build-gpu/tests/core/test_core build-gpu/tests/core/test_core_cuda
          build-gpu/tests/distributed/test_distributed_nccl build-gpu/tests/distributed/test_distributed_fork_bootstrap)
for b in "${binaries[@]}"; do
  strip -o "$stage/bin/$(basename "$b")" "$b"
done

# Shared libraries: everything ldd resolves except the C runtime, the C++
# runtime and the CUDA libraries (driver, runtime, cuBLAS, cuDNN, NCCL), which
# the machine provides (driver, and PyTorch's nvidia-* wheels).
system='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libresolv\.|libutil\.|libstdc\+\+|libgcc_s)'
cuda='^(libcuda\.|libcudart|libcublas|libcublasLt|libcudnn|libnccl|libnvrtc|libnvJitLink|libcufft|libcurand)'
for b in "$stage"/bin/*; do
  ldd "$b" | awk '/=> \//{print $1, $3}'
done | sort -u | while read -r name path; do
  if [[ "$name" =~ $system || "$name" =~ $cuda ]]; then continue; fi
  cp -L "$path" "$stage/lib/$name"
done

rm -rf "$bundle"
mkdir -p "$bundle/fashion-mnist"
tar -C "$stage" -cJf "$bundle/stride-gpu.tar.xz" bin lib
cp "$data"/*-ubyte.gz "$bundle/fashion-mnist/"
cp tools/gpu/check.sh tools/gpu/torch_bench.py "$bundle/"
git -C "$root" rev-parse HEAD >"$bundle/commit"

bundle_bytes=$(du -sb "$bundle" | cut -f1)
tree_bytes=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
total=$((bundle_bytes + tree_bytes))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "bundle.sh: libraries carried: $(ls "$stage/lib" | tr '\n' ' ')"
echo "bundle.sh: $bundle: $(mib "$bundle_bytes") MiB, working tree $(mib "$tree_bytes") MiB," \
  "$(mib "$total") MiB together (a device call carries 64)"
if [ "$total" -gt $((63 * 1048576)) ]; then
  echo "bundle.sh: over the 64 MiB a device call carries" >&2
  exit 1
fi
