// MPI status checks, the init/finalize guard and the watchdog's query protocol.
#include "mpi_support.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <vector>

#include "stride/common/error.h"

namespace stride::detail {

void check_mpi(int status, const char* expression, const char* file, int line) {
  if (status == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(status, text, &length);
  fail<MpiError>("{} failed: {} ({}:{})", expression, std::string(text, static_cast<size_t>(length)), file, line);
}

namespace {

std::mutex session_mutex;
std::weak_ptr<MpiSession> current_session;

int world_rank() {
  int initialized = 0, finalized = 0, rank = -1;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (initialized && !finalized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

}  // namespace

std::shared_ptr<MpiSession> MpiSession::acquire() {
  std::lock_guard lock(session_mutex);
  if (auto session = current_session.lock()) return session;
  int initialized = 0, finalized = 0;
  STRIDE_MPI_CHECK(MPI_Initialized(&initialized));
  STRIDE_MPI_CHECK(MPI_Finalized(&finalized));
  if (finalized) fail<MpiError>("MPI was already finalised in this process; keep one communicator for the run");
  std::shared_ptr<MpiSession> session(new MpiSession());
  if (!initialized) {
    // One thread (the trainer's) makes every MPI call; loader threads never do.
    int provided = 0;
    STRIDE_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
    session->owns_ = true;
    if (provided < MPI_THREAD_FUNNELED) {
      MPI_Finalize();
      fail<MpiError>("MPI provides thread level {}, Stride needs MPI_THREAD_FUNNELED", provided);
    }
  }
  // Errors come back as codes and become MpiError, rather than killing the job silently.
  STRIDE_MPI_CHECK(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN));
  current_session = session;
  return session;
}

MpiSession::~MpiSession() {
  if (!owns_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiSession::abort_job(const std::string& reason) {
  const int rank = world_rank();
  fmt::print(stderr, "stride: rank {}: aborting the job: {}\n", rank, reason);
  std::fflush(stderr);
  if (rank >= 0) MPI_Abort(MPI_COMM_WORLD, 1);
  std::_Exit(1);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 4) {
    bytes /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[unit]);
}

// ---- watchdog ---------------------------------------------------------------

namespace {

constexpr int kQueryTag = 7001;
constexpr int kReplyTag = 7002;

}  // namespace

Watchdog::Watchdog(MPI_Comm comm, double timeout_s) : timeout_s_(timeout_s) {
  STRIDE_MPI_CHECK(MPI_Comm_dup(comm, &side_));
  STRIDE_MPI_CHECK(MPI_Comm_set_errhandler(side_, MPI_ERRORS_RETURN));
  STRIDE_MPI_CHECK(MPI_Comm_rank(side_, &rank_));
  STRIDE_MPI_CHECK(MPI_Comm_size(side_, &size_));
}

Watchdog::~Watchdog() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && side_ != MPI_COMM_NULL) MPI_Comm_free(&side_);
}

void Watchdog::serve_queries() {
  if (size_ == 1) return;
  for (;;) {
    int pending = 0;
    MPI_Status status;
    if (MPI_Iprobe(MPI_ANY_SOURCE, kQueryTag, side_, &pending, &status) != MPI_SUCCESS || !pending) return;
    int64_t query = 0;
    MPI_Recv(&query, 1, MPI_INT64_T, status.MPI_SOURCE, kQueryTag, side_, MPI_STATUS_IGNORE);
    // 16 bytes go eagerly: the send returns without the asker's help.
    int64_t reply[2] = {started_, waiting_for_};
    MPI_Send(reply, 2, MPI_INT64_T, status.MPI_SOURCE, kReplyTag, side_);
  }
}

std::string Watchdog::diagnose(int64_t seq, const std::string& what, size_t bytes) {
  using Clock = std::chrono::steady_clock;
  waiting_for_ = seq;
  const size_t n = static_cast<size_t>(size_);
  // Members, not locals: the unanswered requests stay posted after we return.
  std::vector<int64_t>& replies = diagnosis_replies_;
  std::vector<MPI_Request>& requests = diagnosis_requests_;
  replies.assign(2 * n, -1);
  requests.assign(2 * n, MPI_REQUEST_NULL);
  diagnosis_query_ = seq;
  for (int peer = 0; peer < size_; ++peer) {
    if (peer == rank_) continue;
    const size_t p = static_cast<size_t>(peer);
    MPI_Irecv(&replies[2 * p], 2, MPI_INT64_T, peer, kReplyTag, side_, &requests[p]);
    MPI_Isend(&diagnosis_query_, 1, MPI_INT64_T, peer, kQueryTag, side_, &requests[n + p]);
  }
  // Ranks that wait in a collective answer within milliseconds; give slow
  // schedulers some slack but keep the whole diagnosis short.
  const double grace_s = std::clamp(timeout_s_ / 4.0, 0.5, 10.0);
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(grace_s));
  std::vector<bool> answered(n, false);
  answered[static_cast<size_t>(rank_)] = true;
  size_t answers = 1;
  while (answers < n && Clock::now() < deadline) {
    serve_queries();
    for (size_t p = 0; p < n; ++p) {
      if (answered[p]) continue;
      int flag = 0;
      MPI_Test(&requests[p], &flag, MPI_STATUS_IGNORE);
      if (flag) {
        answered[p] = true;
        ++answers;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  std::vector<int> silent, behind;
  std::string elsewhere;
  for (int peer = 0; peer < size_; ++peer) {
    const size_t p = static_cast<size_t>(peer);
    if (!answered[p]) {
      silent.push_back(peer);
    } else if (peer != rank_ && replies[2 * p] <= seq) {
      behind.push_back(peer);
      elsewhere += fmt::format("; rank {} has started {} collectives{}", peer, replies[2 * p],
                               replies[2 * p + 1] >= 0 ? fmt::format(" and waits in #{}", replies[2 * p + 1]) : "");
    }
  }
  std::string head = fmt::format("{} #{} ({}) timed out after {:g} s on rank {}", what, seq,
                                 format_bytes(double(bytes)), timeout_s_, rank_);
  std::vector<int> missing = silent;
  missing.insert(missing.end(), behind.begin(), behind.end());
  std::sort(missing.begin(), missing.end());
  if (missing.empty())
    return head + ": every rank arrived but it did not complete (mismatched collective sizes or a stalled network)";
  std::string names;
  for (int r : missing) names += (names.empty() ? "" : ", ") + std::to_string(r);
  std::string why = silent.empty()
                        ? ""
                        : fmt::format(" (no answer from {} within {:g} s: busy outside collectives, hung or dead)",
                                      silent.size() == 1 ? "it" : "them", grace_s);
  if (silent.size() != missing.size() && !silent.empty())
    why = fmt::format(" (no answer within {:g} s from some)", grace_s);
  return fmt::format("{}: rank{} {} did not arrive{}{}", head, missing.size() == 1 ? "" : "s", names, why, elsewhere);
}

}  // namespace stride::detail
