// `stride bench train`: training-step throughput of a config's model on
// synthetic in-memory batches (forward, loss, backward, optimizer update),
// so the figure is the compute of a step and comparable with a peer framework
// running the same model, batch and thread count. Per thread count given.
#include <fmt/format.h>

#include <chrono>
#include <random>

#include "bench.h"
#include "cli.h"
#include "run/session.h"
#include "run/train_context.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/common/table.h"
#include "stride/core/layer.h"
#include "stride/core/loss.h"

namespace stride::tools {

namespace {

struct Measurement {
  int threads;
  double images_per_s;
  double step_ms;
};

Measurement measure(const Config& config, const Shape& input, int64_t classes, int64_t batch, int threads,
                    int64_t warmup, int64_t steps) {
  auto backend = make_backend("cpu", threads);
  ModelConfig mc;
  mc.input = input;
  mc.classes = classes;
  mc.spec = model_spec(config, classes);
  Model model = build_model(mc, *backend, 1);
  model.reserve(batch);
  Optimizer optimizer(optimizer_config(config), model);
  SoftmaxCrossEntropy loss;
  loss.reserve(*backend, batch, classes);

  std::mt19937 rng(7);
  std::normal_distribution<float> pixel;
  std::uniform_int_distribution<int32_t> label(0, static_cast<int32_t>(classes - 1));
  std::vector<float> images(static_cast<size_t>(input.with_batch(batch).elements()));
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (float& v : images) v = pixel(rng);
  for (int32_t& v : labels) v = label(rng);
  Tensor x(*backend, input.with_batch(batch));
  Tensor y(*backend, Shape{batch}, DType::i32);
  backend->copy_from_host(images.data(), x);
  backend->copy_from_host(labels.data(), y);

  Context ctx{*backend};
  auto step = [&](int64_t i) {
    ctx.step = static_cast<uint64_t>(i);
    const Tensor& logits = model.forward(ctx, x);
    loss.compute(*backend, logits, y, 1.0f / static_cast<float>(batch));
    model.backward(ctx, loss.dlogits());
    optimizer.step(1e-4f);
  };
  for (int64_t i = 0; i < warmup; ++i) step(i);
  backend->synchronize();
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step(warmup + i);
  backend->synchronize();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {threads, static_cast<double>(batch * steps) / seconds, 1e3 * seconds / static_cast<double>(steps)};
}

}  // namespace

int bench_train(const Args& args) {
  CommandLine command;
  command.usage = "stride bench train --config FILE [--set k=v]... [--threads 1,2] [--steps N] [--format table|json]";
  command.summary =
      "Training images/s of the config's model (data.batch_size, train.optimizer) on synthetic batches of the\n"
      "dataset's image shape, per CPU thread count.";
  std::vector<std::string> overrides;
  std::string config_path, threads_list, input_text, format;
  int64_t steps = 200, warmup = 20, classes = 10;
  command.options.add_options()
      ("config,c", po::value(&config_path)->required(), "experiment config (INI)")
      ("set", po::value(&overrides)->composing(), "override a key: section.key=value (repeatable)")
      ("threads", po::value(&threads_list)->default_value("1,2"), "comma-separated CPU thread counts")
      ("steps", po::value(&steps)->default_value(200), "timed steps")
      ("warmup", po::value(&warmup)->default_value(20), "untimed steps first")
      ("input", po::value(&input_text)->default_value("28x28x1"), "image shape HxWxC")
      ("classes", po::value(&classes)->default_value(10), "classes")
      ("format", po::value(&format)->default_value("table"), "table | csv | json");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  const Config config = Config::load(config_path, overrides);
  const Shape input = parse_image_shape(input_text, "--input");
  const int64_t batch = config.integer("data.batch_size");

  Table table({"model", "batch", "threads", "images_per_s", "step_ms"});
  table.set_precision("images_per_s", 1);
  table.set_precision("step_ms", 3);
  for (const std::string& t : split(threads_list, ',', true)) {
    const auto m = measure(config, input, classes, batch, static_cast<int>(parse_int(t, "--threads")), warmup, steps);
    table.add_row({config.text("experiment.name"), batch, int64_t{m.threads}, m.images_per_s, m.step_ms});
  }
  fmt::print("{}", table.render(parse_table_format(format)));
  return 0;
}

}  // namespace stride::tools
