// Shared by the .cu files: grid sizes for grid-stride loops and the launch
// check. The check is a plain function defined in a .cpp (cuda_device.cpp), so
// kernels never see Stride's fmt-based error headers, which nvcc cannot compile.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

namespace stride::cuda {

// Throws CudaError naming the kernel when the last launch failed (bad
// configuration, no kernel image for this GPU).
void check_launch(const char* kernel);

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n elements: enough to fill the GPU, never more than the work.
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t wanted = (std::max<int64_t>(n, 1) + threads - 1) / threads;
  return static_cast<unsigned>(std::min<int64_t>(wanted, 65536));
}

}  // namespace stride::cuda

// Grid-stride loop over [0, n) with a 64-bit index.
#define STRIDE_GRID_LOOP(i, n)                                                           \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)
