// `stride predict`: under construction in this build.
#include "commands.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_predict(const Args&) { fail<Error>("'predict' is not part of this build yet"); }

}  // namespace stride::tools
