// The concrete layers. Each is built from a spec token (see spec.h) or
// constructed directly (tests). Shapes are per sample: (H, W, C) for images,
// (F) for features. Kernels follow Keras: conv HWIO, dense [in, out],
// glorot-uniform initialised, biases zero.
#pragma once

#include <string>
#include <vector>

#include "stride/common/error.h"
#include "stride/core/layer.h"

namespace stride {

enum class Padding : uint8_t { valid, same };

// Padding before/after along one axis, as TensorFlow/Keras compute it for
// "same" (the extra pixel goes after) or zero for "valid".
struct AxisPadding {
  int64_t before = 0;
  int64_t after = 0;
  int64_t output = 0;
};
AxisPadding axis_padding(Padding padding, int64_t input, int64_t kernel, int64_t stride);

// An activation absorbed by the layer before it (Layer::fuse_activation):
// that layer's forward applies it, and its backward first turns the gradient
// of the activated output into the gradient of its own result (from the
// output alone), in a scratch of the output's size.
class FusedActivation {
 public:
  bool active() const { return active_; }
  const ActivationParams& params() const { return params_; }
  const ActivationParams* get() const { return active_ ? &params_ : nullptr; }
  void set(const ActivationParams& params) {
    params_ = params;
    active_ = true;
  }
  // The next layer applies the derivative (Layer::leave_activation_gradient).
  void leave_to_next() { left_ = true; }
  void reserve(Backend& backend, const Shape& output, int64_t max_batch);
  // dy for the layer's own result: dy itself when nothing is fused, or when
  // the next layer applied the derivative already.
  Tensor unfuse_gradient(Context& ctx, const Tensor& y, const Tensor& dy);

 private:
  ActivationParams params_;
  bool active_ = false;
  bool left_ = false;
  Tensor grad_;
};

class Conv2D final : public Layer {
 public:
  Conv2D(int64_t filters, int64_t kernel_h, int64_t kernel_w, int64_t stride_h = 1, int64_t stride_w = 1,
         Padding padding = Padding::valid, bool use_bias = true);

  std::string kind() const override { return "conv2d"; }
  std::string spec() const override;
  Shape build(const Shape& input) override;
  void init_parameters(Backend& backend, Rng& rng) override;
  void reserve(Backend& backend, int64_t max_batch) override;
  bool fuse_activation(const ActivationParams& activation) override;
  const ActivationParams* fused_activation() const override { return fused_.get(); }
  void leave_activation_gradient() override { fused_.leave_to_next(); }
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  std::vector<Parameter*> parameters() override;
  int64_t flops() const override;

  const ConvParams& params() const { return params_; }

 private:
  int64_t filters_;
  Padding padding_;
  bool use_bias_;
  ConvParams params_;
  Parameter kernel_{"kernel", {}, {}, {}, true, true};
  Parameter bias_{"bias", {}, {}, {}, true, false};
  FusedActivation fused_;
};

class Activation final : public Layer {
 public:
  explicit Activation(ActivationKind kind, float alpha = 0.0f);

  std::string kind() const override;
  std::string spec() const override;
  Shape build(const Shape& input) override;
  bool is_view() const override { return fused_; }
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  int64_t flops() const override { return input_shape_.elements(); }

  const ActivationParams& params() const { return params_; }
  // The layer before applies this activation (see Layer::fuse_activation).
  void set_fused() { fused_ = true; }

 private:
  ActivationParams params_;
  bool fused_ = false;
};

class Pool2D final : public Layer {
 public:
  Pool2D(PoolKind kind, int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
         Padding padding = Padding::valid);

  std::string kind() const override { return params_.kind == PoolKind::max ? "max_pool2d" : "avg_pool2d"; }
  std::string spec() const override;
  Shape build(const Shape& input) override;
  void reserve(Backend& backend, int64_t max_batch) override;
  // Max pooling commutes with a monotonic activation, and picks the same
  // element: the activation's derivative there follows from the pooled output,
  // so it is applied to the pooled gradient (a quarter of the elements for 2x2).
  bool take_activation_gradient(const ActivationParams& activation) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  int64_t flops() const override;

 private:
  PoolParams params_;
  Padding padding_;
  Tensor workspace_;       // max pooling's argmax record, for the largest batch
  bool recorded_ = false;  // the last forward wrote the record (training mode)
  FusedActivation input_activation_;  // the previous layer's activation, whose derivative backward applies
};

// Average over H and W: (H, W, C) -> (C).
class GlobalAvgPool final : public Layer {
 public:
  std::string kind() const override { return "global_avg_pool"; }
  std::string spec() const override { return "gap"; }
  Shape build(const Shape& input) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  int64_t flops() const override { return input_shape_.elements(); }

 private:
  PoolParams params_;
};

// (H, W, C) -> (H*W*C) in NHWC order, Keras' order: a view, no copy.
class Flatten final : public Layer {
 public:
  std::string kind() const override { return "flatten"; }
  std::string spec() const override { return "flatten"; }
  Shape build(const Shape& input) override;
  bool is_view() const override { return true; }
  void forward(Context&, const Tensor&, Tensor&) override {}
  void backward(Context&, const Tensor&, const Tensor&, const Tensor&, Tensor&) override {}
};

class Dense final : public Layer {
 public:
  explicit Dense(int64_t units, bool use_bias = true);

