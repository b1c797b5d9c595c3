// The backend seam: every numeric kernel a layer, loss, optimizer or metric
// needs, behind one interface. Layers are written once against it; the CPU
// backend (oneDNN) and the CUDA backend (cuDNN, cuBLAS, .cu kernels) implement
// it. A backend is a value handed to the code that uses it, never a global mode.
//
// Conventions shared by every implementation:
// - Tensors are NHWC activations, HWIO conv kernels, [in, out] dense kernels;
//   shapes are read from the tensors, the op structs carry only what is not.
// - Every op overwrites its outputs (parameter gradients included).
// - Backends cache whatever they build per shape (oneDNN primitives, cuDNN
//   descriptors and algorithm choices): the first call with a new shape may be
//   slow and allocate, later ones do neither.
// - Ops are asynchronous on devices with streams; copy_to_host synchronises.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "stride/core/tensor.h"

namespace stride {

struct ConvParams {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

enum class PoolKind : uint8_t { max, average };

// Average pooling divides by the number of input pixels under the window, padding
// excluded (as Keras and cuDNN's EXCLUDE_PADDING do).
struct PoolParams {
  PoolKind kind = PoolKind::max;
  int64_t kernel_h = 2, kernel_w = 2;
  int64_t stride_h = 2, stride_w = 2;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
};

enum class ActivationKind : uint8_t { relu, leaky_relu, elu };

struct ActivationParams {
  ActivationKind kind = ActivationKind::relu;
  float alpha = 0.0f;  // leaky_relu slope for x < 0; elu scale of (exp(x) - 1)
};

// Batch normalisation over N*H*W per channel. Running statistics follow
// running = momentum * running + (1 - momentum) * batch (Keras' momentum, 0.99),
// with the unbiased batch variance in the running variance (as cuDNN and PyTorch).
struct BatchNormParams {
  float epsilon = 1e-3f;
  float momentum = 0.99f;
};

struct AdamParams {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-7f;
  float weight_decay = 0.0f;
  bool decoupled = false;  // AdamW: w -= lr * wd * w, outside the moments
  int64_t step = 1;        // 1-based, for bias correction
};

// PyTorch's SGD: v = momentum * v + g (+ wd * w); w -= lr * (nesterov ? g + momentum * v : v).
struct SgdParams {
  float lr = 1e-2f;
  float momentum = 0.0f;
  float weight_decay = 0.0f;
  bool nesterov = false;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu (oneDNN 2.6.3, 2 threads)"

  // Memory. Tensors allocate through these; deallocate never throws.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* pointer) noexcept = 0;
  virtual void copy_from_host(const void* source, Tensor& destination) = 0;
  virtual void copy_to_host(const Tensor& source, void* destination) = 0;  // waits for pending work
  virtual void copy(const Tensor& source, Tensor& destination) = 0;
  virtual void fill(Tensor& tensor, float value) = 0;
  virtual void synchronize() = 0;

