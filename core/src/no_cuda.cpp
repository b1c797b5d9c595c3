// Builds without the CUDA backend: there is never a GPU to use.
#include "stride/common/error.h"
#include "stride/core/backend.h"

namespace stride {

bool cuda_available() { return false; }

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  fail<ConfigError>("device cuda: this build of Stride has no CUDA backend (configure with -DSTRIDE_CUDA=ON)");
}

}  // namespace stride
