// Boost.Program_options glue: help text and one-line errors.
#include "cli.h"

#include <fmt/format.h>

#include "stride/common/error.h"

namespace stride::tools {

std::optional<po::variables_map> parse_command_line(CommandLine& command, const Args& args) {
  command.options.add_options()("help,h", "show this help");
  po::options_description all;
  all.add(command.options).add(command.hidden);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(args).options(all).positional(command.positional).run(), vm);
    if (vm.count("help")) {
      fmt::print("usage: {}\n\n{}\n\n", command.usage, command.summary);
      std::ostringstream text;
      text << command.options;
      fmt::print("{}", text.str());
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    fail<ConfigError>("{} (usage: {})", e.what(), command.usage);
  }
  return vm;
}

}  // namespace stride::tools
