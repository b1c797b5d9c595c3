// The collectives every GPU communicator shares (NcclBase), and the
// communicator bootstrapped from an ncclUniqueId without MPI: its host
// collectives (barrier, bytes, doubles, gathers) go through NCCL on staging
// buffers, and a wait that passes the deadline aborts the NCCL communicator
// (which frees the kernels spinning on a missing peer) and fails with the
// collective named. Without the MPI side channel it cannot name the rank that
// did not arrive.
#include "nccl_communicator.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <exception>
#include <thread>

#include "nccl_base.h"
#include "stride/common/error.h"

namespace stride::detail {

void check_nccl(ncclResult_t status, const char* expression, const char* file, int line) {
  if (status == ncclSuccess) return;
  fail<NcclError>("NCCL: {} ({} at {}:{})", ncclGetErrorString(status), expression, file, line);
}

NcclBase::NcclBase(double timeout_s, cudaStream_t compute) : Communicator(timeout_s), compute_(compute) {}

void NcclBase::adopt(ncclComm_t comm, int device) {
  comm_.reset(comm);
  device_ = device;
  stream_ = cuda::make_stream();
  slots_.reserve(64);
}

void NcclBase::teardown(bool abort) noexcept {
  if (abort) {
    if (comm_) ncclCommAbort(comm_.release());
  } else {
    if (stream_) cudaStreamSynchronize(stream_.get());
    comm_.reset();
  }
  cudaGetLastError();
}

NcclBase::Slot& NcclBase::begin(const char* what, size_t bytes, bool after_compute) {
  if (failed()) fail<NcclError>("communicator unusable after an earlier failure: {}", failure_);
  size_t index = 0;
  while (index < slots_.size() && slots_[index].busy) ++index;
  if (index == slots_.size()) {
    slots_.emplace_back();
    slots_.back().ready = cuda::make_event();
    slots_.back().done = cuda::make_event();
  }
  Slot& slot = slots_[index];
  slot.sequence = next_sequence();
  slot.bytes = bytes;
  slot.what = what;
  slot.busy = true;
  if (after_compute) {
    // Start after whatever the backend has queued so far (the gradients).
    STRIDE_CUDA_CHECK(cudaEventRecord(slot.ready.get(), compute_));
    STRIDE_CUDA_CHECK(cudaStreamWaitEvent(stream_.get(), slot.ready.get(), 0));
  }
  return slot;
}

void NcclBase::end(Slot& slot) { STRIDE_CUDA_CHECK(cudaEventRecord(slot.done.get(), stream_.get())); }

void NcclBase::finish(Slot& slot, bool order_compute) {
  std::string error;
  const bool done = wait_until(slot.sequence, [&] {
    const cudaError_t query = cudaEventQuery(slot.done.get());
    if (query == cudaSuccess) return true;
    if (query != cudaErrorNotReady) {
      error = fmt::format("CUDA: {} while waiting for {}", cudaGetErrorString(query), slot.what);
      return true;
    }
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(comm_.get(), &async);
    if (async != ncclSuccess && async != ncclInProgress) {
      error = fmt::format("NCCL: {} during {} #{}", ncclGetErrorString(async), slot.what, slot.sequence);
      return true;
    }
    return false;
  });
  cudaGetLastError();  // cudaErrorNotReady from the polls is not an error
  slot.busy = false;
  if (!done) fail_collective(timeout_message(slot.sequence, slot.what, slot.bytes));
  if (!error.empty()) fail_collective(error);
  // Later work on the compute stream reads the result.
  if (order_compute) STRIDE_CUDA_CHECK(cudaStreamWaitEvent(compute_, slot.done.get(), 0));
}

void NcclBase::fail_collective(const std::string& message) {
  failed_ = true;
  failure_ = message;
  if (comm_) ncclCommAbort(comm_.release());
  throw NcclError(message);
}

CollectiveHandle NcclBase::start_allreduce(float* data, size_t count, ReduceOp op) {
  Slot& slot = begin("allreduce", count * sizeof(float));
  STRIDE_NCCL_CHECK(ncclAllReduce(data, data, count, ncclFloat32, op == ReduceOp::average ? ncclAvg : ncclSum,
                                  comm_.get(), stream_.get()));
  end(slot);
  return CollectiveHandle{static_cast<int64_t>(&slot - slots_.data())};
}

void NcclBase::wait(CollectiveHandle handle) {
  if (!handle.valid() || static_cast<size_t>(handle.slot) >= slots_.size() ||
      !slots_[static_cast<size_t>(handle.slot)].busy)
    fail<NcclError>("wait on a collective handle that is not in flight");
  finish(slots_[static_cast<size_t>(handle.slot)]);
}

void NcclBase::broadcast(float* data, size_t count, int root) {
  Slot& slot = begin("broadcast", count * sizeof(float));
  STRIDE_NCCL_CHECK(ncclBroadcast(data, data, count, ncclFloat32, root, comm_.get(), stream_.get()));
  end(slot);
  finish(slot);
}

std::shared_ptr<float> NcclBase::allocate(size_t count) {
  void* memory = nullptr;
  STRIDE_CUDA_CHECK(cudaMalloc(&memory, std::max<size_t>(count, 1) * sizeof(float)));
  std::shared_ptr<float> buffer(static_cast<float*>(memory), [](float* p) { cudaFree(p); });
  STRIDE_CUDA_CHECK(cudaMemset(memory, 0, count * sizeof(float)));
  return buffer;
}

namespace {

// Host collectives through NCCL: values staged in page-locked and device memory, grown as needed.
class StandaloneNcclCommunicator final : public NcclBase {
 public:
  StandaloneNcclCommunicator(ncclComm_t comm, int device, cudaStream_t compute, double timeout_s)
      : NcclBase(timeout_s, compute), uncaught_at_construction_(std::uncaught_exceptions()) {
    adopt(comm, device);
    STRIDE_NCCL_CHECK(ncclCommUserRank(comm, &rank_));
    STRIDE_NCCL_CHECK(ncclCommCount(comm, &size_));
  }
  ~StandaloneNcclCommunicator() override {
    teardown(failed_ || std::uncaught_exceptions() > uncaught_at_construction_);
    if (device_staging_ != nullptr) cudaFree(device_staging_);
    if (host_staging_ != nullptr) cudaFreeHost(host_staging_);
    cudaGetLastError();
  }

