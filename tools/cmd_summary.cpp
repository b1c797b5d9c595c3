// `stride summary`: under construction in this build.
#include "commands.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_summary(const Args&) { fail<Error>("'summary' is not part of this build yet"); }

}  // namespace stride::tools
