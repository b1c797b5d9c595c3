// The backend seam: every numeric kernel a layer, loss, optimizer or metric
// needs, behind one interface. Layers are written once against it; the CPU
// backend (oneDNN) and the CUDA backend (cuDNN, cuBLAS, .cu kernels) implement
// it. A backend is a value handed to the code that uses it, never a global mode.
//
// Conventions shared by every implementation:
// - Tensors are NHWC activations, HWIO conv kernels, [in, out] dense kernels;
//   shapes are read from the tensors, the op structs carry only what is not.
//   A backend may keep a derived layout of a weight internally (oneDNN's
//   blocked weights, cuDNN's KRSC filters) but parameters, gradients and
//   optimizer slots are always stored in these layouts.
// - Every op overwrites its outputs, unless it takes a `beta`: then
//   out = beta * out + result (beta 0 overwrites, even NaN memory).
// - Fusion is an argument, not a layer: convolution and dense take an
//   Epilogue (bias, residual, activation), batch norm a fused ReLU with a
//   reserve that lives from forward to backward, addition a fused activation.
// - Backends cache whatever they build per shape (oneDNN primitives, cuDNN
//   descriptors and algorithm choices): the first call with a new shape may be
//   slow and allocate, later ones do neither (counters() shows it).
// - Ops are queued in order on the backend's stream; on the CPU they complete
//   before returning. Only copy_to_host and synchronize wait. Step metrics
//   (loss, accuracy, gradient norm) accumulate in device tensors and are read
//   once per epoch, so a training step has no host synchronisation.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
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

// What a convolution or dense op applies to its result before writing y:
//   y = activation(op(x, w) + bias + residual)
// Each part is optional (null / unset).
struct Epilogue {
  const Tensor* bias = nullptr;      // [K]
  const Tensor* residual = nullptr;  // the shape of y
  bool activate = false;
  ActivationParams activation;
};

// Batch normalisation over N*H*W per channel. Running statistics follow
// running = momentum * running + (1 - momentum) * batch (Keras' momentum, 0.99),
// with the unbiased batch variance in the running variance (as cuDNN and PyTorch).
// fuse_relu: forward writes relu(bn(x)); training-mode backward then takes dy
// with respect to that output and applies the ReLU's mask itself, from the reserve.
struct BatchNormParams {
  float epsilon = 1e-3f;
  float momentum = 0.99f;
  bool fuse_relu = false;
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

// A run of elements of a parameter arena (flat f32 tensors of parameters,
// gradients and optimizer slots) that one multi-tensor call updates.
// decay: weight decay applies (kernels), or not (biases, batch-norm scales).
struct ArenaSegment {
  int64_t offset = 0;
  int64_t count = 0;
  bool decay = true;
  bool operator==(const ArenaSegment&) const = default;
};

// What a backend has done that the steady state must not repeat.
struct BackendCounters {
  uint64_t allocations = 0;  // device (or host tensor) allocations
  uint64_t plans_built = 0;  // oneDNN primitives created, cuDNN descriptor sets and algorithm searches
};

// A marker in a backend's stream: record() marks the work queued so far,
// wait() blocks the host until it is done. On the CPU every event is done.
class BackendEvent {
 public:
  virtual ~BackendEvent() = default;
  virtual void record() = 0;
  virtual void wait() = 0;
  virtual bool done() = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  virtual std::string name() const = 0;  // "cpu (oneDNN 2.6.3, 2 threads)"

  // Memory. Tensors allocate through these; deallocate never throws.
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* pointer) noexcept = 0;
  // Host memory the device copies from without staging (page-locked on CUDA).
  virtual void* allocate_host(size_t bytes) = 0;
  virtual void deallocate_host(void* pointer) noexcept = 0;
  virtual void copy_from_host(const void* source, Tensor& destination) = 0;
  // Queued like an op: `source` (from allocate_host) must stay unchanged until
  // an event recorded after this call is done.
  virtual void copy_from_host_async(const void* source, Tensor& destination) = 0;
  virtual void copy_to_host(const Tensor& source, void* destination) = 0;  // waits for pending work
  virtual void copy(const Tensor& source, Tensor& destination) = 0;
  virtual void fill(Tensor& tensor, float value) = 0;
  virtual void synchronize() = 0;
  // Call after a tensor of this backend was written other than through it (a
  // communicator's broadcast): backends keeping derived copies drop them.
  virtual void note_external_write() = 0;

