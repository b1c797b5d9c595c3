// `stride bench` subcommands, one file each.
#pragma once

#include "commands.h"

namespace stride::tools {

int bench_train(const Args& args);
int bench_ops(const Args& args);
int bench_loader(const Args& args);
int bench_allreduce(const Args& args);

}  // namespace stride::tools