  std::string name() const override {
    return fmt::format("nccl ({}.{}.{}, {} ranks, GPU {}, bootstrapped without MPI)", NCCL_MAJOR, NCCL_MINOR,
                       NCCL_PATCH, size_, device_);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return rank_; }  // forked on one machine

  std::unique_ptr<Communicator> split(int color) override {
    ncclComm_t part = nullptr;
    STRIDE_NCCL_CHECK(ncclCommSplit(comm(), color, rank_, &part, nullptr));
    return std::make_unique<StandaloneNcclCommunicator>(part, device_, compute_, timeout_s_);
  }
  void barrier() override {
    float one = 1.0f;
    host_collective("barrier", &one, sizeof one, [&](void* device, cudaStream_t s) {
      STRIDE_NCCL_CHECK(ncclAllReduce(device, device, 1, ncclFloat32, ncclSum, comm(), s));
    });
  }
  void broadcast_bytes(void* data, size_t bytes, int root) override {
    host_collective("broadcast", data, bytes, [&](void* device, cudaStream_t s) {
      STRIDE_NCCL_CHECK(ncclBroadcast(device, device, bytes, ncclUint8, root, comm(), s));
    });
  }
  void progress() override {}
  void sum_across_ranks(std::span<double> values) override {
    host_collective("sum", values.data(), values.size_bytes(), [&](void* device, cudaStream_t s) {
      STRIDE_NCCL_CHECK(ncclAllReduce(device, device, values.size(), ncclFloat64, ncclSum, comm(), s));
    });
  }
  std::vector<int64_t> all_gather(int64_t value) override {
    // [this rank's value][every rank's], one buffer.
    std::vector<int64_t> values(static_cast<size_t>(size_) + 1);
    values[0] = value;
    host_collective("all_gather", values.data(), values.size() * sizeof(int64_t), [&](void* device, cudaStream_t s) {
      auto* d = static_cast<int64_t*>(device);
      STRIDE_NCCL_CHECK(ncclAllGather(d, d + 1, 1, ncclInt64, comm(), s));
    });
    return std::vector<int64_t>(values.begin() + 1, values.end());
  }
  [[noreturn]] void abort(const std::string& reason) override {
    failed_ = true;
    failure_ = reason;
    teardown(true);
    throw NcclError(reason);
  }

