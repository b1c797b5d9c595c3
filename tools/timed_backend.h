// A Backend that times another: every call is forwarded to the wrapped
// backend between two synchronize() calls and its wall time recorded under
// the op and the shapes it ran on, with the floating-point operations
// (convolution, dense) and the bytes of the tensors it touched. `stride bench
// ops` runs real training steps through it, so each op of a model is seen at
// the shapes the model gives it, and a speed change is seen op by op.
#pragma once

#include <chrono>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <vector>

#include "stride/core/backend.h"
#include "stride/core/op_key.h"

namespace stride::tools {

struct OpTiming {
  std::string op;      // "conv_forward"
  std::string shapes;  // "(32, 28, 28, 1) -> (32, 26, 26, 32)"
  int64_t calls = 0;
  double seconds = 0;
  double flops = 0;  // per call
  double bytes = 0;  // per call: tensors read and written
};

class TimedBackend final : public Backend {
 public:
  explicit TimedBackend(Backend& inner) : inner_(inner) {}

  // Timings recorded since the last reset, in first-seen order.
  std::vector<OpTiming> timings() const;
  void reset() { entries_.clear(), index_.clear(); }
  void set_recording(bool on) { recording_ = on; }

  Device device() const override { return inner_.device(); }
  std::string name() const override { return inner_.name(); }
  void* allocate(size_t bytes) override { return inner_.allocate(bytes); }
  void deallocate(void* pointer) noexcept override { inner_.deallocate(pointer); }
  void* allocate_host(size_t bytes) override { return inner_.allocate_host(bytes); }
  void deallocate_host(void* pointer) noexcept override { inner_.deallocate_host(pointer); }
  void copy_from_host(const void* source, Tensor& destination) override;
  void copy_from_host_async(const void* source, Tensor& destination) override;
  void copy_to_host(const Tensor& source, void* destination) override;
  void copy(const Tensor& source, Tensor& destination) override;
  void fill(Tensor& tensor, float value) override;
  void synchronize() override { inner_.synchronize(); }
  void note_external_write() override { inner_.note_external_write(); }
  void* stream() const override { return inner_.stream(); }
  std::unique_ptr<BackendEvent> make_event() override { return inner_.make_event(); }
  BackendCounters counters() const override { return inner_.counters(); }
  size_t micro_batch_bytes() const override { return inner_.micro_batch_bytes(); }

  void conv_forward(const ConvParams& p, const Tensor& x, const Tensor& w, Tensor& y,
                    const Epilogue& epilogue) override;
  void conv_backward_data(const ConvParams& p, const Tensor& dy, const Tensor& w, Tensor& dx, float beta) override;
  void conv_backward_weights(const ConvParams& p, const Tensor& x, const Tensor& dy, Tensor& dw, Tensor& dbias,
                             float beta) override;
  size_t pool_workspace_bytes(const PoolParams& p, const Shape& x, const Shape& y) override {
    return inner_.pool_workspace_bytes(p, x, y);
  }
  void pool_forward(const PoolParams& p, const Tensor& x, Tensor& y, Tensor& workspace) override;
  void pool_backward(const PoolParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, const Tensor& workspace,
                     Tensor& dx) override;
  void activation_forward(const ActivationParams& p, const Tensor& x, Tensor& y) override;
  void activation_backward(const ActivationParams& p, const Tensor& x, const Tensor& y, const Tensor& dy,
                           Tensor& dx) override;
  size_t batchnorm_reserve_bytes(const BatchNormParams& p, const Shape& x) override {
    return inner_.batchnorm_reserve_bytes(p, x);
  }
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
  // Times f() (synchronised on both sides) under op and the tensors' shapes.
  template <typename F>
  void timed(const char* op, std::initializer_list<const Tensor*> tensors, double flops, F&& f);

  Backend& inner_;
  bool recording_ = true;
  std::vector<OpTiming> entries_;
  std::unordered_map<OpKey, size_t, OpKeyHash> index_;
};

}  // namespace stride::tools
