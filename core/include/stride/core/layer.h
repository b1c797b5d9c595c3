// The layer interface. A layer is built for a per-sample input shape, owns its
// parameters and the scratch buffers it needs for batches up to a maximum size,
// and runs forward and backward through the backend in the Context it is given.
// Parameter gradients are overwritten by backward (callers never zero them).
//
// Fusion keeps layers separate: a layer that can apply the activation after it
// inside its own backend call (a convolution's epilogue, batch norm's fused
// ReLU) absorbs it (fuse_activation), and the activation layer then runs as a
// view. Layer indices, names and parameters do not change.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "stride/common/rng.h"
#include "stride/core/backend.h"
#include "stride/core/tensor.h"

namespace stride {

enum class Mode : uint8_t { training, inference };

// Sums small tensors (on the backend's device) in place over every replica of
// a data-parallel job. Every replica calls it in the same order; it returns
// when the sum is there. The distributed library implements it over a
// Communicator.
class ReplicaSum {
 public:
  virtual ~ReplicaSum() = default;
  virtual void sum(Tensor& values) = 0;
};

// Everything a forward or backward pass needs besides the tensors.
struct Context {
  Backend& backend;
  Mode mode = Mode::training;
  uint64_t seed = 0;          // dropout masks are Philox(mix(seed, step, layer), global element)
  uint64_t step = 0;          // global optimizer step
  int64_t sample_offset = 0;  // index of this rank's first sample in the global batch
  int layer = 0;              // index of the running layer, set by the model
  // Set: training-mode batch norm normalises with the statistics of the global
  // batch (synchronised batch norm). Null: each replica uses its own batch's.
  ReplicaSum* batch_norm_sync = nullptr;
  // Backward adds to the parameter gradients instead of overwriting them: the
  // micro-batches of one step after the first (TrainStep).
  bool accumulate_gradients = false;
};

struct Parameter {
  std::string name;  // "kernel", "bias", "gamma", "beta"; nested layers prefix "conv1/"
  Tensor value;
  Tensor grad;
  Shape shape;  // set by build(): a model allocates every parameter in one arena before init
  bool trainable = true;
  // Weight decay applies to kernels, not to biases or BN scales (what most recipes want).
  bool decay = true;
};

// Non-trainable state saved with the weights (BN running statistics).
struct Buffer {
  std::string name;
  Tensor value;
  Shape shape;  // set by build(), so a summary can count it without allocating
};

class Layer {
 public:
  virtual ~Layer() = default;

  // Short type name ("conv2d") and the spec token that rebuilds this layer ("conv(32,3)").
  virtual std::string kind() const = 0;
  virtual std::string spec() const = 0;

  // Fixes parameter shapes for a per-sample input shape and returns the output shape.
  virtual Shape build(const Shape& input) = 0;
  // Allocates parameters on the backend and initialises them from rng.
  virtual void init_parameters(Backend& backend, Rng& rng) { (void)backend, (void)rng; }
  // Allocates the scratch this layer needs for batches of up to max_batch samples.
  virtual void reserve(Backend& backend, int64_t max_batch) { (void)backend, (void)max_batch; }

  virtual void forward(Context& ctx, const Tensor& x, Tensor& y) = 0;
  // dx may be undefined (first layer, frozen prefix): then it is not computed.
  virtual void backward(Context& ctx, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) = 0;

  // A layer whose output is its input under another shape (flatten, or an
  // activation fused into the layer before it): the model passes a view and
  // skips forward/backward.
  virtual bool is_view() const { return false; }

  // Asks this layer to apply `activation` to its output itself (forward writes
  // activation(output); backward receives the gradient of the activated
  // output). Returns false when it cannot; call before reserve().
  virtual bool fuse_activation(const ActivationParams& activation) {
    (void)activation;
    return false;
  }
  // The activation this layer applies to its output itself (fused), if any.
  virtual const ActivationParams* fused_activation() const { return nullptr; }
  // The layer after this one multiplies the gradient it hands back by the
  // fused activation's derivative (it can, on a smaller tensor): backward
  // takes that gradient as it is.
  virtual void leave_activation_gradient() {}
  // Asks this layer to multiply the gradient it hands back by the derivative
  // of `activation`, which the layer before applied to this layer's input.
  // Returns false when it cannot; call before reserve().
  virtual bool take_activation_gradient(const ActivationParams& activation) {
    (void)activation;
    return false;
  }

  // True when an output depends on other samples of the batch (batch norm
  // with batch statistics): such a model cannot run a batch in pieces.
  virtual bool couples_samples() const { return false; }

  virtual std::vector<Parameter*> parameters() { return {}; }
  virtual std::vector<Buffer*> buffers() { return {}; }
  // Forward floating-point operations per sample (a multiply-add counts two).
  virtual int64_t flops() const { return 0; }

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }

  // Frozen layers keep their weights; their parameters are not trainable.
  virtual void set_trainable(bool trainable);
  bool trainable() const { return trainable_; }

 protected:
  Shape input_shape_;
  Shape output_shape_;
  bool trainable_ = true;
};

using LayerPtr = std::unique_ptr<Layer>;

}  // namespace stride
