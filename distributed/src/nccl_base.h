// What the GPU communicators share: the NCCL status check, the communicator
// handle, and the collectives on device memory. Collectives run on a stream
// of their own. Each waits (an event) for the work queued so far on the
// backend's compute stream, records a "done" event that wait() polls against
// a deadline, and then makes the compute stream wait for it, so later kernels
// read the result. The host side (sequence numbers, how a wait is bounded,
// what a timeout says) is the subclass's: the MPI watchdog, or a plain
// deadline for communicators bootstrapped without MPI.
#pragma once

#include <nccl.h>

#include <functional>
#include <string>
#include <vector>

#include "cuda_check.h"
#include "stride/distributed/communicator.h"

namespace stride::detail {

void check_nccl(ncclResult_t status, const char* expression, const char* file, int line);
#define STRIDE_NCCL_CHECK(expr) ::stride::detail::check_nccl((expr), #expr, __FILE__, __LINE__)

struct NcclCommTraits {
  static ncclComm_t invalid() noexcept { return nullptr; }
  static void close(ncclComm_t comm) noexcept { ncclCommDestroy(comm); }
};
using NcclComm = UniqueHandle<ncclComm_t, NcclCommTraits>;

class NcclBase : public Communicator {
 public:
  Device device() const override { return Device::cuda; }
  void broadcast(float* data, size_t count, int root) override;
  CollectiveHandle start_allreduce(float* data, size_t count, ReduceOp op) override;
  void wait(CollectiveHandle handle) override;
  std::shared_ptr<float> allocate(size_t count) override;
  bool failed() const override { return failed_ || host_failed(); }

 protected:
  NcclBase(double timeout_s, cudaStream_t compute);
  // Subclasses call it after ncclCommInitRank (or split): takes the handle, makes the stream.
  void adopt(ncclComm_t comm, int device);
  // Ends NCCL before the subclass's host side goes: abort (on failure) or destroy after the stream drains.
  void teardown(bool abort) noexcept;

  // The host side.
  virtual int64_t next_sequence() = 0;
  virtual bool wait_until(int64_t sequence, const std::function<bool()>& done) = 0;
  virtual std::string timeout_message(int64_t sequence, const char* what, size_t bytes) = 0;
  virtual bool host_failed() const { return false; }

  struct Slot {
    cuda::Event ready, done;
    int64_t sequence = -1;
    size_t bytes = 0;
    const char* what = "";
    bool busy = false;
  };
  // A free slot, its collective numbered; after_compute: start behind the compute stream's work.
  Slot& begin(const char* what, size_t bytes, bool after_compute = true);
  // Records the slot's "done" after what was queued on stream() since begin.
  void end(Slot& slot);
  // Waits for the slot (bounded); then the compute stream orders after it when asked.
  void finish(Slot& slot, bool order_compute = true);
  [[noreturn]] void fail_collective(const std::string& message);

  ncclComm_t comm() const { return comm_.get(); }
  cudaStream_t stream() const { return stream_.get(); }

  int device_ = 0;
  cudaStream_t compute_ = nullptr;
  bool failed_ = false;
  std::string failure_;

 private:
  NcclComm comm_;
  cuda::Stream stream_;
  std::vector<Slot> slots_;
};

}  // namespace stride::detail
