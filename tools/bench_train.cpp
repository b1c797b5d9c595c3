// `stride bench train`: under construction in this build.
#include "bench.h"
#include "stride/common/error.h"

namespace stride::tools {

int bench_train(const Args&) { fail<Error>("'bench train' is not part of this build yet"); }

}  // namespace stride::tools
