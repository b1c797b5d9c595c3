// `stride bench loader`: under construction in this build.
#include "bench.h"
#include "stride/common/error.h"

namespace stride::tools {

int bench_loader(const Args&) { fail<Error>("'bench loader' is not part of this build yet"); }

}  // namespace stride::tools
