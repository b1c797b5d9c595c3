// Elementwise layers: activations (ReLU, leaky ReLU, ELU) and dropout.
#include <fmt/format.h>

#include "stride/common/rng.h"
#include "stride/core/layers.h"

namespace stride {

Activation::Activation(ActivationKind kind, float alpha) {
  params_.kind = kind;
  params_.alpha = kind == ActivationKind::relu ? 0.0f : alpha;
}

std::string Activation::kind() const {
  switch (params_.kind) {
    case ActivationKind::relu: return "relu";
    case ActivationKind::leaky_relu: return "leaky_relu";
    case ActivationKind::elu: return "elu";
  }
  return "activation";
}

std::string Activation::spec() const {
  if (params_.kind == ActivationKind::relu) return "relu";
  return fmt::format("{}({:g})", kind(), params_.alpha);
}

Shape Activation::build(const Shape& input) {
  input_shape_ = output_shape_ = input;
  return output_shape_;
}

void Activation::forward(Context& ctx, const Tensor& x, Tensor& y) {
  if (fused_) fail<Error>("{}: fused into the layer before it, runs as a view", spec());
  ctx.backend.activation_forward(params_, x, y);
}

void Activation::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  if (dx.defined()) ctx.backend.activation_backward(params_, x, y, dy, dx);
}

Dropout::Dropout(float rate) : rate_(rate) {
  if (!(rate >= 0.0f && rate < 1.0f)) fail<ConfigError>("dropout: rate must be in [0, 1), got {}", rate);
}

std::string Dropout::spec() const { return fmt::format("dropout({:g})", rate_); }

Shape Dropout::build(const Shape& input) {
  input_shape_ = output_shape_ = input;
  return output_shape_;
}

void Dropout::reserve(Backend& backend, int64_t max_batch) { mask_ = Tensor(backend, input_shape_.with_batch(max_batch)); }

void Dropout::forward(Context& ctx, const Tensor& x, Tensor& y) {
  mask_valid_ = ctx.mode == Mode::training && rate_ > 0.0f;
  if (!mask_valid_) {
    ctx.backend.copy(x, y);
    return;
  }
  const uint64_t key = mix_key(mix_key(ctx.seed, ctx.step), static_cast<uint64_t>(ctx.layer));
  const uint64_t offset = static_cast<uint64_t>(ctx.sample_offset) * static_cast<uint64_t>(input_shape_.elements());
  Tensor mask = mask_.batch_prefix(x.dim(0));
  ctx.backend.dropout_forward(rate_, key, offset, x, y, mask);
}

void Dropout::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  (void)x, (void)y;
  if (!dx.defined()) return;
  if (mask_valid_)
    ctx.backend.multiply(dy, mask_.batch_prefix(dy.dim(0)), dx);
  else
    ctx.backend.copy(dy, dx);
}

}  // namespace stride
