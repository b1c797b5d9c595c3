// Formatting of the build information generated at build time.
#include "build_info.h"

#include <fmt/format.h>

namespace stride::tools {

std::string describe_build() {
  const BuildInfo& info = build_info();
  const std::string_view commit = info.commit.substr(0, info.commit == "unknown" ? info.commit.size() : 7);
  return fmt::format("{} (commit {}{})", info.version, commit, info.modified ? ", modified" : "");
}

tracker::Params build_params() {
  const BuildInfo& info = build_info();
  return {{"stride.version", std::string(info.version)},
          {"stride.commit", fmt::format("{}{}", info.commit, info.modified ? "+modified" : "")}};
}

}  // namespace stride::tools
