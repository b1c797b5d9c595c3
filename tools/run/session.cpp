// Backend and model construction shared by the commands.
#include "session.h"

#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/core/spec.h"

namespace stride::tools {

std::unique_ptr<Backend> make_backend(const std::string& device, int threads) {
  BackendOptions options;
  options.threads = threads;
  return stride::make_backend(parse_device(device), options);
}

Shape parse_image_shape(const std::string& text, const std::string& option) {
  const auto dims = split(text, 'x');
  if (dims.size() != 3) fail<ConfigError>("{}: expected HxWxC, got '{}'", option, text);
  return Shape{parse_int(dims[0], option), parse_int(dims[1], option), parse_int(dims[2], option)};
}

std::string model_spec(const Config& config, int64_t classes) {
  const bool has_layers = config.has("model.layers");
  const bool has_arch = config.has("model.arch");
  if (has_layers == has_arch)
    fail<ConfigError>("{}: [model] needs exactly one of 'layers' and 'arch'", config.file().string());
  return has_layers ? config.text("model.layers") : arch_spec(config.text("model.arch"), classes);
}

ModelConfig model_config(const Config& config, const data::Manifest& manifest) {
  ModelConfig c;
  c.spec = model_spec(config, manifest.num_classes());
  c.input = Shape{manifest.shape.height, manifest.shape.width, manifest.shape.channels};
  c.classes = manifest.num_classes();
  c.class_names = manifest.class_names;
  c.normalize = config.boolean("augment.normalize");
  c.mean = manifest.mean;
  c.std = manifest.std;
  c.source = manifest.source;
  if (config.has("model.input_shape") &&
      parse_image_shape(config.text("model.input_shape"), "model.input_shape") != c.input)
    fail<ConfigError>("model.input_shape = {}: the images of {} are {}x{}x{}", config.text("model.input_shape"),
                      manifest.path().string(), c.input[0], c.input[1], c.input[2]);
  return c;
}

Model model_shapes(const ModelConfig& config) {
  Model model = Model::from_spec(config.spec, config.input);
  if (model.output_shape().elements() != config.classes)
    fail<ConfigError>("model '{}' ends in {} outputs but the data has {} classes", config.spec,
                      model.output_shape().elements(), config.classes);
  return model;
}

Model build_model(const ModelConfig& config, Backend& backend, uint64_t seed) {
  Model model = model_shapes(config);
  model.init(backend, seed);
  return model;
}

size_t matching_prefix(Model& model, const ModelConfig& checkpoint) {
  Model other = Model::from_spec(checkpoint.spec, checkpoint.input);
  size_t n = 0;
  while (n < model.size() && n < other.size() && model.layer(n).spec() == other.layer(n).spec() &&
         model.layer(n).input_shape() == other.layer(n).input_shape())
    ++n;
  return n;
}

}  // namespace stride::tools