 protected:
  int64_t next_sequence() override { return sequence_++; }
  bool wait_until(int64_t, const std::function<bool()>& done) override {
    using Clock = std::chrono::steady_clock;
    const bool bounded = timeout_s_ > 0;
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                             std::chrono::duration<double>(bounded ? timeout_s_ : 0.0));
    for (int64_t polls = 0;; ++polls) {
      if (done()) return true;
      if (bounded && (polls & 63) == 63 && Clock::now() > deadline) return false;
      if (polls > 2048) std::this_thread::yield();
    }
  }
  std::string timeout_message(int64_t sequence, const char* what, size_t bytes) override {
    return fmt::format("nccl: {} #{} ({} bytes) timed out after {} s on rank {} of {}: a rank did not arrive", what,
                       sequence, bytes, timeout_s_, rank_, size_);
  }

 private:
  // Copies `bytes` of host memory through the device, runs enqueue on them, copies back, waits.
  template <typename Enqueue>
  void host_collective(const char* what, void* data, size_t bytes, Enqueue&& enqueue) {
    if (bytes > staging_bytes_) {
      if (device_staging_ != nullptr) cudaFree(device_staging_);
      if (host_staging_ != nullptr) cudaFreeHost(host_staging_);
      device_staging_ = host_staging_ = nullptr;
      staging_bytes_ = 0;
      STRIDE_CUDA_CHECK(cudaMalloc(&device_staging_, bytes));
      STRIDE_CUDA_CHECK(cudaMallocHost(&host_staging_, bytes));
      staging_bytes_ = bytes;
    }
    std::memcpy(host_staging_, data, bytes);
    Slot& slot = begin(what, bytes, /*after_compute=*/false);
    STRIDE_CUDA_CHECK(cudaMemcpyAsync(device_staging_, host_staging_, bytes, cudaMemcpyHostToDevice, stream()));
    enqueue(device_staging_, stream());
    STRIDE_CUDA_CHECK(cudaMemcpyAsync(host_staging_, device_staging_, bytes, cudaMemcpyDeviceToHost, stream()));
    end(slot);
    finish(slot, /*order_compute=*/false);
    std::memcpy(data, host_staging_, bytes);
  }

  int rank_ = 0, size_ = 1;
  int64_t sequence_ = 0;
  void* device_staging_ = nullptr;
  void* host_staging_ = nullptr;
  size_t staging_bytes_ = 0;
  int uncaught_at_construction_ = 0;
};

}  // namespace

NcclId make_nccl_id() {
  static_assert(sizeof(ncclUniqueId) == sizeof(NcclId::bytes), "NCCL's unique id changed size");
  ncclUniqueId id{};
  STRIDE_NCCL_CHECK(ncclGetUniqueId(&id));
  NcclId out;
  std::memcpy(out.bytes.data(), &id, sizeof id);
  return out;
}

std::unique_ptr<Communicator> make_nccl_communicator_from_id(const NcclId& id, int rank, int world,
                                                             void* compute_stream, double timeout_s) {
  if (world < 1 || rank < 0 || rank >= world) fail<ConfigError>("nccl: rank {} of {} ranks", rank, world);
  int device = 0;
  STRIDE_CUDA_CHECK(cudaGetDevice(&device));
  ncclUniqueId unique{};
  std::memcpy(&unique, id.bytes.data(), sizeof unique);
  ncclComm_t comm = nullptr;
  STRIDE_NCCL_CHECK(ncclCommInitRank(&comm, world, unique, rank));
  return std::make_unique<StandaloneNcclCommunicator>(comm, device, static_cast<cudaStream_t>(compute_stream),
                                                      timeout_s);
}

}  // namespace stride::detail
