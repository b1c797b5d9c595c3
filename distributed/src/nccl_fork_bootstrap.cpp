// The fork bootstrap: NCCL ranks as forked children of one process, with no
// MPI. The children are forked first (a child must not inherit NCCL's
// bootstrap thread, nor any CUDA state); then the parent makes the
// ncclUniqueId and writes it down each child's pipe, and waits with poll()
// on the children's report pipes until every one has closed or the deadline
// has passed. A child reports its body's message (empty: success) or the
// exception that ended it, and leaves with _exit, so nothing of the parent's
// (test framework, static objects) runs twice.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cuda_runtime.h>

#include <chrono>
#include <cstring>
#include <exception>
#include <string>

#include "nccl_communicator.h"
#include "stride/common/error.h"

namespace stride::detail {
namespace {

struct Child {
  pid_t pid = -1;
  int id_write = -1;     // parent -> child: the unique id
  int report_read = -1;  // child -> parent: the report
  std::string report;
  bool closed = false;
};

bool write_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

bool read_all(int fd, void* data, size_t bytes) {
  char* p = static_cast<char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::read(fd, p, bytes);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    bytes -= static_cast<size_t>(n);
  }
  return true;
}

// In the child: wait for the id, run the body, report, leave.
[[noreturn]] void run_child(int rank, int world, int id_read, int report_write, const ForkedBody& body) {
  std::string report;
  int code = 0;
  NcclId id;
  if (!read_all(id_read, id.bytes.data(), id.bytes.size())) {
    report = "the parent closed the pipe before sending the NCCL id";
    code = 3;
  } else {
    try {
      report = body(rank, world, id);
      code = report.empty() ? 0 : 1;
    } catch (const std::exception& e) {
      report = e.what();
      if (report.empty()) report = "an exception without a message";
      code = 2;
    }
  }
  write_all(report_write, report.data(), report.size());
  ::close(report_write);
  ::_exit(code);
}

}  // namespace

std::vector<ForkedRank> run_forked_ranks(int world, double timeout_s, const ForkedBody& body) {
  if (world < 1) fail<ConfigError>("run_forked_ranks: {} ranks", world);
  std::vector<Child> children(static_cast<size_t>(world));
  for (int rank = 0; rank < world; ++rank) {
    int id_pipe[2], report_pipe[2];
    if (::pipe(id_pipe) != 0 || ::pipe(report_pipe) != 0) fail<Error>("pipe: {}", std::strerror(errno));
    const pid_t pid = ::fork();
    if (pid < 0) fail<Error>("fork: {}", std::strerror(errno));
    if (pid == 0) {
      // The parent's ends, this child's and its elder siblings', are not this child's business.
      for (int r = 0; r < rank; ++r) {
        ::close(children[static_cast<size_t>(r)].id_write);
        ::close(children[static_cast<size_t>(r)].report_read);
      }
      ::close(id_pipe[1]);
      ::close(report_pipe[0]);
      run_child(rank, world, id_pipe[0], report_pipe[1], body);
    }
    ::close(id_pipe[0]);
    ::close(report_pipe[1]);
    Child& child = children[static_cast<size_t>(rank)];
    child.pid = pid;
    child.id_write = id_pipe[1];
    child.report_read = report_pipe[0];
  }

  // Every child is running and owns nothing of NCCL: make the id now.
  std::string id_failure;
  try {
    const NcclId id = make_nccl_id();
    for (Child& child : children)
      if (!write_all(child.id_write, id.bytes.data(), id.bytes.size())) id_failure = "could not send the NCCL id";
  } catch (const std::exception& e) {
    id_failure = e.what();
  }
  for (Child& child : children) ::close(child.id_write);  // a child still reading sees end-of-file

  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(timeout_s > 0 ? timeout_s : 1e9));
  size_t open = children.size();
  std::vector<pollfd> fds;
  while (open > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    fds.clear();
    for (const Child& child : children)
      if (!child.closed) fds.push_back({child.report_read, POLLIN, 0});
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (Child& child : children) {
      if (child.closed) continue;
      for (const pollfd& p : fds) {
        if (p.fd != child.report_read || p.revents == 0) continue;
        char buffer[4096];
        const ssize_t n = ::read(child.report_read, buffer, sizeof buffer);
        if (n > 0) {
          child.report.append(buffer, static_cast<size_t>(n));
        } else if (n == 0 || errno != EINTR) {
          child.closed = true;
          --open;
        }
      }
    }
  }

  std::vector<ForkedRank> ranks(children.size());
  for (size_t r = 0; r < children.size(); ++r) {
    Child& child = children[r];
    ForkedRank& out = ranks[r];
    out.rank = static_cast<int>(r);
    if (!child.closed) {
      ::kill(child.pid, SIGKILL);
      child.report = fmt::format("rank {} did not finish within {} s{}", r, timeout_s,
                                 child.report.empty() ? "" : ": " + child.report);
    }
    ::close(child.report_read);
    int status = 0;
    while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    const bool exited_cleanly = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    out.ok = child.closed && exited_cleanly && child.report.empty();
    out.report = child.report;
    if (out.report.empty() && !out.ok)
      out.report = WIFSIGNALED(status) ? fmt::format("rank {} died of signal {}", r, WTERMSIG(status))
                                       : fmt::format("rank {} exited with status {}", r, WEXITSTATUS(status));
    if (!id_failure.empty()) out.report = "no NCCL id: " + id_failure + (out.report.empty() ? "" : "; " + out.report);
    if (!id_failure.empty()) out.ok = false;
  }
  return ranks;
}

int count_gpus_in_child() {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) fail<Error>("pipe: {}", std::strerror(errno));
  const pid_t pid = ::fork();
  if (pid < 0) fail<Error>("fork: {}", std::strerror(errno));
  if (pid == 0) {
    ::close(pipe_fds[0]);
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
    write_all(pipe_fds[1], &count, sizeof count);
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  int count = 0;
  if (!read_all(pipe_fds[0], &count, sizeof count)) count = 0;
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return count;
}

}  // namespace stride::detail
