// SyntheticStep: model, optimizer and one random batch from a config.
#include "synthetic_step.h"

#include <random>
#include <vector>

#include "run/session.h"

namespace stride::tools {

namespace {

Model make_model(const Config& config, Backend& backend, const Shape& input, int64_t classes, int64_t batch) {
  ModelConfig mc;
  mc.input = input;
  mc.classes = classes;
  mc.spec = model_spec(config, classes);
  Model model = build_model(mc, backend, 1);
  model.reserve(batch);
  return model;
}

}  // namespace

void SyntheticOptions::add_to(po::options_description& options) {
  options.add_options()
      ("config,c", po::value(&config_path)->required(), "experiment config (INI)")
      ("set", po::value(&overrides)->composing(), "override a key: section.key=value (repeatable)")
      ("device", po::value(&device)->default_value(device), "cpu | cuda")
      ("steps", po::value(&steps)->default_value(steps), "timed steps")
      ("warmup", po::value(&warmup)->default_value(warmup), "untimed steps first")
      ("input", po::value(&input)->default_value(input), "image shape HxWxC")
      ("classes", po::value(&classes)->default_value(classes), "classes")
      ("format", po::value(&format)->default_value(format), "table | csv | json");
}

Config SyntheticOptions::config() const { return Config::load(config_path, overrides); }

Device SyntheticOptions::backend_device() const { return parse_device(device); }

Shape SyntheticOptions::image_shape() const { return parse_image_shape(input, "--input"); }

SyntheticStep::SyntheticStep(const Config& config, Backend& backend, Communicator& comm, Communicator& gradients,
                             const Shape& input, int64_t classes)
    : settings_(decode_settings(config)),
      comm_(comm),
      batch_(settings_.data.batch_size),
      model_(make_model(config, backend, input, classes, batch_)),
      optimizer_(settings_.optimizer, model_),
      loss_(settings_.label_smoothing),
      ctx_{backend} {
  loss_.reserve(backend, batch_, classes);
  if (comm.size() > 1) sync_.emplace(gradients, model_, GradSyncOptions{settings_.bucket_bytes, ReduceOp::sum});
  step_.emplace(model_, optimizer_, loss_, sync_ ? &*sync_ : nullptr);

  std::mt19937 rng(7 + static_cast<unsigned>(comm.rank()));
  std::normal_distribution<float> pixel;
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(classes - 1));
  std::vector<float> images(static_cast<size_t>(input.with_batch(batch_).elements()));
  std::vector<int32_t> labels(static_cast<size_t>(batch_));
  for (float& v : images) v = pixel(rng);
  for (int32_t& v : labels) v = label(rng);
  images_ = Tensor(backend, input.with_batch(batch_));
  labels_ = Tensor(backend, Shape{batch_}, DType::i32);
  backend.copy_from_host(images.data(), images_);
  backend.copy_from_host(labels.data(), labels_);
  ctx_.seed = settings_.seed;
}

void SyntheticStep::run(int64_t i) {
  ctx_.step = static_cast<uint64_t>(i);
  step_->run(ctx_, images_, labels_, global_batch(), 1e-4f);
}

}  // namespace stride::tools
