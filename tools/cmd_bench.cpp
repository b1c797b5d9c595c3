// `stride bench train|loader|allreduce ...`: throughput measurements.
#include <fmt/format.h>

#include "bench.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_bench(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    fmt::print(
        "usage: stride bench train|ops|loader|allreduce [options]\n"
        "  train      training images/s of a model config (per thread count, per rank count)\n"
        "  ops        each backend op of a config's training step: time, GFLOP/s, share; the step against peak\n"
        "  loader     images/s the streaming loader delivers with augmentation, per worker count\n"
        "  allreduce  all-reduce bus bandwidth from 4 KiB to 256 MiB (run under mpirun)\n");
    return args.empty() ? 2 : 0;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "train") return bench_train(rest);
  if (args[0] == "ops") return bench_ops(rest);
  if (args[0] == "loader") return bench_loader(rest);
  if (args[0] == "allreduce") return bench_allreduce(rest);
  fail<ConfigError>("unknown bench '{}' (expected train, ops, loader or allreduce)", args[0]);
}

}  // namespace stride::tools
