// Decoding a config into RunSettings: every key the run needs, read and
// checked once.
#include "settings.h"

#include <fmt/format.h>

#include <algorithm>

#include "stride/common/error.h"
#include "stride/common/memory.h"
#include "stride/common/strings.h"

namespace stride::tools {

namespace {

data::AugmentOptions decode_augment(const Config& config) {
  data::AugmentOptions a;
  a.crop_padding = static_cast<int>(config.integer("augment.crop_padding"));
  a.pad_mode = config.text("augment.pad_mode");
  a.hflip = config.boolean("augment.hflip");
  a.rotate_deg = static_cast<float>(config.real("augment.rotate_deg"));
  a.zoom = static_cast<float>(config.real("augment.zoom"));
  a.translate = static_cast<float>(config.real("augment.translate"));
  a.cutout = static_cast<float>(config.real("augment.cutout"));
  a.normalize = config.boolean("augment.normalize");
  return a;
}

OptimizerConfig decode_optimizer(const Config& config) {
  OptimizerConfig o;
  o.kind = config.text("train.optimizer");
  o.beta1 = static_cast<float>(config.real("train.beta1"));
  o.beta2 = static_cast<float>(config.real("train.beta2"));
  o.epsilon = static_cast<float>(config.real("train.epsilon"));
  o.momentum = static_cast<float>(config.real("train.momentum"));
  o.nesterov = config.boolean("train.nesterov");
  o.weight_decay = static_cast<float>(config.real("train.weight_decay"));
  o.clip_norm = static_cast<float>(config.real("train.clip_norm"));
  return o;
}

int64_t positive(const Config& config, const std::string& key) {
  const int64_t value = config.integer(key);
  if (value <= 0) fail<ConfigError>("{}: {} must be positive, got {}", config.origin(key), key, value);
  return value;
}

}  // namespace

RunSettings decode_settings(const Config& config) {
  RunSettings s;
  s.experiment = config.text("experiment.name");
  s.seed = static_cast<uint64_t>(config.integer("experiment.seed"));

  DataSettings& d = s.data;
  d.dir = config.text("data.dir");
  d.batch_size = positive(config, "data.batch_size");
  d.eval_batch_size = positive(config, "data.eval_batch_size");
  d.limit = config.integer("data.limit");
  d.workers = static_cast<int>(config.integer("data.workers"));
  d.prefetch = static_cast<int>(config.integer("data.prefetch"));
  d.shuffle_window = config.integer("data.shuffle_window");
  d.tail = config.has("data.tail")            ? data::parse_tail_policy(config.text("data.tail"))
           : config.boolean("data.drop_last") ? data::TailPolicy::drop
                                              : data::TailPolicy::keep;
  d.augment = decode_augment(config);

  ModelSettings& m = s.model;
  if (config.has("model.init_from")) m.init_from = config.text("model.init_from");
  m.init_layers = config.integer("model.init_layers");
  if (config.has("model.freeze")) m.freeze = config.text("model.freeze");
  m.unfreeze_epoch = config.integer("model.unfreeze_epoch");

  s.epochs = config.integer("train.epochs");
  s.optimizer = decode_optimizer(config);
  s.schedule.kind = config.text("train.schedule");
  s.schedule.lr = static_cast<float>(config.real("train.lr"));
  s.schedule.warmup_epochs = static_cast<float>(config.real("train.warmup_epochs"));
  s.schedule.step_epochs = static_cast<float>(config.real("train.step_epochs"));
  s.schedule.gamma = static_cast<float>(config.real("train.gamma"));
  s.schedule.min_lr = static_cast<float>(config.real("train.min_lr"));
  const std::string scaling = config.text("train.lr_scaling");
  if (scaling != "none" && scaling != "linear")
    fail<ConfigError>("train.lr_scaling: expected none or linear, got '{}'", scaling);
  s.linear_lr_scaling = scaling == "linear";
  s.label_smoothing = static_cast<float>(config.real("train.label_smoothing"));
  s.threads = static_cast<int>(config.integer("train.threads"));
  s.device = parse_device(config.text("train.device"));
  s.precision = parse_precision(config.text("train.precision"));
  if (s.device == Device::cpu && s.precision != Precision::fp32)
    fail<ConfigError>(
        "train.precision = {}: the CPU backend computes in fp32 only (tf32 and bf16 need train.device "
        "= cuda)",
        precision_name(s.precision));
  s.deterministic = config.boolean("train.deterministic");
  s.checkpoint_dir = config.text("train.checkpoint_dir");
  const double bucket_mb = config.real("train.bucket_mb");
  if (!(bucket_mb > 0)) fail<ConfigError>("train.bucket_mb: must be positive, got {}", bucket_mb);
  s.bucket_bytes = static_cast<size_t>(bucket_mb * (1 << 20));
  s.sync_bn = config.boolean("train.sync_bn");
  s.collective_timeout_s = config.real("train.collective_timeout");
  return s;
}

void check_memory(const RunSettings& s, const Model& model, const Shape& image) {
  const DataSettings& d = s.data;
  const std::string shape = fmt::format("{}x{}x{}", image[0], image[1], image[2]);
  const int64_t pixels = checked_product({image[0], image[1], image[2]}, "the image shape " + shape);
  constexpr int64_t kFloat = sizeof(float);

  const int64_t largest_batch = std::max(d.batch_size, d.eval_batch_size);
  const Model::Memory m = model.memory_needed(largest_batch);
  const int64_t slots = s.optimizer.kind == "sgd" ? (s.optimizer.momentum > 0 ? 1 : 0) : 2;
  const std::string parameters_what =
      fmt::format("model.layers: {} parameters (values, gradients and {} optimizer moments)", m.parameters, slots);
  const int64_t parameter_bytes =
      checked_add(m.parameter_bytes, checked_product({m.parameters, slots, kFloat}, parameters_what), parameters_what);
  require_memory(parameter_bytes, parameters_what);
  const std::string activations_what = fmt::format(
      "data.batch_size = {}, data.eval_batch_size = {}: the model's activations for batches of {} images of {}",
      d.batch_size, d.eval_batch_size, largest_batch, shape);
  // The device's batch: images and their gradients' input side are in m already.
  const int64_t activation_bytes = checked_add(
      m.activation_bytes, checked_product({largest_batch, pixels, kFloat}, activations_what), activations_what);
  require_memory(activation_bytes, activations_what);

  // Each loader keeps max(prefetch, workers) + 1 float batches and two
  // windows of uint8 images (loader.cpp); counted: the training loader's
  // queue and one evaluation loader's, one window pair (a lower bound).
  const int64_t batches = static_cast<int64_t>(std::max(d.prefetch, d.workers)) + 1;
  const std::string queue_what = fmt::format(
      "data.prefetch = {} (data.workers = {}), data.batch_size = {}: the loaders' queues of {} batches "
      "of {} images",
      d.prefetch, d.workers, d.batch_size, batches, shape);
  const int64_t queue_images =
      checked_mul(batches, checked_add(d.batch_size, d.eval_batch_size, queue_what), queue_what);
  const int64_t queue_bytes = checked_product({queue_images, pixels, kFloat}, queue_what);
  require_memory(queue_bytes, queue_what);
  const std::string window_what =
      fmt::format("data.shuffle_window = {}: the loader's two windows of {} images", d.shuffle_window, shape);
  const int64_t window_bytes = checked_product({2, d.shuffle_window, pixels}, window_what);
  require_memory(window_bytes, window_what);

  const std::string total_what =
      fmt::format("the run (parameters {}, activations {}, loader queues {}, shuffle windows {})",
                  human_bytes(double(parameter_bytes)), human_bytes(double(activation_bytes)),
                  human_bytes(double(queue_bytes)), human_bytes(double(window_bytes)));
  int64_t total = checked_add(parameter_bytes, activation_bytes, total_what);
  total = checked_add(total, checked_add(queue_bytes, window_bytes, total_what), total_what);
  require_memory(total, total_what);
}

ScheduleConfig RunSettings::schedule_for(int64_t steps_per_epoch, int world) const {
  ScheduleConfig c = schedule;
  c.lr = schedule.lr * static_cast<float>(linear_lr_scaling ? world : 1);
  c.epochs = epochs;
  c.steps_per_epoch = steps_per_epoch;
  return c;
}

data::LoaderOptions RunSettings::loader_options(const std::string& split, int rank, int world) const {
  data::LoaderOptions o;
  o.split = split;
  const bool training = split == "train";
  o.batch_size = training ? data.batch_size : data.eval_batch_size;
  o.shuffle = training;
  o.augment = training;
  o.augmentation = data.augment;
  o.seed = seed;
  o.rank = rank;
  o.world = world;
  o.limit = training ? data.limit : 0;
  o.workers = data.workers;
  o.prefetch = data.prefetch;
  o.shuffle_window = data.shuffle_window;
  o.tail = training ? data.tail : data::TailPolicy::keep;
  return o;
}

}  // namespace stride::tools
