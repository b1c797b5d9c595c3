// The launchers of the CUDA backend's own kernels (.cu files). They take raw
// device pointers, element counts and the stream, queue one or a few kernels
// and check the launch; they never synchronise. This header is included by the
// .cu files and by the host code, so it holds only plain types: nvcc does not
// compile Stride's error headers (fmt's compile-time format strings).
//
// Layouts: activations NHWC with channels innermost, so "rows" are the N*H*W
// pixels and a per-channel value is indexed by i % channels. bf16 values are
// passed as their raw 16 bits (uint16_t).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace stride::cuda {

// An activation for kernels: kind 0 none, 1 relu, 2 leaky relu (alpha slope), 3 elu (alpha scale).
struct ActArgs {
  int kind = 0;
  float alpha = 0.0f;
};

// ---- elementwise (kernels_elementwise.cu) ----
void launch_fill_f32(float* x, int64_t n, float value, cudaStream_t stream);
void launch_fill_i32(int32_t* x, int64_t n, int32_t value, cudaStream_t stream);
void launch_fill_f64(double* x, int64_t n, double value, cudaStream_t stream);
// out = act(a + b)
void launch_add(const float* a, const float* b, float* out, int64_t n, ActArgs act, cudaStream_t stream);
void launch_multiply(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream);
void launch_scale(float* x, int64_t n, float alpha, cudaStream_t stream);
// out = beta * out + r (beta 0 never reads out)
void launch_accumulate(const float* r, float* out, int64_t n, float beta, cudaStream_t stream);
void launch_activation_forward(const float* x, float* y, int64_t n, ActArgs act, cudaStream_t stream);
// dx = dy * act'(source); source is the input x, or the output y when from_output.
void launch_activation_backward(const float* source, bool from_output, const float* dy, float* dx, int64_t n,
                                ActArgs act, cudaStream_t stream);
// y = act(in + bias[i % channels] + residual[i]); bias and residual may be null.
// in may be y itself (f32), or a bf16 result (in_bf16).
void launch_epilogue(const void* in, bool in_bf16, const float* bias, const float* residual, float* y, int64_t n,
                     int64_t channels, ActArgs act, cudaStream_t stream);
// Inverted dropout with Philox(key, offset + i): mask = (u >= rate) * keep_scale, y = x * mask.
void launch_dropout(const float* x, float* y, float* mask, int64_t n, float rate, float keep_scale, uint64_t key,
                    uint64_t offset, cudaStream_t stream);

// ---- layouts and conversions (kernels_layout.cu) ----
// out [n, h + pad_top + pad_bottom, w + pad_left + pad_right, c] = x zero-padded; out f32 or bf16.
void launch_pad_nhwc(const float* x, int64_t n, int64_t h, int64_t w, int64_t c, int64_t pad_top, int64_t pad_left,
                     int64_t padded_h, int64_t padded_w, void* out, bool out_bf16, cudaStream_t stream);
// out [n, h, w, c] = beta * out + the window of in [n, padded_h, padded_w, c] at (pad_top, pad_left).
void launch_crop_nhwc(const void* in, bool in_bf16, int64_t n, int64_t padded_h, int64_t padded_w, int64_t c,
                      int64_t pad_top, int64_t pad_left, float* out, int64_t h, int64_t w, float beta,
                      cudaStream_t stream);
// out[c][r] = in[r][c] for an in of rows x cols; with an f32 out, out = beta * out + in^T.
void launch_transpose(const void* in, bool in_bf16, int64_t rows, int64_t cols, void* out, bool out_bf16, float beta,
                      cudaStream_t stream);
void launch_to_bf16(const float* in, uint16_t* out, int64_t n, cudaStream_t stream);
// out = beta * out + float(in)
void launch_from_bf16(const uint16_t* in, float* out, int64_t n, float beta, cudaStream_t stream);

// ---- pooling (kernels_pool.cu) ----
struct PoolGeometry {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input
  int64_t out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0;
  bool max = true;  // else average over the in-bounds pixels
};
void launch_pool_forward(const PoolGeometry& g, const float* x, float* y, cudaStream_t stream);
// Max: each input pixel gathers the dy of the windows whose first maximum it is
// (recomputed from x); average: dy / pixels of every window it is in.
void launch_pool_backward(const PoolGeometry& g, const float* x, const float* dy, float* dx, cudaStream_t stream);

// ---- loss and metrics (kernels_loss.cu) ----
// error[0] is set to 1 and error[1] to the label when a label lies outside [0, k)
// (error: host memory mapped into the device).
void launch_softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t n, int64_t k, float smoothing,
                                  float grad_scale, float* probabilities, float* losses, float* dlogits, int32_t* error,
                                  cudaStream_t stream);
// totals[0] += sum of losses, totals[1] += rows whose first largest logit is the label;
// confusion[label * k + predicted] += 1 (confusion may be null).
void launch_accumulate_classification(const float* logits, const int32_t* labels, const float* losses, int64_t n,
                                      int64_t k, double* totals, int32_t* confusion, cudaStream_t stream);
void launch_argmax_rows(const float* x, int64_t n, int64_t k, int32_t* out, cudaStream_t stream);