  // Streams and ordering. stream(): the queue ops run on, for other libraries
  // to order their work against (cudaStream_t on CUDA; null on the CPU).
  virtual void* stream() const = 0;
  virtual std::unique_ptr<BackendEvent> make_event() = 0;
  virtual BackendCounters counters() const = 0;
  // The activation bytes (the largest layer output) of a micro-batch this
  // backend computes fastest: a CPU's caches hold it; 0 (devices) means
  // whole batches. A training step whose model allows it runs in pieces of
  // about this size, with identical results (TrainStep).
  virtual size_t micro_batch_bytes() const { return 0; }

  // Convolution. x [N,H,W,C], w [KH,KW,C,K], y [N,OH,OW,K].
  virtual void conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, Tensor& y,
                            const Epilogue& epilogue = {}) = 0;
  // dx = beta * dx + conv_backward_data(dy, w).
  virtual void conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx,
                                  float beta = 0.0f) = 0;
  // dw = beta * dw + ..., and dbias likewise when it is defined.
  virtual void conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                     Tensor& dbias, float beta = 0.0f) = 0;

  // Pooling. The workspace (u8, pool_workspace_bytes) records what max pooling
  // needs for backward; pool_backward gets x and y too, for backends that recompute.
  virtual size_t pool_workspace_bytes(const PoolParams& p, const Shape& x, const Shape& y) = 0;
  virtual void pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) = 0;
  virtual void pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                             const Tensor& workspace, Tensor& dx) = 0;

  // Elementwise activations. Backward gets x and y; x may be undefined when
  // the activation was fused into the op that produced y (then y decides).
  virtual void activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) = 0;
  virtual void activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                                   Tensor& dx) = 0;

  // Batch normalisation. saved_mean / saved_var ([C]) carry whatever this
  // backend's backward needs (the batch mean and variance or inverse std);
  // reserve (u8, batchnorm_reserve_bytes; may be empty) what else it keeps
  // from forward to backward (the fused ReLU's mask).
  virtual size_t batchnorm_reserve_bytes(const BatchNormParams& p, const Shape& x) = 0;
  virtual void batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                          const Tensor& beta, Tensor& y, Tensor& saved_mean, Tensor& saved_var,
                                          Tensor& running_mean, Tensor& running_var, Tensor& reserve) = 0;
  // Normalises with given statistics (running ones, or a global batch's); fuse_relu applies.
  virtual void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma,
                                           const Tensor& beta, const Tensor& running_mean, const Tensor& running_var,
                                           Tensor& y) = 0;
  // The gradients of batchnorm_forward_training (fuse_relu: dy is the fused output's).
  virtual void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                  const Tensor& saved_mean, const Tensor& saved_var, const Tensor& reserve, Tensor& dx,
                                  Tensor& dgamma, Tensor& dbeta) = 0;
  // The input gradient of inference-mode batch norm (frozen layers, as Keras runs
  // them when fine-tuning): dx = dy * gamma / sqrt(running_var + epsilon).
  // (fuse_relu is ignored here: callers mask dy first.)
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

  // Dense. x [N,I], w [I,O], y [N,O].
  virtual void dense_forward(const Tensor& x, const Tensor& w, Tensor& y, const Epilogue& epilogue = {}) = 0;
  virtual void dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, float beta = 0.0f) = 0;
  virtual void dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias,
                                      float beta = 0.0f) = 0;

  // Softmax cross-entropy with label smoothing over logits [N,K] and labels [N] (i32).
  // Writes probabilities [N,K], per-sample losses [N] and dlogits = (p - target) * grad_scale,
  // where target = (1 - s) * onehot + s / K. grad_scale is 1 / global batch.
  virtual void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing,
                                     float grad_scale, Tensor& probabilities, Tensor& losses, Tensor& dlogits) = 0;
  // On the device, for a batch: totals (f64 [2]) += (sum of losses, rows whose
  // first largest logit is the label); confusion (i32 [K, K], row = label,
  // column = prediction) += this batch's counts when it is defined.
  virtual void accumulate_classification(const Tensor& logits, const Tensor& labels, const Tensor& losses,
                                         Tensor& totals, Tensor& confusion) = 0;

  // Inverted dropout: y = x * mask, mask = (u >= rate) / (1 - rate), u from
  // Philox(key, element_offset + element index), identical on every backend.
  virtual void dropout_forward(float rate, uint64_t key, uint64_t element_offset, const Tensor& x, Tensor& y,
                               Tensor& mask) = 0;
  virtual void multiply(const Tensor& a, const Tensor& b, Tensor& out) = 0;

  // out = activation(a + b) (residual joins; activation only when given); x *= alpha.
  virtual void add(const Tensor& a, const Tensor& b, Tensor& out, const ActivationParams* activation = nullptr) = 0;
  virtual void scale(Tensor& x, float alpha) = 0;
  // out[n] = index of the first largest of x[n, :].
  virtual void argmax_rows(const Tensor& x, Tensor& out) = 0;

  // Optimizers and clipping over an arena: w, g and the slots are flat f32
  // tensors of the same size; one call updates every segment.
  virtual void adam_update(const AdamParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                           Tensor& m, Tensor& v) = 0;
  virtual void sgd_update(const SgdParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                          Tensor& velocity) = 0;
  // norm (f32 [1]) = the L2 norm of g over the segments; then, when
  // max_norm > 0 and norm > max_norm, those elements of g *= max_norm / norm.
  virtual void clip_by_global_norm(std::span<const ArenaSegment> segments, Tensor& g, float max_norm,
                                   Tensor& norm) = 0;
};

