// Layer basics shared by all layers: padding arithmetic, initialisers, freezing.
#include <cmath>
#include <vector>

#include "init.h"
#include "stride/core/layers.h"

namespace stride {

AxisPadding axis_padding(Padding padding, int64_t input, int64_t kernel, int64_t stride) {
  AxisPadding out;
  if (padding == Padding::valid) {
    out.output = window_output_size(input, kernel, stride, 0, 0);
    return out;
  }
  out.output = (input + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out.output - 1) * stride + kernel - input, 0);
  out.before = total / 2;
  out.after = total - out.before;
  return out;
}

void Layer::set_trainable(bool trainable) {
  trainable_ = trainable;
  for (Parameter* p : parameters()) p->trainable = trainable;
}

void init_glorot_uniform(Backend& backend, Tensor& tensor, int64_t fan_in, int64_t fan_out, Rng& rng) {
  const float limit = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
  std::vector<float> values(static_cast<size_t>(tensor.elements()));
  for (float& v : values) v = rng.uniform(-limit, limit);
  backend.copy_from_host(values.data(), tensor);
}

void init_constant(Backend& backend, Tensor& tensor, float value) { backend.fill(tensor, value); }

void allocate_parameter(Backend& backend, Parameter& parameter) {
  if (parameter.shape.rank() == 0) fail<ShapeError>("parameter '{}' has no shape (build the layer first)", parameter.name);
  if (parameter.value.defined() && parameter.value.shape() == parameter.shape && parameter.grad.defined()) return;
  parameter.value = Tensor(backend, parameter.shape);
  parameter.grad = Tensor(backend, parameter.shape);
  backend.fill(parameter.grad, 0.0f);
}

void FusedActivation::reserve(Backend& backend, const Shape& output, int64_t max_batch) {
  if (active_ && !left_) grad_ = Tensor(backend, output.with_batch(max_batch));
}

Tensor FusedActivation::unfuse_gradient(Context& ctx, const Tensor& y, const Tensor& dy) {
  if (!active_ || left_) return dy;
  Tensor grad = grad_.batch_prefix(dy.dim(0)).view(dy.shape());
  ctx.backend.activation_backward(params_, Tensor(), y, dy, grad);
  return grad;
}

}  // namespace stride