  std::string kind() const override { return "dense"; }
  std::string spec() const override;
  Shape build(const Shape& input) override;
  void init_parameters(Backend& backend, Rng& rng) override;
  void reserve(Backend& backend, int64_t max_batch) override;
  bool fuse_activation(const ActivationParams& activation) override;
  const ActivationParams* fused_activation() const override { return fused_.get(); }
  void leave_activation_gradient() override { fused_.leave_to_next(); }
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  std::vector<Parameter*> parameters() override;
  int64_t flops() const override { return 2 * input_shape_[0] * units_; }

 private:
  int64_t units_;
  bool use_bias_;
  Parameter kernel_{"kernel", {}, {}, {}, true, true};
  Parameter bias_{"bias", {}, {}, {}, true, false};
  FusedActivation fused_;
};

// Inverted dropout in training; the identity in inference.
class Dropout final : public Layer {
 public:
  explicit Dropout(float rate);

  std::string kind() const override { return "dropout"; }
  std::string spec() const override;
  Shape build(const Shape& input) override;
  void reserve(Backend& backend, int64_t max_batch) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;

  float rate() const { return rate_; }

 private:
  float rate_;
  Tensor mask_;
  bool mask_valid_ = false;  // the last forward was in training mode
};

// Batch normalisation over the last axis: (H, W, C) per channel, or (F) per feature.
class BatchNorm final : public Layer {
 public:
  explicit BatchNorm(float momentum = 0.99f, float epsilon = 1e-3f);

  std::string kind() const override { return "batch_norm"; }
  std::string spec() const override;
  Shape build(const Shape& input) override;
  void init_parameters(Backend& backend, Rng& rng) override;
  void reserve(Backend& backend, int64_t max_batch) override;
  // ReLU only: the backends fuse it (oneDNN's fuse_norm_relu, cuDNN's BN_ACTIVATION).
  bool fuse_activation(const ActivationParams& activation) override;
  bool couples_samples() const override { return trainable_; }  // batch statistics in training
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  std::vector<Parameter*> parameters() override;
  std::vector<Buffer*> buffers() override;
  int64_t flops() const override { return 4 * input_shape_.elements(); }

 private:
  // The tensor seen as NHWC (features become 1x1xF).
  Tensor as_nhwc(const Tensor& t) const;
  void backward_synchronised(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx);

  BatchNormParams params_;
  Parameter gamma_{"gamma", {}, {}, {}, true, false};
  Parameter beta_{"beta", {}, {}, {}, true, false};
  Buffer moving_mean_{"moving_mean", {}, {}};
  Buffer moving_variance_{"moving_variance", {}, {}};
  Tensor saved_mean_, saved_var_;
  Tensor reserve_;                       // forward to backward: the fused ReLU's mask
  FusedActivation relu_mask_;            // the paths the backend does not fuse mask dy here first
  Tensor forward_sums_, backward_sums_;  // [2C + 1], synchronised batch norm's cross-replica sums
  Tensor input_grad_scratch_;            // dx when the caller wants none (the backends always write it)
  int64_t max_batch_ = 0;
  bool batch_statistics_ = false;  // the last forward normalised with the batch's statistics
  bool synchronised_ = false;      // ... and they were the global batch's
};

// Two conv-BN-ReLU units with an identity shortcut, or a 1x1 conv + BN
// projection when the stride or channel count changes:
//   y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))
// The first ReLU is fused into bn1, the last one into the addition.
class Residual final : public Layer {
 public:
  explicit Residual(int64_t filters, int64_t stride = 1);

  std::string kind() const override { return "residual"; }
  std::string spec() const override;
  bool couples_samples() const override { return trainable_; }  // its batch norms
  Shape build(const Shape& input) override;
  void init_parameters(Backend& backend, Rng& rng) override;
  void reserve(Backend& backend, int64_t max_batch) override;
  void forward(Context& ctx, const Tensor& x, Tensor& y) override;
  void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) override;
  std::vector<Parameter*> parameters() override;
  std::vector<Buffer*> buffers() override;
  int64_t flops() const override;
  void set_trainable(bool trainable) override;

  bool has_projection() const { return !shortcut_.empty(); }

 private:
  // A chain of sub-layers with an output buffer per layer and a gradient
  // buffer per layer input (the first input's gradient lives in input_grad).
  struct Branch {
    std::vector<LayerPtr> layers;
    std::vector<Tensor> outputs;      // per layer, [max_batch, ...] (undefined for views)
    std::vector<Tensor> input_grads;  // per layer input, [max_batch, ...]
    std::vector<Tensor> current;      // the last forward's output per layer
    bool empty() const { return layers.empty(); }
  };
  void forward_branch(Context& ctx, Branch& branch, const Tensor& x, int64_t n);
  // Returns the gradient for the branch input (undefined when not wanted).
  Tensor backward_branch(Context& ctx, Branch& branch, const Tensor& x, const Tensor& dy, bool want_input_grad,
                         int64_t n);

  int64_t filters_;
  int64_t stride_;
  Branch main_;      // conv1, bn1, relu (fused into bn1), conv2, bn2
  Branch shortcut_;  // empty (identity) or conv 1x1, bn
  Tensor sum_grad_;
  ActivationParams out_relu_;  // applied by the addition
};

}  // namespace stride
