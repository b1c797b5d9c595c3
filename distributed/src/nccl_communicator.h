// The GPU communicator (built only with CUDA, NCCL and MPI).
#pragma once

#include <memory>

#include "stride/distributed/communicator.h"

namespace stride::detail {

std::unique_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options);

}  // namespace stride::detail
