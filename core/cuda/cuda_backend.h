// The CUDA backend: cuDNN for convolutions and batch-norm training, cuBLAS for
// dense layers, Stride's kernels (kernels.h) for everything else; fp32 NHWC
// tensors, with tf32 or bf16 arithmetic for convolutions and dense layers when
// asked (BackendOptions::precision).
//
// The one idea: every op is queued on the backend's non-blocking stream and
// returns at once; only copy_to_host and synchronize wait. Everything built
// per shape (cuDNN descriptors, algorithm choices, batch-norm plans, KRSC
// copies of kernels, scratch buffers) is built on the first call with that
// shape and reused after, so a steady-state training step allocates nothing
// and searches nothing (counters() shows it). Memory comes from the CUDA
// runtime's stream-ordered pool (cudaMallocAsync), which keeps freed blocks
// for reuse.
//
// Host code only: the kernels are in the .cu files behind kernels.h.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "cuda_check.h"
#include "kernels.h"
#include "stride/core/backend.h"
#include "stride/core/op_key.h"

namespace stride::cuda {

// A device buffer grown through the backend's allocator on first need and reused after.
struct Scratch {
  void* data = nullptr;
  size_t bytes = 0;
};

enum class ConvOp : uint8_t { forward = 1, backward_data, backward_filter };
struct ConvPlan;
struct BatchNormPlan;

// How a weight is kept for a library call: cuDNN's KRSC filter (from HWIO),
// in f32 or bf16, or the same layout in bf16 (dense kernels).
enum class WeightForm : uint8_t { krsc_f32 = 1, krsc_bf16, plain_bf16 };

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options);
  ~CudaBackend() override;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  Device device() const override { return Device::cuda; }
  std::string name() const override { return name_; }

  void* allocate(size_t bytes) override;
  void deallocate(void* pointer) noexcept override;
  void* allocate_host(size_t bytes) override;
  void deallocate_host(void* pointer) noexcept override;
  void copy_from_host(const void* source, Tensor& destination) override;
  void copy_from_host_async(const void* source, Tensor& destination) override;
  void copy_to_host(const Tensor& source, void* destination) override;
  void copy(const Tensor& source, Tensor& destination) override;
  void fill(Tensor& tensor, float value) override;
  void synchronize() override;
  void note_external_write() override { ++generation_; }
  void* stream() const override { return stream_.get(); }
  std::unique_ptr<BackendEvent> make_event() override;
  BackendCounters counters() const override { return {allocations_, plans_built_}; }

  void conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, Tensor& y,
                    const Epilogue& epilogue) override;
  void conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx, float beta) override;
  void conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias,
                             float beta) override;

  size_t pool_workspace_bytes(const PoolParams& p, const Shape& x, const Shape& y) override;
  void pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) override;
  void pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& workspace,
                     Tensor& dx) override;

  void activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) override;
  void activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                           Tensor& dx) override;

  size_t batchnorm_reserve_bytes(const BatchNormParams& p, const Shape& x) override;
  void batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor& y, Tensor& saved_mean, Tensor& saved_var, Tensor& running_mean,
                                  Tensor& running_var, Tensor& reserve) override;
  void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, Tensor& y) override;
  void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& saved_mean, const Tensor& saved_var, const Tensor& reserve, Tensor& dx,
                          Tensor& dgamma, Tensor& dbeta) override;
  void batchnorm_backward_inference(const BatchNormParams& p, const Tensor& dy, const Tensor& gamma,
                                    const Tensor& running_var, Tensor& dx) override;
  void batchnorm_backward_inference_parameters(const BatchNormParams& p, const Tensor& x, const Tensor& dy,
                                               const Tensor& running_mean, const Tensor& running_var, Tensor& dgamma,
                                               Tensor& dbeta) override;
  void batchnorm_partial_sums(const Tensor& x, const Tensor& shift, Tensor& sums) override;
  void batchnorm_mean_from_sums(const Tensor& sums, const Tensor& shift, Tensor& mean) override;
  void batchnorm_statistics_from_sums(const BatchNormParams& p, const Tensor& sums, const Tensor& shift, Tensor& mean,
                                      Tensor& var, Tensor& running_mean, Tensor& running_var) override;
  void batchnorm_backward_partial_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& mean,
                                       const Tensor& var, Tensor& sums) override;
  void batchnorm_backward_from_sums(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                                    const Tensor& mean, const Tensor& var, const Tensor& sums, Tensor& dx) override;

  void dense_forward(const Tensor& x, const Tensor& w, Tensor& y, const Epilogue& epilogue) override;
  void dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx, float beta) override;
  void dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias, float beta) override;

  void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing, float grad_scale,
                             Tensor& probabilities, Tensor& losses, Tensor& dlogits) override;
  void accumulate_classification(const Tensor& logits, const Tensor& labels, const Tensor& losses, Tensor& totals,
                                 Tensor& confusion) override;
  void dropout_forward(float rate, uint64_t key, uint64_t element_offset, const Tensor& x, Tensor& y,
                       Tensor& mask) override;
  void multiply(const Tensor& a, const Tensor& b, Tensor& out) override;
  void add(const Tensor& a, const Tensor& b, Tensor& out, const ActivationParams* activation) override;
  void scale(Tensor& x, float alpha) override;
  void argmax_rows(const Tensor& x, Tensor& out) override;

  void adam_update(const AdamParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g, Tensor& m,
                   Tensor& v) override;
  void sgd_update(const SgdParams& p, std::span<const ArenaSegment> segments, Tensor& w, const Tensor& g,
                  Tensor& velocity) override;
  void clip_by_global_norm(std::span<const ArenaSegment> segments, Tensor& g, float max_norm, Tensor& norm) override;

 private:
  cudaStream_t s() const { return stream_.get(); }
  bool bf16() const { return options_.precision == Precision::bf16; }
  // allocate() that answers null on out-of-memory instead of throwing.
  void* try_allocate(size_t bytes);
  // The buffer of at least `bytes`, grown (once) when smaller.
  void* grow(Scratch& scratch, size_t bytes);
  // Throws what a kernel reported since the last wait (a label out of range). Call after a host wait.
  void raise_device_errors();
  // A pointer to `w` in `form`, converted at most once per write generation.
  const void* weights_as(const Tensor& w, WeightForm form);

  // Convolution plans (cuda_conv_plan.cpp): descriptors and the algorithm
  // choice per op and shape, built on first use. ensure_workspace() grows the
  // shared workspace, false on out-of-memory.
  ConvPlan& conv_plan(ConvOp op, const ConvParams& p, const Shape& x, const Shape& w, const Shape& y);
  void describe(ConvPlan& plan, const ConvParams& p, const Shape& x, const Shape& w, const Shape& y, bool half);
  // reproducible: only algorithms cuDNN marks deterministic.
  void choose_algorithms(ConvPlan& plan, bool reproducible);
  bool ensure_workspace(size_t bytes);
  // The convolution's input as the plan wants it: x itself, or a padded and/or bf16 copy.
  const void* conv_input(const ConvPlan& plan, const ConvParams& p, const Tensor& x);
  const void* conv_gradient(const ConvPlan& plan, const Tensor& dy);
  // Runs the plan's op with its current algorithm, moving to the next one if
  // cuDNN refuses it; a, b are the op's inputs, out its output.
  void run_conv(ConvPlan& plan, const void* a, const void* b, void* out, float beta);

  BatchNormPlan& batchnorm_plan(const Shape& x);
  // cuDNN's reserve for `x`, and where the fused ReLU's mask starts in a reserve.
  size_t cudnn_reserve_bytes(BatchNormPlan& plan);

  void gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, const void* a, int64_t lda,
            const void* b, int64_t ldb, float beta, float* c, int64_t ldc, bool inputs_bf16);
  // dbias = beta * dbias + the per-channel sum of dy's rows.
  void bias_gradient(const Tensor& dy, Tensor& dbias, float beta);
  void channel_sums(const ChannelSumArgs& args);

  BackendOptions options_;
  int device_ = 0;
  std::string name_;
  Stream stream_;
  CudnnHandle cudnn_;
  CublasHandle cublas_;
  void* cublas_workspace_ = nullptr;
  PinnedMemory device_errors_;  // int32 [2], mapped: (flag, label)
  int32_t* device_errors_on_device_ = nullptr;
  int64_t last_classes_ = 0;
  std::vector<const void*> checked_labels_;

  uint64_t generation_ = 0;
  uint64_t allocations_ = 0;
  uint64_t plans_built_ = 0;

  std::unordered_map<OpKey, std::unique_ptr<ConvPlan>, OpKeyHash> conv_plans_;
  std::unordered_map<OpKey, std::unique_ptr<BatchNormPlan>, OpKeyHash> batchnorm_plans_;
  struct WeightEntry {
    const void* source = nullptr;
    WeightForm form = WeightForm::krsc_f32;
    int64_t rows = 0, cols = 0;
    uint64_t generation = 0;
    Tensor storage;
  };
  std::vector<WeightEntry> weights_;

  Scratch workspace_;      // cuDNN's (convolution and batch norm)
  Scratch conv_input_;     // padded and/or bf16 x
  Scratch conv_output_;    // bf16 y, padded dx, KRSC dw
  Scratch conv_gradient_;  // bf16 dy
  Scratch partials_;       // per-channel reductions
  Scratch clip_partials_;
  Scratch masked_gradient_;    // dy through the fused ReLU's mask
  Scratch dense_a_, dense_b_;  // bf16 copies for cuBLAS
};

}  // namespace stride::cuda
