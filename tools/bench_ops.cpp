// `stride bench ops`: where a training step's time goes, op by op. Real steps
// of the config's model on a synthetic batch run through a TimedBackend, so
// every backend call is timed at the shapes the model gives it (each between
// two synchronisations); the table lists them by total time per step with
// GFLOP/s (convolution, dense) and GB/s (tensors touched). The step itself is
// timed without the per-op synchronisation, and set against the cores' fp32
// peak (an FMA loop and oneDNN's sgemm) on the CPU.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>

#include "bench.h"
#include "cli.h"
#include "run/session.h"
#include "run/settings.h"
#include "stride/common/table.h"
#include "stride/core/cpu_peak.h"
#include "synthetic_step.h"
#include "timed_backend.h"

namespace stride::tools {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Forward FLOPs of one image through the model (Model::summary), times three
// for training: forward, the input gradient and the weight gradient.
double training_flops_per_image(Model& model) {
  double forward = 0;
  for (const LayerSummary& row : model.summary()) forward += static_cast<double>(row.flops);
  return 3.0 * forward;
}

}  // namespace

int bench_ops(const Args& args) {
  CommandLine command;
  command.usage =
      "stride bench ops --config FILE [--set k=v]... [--device cpu|cuda] [--threads N] [--steps N] [--input HxWxC]\n"
      "                 [--format table|csv|json]";
  command.summary =
      "Times every backend op of the config's training step (data.batch_size, synthetic batch) at the shapes\n"
      "the model gives it, and the whole step against the CPU's fp32 peak.";
  SyntheticOptions bench(30, 5);
  int threads = 2;
  bench.add_to(command.options);
  command.options.add_options()("threads", po::value(&threads)->default_value(threads), "CPU threads");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  const Config config = bench.config();
  const RunSettings settings = decode_settings(config);
  const Shape input = bench.image_shape();
  const Device device = bench.backend_device();
  const int64_t steps = bench.steps, warmup = bench.warmup, classes = bench.classes;
  const std::string& format = bench.format;
  if (steps <= 0) fail<ConfigError>("--steps: must be positive, got {}", steps);

  BackendOptions options;
  options.threads = threads;
  options.precision = settings.precision;
  options.deterministic = settings.deterministic;
  auto inner = stride::make_backend(device, options);
  TimedBackend backend(*inner);
  auto comm = make_local_communicator();
  SyntheticStep step(config, backend, *comm, *comm, input, classes);

  // The step as training runs it: no synchronisation between ops.
  backend.set_recording(false);
  for (int64_t i = 0; i < warmup; ++i) step.run(i);
  backend.synchronize();
  auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step.run(warmup + i);
  backend.synchronize();
  const double step_s = seconds_since(start) / static_cast<double>(steps);

  backend.reset();
  backend.set_recording(true);
  start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step.run(warmup + steps + i);
  const double timed_step_s = seconds_since(start) / static_cast<double>(steps);
  std::vector<OpTiming> ops = backend.timings();
  std::sort(ops.begin(), ops.end(), [](const OpTiming& a, const OpTiming& b) { return a.seconds > b.seconds; });

  double ops_s = 0;
  for (const OpTiming& op : ops) ops_s += op.seconds;
  ops_s /= static_cast<double>(steps);
  const double flops = training_flops_per_image(step.model()) * static_cast<double>(step.batch());
  const CpuPeak peak = device == Device::cpu ? measure_cpu_peak(threads) : CpuPeak{};

  const double per_step = static_cast<double>(steps);
  if (format == "json") {
    nlohmann::json rows = nlohmann::json::array();
    for (const OpTiming& op : ops)
      rows.push_back({{"op", op.op},
                      {"shapes", op.shapes},
                      {"calls_per_step", static_cast<double>(op.calls) / per_step},
                      {"us_per_call", 1e6 * op.seconds / static_cast<double>(op.calls)},
                      {"ms_per_step", 1e3 * op.seconds / per_step},
                      {"share", op.seconds / per_step / ops_s},
                      {"gflops", op.flops > 0 ? op.flops * static_cast<double>(op.calls) / op.seconds / 1e9 : 0.0},
                      {"gbytes_per_s", op.bytes * static_cast<double>(op.calls) / op.seconds / 1e9}});
    nlohmann::json out = {{"model", config.text("experiment.name")},
                          {"batch", step.batch()},
                          {"backend", inner->name()},
                          {"step_ms", 1e3 * step_s},
                          {"images_per_s", static_cast<double>(step.batch()) / step_s},
                          {"training_gflop_per_step", flops / 1e9},
                          {"gflops", flops / step_s / 1e9},
                          {"ops", rows}};
    if (device == Device::cpu)
      out["peak"] = {{"isa", peak.isa}, {"fma_gflops", peak.fma_gflops}, {"gemm_gflops", peak.gemm_gflops}};
    fmt::print("{}\n", out.dump(2));
    return 0;
  }
  Table table({"op", "shapes", "calls", "us_per_call", "ms_per_step", "share", "gflops", "gbytes_per_s"});
  table.set_precision("calls", 1);
  table.set_precision("us_per_call", 1);
  table.set_precision("ms_per_step", 3);
  table.set_precision("share", 3);
  table.set_precision("gflops", 1);
  table.set_precision("gbytes_per_s", 1);
  for (const OpTiming& op : ops)
    table.add_row({op.op, op.shapes, static_cast<double>(op.calls) / per_step,
                   1e6 * op.seconds / static_cast<double>(op.calls), 1e3 * op.seconds / per_step,
                   op.seconds / per_step / ops_s,
                   op.flops > 0 ? op.flops * static_cast<double>(op.calls) / op.seconds / 1e9 : 0.0,
                   op.bytes * static_cast<double>(op.calls) / op.seconds / 1e9});
  fmt::print("{}", table.render(parse_table_format(format)));
  if (format != "table") return 0;
  fmt::print("\n{} batch {} on {}\n", config.text("experiment.name"), step.batch(), inner->name());
  fmt::print("step {:.3f} ms ({:.0f} images/s); ops timed one by one {:.3f} ms, whole timed step {:.3f} ms\n",
             1e3 * step_s, static_cast<double>(step.batch()) / step_s, 1e3 * ops_s, 1e3 * timed_step_s);
  fmt::print("training arithmetic {:.3f} GFLOP per step: {:.1f} GFLOP/s\n", flops / 1e9, flops / step_s / 1e9);
  if (device == Device::cpu)
    fmt::print("cpu peak on {} threads: {:.1f} GFLOP/s ({} FMA loop), {:.1f} GFLOP/s (oneDNN sgemm 2048^3): the step "
               "runs at {:.1f}% / {:.1f}% of them\n",
               threads, peak.fma_gflops, peak.isa, peak.gemm_gflops, 100.0 * flops / step_s / 1e9 / peak.fma_gflops,
               100.0 * flops / step_s / 1e9 / peak.gemm_gflops);
  return 0;
}

}  // namespace stride::tools
