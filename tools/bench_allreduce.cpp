// `stride bench allreduce`: all-reduce time and bandwidth per message size,
// through the same Communicator training uses (so it measures the watchdog's
// non-blocking path too). Run it under mpirun: one line per size, timed on
// every rank and reported for the slowest, with nccl-tests' definitions:
// algbw = bytes / time, busbw = algbw * 2 (n - 1) / n (what each link carries
// in a ring, comparable across rank counts).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <vector>

#include "bench.h"
#include "cli.h"
#include "stride/common/error.h"
#include "stride/common/table.h"
#include "stride/distributed/communicator.h"

namespace stride::tools {

namespace {

std::string size_label(size_t bytes) {
  if (bytes >= (size_t{1} << 30) && bytes % (size_t{1} << 30) == 0) return fmt::format("{} GiB", bytes >> 30);
  if (bytes >= (size_t{1} << 20) && bytes % (size_t{1} << 20) == 0) return fmt::format("{} MiB", bytes >> 20);
  if (bytes >= (size_t{1} << 10) && bytes % (size_t{1} << 10) == 0) return fmt::format("{} KiB", bytes >> 10);
  return fmt::format("{} B", bytes);
}

// Bytes with an optional K/M/G suffix (binary): "4K", "256M", "1048576".
size_t parse_bytes(const std::string& text, const char* option) {
  size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    fail<ConfigError>("--{}: expected a size such as 4K or 256M, got '{}'", option, text);
  }
  const std::string suffix = text.substr(used);
  if (suffix == "K" || suffix == "k" || suffix == "KiB")
    value <<= 10;
  else if (suffix == "M" || suffix == "m" || suffix == "MiB")
    value <<= 20;
  else if (suffix == "G" || suffix == "g" || suffix == "GiB")
    value <<= 30;
  else if (!suffix.empty() && suffix != "B")
    fail<ConfigError>("--{}: unknown unit '{}' in '{}' (use K, M or G)", option, suffix, text);
  if (value < sizeof(float)) fail<ConfigError>("--{}: at least 4 bytes, got '{}'", option, text);
  return static_cast<size_t>(value);
}

}  // namespace

int bench_allreduce(const Args& args) {
  CommandLine command;
  command.usage = "mpirun -np N stride bench allreduce [--min-bytes 4K] [--max-bytes 256M] [--format table|csv|json]";
  command.summary =
      "In-place float all-reduce (sum) for sizes from --min-bytes to --max-bytes, times --factor each step.\n"
      "time_us is the slowest rank's mean over --iterations after --warmup; algbw = bytes / time,\n"
      "busbw = algbw * 2(n-1)/n (nccl-tests). 'wrong' counts elements of a checked all-reduce that differ.";
  std::string min_text, max_text, format_name, kind_name;
  int64_t factor = 4, iterations = 20, warmup = 5;
  // clang-format off
  command.options.add_options()
      ("min-bytes", po::value(&min_text)->default_value("4K"), "smallest message")
      ("max-bytes", po::value(&max_text)->default_value("256M"), "largest message")
      ("factor", po::value(&factor)->default_value(4), "size multiplier between lines")
      ("iterations", po::value(&iterations)->default_value(20), "timed all-reduces per size")
      ("warmup", po::value(&warmup)->default_value(5), "untimed all-reduces per size first")
      ("communicator", po::value(&kind_name)->default_value("auto"), "auto, local, mpi or nccl")
      ("format", po::value(&format_name)->default_value("table"), "table, csv or json");
  // clang-format on
  const auto vm = parse_command_line(command, args);
  if (!vm) return 0;
  const TableFormat format = parse_table_format(format_name);
  const size_t min_bytes = parse_bytes(min_text, "min-bytes");
  const size_t max_bytes = parse_bytes(max_text, "max-bytes");
  if (min_bytes > max_bytes) fail<ConfigError>("--min-bytes {} is above --max-bytes {}", min_text, max_text);
  if (factor < 2) fail<ConfigError>("--factor: at least 2, got {}", factor);
  if (iterations < 1 || warmup < 0) fail<ConfigError>("--iterations must be >= 1 and --warmup >= 0");

  auto comm = make_communicator(parse_communicator_kind(kind_name));
  const int n = comm->size();
  const size_t max_count = max_bytes / sizeof(float);
  std::shared_ptr<float> buffer = comm->allocate(max_count);
  std::vector<float> host(comm->device() == Device::cpu ? 0 : max_count);

  Table table({"size", "bytes", "count", "time_us", "algbw_GBps", "busbw_GBps", "wrong"});
  table.set_precision("time_us", 1);
  table.set_precision("algbw_GBps", 3);
  table.set_precision("busbw_GBps", 3);
  for (size_t bytes = min_bytes; bytes <= max_bytes; bytes *= static_cast<size_t>(factor)) {
    const size_t count = bytes / sizeof(float);
    float* data = buffer.get();
    // Timed on zeros (sums stay finite however many rounds run).
    for (int64_t i = 0; i < warmup; ++i) comm->allreduce_sum(data, count);
    comm->barrier();
    const auto begin = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < iterations; ++i) comm->allreduce_sum(data, count);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - begin);
    const auto all = comm->all_gather(ns.count());
    const double seconds =
        static_cast<double>(*std::max_element(all.begin(), all.end())) * 1e-9 / static_cast<double>(iterations);

    // One checked round on host buffers: every element must be 1 + 2 + ... + n.
    int64_t wrong = 0;
    if (comm->device() == Device::cpu) {
      std::fill(data, data + count, static_cast<float>(comm->rank() + 1));
      comm->allreduce_sum(data, count);
      const float expected = static_cast<float>(n) * static_cast<float>(n + 1) / 2.0f;
      wrong = std::count_if(data, data + count, [expected](float v) { return v != expected; });
      std::fill(data, data + count, 0.0f);
    }
    std::vector<double> wrong_total{static_cast<double>(wrong)};
    comm->sum_across_ranks(wrong_total);

    const double algbw = static_cast<double>(count * sizeof(float)) / seconds * 1e-9;
    const double busbw = algbw * 2.0 * (n - 1) / n;
    table.add_row({size_label(bytes), static_cast<int64_t>(count * sizeof(float)), static_cast<int64_t>(count),
                   seconds * 1e6, algbw, busbw, static_cast<int64_t>(wrong_total[0])});
    if (bytes > max_bytes / static_cast<size_t>(factor)) break;  // the next step would pass the end (or overflow)
  }
  if (comm->rank() == 0) {
    if (format == TableFormat::text)
      fmt::print("# all-reduce (sum, in place) over {}: {} iterations after {} warm-up per size\n", comm->name(),
                 iterations, warmup);
    fmt::print("{}", table.render(format));
  }
  comm->barrier();
  return 0;
}

}  // namespace stride::tools
