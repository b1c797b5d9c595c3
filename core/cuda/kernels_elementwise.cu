// Elementwise kernels: fills, sums and products, activations and their
// gradients, the convolution/dense epilogue (bias, residual, activation) and
// Philox dropout with the CPU backend's element numbering, so masks agree bit
// for bit. Every kernel is a grid-stride loop over 64-bit indices.
#include <cuda_bf16.h>

#include "kernels.h"
#include "launch.h"
#include "stride/common/rng.h"

namespace stride::cuda {
namespace {

// ---- kernels ----

__device__ __forceinline__ float activate(ActArgs act, float v) {
  switch (act.kind) {
    case 1:
      return v > 0.0f ? v : 0.0f;
    case 2:
      return v > 0.0f ? v : act.alpha * v;
    case 3:
      return v > 0.0f ? v : act.alpha * expm1f(v);
    default:
      return v;
  }
}

// The derivative times dy, from the input or (fused activations) the output.
__device__ __forceinline__ float activate_backward(ActArgs act, bool from_output, float s, float g) {
  switch (act.kind) {
    case 1:
      return s > 0.0f ? g : 0.0f;
    case 2:
      return s > 0.0f ? g : act.alpha * g;
    case 3:
      if (s > 0.0f) return g;
      return from_output ? g * (s + act.alpha) : g * act.alpha * expf(s);
    default:
      return g;
  }
}

template <typename T>
__global__ void fill_kernel(T* x, int64_t n, T value) {
  STRIDE_GRID_LOOP(i, n) x[i] = value;
}

__global__ void add_kernel(const float* a, const float* b, float* out, int64_t n, ActArgs act) {
  STRIDE_GRID_LOOP(i, n) out[i] = activate(act, a[i] + b[i]);
}

__global__ void multiply_kernel(const float* a, const float* b, float* out, int64_t n) {
  STRIDE_GRID_LOOP(i, n) out[i] = a[i] * b[i];
}

__global__ void scale_kernel(float* x, int64_t n, float alpha) { STRIDE_GRID_LOOP(i, n) x[i] *= alpha; }

__global__ void accumulate_kernel(const float* r, float* out, int64_t n, float beta) {
  if (beta == 0.0f) {
    STRIDE_GRID_LOOP(i, n) out[i] = r[i];
  } else {
    STRIDE_GRID_LOOP(i, n) out[i] = beta * out[i] + r[i];
  }
}

__global__ void activation_forward_kernel(const float* x, float* y, int64_t n, ActArgs act) {
  STRIDE_GRID_LOOP(i, n) y[i] = activate(act, x[i]);
}

__global__ void activation_backward_kernel(const float* source, bool from_output, const float* dy, float* dx, int64_t n,
                                           ActArgs act) {
  STRIDE_GRID_LOOP(i, n) dx[i] = activate_backward(act, from_output, source[i], dy[i]);
}

template <typename In>
__device__ __forceinline__ float load(const In* p, int64_t i);
template <>
__device__ __forceinline__ float load<float>(const float* p, int64_t i) {
  return p[i];
}
template <>
__device__ __forceinline__ float load<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}

template <typename In>
__global__ void epilogue_kernel(const In* in, const float* bias, const float* residual, float* y, int64_t n,
                                int64_t channels, ActArgs act) {
  STRIDE_GRID_LOOP(i, n) {
    float v = load(in, i);
    if (bias != nullptr) v += bias[i % channels];
    if (residual != nullptr) v += residual[i];
    y[i] = activate(act, v);
  }
}

__global__ void dropout_kernel(const float* x, float* y, float* mask, int64_t n, float rate, float keep_scale,
                               uint64_t key, uint64_t offset) {
  STRIDE_GRID_LOOP(i, n) {
    // Element e draws lane e % 4 of Philox block e / 4, e counted globally.
    const uint64_t e = offset + static_cast<uint64_t>(i);
    const uint32_t bits = philox4x32(key, 0, e >> 2).v[e & 3];
    const float m = uniform_from_bits(bits) >= rate ? keep_scale : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

}  // namespace

// ---- launchers ----

void launch_fill_f32(float* x, int64_t n, float value, cudaStream_t stream) {
  if (n == 0) return;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, value);
  check_launch("fill_f32");
}

void launch_fill_i32(int32_t* x, int64_t n, int32_t value, cudaStream_t stream) {
  if (n == 0) return;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, value);
  check_launch("fill_i32");
}

void launch_fill_f64(double* x, int64_t n, double value, cudaStream_t stream) {
  if (n == 0) return;
  fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, value);
  check_launch("fill_f64");
}

void launch_add(const float* a, const float* b, float* out, int64_t n, ActArgs act, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, out, n, act);
  check_launch("add");
}

void launch_multiply(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  multiply_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, out, n);
  check_launch("multiply");
}

void launch_scale(float* x, int64_t n, float alpha, cudaStream_t stream) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, alpha);
  check_launch("scale");
}

void launch_accumulate(const float* r, float* out, int64_t n, float beta, cudaStream_t stream) {
  if (n == 0) return;
  accumulate_kernel<<<blocks_for(n), kThreads, 0, stream>>>(r, out, n, beta);
  check_launch("accumulate");
}

void launch_activation_forward(const float* x, float* y, int64_t n, ActArgs act, cudaStream_t stream) {
  if (n == 0) return;
  activation_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n, act);
  check_launch("activation_forward");
}

void launch_activation_backward(const float* source, bool from_output, const float* dy, float* dx, int64_t n,
                                ActArgs act, cudaStream_t stream) {
  if (n == 0) return;
  activation_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(source, from_output, dy, dx, n, act);
  check_launch("activation_backward");
}

void launch_epilogue(const void* in, bool in_bf16, const float* bias, const float* residual, float* y, int64_t n,
                     int64_t channels, ActArgs act, cudaStream_t stream) {
  if (n == 0) return;
  if (in_bf16)
    epilogue_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(in), bias, residual, y, n,
                                                            channels, act);
  else
    epilogue_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const float*>(in), bias, residual, y, n,
                                                            channels, act);
  check_launch("epilogue");
}

void launch_dropout(const float* x, float* y, float* mask, int64_t n, float rate, float keep_scale, uint64_t key,
                    uint64_t offset, cudaStream_t stream) {
  if (n == 0) return;
  dropout_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, mask, n, rate, keep_scale, key, offset);
  check_launch("dropout");
}

}  // namespace stride::cuda
