// `stride prepare`: under construction in this build.
#include "commands.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_prepare(const Args&) { fail<Error>("'prepare' is not part of this build yet"); }

}  // namespace stride::tools
