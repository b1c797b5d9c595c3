// MpiCommunicator: collectives as MPI non-blocking calls polled under the watchdog.
#include "mpi_communicator.h"

#include <fmt/format.h>

#include <algorithm>
#include <climits>
#include <exception>

#include "stride/common/error.h"

namespace stride::detail {

namespace {

// MPI counts are int: larger buffers go in pieces of this many elements.
constexpr size_t kMaxChunk = size_t{1} << 30;

}  // namespace

MpiCommunicator::MpiCommunicator(const CommunicatorOptions& options)
    : Communicator(options.timeout_s),
      session_(MpiSession::acquire()),
      uncaught_at_construction_(std::uncaught_exceptions()) {
  MPI_Comm comm = MPI_COMM_NULL;
  STRIDE_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  init_from(comm);
}

MpiCommunicator::MpiCommunicator(const CommunicatorOptions& options, MPI_Comm parent, int color)
    : Communicator(options.timeout_s),
      session_(MpiSession::acquire()),
      uncaught_at_construction_(std::uncaught_exceptions()) {
  int parent_rank = 0;
  STRIDE_MPI_CHECK(MPI_Comm_rank(parent, &parent_rank));
  MPI_Comm comm = MPI_COMM_NULL;
  STRIDE_MPI_CHECK(MPI_Comm_split(parent, color, parent_rank, &comm));
  init_from(comm);
}

std::unique_ptr<Communicator> MpiCommunicator::split(int color) {
  check_usable();
  CommunicatorOptions options;
  options.timeout_s = timeout_s_;
  return std::make_unique<MpiCommunicator>(options, comm_, color);
}

void MpiCommunicator::init_from(MPI_Comm comm) {
  comm_ = comm;
  STRIDE_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN));
  STRIDE_MPI_CHECK(MPI_Comm_rank(comm_, &rank_));
  STRIDE_MPI_CHECK(MPI_Comm_size(comm_, &size_));
  MPI_Comm node = MPI_COMM_NULL;
  STRIDE_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node));
  STRIDE_MPI_CHECK(MPI_Comm_rank(node, &local_rank_));
  STRIDE_MPI_CHECK(MPI_Comm_size(node, &local_size_));
  MPI_Comm_free(&node);
  watchdog_ = std::make_unique<Watchdog>(comm_, timeout_s_);
  slots_.reserve(64);
}

MpiCommunicator::~MpiCommunicator() {
  if (failed_) MpiSession::abort_job(failure_);
  if (std::uncaught_exceptions() > uncaught_at_construction_)
    MpiSession::abort_job(fmt::format("rank {} left the job on an error (see its message above)", rank_));
  watchdog_.reset();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Comm_free(&comm_);
}

std::string MpiCommunicator::name() const {
  char version[MPI_MAX_LIBRARY_VERSION_STRING] = {};
  int length = 0;
  MPI_Get_library_version(version, &length);
  std::string library(version, static_cast<size_t>(length));
  library = library.substr(0, library.find_first_of(",\n"));
  return fmt::format("mpi ({}, {} ranks)", library, size_);
}

void MpiCommunicator::check_usable() const {
  if (failed_) fail<MpiError>("communicator unusable after an earlier failure: {}", failure_);
}

void MpiCommunicator::fail_collective(const std::string& message) {
  failed_ = true;
  failure_ = message;
  throw MpiError(message);
}

void MpiCommunicator::abort(const std::string& reason) {
  failed_ = true;
  MpiSession::abort_job(reason);
}

void MpiCommunicator::wait_request(MPI_Request& request, int64_t seq, const char* what, size_t bytes) {
  int status = MPI_SUCCESS;
  const bool done = watchdog_->wait_until(seq, [&] {
    int flag = 0;
    status = MPI_Test(&request, &flag, MPI_STATUS_IGNORE);
    return flag != 0 || status != MPI_SUCCESS;
  });
  if (!done) fail_collective(watchdog_->diagnose(seq, what, bytes));
  if (status != MPI_SUCCESS) {
    try {
      check_mpi(status, what, __FILE__, __LINE__);
    } catch (const MpiError& e) {
      fail_collective(e.what());
    }
  }
}

