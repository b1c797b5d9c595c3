// Pooling layers: max / average with size, stride and padding; global
// average; flatten (a view).
#include <fmt/format.h>

#include "stride/core/layers.h"

namespace stride {

Pool2D::Pool2D(PoolKind kind, int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               Padding padding)
    : padding_(padding) {
  if (kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 || stride_w <= 0)
    fail<ConfigError>("pool: size and stride must be positive");
  params_.kind = kind;
  params_.kernel_h = kernel_h;
  params_.kernel_w = kernel_w;
  params_.stride_h = stride_h;
  params_.stride_w = stride_w;
}

std::string Pool2D::spec() const {
  std::string out = fmt::format("{}(", params_.kind == PoolKind::max ? "maxpool" : "avgpool");
  out += params_.kernel_h == params_.kernel_w ? fmt::format("{}", params_.kernel_h)
                                              : fmt::format("{}x{}", params_.kernel_h, params_.kernel_w);
  if (params_.stride_h != params_.kernel_h || params_.stride_w != params_.kernel_w)
    out += params_.stride_h == params_.stride_w ? fmt::format(",stride={}", params_.stride_h)
                                                : fmt::format(",stride={}x{}", params_.stride_h, params_.stride_w);
  if (padding_ == Padding::same) out += ",padding=same";
  return out + ")";
}

Shape Pool2D::build(const Shape& input) {
  if (input.rank() != 3) fail<ShapeError>("pool expects an (H, W, C) input, got {}", input.str());
  const AxisPadding h = axis_padding(padding_, input[0], params_.kernel_h, params_.stride_h);
  const AxisPadding w = axis_padding(padding_, input[1], params_.kernel_w, params_.stride_w);
  if (h.output <= 0 || w.output <= 0) fail<ShapeError>("{}: window larger than its input {}", spec(), input.str());
  params_.pad_top = h.before;
  params_.pad_bottom = h.after;
  params_.pad_left = w.before;
  params_.pad_right = w.after;
  input_shape_ = input;
  output_shape_ = Shape{h.output, w.output, input[2]};
  return output_shape_;
}

bool Pool2D::take_activation_gradient(const ActivationParams& activation) {
  if (params_.kind != PoolKind::max || activation.alpha < 0 || input_activation_.active()) return false;
  input_activation_.set(activation);
  return true;
}

void Pool2D::reserve(Backend& backend, int64_t max_batch) {
  input_activation_.reserve(backend, output_shape_, max_batch);
  const size_t bytes =
      backend.pool_workspace_bytes(params_, input_shape_.with_batch(max_batch), output_shape_.with_batch(max_batch));
  workspace_ = bytes > 0 ? Tensor(backend, Shape{static_cast<int64_t>(bytes)}, DType::u8) : Tensor();
}

void Pool2D::forward(Context& ctx, const Tensor& x, Tensor& y) {
  // Inference needs no argmax record.
  recorded_ = ctx.mode == Mode::training;
  Tensor workspace = recorded_ ? workspace_ : Tensor();
  ctx.backend.pool_forward(params_, x, y, workspace);
}

void Pool2D::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  if (!dx.defined()) return;
  if (params_.kind == PoolKind::max && !recorded_) {
    // The last forward kept no argmax record: redo it (same output) recording one,
    // rather than route the gradient through an older batch's maxima.
    Tensor output = y;
    ctx.backend.pool_forward(params_, x, output, workspace_);
    recorded_ = true;
  }
  // The previous layer's activation: its derivative at the element each window
  // picked, from the pooled output (which is that element's activated value).
  const Tensor grad = input_activation_.unfuse_gradient(ctx, y, dy);
  ctx.backend.pool_backward(params_, x, y, grad, workspace_, dx);
}

int64_t Pool2D::flops() const { return output_shape_.elements() * params_.kernel_h * params_.kernel_w; }

Shape GlobalAvgPool::build(const Shape& input) {
  if (input.rank() != 3) fail<ShapeError>("gap expects an (H, W, C) input, got {}", input.str());
  params_.kind = PoolKind::average;
  params_.kernel_h = params_.stride_h = input[0];
  params_.kernel_w = params_.stride_w = input[1];
  input_shape_ = input;
  output_shape_ = Shape{input[2]};
  return output_shape_;
}

void GlobalAvgPool::forward(Context& ctx, const Tensor& x, Tensor& y) {
  Tensor y4 = y.view(Shape{x.dim(0), 1, 1, input_shape_[2]});
  Tensor no_workspace;
  ctx.backend.pool_forward(params_, x, y4, no_workspace);
}

void GlobalAvgPool::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  if (!dx.defined()) return;
  const Shape s4{x.dim(0), 1, 1, input_shape_[2]};
  Tensor no_workspace;
  ctx.backend.pool_backward(params_, x, y.view(s4), dy.view(s4), no_workspace, dx);
}

Shape Flatten::build(const Shape& input) {
  input_shape_ = input;
  output_shape_ = Shape{input.elements()};
  return output_shape_;
}

}  // namespace stride
