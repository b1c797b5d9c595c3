// Conv2D and Dense: the layers with kernels. Backward writes the kernel and
// bias gradients only while trainable, and the input gradient only when asked.
// Both take the bias, and an activation fused after them, as the backend
// call's epilogue.
#include <fmt/format.h>

#include "init.h"
#include "stride/core/layers.h"

namespace stride {

Conv2D::Conv2D(int64_t filters, int64_t kernel_h, int64_t kernel_w, int64_t stride_h, int64_t stride_w,
               Padding padding, bool use_bias)
    : filters_(filters), padding_(padding), use_bias_(use_bias) {
  if (filters <= 0 || kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 || stride_w <= 0)
    fail<ConfigError>("conv: filters, kernel and stride must be positive");
  params_.kernel_h = kernel_h;
  params_.kernel_w = kernel_w;
  params_.stride_h = stride_h;
  params_.stride_w = stride_w;
}

std::string Conv2D::spec() const {
  std::string kernel = params_.kernel_h == params_.kernel_w
                           ? fmt::format("{}", params_.kernel_h)
                           : fmt::format("{}x{}", params_.kernel_h, params_.kernel_w);
  std::string out = fmt::format("conv({},{}", filters_, kernel);
  if (params_.stride_h != 1 || params_.stride_w != 1)
    out += params_.stride_h == params_.stride_w ? fmt::format(",stride={}", params_.stride_h)
                                                : fmt::format(",stride={}x{}", params_.stride_h, params_.stride_w);
  if (padding_ == Padding::same) out += ",padding=same";
  if (!use_bias_) out += ",bias=false";
  return out + ")";
}

Shape Conv2D::build(const Shape& input) {
  if (input.rank() != 3) fail<ShapeError>("conv expects an (H, W, C) input, got {}", input.str());
  const AxisPadding h = axis_padding(padding_, input[0], params_.kernel_h, params_.stride_h);
  const AxisPadding w = axis_padding(padding_, input[1], params_.kernel_w, params_.stride_w);
  if (h.output <= 0 || w.output <= 0)
    fail<ShapeError>("{}: kernel larger than its input {}", spec(), input.str());
  params_.pad_top = h.before;
  params_.pad_bottom = h.after;
  params_.pad_left = w.before;
  params_.pad_right = w.after;
  input_shape_ = input;
  output_shape_ = Shape{h.output, w.output, filters_};
  kernel_.shape = Shape{params_.kernel_h, params_.kernel_w, input[2], filters_};
  if (use_bias_) bias_.shape = Shape{filters_};
  return output_shape_;
}

void Conv2D::init_parameters(Backend& backend, Rng& rng) {
  const int64_t in = input_shape_[2];
  allocate_parameter(backend, kernel_);
  const int64_t receptive = params_.kernel_h * params_.kernel_w;
  init_glorot_uniform(backend, kernel_.value, receptive * in, receptive * filters_, rng);
  if (use_bias_) {
    allocate_parameter(backend, bias_);
    init_constant(backend, bias_.value, 0.0f);
  }
}

void Conv2D::reserve(Backend& backend, int64_t max_batch) { fused_.reserve(backend, output_shape_, max_batch); }

// Any activation whose backward the output alone determines (a slope >= 0).
bool Conv2D::fuse_activation(const ActivationParams& activation) {
  if (activation.alpha < 0 || fused_.active()) return false;
  fused_.set(activation);
  return true;
}

namespace {

Epilogue epilogue_of(const Parameter& bias, bool use_bias, const FusedActivation& fused) {
  Epilogue e;
  if (use_bias) e.bias = &bias.value;
  e.activate = fused.active();
  e.activation = fused.params();
  return e;
}

}  // namespace

void Conv2D::forward(Context& ctx, const Tensor& x, Tensor& y) {
  ctx.backend.conv_forward(params_, x, kernel_.value, y, epilogue_of(bias_, use_bias_, fused_));
}

void Conv2D::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  const Tensor grad = fused_.unfuse_gradient(ctx, y, dy);
  if (kernel_.trainable) {
    Tensor no_bias;
    ctx.backend.conv_backward_weights(params_, x, grad, kernel_.grad, use_bias_ ? bias_.grad : no_bias,
                                      ctx.accumulate_gradients ? 1.0f : 0.0f);
  }
  if (dx.defined()) ctx.backend.conv_backward_data(params_, grad, kernel_.value, dx);
}

std::vector<Parameter*> Conv2D::parameters() {
  if (use_bias_) return {&kernel_, &bias_};
  return {&kernel_};
}

int64_t Conv2D::flops() const {
  return 2 * output_shape_.elements() * params_.kernel_h * params_.kernel_w * input_shape_[2];
}

Dense::Dense(int64_t units, bool use_bias) : units_(units), use_bias_(use_bias) {
  if (units <= 0) fail<ConfigError>("dense: units must be positive, got {}", units);
}

std::string Dense::spec() const { return use_bias_ ? fmt::format("dense({})", units_) : fmt::format("dense({},bias=false)", units_); }

Shape Dense::build(const Shape& input) {
  if (input.rank() != 1)
    fail<ShapeError>("dense expects a flat (F) input, got {} (add flatten or gap before it)", input.str());
  input_shape_ = input;
  output_shape_ = Shape{units_};
  kernel_.shape = Shape{input[0], units_};
  if (use_bias_) bias_.shape = Shape{units_};
  return output_shape_;
}

void Dense::init_parameters(Backend& backend, Rng& rng) {
  allocate_parameter(backend, kernel_);
  init_glorot_uniform(backend, kernel_.value, input_shape_[0], units_, rng);
  if (use_bias_) {
    allocate_parameter(backend, bias_);
    init_constant(backend, bias_.value, 0.0f);
  }
}

void Dense::reserve(Backend& backend, int64_t max_batch) { fused_.reserve(backend, output_shape_, max_batch); }

bool Dense::fuse_activation(const ActivationParams& activation) {
  if (activation.alpha < 0 || fused_.active()) return false;
  fused_.set(activation);
  return true;
}

void Dense::forward(Context& ctx, const Tensor& x, Tensor& y) {
  ctx.backend.dense_forward(x, kernel_.value, y, epilogue_of(bias_, use_bias_, fused_));
}

void Dense::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  const Tensor grad = fused_.unfuse_gradient(ctx, y, dy);
  if (kernel_.trainable) {
    Tensor no_bias;
    ctx.backend.dense_backward_weights(x, grad, kernel_.grad, use_bias_ ? bias_.grad : no_bias,
                                       ctx.accumulate_gradients ? 1.0f : 0.0f);
  }
  if (dx.defined()) ctx.backend.dense_backward_data(grad, kernel_.value, dx);
}

std::vector<Parameter*> Dense::parameters() {
  if (use_bias_) return {&kernel_, &bias_};
  return {&kernel_};
}

}  // namespace stride
