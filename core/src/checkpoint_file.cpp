// Checkpoint seals and temporaries. The seal is text, so `head -c 512` shows it:
//   stride-checkpoint-sha256 1\nsize BYTES\nsha256 HEX\n   then zeros to 512.
// Only the exact canonical header is accepted: any flipped byte in it, in the
// padding or in the HDF5 content after it fails the check.
#include "checkpoint_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <regex>
#include <vector>

#include <fmt/format.h>

#include "stride/common/error.h"
#include "stride/common/sha256.h"

namespace stride::checkpoint_file {
namespace {

constexpr const char* kMagic = "stride-checkpoint-sha256 1\n";
constexpr unsigned char kHdf5Signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

struct Descriptor {
  int fd = -1;
  ~Descriptor() {
    if (fd >= 0) ::close(fd);
  }
};

[[noreturn]] void corrupt(const std::string& path, const std::string& why) {
  fail<CheckpointError>("checkpoint {} is corrupt: {}", path, why);
}

std::string header(uint64_t size, const std::string& digest) {
  std::string text = fmt::format("{}size {}\nsha256 {}\n", kMagic, size, digest);
  text.resize(kUserblockBytes, '\0');
  return text;
}

// SHA-256 of bytes [kUserblockBytes, size) of an open file.
std::string content_digest(int fd, uint64_t size, const std::string& path) {
  Sha256 hash;
  std::vector<unsigned char> buffer(1 << 20);
  for (uint64_t offset = kUserblockBytes; offset < size;) {
    const ssize_t got =
        ::pread(fd, buffer.data(), std::min<uint64_t>(buffer.size(), size - offset), static_cast<off_t>(offset));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) fail<CheckpointError>("{}: cannot read: {}", path, errno_text(errno));
    if (got == 0) corrupt(path, "shorter than its size while being read");
    hash.update(std::span<const unsigned char>(buffer.data(), static_cast<size_t>(got)));
    offset += static_cast<uint64_t>(got);
  }
  return hash.hex_digest();
}

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "host";
  std::string host(name);
  for (char& c : host)
    if (c == '/' || c == '-') c = '_';
  return host;
}

}  // namespace

void seal(const std::string& path, const std::string& shown_as) {
  Descriptor file{::open(path.c_str(), O_RDWR | O_CLOEXEC)};
  const auto failed = [&](const char* doing) {
    fail<CheckpointError>("{}: cannot {} the checkpoint: {}", shown_as, doing, errno_text(errno));
  };
  if (file.fd < 0) failed("reopen");
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) failed("stat");
  const auto size = static_cast<uint64_t>(info.st_size);
  const std::string text = header(size, content_digest(file.fd, size, shown_as));
  if (::pwrite(file.fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) failed("seal");
  if (::fsync(file.fd) != 0) failed("sync");
}

void verify(const std::string& path) {
  Descriptor file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (file.fd < 0) fail<CheckpointError>("{}: cannot read the checkpoint: {}", path, errno_text(errno));
  struct stat info {};
  if (::fstat(file.fd, &info) != 0) fail<CheckpointError>("{}: cannot read: {}", path, errno_text(errno));
  const auto size = static_cast<uint64_t>(info.st_size);
  std::string start(kUserblockBytes, '\0');
  const ssize_t got = ::pread(file.fd, start.data(), start.size(), 0);
  if (got < 0) fail<CheckpointError>("{}: cannot read: {}", path, errno_text(errno));
  if (got >= 8 && std::memcmp(start.data(), kHdf5Signature, 8) == 0) return;  // written before seals
  if (static_cast<uint64_t>(got) < kUserblockBytes) corrupt(path, fmt::format("truncated to {} bytes", size));
  if (start.rfind(kMagic, 0) != 0) corrupt(path, "no checksum header");
  unsigned long long stated = 0;
  char digest[65] = {};
  if (std::sscanf(start.c_str() + std::strlen(kMagic), "size %llu\nsha256 %64[0-9a-f]\n", &stated, digest) != 2 ||
      header(stated, digest) != start)
    corrupt(path, "damaged checksum header");
  if (stated != size) corrupt(path, fmt::format("{} bytes, its header says {} (truncated?)", size, stated));
  if (content_digest(file.fd, size, path) != digest) corrupt(path, "checksum mismatch");
}

std::string temporary_name(const std::string& path) {
  return fmt::format("{}.tmp-{}-{}", path, host_name(), ::getpid());
}

int remove_stale_temporaries(const std::string& directory) {
  static const std::regex pattern(R"(.+\.tmp-(.+)-(\d+))");
  const std::string host = host_name();
  std::error_code error;
  std::filesystem::directory_iterator entries(directory.empty() ? "." : directory, error);
  if (error) return 0;
  int removed = 0;
  for (const auto& entry : entries) {
    const std::string name = entry.path().filename().string();
    std::smatch match;
    if (!std::regex_match(name, match, pattern) || match[1].str() != host) continue;
    const long pid = std::strtol(match[2].str().c_str(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid() || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (std::filesystem::remove(entry.path(), error)) ++removed;
  }
  return removed;
}

}  // namespace stride::checkpoint_file
