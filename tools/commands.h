// The subcommands of the `stride` binary. Each takes its own argument list
// (without the program and command names), parses it with
// Boost.Program_options, calls into the libraries and returns the exit code.
// Errors are thrown as stride::Error and reported by main.
#pragma once

#include <string>
#include <vector>

namespace stride::tools {

using Args = std::vector<std::string>;

int run_prepare(const Args& args);
int run_train(const Args& args);
int run_grid(const Args& args);
int run_eval(const Args& args);
int run_predict(const Args& args);
int run_summary(const Args& args);
int run_report(const Args& args);
int run_bench(const Args& args);
int run_export(const Args& args);

}  // namespace stride::tools
