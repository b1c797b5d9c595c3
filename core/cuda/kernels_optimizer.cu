// Multi-tensor optimizer kernels over the parameter arena: one launch updates
// every run of a SegmentTable (up to kMaxSegmentsPerLaunch; the host splits
// longer lists), each thread finding its run by binary search. The arithmetic
// is the CPU backend's, in the same order. Clipping by the global norm keeps
// the norm on the device: per-block partial sums of squares in a fixed grid,
// then every block of the scaling kernel adds the partials in the same order,
// so the norm (and the factor) is identical everywhere and run to run.
#include <cmath>

#include "kernels.h"
#include "launch.h"

namespace stride::cuda {
namespace {

constexpr int kClipBlocks = 256;

// ---- kernels ----

__device__ __forceinline__ int find_run(const SegmentTable& t, int64_t i) {
  int low = 0, high = t.size - 1;
  while (low < high) {
    const int mid = (low + high + 1) / 2;
    if (t.runs[mid].begin <= i)
      low = mid;
    else
      high = mid - 1;
  }
  return low;
}

__global__ void adam_kernel(SegmentTable t, AdamArgs a, float* w, const float* g, float* m, float* v) {
  STRIDE_GRID_LOOP(i, t.total) {
    const SegmentRun& run = t.runs[find_run(t, i)];
    const int64_t e = run.offset + (i - run.begin);
    const float coupled_decay = a.decoupled ? 0.0f : run.decay;
    const float decoupled_factor = a.decoupled ? 1.0f - a.lr * run.decay : 1.0f;
    const float grad = g[e] + coupled_decay * w[e];
    const float m1 = a.beta1 * m[e] + (1.0f - a.beta1) * grad;
    const float v1 = a.beta2 * v[e] + (1.0f - a.beta2) * grad * grad;
    m[e] = m1;
    v[e] = v1;
    const float denom = sqrtf(v1) / a.sqrt_bias_correction2 + a.epsilon;
    w[e] = w[e] * decoupled_factor - a.step_size * m1 / denom;
  }
}

__global__ void sgd_kernel(SegmentTable t, SgdArgs a, float* w, const float* g, float* velocity) {
  STRIDE_GRID_LOOP(i, t.total) {
    const SegmentRun& run = t.runs[find_run(t, i)];
    const int64_t e = run.offset + (i - run.begin);
    if (velocity == nullptr) {
      w[e] -= a.lr * (g[e] + run.decay * w[e]);
      continue;
    }
    const float grad = g[e] + run.decay * w[e];
    const float vel = a.momentum * velocity[e] + grad;
    velocity[e] = vel;
    w[e] -= a.lr * (a.nesterov ? grad + a.momentum * vel : vel);
  }
}

__global__ void sum_squares_kernel(SegmentTable t, const float* g, double* partials, bool accumulate) {
  __shared__ double part[kThreads];
  double s = 0;
  STRIDE_GRID_LOOP(i, t.total) {
    const SegmentRun& run = t.runs[find_run(t, i)];
    const double v = g[run.offset + (i - run.begin)];
    s += v * v;
  }
  part[threadIdx.x] = s;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) part[threadIdx.x] += part[threadIdx.x + half];
    __syncthreads();
  }
  if (threadIdx.x == 0) partials[blockIdx.x] = accumulate ? partials[blockIdx.x] + part[0] : part[0];
}

__global__ void clip_scale_kernel(SegmentTable t, float* g, const double* partials, float* norm, bool write_norm,
                                  float max_norm) {
  __shared__ double total_shared;
  if (threadIdx.x < 32) {
    double s = 0;
    for (int b = static_cast<int>(threadIdx.x); b < kClipBlocks; b += 32) s += partials[b];
    for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_xor_sync(0xffffffffu, s, offset);
    if (threadIdx.x == 0) total_shared = sqrt(s);
  }
  __syncthreads();
  const double total = total_shared;
  if (write_norm && blockIdx.x == 0 && threadIdx.x == 0) *norm = static_cast<float>(total);
  if (!(max_norm > 0.0f) || !(total > static_cast<double>(max_norm))) return;
  const float factor = static_cast<float>(static_cast<double>(max_norm) / total);
  STRIDE_GRID_LOOP(i, t.total) {
    const SegmentRun& run = t.runs[find_run(t, i)];
    g[run.offset + (i - run.begin)] *= factor;
  }
}

}  // namespace

// ---- launchers ----

void launch_adam(const SegmentTable& table, const AdamArgs& args, float* w, const float* g, float* m, float* v,
                 cudaStream_t stream) {
  if (table.total == 0) return;
  adam_kernel<<<blocks_for(table.total), kThreads, 0, stream>>>(table, args, w, g, m, v);
  check_launch("adam");
}

void launch_sgd(const SegmentTable& table, const SgdArgs& args, float* w, const float* g, float* velocity,
                cudaStream_t stream) {
  if (table.total == 0) return;
  sgd_kernel<<<blocks_for(table.total), kThreads, 0, stream>>>(table, args, w, g, velocity);
  check_launch("sgd");
}

int64_t clip_partials() { return kClipBlocks; }

void launch_sum_squares(const SegmentTable& table, const float* g, double* partials, bool accumulate,
                        cudaStream_t stream) {
  // A fixed grid (even for no work): every partial is written, and the order of the sums never changes.
  sum_squares_kernel<<<kClipBlocks, kThreads, 0, stream>>>(table, g, partials, accumulate);
  check_launch("sum_squares");
}

void launch_clip_scale(const SegmentTable& table, float* g, const double* partials, float* norm, bool write_norm,
                       float max_norm, cudaStream_t stream) {
  clip_scale_kernel<<<blocks_for(table.total), kThreads, 0, stream>>>(table, g, partials, norm, write_norm, max_norm);
  check_launch("clip_scale");
}

}  // namespace stride::cuda
