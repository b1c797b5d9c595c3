// The CPU communicator over MPI: float buffers in host memory, every
// collective non-blocking underneath (MPI_Iallreduce, MPI_Ibcast, ...) and
// waited for under the watchdog. Also the host side of the Nccl communicator
// (bootstrap, metrics, barriers, the watchdog's side channel).
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <vector>

#include "mpi_support.h"
#include "stride/distributed/communicator.h"

namespace stride::detail {

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const CommunicatorOptions& options);
  // The ranks of parent with this color (MPI_Comm_split, collective over parent).
  MpiCommunicator(const CommunicatorOptions& options, MPI_Comm parent, int color);
  // Aborts the job when failed() or when destroyed by an exception leaving the
  // scope (a rank that quits alone would leave the others waiting).
  ~MpiCommunicator() override;

  std::string name() const override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  Device device() const override { return Device::cpu; }

  std::unique_ptr<Communicator> split(int color) override;
  void barrier() override;
  void broadcast(float* data, size_t count, int root) override;
  void broadcast_bytes(void* data, size_t bytes, int root) override;
  CollectiveHandle start_allreduce(float* data, size_t count, ReduceOp op) override;
  void wait(CollectiveHandle handle) override;
  void progress() override;
  void sum_across_ranks(std::span<double> values) override;
  std::vector<int64_t> all_gather(int64_t value) override;
  [[noreturn]] void abort(const std::string& reason) override;
  bool failed() const override { return failed_; }

  // For the Nccl communicator, which numbers its collectives on the same watchdog.
  Watchdog& watchdog() { return *watchdog_; }
  MPI_Comm comm() const { return comm_; }
  // Records a failure: fails later calls and makes the destructor abort the job.
  [[noreturn]] void fail_collective(const std::string& message);

 private:
  struct Slot {
    MPI_Request request = MPI_REQUEST_NULL;
    float* data = nullptr;
    size_t count = 0;
    ReduceOp op = ReduceOp::sum;
    int64_t seq = -1;
    bool busy = false;
  };

  // Waits for request (one collective started as seq) under the watchdog.
  void wait_request(MPI_Request& request, int64_t seq, const char* what, size_t bytes);
  void check_usable() const;
  void init_from(MPI_Comm comm);

  std::shared_ptr<MpiSession> session_;
  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::unique_ptr<Watchdog> watchdog_;
  std::vector<Slot> slots_;
  bool failed_ = false;
  std::string failure_;
  int uncaught_at_construction_ = 0;
};

}  // namespace stride::detail
