// Faults for tests: a body run in a forked child under a watchdog (a crash or
// a hang is an outcome, not the end of the test run), deterministic byte
// mutations of a file, and a small tmpfs that fills up.
#pragma once

#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "stride/common/error.h"

namespace stride::testing {

struct ChildOutcome {
  enum Kind { returned, stride_error, other_exception, killed, timed_out } kind = killed;
  int signal = 0;
  std::string message;  // the exception's what()
  std::string describe() const {
    switch (kind) {
      case returned:
        return "returned";
      case stride_error:
        return "stride::Error: " + message;
      case other_exception:
        return "other exception: " + message;
      case timed_out:
        return "hung (watchdog fired)";
      case killed:
        break;
    }
    return "killed by signal " + std::to_string(signal) + " (" + strsignal(signal) + ")";
  }
};

// Runs body in a forked child that is killed after `seconds`; the child ends
// with exit() (so atexit handlers such as HDF5's run and may crash, which is
// reported as `killed`). The message travels back through a pipe.
inline ChildOutcome run_in_child(const std::function<void()>& body, unsigned seconds = 10) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return {ChildOutcome::killed, 0, "pipe failed"};
  const pid_t pid = fork();
  if (pid == 0) {
    close(pipe_fds[0]);
    alarm(seconds);
    int code = 0;
    std::string message;
    try {
      body();
    } catch (const stride::Error& e) {
      code = 1, message = e.what();
    } catch (const std::exception& e) {
      code = 2, message = e.what();
    }
    for (size_t done = 0; done < message.size();) {
      const ssize_t n = ::write(pipe_fds[1], message.data() + done, message.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(pipe_fds[1]);
    std::exit(code);
  }
  close(pipe_fds[1]);
  ChildOutcome outcome;
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) outcome.message.append(buffer, n);
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
    outcome.kind = outcome.signal == SIGALRM ? ChildOutcome::timed_out : ChildOutcome::killed;
  } else {
    const int code = WEXITSTATUS(status);
    outcome.kind = code == 0   ? ChildOutcome::returned
                   : code == 1 ? ChildOutcome::stride_error
                               : ChildOutcome::other_exception;
  }
  return outcome;
}

inline std::vector<uint8_t> file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_file_bytes(const std::filesystem::path& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Mutation `seed` of bytes at or after `first` (bytes before it are kept):
// flipped bits, overwritten runs (0x00, 0xff, random), or a truncation.
inline std::vector<uint8_t> mutate(std::vector<uint8_t> bytes, uint64_t seed, size_t first = 0) {
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ULL + 1);
  if (bytes.size() <= first + 1) return bytes;
  const auto at = [&] { return first + rng() % (bytes.size() - first); };
  switch (seed % 5) {
    case 0:
    case 1:  // a few flipped bytes
      for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i)
        bytes[at()] ^= static_cast<uint8_t>(1 + rng() % 255);
      break;
    case 2: {  // a run set to one value, as a corrupt length or address would be
      const uint8_t values[] = {0x00, 0xff, 0x7f};
      const size_t start = at(), length = 1 + rng() % 8;
      for (size_t i = start; i < std::min(bytes.size(), start + length); ++i) bytes[i] = values[rng() % 3];
      break;
    }
    case 3: {  // random bytes over a short run
      const size_t start = at(), length = 1 + rng() % 32;
      for (size_t i = start; i < std::min(bytes.size(), start + length); ++i) bytes[i] = static_cast<uint8_t>(rng());
      break;
    }
    default:  // truncated
      bytes.resize(at());
  }
  return bytes;
}

// Every length class of a truncation of `size` bytes: empty, tiny, around the
// 512-byte userblock, fractions of the file, one byte short.
inline std::vector<size_t> truncation_lengths(size_t size) {
  std::vector<size_t> out = {0, 1, 7, 8, 96, 511, 512, 513, 600, 1024, 2048};
  for (int k = 1; k < 16; ++k) out.push_back(size * k / 16);
  out.push_back(size - 1);
  std::vector<size_t> kept;
  for (size_t n : out)
    if (n < size) kept.push_back(n);
  return kept;
}

// A tmpfs of `bytes` mounted on `dir` for the test's lifetime (tests run as
// root); mounted() is false with the reason when the kernel refuses.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::filesystem::path& dir, uint64_t bytes) : dir_(dir) {
    std::filesystem::create_directories(dir);
    const std::string options = "size=" + std::to_string(bytes);
    if (mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0)
      mounted_ = true;
    else
      reason_ = std::string("mount -t tmpfs refused: ") + std::strerror(errno);
  }
  ~SmallTmpfs() {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return mounted_; }
  const std::string& reason() const { return reason_; }

  // Writes `name` until the filesystem is full, leaving it no free block.
  void fill(const std::string& name) const {
    std::ofstream out(dir_ / name, std::ios::binary);
    const std::vector<char> block(4096, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    }
  }

 private:
  std::filesystem::path dir_;
  bool mounted_ = false;
  std::string reason_;
};

// In a child: writes beyond `bytes` fail with EFBIG instead of raising SIGXFSZ.
inline void limit_file_size(uint64_t bytes) {
  signal(SIGXFSZ, SIG_IGN);
  const rlimit limit{bytes, bytes};
  setrlimit(RLIMIT_FSIZE, &limit);
}

}  // namespace stride::testing
