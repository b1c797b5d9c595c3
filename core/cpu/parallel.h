// Loops of the CPU backend's own kernels, split across the OpenMP threads only
// when the work is large enough for a fork-join to pay for itself. Small work
// runs inline with no parallel region at all: libgomp builds (and allocates) a
// team even for a region whose `if` clause is false, and the steady-state step
// allocates nothing.
//
// Each thread gets one contiguous range, so a body's inner loop vectorises.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <utility>

#include "stride/core/backend.h"

namespace stride::cpu {

// Elements below which a loop runs on the calling thread.
constexpr int64_t kParallelElements = int64_t{1} << 15;

// body(begin, end) over [0, n) in one range per thread; `work` (elements
// touched in all) decides whether a fork-join pays.
template <typename Body>
void parallel_ranges(int64_t n, int64_t work, Body&& body) {
  if (work <= kParallelElements || n == 1 || omp_get_max_threads() == 1) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    const int64_t chunk = (n + threads - 1) / threads;
    const int64_t begin = std::min(n, thread * chunk), end = std::min(n, begin + chunk);
    if (begin < end) body(begin, end);
  }
}

template <typename Body>
void parallel_ranges(int64_t n, Body&& body) {
  parallel_ranges(n, n, std::forward<Body>(body));
}

// body(segment, begin, end): the elements of every segment, concatenated and
// split into one range per thread (one fork-join for all of them), each
// range cut at segment boundaries; begin and end are arena offsets.
template <typename Body>
void parallel_segments(std::span<const ArenaSegment> segments, Body&& body) {
  int64_t total = 0;
  for (const ArenaSegment& s : segments) total += s.count;
  parallel_ranges(total, [&](int64_t begin, int64_t end) {
    int64_t start = 0;  // position of the segment's first element in the concatenation
    for (const ArenaSegment& s : segments) {
      const int64_t lo = std::max(begin, start), hi = std::min(end, start + s.count);
      if (lo < hi) body(s, s.offset + (lo - start), s.offset + (hi - start));
      start += s.count;
      if (start >= end) break;
    }
  });
}

}  // namespace stride::cpu
