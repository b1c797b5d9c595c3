// `stride predict --checkpoint FILE IMAGE...`: decodes PNG/JPEG through the
// folder importer's data::decode_image (the same checks, conversion to the
// model's channels, and resizing only when the size differs, said so), and
// normalises with the loader's evaluation path, so an image is seen
// exactly as in training.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "cli.h"
#include "run/session.h"
#include "stride/common/error.h"
#include "stride/common/table.h"
#include "stride/core/layer.h"
#include "stride/data/augment.h"
#include "stride/data/importers.h"
#include "stride/tracker/pick.h"

namespace stride::tools {

namespace {

std::vector<uint8_t> load_image(const std::string& path, const data::ImageShape& shape) {
  std::vector<uint8_t> out(static_cast<size_t>(shape.bytes()));
  // An image of the model's size is used as it is: resampling it anyway would change its pixels.
  const auto [height, width] = data::decode_image(path, shape, out.data());
  if (height != shape.height || width != shape.width)
    spdlog::info("{}: resized {}x{} to the model's {}x{}", path, width, height, shape.width, shape.height);
  return out;
}

}  // namespace

int run_predict(const Args& args) {
  CommandLine command;
  command.usage = "stride predict --checkpoint FILE [--top K] [--device cpu|cuda] [--format table|csv|json] IMAGE...";
  command.summary = "Classifies PNG/JPEG images: the top classes with their probabilities.";
  std::string checkpoint, format, db, device;
  std::vector<std::string> images;
  int64_t top = 3;
  command.options.add_options()
      ("checkpoint", po::value(&checkpoint)->required(),
       "model or training checkpoint (.h5), or best:EXPERIMENT / latest:EXPERIMENT from the store")
      ("db", po::value(&db)->default_value("runs/stride.db"), "experiment store that best:/latest: read")
      ("top", po::value(&top)->default_value(3), "classes shown per image")
      ("device", po::value(&device)->default_value("cpu"), "cpu | cuda")
      ("format", po::value(&format)->default_value("table"), "table | csv | json");
  command.hidden.add_options()("image", po::value(&images)->required(), "images");
  command.positional.add("image", -1);
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;

  checkpoint = tracker::resolve_checkpoint(checkpoint, db);
  const CheckpointInfo info = read_checkpoint_info(checkpoint);
  const ModelConfig& mc = info.model;
  if (mc.input.rank() != 3) fail<CheckpointError>("{}: the model does not take images", checkpoint);
  const data::ImageShape shape{mc.input[0], mc.input[1], mc.input[2]};
  auto backend = make_backend(device, 1);
  Model model = build_model(mc, *backend, 0);
  model.reserve(1);
  load_model_state(checkpoint, model);

  data::AugmentOptions options;
  options.normalize = mc.normalize;
  const data::Augmenter normaliser(options, false, shape, mc.mean, mc.std, 0);
  std::vector<float> scratch(static_cast<size_t>(shape.bytes())), input(static_cast<size_t>(shape.bytes()));
  Tensor x(*backend, mc.input.with_batch(1));
  std::vector<float> logits(static_cast<size_t>(mc.classes));
  Context ctx{*backend};
  ctx.mode = Mode::inference;
  top = std::clamp<int64_t>(top, 1, mc.classes);

  Table table({"image", "rank", "class", "probability"});
  table.set_precision("probability", 4);
  for (const std::string& path : images) {
    const std::vector<uint8_t> pixels = load_image(path, shape);
    normaliser.apply(pixels.data(), 0, 0, scratch.data(), input.data());
    backend->copy_from_host(input.data(), x);
    backend->copy_to_host(model.forward(ctx, x), logits.data());
    const float peak = *std::max_element(logits.begin(), logits.end());
    std::vector<double> p(logits.size());
    double total = 0;
    for (size_t k = 0; k < logits.size(); ++k) total += p[k] = std::exp(static_cast<double>(logits[k] - peak));
    for (double& v : p) v /= total;
    std::vector<size_t> order(p.size());
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    for (int64_t r = 0; r < top; ++r) {
      const size_t k = order[static_cast<size_t>(r)];
      const std::string name = k < mc.class_names.size() ? mc.class_names[k] : std::to_string(k);
      table.add_row({path, r + 1, name, p[k]});
    }
  }
  fmt::print("{}", table.render(parse_table_format(format)));
  return 0;
}

}  // namespace stride::tools