// ---- per-channel reductions (kernels_reduce.cu) ----
// Sums over the rows of [rows, channels] in double, in a fixed order (two
// passes through `partials`, channel_sum_partials() doubles), then per channel:
//   sum:                     out0[c] = beta * out0[c] + sum(a)
//   bn_forward (sums):       out0 = (sum(a - center), sum((a - center)^2), rows)
//   bn_backward (sums):      out0 = (sum(b), sum(b * (a - center)) / sqrt(var + eps), rows)
//   bn_inference_parameters: out0 = sum(b * (a - center)) / sqrt(var + eps), out1 = sum(b)
enum class ChannelSum : int { sum = 0, bn_forward, bn_backward, bn_inference_parameters };
struct ChannelSumArgs {
  ChannelSum kind = ChannelSum::sum;
  const float* a = nullptr;
  const float* b = nullptr;
  const float* center = nullptr;
  const float* var = nullptr;
  float epsilon = 0.0f;
  float beta = 0.0f;
  float* out0 = nullptr;
  float* out1 = nullptr;
  int64_t rows = 0;
  int64_t channels = 0;
};
int64_t channel_sum_partials(int64_t rows, int64_t channels);
void launch_channel_sums(const ChannelSumArgs& args, double* partials, cudaStream_t stream);

// ---- batch normalisation (kernels_batchnorm.cu); rows x channels, channels innermost ----
// y = gamma * (x - mean) / sqrt(var + eps) + beta, then relu when asked.
void launch_bn_inference(const float* x, const float* gamma, const float* beta, const float* mean, const float* var,
                         float epsilon, bool relu, float* y, int64_t rows, int64_t channels, cudaStream_t stream);
// dx = dy * gamma / sqrt(var + eps)
void launch_bn_backward_inference(const float* dy, const float* gamma, const float* var, float epsilon, float* dx,
                                  int64_t rows, int64_t channels, cudaStream_t stream);
// mean = shift + sums[c] / sums[2C] (mean may be shift)
void launch_bn_mean_from_sums(const float* sums, const float* shift, float* mean, int64_t channels,
                              cudaStream_t stream);
// mean, biased var, and the running statistics moved by momentum (unbiased variance going in).
void launch_bn_statistics_from_sums(const float* sums, const float* shift, float* mean, float* var, float* running_mean,
                                    float* running_var, float momentum, int64_t channels, cudaStream_t stream);
// dx = gamma / sqrt(var + eps) * (dy - sum_dy / count - xhat * sum_dy_xhat / count)
void launch_bn_backward_from_sums(const float* x, const float* dy, const float* gamma, const float* mean,
                                  const float* var, const float* sums, float epsilon, float* dx, int64_t rows,
                                  int64_t channels, cudaStream_t stream);
// The fused ReLU of training-mode batch norm: y = max(y, 0) in place, bit i of
// mask = (y[i] > 0); mask holds relu_mask_words(n) words.
int64_t relu_mask_words(int64_t n);
void launch_relu_mask_forward(float* y, uint32_t* mask, int64_t n, cudaStream_t stream);
// out = mask ? dy : 0
void launch_relu_mask_backward(const float* dy, const uint32_t* mask, float* out, int64_t n, cudaStream_t stream);

// ---- optimizers over arena segments (kernels_optimizer.cu) ----
constexpr int kMaxSegmentsPerLaunch = 40;
struct SegmentRun {
  int64_t offset = 0;  // first element in the arena
  int64_t count = 0;
  int64_t begin = 0;   // running total of counts before this run (the launch's flat index)
  float decay = 0.0f;  // weight decay of this run (0 where it does not apply)
  int pad = 0;
};
struct SegmentTable {
  SegmentRun runs[kMaxSegmentsPerLaunch];
  int size = 0;
  int64_t total = 0;  // elements over the runs
};
struct AdamArgs {
  float beta1 = 0.9f, beta2 = 0.999f, epsilon = 1e-7f;
  float step_size = 0.0f;              // lr / (1 - beta1^t)
  float sqrt_bias_correction2 = 1.0f;  // sqrt(1 - beta2^t)
  float lr = 0.0f;
  bool decoupled = false;
};
void launch_adam(const SegmentTable& table, const AdamArgs& args, float* w, const float* g, float* m, float* v,
                 cudaStream_t stream);
struct SgdArgs {
  float lr = 0.0f, momentum = 0.0f;
  bool nesterov = false;
};
// velocity may be null when momentum is 0.
void launch_sgd(const SegmentTable& table, const SgdArgs& args, float* w, const float* g, float* velocity,
                cudaStream_t stream);
// Clipping: the squares of g over the runs add into clip_partials() doubles
// (accumulate: add to what an earlier launch of the same clip left there);
// then launch_clip_scale sums them in a fixed order, writes the norm when
// write_norm, and scales the runs by max_norm / norm when max_norm > 0 and norm > max_norm.
int64_t clip_partials();
void launch_sum_squares(const SegmentTable& table, const float* g, double* partials, bool accumulate,
                        cudaStream_t stream);
void launch_clip_scale(const SegmentTable& table, float* g, const double* partials, float* norm, bool write_norm,
                       float max_norm, cudaStream_t stream);

}  // namespace stride::cuda