// Output size of a convolution or pooling window along one axis.
int64_t window_output_size(int64_t input, int64_t kernel, int64_t stride, int64_t pad_before, int64_t pad_after);

// Arithmetic of convolutions and dense layers (train.precision). fp32 is
// exact IEEE single precision everywhere; tf32 lets CUDA tensor cores round
// inputs to 10-bit mantissas; bf16 runs conv/dense on bf16 copies of inputs
// and weights with fp32 accumulation and fp32 master weights (batch norm,
// losses and optimizer stay fp32). The CPU backend runs fp32 only.
enum class Precision : uint8_t { fp32, tf32, bf16 };
Precision parse_precision(const std::string& name);  // ConfigError naming the value otherwise
const char* precision_name(Precision precision);

struct BackendOptions {
  int threads = 0;                       // CPU threads; <= 0 keeps OpenMP's default
  int device = 0;                        // CUDA device ordinal (the node-local rank under mpirun)
  Precision precision = Precision::fp32;
  bool deterministic = false;            // CUDA: heuristic algorithms that are bit-reproducible, no search
};

// The CPU backend on oneDNN. threads <= 0 keeps OpenMP's default.
std::unique_ptr<Backend> make_cpu_backend(int threads = 0);

// True when this build has the CUDA backend and a GPU is visible.
bool cuda_available();

// The CUDA backend (cuDNN, cuBLAS, Stride's kernels) on options.device; throws
// CudaError "no CUDA GPU is visible" without one, ConfigError in a build without CUDA.
std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options = {});

// "cpu" | "cuda".
std::unique_ptr<Backend> make_backend(Device device, const BackendOptions& options);
Device parse_device(const std::string& name);  // ConfigError naming the value otherwise

}  // namespace stride
