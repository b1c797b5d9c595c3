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

// body(thread, threads) once on each thread of one parallel region, or once
// on the calling thread as (0, 1) when `work` (elements touched in all) is
// too small for a fork-join to pay.
template <typename Body>
void parallel_threads(int64_t work, Body&& body) {
  if (work <= kParallelElements || omp_get_max_threads() == 1) {
    body(int64_t{0}, int64_t{1});
    return;
  }
#pragma omp parallel
  body(int64_t{omp_get_thread_num()}, int64_t{omp_get_num_threads()});
}

// Thread `thread`'s share of [0, n) when `threads` split it: one contiguous
// range each, in thread order (empty for threads past the end).
struct Range {
  int64_t begin, end;
};
inline Range thread_range(int64_t n, int64_t thread, int64_t threads) {
  const int64_t chunk = (n + threads - 1) / threads;
  const int64_t begin = std::min(n, thread * chunk);
  return {begin, std::min(n, begin + chunk)};
}

// body(begin, end) over [0, n) in one range per thread; `work` as for
// parallel_threads.
template <typename Body>
void parallel_ranges(int64_t n, int64_t work, Body&& body) {
  parallel_threads(n == 1 ? 0 : work, [&](int64_t thread, int64_t threads) {
    const Range r = thread_range(n, thread, threads);
    if (r.begin < r.end) body(r.begin, r.end);
  });
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
