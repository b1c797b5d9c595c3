// The collectives a data-parallel job needs, behind one interface: Local (one
// process, every call a no-op), Mpi (CPU buffers, Open MPI) and Nccl (GPU
// buffers, NCCL bootstrapped over MPI). A trainer holds one Communicator for
// the whole run and calls the same sequence of collectives on every rank.
//
// The one idea: no wait is unbounded. Every collective is started
// non-blocking and waited for with a deadline (CommunicatorOptions::timeout);
// a wait that passes it asks the other ranks which collective they have reached,
// then fails with an MpiError/NcclError naming the rank(s) that did not arrive,
// and the communicator is left "failed": destroying it (or calling abort())
// takes the whole job down (MPI_Abort, ncclCommAbort) instead of finalising,
// so no rank is left hanging.
//
// Memory: float buffers (allreduce, broadcast of floats) live on device()
// (host memory for Local and Mpi, GPU memory for Nccl). Bytes, doubles and
// int64 values are always host memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stride/core/tensor.h"

namespace stride {

enum class ReduceOp : uint8_t {
  sum,
  average,  // sum / size()
};

enum class CommunicatorKind : uint8_t {
  automatic,  // mpi when launched by mpirun/srun, else local
  local,
  mpi,
  nccl,
};

// "auto" | "local" | "mpi" | "nccl"; ConfigError naming the value otherwise.
CommunicatorKind parse_communicator_kind(const std::string& name);

struct CommunicatorOptions {
  // Seconds any one collective may wait for the other ranks before the job is
  // aborted with the missing ranks named. <= 0 waits forever.
  double timeout_s = 120.0;
  // Nccl only: the cudaStream_t the backend queues kernels on. Collectives
  // start after the work queued there so far, and later work there waits for
  // them; nullptr is the legacy default stream.
  void* cuda_compute_stream = nullptr;
  // Nccl only: the GPU (>= 0), or the node-local rank modulo the GPUs (-1).
  int cuda_device = -1;
};

// Defaults, with timeout_s taken from STRIDE_COLLECTIVE_TIMEOUT (seconds) when set.
CommunicatorOptions communicator_options_from_env();

// True when this process was started by mpirun/mpiexec/srun as one of several
// ranks (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMI_RANK, PMIX_RANK or MPI_LOCALNRANKS set).
bool launched_by_mpi();

// Refuses (ConfigError, one line saying how to launch) a process of
// world_size 1 that torchrun's or Slurm's rank variables (WORLD_SIZE, RANK,
// LOCAL_RANK, SLURM_STEP_NUM_TASKS, SLURM_NTASKS in a job step, SLURM_PROCID)
// call one of several: started without MPI's wire-up, each would train a
// duplicate trial. make_communicator checks every communicator it makes.
void check_launch_environment(int world_size);

// A started non-blocking collective. Plain value: wait on it through the
// communicator that started it, exactly once.
struct CollectiveHandle {
  int64_t slot = -1;
  bool valid() const { return slot >= 0; }
};

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual std::string name() const = 0;  // "mpi (Open MPI v4.1.4, 2 ranks)"
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Rank among the processes on this node (picks the GPU).
  virtual int local_rank() const = 0;
  // Where float buffers passed to allreduce and broadcast must live.
  virtual Device device() const = 0;

  virtual void barrier() = 0;
  // Copies root's count floats (on device()) to every rank.
  virtual void broadcast(float* data, size_t count, int root) = 0;
  // Copies root's bytes (host memory) to every rank.
  virtual void broadcast_bytes(void* data, size_t bytes, int root) = 0;

  // In place over count floats on device(); returns when the result is there.
  void allreduce(float* data, size_t count, ReduceOp op) { wait(start_allreduce(data, count, op)); }
  void allreduce_sum(float* data, size_t count) { allreduce(data, count, ReduceOp::sum); }
  void allreduce_average(float* data, size_t count) { allreduce(data, count, ReduceOp::average); }

  // Starts an in-place all-reduce; data must stay untouched until wait()
  // returns. Handles complete in any order; several may be in flight. Starting
  // and waiting allocate nothing once as many handles as a step uses were seen.
  virtual CollectiveHandle start_allreduce(float* data, size_t count, ReduceOp op) = 0;
  // Blocks (bounded by the timeout) until the collective is done.
  virtual void wait(CollectiveHandle handle) = 0;
  // Drives progress of everything in flight without blocking. Call it now and
  // then between computations (GradientSync does, per layer) so large transfers
  // overlap with compute.
  virtual void progress() = 0;

  // count floats (zeroed) on device(), for benchmarks and staging buffers.
  virtual std::shared_ptr<float> allocate(size_t count);

  // Sums a few host doubles across ranks in place (loss, correct, count).
  virtual void sum_across_ranks(std::span<double> values) = 0;
  // Every rank's value, indexed by rank.
  virtual std::vector<int64_t> all_gather(int64_t value) = 0;

  // Collective over every rank: ranks with the same color form a new
  // communicator of the same kind (ranks ordered as here), with this one's
  // timeout. For groups of ranks that each run their own job (grid trials).
  virtual std::unique_ptr<Communicator> split(int color) = 0;
  // Ends the job on every rank with reason printed on one line. Local: throws
  // MpiError(reason) (there is no one else to stop).
  [[noreturn]] virtual void abort(const std::string& reason) = 0;

  // True after a collective failed or timed out; destroying a failed
  // communicator aborts the job rather than finalising.
  virtual bool failed() const = 0;
  double timeout_s() const { return timeout_s_; }

 protected:
  explicit Communicator(double timeout_s) : timeout_s_(timeout_s) {}
  double timeout_s_;
};

// One process, size 1: collectives return at once (average of one is itself).
std::unique_ptr<Communicator> make_local_communicator(const CommunicatorOptions& options = {});

class Backend;

// The communicator for `backend`'s tensors over the ranks of `host`: null when
// host itself serves (one rank, or a host-memory backend), else an NCCL
// communicator bootstrapped over host (an MPI communicator) on the backend's
// current GPU, whose collectives queue behind the backend's stream. Build the
// backend first (TrainContext does).
std::unique_ptr<Communicator> make_device_communicator(Communicator& host, Backend& backend);

// automatic: Mpi when launched_by_mpi(), else Local. mpi/nccl without MPI (or
// CUDA for nccl) in this build fail with a ConfigError. The first Mpi/Nccl
// communicator initialises MPI; MPI is finalised when the last one is destroyed.
std::unique_ptr<Communicator> make_communicator(CommunicatorKind kind,
                                                const CommunicatorOptions& options = communicator_options_from_env());

}  // namespace stride
