// `stride summary --config FILE | --checkpoint FILE`: the Keras-style layer table.
#include <fmt/format.h>

#include "cli.h"
#include "run/session.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/common/table.h"
#include "stride/data/manifest.h"

namespace stride::tools {

namespace {

// Input shape and classes without a prepared dataset: from the manifest when
// data.dir holds one, else --input / --classes.
ModelConfig summary_model(const Config& config, const std::string& input, int64_t classes) {
  if (input.empty()) return model_config(config, data::load_manifest(config.text("data.dir")));
  ModelConfig c;
  c.input = parse_image_shape(input, "--input");
  c.classes = classes;
  c.spec = model_spec(config, classes);
  return c;
}

}  // namespace

int run_summary(const Args& args) {
  CommandLine command;
  command.usage = "stride summary (--config FILE [--set k=v]... [--input HxWxC --classes N] | --checkpoint FILE)";
  command.summary = "Prints each layer's output shape, parameters (trainable and not) and forward FLOPs per image.";
  std::vector<std::string> overrides;
  std::string config_path, checkpoint, input, format;
  int64_t classes = 10;
  command.options.add_options()
      ("config,c", po::value(&config_path), "experiment config (INI)")
      ("set", po::value(&overrides)->composing(), "override a key: section.key=value (repeatable)")
      ("checkpoint", po::value(&checkpoint), "summarise a saved model instead")
      ("input", po::value(&input), "input shape HxWxC (default: from the config's dataset)")
      ("classes", po::value(&classes), "outputs when --input is given")
      ("format", po::value(&format)->default_value("table"), "table | csv | json");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  if (config_path.empty() == checkpoint.empty()) fail<ConfigError>("give exactly one of --config and --checkpoint");
  const ModelConfig model_cfg = checkpoint.empty()
                                    ? summary_model(Config::load(config_path, overrides), input, classes)
                                    : read_checkpoint_info(checkpoint).model;
  auto backend = make_backend("cpu", 1);
  Model model = build_model(model_cfg, *backend, 0);
  if (!checkpoint.empty()) load_model_state(checkpoint, model);

  Table table({"layer", "spec", "output shape", "params", "non-trainable", "MFLOPs"});
  table.set_precision("MFLOPs", 3);
  int64_t trainable = 0, frozen = 0, flops = 0;
  for (const LayerSummary& s : model.summary()) {
    std::vector<std::string> dims;
    for (int i = 0; i < s.output.rank(); ++i) dims.push_back(std::to_string(s.output[i]));
    table.add_row({s.name, s.spec, "(None, " + join(dims, ", ") + ")", s.trainable_parameters,
                   s.non_trainable_parameters, static_cast<double>(s.flops) / 1e6});
    trainable += s.trainable_parameters;
    frozen += s.non_trainable_parameters;
    flops += s.flops;
  }
  const TableFormat table_format = parse_table_format(format);
  fmt::print("{}", table.render(table_format));
  if (table_format == TableFormat::text)
    fmt::print("Total params: {} | Trainable params: {} | Non-trainable params: {} | Forward: {:.2f} MFLOPs/image\n",
               trainable + frozen, trainable, frozen, static_cast<double>(flops) / 1e6);
  return 0;
}

}  // namespace stride::tools
