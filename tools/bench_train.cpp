// `stride bench train`: training-step throughput of a config's model on
// synthetic in-memory batches (forward, loss, backward, gradient all-reduce
// when there are several ranks, optimizer update), so the figure is the
// compute of a step and comparable with a peer framework running the same
// model, batch and thread count. Per thread count; with --ranks, per rank
// count too (each count is a `mpirun -np N` of this command).
#include <fmt/format.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <array>
#include <chrono>
#include <cstdio>
#include <memory>

#include "bench.h"
#include "cli.h"
#include "run/session.h"
#include "run/settings.h"
#include "synthetic_step.h"
#include "stride/common/error.h"
#include "stride/common/strings.h"
#include "stride/common/table.h"
#include "stride/core/layer.h"
#include "stride/core/loss.h"
#include "stride/distributed/communicator.h"
#include "stride/distributed/grad_sync.h"

namespace stride::tools {

namespace {

struct Measurement {
  int ranks;
  int threads;
  double images_per_s;  // all ranks together
  double step_ms;
  double exposed_communication;  // share of the step spent waiting for gradients after backward
};

Measurement measure(Communicator& comm, const Config& config, Device device, const Shape& input, int64_t classes,
                    int threads, int64_t warmup, int64_t steps) {
  const RunSettings settings = decode_settings(config);
  BackendOptions options;
  options.threads = threads;
  options.device = comm.local_rank();
  options.precision = settings.precision;
  options.deterministic = settings.deterministic;
  auto backend = stride::make_backend(device, options);
  const auto device_comm = make_device_communicator(comm, *backend);
  SyntheticStep step(config, *backend, comm, device_comm ? *device_comm : comm, input, classes);
  for (int64_t i = 0; i < warmup; ++i) step.run(i);
  backend->synchronize();
  comm.barrier();
  const double waited_before = step.sync() ? step.sync()->stats().total_wait_s : 0.0;
  const auto start = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step.run(warmup + i);
  backend->synchronize();
  comm.barrier();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double waited = step.sync() ? step.sync()->stats().total_wait_s - waited_before : 0.0;
  return {comm.size(), threads, static_cast<double>(step.global_batch() * steps) / seconds,
          1e3 * seconds / static_cast<double>(steps), waited / seconds};
}

// Runs this command again under `mpirun -np ranks` and reads its JSON rows.
std::vector<Measurement> measure_with_ranks(int ranks, const Args& args) {
  std::string command = fmt::format("mpirun -np {} --oversubscribe /proc/{}/exe bench train", ranks, getpid());
  for (const std::string& a : args) command += " '" + a + "'";
  command += " --format json --ranks 0";
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) fail<Error>("cannot start: {}", command);
  std::string output;
  std::array<char, 4096> buffer{};
  while (const size_t n = fread(buffer.data(), 1, buffer.size(), pipe.get())) output.append(buffer.data(), n);
  if (pclose(pipe.release()) != 0) fail<Error>("'{}' failed", command);
  std::vector<Measurement> rows;
  for (const auto& row : nlohmann::json::parse(output))
    rows.push_back({row.at("ranks").get<int>(), row.at("threads").get<int>(), row.at("images_per_s").get<double>(),
                    row.at("step_ms").get<double>(), row.at("exposed_communication").get<double>()});
  return rows;
}

}  // namespace

int bench_train(const Args& args) {
  CommandLine command;
  command.usage =
      "stride bench train --config FILE [--set k=v]... [--device cpu|cuda] [--threads 1,2] [--ranks 1,2] [--steps N]\n"
      "                   [--format table|json]";
  command.summary =
      "Training images/s of the config's model (data.batch_size per rank, train.optimizer) on synthetic batches of\n"
      "the given image shape, per CPU thread count and, with --ranks, per number of data-parallel ranks.";
  SyntheticOptions bench(200, 20);
  std::string threads_list, ranks_list;
  bench.add_to(command.options);
  command.options.add_options()
      ("threads", po::value(&threads_list)->default_value("1,2"), "comma-separated CPU thread counts (per rank)")
      ("ranks", po::value(&ranks_list)->default_value(""), "comma-separated rank counts, each run under mpirun");
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  const Config config = bench.config();
  const Shape input = bench.image_shape();
  const int64_t batch = config.integer("data.batch_size");
  const Device device = bench.backend_device();
  const int64_t steps = bench.steps, warmup = bench.warmup, classes = bench.classes;
  const std::string& format = bench.format;

  std::vector<Measurement> rows;
  const bool launcher = !ranks_list.empty() && ranks_list != "0";
  std::unique_ptr<Communicator> comm;
  if (launcher) {
    Args forwarded;
    for (size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--ranks" || args[i] == "--format") {
        ++i;
        continue;
      }
      if (starts_with(args[i], "--ranks=") || starts_with(args[i], "--format=")) continue;
      forwarded.push_back(args[i]);
    }
    for (const std::string& r : split(ranks_list, ',', true)) {
      const auto more = measure_with_ranks(static_cast<int>(parse_int(r, "--ranks")), forwarded);
      rows.insert(rows.end(), more.begin(), more.end());
    }
  } else {
    comm = make_communicator(CommunicatorKind::automatic, communicator_options_from_env());
    for (const std::string& t : split(threads_list, ',', true))
      rows.push_back(
          measure(*comm, config, device, input, classes, static_cast<int>(parse_int(t, "--threads")), warmup, steps));
    if (comm->rank() != 0) return 0;
  }

  Table table({"model", "batch", "ranks", "threads", "images_per_s", "step_ms", "exposed_communication"});
  table.set_precision("images_per_s", 1);
  table.set_precision("step_ms", 3);
  table.set_precision("exposed_communication", 3);
  for (const Measurement& m : rows)
    table.add_row({config.text("experiment.name"), batch, int64_t{m.ranks}, int64_t{m.threads}, m.images_per_s,
                   m.step_ms, m.exposed_communication});
  fmt::print("{}", table.render(parse_table_format(format)));
  return 0;
}

}  // namespace stride::tools
