// The sequential model: building, buffers, forward and backward.
#include "stride/core/model.h"

#include <fmt/format.h>

#include <algorithm>

#include "stride/common/error.h"
#include "stride/common/memory.h"
#include "stride/core/layers.h"
#include "stride/core/spec.h"

namespace stride {

Model::Model(const Shape& input, std::vector<LayerPtr> layers) : input_shape_(input), layers_(std::move(layers)) {
  if (layers_.empty()) fail<ConfigError>("a model needs at least one layer");
  Shape shape = input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    try {
      shape = layers_[i]->build(shape);
    } catch (const ShapeError& e) {
      fail<ConfigError>("model.layers: layer {} '{}': {}", i + 1, layers_[i]->spec(), e.what());
    }
  }
  if (shape.rank() != 1)
    fail<ConfigError>("model.layers: the model must end in a flat (classes) output, got {} (add flatten or gap)",
                      shape.str());
}

Model Model::from_spec(const std::string& spec, const Shape& input) { return Model(input, parse_layers(spec)); }

std::string Model::spec() const {
  std::string out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (i) out += ' ';
    out += layers_[i]->spec();
  }
  return out;
}

std::string Model::layer_name(size_t i) const { return fmt::format("{:02}_{}", i, layers_.at(i)->kind()); }

Backend& Model::backend() const {
  if (backend_ == nullptr) fail<Error>("the model has no backend yet (call init)");
  return *backend_;
}

namespace {

// 16 floats: a cache line, an AVX-512 register, and cuBLAS's preferred alignment.
constexpr int64_t kArenaAlignment = 16;

}  // namespace

void ParameterArena::trainable_segments(std::vector<ArenaSegment>& out) const {
  out.clear();
  for (const ArenaEntry& e : entries) {
    const Parameter& p = *e.parameter;
    if (!p.trainable) continue;
    const int64_t count = p.shape.elements();
    if (!out.empty() && out.back().decay == p.decay) {
      out.back().count = e.offset + count - out.back().offset;  // the zero gap before it joins too
    } else {
      out.push_back({e.offset, count, p.decay});
    }
  }
}

void Model::init(Backend& backend, uint64_t seed) {
  require_memory(memory_needed(0).parameter_bytes, "model.layers: the parameters' values and gradients");
  backend_ = &backend;
  arena_ = ParameterArena{};
  int64_t size = 0;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (Parameter* p : layers_[i]->parameters()) {
      if (p->shape.rank() == 0) fail<ShapeError>("layer {}: parameter '{}' has no shape", layer_name(i), p->name);
      arena_.entries.push_back({i, p, size});
      size += (p->shape.elements() + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment;
    }
  }
  if (size > 0) {
    arena_.values = Tensor(backend, Shape{size});
    arena_.grads = Tensor(backend, Shape{size});
    backend.fill(arena_.values, 0.0f);
    backend.fill(arena_.grads, 0.0f);
    for (const ArenaEntry& e : arena_.entries) {
      e.parameter->value = arena_.values.slice(e.offset, e.parameter->shape);
      e.parameter->grad = arena_.grads.slice(e.offset, e.parameter->shape);
    }
  }
  // One stream for all initialisers, in layer order: the same seed gives the same weights.
  Rng rng(seed, /*stream=*/0x1417);
  for (auto& layer : layers_) layer->init_parameters(backend, rng);
  max_batch_ = 0;
}

void Model::reserve(int64_t max_batch) {
  Backend& be = backend();
  if (max_batch <= max_batch_) return;
  require_memory(memory_needed(max_batch).activation_bytes,
                 fmt::format("model.layers: the activations for batches of {}", max_batch));
  if (!planned_) {
    // Fuse each activation into the layer before it where that layer can apply it.
    for (size_t i = 1; i < layers_.size(); ++i) {
      auto* activation = dynamic_cast<Activation*>(layers_[i].get());
      if (activation != nullptr && !layers_[i - 1]->is_view() && layers_[i - 1]->fuse_activation(activation->params()))
        activation->set_fused();
    }
    // A fused activation's derivative moves to the next computing layer when
    // that layer can apply it on its own, smaller gradient (max pooling).
    for (size_t i = 0; i < layers_.size(); ++i) {
      const ActivationParams* fused = layers_[i]->fused_activation();
      if (fused == nullptr) continue;
      size_t next = i + 1;
      while (next < layers_.size() && layers_[next]->is_view() && dynamic_cast<Activation*>(layers_[next].get()))
        ++next;
      if (next < layers_.size() && layers_[next]->take_activation_gradient(*fused))
        layers_[i]->leave_activation_gradient();
    }
    planned_ = true;
  }
  max_batch_ = max_batch;
  outputs_.assign(layers_.size(), Tensor());
  input_grads_.assign(layers_.size(), Tensor());
  current_.assign(layers_.size(), Tensor());
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    layer.reserve(be, max_batch);
    if (!layer.is_view()) outputs_[i] = Tensor(be, layer.output_shape().with_batch(max_batch));
    if (i > 0 && !layer.is_view()) input_grads_[i] = Tensor(be, layer.input_shape().with_batch(max_batch));
  }
}

const Tensor& Model::forward(Context& ctx, const Tensor& x) {
  const int64_t n = x.dim(0);
  if (x.shape().sample() != input_shape_)
    fail<ShapeError>("model input {} does not match the model's {}", x.shape().sample().str(), input_shape_.str());
  if (n > max_batch_) reserve(n);
  input_ = x;
  const Tensor* in = &input_;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    ctx.layer = static_cast<int>(i);
    if (layer.is_view()) {
      current_[i] = in->view(layer.output_shape().with_batch(n));
    } else {
      current_[i] = outputs_[i].batch_prefix(n);
      layer.forward(ctx, *in, current_[i]);
    }
    in = &current_[i];
  }
  return current_.back();
}

