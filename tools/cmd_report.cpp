// `stride report`: under construction in this build.
#include "commands.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_report(const Args&) { fail<Error>("'report' is not part of this build yet"); }

}  // namespace stride::tools
