// Builds without the CUDA backend: there is never a GPU to use.
#include "stride/core/backend.h"

namespace stride {

bool cuda_available() { return false; }

}  // namespace stride