void MpiCommunicator::barrier() {
  check_usable();
  MPI_Request request = MPI_REQUEST_NULL;
  const int64_t seq = watchdog_->begin();
  STRIDE_MPI_CHECK(MPI_Ibarrier(comm_, &request));
  wait_request(request, seq, "barrier", 0);
}

void MpiCommunicator::broadcast(float* data, size_t count, int root) {
  check_usable();
  for (size_t done = 0; done < count || (count == 0 && done == 0); done += kMaxChunk) {
    const size_t n = std::min(kMaxChunk, count - done);
    MPI_Request request = MPI_REQUEST_NULL;
    const int64_t seq = watchdog_->begin();
    STRIDE_MPI_CHECK(MPI_Ibcast(data + done, static_cast<int>(n), MPI_FLOAT, root, comm_, &request));
    wait_request(request, seq, "broadcast", n * sizeof(float));
    if (count == 0) break;
  }
}

void MpiCommunicator::broadcast_bytes(void* data, size_t bytes, int root) {
  check_usable();
  auto* p = static_cast<unsigned char*>(data);
  for (size_t done = 0; done < bytes || (bytes == 0 && done == 0); done += kMaxChunk) {
    const size_t n = std::min(kMaxChunk, bytes - done);
    MPI_Request request = MPI_REQUEST_NULL;
    const int64_t seq = watchdog_->begin();
    STRIDE_MPI_CHECK(MPI_Ibcast(p + done, static_cast<int>(n), MPI_BYTE, root, comm_, &request));
    wait_request(request, seq, "broadcast", n);
    if (bytes == 0) break;
  }
}

CollectiveHandle MpiCommunicator::start_allreduce(float* data, size_t count, ReduceOp op) {
  check_usable();
  if (count > static_cast<size_t>(INT_MAX))
    fail<MpiError>("allreduce of {} floats: more than MPI's {} per call; use smaller buckets", count, INT_MAX);
  size_t index = 0;
  while (index < slots_.size() && slots_[index].busy) ++index;
  if (index == slots_.size()) slots_.emplace_back();
  Slot& slot = slots_[index];
  slot = Slot{MPI_REQUEST_NULL, data, count, op, watchdog_->begin(), true};
  STRIDE_MPI_CHECK(
      MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM, comm_, &slot.request));
  return CollectiveHandle{static_cast<int64_t>(index)};
}

void MpiCommunicator::wait(CollectiveHandle handle) {
  if (!handle.valid() || static_cast<size_t>(handle.slot) >= slots_.size() ||
      !slots_[static_cast<size_t>(handle.slot)].busy)
    fail<MpiError>("wait on a collective handle that is not in flight");
  Slot& slot = slots_[static_cast<size_t>(handle.slot)];
  check_usable();
  wait_request(slot.request, slot.seq, "allreduce", slot.count * sizeof(float));
  if (slot.op == ReduceOp::average && size_ > 1) {
    const float inverse = 1.0f / static_cast<float>(size_);
    for (size_t i = 0; i < slot.count; ++i) slot.data[i] *= inverse;
  }
  slot.busy = false;
}

void MpiCommunicator::progress() {
  if (failed_) return;
  for (Slot& slot : slots_) {
    if (!slot.busy || slot.request == MPI_REQUEST_NULL) continue;
    int flag = 0;
    // Completion is picked up again (as MPI_REQUEST_NULL) by wait().
    MPI_Test(&slot.request, &flag, MPI_STATUS_IGNORE);
  }
  watchdog_->serve_queries();
}

void MpiCommunicator::sum_across_ranks(std::span<double> values) {
  check_usable();
  MPI_Request request = MPI_REQUEST_NULL;
  const int64_t seq = watchdog_->begin();
  STRIDE_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM,
                                  comm_, &request));
  wait_request(request, seq, "metric sum", values.size_bytes());
}

std::vector<int64_t> MpiCommunicator::all_gather(int64_t value) {
  check_usable();
  std::vector<int64_t> values(static_cast<size_t>(size_));
  MPI_Request request = MPI_REQUEST_NULL;
  const int64_t seq = watchdog_->begin();
  STRIDE_MPI_CHECK(MPI_Iallgather(&value, 1, MPI_INT64_T, values.data(), 1, MPI_INT64_T, comm_, &request));
  wait_request(request, seq, "all-gather", sizeof(int64_t));
  return values;
}

}  // namespace stride::detail
