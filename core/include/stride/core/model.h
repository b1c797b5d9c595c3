// A sequential model: layers built for a per-sample input shape, with the
// activation and gradient buffers for batches up to a maximum size allocated
// once (reserve), so forward and backward allocate nothing. Layers are named
// "03_conv2d" (index, kind): checkpoint groups and summaries use these names.
//
// Parameters live in one arena: every value in one flat tensor and every
// gradient in another, in layer order, each parameter 64-byte aligned (the
// gaps stay zero). Optimizers update the arena in one call; gradient buckets
// are views of it.
//
// The execution plan, fixed at the first reserve(): an activation that follows
// a layer able to apply it (Layer::fuse_activation) runs inside that layer's
// backend call and becomes a view.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "stride/core/layer.h"

namespace stride {

struct LayerSummary {
  std::string name;  // "03_conv2d"
  std::string spec;  // "conv(64,3)"
  Shape output;      // per sample
  int64_t trainable_parameters = 0;
  int64_t non_trainable_parameters = 0;  // frozen weights and BN moving statistics
  int64_t flops = 0;                     // forward, per sample
};

// A tensor a checkpoint saves: parameters and buffers, by layer and name.
struct StateEntry {
  std::string layer;  // "03_conv2d"
  std::string name;   // "kernel", "conv1/kernel", "moving_mean"
  Tensor* tensor;
};

// Where each parameter sits in the arena.
struct ArenaEntry {
  size_t layer = 0;
  Parameter* parameter = nullptr;
  int64_t offset = 0;  // elements
};

struct ParameterArena {
  Tensor values;                    // flat f32 [size]
  Tensor grads;                     // flat f32 [size]
  std::vector<ArenaEntry> entries;  // layer order
  int64_t size() const { return values.defined() ? values.elements() : 0; }
  // The trainable parameters as segments (runs with the same decay flag merged,
  // gaps between them included), appended to `out` (cleared first).
  void trainable_segments(std::vector<ArenaSegment>& out) const;
};

class Model {
 public:
  Model(const Shape& input, std::vector<LayerPtr> layers);
  static Model from_spec(const std::string& spec, const Shape& input);

  Model(Model&&) noexcept = default;
  Model& operator=(Model&&) noexcept = default;

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return layers_.back()->output_shape(); }
  std::string spec() const;
  size_t size() const { return layers_.size(); }
  Layer& layer(size_t i) { return *layers_.at(i); }
  std::string layer_name(size_t i) const;

  // Allocates the parameter arena on the backend, initialised from the seed.
  void init(Backend& backend, uint64_t seed);
  const ParameterArena& arena() const { return arena_; }
  ParameterArena& arena() { return arena_; }
  // Allocates activations, gradients and layer scratch for batches of up to max_batch.
  void reserve(int64_t max_batch);
  int64_t max_batch() const { return max_batch_; }
  Backend& backend() const;

  // x: [n, input...] with n <= max_batch. Returns the output (logits) [n, classes].
  const Tensor& forward(Context& ctx, const Tensor& x);
  // Backpropagates dlogits ([n, classes]) through the last forward. Calls
  // on_layer_done(i) as soon as layer i's parameter gradients are final, in
  // reverse layer order, so gradient all-reduce can start while backward goes on.
  void backward(Context& ctx, const Tensor& dlogits, const std::function<void(size_t)>& on_layer_done = nullptr);

  std::vector<Parameter*> parameters();
  std::vector<Parameter*> trainable_parameters();
  // Parameters of one layer (for per-layer gradient buckets).
  std::vector<Parameter*> layer_parameters(size_t i) { return layers_.at(i)->parameters(); }
  std::vector<StateEntry> state();

  // Counts come from the shapes build() set: no init() needed, nothing allocated.
  std::vector<LayerSummary> summary();

  // Bytes init() (parameter values and gradients, arena-aligned) and
  // reserve(batch) (layer outputs and input gradients) allocate at least,
  // from the shapes alone and in checked 64-bit arithmetic: a size that
  // overflows is a ConfigError naming the layer. Callers compare it with the
  // machine's memory before allocating anything.
  struct Memory {
    int64_t parameter_bytes = 0;
    int64_t activation_bytes = 0;
    int64_t parameters = 0;  // arena elements
  };
  Memory memory_needed(int64_t batch) const;
  int64_t parameter_count();
  int64_t trainable_parameter_count();

  // Freezes layers [0, n) and unfreezes the rest.
  void freeze_first(size_t n);

  // True when every sample's output depends on that sample alone (no
  // training-mode batch statistics), so a batch may run in micro-batches.
  bool samples_independent() const;
  // The largest activation (layer output) of one sample, in bytes.
  int64_t largest_activation_bytes() const;
  // Rows per micro-batch of a batch of n whose largest activation should fit
  // in `bytes` (Backend::micro_batch_bytes): equal pieces, the last perhaps
  // shorter; n itself when bytes is 0, or in training when samples are not
  // independent (inference never mixes them: batch norm uses its running
  // statistics).
  int64_t micro_batch_rows(int64_t n, size_t bytes, Mode mode) const;

 private:
  Shape input_shape_;
  std::vector<LayerPtr> layers_;
  Backend* backend_ = nullptr;
  int64_t max_batch_ = 0;
  std::vector<Tensor> outputs_;      // per layer, [max_batch, output] (undefined for view layers)
  std::vector<Tensor> input_grads_;  // per layer, [max_batch, input] (undefined when never needed)
  std::vector<Tensor> current_;      // per layer output of the last forward (views)
  Tensor input_;                     // the last forward's input
  ParameterArena arena_;
  bool planned_ = false;
};

}  // namespace stride
