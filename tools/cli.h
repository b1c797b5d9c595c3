// Command-line parsing shared by the subcommands: Boost.Program_options with
// `--help`, positional arguments, and Boost's errors turned into ConfigError.
#pragma once

#include <boost/program_options.hpp>

#include <optional>
#include <string>

#include "commands.h"

namespace stride::tools {

namespace po = boost::program_options;

struct CommandLine {
  std::string usage;    // "stride prepare SOURCE --from PATH --out DIR"
  std::string summary;  // one paragraph printed under the usage
  po::options_description options{"options", 100};
  po::positional_options_description positional;
  // Extra hidden options (positional sinks) that --help does not list.
  po::options_description hidden{"hidden"};
};

// Parses args. Returns nullopt after printing help when --help is given.
std::optional<po::variables_map> parse_command_line(CommandLine& command, const Args& args);

}  // namespace stride::tools
