// One training step, written once and used by the trainer and `stride bench
// train`: forward, loss, backward with the gradient buckets all-reduced as
// layers finish, the optimizer's update (with clipping), and the step's loss
// and accuracy added to device-side totals.
//
// Micro-batches: when the backend computes fastest on activations that stay
// in its caches (Backend::micro_batch_bytes) and no layer mixes samples (batch
// norm's statistics), a large batch runs forward and backward in pieces, the
// weight gradients accumulating across them. Every piece's loss is scaled by
// the whole (global) batch, dropout numbers elements by their place in it,
// and the buckets start on the last piece: the step computes what the whole
// batch at once would, up to the order of floating-point sums. Nothing in a step reads the
// device back or allocates: totals are read by read_totals(), once per epoch
// (and every few dozen steps for a progress bar).
#pragma once

#include <cstdint>

#include "stride/core/layer.h"
#include "stride/core/loss.h"
#include "stride/core/model.h"
#include "stride/core/optimizer.h"

namespace stride {
class GradientSync;
}

namespace stride::tools {

struct StepTotals {
  double loss_sum = 0;
  int64_t correct = 0;
  int64_t count = 0;
};

class TrainStep {
 public:
  // sync may be null (one rank); it can be replaced when the trainable set changes.
  TrainStep(Model& model, Optimizer& optimizer, SoftmaxCrossEntropy& loss, GradientSync* sync);

  // One step on a batch already on the device: images [n, ...], labels [n] i32,
  // global_batch the images of this step over every rank (the loss scale).
  void run(Context& ctx, const Tensor& images, const Tensor& labels, int64_t global_batch, float lr);
  void set_sync(GradientSync* sync) { sync_ = sync; }
  // The micro-batch size in activation bytes (default: the backend's; 0 runs whole batches).
  void set_micro_batch_bytes(size_t bytes) { micro_batch_bytes_ = bytes; }

  // The loss sum, correct count and images of this rank's steps since the last
  // reset; reads the device (waits for it), so call it rarely.
  StepTotals read_totals();
  void reset_totals();

 private:
  Model& model_;
  Optimizer& optimizer_;
  SoftmaxCrossEntropy& loss_;
  GradientSync* sync_;
  size_t micro_batch_bytes_;
  Tensor totals_;  // f64 [2]: loss sum, correct
  Tensor no_confusion_;
  int64_t count_ = 0;
};

}  // namespace stride::tools
