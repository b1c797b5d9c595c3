// A small tmpfs mounted for one test, to meet a full disk or a read-only
// medium for real. Mounting needs root (CAP_SYS_ADMIN); where it is refused,
// mounted() is false and the test skips, saying why.
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace stride::testing {

class TmpfsMount {
 public:
  TmpfsMount(std::filesystem::path path, const std::string& size) : path_(std::move(path)), options_("size=" + size) {
    std::filesystem::create_directories(path_);
    mounted_ = ::mount("tmpfs", path_.c_str(), "tmpfs", 0, options_.c_str()) == 0;
    if (!mounted_) why_ = std::strerror(errno);
  }
  ~TmpfsMount() {
    if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;

  bool mounted() const { return mounted_; }
  std::string why_not() const { return "cannot mount a tmpfs at " + path_.string() + ": " + why_; }
  const std::filesystem::path& path() const { return path_; }

  bool remount_read_only() {
    return ::mount("tmpfs", path_.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, options_.c_str()) == 0;
  }

  // Fills the file system to its last byte with `name`; true when a write met ENOSPC.
  bool fill(const std::string& name = "filler") const {
    std::FILE* file = std::fopen((path_ / name).c_str(), "wb");
    if (!file) return false;
    const std::vector<char> block(4096, 'x');
    bool full = false;
    while (!full) {
      full = std::fwrite(block.data(), 1, block.size(), file) < block.size() || std::fflush(file) != 0;
    }
    const bool enospc = errno == ENOSPC;
    std::fclose(file);
    // Whatever a 4 KiB block did not fit, one byte at a time.
    if (std::FILE* rest = std::fopen((path_ / (name + "-rest")).c_str(), "wb")) {
      std::setvbuf(rest, nullptr, _IONBF, 0);
      while (std::fputc('x', rest) != EOF) {
      }
      std::fclose(rest);
    }
    return enospc;
  }

  void unfill(const std::string& name = "filler") const {
    std::filesystem::remove(path_ / name);
    std::filesystem::remove(path_ / (name + "-rest"));
  }

 private:
  std::filesystem::path path_;
  std::string options_;
  bool mounted_ = false;
  std::string why_;
};

}  // namespace stride::testing
