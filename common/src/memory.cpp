// Checked sizes and the machine's memory (see memory.h).
#include "stride/common/memory.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <string>

#include "stride/common/error.h"
#include "stride/common/strings.h"

namespace stride {

namespace {

// A cgroup limit file: a byte count, or "max" (none).
int64_t cgroup_limit(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return std::numeric_limits<int64_t>::max();
  try {
    const long long value = std::stoll(text);
    return value > 0 ? value : std::numeric_limits<int64_t>::max();
  } catch (const std::exception&) {
    return std::numeric_limits<int64_t>::max();
  }
}

}  // namespace

int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &out))
    fail<ConfigError>("{}: {} x {} overflows 64-bit arithmetic", what, a, b);
  return out;
}

int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t out = 0;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &out))
    fail<ConfigError>("{}: {} + {} overflows 64-bit arithmetic", what, a, b);
  return out;
}

int64_t checked_product(std::initializer_list<int64_t> factors, std::string_view what) {
  int64_t out = 1;
  for (const int64_t f : factors) out = checked_mul(out, f, what);
  return out;
}

int64_t available_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  int64_t bytes = std::numeric_limits<int64_t>::max();
  if (pages > 0 && page > 0 && pages <= std::numeric_limits<int64_t>::max() / page)
    bytes = static_cast<int64_t>(pages) * page;
  bytes = std::min(bytes, cgroup_limit("/sys/fs/cgroup/memory.max"));
  bytes = std::min(bytes, cgroup_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
  return bytes;
}

void require_memory(int64_t bytes, std::string_view what) {
  const int64_t available = available_memory_bytes();
  if (bytes <= available) return;
  fail<ConfigError>("{} needs {} bytes ({}), more than the {} bytes ({}) of memory this machine has", what, bytes,
                    human_bytes(static_cast<double>(bytes)), available, human_bytes(static_cast<double>(available)));
}

}  // namespace stride
