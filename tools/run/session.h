// What every command that runs a model needs, built one way from a config
// (train, summary, grid) or a checkpoint (eval, predict): the backend, the
// model config (spec, input shape, classes, normalisation) and the model.
#pragma once

#include <memory>
#include <string>

#include "config.h"
#include "stride/core/backend.h"
#include "stride/core/checkpoint.h"
#include "stride/core/model.h"
#include "stride/data/manifest.h"

namespace stride::tools {

// "cpu" | "cuda" with a thread count for the CPU (<= 0: the OpenMP default),
// the first GPU for cuda (stride::make_backend takes every option).
std::unique_ptr<Backend> make_backend(const std::string& device, int threads);

// "28x28x1" -> (28, 28, 1); ConfigError naming `option` otherwise.
Shape parse_image_shape(const std::string& text, const std::string& option);

// The layer spec of [model] (layers or arch, exactly one) for `classes` outputs.
std::string model_spec(const Config& config, int64_t classes);

// Spec, input shape, classes and normalisation from the config and the dataset.
ModelConfig model_config(const Config& config, const data::Manifest& manifest);

// The model of `config` built for its input shape (every layer's shapes and
// parameter shapes known), checked to end in `classes` outputs; nothing allocated.
Model model_shapes(const ModelConfig& config);

// Builds the model of `config`, initialises it on `backend` from `seed`.
Model build_model(const ModelConfig& config, Backend& backend, uint64_t seed);

// How many leading layers of `model` have the same spec and input shape as the
// checkpoint's (the part a fine-tuning run can take over).
size_t matching_prefix(Model& model, const ModelConfig& checkpoint);

}  // namespace stride::tools
