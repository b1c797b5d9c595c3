// `stride summary --config FILE | --checkpoint FILE`: the Keras-style layer
// table. The input shape comes from --input, else the config's
// model.input_shape, else the dataset's manifest, so a model can be looked at
// before any data is prepared, as Keras needs none. Nothing is allocated:
// counts and shapes come from shape inference alone.
#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include "cli.h"
#include "run/session.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/common/table.h"
#include "stride/data/manifest.h"
#include "stride/tracker/pick.h"

namespace stride::tools {

namespace {

// 93322 -> "93,322", as Keras prints parameter counts.
std::string with_thousands(int64_t value) {
  const std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out = value < 0 ? "-" : "";
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

// Bytes of float32 parameters as Keras writes them: "364.54 KB", "3.33 MB".
std::string parameter_bytes(int64_t parameters) {
  double size = static_cast<double>(parameters) * 4;
  const char* units[] = {"B", "KB", "MB", "GB"};
  size_t unit = 0;
  while (size >= 1024 && unit + 1 < std::size(units)) size /= 1024, ++unit;
  return fmt::format("{:.2f} {}", size, units[unit]);
}

// Outputs of a spec that ends in dense(N) (or anything with a flat output):
// what a layer list says about its classes without a dataset.
int64_t spec_outputs(const std::string& spec, const Shape& input) {
  return Model::from_spec(spec, input).output_shape().elements();
}

ModelConfig summary_model(const Config& config, const std::string& input, std::optional<int64_t> classes) {
  const std::filesystem::path data_dir = config.text("data.dir");
  const bool has_data = std::filesystem::exists(data_dir / "manifest.json");
  if (input.empty() && !config.has("model.input_shape")) {
    if (!has_data)
      fail<ConfigError>(
          "{}: no input shape: {} holds no prepared dataset (stride prepare); set model.input_shape = "
          "HxWxC in the config or give --input HxWxC",
          config.file().string(), data_dir.string());
    ModelConfig c = model_config(config, data::load_manifest(data_dir));
    if (!classes || *classes == c.classes) return c;
  }
  ModelConfig c;
  c.input = input.empty() ? parse_image_shape(config.text("model.input_shape"), "model.input_shape")
                          : parse_image_shape(input, "--input");
  if (classes) {
    c.classes = *classes;
  } else if (has_data) {
    c.classes = data::load_manifest(data_dir).num_classes();
  } else if (config.has("model.layers")) {
    c.classes = spec_outputs(config.text("model.layers"), c.input);
  } else {
    c.classes = 10;
    fmt::print(stderr, "stride summary: {} classes assumed (--classes N for another count)\n", c.classes);
  }
  c.spec = model_spec(config, c.classes);
  return c;
}

}  // namespace

int run_summary(const Args& args) {
  CommandLine command;
  command.usage = "stride summary (--config FILE [--set k=v]... [--input HxWxC] [--classes N] | --checkpoint FILE)";
  command.summary =
      "Prints each layer's output shape, parameters (all, as Keras' Param #, and the non-trainable part: frozen\n"
      "weights and batch norm's moving statistics) and forward FLOPs per image. The input shape comes from\n"
      "--input, the config's model.input_shape or the prepared dataset, in that order.";
  std::vector<std::string> overrides;
  std::string config_path, checkpoint, input, format, db;
  command.options.add_options()("config,c", po::value(&config_path), "experiment config (INI)")(
      "set", po::value(&overrides)->composing(), "override a key: section.key=value (repeatable)")(
      "checkpoint", po::value(&checkpoint), "summarise a saved model instead (or best:EXPERIMENT / latest:EXPERIMENT)")(
      "db", po::value(&db)->default_value("runs/stride.db"), "experiment store that best:/latest: read")(
      "input", po::value(&input), "input shape HxWxC (default: model.input_shape, else the config's dataset)")(
      "classes", po::value<int64_t>(), "outputs (default: the dataset's classes, else the layer spec's outputs)")(
      "format", po::value(&format)->default_value("table"), "table | csv | json");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  if (config_path.empty() == checkpoint.empty()) fail<ConfigError>("give exactly one of --config and --checkpoint");
  std::optional<int64_t> classes;
  if (vm->count("classes")) classes = (*vm)["classes"].as<int64_t>();
  if (!checkpoint.empty()) checkpoint = tracker::resolve_checkpoint(checkpoint, db);
  const ModelConfig model_cfg = checkpoint.empty() ? summary_model(Config::load(config_path, overrides), input, classes)
                                                   : read_checkpoint_info(checkpoint).model;
  // Shapes only: the table needs no weights, so a model of any size prints at once.
  Model model = model_shapes(model_cfg);

  const TableFormat table_format = parse_table_format(format);
  const bool text = table_format == TableFormat::text;
  const auto count_cell = [&](int64_t n) { return text ? Table::Cell(with_thousands(n)) : Table::Cell(n); };
  Table table({"layer", "spec", "output shape", "params", "non-trainable", "MFLOPs"});
  table.set_precision("MFLOPs", 3);
  int64_t trainable = 0, frozen = 0, flops = 0;
  std::vector<std::vector<Table::Cell>> rows;
  for (const LayerSummary& s : model.summary()) {
    std::vector<std::string> dims;
    for (int i = 0; i < s.output.rank(); ++i) dims.push_back(std::to_string(s.output[i]));
    rows.push_back({s.name, s.spec, "(None, " + join(dims, ", ") + ")",
                    count_cell(s.trainable_parameters + s.non_trainable_parameters),
                    count_cell(s.non_trainable_parameters), static_cast<double>(s.flops) / 1e6});
    trainable += s.trainable_parameters;
    frozen += s.non_trainable_parameters;
    flops += s.flops;
  }
  if (text) {
    // Counts are text here (for the separators): pad them so they still line up on the right.
    for (const size_t column : {size_t{3}, size_t{4}}) {
      size_t width = table.columns()[column].size();
      for (const auto& row : rows) width = std::max(width, std::get<std::string>(row[column]).size());
      for (auto& row : rows) {
        auto& cell = std::get<std::string>(row[column]);
        cell.insert(0, width - cell.size(), ' ');
      }
    }
  }
  for (auto& row : rows) table.add_row(std::move(row));
  fmt::print("{}", table.render(table_format));
  if (text) {
    const int64_t total = trainable + frozen;
    fmt::print(
        "Total params: {} ({}) | Trainable params: {} | Non-trainable params: {} | "
        "Forward: {:.2f} MFLOPs/image\n",
        with_thousands(total), parameter_bytes(total), with_thousands(trainable), with_thousands(frozen),
        static_cast<double>(flops) / 1e6);
  }
  return 0;
}

}  // namespace stride::tools
