// Loss and metric kernels. Softmax cross-entropy with label smoothing runs one
// warp per row, with the CPU backend's arithmetic: the normaliser summed in
// double, log-probabilities in float, the row loss accumulated in double. A
// label outside [0, K) is reported through a host-mapped flag (a kernel cannot
// throw); its row gets a NaN loss and no gradient. The per-batch totals of
// accumulate_classification are reduced in one block, in a fixed order.
#include <cmath>

#include "kernels.h"
#include "launch.h"

namespace stride::cuda {
namespace {

// ---- kernels ----

constexpr unsigned kFullMask = 0xffffffffu;

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

__global__ void softmax_cross_entropy_kernel(const float* logits, const int32_t* labels, int64_t n, int64_t k,
                                             float smoothing, float grad_scale, float* probabilities, float* losses,
                                             float* dlogits, volatile int32_t* error) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (blockDim.x / 32);
  // The loop bound is uniform across a warp, so every lane takes part in the shuffles.
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; row < n; row += warps) {
    const float* z = logits + row * k;
    float peak = -INFINITY;
    for (int64_t j = lane; j < k; j += 32) peak = fmaxf(peak, z[j]);
    peak = warp_max(peak);
    double sum = 0;
    for (int64_t j = lane; j < k; j += 32) sum += exp(static_cast<double>(z[j] - peak));
    sum = warp_sum(sum);
    const float log_sum = peak + static_cast<float>(log(sum));
    const int32_t label = labels[row];
    const bool valid = label >= 0 && label < k;
    if (!valid && lane == 0) {
      error[1] = label;
      error[0] = 1;
    }
    const float off_value = smoothing / static_cast<float>(k);
    const float on_value = 1.0f - smoothing + off_value;
    double row_loss = 0;
    for (int64_t j = lane; j < k; j += 32) {
      const float log_p = z[j] - log_sum;
      const float target = j == label ? on_value : off_value;
      const float p = expf(log_p);
      probabilities[row * k + j] = p;
      row_loss -= static_cast<double>(target) * log_p;
      dlogits[row * k + j] = valid ? (p - target) * grad_scale : 0.0f;
    }
    row_loss = warp_sum(row_loss);
    if (lane == 0) losses[row] = valid ? static_cast<float>(row_loss) : NAN;
  }
}

// The first largest of k values (ties go to the lowest index, as std::max_element).
__device__ __forceinline__ int32_t first_argmax(const float* z, int64_t k) {
  int64_t best = 0;
  for (int64_t j = 1; j < k; ++j)
    if (z[j] > z[best]) best = j;
  return static_cast<int32_t>(best);
}

constexpr int kTotalsThreads = 256;

__global__ void accumulate_classification_kernel(const float* logits, const int32_t* labels, const float* losses,
                                                 int64_t n, int64_t k, double* totals, int32_t* confusion) {
  __shared__ double loss_part[kTotalsThreads];
  __shared__ double correct_part[kTotalsThreads];
  double loss_sum = 0, correct = 0;
  for (int64_t row = threadIdx.x; row < n; row += blockDim.x) {
    const int32_t predicted = first_argmax(logits + row * k, k);
    const int32_t label = labels[row];
    loss_sum += losses[row];
    correct += predicted == label ? 1.0 : 0.0;
    if (confusion != nullptr && label >= 0 && label < k) atomicAdd(confusion + label * k + predicted, 1);
  }
  loss_part[threadIdx.x] = loss_sum;
  correct_part[threadIdx.x] = correct;
  __syncthreads();
  for (unsigned half = blockDim.x / 2; half > 0; half >>= 1) {
    if (threadIdx.x < half) {
      loss_part[threadIdx.x] += loss_part[threadIdx.x + half];
      correct_part[threadIdx.x] += correct_part[threadIdx.x + half];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    totals[0] += loss_part[0];
    totals[1] += correct_part[0];
  }
}

__global__ void argmax_rows_kernel(const float* x, int64_t n, int64_t k, int32_t* out) {
  STRIDE_GRID_LOOP(row, n) out[row] = first_argmax(x + row * k, k);
}

}  // namespace

// ---- launchers ----

void launch_softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t k, float smoothing,
                                  float grad_scale, float* probabilities, float* losses, float* dlogits, int32_t* error,
                                  cudaStream_t stream) {
  if (n == 0) return;
  constexpr int kRowsPerBlock = kThreads / 32;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((n + kRowsPerBlock - 1) / kRowsPerBlock, 65536));
  softmax_cross_entropy_kernel<<<blocks, kThreads, 0, stream>>>(logits, labels, n, k, smoothing, grad_scale,
                                                                probabilities, losses, dlogits, error);
  check_launch("softmax_cross_entropy");
}

void launch_accumulate_classification(const float* logits, const int32_t* labels, const float* losses, int64_t n,
                                      int64_t k, double* totals, int32_t* confusion, cudaStream_t stream) {
  if (n == 0) return;
  accumulate_classification_kernel<<<1, kTotalsThreads, 0, stream>>>(logits, labels, losses, n, k, totals, confusion);
  check_launch("accumulate_classification");
}

void launch_argmax_rows(const float* x, int64_t n, int64_t k, int32_t* out, cudaStream_t stream) {
  if (n == 0) return;
  argmax_rows_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, k, out);
  check_launch("argmax_rows");
}

}  // namespace stride::cuda
