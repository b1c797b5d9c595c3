// `stride bench allreduce`: under construction in this build.
#include "bench.h"
#include "stride/common/error.h"

namespace stride::tools {

int bench_allreduce(const Args&) { fail<Error>("'bench allreduce' is not part of this build yet"); }

}  // namespace stride::tools
