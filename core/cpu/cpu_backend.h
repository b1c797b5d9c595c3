// The CPU backend: oneDNN primitives for convolution, pooling, batch norm,
// eltwise and inner product (cached per shape, see dnnl_cache.h), with their
// epilogues as oneDNN post-ops; plain OpenMP loops for what oneDNN has no
// primitive for (softmax cross-entropy with label smoothing, dropout with
// Philox masks, optimizer updates, reductions, metrics).
//
// Every op completes before it returns, so streams and events are trivial
// here. The backend counts writes that may touch a parameter (its "write
// generation") so reordered copies of convolution kernels are reused while
// the kernel cannot have changed.
#pragma once

#include <dnnl.hpp>
#include <vector>

#include "dnnl_cache.h"
#include "stride/core/backend.h"

namespace stride::cpu {

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads);

  Device device() const override { return Device::cpu; }
  std::string name() const override;

  void* allocate(size_t bytes) override;
  void deallocate(void* pointer) noexcept override;
  void* allocate_host(size_t bytes) override { return allocate(bytes); }
  void deallocate_host(void* pointer) noexcept override { deallocate(pointer); }
  void copy_from_host(const void* source, Tensor& destination) override;
  void copy_from_host_async(const void* source, Tensor& destination) override { copy_from_host(source, destination); }
  void copy_to_host(const Tensor& source, void* destination) override;
  void copy(const Tensor& source, Tensor& destination) override;
  void fill(Tensor& tensor, float value) override;
  void synchronize() override {}
  void note_external_write() override { ++generation_; }
  void* stream() const override { return nullptr; }
  std::unique_ptr<BackendEvent> make_event() override;
  BackendCounters counters() const override;
  // A layer output of up to 4 MiB stays in the caches from the op that writes
  // it to the ones that read it (1 MiB L2 per core and a shared L3 on the
  // machines measured; past that a step slows by up to 2x per image).
  size_t micro_batch_bytes() const override { return size_t{4} << 20; }

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

  // Number of cached primitives (tests check that repeated shapes reuse them).
  size_t cached_primitives() const { return cache_.size(); }

 private:
  void run(CachedPrimitive& primitive, std::initializer_list<const void*> pointers) {
    primitive.execute(stream_, pointers, cache_.scratchpad());
  }
  // The kernel w (plain `plain`) in the layout a primitive wants.
  const void* weights_as(const Tensor& w, const dnnl::memory::desc& plain, const dnnl::memory::desc& wanted) {
    return weights_.get(w.raw(), plain, wanted, generation_, stream_);
  }
  // Scratch for `beta != 0` results, grown once and reused.
  Tensor scratch(const Shape& shape);
  // Grows `buffer` to at least `bytes` (once; reused after) and returns its memory.
  void* staging(Tensor& buffer, size_t bytes);
  // out = beta * out + result, elementwise.
  void accumulate(const Tensor& result, Tensor& out, float beta);

  dnnl::engine engine_;
  dnnl::stream stream_;
  PrimitiveCache cache_;
  WeightCache weights_;
  int threads_;
  uint64_t generation_ = 0;
  uint64_t allocations_ = 0;
  Tensor scratch_;
  Tensor weight_gradient_staging_;    // a blocked weight gradient before its reorder to HWIO
  Tensor weight_gradient_partials_;   // per-thread sums of few-channel weight gradients
  std::vector<double> channel_sums_;  // per-channel accumulators, grown once per width
};

}  // namespace stride::cpu
