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

// OpenMP threads that spin while waiting (libgomp's default) starve everything
// else on the cores: the loader's workers, other ranks on the node, other jobs.
// On a busy machine a training step then runs ten times slower. libgomp reads
// OMP_WAIT_POLICY once, when it loads, so the only way to choose it for
// ourselves is to set it and start again; an explicit setting is respected.
// Only the commands that compute pay for the second start.
void prefer_passive_openmp_threads(int argc, char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") != nullptr || argc < 2) return;
  const std::string_view command = argv[1];
  if (command != "train" && command != "grid" && command != "eval" && command != "predict" && command != "bench")
    return;
  setenv("OMP_WAIT_POLICY", "passive", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: carry on as we are
}

}  // namespace

int main(int argc, char** argv) {
  prefer_passive_openmp_threads(argc, argv);
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
