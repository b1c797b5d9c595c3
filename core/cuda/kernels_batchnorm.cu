// Batch-norm kernels around cuDNN's training kernels: normalising with given
// statistics (inference, frozen layers, and synchronised batch norm with the
// global batch's statistics), the inference-mode input gradient, the steps of
// synchronised batch norm that follow a cross-replica sum (in double, as the
// CPU backend computes them), and the fused ReLU of training mode, whose mask
// is kept as bits in the layer's reserve.
#include <cmath>

#include "kernels.h"
#include "launch.h"

namespace stride::cuda {
namespace {

// ---- kernels ----

__global__ void bn_inference_kernel(const float* x, const float* gamma, const float* beta, const float* mean,
                                    const float* var, float epsilon, bool relu, float* y, int64_t n, int64_t channels) {
  STRIDE_GRID_LOOP(i, n) {
    const int64_t c = i % channels;
    const float v = gamma[c] * (x[i] - mean[c]) / sqrtf(var[c] + epsilon) + beta[c];
    y[i] = relu && !(v > 0.0f) ? 0.0f : v;
  }
}

__global__ void bn_backward_inference_kernel(const float* dy, const float* gamma, const float* var, float epsilon,
                                             float* dx, int64_t n, int64_t channels) {
  STRIDE_GRID_LOOP(i, n) {
    const int64_t c = i % channels;
    dx[i] = dy[i] * gamma[c] / sqrtf(var[c] + epsilon);
  }
}

__global__ void bn_mean_from_sums_kernel(const float* sums, const float* shift, float* mean, int64_t channels) {
  const double count = sums[2 * channels];
  STRIDE_GRID_LOOP(c, channels) mean[c] = static_cast<float>(shift[c] + sums[c] / count);
}

__global__ void bn_statistics_from_sums_kernel(const float* sums, const float* shift, float* mean, float* var,
                                               float* running_mean, float* running_var, float momentum,
                                               int64_t channels) {
  const double count = sums[2 * channels];
  const double unbias = count > 1 ? count / (count - 1) : 1.0;
  STRIDE_GRID_LOOP(c, channels) {
    // Everything of channel c is read before anything is written: shift may be mean or running_mean.
    const double centred = sums[c] / count;
    const double batch_mean = shift[c] + centred;
    const double batch_var = fmax(0.0, sums[channels + c] / count - centred * centred);
    const float rm = running_mean[c], rv = running_var[c];
    mean[c] = static_cast<float>(batch_mean);
    var[c] = static_cast<float>(batch_var);
    running_mean[c] = static_cast<float>(momentum * rm + (1.0 - momentum) * batch_mean);
    running_var[c] = static_cast<float>(momentum * rv + (1.0 - momentum) * batch_var * unbias);
  }
}

__global__ void bn_backward_from_sums_kernel(const float* x, const float* dy, const float* gamma, const float* mean,
                                             const float* var, const float* sums, float epsilon, float* dx, int64_t n,
                                             int64_t channels) {
  const double count = sums[2 * channels];
  STRIDE_GRID_LOOP(i, n) {
    const int64_t c = i % channels;
    const double inv_std = 1.0 / sqrt(static_cast<double>(var[c]) + static_cast<double>(epsilon));
    const double scale = gamma[c] * inv_std;
    const double mean_dy = sums[c] / count;
    const double mean_dy_xhat = sums[channels + c] / count;
    const double xhat = (static_cast<double>(x[i]) - mean[c]) * inv_std;
    dx[i] = static_cast<float>(scale * (dy[i] - mean_dy - xhat * mean_dy_xhat));
  }
}

// One warp per 32-element word; the loop bound is a multiple of 32 so whole warps take part in the ballot.
__global__ void relu_mask_forward_kernel(float* y, uint32_t* mask, int64_t n, int64_t padded) {
  STRIDE_GRID_LOOP(i, padded) {
    bool positive = false;
    if (i < n) {
      const float v = y[i];
      positive = v > 0.0f;
      y[i] = positive ? v : 0.0f;
    }
    const uint32_t bits = __ballot_sync(0xffffffffu, positive);
    if ((threadIdx.x & 31) == 0) mask[i / 32] = bits;
  }
}

__global__ void relu_mask_backward_kernel(const float* dy, const uint32_t* mask, float* out, int64_t n) {
  STRIDE_GRID_LOOP(i, n) out[i] = (mask[i / 32] >> (i % 32)) & 1u ? dy[i] : 0.0f;
}

}  // namespace

// ---- launchers ----

void launch_bn_inference(const float* x, const float* gamma, const float* beta, const float* mean, const float* var,
                         float epsilon, bool relu, float* y, int64_t rows, int64_t channels, cudaStream_t stream) {
  const int64_t n = rows * channels;
  if (n == 0) return;
  bn_inference_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, gamma, beta, mean, var, epsilon, relu, y, n, channels);
  check_launch("bn_inference");
}

void launch_bn_backward_inference(const float* dy, const float* gamma, const float* var, float epsilon, float* dx,
                                  int64_t rows, int64_t channels, cudaStream_t stream) {
  const int64_t n = rows * channels;
  if (n == 0) return;
  bn_backward_inference_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dy, gamma, var, epsilon, dx, n, channels);
  check_launch("bn_backward_inference");
}

void launch_bn_mean_from_sums(const float* sums, const float* shift, float* mean, int64_t channels,
                              cudaStream_t stream) {
  if (channels == 0) return;
  bn_mean_from_sums_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(sums, shift, mean, channels);
  check_launch("bn_mean_from_sums");
}

void launch_bn_statistics_from_sums(const float* sums, const float* shift, float* mean, float* var, float* running_mean,
                                    float* running_var, float momentum, int64_t channels, cudaStream_t stream) {
  if (channels == 0) return;
  bn_statistics_from_sums_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(sums, shift, mean, var, running_mean,
                                                                                running_var, momentum, channels);
  check_launch("bn_statistics_from_sums");
}

void launch_bn_backward_from_sums(const float* x, const float* dy, const float* gamma, const float* mean,
                                  const float* var, const float* sums, float epsilon, float* dx, int64_t rows,
                                  int64_t channels, cudaStream_t stream) {
  const int64_t n = rows * channels;
  if (n == 0) return;
  bn_backward_from_sums_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, dy, gamma, mean, var, sums, epsilon, dx, n,
                                                                       channels);
  check_launch("bn_backward_from_sums");
}

int64_t relu_mask_words(int64_t n) { return (n + 31) / 32; }

void launch_relu_mask_forward(float* y, uint32_t* mask, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  const int64_t padded = relu_mask_words(n) * 32;
  relu_mask_forward_kernel<<<blocks_for(padded), kThreads, 0, stream>>>(y, mask, n, padded);
  check_launch("relu_mask_forward");
}

void launch_relu_mask_backward(const float* dy, const uint32_t* mask, float* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  relu_mask_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dy, mask, out, n);
  check_launch("relu_mask_backward");
}

}  // namespace stride::cuda
