// The GPU communicators (built with CUDA and NCCL).
//
// Over MPI (built with MPI too): MPI gives ranks, bootstraps NCCL (rank 0's
// ncclUniqueId broadcast), carries host values and runs the collective
// watchdog. Without MPI: a communicator from an ncclUniqueId handed over by the
// caller, whose host values travel through NCCL as well (staged in device
// memory) and whose waits are bounded by a plain deadline. The fork bootstrap
// below hands such ids to forked children, so NCCL runs without mpirun (tests).
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "stride/distributed/communicator.h"

namespace stride::detail {

#if STRIDE_DISTRIBUTED_MPI
std::unique_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options);
// Over the ranks of `host` (an MPI communicator: bootstrap, metrics, the
// watchdog), on the calling thread's current GPU, ordered on `compute_stream`.
std::unique_ptr<Communicator> make_nccl_communicator_over(Communicator& host, void* compute_stream);
#endif

// An ncclUniqueId as bytes, so nccl.h stays out of this header.
struct NcclId {
  std::array<char, 128> bytes{};
};

// ncclGetUniqueId: opens NCCL's bootstrap listener in this process (which must
// stay alive until every rank has joined); creates no CUDA context.
NcclId make_nccl_id();

// Rank `rank` of `world` joined through `id`, on the calling thread's current
// GPU, its collectives ordered after `compute_stream` (a backend's stream).
// Collective waits longer than timeout_s (> 0) abort the communicator.
std::unique_ptr<Communicator> make_nccl_communicator_from_id(const NcclId& id, int rank, int world,
                                                             void* compute_stream, double timeout_s);

// The fork bootstrap. Forks `world` children; once they are running, the
// parent makes the id and writes it down a pipe to each; child r runs
// body(r, world, id) and reports what it returns (empty: success) or throws
// through another pipe. Returns each child's report, in rank order, after all
// have exited or timeout_s has passed (then the rest are killed and say so).
//
// A forked child cannot use a CUDA context its parent created: the calling
// process must not have initialised CUDA (no backend, no cudaGetDeviceCount);
// count_gpus_in_child() asks a child instead.
struct ForkedRank {
  int rank = 0;
  bool ok = false;
  std::string report;  // the body's message, an exception's, or why the child did not finish
};
using ForkedBody = std::function<std::string(int rank, int world, const NcclId& id)>;
std::vector<ForkedRank> run_forked_ranks(int world, double timeout_s, const ForkedBody& body);

// The GPUs a freshly forked child sees (0 without a driver or a GPU).
int count_gpus_in_child();

}  // namespace stride::detail
