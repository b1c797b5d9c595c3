// `stride train`: under construction in this build.
#include "commands.h"
#include "stride/common/error.h"

namespace stride::tools {

int run_train(const Args&) { fail<Error>("'train' is not part of this build yet"); }

}  // namespace stride::tools
