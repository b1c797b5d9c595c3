// NcclCommunicator: float collectives on GPU memory through NCCL, everything
// else (bootstrap, metrics, barriers, the watchdog) through an MpiCommunicator.
//
// Rank 0 makes the ncclUniqueId and MPI broadcasts it; each rank drives the GPU
// numbered by its node-local rank. Collectives run on a stream of their own:
// each waits (an event) for the work queued so far on the compute stream, and
// records a "done" event that wait() polls against the watchdog's deadline.
// A timeout or an asynchronous NCCL error aborts the NCCL communicator
// (ncclCommAbort frees the GPU kernels spinning on a missing peer) and then
// the MPI job.
#include "nccl_communicator.h"

#include <fmt/format.h>
#include <nccl.h>

#include <algorithm>
#include <exception>
#include <vector>

#include "cuda_check.h"
#include "mpi_communicator.h"
#include "stride/common/error.h"

namespace stride::detail {

namespace {

void check_nccl(ncclResult_t status, const char* expression, const char* file, int line) {
  if (status == ncclSuccess) return;
  fail<NcclError>("NCCL: {} ({} at {}:{})", ncclGetErrorString(status), expression, file, line);
}
#define STRIDE_NCCL_CHECK(expr) check_nccl((expr), #expr, __FILE__, __LINE__)

struct NcclCommTraits {
  static ncclComm_t invalid() noexcept { return nullptr; }
  static void close(ncclComm_t comm) noexcept { ncclCommDestroy(comm); }
};
using NcclComm = UniqueHandle<ncclComm_t, NcclCommTraits>;

class NcclCommunicator final : public Communicator {
 public:
  explicit NcclCommunicator(const CommunicatorOptions& options);
  // The ranks of parent with this color; node_rank (the rank on the node in the
  // parent) picks the GPU, so groups sharing a node use different GPUs.
  NcclCommunicator(const CommunicatorOptions& options, MPI_Comm parent, int color, int node_rank);
  ~NcclCommunicator() override;

  std::string name() const override {
    return fmt::format("nccl ({}.{}.{}, {} ranks, GPU {})", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH, size(), device_);
  }
  int rank() const override { return mpi_.rank(); }
  int size() const override { return mpi_.size(); }
  int local_rank() const override { return mpi_.local_rank(); }
  Device device() const override { return Device::cuda; }

  std::unique_ptr<Communicator> split(int color) override {
    CommunicatorOptions options;
    options.timeout_s = timeout_s_;
    options.cuda_compute_stream = compute_;
    options.cuda_device = device_;
    return std::make_unique<NcclCommunicator>(options, mpi_.comm(), color, mpi_.local_rank());
  }
  void barrier() override { mpi_.barrier(); }
  void broadcast(float* data, size_t count, int root) override;
  void broadcast_bytes(void* data, size_t bytes, int root) override { mpi_.broadcast_bytes(data, bytes, root); }
  CollectiveHandle start_allreduce(float* data, size_t count, ReduceOp op) override;
  void wait(CollectiveHandle handle) override;
  void progress() override { mpi_.progress(); }
  std::shared_ptr<float> allocate(size_t count) override;
  void sum_across_ranks(std::span<double> values) override { mpi_.sum_across_ranks(values); }
  std::vector<int64_t> all_gather(int64_t value) override { return mpi_.all_gather(value); }
  [[noreturn]] void abort(const std::string& reason) override;
  bool failed() const override { return failed_ || mpi_.failed(); }

 private:
  struct Slot {
    cuda::Event ready, done;
    int64_t seq = -1;
    size_t bytes = 0;
    const char* what = "";
    bool busy = false;
  };

  void init(int node_rank, int cuda_device);
  Slot& begin(const char* what, size_t bytes);
  void finish(Slot& slot);
  [[noreturn]] void fail_collective(const std::string& message);

  MpiCommunicator mpi_;  // first member: destroyed last
  int device_ = 0;
  cudaStream_t compute_ = nullptr;
  NcclComm comm_;
  cuda::Stream stream_;
  std::vector<Slot> slots_;
  bool failed_ = false;
  std::string failure_;
  int uncaught_at_construction_ = 0;
};

NcclCommunicator::NcclCommunicator(const CommunicatorOptions& options)
    : Communicator(options.timeout_s),
      mpi_(options),
      compute_(static_cast<cudaStream_t>(options.cuda_compute_stream)),
      uncaught_at_construction_(std::uncaught_exceptions()) {
  init(mpi_.local_rank(), options.cuda_device);
}

NcclCommunicator::NcclCommunicator(const CommunicatorOptions& options, MPI_Comm parent, int color, int node_rank)
    : Communicator(options.timeout_s),
      mpi_(options, parent, color),
      compute_(static_cast<cudaStream_t>(options.cuda_compute_stream)),
      uncaught_at_construction_(std::uncaught_exceptions()) {
  init(node_rank, options.cuda_device);
}

void NcclCommunicator::init(int node_rank, int cuda_device) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    cudaGetLastError();
    fail<NcclError>("rank {}: no GPU visible for the nccl communicator", mpi_.rank());
  }
  device_ = cuda_device >= 0 ? cuda_device : node_rank % devices;
  STRIDE_CUDA_CHECK(cudaSetDevice(device_));
  ncclUniqueId id{};
  if (mpi_.rank() == 0) STRIDE_NCCL_CHECK(ncclGetUniqueId(&id));
  mpi_.broadcast_bytes(&id, sizeof id, 0);
  // Everyone is here (bounded wait) before the unbounded NCCL handshake.
  mpi_.barrier();
  ncclComm_t comm = nullptr;
  STRIDE_NCCL_CHECK(ncclCommInitRank(&comm, mpi_.size(), id, mpi_.rank()));
  comm_.reset(comm);
  stream_ = cuda::make_stream();
  slots_.reserve(64);
}

