// A config's model training on one synthetic batch held on the device: the
// fixture `stride bench train` and `stride bench ops` time, so their figures
// are the compute of a step (forward, loss, backward, gradient all-reduce
// when there are several ranks, update), comparable with a peer framework
// running the same model on the same batch.
#pragma once

#include <memory>
#include <optional>

#include "cli.h"
#include "run/config.h"
#include "run/settings.h"
#include "run/train_step.h"
#include "stride/core/loss.h"
#include "stride/core/model.h"
#include "stride/core/optimizer.h"
#include "stride/distributed/communicator.h"
#include "stride/distributed/grad_sync.h"

namespace stride::tools {

// The options every synthetic-batch benchmark takes, with their meaning
// defined once: the config and its overrides, the device, the batch's image
// shape and classes, timed and warm-up steps, the output format.
struct SyntheticOptions {
  std::string config_path, device = "cpu", input = "28x28x1", format = "table";
  std::vector<std::string> overrides;
  int64_t steps = 0, warmup = 0, classes = 10;

  SyntheticOptions(int64_t default_steps, int64_t default_warmup) : steps(default_steps), warmup(default_warmup) {}
  void add_to(po::options_description& options);
  // After parsing: the config with its overrides, the device, the image shape.
  Config config() const;
  Device backend_device() const;
  Shape image_shape() const;
};

class SyntheticStep {
 public:
  // comm: the job's host communicator (one rank: a Local one); gradients
  // go through `gradients`, which holds the backend's memory.
  SyntheticStep(const Config& config, Backend& backend, Communicator& comm, Communicator& gradients,
                const Shape& input, int64_t classes);

  // Training step number i (dropout masks follow i).
  void run(int64_t i);
  Model& model() { return model_; }
  int64_t batch() const { return batch_; }
  int64_t global_batch() const { return batch_ * comm_.size(); }
  const GradientSync* sync() const { return sync_ ? &*sync_ : nullptr; }

 private:
  RunSettings settings_;
  Communicator& comm_;
  int64_t batch_;
  Model model_;
  Optimizer optimizer_;
  SoftmaxCrossEntropy loss_;
  std::optional<GradientSync> sync_;
  std::optional<TrainStep> step_;
  Tensor images_, labels_;
  Context ctx_;
};

}  // namespace stride::tools
