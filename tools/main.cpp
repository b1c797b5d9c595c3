// `stride COMMAND ...`: dispatches to a subcommand; the one place that turns an
// exception into a one-line message and a non-zero exit code.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string_view>

#include <fmt/format.h>

#include "commands.h"
#include "run/build_info.h"
#include "stride/common/error.h"
#include "stride/common/log.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const stride::tools::Args&);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"prepare", stride::tools::run_prepare, "import a dataset into HDF5 shards + manifest.json"},
    {"train", stride::tools::run_train, "train one trial (data-parallel under mpirun)"},
    {"grid", stride::tools::run_grid, "run every point of a config's [grid] as a trial"},
    {"eval", stride::tools::run_eval, "accuracy, per-class precision/recall/F1, confusion matrix"},
    {"predict", stride::tools::run_predict, "classify PNG/JPEG images with a checkpoint"},
    {"summary", stride::tools::run_summary, "layer table: output shapes, parameters, FLOPs"},
    {"report", stride::tools::run_report, "query the experiment store: trials, curves, HTML"},
    {"bench", stride::tools::run_bench, "throughput of training, the loader and all-reduce"},
    {"export", stride::tools::run_export, "write a checkpoint's model as ONNX"},
};

void print_usage(std::FILE* out) {
  fmt::print(out, "usage: stride COMMAND [options]   (stride COMMAND --help for its options)\n\ncommands:\n");
  for (const auto& c : kCommands) fmt::print(out, "  {:<9} {}\n", c.name, c.summary);
}

// How OpenMP threads wait between parallel regions decides a small network's
// speed: a sleeping worker needs tens of microseconds to wake, and a step of
// the seed CNN runs two dozen regions. Spinning without bound (libgomp's
// OMP_WAIT_POLICY=active) starves everything else on the cores when they are
// shared (loader workers, other ranks, other jobs): a loaded machine then
// trains ten times slower. So threads spin a bounded while (GOMP_SPINCOUNT,
// about a millisecond) and then sleep, and sleep at once (passive) when the
// node is already busier than its cores (more ranks than cores, or a load
// average above the core count at start). libgomp reads these once, when it
// loads, so the only way to choose them for ourselves is to set them and
// start again; any explicit setting is respected. Only the commands that
// compute pay for the second start.
constexpr const char* kBoundedSpin = "50000";

bool node_is_oversubscribed() {
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"})
    if (const char* value = std::getenv(name); value != nullptr && std::atol(value) > cores) return true;
  double load = 0;
  return getloadavg(&load, 1) == 1 && load > static_cast<double>(cores);
}

void choose_openmp_waiting(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr || argc < 2) return;
  const std::string_view command = argv[1];
  if (command != "train" && command != "grid" && command != "eval" && command != "predict" && command != "bench")
    return;
  if (node_is_oversubscribed())
    setenv("OMP_WAIT_POLICY", "passive", 1);
  else
    setenv("GOMP_SPINCOUNT", kBoundedSpin, 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on as we are
}

}  // namespace

int main(int argc, char** argv) {
  choose_openmp_waiting(argc, argv);
  stride::init_logging();
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  if (name == "--version") {
    fmt::print("stride {}\n", stride::tools::describe_build());
    return 0;
  }
  for (const auto& command : kCommands) {
    if (name != command.name) continue;
    const stride::tools::Args args(argv + 2, argv + argc);
    try {
      return command.run(args);
    } catch (const stride::Error& e) {
      fmt::print(stderr, "stride {}: error: {}\n", command.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      fmt::print(stderr, "stride {}: error: {}\n", command.name, e.what());
      return 1;
    }
  }
  fmt::print(stderr, "stride: unknown command '{}'\n", name);
  print_usage(stderr);
  return 2;
}
