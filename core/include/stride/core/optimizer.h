// Optimizers over a model's trainable parameters: SGD (momentum, Nesterov),
// Adam and AdamW, with weight decay on kernels and optional gradient clipping
// by global norm. Slots (moments, velocities) are arenas the size of the
// model's parameter arena, allocated once at construction, so freezing and
// unfreezing keep them and a step allocates nothing. A step is one backend
// call over the trainable segments of the arena (two with clipping), with no
// host synchronisation: the gradient norm stays on the device. The formulas
// are PyTorch's (see backend.h).
#pragma once

#include <string>
#include <vector>

#include "stride/core/model.h"

namespace stride {

struct OptimizerConfig {
  std::string kind = "adam";  // adam | adamw | sgd
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float epsilon = 1e-7f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;
  float clip_norm = 0.0f;  // > 0: scale gradients so their global L2 norm is at most this
};

// One optimizer slot, for checkpoints.
struct SlotEntry {
  std::string layer;      // "03_conv2d"
  std::string parameter;  // "kernel"
  std::string slot;       // "m", "v", "velocity"
  Tensor* tensor;
};

class Optimizer {
 public:
  Optimizer(const OptimizerConfig& config, Model& model);

  // One update of every trainable parameter with learning rate lr.
  void step(float lr);
  // The global gradient norm before clipping of the last step, on the device
  // (f32 [1]); written only when clipping is on.
  const Tensor& gradient_norm() const { return norm_; }

  int64_t steps() const { return steps_; }
  void set_steps(int64_t steps) { steps_ = steps; }
  const OptimizerConfig& config() const { return config_; }
  Backend& backend() { return backend_; }
  std::vector<SlotEntry> slots();

 private:
  // A parameter's place in the slot arenas, for checkpoints.
  struct Entry {
    std::string layer;
    Parameter* parameter;
    Tensor first;   // Adam m, SGD velocity (views of first_)
    Tensor second;  // Adam v (a view of second_)
  };

  enum class Kind : uint8_t { adam, adamw, sgd };

  OptimizerConfig config_;
  Kind kind_ = Kind::adam;
  Backend& backend_;
  Model& model_;
  Tensor first_, second_, norm_;
  std::vector<Entry> entries_;
  std::vector<ArenaSegment> segments_;  // reused every step
  int64_t steps_ = 0;
};

}  // namespace stride