  // Convolution. x [N,H,W,C], w [KH,KW,C,K], bias [K] or undefined, y [N,OH,OW,K].
  virtual void conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) = 0;
  virtual void conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) = 0;
  // Writes dw, and dbias when it is defined.
  virtual void conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                     Tensor& dbias) = 0;

  // Pooling. The workspace (u8, pool_workspace_bytes) records what max pooling
  // needs for backward; pool_backward gets x and y too, for backends that recompute.
  virtual size_t pool_workspace_bytes(const PoolParams& p, const Shape& x, const Shape& y) = 0;
  virtual void pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) = 0;
  virtual void pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                             const Tensor& workspace, Tensor& dx) = 0;

  // Elementwise activations; backward gets both x and y.
  virtual void activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) = 0;
  virtual void activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                   Tensor& dx) = 0;

  // Batch normalisation. saved_mean / saved_var ([C]) carry whatever this
  // backend's backward needs (the batch mean and variance or inverse std).
  virtual void batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                          const Tensor& beta, Tensor& y, Tensor& saved_mean, Tensor& saved_var,
                                          Tensor& running_mean, Tensor& running_var) = 0;
  virtual void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                           const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                           Tensor& y) = 0;
  virtual void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                  const Tensor& saved_mean, const Tensor& saved_var, Tensor& dx, Tensor& dgamma,
                                  Tensor& dbeta) = 0;
  // The input gradient of inference-mode batch norm (frozen layers, as Keras runs
  // them when fine-tuning): dx = dy * gamma / sqrt(running_var + epsilon).
  virtual void batchnorm_backward_inference(const BatchNormParams& p, const Tensor& dy, const Tensor& gamma,
                                            const Tensor& running_var, Tensor& dx) = 0;
  // The parameter gradients of inference-mode batch norm (a trainable layer run
  // with its running statistics), per channel: dgamma = sum(dy * (x - running_mean)
  // / sqrt(running_var + epsilon)), dbeta = sum(dy).
  virtual void batchnorm_backward_inference_parameters(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                                       const Tensor& running_mean, const Tensor& running_var,
                                                       Tensor& dgamma, Tensor& dbeta) = 0;

  // Synchronised batch norm: the statistics of the global batch of a
  // data-parallel job, from per-replica sums that the caller sums across
  // replicas between the calls. A sums tensor is [2C + 1] f32.
  // Forward: sums = (sum of x - shift, sum of (x - shift)^2, element count per
  // channel), shift a per-channel value every replica shares. Two passes keep
  // the variance clear of cancellation: sums around the running mean give the
  // global mean (batchnorm_mean_from_sums), sums around that mean the variance.
  virtual void batchnorm_partial_sums(const Tensor& x, const Tensor& shift, Tensor& sums) = 0;
  // mean = shift + sum(x - shift) / count, from summed sums. mean may be shift.
  virtual void batchnorm_mean_from_sums(const Tensor& sums, const Tensor& shift, Tensor& mean) = 0;
  // From the summed forward sums: mean and biased var ([C]) to normalise with
  // (batchnorm_forward_inference does it), and the running statistics moved as
  // batchnorm_forward_training moves them. shift may be mean or running_mean.
  virtual void batchnorm_statistics_from_sums(const BatchNormParams& p, const Tensor& sums, const Tensor& shift,
                                              Tensor& mean, Tensor& var, Tensor& running_mean, Tensor& running_var) = 0;
  // Backward: sums = (sum of dy, sum of dy * xhat, element count per channel),
  // xhat = (x - mean) / sqrt(var + epsilon): this replica's dbeta and dgamma.
  virtual void batchnorm_backward_partial_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                               const Tensor& mean, const Tensor& var, Tensor& sums) = 0;
  // From the summed backward sums:
  // dx = gamma / sqrt(var + epsilon) * (dy - sum_dy / count - xhat * sum_dy_xhat / count).
  virtual void batchnorm_backward_from_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                            const Tensor& gamma, const Tensor& mean, const Tensor& var,
                                            const Tensor& sums, Tensor& dx) = 0;

  // Dense. x [N,I], w [I,O], bias [O] or undefined, y [N,O].
  virtual void dense_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) = 0;
  virtual void dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) = 0;
  virtual void dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias) = 0;

  // Softmax cross-entropy with label smoothing over logits [N,K] and labels [N] (i32).
  // Writes probabilities [N,K], per-sample losses [N] and dlogits = (p - target) * grad_scale,
  // where target = (1 - s) * onehot + s / K. grad_scale is 1 / global batch.
  virtual void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing,
                                     float grad_scale, Tensor& probabilities, Tensor& losses, Tensor& dlogits) = 0;

  // Inverted dropout: y = x * mask, mask = (u >= rate) / (1 - rate), u from
  // Philox(key, element_offset + element index), identical on every backend.
  virtual void dropout_forward(float rate, uint64_t key, uint64_t element_offset, const Tensor& x, Tensor& y,
                               Tensor& mask) = 0;
  virtual void multiply(const Tensor& a, const Tensor& b, Tensor& out) = 0;

  // out = a + b (residual joins); x *= alpha.
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out) = 0;
  virtual void scale(Tensor& x, float alpha) = 0;
  // out[n] = index of the largest of x[n, :].
  virtual void argmax_rows(const Tensor& x, Tensor& out) = 0;
  virtual double sum_of_squares(const Tensor& x) = 0;

  // Optimizer updates in place.
  virtual void adam_update(const AdamParams& p, Tensor& w, const Tensor& g, Tensor& m, Tensor& v) = 0;
  virtual void sgd_update(const SgdParams& p, Tensor& w, const Tensor& g, Tensor& velocity) = 0;
};

// Output size of a convolution or pooling window along one axis.
int64_t window_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t pad_before, int64_t pad_after);

// The CPU backend on oneDNN. threads <= 0 keeps OpenMP's default.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();

}  // namespace stride
