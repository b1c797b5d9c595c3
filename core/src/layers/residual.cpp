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
  auto& relu1 = static_cast<Activation&>(*main_.layers[2]);
  if (main_.layers[1]->fuse_activation(relu1.params())) relu1.set_fused();

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
    branch->current.assign(branch->layers.size(), Tensor());
    for (auto& layer : branch->layers) {
      layer->reserve(backend, max_batch);
      const bool view = layer->is_view();
      branch->outputs.push_back(view ? Tensor() : Tensor(backend, layer->output_shape().with_batch(max_batch)));
      branch->input_grads.push_back(view ? Tensor() : Tensor(backend, layer->input_shape().with_batch(max_batch)));
    }
  }
  sum_grad_ = Tensor(backend, output_shape_.with_batch(max_batch));
}

void Residual::forward_branch(Context& ctx, Branch& branch, const Tensor& x, int64_t n) {
  const Tensor* in = &x;
  for (size_t j = 0; j < branch.layers.size(); ++j) {
    Layer& layer = *branch.layers[j];
    if (layer.is_view()) {
      branch.current[j] = in->view(layer.output_shape().with_batch(n));
    } else {
      branch.current[j] = branch.outputs[j].batch_prefix(n);
      layer.forward(ctx, *in, branch.current[j]);
    }
    in = &branch.current[j];
  }
}

Tensor Residual::backward_branch(Context& ctx, Branch& branch, const Tensor& x, const Tensor& dy,
                                 bool want_input_grad, int64_t n) {
  Tensor grad = dy;
  for (size_t j = branch.layers.size(); j-- > 0;) {
    Layer& layer = *branch.layers[j];
    if (layer.is_view()) {
      grad = grad.view(layer.input_shape().with_batch(n));
      continue;
    }
    const Tensor& in = j == 0 ? x : branch.current[j - 1];
    Tensor input_grad = (j > 0 || want_input_grad) ? branch.input_grads[j].batch_prefix(n) : Tensor();
    layer.backward(ctx, in, branch.current[j], grad, input_grad);
    grad = input_grad;
  }
  return grad;
}

void Residual::forward(Context& ctx, const Tensor& x, Tensor& y) {
  const int64_t n = x.dim(0);
  forward_branch(ctx, main_, x, n);
  if (!shortcut_.empty()) forward_branch(ctx, shortcut_, x, n);
  const Tensor& shortcut = shortcut_.empty() ? x : shortcut_.current.back();
  ctx.backend.add(main_.current.back(), shortcut, y, &out_relu_);
}

void Residual::backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  const int64_t n = x.dim(0);
  Tensor sum_grad = sum_grad_.batch_prefix(n);
  ctx.backend.activation_backward(out_relu_, Tensor(), y, dy, sum_grad);  // relu of the sum, from its output
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
