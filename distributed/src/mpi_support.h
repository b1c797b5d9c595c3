// MPI plumbing shared by the Mpi and Nccl communicators: the status check
// (one place where an MPI error code becomes an MpiError), the process-wide
// init/finalize guard, and the collective watchdog.
//
// The watchdog is what makes every wait bounded. Each rank counts the
// collectives it has started. A wait polls its collective until a deadline;
// while polling it also answers "where are you?" queries from other ranks on
// a private duplicate of the communicator. When the deadline passes, the rank
// asks every other rank, gives them a short grace period to answer, and names
// those that did not answer or have not started the collective yet: a rank
// that is computing, hung or dead cannot answer, and one waiting elsewhere
// answers with a different collective number. Nothing is sent in the steady
// state; the protocol costs one MPI_Iprobe per poll.
#pragma once

#include <mpi.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace stride::detail {

void check_mpi(int status, const char* expression, const char* file, int line);
#define STRIDE_MPI_CHECK(expr) ::stride::detail::check_mpi((expr), #expr, __FILE__, __LINE__)

// MPI_Init_thread on first acquire, MPI_Finalize when the last holder lets
// go, unless someone called mark_aborting() (then finalising would hang on the
// ranks that are gone). MPI cannot be initialised twice in a process.
class MpiSession {
 public:
  static std::shared_ptr<MpiSession> acquire();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // Prints "stride: rank R: aborting the job: REASON" to stderr and calls MPI_Abort.
  [[noreturn]] static void abort_job(const std::string& reason);

 private:
  MpiSession() = default;
  bool owns_ = false;  // this session called MPI_Init_thread
};

// "4.0 MiB", "512 B": sizes in messages.
std::string format_bytes(double bytes);

class Watchdog {
 public:
  // comm: the communicator whose collectives are watched (duplicated for the side channel).
  Watchdog(MPI_Comm comm, double timeout_s);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Numbers a collective as it starts: 0, 1, 2, ...
  int64_t begin() { return started_++; }
  int64_t started() const { return started_; }

  // Polls done() until it returns true (then true) or the timeout passes
  // (then false: call diagnose()). Answers queries while polling.
  template <typename Done>
  bool wait_until(int64_t seq, Done&& done);

  // Answers pending queries from other ranks; cheap when there are none.
  void serve_queries();

  // Asks every other rank where it is and returns one line naming the ranks
  // that have not reached collective seq (`what` and `bytes` describe it).
  std::string diagnose(int64_t seq, const std::string& what, size_t bytes);

  double timeout_s() const { return timeout_s_; }

 private:
  MPI_Comm side_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_s_;
  int64_t started_ = 0;
  int64_t waiting_for_ = -1;  // collective this rank is blocked on, -1 when none
  int64_t diagnosis_query_ = -1;
  std::vector<int64_t> diagnosis_replies_;
  std::vector<MPI_Request> diagnosis_requests_;
};

template <typename Done>
bool Watchdog::wait_until(int64_t seq, Done&& done) {
  using Clock = std::chrono::steady_clock;
  waiting_for_ = seq;
  const bool bounded = timeout_s_ > 0;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(bounded ? timeout_s_ : 0.0));
  // Spin briefly (short collectives finish in microseconds), then yield the core:
  // ranks are often oversubscribed and the peer may need this core to arrive.
  for (int64_t polls = 0;; ++polls) {
    if (done()) break;
    if ((polls & 63) == 63) {
      serve_queries();
      if (bounded && Clock::now() > deadline) {
        waiting_for_ = -1;
        return false;
      }
    }
    if (polls > 200000)
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    else if (polls > 2048)
      std::this_thread::yield();
  }
  waiting_for_ = -1;
  return true;
}

}  // namespace stride::detail
