// The GPU communicator under mpirun: float collectives on GPU memory through
// NCCL (NcclBase), everything else (bootstrap, metrics, barriers, the
// watchdog) through an MpiCommunicator.
//
// Rank 0 makes the ncclUniqueId and MPI broadcasts it; each rank drives its
// GPU (the backend's, or the node-local rank's). A timeout or an asynchronous
// NCCL error aborts the NCCL communicator (ncclCommAbort frees the GPU
// kernels spinning on a missing peer) and then the MPI job.
#include <fmt/format.h>

#include <exception>

#include "mpi_communicator.h"
#include "nccl_base.h"
#include "nccl_communicator.h"
#include "stride/common/error.h"

namespace stride::detail {
namespace {

class NcclCommunicator final : public NcclBase {
 public:
  explicit NcclCommunicator(const CommunicatorOptions& options)
      : NcclBase(options.timeout_s, static_cast<cudaStream_t>(options.cuda_compute_stream)),
        mpi_(options),
        uncaught_at_construction_(std::uncaught_exceptions()) {
    init(mpi_.local_rank(), options.cuda_device);
  }
  // The ranks of parent with this color; node_rank (the rank on the node in the
  // parent) picks the GPU, so groups sharing a node use different GPUs.
  NcclCommunicator(const CommunicatorOptions& options, MPI_Comm parent, int color, int node_rank)
      : NcclBase(options.timeout_s, static_cast<cudaStream_t>(options.cuda_compute_stream)),
        mpi_(options, parent, color),
        uncaught_at_construction_(std::uncaught_exceptions()) {
    init(node_rank, options.cuda_device);
  }
  ~NcclCommunicator() override {
    const bool leaving_on_error = std::uncaught_exceptions() > uncaught_at_construction_;
    if (failed_ || leaving_on_error) {
      teardown(true);
      MpiSession::abort_job(failed_ ? failure_
                                    : fmt::format("rank {} left the job on an error (see its message above)", rank()));
    }
    teardown(false);  // before mpi_ finalises
  }

  std::string name() const override {
    return fmt::format("nccl ({}.{}.{}, {} ranks, GPU {})", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH, size(), device_);
  }
  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  int local_rank() const override { return mpi_.local_rank(); }

  std::unique_ptr<Communicator> split(int color) override {
    CommunicatorOptions options;
    options.timeout_s = timeout_s_;
    options.cuda_compute_stream = compute_;
    options.cuda_device = device_;
    return std::make_unique<NcclCommunicator>(options, mpi_.comm(), color, mpi_.local_rank());
  }
  void barrier() override { mpi_.barrier(); }
  void broadcast_bytes(void* data, size_t bytes, int root) override { mpi_.broadcast_bytes(data, bytes, root); }
  void progress() override { mpi_.progress(); }
  void sum_across_ranks(std::span<double> values) override { mpi_.sum_across_ranks(values); }
  std::vector<int64_t> all_gather(int64_t value) override { return mpi_.all_gather(value); }
  [[noreturn]] void abort(const std::string& reason) override {
    failed_ = true;
    teardown(true);
    MpiSession::abort_job(reason);
  }

 protected:
  int64_t next_sequence() override { return mpi_.watchdog().begin(); }
  bool wait_until(int64_t sequence, const std::function<bool()>& done) override {
    return mpi_.watchdog().wait_until(sequence, done);
  }
  std::string timeout_message(int64_t sequence, const char* what, size_t bytes) override {
    return mpi_.watchdog().diagnose(sequence, what, bytes);
  }
  bool host_failed() const override { return mpi_.failed(); }

 private:
  void init(int node_rank, int cuda_device) {
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      cudaGetLastError();
      fail<NcclError>("rank {}: no GPU visible for the nccl communicator", mpi_.rank());
    }
    const int device = cuda_device >= 0 ? cuda_device : node_rank % devices;
    STRIDE_CUDA_CHECK(cudaSetDevice(device));
    ncclUniqueId id{};
    if (mpi_.rank() == 0) STRIDE_NCCL_CHECK(ncclGetUniqueId(&id));
    mpi_.broadcast_bytes(&id, sizeof id, 0);
    // Everyone is here (bounded wait) before the unbounded NCCL handshake.
    mpi_.barrier();
    ncclComm_t comm = nullptr;
    STRIDE_NCCL_CHECK(ncclCommInitRank(&comm, mpi_.size(), id, mpi_.rank()));
    adopt(comm, device);
  }

  MpiCommunicator mpi_;
  int uncaught_at_construction_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options) {
  return std::make_unique<NcclCommunicator>(options);
}

std::unique_ptr<Communicator> make_nccl_communicator_over(Communicator& host, void* compute_stream) {
  auto* mpi = dynamic_cast<MpiCommunicator*>(&host);
  if (mpi == nullptr)
    fail<ConfigError>("NCCL bootstraps over an MPI communicator; this job's is {} (start it with mpirun)", host.name());
  CommunicatorOptions options;
  options.timeout_s = host.timeout_s();
  options.cuda_compute_stream = compute_stream;
  STRIDE_CUDA_CHECK(cudaGetDevice(&options.cuda_device));
  // One color: a communicator over the same ranks, with a watchdog of its own.
  return std::make_unique<NcclCommunicator>(options, mpi->comm(), 0, mpi->local_rank());
}

}  // namespace stride::detail
