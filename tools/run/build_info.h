// Which code a trial ran: the project version and the git commit it was
// built from (tools/build_info.cmake writes them at every build), recorded
// with every trial so a result can be traced back to its source.
#pragma once

#include <string>
#include <string_view>

#include "stride/tracker/params.h"

namespace stride::tools {

struct BuildInfo {
  std::string_view version;  // "0.1.0"
  std::string_view commit;   // 40 hex digits, or "unknown" outside a git checkout
  bool modified = false;     // tracked files differed from the commit
};

const BuildInfo& build_info();

// "0.1.0 (commit 46988ba, modified)": for --version and logs.
std::string describe_build();

// The trial parameters naming the code: stride.version ("0.1.0"), stride.commit
// (the commit, with "+modified" when tracked files differed from it).
tracker::Params build_params();

}  // namespace stride::tools
