// `stride grid`: under construction in this build.
#include "commands.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_grid(const Args&) { fail<Error>("'grid' is not part of this build yet"); }

}  // namespace stride::tools