void Model::backward(Context& ctx, const Tensor& dlogits, const std::function<void(size_t)>& on_layer_done) {
  const int64_t n = input_.dim(0);
  if (dlogits.shape() != current_.back().shape())
    fail<ShapeError>("output gradient {} does not match the output {}", dlogits.shape().str(),
                     current_.back().shape().str());
  // Layers before the first trainable one need no input gradient (the arena
  // lists parameters in layer order, and allocates nothing to walk).
  size_t first_trainable = layers_.size();
  for (const ArenaEntry& e : arena_.entries) {
    if (e.parameter->trainable) {
      first_trainable = e.layer;
      break;
    }
  }
  Tensor grad = dlogits;
  for (size_t i = layers_.size(); i-- > 0;) {
    if (i < first_trainable) break;
    Layer& layer = *layers_[i];
    ctx.layer = static_cast<int>(i);
    const Tensor& x = i == 0 ? input_ : current_[i - 1];
    if (layer.is_view()) {
      grad = grad.view(layer.input_shape().with_batch(n));
    } else {
      Tensor dx = (i > first_trainable) ? input_grads_[i].batch_prefix(n) : Tensor();
      layer.backward(ctx, x, current_[i], grad, dx);
      grad = dx;
    }
    if (on_layer_done) on_layer_done(i);
  }
}

std::vector<Parameter*> Model::parameters() {
  std::vector<Parameter*> out;
  for (auto& layer : layers_)
    for (Parameter* p : layer->parameters()) out.push_back(p);
  return out;
}

std::vector<Parameter*> Model::trainable_parameters() {
  std::vector<Parameter*> out;
  for (Parameter* p : parameters())
    if (p->trainable) out.push_back(p);
  return out;
}

std::vector<StateEntry> Model::state() {
  std::vector<StateEntry> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (Parameter* p : layers_[i]->parameters()) out.push_back({layer_name(i), p->name, &p->value});
    for (Buffer* b : layers_[i]->buffers()) out.push_back({layer_name(i), b->name, &b->value});
  }
  return out;
}

std::vector<LayerSummary> Model::summary() {
  std::vector<LayerSummary> rows;
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    LayerSummary row;
    row.name = layer_name(i);
    row.spec = layer.spec();
    row.output = layer.output_shape();
    row.flops = layer.flops();
    for (Parameter* p : layer.parameters())
      (p->trainable ? row.trainable_parameters : row.non_trainable_parameters) += p->shape.elements();
    for (Buffer* b : layer.buffers())
      row.non_trainable_parameters += b->value.defined() ? b->value.elements() : b->shape.elements();
    rows.push_back(row);
  }
  return rows;
}

int64_t Model::parameter_count() {
  int64_t total = 0;
  for (const auto& row : summary()) total += row.trainable_parameters + row.non_trainable_parameters;
  return total;
}

int64_t Model::trainable_parameter_count() {
  int64_t total = 0;
  for (const auto& row : summary()) total += row.trainable_parameters;
  return total;
}

namespace {

// Elements of a shape with a batch dimension, checked.
int64_t batch_elements(const Shape& shape, int64_t batch, const std::string& what) {
  int64_t n = batch;
  for (int i = 0; i < shape.rank(); ++i) n = checked_mul(n, shape[i], what);
  return n;
}

}  // namespace

Model::Memory Model::memory_needed(int64_t batch) const {
  Memory m;
  int64_t activations = 0;
  constexpr int64_t kFloat = sizeof(float);
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    const std::string what = fmt::format("model.layers: layer {} '{}'", i + 1, layer.spec());
    for (Parameter* p : layer.parameters()) {
      const int64_t count = batch_elements(p->shape, 1, what);
      const int64_t aligned =
          checked_mul(checked_add(count, kArenaAlignment - 1, what) / kArenaAlignment, kArenaAlignment, what);
      m.parameters = checked_add(m.parameters, aligned, what);
    }
    // An activation after a computing layer is counted as fused into it (a
    // view, as reserve() plans it where the layer can): a lower bound.
    const bool fusable = i > 0 && dynamic_cast<const Activation*>(&layer) != nullptr && !layers_[i - 1]->is_view();
    if (layer.is_view() || fusable) continue;
    activations = checked_add(activations, batch_elements(layer.output_shape(), batch, what), what);
    if (i > 0) activations = checked_add(activations, batch_elements(layer.input_shape(), batch, what), what);
  }
  const std::string what = fmt::format("model '{}'", spec());
  m.parameter_bytes = checked_product({m.parameters, 2, kFloat}, what);
  m.activation_bytes = checked_mul(activations, kFloat, what);
  return m;
}

bool Model::samples_independent() const {
  for (const auto& layer : layers_)
    if (layer->couples_samples()) return false;
  return true;
}

int64_t Model::largest_activation_bytes() const {
  int64_t largest = 0;
  for (const auto& layer : layers_) largest = std::max(largest, layer->output_shape().elements());
  return largest * static_cast<int64_t>(sizeof(float));
}

int64_t Model::micro_batch_rows(int64_t n, size_t bytes, Mode mode) const {
  if (bytes == 0 || n <= 1 || (mode == Mode::training && !samples_independent())) return n;
  const int64_t fits =
      std::max<int64_t>(1, static_cast<int64_t>(bytes) / std::max<int64_t>(1, largest_activation_bytes()));
  const int64_t pieces = (n + fits - 1) / fits;
  return (n + pieces - 1) / pieces;
}

void Model::freeze_first(size_t n) {
  for (size_t i = 0; i < layers_.size(); ++i) layers_[i]->set_trainable(i >= n);
}

}  // namespace stride
