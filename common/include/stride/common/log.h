// Logging through spdlog. Rank 0 logs at info; other ranks only warnings and
// errors, so an N-rank job prints one progress stream. Every line of a rank
// other than 0 carries its rank.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdio>

namespace stride {

// Sets the global spdlog pattern and level for this process.
void init_logging(int rank = 0, bool verbose = false);

// True when the stream is an interactive terminal (progress bars redraw in place).
bool is_terminal(std::FILE* stream);

}  // namespace stride
