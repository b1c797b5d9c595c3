// Pooling kernels on NHWC with any padding (asymmetric "same" included, so
// no explicit pad is needed). Max pooling follows the CPU backend's rule: the
// first maximum of a window in row-major order takes its gradient. Backward is
// a gather, one thread per input pixel over the windows that contain it, so
// overlapping windows need no atomics and the sums are deterministic; max
// pooling recomputes each window's first maximum from x instead of keeping an
// argmax workspace. Average pooling divides by the in-bounds pixels only.
#include <cmath>

#include "kernels.h"
#include "launch.h"

namespace stride::cuda {
namespace {

// ---- kernels ----

__device__ __forceinline__ int64_t x_index(const PoolGeometry& g, int64_t b, int64_t y, int64_t x, int64_t c) {
  return ((b * g.h + y) * g.w + x) * g.c + c;
}

__global__ void pool_forward_kernel(PoolGeometry g, const float* x, float* y, int64_t total) {
  STRIDE_GRID_LOOP(i, total) {
    const int64_t c = i % g.c;
    const int64_t ow = i / g.c % g.out_w;
    const int64_t oh = i / (g.c * g.out_w) % g.out_h;
    const int64_t b = i / (g.c * g.out_w * g.out_h);
    const int64_t top = oh * g.stride_h - g.pad_top, left = ow * g.stride_w - g.pad_left;
    float best = -INFINITY, sum = 0.0f;
    int count = 0;
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      const int64_t ih = top + kh;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
        const int64_t iw = left + kw;
        if (iw < 0 || iw >= g.w) continue;
        const float v = x[x_index(g, b, ih, iw, c)];
        if (v > best) best = v;
        sum += v;
        ++count;
      }
    }
    y[i] = g.max ? best : sum / static_cast<float>(count);
  }
}

// Whether (ih, iw) holds the first maximum of window (oh, ow).
__device__ __forceinline__ bool is_window_argmax(const PoolGeometry& g, const float* x, int64_t b, int64_t c,
                                                 int64_t oh, int64_t ow, int64_t ih, int64_t iw) {
  const int64_t top = oh * g.stride_h - g.pad_top, left = ow * g.stride_w - g.pad_left;
  float best = -INFINITY;
  int64_t best_h = -1, best_w = -1;
  for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
    const int64_t y = top + kh;
    if (y < 0 || y >= g.h) continue;
    for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
      const int64_t xw = left + kw;
      if (xw < 0 || xw >= g.w) continue;
      const float v = x[x_index(g, b, y, xw, c)];
      if (v > best) {
        best = v;
        best_h = y;
        best_w = xw;
      }
    }
  }
  return best_h == ih && best_w == iw;
}

__device__ __forceinline__ int window_pixels(const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t top = oh * g.stride_h - g.pad_top, left = ow * g.stride_w - g.pad_left;
  const int64_t rows = min(top + g.kernel_h, g.h) - max(top, int64_t{0});
  const int64_t cols = min(left + g.kernel_w, g.w) - max(left, int64_t{0});
  return static_cast<int>(rows * cols);
}

// The output windows along one axis that contain input position p: [first, last].
__device__ __forceinline__ void covering(int64_t p, int64_t pad, int64_t kernel, int64_t stride, int64_t out,
                                         int64_t& first, int64_t& last) {
  const int64_t shifted = p + pad;  // window o covers shifted in [o * stride, o * stride + kernel - 1]
  const int64_t low = shifted - kernel + 1;
  first = low <= 0 ? 0 : (low + stride - 1) / stride;
  last = min(shifted / stride, out - 1);
}

__global__ void pool_backward_kernel(PoolGeometry g, const float* x, const float* dy, float* dx, int64_t total) {
  STRIDE_GRID_LOOP(i, total) {
    const int64_t c = i % g.c;
    const int64_t iw = i / g.c % g.w;
    const int64_t ih = i / (g.c * g.w) % g.h;
    const int64_t b = i / (g.c * g.w * g.h);
    int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.pad_top, g.kernel_h, g.stride_h, g.out_h, oh0, oh1);
    covering(iw, g.pad_left, g.kernel_w, g.stride_w, g.out_w, ow0, ow1);
    float sum = 0.0f;
    for (int64_t oh = oh0; oh <= oh1; ++oh)
      for (int64_t ow = ow0; ow <= ow1; ++ow) {
        const float grad = dy[((b * g.out_h + oh) * g.out_w + ow) * g.c + c];
        if (g.max) {
          if (is_window_argmax(g, x, b, c, oh, ow, ih, iw)) sum += grad;
        } else {
          sum += grad / static_cast<float>(window_pixels(g, oh, ow));
        }
      }
    dx[i] = sum;
  }
}

}  // namespace

// ---- launchers ----

void launch_pool_forward(const PoolGeometry& g, const float* x, float* y, cudaStream_t stream) {
  const int64_t total = g.n * g.out_h * g.out_w * g.c;
  if (total == 0) return;
  pool_forward_kernel<<<blocks_for(total), kThreads, 0, stream>>>(g, x, y, total);
  check_launch("pool_forward");
}

void launch_pool_backward(const PoolGeometry& g, const float* x, const float* dy, float* dx, cudaStream_t stream) {
  const int64_t total = g.n * g.h * g.w * g.c;
  if (total == 0) return;
  pool_backward_kernel<<<blocks_for(total), kThreads, 0, stream>>>(g, x, dy, dx, total);
  check_launch("pool_backward");
}

}  // namespace stride::cuda
