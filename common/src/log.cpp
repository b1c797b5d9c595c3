// Logging setup: one pattern for every command, quieter ranks other than 0.
#include "stride/common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

#include <unistd.h>

#include <string>

namespace stride {

void init_logging(int rank, bool verbose) {
  // Logs go to stderr: stdout carries results (tables, JSON) that scripts read.
  if (!spdlog::get("stride")) spdlog::set_default_logger(spdlog::stderr_color_mt("stride"));
  if (rank == 0) {
    spdlog::set_pattern("[%H:%M:%S] %^%l%$ %v");
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  } else {
    spdlog::set_pattern("[%H:%M:%S] [rank " + std::to_string(rank) + "] %^%l%$ %v");
    spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::warn);
  }
}

bool is_terminal(std::FILE* stream) { return isatty(fileno(stream)) != 0; }

}  // namespace stride