NcclCommunicator::~NcclCommunicator() {
  const bool leaving_on_error = std::uncaught_exceptions() > uncaught_at_construction_;
  if (failed_ || leaving_on_error) {
    if (comm_) ncclCommAbort(comm_.release());
    MpiSession::abort_job(failed_ ? failure_
                                  : fmt::format("rank {} left the job on an error (see its message above)", rank()));
  }
  if (stream_) cudaStreamSynchronize(stream_.get());
}

void NcclCommunicator::abort(const std::string& reason) {
  failed_ = true;
  if (comm_) ncclCommAbort(comm_.release());
  MpiSession::abort_job(reason);
}

void NcclCommunicator::fail_collective(const std::string& message) {
  failed_ = true;
  failure_ = message;
  if (comm_) ncclCommAbort(comm_.release());
  throw NcclError(message);
}

NcclCommunicator::Slot& NcclCommunicator::begin(const char* what, size_t bytes) {
  if (failed()) fail<NcclError>("communicator unusable after an earlier failure: {}", failure_);
  size_t index = 0;
  while (index < slots_.size() && slots_[index].busy) ++index;
  if (index == slots_.size()) {
    slots_.emplace_back();
    slots_.back().ready = cuda::make_event();
    slots_.back().done = cuda::make_event();
  }
  Slot& slot = slots_[index];
  slot.seq = mpi_.watchdog().begin();
  slot.bytes = bytes;
  slot.what = what;
  slot.busy = true;
  // Start after whatever the backend has queued so far (the gradients).
  STRIDE_CUDA_CHECK(cudaEventRecord(slot.ready.get(), compute_));
  STRIDE_CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), slot.ready.get(), 0));
  return slot;
}

void NcclCommunicator::finish(Slot& slot) {
  std::string error;
  const bool done = mpi_.watchdog().wait_until(slot.seq, [&] {
    const cudaError_t query = cudaEventQuery(slot.done.get());
    if (query == cudaSuccess) return true;
    if (query != cudaErrorNotReady) {
      error = fmt::format("CUDA: {} while waiting for {}", cudaGetErrorString(query), slot.what);
      return true;
    }
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_.get(), &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      error = fmt::format("NCCL: {} during {} #{}", ncclGetErrorString(async), slot.what, slot.seq);
      return true;
    }
    return false;
  });
  slot.busy = false;
  if (!done) fail_collective(mpi_.watchdog().diagnose(slot.seq, slot.what, slot.bytes));
  if (!error.empty()) fail_collective(error);
  // Later work on the compute stream reads the result.
  STRIDE_CUDA_CHECK(cudaStreamWaitEvent(compute_, slot.done.get(), 0));
}

CollectiveHandle NcclCommunicator::start_allreduce(float* data, size_t count, ReduceOp op) {
  Slot& slot = begin("allreduce", count * sizeof(float));
  STRIDE_NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat32, op == ReduceOp::average ? ncclAvg : ncclSum,
                                  comm_.get(), stream_.get()));
  STRIDE_CUDA_CHECK(cudaEventRecord(slot.done.get(), stream_.get()));
  return CollectiveHandle{static_cast<int64_t>(&slot - slots_.data())};
}

void NcclCommunicator::wait(CollectiveHandle handle) {
  if (!handle.valid() || static_cast<size_t>(handle.slot) >= slots_.size() ||
      !slots_[static_cast<size_t>(handle.slot)].busy)
    fail<NcclError>("wait on a collective handle that is not in flight");
  finish(slots_[static_cast<size_t>(handle.slot)]);
}

std::shared_ptr<float> NcclCommunicator::allocate(size_t count) {
  void* memory = nullptr;
  STRIDE_CUDA_CHECK(cudaMalloc(&memory, std::max<size_t>(count, 1) * sizeof(float)));
  std::shared_ptr<float> buffer(static_cast<float*>(memory), [](float* p) { cudaFree(p); });
  STRIDE_CUDA_CHECK(cudaMemset(memory, 0, count * sizeof(float)));
  return buffer;
}

void NcclCommunicator::broadcast(float* data, size_t count, int root) {
  Slot& slot = begin("broadcast", count * sizeof(float));
  STRIDE_NCCL_CHECK(ncclBroadcast(data, data, count, ncclFloat32, root, comm_.get(), stream_.get()));
  STRIDE_CUDA_CHECK(cudaEventRecord(slot.done.get(), stream_.get()));
  finish(slot);
}

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
