// The residual block: a main branch of conv-BN-ReLU-conv-BN and a shortcut
// (identity, or 1x1 conv + BN when the shape changes), summed and rectified.
// Sub-layer parameters are named "conv1/kernel", "bn1/gamma", "proj_conv/kernel".
#include <fmt/format.h>

#include "stride/core/layers.h"

namespace stride {
namespace {

void prefix_names(Layer& layer, const std::string& prefix) {
  for (Parameter* p : layer.parameters()) p->name = prefix + "/" + p->name;
  for (Buffer* b : layer.buffers()) b->name = prefix + "/" + b->name;
}

}  // namespace

Residual::Residual(int64_t filters, int64_t stride) : filters_(filters), stride_(stride) {
  if (filters <= 0 || stride <= 0) fail<ConfigError>("residual: filters and stride must be positive");
}

std::string Residual::spec() const {
  return stride_ == 1 ? fmt::format("residual({})", filters_) : fmt::format("residual({},stride={})", filters_, stride_);
}

Shape Residual::build(const Shape& input) {
  if (input.rank() != 3) fail<ShapeError>("residual expects an (H, W, C) input, got {}", input.str());
  input_shape_ = input;
  main_ = Branch{};
  shortcut_ = Branch{};
  main_.layers.push_back(std::make_unique<Conv2D>(filters_, 3, 3, stride_, stride_, Padding::same, false));
  main_.layers.push_back(std::make_unique<BatchNorm>());
  main_.layers.push_back(std::make_unique<Activation>(ActivationKind::relu));
  main_.layers.push_back(std::make_unique<Conv2D>(filters_, 3, 3, 1, 1, Padding::same, false));
  main_.layers.push_back(std::make_unique<BatchNorm>());
  if (stride_ != 1 || input[2] != filters_) {
    shortcut_.layers.push_back(std::make_unique<Conv2D>(filters_, 1, 1, stride_, stride_, Padding::same, false));
    shortcut_.layers.push_back(std::make_unique<BatchNorm>());
  }
  Shape shape = input;
  for (auto& layer : main_.layers) shape = layer->build(shape);
  output_shape_ = shape;
  Shape projected = input;
  for (auto& layer : shortcut_.layers) projected = layer->build(projected);
  if (!shortcut_.empty() && projected != output_shape_)
    fail<ShapeError>("residual: shortcut {} does not match {}", projected.str(), output_shape_.str());
  out_relu_.build(output_shape_);

  const char* main_names[] = {"conv1", "bn1", "relu1", "conv2", "bn2"};
  for (size_t i = 0; i < main_.layers.size(); ++i) prefix_names(*main_.layers[i], main_names[i]);
  if (!shortcut_.empty()) {
    prefix_names(*shortcut_.layers[0], "proj_conv");
    prefix_names(*shortcut_.layers[1], "proj_bn");
  }
  return output_shape_;
}

void Residual::init_parameters(Backend& backend, Rng& rng) {
  for (auto& layer : main_.layers) layer->init_parameters(backend, rng);
  for (auto& layer : shortcut_.layers) layer->init_parameters(backend, rng);
}

void Residual::reserve(Backend& backend, int64_t max_batch) {
  for (Branch* branch : {&main_, &shortcut_}) {
    branch->outputs.clear();
    branch->input_grads.clear();
    for (auto& layer : branch->layers) {
      layer->reserve(backend, max_batch);
      branch->outputs.emplace_back(backend, layer->output_shape().with_batch(max_batch));
      branch->input_grads.emplace_back(backend, layer->input_shape().with_batch(max_batch));
    }
  }
  sum_ = Tensor(backend, output_shape_.with_batch(max_batch));
  sum_grad_ = Tensor(backend, output_shape_.with_batch(max_batch));
}

void Residual::forward_branch(Context& ctx, Branch& branch, const Tensor& x, int64_t n) {
  Tensor in = x;
  for (size_t j = 0; j < branch.layers.size(); ++j) {
    Tensor out = branch.outputs[j].batch_prefix(n);
    branch.layers[j]->forward(ctx, in, out);
    in = out;
  }
}

Tensor Residual::backward_branch(Context& ctx, Branch& branch, const Tensor& x, const Tensor& dy,
                                 bool want_input_grad, int64_t n) {
  Tensor grad = dy;
  for (size_t j = branch.layers.size(); j-- > 0;) {
    const Tensor in = j == 0 ? x : branch.outputs[j - 1].batch_prefix(n);
    Tensor input_grad = (j > 0 || want_input_grad) ? branch.input_grads[j].batch_prefix(n) : Tensor();
    branch.layers[j]->backward(ctx, in, branch.outputs[j].batch_prefix(n), grad, input_grad);
    grad = input_grad;
  }
  return grad;
}

void Residual::forward(Context& ctx, const Tensor& x, Tensor& y) {
  const int64_t n = x.dim(0);
  forward_branch(ctx, main_, x, n);
  Tensor sum = sum_.batch_prefix(n);
  if (shortcut_.empty()) {
    ctx.backend.add(main_.outputs.back().batch_prefix(n), x, sum);
  } else {
    forward_branch(ctx, shortcut_, x, n);
    ctx.backend.add(main_.outputs.back().batch_prefix(n), shortcut_.outputs.back().batch_prefix(n), sum);
  }
  out_relu_.forward(ctx, sum, y);
}

void Residual::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  const int64_t n = x.dim(0);
  Tensor sum_grad = sum_grad_.batch_prefix(n);
  out_relu_.backward(ctx, sum_.batch_prefix(n), y, dy, sum_grad);
  const bool want = dx.defined();
  const Tensor main_grad = backward_branch(ctx, main_, x, sum_grad, want, n);
  const Tensor shortcut_grad = shortcut_.empty() ? sum_grad : backward_branch(ctx, shortcut_, x, sum_grad, want, n);
  if (want) ctx.backend.add(main_grad, shortcut_grad, dx);
}

std::vector<Parameter*> Residual::parameters() {
  std::vector<Parameter*> out;
  for (Branch* branch : {&main_, &shortcut_})
    for (auto& layer : branch->layers)
      for (Parameter* p : layer->parameters()) out.push_back(p);
  return out;
}

std::vector<Buffer*> Residual::buffers() {
  std::vector<Buffer*> out;
  for (Branch* branch : {&main_, &shortcut_})
    for (auto& layer : branch->layers)
      for (Buffer* b : layer->buffers()) out.push_back(b);
  return out;
}

void Residual::set_trainable(bool trainable) {
  trainable_ = trainable;
  for (Branch* branch : {&main_, &shortcut_})
    for (auto& layer : branch->layers) layer->set_trainable(trainable);
}

int64_t Residual::flops() const {
  int64_t total = 2 * output_shape_.elements();  // add + relu
  for (const Branch* branch : {&main_, &shortcut_})
    for (const auto& layer : branch->layers) total += layer->flops();
  return total;
}

}  // namespace stride
