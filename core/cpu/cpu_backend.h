// The CPU backend: oneDNN primitives for convolution, pooling, batch norm,
// eltwise and inner product (cached per shape, see dnnl_cache.h); plain
// OpenMP loops for what oneDNN has no primitive for (softmax cross-entropy with
// label smoothing, dropout with Philox masks, optimizer updates, reductions).
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
  void copy_from_host(const void* source, Tensor& destination) override;
  void copy_to_host(const Tensor& source, void* destination) override;
  void copy(const Tensor& source, Tensor& destination) override;
  void fill(Tensor& tensor, float value) override;
  void synchronize() override {}

  void conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) override;
  void conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx) override;
  void conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                             Tensor& dbias) override;

  size_t pool_workspace_bytes(const PoolParams& p, const Shape& x, const Shape& y) override;
  void pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) override;
  void pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& workspace,
                     Tensor& dx) override;

  void activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) override;
  void activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                           Tensor& dx) override;

  void batchnorm_forward_training(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                  Tensor& y, Tensor& saved_mean, Tensor& saved_var, Tensor& running_mean,
                                  Tensor& running_var) override;
  void batchnorm_forward_inference(const BatchNormParams& p, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                   const Tensor& running_mean, const Tensor& running_var, Tensor& y) override;
  void batchnorm_backward(const BatchNormParams& p, const Tensor& x, const Tensor& dy, const Tensor& gamma,
                          const Tensor& saved_mean, const Tensor& saved_var, Tensor& dx, Tensor& dgamma,
                          Tensor& dbeta) override;
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

  void dense_forward(const Tensor& x, const Tensor& w, const Tensor& bias, Tensor& y) override;
  void dense_backward_data(const Tensor& dy, const Tensor& w, Tensor& dx) override;
  void dense_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias) override;

  void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing, float grad_scale,
                             Tensor& probabilities, Tensor& losses, Tensor& dlogits) override;
  void dropout_forward(float rate, uint64_t key, uint64_t element_offset, const Tensor& x, Tensor& y,
                       Tensor& mask) override;
  void multiply(const Tensor& a, const Tensor& b, Tensor& out) override;
  void add(const Tensor& a, const Tensor& b, Tensor& out) override;
  void scale(Tensor& x, float alpha) override;
  void argmax_rows(const Tensor& x, Tensor& out) override;
  double sum_of_squares(const Tensor& x) override;

  void adam_update(const AdamParams& p, Tensor& w, const Tensor& g, Tensor& m, Tensor& v) override;
  void sgd_update(const SgdParams& p, Tensor& w, const Tensor& g, Tensor& velocity) override;

  // Number of cached primitives (tests check that repeated shapes reuse them).
  size_t cached_primitives() const { return cache_.size(); }

 private:
  // Weight gradients of a convolution with very few input channels (the first
  // layer of an image network), as a plain loop: oneDNN's gemm path spends
  // most of a training step there for C_in = 1 (a GEMM with K = 1).
  void conv_backward_weights_few_channels(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw,
                                          Tensor& dbias);
  void run(CachedPrimitive& primitive, std::initializer_list<const void*> pointers) {
    primitive.execute(stream_, pointers, cache_.scratchpad());
  }

  dnnl::engine engine_;
  dnnl::stream stream_;
  PrimitiveCache cache_;
  int threads_;
  std::vector<double> channel_sums_;  // per-channel accumulators, grown once per width
};

}  // namespace stride::cpu
