// Sizes checked before they are allocated: 64-bit products and sums that
// fail instead of wrapping, and the memory this machine can give a process
// (physical memory, or the cgroup's limit when that is lower). A request
// that would need terabytes is refused up front naming what asked for it,
// instead of surfacing as std::bad_alloc from deep inside.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace stride {

// a * b and a + b of non-negative sizes; ConfigError "WHAT: ... overflows
// 64-bit arithmetic" when the result does not fit in int64_t.
int64_t checked_mul(int64_t a, int64_t b, std::string_view what);
int64_t checked_add(int64_t a, int64_t b, std::string_view what);
int64_t checked_product(std::initializer_list<int64_t> factors, std::string_view what);

// Bytes of memory this process may use: sysconf's physical pages, lowered
// to the cgroup (v2 memory.max, v1 memory.limit_in_bytes) limit when set.
int64_t available_memory_bytes();

// ConfigError "WHAT needs N bytes (X GiB), more than the M bytes (Y GiB) of
// memory this machine has" when bytes > available_memory_bytes().
void require_memory(int64_t bytes, std::string_view what);

}  // namespace stride
