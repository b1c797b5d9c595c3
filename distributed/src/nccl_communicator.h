// The GPU communicator (built only with CUDA, NCCL and MPI).
#pragma once

#include <memory>

#include "stride/distributed/communicator.h"

namespace stride::detail {

std::unique_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options);
// Over the ranks of `host` (an MPI communicator: bootstrap, metrics, the
// watchdog), on the calling thread's current GPU, ordered on `compute_stream`.
std::unique_ptr<Communicator> make_nccl_communicator_over(Communicator& host, void* compute_stream);

}  // namespace stride::detail
