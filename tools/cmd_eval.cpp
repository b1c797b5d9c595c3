// `stride eval`: under construction in this build.
#include "commands.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_eval(const Args&) { fail<Error>("'eval' is not part of this build yet"); }

}  // namespace stride::tools
