// A trial's config decoded once into typed values, before anything is built
// or written: every malformed or inconsistent value fails here, naming its key
// and where it came from, so a run that starts has a config that works.
// The training loop, the context and `stride bench train` read these fields,
// never the config's text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "config.h"
#include "stride/core/backend.h"
#include "stride/core/model.h"
#include "stride/core/optimizer.h"
#include "stride/core/schedule.h"
#include "stride/data/augment.h"
#include "stride/data/loader.h"

namespace stride::tools {

struct DataSettings {
  std::string dir;
  int64_t batch_size = 32;  // per rank
  int64_t eval_batch_size = 256;
  int64_t limit = 0;
  int workers = 2;
  int prefetch = 4;
  int64_t shuffle_window = 16384;
  data::TailPolicy tail = data::TailPolicy::keep;
  data::AugmentOptions augment;
};

struct ModelSettings {
  std::optional<std::string> init_from;
  int64_t init_layers = -1;
  std::optional<std::string> freeze;
  int64_t unfreeze_epoch = -1;
};

struct RunSettings {
  std::string experiment;
  uint64_t seed = 42;
  DataSettings data;
  ModelSettings model;
  int64_t epochs = 10;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;  // lr before scaling; epochs and steps filled in by schedule_for()
  bool linear_lr_scaling = false;
  float label_smoothing = 0.0f;
  int threads = 0;  // per rank; 0: the node's cores shared among its ranks
  Device device = Device::cpu;
  Precision precision = Precision::fp32;
  bool deterministic = false;
  std::string checkpoint_dir;
  size_t bucket_bytes = size_t{25} << 20;
  bool sync_bn = false;
  double collective_timeout_s = 120;

  // The schedule of a run of `world` ranks taking steps_per_epoch steps.
  ScheduleConfig schedule_for(int64_t steps_per_epoch, int world) const;
  // The loader options of a split ("train" shuffles and augments).
  data::LoaderOptions loader_options(const std::string& split, int rank, int world) const;
};

RunSettings decode_settings(const Config& config);

// Refuses a run whose parameters (with optimizer state), activations or
// loader queues for images of `image` (HxWxC) need more memory than the
// machine has, each on its own and all together, before anything is
// allocated: a ConfigError naming the keys at fault and the bytes.
// `model` needs only to be built (shapes), not initialised.
void check_memory(const RunSettings& settings, const Model& model, const Shape& image);

}  // namespace stride::tools
